package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// rollout is one group's roll-out, filled in as it goes.
type rollout struct {
	region, group, imageID string
	wave                   int
	account                string // the target role's account, if any
	clients                *clients

	// The group's launch template; with a mixed instances policy, the
	// policy's own.
	templateUse

	// From plan, for groups chosen by tags: the group as found.
	described *astypes.AutoScalingGroup
	// bg is set for targets with strategy = "blue-green" (bluegreen.go).
	bg *blueGreen

	// From resolve.
	mixed     *astypes.MixedInstancesPolicy // nil when the group names a template directly
	overrides []*templateUse                // override templates of a mixed instances policy
	lc        *launchConfigurationUse       // set when the group uses a launch configuration
	warmup    time.Duration
	healthy   healthyBounds            // the healthy percentages its refresh runs with
	adopted   *astypes.InstanceRefresh // a running refresh of ours
	foreign   *astypes.InstanceRefresh // a running refresh of someone else's
	// upToDate, when resolve sets it, says why the group needs no refresh
	// at all (every instance already runs the AMI where AWS cannot skip
	// matching instances itself, as for launch configurations).
	upToDate string
	// warnings are what resolve found worth telling but not worth refusing.
	warnings []string

	// From the later steps.
	startAttempted bool
	startAttemptAt time.Time
	// startInDoubt: a start was sent, its answer never came and no refresh
	// of ours could be found, yet one may have begun.
	startInDoubt bool
	refreshID    string
	// final is the refresh as last seen: its end, or where it stood when
	// the post-processor stopped following it.
	final *astypes.InstanceRefresh
	// back is how the refresh that on_failure = rollback started ended.
	back     astypes.InstanceRefreshStatus
	action   string // what was done on interruption or timeout, if anything
	detached bool   // the refresh was left running on purpose
	acted    bool   // a rollback or cancel reached the refresh
	// abandoned are versions created from a source the group no longer
	// runs (it changed before the refresh started): they are not in use.
	abandoned []string
	err       error
}

// outcome is how ro's roll-out ended, as far as it was observed.
func (ro *rollout) outcome() outcome {
	if ro.bg != nil {
		return ro.bg.outcome(ro.upToDate != "")
	}
	o := observed{
		upToDate: ro.upToDate != "",
		started:  ro.refreshID != "" || ro.startInDoubt,
		back:     ro.back,
	}
	if ro.final != nil {
		o.last = ro.final.Status
	}
	return decideOutcome(o)
}

func (ro *rollout) label() string {
	if ro.account != "" {
		return ro.group + " (" + ro.region + ", " + ro.account + ")"
	}
	return ro.group + " (" + ro.region + ")"
}

// templateUse is one launch template a group launches from, and the
// version the roll-out gives it.
type templateUse struct {
	spec          astypes.LaunchTemplateSpecification // as the group names it
	override      int                                 // index in the policy's overrides; -1 for the main template
	templateID    string
	templateName  string
	sourceVersion int64
	sourceImage   string

	version        int64
	versionCreated bool
}

func (tu *templateUse) templateLabel() string {
	if id := aws.ToString(tu.spec.LaunchTemplateId); id != "" {
		return id
	}
	return aws.ToString(tu.spec.LaunchTemplateName)
}

// templates are all the templates the group launches from, main first;
// none for a group on a launch configuration.
func (ro *rollout) templates() []*templateUse {
	if ro.lc != nil {
		return nil
	}
	return append([]*templateUse{&ro.templateUse}, ro.overrides...)
}

// sameTemplate reports whether spec names the group's template.
func (ro *rollout) sameTemplate(spec astypes.LaunchTemplateSpecification) bool {
	if id := aws.ToString(spec.LaunchTemplateId); id != "" {
		return id == ro.templateID
	}
	return aws.ToString(spec.LaunchTemplateName) != "" && aws.ToString(spec.LaunchTemplateName) == ro.templateName
}

