package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// rollout is one group's roll-out, filled in as it goes.
type rollout struct {
	region, group, imageID string
	clients                *clients

	// From resolve.
	spec          astypes.LaunchTemplateSpecification // as the group names it
	mixed         *astypes.MixedInstancesPolicy       // nil when the group names a template directly
	templateID    string
	templateName  string
	sourceVersion int64
	sourceImage   string
	warmup        time.Duration
	adopted       *astypes.InstanceRefresh // a running refresh of ours
	foreign       *astypes.InstanceRefresh // a running refresh of someone else's

	// From the later steps.
	version        int64
	versionCreated bool
	startAttempted bool
	refreshID      string
	final          *astypes.InstanceRefresh
	action         string // what was done on interruption or timeout, if anything
	err            error
}

// remaining is what is left of the run's timeout, at least a moment so
// that a wait past the deadline still reports a timeout.
func (r *roller) remaining() time.Duration {
	return max(time.Until(r.deadline), time.Millisecond)
}

func (ro *rollout) label() string { return ro.group + " (" + ro.region + ")" }

func (ro *rollout) templateLabel() string {
	if id := aws.ToString(ro.spec.LaunchTemplateId); id != "" {
		return id
	}
	return aws.ToString(ro.spec.LaunchTemplateName)
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
	ui      packersdk.Ui
	uiMu    sync.Mutex
	warned  map[string]bool // AMIs already warned about, under uiMu

	// deadline ends every wait of the run, so that timeout bounds the
	// whole roll-out rather than each group or phase.
	deadline time.Time
	waitOpt []func(*instancerefresh.InstanceRefreshCompleteWaiterOptions)
}

// say prints one line about one group.
func (r *roller) say(ro *rollout, format string, args ...any) {
	r.uiMu.Lock()
	defer r.uiMu.Unlock()
	r.ui.Say(packersdk.LogSecretFilter.FilterString(ro.label() + ": " + fmt.Sprintf(format, args...)))
}

// run rolls every group: resolve targets, create versions, start
// refreshes, wait, in that order, each phase for every group before the
// next. Every group is read and checked before any is changed; once
// refreshes run, a failure elsewhere does not stop them.
func (r *roller) run(ctx context.Context, ros []*rollout) error {
	r.deadline = time.Now().Add(r.cfg.timeout)
	var errs []error
	for _, ro := range ros {
		if err := r.resolve(ctx, ro); err != nil {
			ro.err = err
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nothing was changed: %w", errors.Join(errs...))
	}

	for _, ro := range ros {
		if err := r.createVersion(ctx, ro); err != nil {
			ro.err = err
			return stopBeforeStart(ros, err)
		}
	}

	var started []*rollout
	for _, ro := range ros {
		if err := r.startRefresh(ctx, ro); err != nil {
			ro.err = err
			errs = append(errs, err)
			break // start no more; those already started go on
		}
		started = append(started, ro)
	}
	switch {
	case ctx.Err() != nil:
		// Interrupted while starting: a start whose answer was lost may
		// still have begun a refresh, so look before acting.
		r.recoverStarts(ros)
		started = started[:0]
		for _, ro := range ros {
			if ro.refreshID != "" {
				started = append(started, ro)
			}
		}
	case *r.cfg.Wait:
		r.waitAll(ctx, started)
	default:
		for _, ro := range started {
			r.say(ro, "not waiting (wait = false); follow the refresh with: %s", followCommand(ro))
		}
	}
	for _, ro := range started {
		if ro.err != nil {
			errs = append(errs, ro.err)
		}
	}
	return errors.Join(errs...)
}

// stopBeforeStart reports a failure that happened before any refresh was
// started: the versions created so far exist but no group uses them.
func stopBeforeStart(ros []*rollout, err error) error {
	var made []string
	for _, ro := range ros {
		if ro.versionCreated {
			made = append(made, fmt.Sprintf("%s version %d", ro.templateID, ro.version))
		}
	}
	if len(made) > 0 {
		return fmt.Errorf("%w; no refresh was started (launch template versions created but not in use: %s)", err, strings.Join(made, ", "))
	}
	return fmt.Errorf("%w; no refresh was started", err)
}
