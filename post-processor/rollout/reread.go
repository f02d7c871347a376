package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A group is read once before anything changes, so that every group is
// checked before any is touched. By the time its version is created the
// group may have moved on: a later wave starts hours after the first, and
// a refresh someone else ran (on_refresh_in_progress = "wait" or
// "cancel") writes its own desired configuration onto the group when it
// succeeds. Copying what was read earlier would undo such a change
// fleet-wide. So a group is read again right before its version is
// created whenever time has passed, and the roll-out proceeds from what
// the group runs now, re-checked by resolve.

// maxSettleRounds bounds how often a group's foreign refreshes are waited
// for (or cancelled) before its own starts: someone who keeps starting
// refreshes on the group wins.
const maxSettleRounds = 3

// prepare readies ro for its version: it deals with a refresh someone else
// runs on the group, then reads the group again if reread is set or a
// refresh was waited for.
func (r *roller) prepare(ctx context.Context, ro *rollout, reread bool) error {
	for round := 1; ; round++ {
		if ro.foreign == nil && !reread {
			return nil
		}
		if ro.foreign != nil {
			if round > maxSettleRounds {
				return fmt.Errorf("Auto Scaling group (%s) had another refresh of someone else's running each of the %d times one ended; start the roll-out again once the group is quiet", ro.group, maxSettleRounds)
			}
			if err := r.clearForeign(ctx, ro); err != nil {
				return err
			}
			if err := r.checkBudget([]*rollout{ro}, "its refresh"); err != nil {
				return fmt.Errorf("Auto Scaling group (%s): after the other refresh ended, %w", ro.group, err)
			}
		}
		if err := r.reread(ctx, ro); err != nil {
			return err
		}
		reread = false // read now: only a new foreign refresh calls for more
	}
}

// reread reads ro's group again, as resolve does for the first read, and
// carries on from what it runs now, saying what changed.
func (r *roller) reread(ctx context.Context, ro *rollout) error {
	fresh := &rollout{
		region: ro.region, group: ro.group, imageID: ro.imageID, wave: ro.wave,
		account: ro.account, clients: ro.clients,
		startAttempted: ro.startAttempted, startAttemptAt: ro.startAttemptAt,
		abandoned: ro.abandoned,
	}
	if err := r.resolve(ctx, fresh); err != nil {
		return fmt.Errorf("%w (found when reading the group again before changing it)", err)
	}
	if change := changes(ro, fresh); change != "" {
		r.say(ro, "changed since it was first read: %s; rolling from what it runs now", change)
	}
	fresh.abandoned = append(fresh.abandoned, createdVersions(ro)...)
	*ro = *fresh
	return nil
}

// createdVersions names the versions created for ro so far.
func createdVersions(ro *rollout) []string {
	var names []string
	for _, tu := range ro.templates() {
		if tu.versionCreated {
			names = append(names, fmt.Sprintf("%s version %d", tu.templateID, tu.version))
		}
	}
	return names
}

// changes says what differs between two reads of a group's launch
// configuration or templates, or "" when nothing that the roll-out copies
// changed.
func changes(before, after *rollout) string {
	var diffs []string
	if b, a := launchSource(before), launchSource(after); b != a {
		diffs = append(diffs, fmt.Sprintf("it launched %s and now launches %s", b, a))
	}
	if b, a := before.healthy, after.healthy; b.min != a.min || b.max != a.max || b.source != a.source {
		diffs = append(diffs, fmt.Sprintf("its refresh would have run with %s and now runs with %s", b, a))
	}
	return strings.Join(diffs, "; ")
}

// launchSource describes what a group launches from, as resolved.
func launchSource(ro *rollout) string {
	if ro.lc != nil {
		return fmt.Sprintf("launch configuration %s (%s)", ro.lc.name, ro.lc.sourceImage)
	}
	parts := make([]string, 0, 1+len(ro.overrides))
	for _, tu := range ro.templates() {
		parts = append(parts, fmt.Sprintf("version %d of %s (%s)", tu.sourceVersion, tu.templateID, tu.sourceImage))
	}
	return strings.Join(parts, " and ")
}

// checkBudget refuses to start refreshes that cannot end before the
// timeout: each needs at least its bake time and checkpoint delays plus one
// warm-up, and starting one only to roll it back at the deadline would
// replace instances twice for nothing.
func (r *roller) checkBudget(ros []*rollout, what string) error {
	left := r.deadline.Sub(r.now())
	var need time.Duration
	for _, ro := range ros {
		need = max(need, r.leastRefreshTime(ro))
	}
	if left > need {
		return nil
	}
	return fmt.Errorf("%s would need at least %s (warm-up, checkpoint delays and bake time), and only %s of timeout %s is left: raise timeout, or roll these groups in a build of their own",
		what, need.Round(time.Second), max(left, 0).Round(time.Second), r.cfg.timeout)
}

// leastRefreshTime is the shortest time ro's refresh can take when it
// replaces anything: one batch's warm-up, the pauses at checkpoints and
// the bake time.
func (r *roller) leastRefreshTime(ro *rollout) time.Duration {
	ir := &r.cfg.InstanceRefresh
	warmup := ro.warmup
	if ir.instanceWarmup != nil {
		warmup = *ir.instanceWarmup
	}
	return warmup + checkpointWaits(ir) + ir.bakeTime
}

// checkpointWaits is how long a refresh pauses at its checkpoints: one
// checkpoint delay at each checkpoint below 100 %; at 100 % every instance
// is replaced and the refresh moves on to baking or its end.
func checkpointWaits(ir *InstanceRefreshConfig) time.Duration {
	var n time.Duration
	for _, p := range ir.CheckpointPercentages {
		if p < 100 {
			n++
		}
	}
	return n * ir.checkpointDelay
}
