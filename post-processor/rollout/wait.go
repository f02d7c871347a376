package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
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

// waitOne waits for ro's refresh and records how it ended in ro.final and
// ro.err.
func (r *roller) waitOne(ctx context.Context, ro *rollout) {
	last, err := r.waitRefresh(ctx, ro, ro.refreshID, r.remaining(), nil)
	if last != nil {
		ro.final = last
	}
	var failed *instancerefresh.FailedError
	switch {
	case err == nil:
		r.say(ro, "instance refresh %s Successful: the group runs %s with %s", ro.refreshID, ro.target(), ro.imageID)
		ro.err = r.setDefaultVersions(ro)
	case errors.As(err, &failed) && !knownStatus(failed.Refresh.Status):
		// Failing the build is right; calling the refresh ended is not.
		ro.err = fmt.Errorf("Auto Scaling group (%s) instance refresh (%s) reports status %q, which this plugin does not know, so it may still be running: nothing was done to it; check it with: %s",
			ro.group, ro.refreshID, failed.Refresh.Status, followCommand(ro))
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
		ro.err = fmt.Errorf("%w; the refresh may still be running: %s", err, followCommand(ro))
	}
	// A launch configuration group was changed directly; unless the refresh
	// succeeded or was left running on purpose, change it back.
	if ro.err != nil && !ro.detached && ro.outcome() != outcomeSucceeded {
		if msg := r.restoreLaunchConfiguration(ro); msg != "" {
			ro.err = fmt.Errorf("%w\n%s", ro.err, msg)
		}
	}
}

// waitRefresh follows refresh id of ro's group for at most maxWait,
// printing its progress. retryable, when set, replaces the waiter's
// default decision of when to stop.
func (r *roller) waitRefresh(ctx context.Context, ro *rollout, id string, maxWait time.Duration, retryable func(context.Context, astypes.InstanceRefresh) (bool, error)) (*astypes.InstanceRefresh, error) {
	opts := append([]func(*instancerefresh.InstanceRefreshCompleteWaiterOptions){
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
			// Every wait in an account and region draws on one budget.
			if r.budgets != nil {
				o.Budget = r.budgets.For(ro.account, ro.region)
			}
		},
	}, r.waitOpt...)
	w := instancerefresh.NewInstanceRefreshCompleteWaiter(ro.clients.autoscaling, append(opts,
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
			o.OnProgress = func(ir astypes.InstanceRefresh) { r.say(ro, "%s", progressLine(ir)) }
			if retryable != nil {
				o.Retryable = retryable
			}
		})...)
	return w.WaitForOutput(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(ro.group),
		InstanceRefreshIds:   []string{id},
	}, maxWait)
}

// anyEnd is a Retryable that stops at any end of a refresh, and at a
// status this code does not know (the caller decides what that means).
func anyEnd(_ context.Context, r astypes.InstanceRefresh) (bool, error) {
	return instancerefresh.IsActive(r.Status), nil
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

// followCommand is the AWS CLI command that shows ro's refresh.
func followCommand(ro *rollout) string {
	return fmt.Sprintf("aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s --instance-refresh-ids %s", ro.region, ro.group, ro.refreshID)
}
