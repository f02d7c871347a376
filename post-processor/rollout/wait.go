package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

const (
	// actionTimeout bounds each call made after the build's context is
	// gone (Ctrl-C, timeout): Packer waits for the plugin, but not forever.
	actionTimeout = 2 * time.Minute
	// maxActivities is how many failed scaling activities a failure quotes.
	maxActivities = 3
	// clockSkew is how far AWS's clock may be from ours when comparing a
	// refresh's start time with when we sent the start.
	clockSkew = 5 * time.Minute
)

// waitAll waits for every started refresh at once.
func (r *roller) waitAll(ctx context.Context, ros []*rollout) {
	var wg sync.WaitGroup
	for _, ro := range ros {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.waitOne(ctx, ro)
		}()
	}
	wg.Wait()
}

// waitOne waits for ro's refresh and records how it ended in ro.err.
func (r *roller) waitOne(ctx context.Context, ro *rollout) {
	w := instancerefresh.NewInstanceRefreshCompleteWaiter(ro.clients.autoscaling, append(r.waitOpt,
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
			o.OnProgress = func(ir astypes.InstanceRefresh) { r.say(ro, "%s", progressLine(ir)) }
		})...)
	final, err := w.WaitForOutput(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(ro.group),
		InstanceRefreshIds:   []string{ro.refreshID},
	}, r.remaining())
	if final != nil {
		ro.final = final
	}
	var failed *instancerefresh.FailedError
	switch {
	case err == nil:
		r.say(ro, "instance refresh %s Successful: the group runs %s with %s", ro.refreshID, ro.target(), ro.imageID)
		ro.err = r.setDefaultVersions(ro)
	case errors.As(err, &failed):
		ro.err = r.failure(ro, failed)
		if failed.Refresh.Status == astypes.InstanceRefreshStatusFailed && r.cfg.OnFailure == FailureRollback {
			// A launch configuration group must launch its previous
			// configuration again before a refresh can return to it.
			if msg := r.restoreLaunchConfiguration(ro); msg != "" {
				ro.err = fmt.Errorf("%w\n%s", ro.err, msg)
			}
			ro.err = fmt.Errorf("%w\n%s", ro.err, r.rollBackFailed(ctx, ro))
		}
	case ctx.Err() != nil:
		ro.err = fmt.Errorf("Auto Scaling group (%s) instance refresh (%s) interrupted: %s", ro.group, ro.refreshID, r.act(ro, r.cfg.OnInterrupt))
	case errors.Is(err, instancerefresh.ErrWaitTimeout):
		ro.err = fmt.Errorf("Auto Scaling group (%s) instance refresh (%s) did not end within timeout %s: %s", ro.group, ro.refreshID, r.cfg.timeout, r.act(ro, r.cfg.OnTimeout))
	default:
		ro.leftRunning = true
		ro.err = fmt.Errorf("%w; the refresh may still be running: %s", err, followCommand(ro))
	}
	// A launch configuration group was changed directly; unless the refresh
	// succeeded or was left running on purpose, change it back.
	if ro.err != nil && ro.action != r.detachMessage(ro) {
		if msg := r.restoreLaunchConfiguration(ro); msg != "" {
			ro.err = fmt.Errorf("%w\n%s", ro.err, msg)
		}
	}
}

// progressLine renders a refresh's progress for the UI.
func progressLine(ir astypes.InstanceRefresh) string {
	s := fmt.Sprintf("instance refresh %s %s, %d%% complete", aws.ToString(ir.InstanceRefreshId), ir.Status, aws.ToInt32(ir.PercentageComplete))
	if n := aws.ToInt32(ir.InstancesToUpdate); n > 0 {
		s += fmt.Sprintf(", %d instance(s) left", n)
	}
	if p := ir.ProgressDetails; p != nil && p.WarmPoolProgress != nil && aws.ToInt32(p.WarmPoolProgress.InstancesToUpdate) > 0 {
		s += fmt.Sprintf(", warm pool %d%% (%d left)", aws.ToInt32(p.WarmPoolProgress.PercentageComplete), aws.ToInt32(p.WarmPoolProgress.InstancesToUpdate))
	}
	if d := ir.RollbackDetails; d != nil && ir.Status == astypes.InstanceRefreshStatusRollbackInProgress {
		s += fmt.Sprintf(", rollback %d%% (%d left)", aws.ToInt32(d.PercentageCompleteOnRollback), aws.ToInt32(d.InstancesToUpdateOnRollback))
	}
	if reason := aws.ToString(ir.StatusReason); reason != "" {
		s += ": " + reason
	}
	return s
}

