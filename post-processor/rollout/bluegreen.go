package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// A blue/green roll-out (strategy = "blue-green") leaves the live group
// alone until the very end: it copies the group's configuration onto a new
// group that launches the new AMI, attached to the same target groups and
// classic load balancers, waits until every new instance is InService and
// healthy in each of them, then hands the scaling policies and scheduled
// actions to the new group, takes the old group out of the load balancers,
// waits for its connections to drain, and retires it (old_group). Until the
// old group leaves the load balancers, any failure, interruption or timeout
// removes the new group and leaves the old one exactly as it was.
//
// The steps, each in its own file: resolve (bluegreen_resolve.go, read
// only: the live group, everything it is configured with, what cannot be
// copied, quotas and free addresses), create (bluegreen_create.go), wait
// for health (bluegreen_health.go), cut over and retire, or remove
// (bluegreen_cutover.go), report (bluegreen_report.go).

// Tags of the blue/green contract: the next run, and anyone looking at the
// account, find the live group and the retired ones by them.
const (
	// tagBaseName is on every group a blue/green roll-out creates: the
	// name of the group the line of groups began with.
	tagBaseName = "asg-rollout:base-name"
	// tagRetired is on an old group left behind after a cut-over, with the
	// time it was retired; such a group is never the live group again.
	tagRetired = "asg-rollout:retired"
	// tagImage is on every group a blue/green roll-out creates: the AMI it
	// was created for, by which a re-run of the same build recognises it.
	tagImage = "asg-rollout:image"
	// tagPending is on a new group from its creation until the cut-over
	// begins, with the time it was created: a group that still carries it
	// never served alone, and one left by an interrupted or crashed run of
	// another build is a leftover, not a live group.
	tagPending = "asg-rollout:pending"
)

// What became of the old group, as the artifact says it.
const (
	oldUntouched         = "untouched"
	oldDeleted           = "deleted"
	oldScaledToZero      = "scaled-to-zero"
	oldKept              = "kept"
	oldDeletionProtected = "deletion-protected"
	oldDetached          = "detached" // both left running (on_interrupt/on_timeout = detach)
)

// blueGreen is one blue/green roll-out's state, filled in as it goes.
type blueGreen struct {
	base    string                   // the line's base name
	old     astypes.AutoScalingGroup // the live group as read
	oldName string
	newName string
	// resume is our own new group, found by a re-run after a crash.
	resume *astypes.AutoScalingGroup
	// pendingSince is the new group's tagPending value.
	pendingSince string

	targetGroups  []string
	loadBalancers []string
	policies      []astypes.ScalingPolicy
	scheduled     []astypes.ScheduledUpdateGroupAction
	hooks         []astypes.LifecycleHook
	notifications []astypes.NotificationConfiguration

	// From the later steps.
	created   bool // the new group exists (made or found)
	healthy   bool
	detachOld bool // the old group left (or began to leave) the load balancers
	oldState  string
	removed   bool   // the new group was removed
	detached  bool   // both groups left running on purpose
	message   string // what happened to the groups, for the summary
	progress  map[string]string
	// served are the new group's instances last seen healthy in a load
	// balancer: those that may have connections to drain.
	served []string
	progMu sync.Mutex
}

// outcome is how the blue/green roll-out ended, in the terms every
// roll-out reports.
func (bg *blueGreen) outcome(upToDate bool) outcome {
	switch {
	case upToDate:
		return outcomeUpToDate
	case !bg.created:
		return outcomeNotStarted
	case bg.removed:
		return outcomeRolledBack
	}
	switch bg.oldState {
	case oldDeleted, oldScaledToZero, oldKept, oldDeletionProtected:
		if bg.healthy && bg.detachOld {
			return outcomeSucceeded
		}
	}
	// Both groups exist: detached on purpose, a removal that failed, or a
	// retirement that did not finish.
	return outcomeMayBeRunning
}

// liveGroup is the group that serves once the roll-out ended.
func (bg *blueGreen) liveGroup(o outcome) string {
	switch o {
	case outcomeSucceeded:
		return bg.newName
	case outcomeMayBeRunning:
		if bg.detachOld {
			return bg.newName
		}
	}
	return bg.oldName
}

// runBlueGreenWave rolls a wave's blue/green groups: each is (read again
// where due and) created at most max_concurrency at a time, then waited
// for all together, then cut over or removed.
func (r *roller) runBlueGreenWave(ctx context.Context, ros []*rollout, reread bool) error {
	sem := make(chan struct{}, r.cfg.MaxConcurrency)
	var wg sync.WaitGroup
	for _, ro := range ros {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ro.err = r.blueGreenOne(ctx, ro, reread, sem)
		}()
	}
	wg.Wait()
	errs := r.errorsOf(ros)
	if len(errs) == 0 {
		return nil
	}
	return withUnused(ros, errors.Join(errs...))
}

