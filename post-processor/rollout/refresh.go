package rollout

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// maxStartAttempts bounds how often a start is retried after another
// refresh got in first (policies "wait" and "cancel").
const maxStartAttempts = 3

// startRefresh starts the instance refresh that moves ro's group onto the
// new version. The version goes into DesiredConfiguration, which AWS writes
// onto the group only when the refresh succeeds, so a failed or rolled-back
// refresh leaves the group as it was. Nothing here updates the group or the
// template directly.
func (r *roller) startRefresh(ctx context.Context, ro *rollout) error {
	if ro.upToDate != "" {
		r.say(ro, "nothing to replace: %s", ro.upToDate)
		return nil
	}
	if ro.adopted != nil {
		ro.refreshID = aws.ToString(ro.adopted.InstanceRefreshId)
		return nil
	}
	for attempt := 1; ; attempt++ {
		if ro.lc != nil {
			if err := r.applyLaunchConfiguration(ctx, ro); err != nil {
				return err
			}
		}
		ro.startAttempted, ro.startAttemptAt = true, r.now()
		id, err := r.sendStart(ctx, ro, r.startInput(ro))
		if err != nil && ro.lc != nil && !errors.As(err, new(*astypes.InstanceRefreshInProgressFault)) {
			r.restoreLaunchConfiguration(ro)
		}
		if err == nil && id == "" {
			// Not a refresh anyone can follow: never a success.
			ro.startInDoubt = true
			return fmt.Errorf("starting Auto Scaling group (%s) instance refresh: AWS answered without a refresh id, and no refresh of this build is listed; it may have started all the same: check it with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s", ro.group, ro.region, ro.group)
		}
		if err == nil {
			ro.refreshID = id
			r.say(ro, "started instance refresh %s onto %s (%s)", ro.refreshID, ro.target(), r.describePreferences(ro))
			return nil
		}
		var inProgress *astypes.InstanceRefreshInProgressFault
		if !errors.As(err, &inProgress) {
			return fmt.Errorf("starting Auto Scaling group (%s) instance refresh: %w", ro.group, err)
		}
		// Someone started a refresh since the group was read, or an attempt
		// of ours whose answer was lost did.
		if err := r.findActive(ctx, ro); err != nil {
			return err
		}
		if ro.adopted != nil {
			ro.refreshID = aws.ToString(ro.adopted.InstanceRefreshId)
			r.say(ro, "instance refresh %s onto %s is already running (a start whose answer was lost): following it", ro.refreshID, ro.target())
			return nil
		}
		if attempt == maxStartAttempts {
			return fmt.Errorf("starting Auto Scaling group (%s) instance refresh: another refresh got in first %d times: %w", ro.group, attempt, err)
		}
		// Another refresh got in: once it has ended (or been cancelled),
		// the group may run something else, so read it again and make the
		// version from what it runs then. The client token returns the same
		// version when nothing changed.
		if ro.lc != nil {
			// The read must find what the group ran, not our copy, or a
			// failure later would "restore" the copy.
			r.restoreLaunchConfiguration(ro)
		}
		if err := r.prepare(ctx, ro, true); err != nil {
			return err
		}
		if err := r.createVersion(ctx, ro); err != nil {
			return err
		}
	}
}

// sendStart sends StartInstanceRefresh, retrying it itself rather than
// through the SDK. The call has no idempotency token: after a lost answer,
// an SDK retry starts a second refresh when the first has already ended
// (nothing to replace ends at once). So before each retry, sendStart looks
// for a refresh that an earlier attempt started, whatever its status, and
// follows that one instead. An answer without a refresh id is looked into
// the same way; "" with no error means none was found.
func (r *roller) sendStart(ctx context.Context, ro *rollout, in *autoscaling.StartInstanceRefreshInput) (string, error) {
	for attempt := 1; ; attempt++ {
		out, err := ro.clients.autoscaling.StartInstanceRefresh(ctx, in, func(o *autoscaling.Options) { o.RetryMaxAttempts = 1 })
		if err == nil && aws.ToString(out.InstanceRefreshId) != "" {
			return aws.ToString(out.InstanceRefreshId), nil
		}
		if err == nil {
			own, ferr := r.awaitOwnStart(ctx, ro)
			if ferr != nil || own == nil {
				return "", ferr
			}
			r.say(ro, "AWS answered the start without a refresh id, but refresh %s had started (%s): following it", aws.ToString(own.InstanceRefreshId), own.Status)
			return aws.ToString(own.InstanceRefreshId), nil
		}
		if ctx.Err() != nil || attempt >= r.retryer.MaxAttempts() || !r.retryer.IsErrorRetryable(err) {
			return "", err
		}
		delay, derr := r.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return "", err
		}
		log.Printf("[DEBUG] %s: StartInstanceRefresh attempt %d failed (%v); retrying in %s", ro.label(), attempt, err, delay)
		if err := r.sleep(ctx, delay); err != nil {
			return "", err
		}
		own, ferr := findOwnStart(ctx, ro)
		if ferr == nil && own != nil {
			r.say(ro, "the answer to starting the instance refresh was lost, but refresh %s had started (%s): following it", aws.ToString(own.InstanceRefreshId), own.Status)
			return aws.ToString(own.InstanceRefreshId), nil
		}
	}
}