// failure explains a refresh that ended without deploying: its status and
// reason, where that leaves the group, and the failed scaling activities
// that usually say why.
func (r *roller) failure(ro *rollout, f *instancerefresh.FailedError) error {
	msg := f.Error()
	if ro.lc == nil { // for launch configurations, restoreLaunchConfiguration says where the group stands
		switch f.Refresh.Status {
		case astypes.InstanceRefreshStatusRollbackSuccessful:
			msg += fmt.Sprintf("; rolled back: the group is on version %d of %s again", ro.sourceVersion, ro.templateID)
		case astypes.InstanceRefreshStatusFailed, astypes.InstanceRefreshStatusCancelled:
			msg += "; " + stillLaunches(ro)
		case astypes.InstanceRefreshStatusRollbackFailed:
			msg += "; the rollback failed too, so the group may run both AMIs: check it now"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	if acts := failedActivities(ctx, ro, aws.ToTime(f.Refresh.StartTime)); len(acts) > 0 {
		msg += "\nrecent failed scaling activities:\n  - " + strings.Join(acts, "\n  - ")
	}
	return errors.New(msg)
}

// stillLaunches says what a group whose refresh failed launches now: its
// configuration is unchanged, but $Latest moved to the new version.
func stillLaunches(ro *rollout) string {
	if ro.lc != nil {
		return fmt.Sprintf("instances already replaced keep %s", ro.imageID)
	}
	switch ref := aws.ToString(ro.spec.Version); ref {
	case "$Latest":
		return fmt.Sprintf("the group still launches $Latest of %s, which is now version %d with %s: instances it launches from now on run the new AMI; to stop that, set the group back to version %d (aws autoscaling update-auto-scaling-group --auto-scaling-group-name %s --launch-template LaunchTemplateId=%s,Version=%d)",
			ro.templateID, ro.version, ro.imageID, ro.sourceVersion, ro.group, ro.templateID, ro.sourceVersion)
	case "$Default", "":
		return fmt.Sprintf("the group still launches $Default of %s (version %d), and instances already replaced keep %s", ro.templateID, ro.sourceVersion, ro.imageID)
	default:
		return fmt.Sprintf("the group still launches version %d of %s, and instances already replaced keep %s", ro.sourceVersion, ro.templateID, ro.imageID)
	}
}

// failedActivities lists the group's failed scaling activities since
// start, newest first. It is best effort: the failure matters more.
func failedActivities(ctx context.Context, ro *rollout, start time.Time) []string {
	out, err := ro.clients.autoscaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: aws.String(ro.group),
		MaxRecords:           aws.Int32(20),
	})
	if err != nil {
		return []string{fmt.Sprintf("(could not read them: %v)", err)}
	}
	var acts []string
	for _, a := range out.Activities {
		if a.StatusCode != astypes.ScalingActivityStatusCodeFailed && a.StatusCode != astypes.ScalingActivityStatusCodeCancelled {
			continue
		}
		if t := aws.ToTime(a.StartTime); !start.IsZero() && t.Before(start) {
			continue
		}
		line := aws.ToString(a.Description)
		if m := aws.ToString(a.StatusMessage); m != "" {
			line += ": " + m
		}
		acts = append(acts, line)
		if len(acts) == maxActivities {
			break
		}
	}
	return acts
}

