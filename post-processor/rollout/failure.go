package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// maxActivities is how many failed scaling activities a failure quotes.
const maxActivities = 3

// failure explains a refresh that ended without deploying: its status and
// reason, where that leaves the group, and the failed scaling activities
// that usually say why.
func (r *roller) failure(ro *rollout, f *instancerefresh.FailedError) error {
	msg := f.Error()
	if ro.lc == nil { // for launch configurations, restoreLaunchConfiguration says where the group stands
		msg += "; " + endState(ro, f.Refresh.Status)
	}
	ctx, cancel := cleanupContext()
	defer cancel()
	if acts := failedActivities(ctx, ro, aws.ToTime(f.Refresh.StartTime)); len(acts) > 0 {
		msg += "\nrecent failed scaling activities:\n  - " + strings.Join(acts, "\n  - ")
	}
	return errors.New(msg)
}

// endState says where a refresh that ended in status leaves the group.
func endState(ro *rollout, status astypes.InstanceRefreshStatus) string {
	switch status {
	case astypes.InstanceRefreshStatusSuccessful:
		return fmt.Sprintf("the group runs %s with %s", ro.target(), ro.imageID)
	case astypes.InstanceRefreshStatusRollbackSuccessful:
		if ro.lc != nil {
			return fmt.Sprintf("rolled back: the group's instances run launch configuration %s again", ro.lc.name)
		}
		return fmt.Sprintf("rolled back: the group is on version %d of %s again", ro.sourceVersion, ro.templateID)
	case astypes.InstanceRefreshStatusRollbackFailed:
		return "the rollback failed too, so the group may run both AMIs: check it now"
	}
	return stillLaunches(ro)
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