// startInput is the StartInstanceRefresh request for ro.
func (r *roller) startInput(ro *rollout) *autoscaling.StartInstanceRefreshInput {
	in := &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(ro.group),
		Strategy:             astypes.RefreshStrategy(r.cfg.InstanceRefresh.Strategy),
		Preferences:          r.cfg.InstanceRefresh.Preferences(ro.warmup, ro.healthy),
	}
	if ro.lc != nil {
		// The group already launches the copy; AWS cannot roll back a
		// refresh without a desired configuration, nor match instances
		// against one.
		in.Preferences.AutoRollback = aws.Bool(false)
		in.Preferences.SkipMatching = aws.Bool(false)
		return in
	}
	in.DesiredConfiguration = desiredConfiguration(ro)
	return in
}

// target says what the refresh moves the group onto.
func (ro *rollout) target() string {
	if ro.lc != nil {
		return "launch configuration " + ro.lc.copyName
	}
	return fmt.Sprintf("version %d of %s", ro.version, ro.templateID)
}

// desiredConfiguration names the new numbered version the way the group
// names its template: directly, or inside a copy of its mixed instances
// policy with everything else kept, except that every override carrying an
// ImageId gets the new AMI (an override's ImageId wins over its template's).
func desiredConfiguration(ro *rollout) *astypes.DesiredConfiguration {
	spec := &astypes.LaunchTemplateSpecification{
		LaunchTemplateId: aws.String(ro.templateID),
		Version:          aws.String(strconv.FormatInt(ro.version, 10)),
	}
	if ro.mixed == nil {
		return &astypes.DesiredConfiguration{LaunchTemplate: spec}
	}
	mixed := *ro.mixed
	lt := *mixed.LaunchTemplate
	lt.LaunchTemplateSpecification = spec
	lt.Overrides = slices.Clone(lt.Overrides)
	withOverrideImages(lt.Overrides, ro.imageID)
	for _, tu := range ro.overrides {
		lt.Overrides[tu.override].LaunchTemplateSpecification = &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(tu.templateID),
			Version:          aws.String(strconv.FormatInt(tu.version, 10)),
		}
	}
	mixed.LaunchTemplate = &lt
	return &astypes.DesiredConfiguration{MixedInstancesPolicy: &mixed}
}

func (r *roller) describePreferences(ro *rollout) string {
	p := r.cfg.InstanceRefresh.Preferences(ro.warmup, ro.healthy)
	s := fmt.Sprintf("%s, warm-up %ds", ro.healthy, aws.ToInt32(p.InstanceWarmup))
	if len(p.CheckpointPercentages) > 0 {
		s += fmt.Sprintf(", checkpoints %v every %ds", p.CheckpointPercentages, aws.ToInt32(p.CheckpointDelay))
	}
	if b := aws.ToInt32(p.BakeTime); b > 0 {
		s += fmt.Sprintf(", bake %ds", b)
	}
	if aws.ToBool(p.AutoRollback) && ro.lc == nil {
		s += ", auto rollback"
	}
	return s
}

// clearForeign deals with a refresh that someone else runs on the group,
// following on_refresh_in_progress. A refresh that is rolling back or
// being cancelled is never cancelled: that would leave the group half-way
// back; it is waited for instead.
func (r *roller) clearForeign(ctx context.Context, ro *rollout) error {
	f := ro.foreign
	id := aws.ToString(f.InstanceRefreshId)
	unwinding := f.Status == astypes.InstanceRefreshStatusRollbackInProgress || f.Status == astypes.InstanceRefreshStatusCancelling
	switch {
	case r.cfg.OnRefreshInProgress == InProgressWait:
		r.say(ro, "instance refresh %s (not this build's) is %s: waiting for it to end before starting", id, f.Status)
	case r.cfg.OnRefreshInProgress == InProgressCancel && unwinding:
		r.say(ro, "instance refresh %s (not this build's) is %s: not cancelling that; waiting for it to end before starting", id, f.Status)
	case r.cfg.OnRefreshInProgress == InProgressCancel:
		r.say(ro, "instance refresh %s (not this build's) is %s: cancelling it", id, f.Status)
		_, err := ro.clients.autoscaling.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(ro.group)})
		var notActive *astypes.ActiveInstanceRefreshNotFoundFault
		if err != nil && !errors.As(err, &notActive) {
			return fmt.Errorf("cancelling Auto Scaling group (%s) instance refresh (%s): %w", ro.group, id, err)
		}
	default:
		return foreignRefreshError(ro, f)
	}
	last, err := r.waitRefresh(ctx, ro, id, r.remaining(), anyEnd)
	if err != nil {
		return fmt.Errorf("waiting for Auto Scaling group (%s) instance refresh (%s) of someone else to end: %w", ro.group, id, err)
	}
	if !knownStatus(last.Status) {
		return fmt.Errorf("Auto Scaling group (%s) instance refresh (%s) of someone else reports status %q, which this plugin does not know, so it may still be running: not starting another; check it with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s --instance-refresh-ids %s",
			ro.group, id, last.Status, ro.region, ro.group, id)
	}
	r.say(ro, "instance refresh %s ended %s", id, last.Status)
	ro.foreign = nil
	return nil
}