// act carries out action (on_interrupt or on_timeout) on ro's refresh,
// once, with a fresh bounded context, prints the outcome and returns it.
func (r *roller) act(ro *rollout, action string) string {
	if ro.action != "" {
		return ro.action
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	ro.action = r.doAction(ctx, ro, action)
	r.say(ro, "%s", ro.action)
	return ro.action
}

func (r *roller) doAction(ctx context.Context, ro *rollout, action string) string {
	if action == ActionDetach {
		ro.leftRunning = true
		return r.detachMessage(ro)
	}
	// Rollback and Cancel act on whatever refresh is active: make sure it
	// is still ours.
	active, err := instancerefresh.FindActive(ctx, ro.clients.autoscaling, ro.group)
	switch {
	case err != nil:
		ro.leftRunning = true
		return fmt.Sprintf("could not %s instance refresh %s: %v; check it with: %s", action, ro.refreshID, err, followCommand(ro))
	case active == nil:
		return fmt.Sprintf("instance refresh %s had already ended; check it with: %s", ro.refreshID, followCommand(ro))
	case aws.ToString(active.InstanceRefreshId) != ro.refreshID:
		return fmt.Sprintf("instance refresh %s had already ended and another (%s) is running; left that one alone", ro.refreshID, aws.ToString(active.InstanceRefreshId))
	case active.Status == astypes.InstanceRefreshStatusRollbackInProgress:
		// Already on its way back (auto rollback): the safest place it can
		// be. Cancelling a rollback would leave the group half-way.
		return fmt.Sprintf("instance refresh %s is already rolling back: left to finish; follow it with: %s", ro.refreshID, followCommand(ro))
	case active.Status == astypes.InstanceRefreshStatusCancelling:
		return fmt.Sprintf("instance refresh %s is already being cancelled; follow it with: %s", ro.refreshID, followCommand(ro))
	}

	if action == ActionRollback {
		_, err := ro.clients.autoscaling.RollbackInstanceRefresh(ctx, &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(ro.group)})
		if err == nil {
			return fmt.Sprintf("rollback of instance refresh %s started: replaced instances return to version %d; follow it with: %s", ro.refreshID, ro.sourceVersion, followCommand(ro))
		}
		var irreversible *astypes.IrreversibleInstanceRefreshFault
		if !errors.As(err, &irreversible) {
			ro.leftRunning = true
			return fmt.Sprintf("rollback of instance refresh %s failed: %v; check it with: %s", ro.refreshID, err, followCommand(ro))
		}
		r.say(ro, "instance refresh %s cannot be rolled back (%s): cancelling it instead", ro.refreshID, irreversible.ErrorMessage())
	}
	_, err = ro.clients.autoscaling.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(ro.group)})
	if err != nil {
		ro.leftRunning = true
		return fmt.Sprintf("cancel of instance refresh %s failed: %v; check it with: %s", ro.refreshID, err, followCommand(ro))
	}
	return fmt.Sprintf("cancelled instance refresh %s: %s; follow it with: %s", ro.refreshID, stillLaunches(ro), followCommand(ro))
}

// recoverStarts finds, after an interruption during the start phase, the
// refreshes whose start was sent but whose answer never came, and applies
// on_interrupt to every refresh that started.
func (r *roller) recoverStarts(ros []*rollout) {
	r.forEach(ros, func(ro *rollout) {
		if ro.refreshID == "" && ro.startAttempted {
			ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
			own, err := findOwnStart(ctx, ro)
			cancel()
			if err != nil {
				ro.err = fmt.Errorf("Auto Scaling group (%s): interrupted while starting its instance refresh, and whether it started is unknown (%v); check it with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s", ro.group, err, ro.region, ro.group)
				return
			}
			if own != nil {
				ro.refreshID = aws.ToString(own.InstanceRefreshId)
				if !instancerefresh.IsActive(own.Status) {
					// It ran to its end before anyone could act on it.
					ro.final = own
					ro.err = fmt.Errorf("Auto Scaling group (%s): interrupted while starting; instance refresh %s had started all the same and already ended %s: %s",
						ro.group, ro.refreshID, own.Status, endState(ro, own.Status))
					r.say(ro, "instance refresh %s started before the interruption and already ended %s", ro.refreshID, own.Status)
					return
				}
			}
		}
		if ro.refreshID != "" {
			ro.err = fmt.Errorf("Auto Scaling group (%s) instance refresh (%s) interrupted: %s", ro.group, ro.refreshID, r.act(ro, r.cfg.OnInterrupt))
		}
	})
}

// findOwnStart finds the refresh a start sent just before an
// interruption may have begun, whatever its status: the newest one that
// moves the group onto our version (for a launch configuration group, one
// with no desired configuration) and began after the start was sent,
// allowing for clock skew.
func findOwnStart(ctx context.Context, ro *rollout) (*astypes.InstanceRefresh, error) {
	out, err := ro.clients.autoscaling.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(ro.group), MaxRecords: aws.Int32(10),
	})
	if err != nil {
		return nil, err
	}
	since := ro.startAttemptAt.Add(-clockSkew)
	for i := range out.InstanceRefreshes {
		ir := &out.InstanceRefreshes[i]
		if t := aws.ToTime(ir.StartTime); !t.IsZero() && t.Before(since) {
			break // newest first: the rest are older still
		}
		if ro.lc != nil && ir.DesiredConfiguration == nil {
			return ir, nil
		}
		if spec := desiredSpec(ir.DesiredConfiguration); spec != nil && ro.sameTemplate(*spec) && aws.ToString(spec.Version) == strconv.FormatInt(ro.version, 10) {
			return ir, nil
		}
	}
	return nil, nil
}

