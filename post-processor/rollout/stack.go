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

	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// A stack target (a `stack` block) rolls the Auto Scaling groups of a
// CloudFormation stack through the stack itself: the post-processor
// updates the stack with its previous template and one parameter changed
// (the AMI), every other parameter UsePreviousValue, and follows the
// update to its end. The stack's update policy replaces the instances, and
// the stack's own rollback undoes a failure, so the stack never drifts
// from what runs. The steps, each in its own file: resolve
// (stack_resolve.go, read only), update and wait (stack_wait.go), plan and
// report (stack_report.go).

// stackRollout is one stack's roll-out, filled in as it goes.
type stackRollout struct {
	name   string        // as configured: a name or a stack id
	params []*stackParam // the parameters the roll-out sets, by key
	setup  []*stackParam // the same as planned, for a fresh resolve

	// From resolve.
	id           string
	status       cfntypes.StackStatus // as read by resolve
	allParams    []string             // every parameter of the stack, in its order
	capabilities []cfntypes.Capability
	groups       []stackGroup
	// policiesKnown: the template was read, so a group without a policy
	// has none.
	policiesKnown bool
	upToDate      bool
	// adopted: an update to these values is already running (a lost
	// answer, or a run before this one): it is followed, not started.
	adopted bool
	// foreign is the status of an operation of someone else's that was
	// running, for on_refresh_in_progress = "wait" or "cancel".
	foreign cfntypes.StackStatus

	// From the later steps.
	token    string
	started  bool // the update was accepted, adopted, or found running after a lost answer
	since    time.Time
	seen     map[string]bool // events already printed or older than the update
	last     cfntypes.StackStatus
	reason   string
	failures []string // the update's failed events, oldest first
	counts   map[string]string
	action   string
	acted    bool // CancelUpdateStack reached the stack
	detached bool
	mu       sync.Mutex
}

// stackParam is one stack parameter the roll-out sets.
type stackParam struct {
	key      string
	region   string // whose AMI of the artifact it takes
	image    string
	previous string   // its value when resolve read the stack
	clients  *clients // of region, for the checks of its AMI
}

// stackGroup is an Auto Scaling group of the stack, as resolve found it.
type stackGroup struct {
	logicalID, name string
	policy          string // the update policy that replaces its instances, "" if none
}

func (s *stackRollout) label(ro *rollout) string {
	if ro.account != "" {
		return "stack " + s.name + " (" + ro.region + ", " + ro.account + ")"
	}
	return "stack " + s.name + " (" + ro.region + ")"
}

// outcome is how the stack's roll-out ended, in the terms every roll-out
// reports.
func (s *stackRollout) outcome() outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return decideStackOutcome(stackObserved{upToDate: s.upToDate, started: s.started, detached: s.detached, last: s.last})
}

// stackObserved is what a roll-out saw of its stack's update.
type stackObserved struct {
	upToDate, started, detached bool
	// last is the stack's status as last read after the update began;
	// empty if never read.
	last cfntypes.StackStatus
}

// decideStackOutcome says how a stack roll-out ended. Only
// UPDATE_COMPLETE is a success; a status this code does not know, or one
// still in progress, may still end anywhere.
func decideStackOutcome(o stackObserved) outcome {
	switch {
	case o.upToDate:
		return outcomeUpToDate
	case !o.started:
		return outcomeNotStarted
	case o.detached:
		return outcomeMayBeRunning
	}
	switch o.last {
	case cfntypes.StackStatusUpdateComplete:
		return outcomeSucceeded
	case cfntypes.StackStatusUpdateRollbackComplete:
		return outcomeRolledBack
	case cfntypes.StackStatusUpdateFailed, cfntypes.StackStatusUpdateRollbackFailed:
		// The stack stopped part-way: some resources may be new, some old.
		return outcomeFailedInPlace
	}
	return outcomeMayBeRunning
}

// param returns the roll-out's parameter key, or nil.
func (s *stackRollout) param(key string) *stackParam {
	for _, p := range s.params {
		if p.key == key {
			return p
		}
	}
	return nil
}

// reset forgets what resolve and the later steps found, for a fresh
// resolve.
func (s *stackRollout) reset() {
	params := make([]*stackParam, len(s.setup))
	for i, p := range s.setup {
		c := *p
		params[i] = &c
	}
	*s = stackRollout{name: s.name, params: params, setup: s.setup}
}

