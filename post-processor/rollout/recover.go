package rollout

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

const (
	// clockSkew is how far AWS's clock may be from ours when comparing a
	// refresh's start time with when we sent the start.
	clockSkew = 5 * time.Minute
	// lostStartGrace is how long a start whose answer was lost is looked
	// for before concluding it began nothing: AWS lists a new refresh only
	// after a moment.
	lostStartGrace = 20 * time.Second
	// lostStartPoll is the delay between those looks.
	lostStartPoll = 2 * time.Second
)

// recoverStarts finds, after an interruption during the start phase, the
// refreshes whose start was sent but whose answer never came, and applies
// on_interrupt to every refresh that started.
func (r *roller) recoverStarts(ros []*rollout) {
	r.forEach(ros, func(ro *rollout) {
		if ro.refreshID == "" && ro.startAttempted {
			ctx, cancel := context.WithTimeout(context.Background(), lostStartGrace+actionTimeout)
			own, err := r.awaitOwnStart(ctx, ro)
			cancel()
			switch {
			case err != nil:
				ro.startInDoubt = true
				ro.err = fmt.Errorf("Auto Scaling group (%s): interrupted while starting its instance refresh, and whether it started is unknown (%w); check it with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s", ro.group, err, ro.region, ro.group)
				return
			case own == nil:
				r.say(ro, "no instance refresh of this build is listed %s after the interrupted start: none began", lostStartGrace)
			default:
				ro.refreshID = aws.ToString(own.InstanceRefreshId)
				ro.final = own
				if knownStatus(own.Status) && !instancerefresh.IsActive(own.Status) {
					// It ran to its end before anyone could act on it.
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

// awaitOwnStart looks for the refresh a start may have begun for up to
// lostStartGrace, since a new refresh is listed only after a moment.
func (r *roller) awaitOwnStart(ctx context.Context, ro *rollout) (*astypes.InstanceRefresh, error) {
	until := r.now().Add(lostStartGrace)
	for {
		own, err := findOwnStart(ctx, ro)
		if err != nil || own != nil || !r.now().Before(until) {
			return own, err
		}
		if err := r.sleep(ctx, lostStartPoll); err != nil {
			return nil, err
		}
	}
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
		return nil, fmt.Errorf("listing Auto Scaling group (%s) instance refreshes: %w", ro.group, err)
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