// endState says where a refresh that ended in status leaves the group.
func endState(ro *rollout, status astypes.InstanceRefreshStatus) string {
	if status == astypes.InstanceRefreshStatusSuccessful {
		return fmt.Sprintf("the group runs %s with %s", ro.target(), ro.imageID)
	}
	return stillLaunches(ro)
}

func (r *roller) detachMessage(ro *rollout) string {
	return fmt.Sprintf("left instance refresh %s running (on_interrupt/on_timeout = detach); follow it with: %s", ro.refreshID, followCommand(ro))
}

// followCommand is the AWS CLI command that shows ro's refresh.
func followCommand(ro *rollout) string {
	return fmt.Sprintf("aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s --instance-refresh-ids %s", ro.region, ro.group, ro.refreshID)
}

// rollBackFailed undoes a refresh that failed without auto rollback: it
// refreshes the group onto the version it ran before, skipping instances
// already on it, and waits. It returns what happened, for the error.
func (r *roller) rollBackFailed(ctx context.Context, ro *rollout) string {
	if r.cfg.PackerOnError == "abort" {
		msg := fmt.Sprintf("on_failure = rollback skipped: packer -on-error=abort leaves instances already replaced on %s for inspection", ro.imageID)
		r.say(ro, "%s", msg)
		return msg
	}
	back := *ro
	back.overrides = nil
	back.version = ro.sourceVersion
	for _, tu := range ro.overrides {
		prev := *tu
		prev.version = tu.sourceVersion
		back.overrides = append(back.overrides, &prev)
	}
	if ro.lc != nil {
		lc := *ro.lc
		lc.copyName = lc.name
		back.lc = &lc
	}
	onto := back.target()
	in := r.startInput(&back)
	in.Preferences.SkipMatching = aws.Bool(true)
	in.Preferences.AutoRollback = aws.Bool(false)
	in.Preferences.CheckpointPercentages, in.Preferences.CheckpointDelay = nil, nil
	out, err := ro.clients.autoscaling.StartInstanceRefresh(ctx, in)
	if err != nil {
		return fmt.Sprintf("on_failure = rollback: starting a refresh back onto %s failed: %v", onto, err)
	}
	id := aws.ToString(out.InstanceRefreshId)
	r.say(ro, "on_failure = rollback: started instance refresh %s back onto %s", id, onto)
	w := instancerefresh.NewInstanceRefreshCompleteWaiter(ro.clients.autoscaling, append(r.waitOpt,
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
			o.OnProgress = func(ir astypes.InstanceRefresh) { r.say(ro, "%s", progressLine(ir)) }
		})...)
	_, err = w.WaitForOutput(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(ro.group), InstanceRefreshIds: []string{id},
	}, r.remaining())
	if err != nil {
		return fmt.Sprintf("on_failure = rollback: refresh %s back onto %s did not succeed: %v", id, onto, err)
	}
	msg := fmt.Sprintf("on_failure = rollback: refresh %s returned every instance to %s", id, onto)
	r.say(ro, "%s", msg)
	return msg
}

// setDefaultVersions makes the new versions their templates' defaults, for
// the templates the group named as $Default, when set_default_version asks
// for it. It runs after success only, on a fresh context: the deploy is done
// and this is its last step.
func (r *roller) setDefaultVersions(ro *rollout) error {
	if !r.cfg.SetDefaultVersion {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	for _, tu := range ro.templates() {
		if ref := aws.ToString(tu.spec.Version); ref != "$Default" && ref != "" {
			continue
		}
		_, err := ro.clients.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{
			LaunchTemplateId: aws.String(tu.templateID),
			DefaultVersion:   aws.String(strconv.FormatInt(tu.version, 10)),
		})
		if err != nil {
			return fmt.Errorf("the roll-out succeeded, but making version %d the default of launch template %s (set_default_version) failed: %w", tu.version, tu.templateID, err)
		}
		r.say(ro, "made version %d the default of launch template %s (set_default_version)", tu.version, tu.templateID)
	}
	return nil
}