// planStacks turns the stack blocks into roll-outs, with the clients of
// their regions (cache is plan's, by region and role).
func (p *PostProcessor) planStacks(ctx context.Context, images sourceImages, newClients clientFactory, cache map[string]*clients) ([]*rollout, error) {
	var ros []*rollout
	clientsFor := func(region string, s StackTarget) (*clients, error) {
		key := region + "\x00" + s.AssumeRole.RoleARN
		if c, ok := cache[key]; ok {
			return c, nil
		}
		c, err := newClients(ctx, region, s.AssumeRole)
		if err != nil {
			return nil, err
		}
		cache[key] = c
		return c, nil
	}
	for i, s := range p.config.Stacks {
		region := s.Region
		if region == "" && stackIDRE.MatchString(s.StackName) {
			region = strings.Split(s.StackName, ":")[3]
		}
		if region == "" {
			region = p.config.RawRegion
		}
		if region == "" {
			regions := images.regions()
			if len(regions) != 1 {
				return nil, fmt.Errorf("stack[%d] (%s): set region: the artifact has AMIs in %d regions (%v)", i, s.StackName, len(regions), regions)
			}
			region = regions[0]
		}
		c, err := clientsFor(region, s)
		if err != nil {
			return nil, fmt.Errorf("stack[%d] (%s): %w", i, s.StackName, err)
		}
		want := map[string]string{s.ImageParameter: region}
		if len(s.ImageParameters) > 0 {
			want = s.ImageParameters
		}
		sr := &stackRollout{name: s.StackName}
		for _, key := range slices.Sorted(maps.Keys(want)) {
			pr := want[key]
			ami, err := images.image(pr)
			if err != nil {
				return nil, fmt.Errorf("stack[%d] (%s) parameter %s: %w", i, s.StackName, key, err)
			}
			pc, err := clientsFor(pr, s)
			if err != nil {
				return nil, fmt.Errorf("stack[%d] (%s): %w", i, s.StackName, err)
			}
			sr.setup = append(sr.setup, &stackParam{key: key, region: pr, image: ami, clients: pc})
		}
		sr.reset()
		ro := &rollout{region: region, group: s.StackName, wave: s.Wave, account: accountOf(s.AssumeRole.RoleARN), clients: c, stack: sr}
		// The AMI of the stack's own region, else the first parameter's:
		// what the summary and AMI protection name.
		ro.imageID = sr.params[0].image
		for _, sp := range sr.params {
			if sp.region == region {
				ro.imageID = sp.image
				break
			}
		}
		ros = append(ros, ro)
	}
	return ros, nil
}

// splitStacks separates a wave's stacks from its groups.
func splitStacks(ros []*rollout) (stacks, groups []*rollout) {
	for _, ro := range ros {
		if ro.stack != nil {
			stacks = append(stacks, ro)
		} else {
			groups = append(groups, ro)
		}
	}
	return stacks, groups
}

// runWithStacks runs a wave's groups as runWave does and its stacks beside
// them, and joins their errors.
func (r *roller) runWithStacks(ctx context.Context, stacks, groups []*rollout, reread bool) error {
	var errGroups, errStacks error
	var wg sync.WaitGroup
	if len(groups) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); errGroups = r.runWave(ctx, groups, reread) }()
	}
	errStacks = r.runStackWave(ctx, stacks, reread)
	wg.Wait()
	return errors.Join(errGroups, errStacks)
}

// runStackWave rolls a wave's stacks: each is read again where due (or
// after the operation of someone else's it waited for), updated, and
// followed to its end, all at once.
func (r *roller) runStackWave(ctx context.Context, ros []*rollout, reread bool) error {
	r.forEach(ros, func(ro *rollout) { ro.err = r.prepareStack(ctx, ro, reread) })
	if errs := r.errorsOf(ros); len(errs) > 0 {
		return fmt.Errorf("%w; no stack update was started", errors.Join(errs...))
	}
	r.forEach(ros, func(ro *rollout) {
		if ctx.Err() == nil {
			ro.err = r.updateStack(ctx, ro)
		}
	})
	var wg sync.WaitGroup
	for _, ro := range ros {
		if ro.err != nil || !ro.stack.started || ro.stack.upToDate {
			continue
		}
		if !*r.cfg.Wait {
			ro.stack.detached = true
			r.say(ro, "not waiting (wait = false); follow the update with: %s", stackFollowCommand(ro))
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); ro.err = r.waitStack(ctx, ro) }()
	}
	wg.Wait()
	errs := r.errorsOf(ros)
	if ctx.Err() != nil && len(errs) == 0 && !slices.ContainsFunc(ros, func(ro *rollout) bool { return ro.outcome().deployed() }) {
		errs = append(errs, fmt.Errorf("interrupted before any stack update started: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// stackFollowCommand is the AWS CLI command that shows ro's stack events.
func stackFollowCommand(ro *rollout) string {
	return fmt.Sprintf("aws cloudformation describe-stack-events --region %s --stack-name %s", ro.region, ro.stack.name)
}