// roller runs the roll-outs of one PostProcess call.
type roller struct {
	cfg     *Config
	retryer aws.Retryer // for the calls retried by hand (sendStart)
	ui      packersdk.Ui
	uiMu    sync.Mutex
	warned  map[string]bool // AMIs already warned about, under uiMu
	multi   bool            // more than one group rolls

	imagesMu sync.Mutex
	images   map[imageKey]*ec2types.Image // nil: not found

	// deadline ends every wait of the run, so that timeout bounds the
	// whole roll-out rather than each group or phase.
	deadline time.Time
	waitOpt  []func(*instancerefresh.InstanceRefreshCompleteWaiterOptions)
	// budgets share polls_per_second among the waits of each account and
	// region: Auto Scaling throttles them with one budget, which every
	// other tool in the account draws on too.
	budgets *instancerefresh.Budgets

	// now and sleep are the roller's clock; tests replace them so that no
	// unit test waits for real.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// followFor bounds following a rollback or cancel (followTimeout).
	followFor time.Duration
	// release publishes and prunes after success (publish.go); nil when
	// neither is configured.
	release *releaseRun
}

// remaining is what is left of the run's timeout, at least a moment so
// that a wait past the deadline still reports a timeout.
func (r *roller) remaining() time.Duration {
	return max(r.deadline.Sub(r.now()), time.Millisecond)
}

// say prints one line about one group.
func (r *roller) say(ro *rollout, format string, args ...any) {
	r.uiMu.Lock()
	defer r.uiMu.Unlock()
	r.ui.Say(packersdk.LogSecretFilter.FilterString(ro.label() + ": " + fmt.Sprintf(format, args...)))
}

// run rolls every group: resolve targets, create versions, start
// refreshes, wait, in that order. Every group is read and checked before
// any is changed. Groups then go in waves (the targets' wave numbers): a
// wave starts only when every group of the waves before it succeeded, and
// its groups are read again first, since hours may have passed. In a wave
// each phase runs for all its groups at once (at most max_concurrency at a
// time), and once refreshes run, a failure elsewhere does not stop them.
// With dry_run, it stops after resolve and prints a plan (dryrun.go).
func (r *roller) run(ctx context.Context, ros []*rollout) error {
	r.deadline = r.now().Add(r.cfg.timeout)
	r.multi = len(ros) > 1
	r.forEach(ros, func(ro *rollout) { ro.err = r.resolve(ctx, ro) })
	if errs := r.errorsOf(ros); len(errs) > 0 {
		return fmt.Errorf("nothing was changed: %w", errors.Join(errs...))
	}
	r.sayWarnings(ros)
	if r.cfg.DryRun {
		// Everything up to the first change is done: plan instead.
		return r.dryRun(ctx, ros)
	}

	waves := byWave(ros)
	for i, wave := range waves {
		// Before a later wave: stop cleanly rather than start refreshes that
		// an interruption or the timeout would roll back at once.
		var stop error
		switch {
		case i > 0 && ctx.Err() != nil:
			stop = fmt.Errorf("interrupted after wave %d succeeded: %w", i, ctx.Err())
		case i > 0:
			stop = r.checkBudget(wave, fmt.Sprintf("wave %d", i+1))
		}
		if stop != nil {
			rest := slices.Concat(waves[i:]...)
			r.ui.Say(fmt.Sprintf("Not starting wave %d: %v", i+1, stop))
			return fmt.Errorf("%w\nnothing was changed in: %s", stop, labels(rest))
		}
		if len(waves) > 1 {
			r.ui.Say(fmt.Sprintf("Wave %d of %d: %s", i+1, len(waves), labels(wave)))
		}
		err := r.runStrategies(ctx, wave, i > 0)
		if err == nil {
			continue
		}
		if rest := slices.Concat(waves[i+1:]...); len(rest) > 0 {
			r.ui.Say(fmt.Sprintf("Wave %d did not succeed: not starting %s", i+1, labels(rest)))
			err = fmt.Errorf("%w\nnot started, because wave %d did not succeed: %s", err, i+1, labels(rest))
		}
		return err
	}
	return nil
}

// sayWarnings prints what resolve found worth telling but not refusing.
func (r *roller) sayWarnings(ros []*rollout) {
	for _, ro := range ros {
		for _, w := range ro.warnings {
			r.say(ro, "Warning: %s", w)
		}
	}
}