// blueGreenOne is one group's blue/green roll-out after resolve.
func (r *roller) blueGreenOne(ctx context.Context, ro *rollout, reread bool, sem chan struct{}) error {
	bg := ro.bg
	sem <- struct{}{}
	err := func() error {
		if ro.upToDate != "" {
			r.say(ro, "up to date: %s", ro.upToDate)
			return nil
		}
		if reread {
			if err := r.resolveBlueGreen(ctx, ro); err != nil {
				return err
			}
			if ro.upToDate != "" {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted before the new group was created: %w", ctx.Err())
		}
		return r.createBlueGreen(ctx, ro)
	}()
	<-sem
	if err != nil || ro.upToDate != "" {
		if err != nil && bg.created {
			return r.failBlueGreen(ro, err, "")
		}
		return err
	}

	reason, err := r.waitHealthy(ctx, ro)
	if err != nil {
		return r.failBlueGreen(ro, err, reason)
	}
	bg.healthy = true
	// The cut-over is mostly waiting (draining, scaling in): it is not
	// bounded by max_concurrency, as waits are not.
	return r.cutOver(ctx, ro)
}

// failBlueGreen handles a roll-out that failed, or was interrupted or
// timed out, before the old group left the load balancers: the new group
// is removed, unless on_interrupt or on_timeout says detach.
func (r *roller) failBlueGreen(ro *rollout, err error, reason string) error {
	action := ActionRollback
	switch reason {
	case "interrupt":
		action = r.cfg.OnInterrupt
	case "timeout":
		action = r.cfg.OnTimeout
	}
	if action == ActionDetach {
		msg := r.detachBlueGreen(ro)
		return fmt.Errorf("%w\n%s", err, msg)
	}
	if reason == "" && r.cfg.PackerOnError == "abort" {
		return fmt.Errorf("%w\n%s", err, r.isolateNewGroup(ro))
	}
	msg := r.removeNewGroup(ro)
	return fmt.Errorf("%w\n%s", err, msg)
}

// bgCleanupTimeout bounds the clean-up after a failure, interruption or
// timeout: the new group's instances leave the load balancers, drain for
// at most the target groups' deregistration delay, and the group is
// deleted.
const bgCleanupTimeout = 15 * time.Minute

// uses reports whether the roll-out's new group exists and launches the
// versions created for it, so that they are in use.
func (bg *blueGreen) uses() bool { return bg != nil && bg.created && !bg.removed }

// runStrategies runs a wave: its instance refreshes as runWave does, and
// its blue/green groups beside them.
func (r *roller) runStrategies(ctx context.Context, wave []*rollout, reread bool) error {
	var refresh, bgs []*rollout
	for _, ro := range wave {
		if ro.bg != nil {
			bgs = append(bgs, ro)
		} else {
			refresh = append(refresh, ro)
		}
	}
	var errRefresh, errBG error
	var wg sync.WaitGroup
	if len(refresh) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); errRefresh = r.runWave(ctx, refresh, reread) }()
	}
	if len(bgs) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); errBG = r.runBlueGreenWave(ctx, bgs, reread) }()
	}
	wg.Wait()
	return errors.Join(errRefresh, errBG)
}

// blueGreenLines turns the groups a blue/green target found into one group
// per line: retired groups are left out, and groups found by tags count
// once per base name (resolve then finds the line's live group).
func blueGreenLines(groups []astypes.AutoScalingGroup, byTags bool) []astypes.AutoScalingGroup {
	if !byTags {
		return groups
	}
	var out []astypes.AutoScalingGroup
	seen := map[string]bool{}
	for _, g := range groups {
		if tagValue(g.Tags, tagRetired) != "" {
			continue
		}
		base := tagValue(g.Tags, tagBaseName)
		if base == "" {
			base = aws.ToString(g.AutoScalingGroupName)
		}
		if seen[base] {
			continue
		}
		seen[base] = true
		out = append(out, astypes.AutoScalingGroup{AutoScalingGroupName: aws.String(base)})
	}
	return out
}

// groupNameData is what blue_green.group_name is rendered with.
type groupNameData struct {
	BaseName, ImageId, ImageSuffix, Region string //nolint:revive // the names users write in the template
}

func renderGroupName(t *template.Template, d groupNameData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}