// runWave settles refreshes of others and reads the groups again where
// that is due, creates the versions of a wave's groups, starts their
// refreshes and waits for them.
func (r *roller) runWave(ctx context.Context, ros []*rollout, reread bool) error {
	r.forEach(ros, func(ro *rollout) { ro.err = r.prepare(ctx, ro, reread) })
	if errs := r.errorsOf(ros); len(errs) > 0 {
		return stopBeforeStart(ros, errors.Join(errs...))
	}
	r.forEach(ros, func(ro *rollout) { ro.err = r.createVersion(ctx, ro) })
	if errs := r.errorsOf(ros); len(errs) > 0 {
		return stopBeforeStart(ros, errors.Join(errs...))
	}
	r.forEach(ros, func(ro *rollout) {
		if ctx.Err() == nil {
			ro.err = r.startRefresh(ctx, ro)
		}
	})

	var started []*rollout
	for _, ro := range ros {
		if ro.refreshID != "" {
			started = append(started, ro)
		}
	}
	switch {
	case ctx.Err() != nil:
		// Interrupted while starting: a start whose answer was lost may
		// still have begun a refresh, so look before acting.
		r.recoverStarts(ros)
	case *r.cfg.Wait:
		r.waitAll(ctx, started)
	default:
		for _, ro := range started {
			ro.detached = true
			r.say(ro, "not waiting (wait = false); follow the refresh with: %s", followCommand(ro))
		}
	}
	errs := r.errorsOf(ros)
	if ctx.Err() != nil && len(errs) == 0 && !slices.ContainsFunc(ros, func(ro *rollout) bool { return ro.outcome().deployed() }) {
		errs = append(errs, fmt.Errorf("interrupted before any refresh started: %w", ctx.Err()))
	}
	if len(errs) == 0 {
		return nil
	}
	if !slices.ContainsFunc(ros, func(ro *rollout) bool { return ro.refreshID != "" || ro.startInDoubt }) {
		// None started, counting those recovered after an interruption.
		return stopBeforeStart(ros, errors.Join(errs...))
	}
	return withUnused(ros, errors.Join(errs...))
}

// forEach runs fn for every roll-out, at most max_concurrency at a time,
// and returns when all are done.
func (r *roller) forEach(ros []*rollout, fn func(*rollout)) {
	sem := make(chan struct{}, r.cfg.MaxConcurrency)
	var wg sync.WaitGroup
	for _, ro := range ros {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ro)
		}()
	}
	wg.Wait()
}

// errorsOf collects the roll-outs' errors; when several groups roll, each
// starts with its group, region (and account), since group names repeat
// across regions and accounts.
func (r *roller) errorsOf(ros []*rollout) []error {
	var errs []error
	for _, ro := range ros {
		switch {
		case ro.err == nil:
		case r.multi:
			errs = append(errs, fmt.Errorf("%s: %w", ro.label(), ro.err))
		default:
			errs = append(errs, ro.err)
		}
	}
	return errs
}

// byWave groups roll-outs by wave number, in ascending order.
func byWave(ros []*rollout) [][]*rollout {
	m := map[int][]*rollout{}
	for _, ro := range ros {
		m[ro.wave] = append(m[ro.wave], ro)
	}
	var waves [][]*rollout
	for _, n := range slices.Sorted(maps.Keys(m)) {
		waves = append(waves, m[n])
	}
	return waves
}

func labels(ros []*rollout) string {
	names := make([]string, len(ros))
	for i, ro := range ros {
		names[i] = ro.label()
	}
	return strings.Join(names, ", ")
}

// stopBeforeStart reports a failure that happened before any refresh of a
// wave was started.
func stopBeforeStart(ros []*rollout, err error) error {
	if unused := unusedVersions(ros); len(unused) > 0 {
		return fmt.Errorf("%w; no refresh was started (launch template versions created but not in use: %s)", err, strings.Join(unused, ", "))
	}
	return fmt.Errorf("%w; no refresh was started", err)
}

// withUnused adds to err the versions created for groups whose refresh
// did not start: they exist, and no group uses them.
func withUnused(ros []*rollout, err error) error {
	if unused := unusedVersions(ros); len(unused) > 0 {
		return fmt.Errorf("%w\nlaunch template versions created but not in use: %s", err, strings.Join(unused, ", "))
	}
	return err
}

// unusedVersions names the versions created for groups with no refresh,
// and those abandoned because their group changed before its start.
func unusedVersions(ros []*rollout) []string {
	var unused []string
	for _, ro := range ros {
		unused = append(unused, ro.abandoned...)
		if ro.refreshID != "" || ro.bg.uses() {
			continue
		}
		for _, tu := range ro.templates() {
			if tu.versionCreated {
				unused = append(unused, fmt.Sprintf("%s version %d", tu.templateID, tu.version))
			}
		}
	}
	return unused
}
