package instancerefresh

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	smithytime "github.com/aws/smithy-go/time"
)

const (
	// DefaultMinDelay is the first delay, and the delay around the
	// estimated end of a refresh.
	DefaultMinDelay = 5 * time.Second
	// DefaultMaxDelay caps the delay while the end is far away. Instance
	// warm-ups and checkpoint delays last minutes to hours; polling them
	// often would only spend API quota, and the pacer aims its polls at the
	// predicted end anyway. Over 200 simulated refreshes (BenchmarkPolling)
	// a minute notices the end 2.7s late on average with 59 calls a refresh,
	// where a fixed 30-second poll is 14.7s late with 84 calls.
	DefaultMaxDelay = time.Minute
	// DefaultNotFoundTimeout is how long a refresh may stay invisible to
	// Describe. A fresh id can be missing for a moment (eventual
	// consistency); minutes of absence mean something else is wrong.
	DefaultNotFoundTimeout = 2 * time.Minute
)

// ErrWaitTimeout is returned when the maximum wait time passes before the
// refresh ends.
var ErrWaitTimeout = errors.New("exceeded max wait time for instance refresh")

// FailedError is returned when a refresh ends in a status that is not
// Successful. Refresh holds its last description.
type FailedError struct {
	Refresh types.InstanceRefresh
}

func (e *FailedError) Error() string {
	msg := fmt.Sprintf("Auto Scaling group (%s) instance refresh (%s) ended %s",
		aws.ToString(e.Refresh.AutoScalingGroupName), aws.ToString(e.Refresh.InstanceRefreshId), e.Refresh.Status)
	if r := aws.ToString(e.Refresh.StatusReason); r != "" {
		msg += ": " + r
	}
	if d := e.Refresh.RollbackDetails; d != nil && aws.ToString(d.RollbackReason) != "" {
		msg += " (rollback reason: " + aws.ToString(d.RollbackReason) + ")"
	}
	return msg
}

// InstanceRefreshCompleteWaiterOptions are the waiter's options.
type InstanceRefreshCompleteWaiterOptions struct {
	// ClientOptions are applied to every DescribeInstanceRefreshes call.
	ClientOptions []func(*autoscaling.Options)

	// MinDelay is the first delay, and the delay around the estimated end
	// of the refresh. Default DefaultMinDelay.
	MinDelay time.Duration

	// MaxDelay is the longest delay between polls: the delay doubles from
	// MinDelay up to it, and drops below it only to aim at the refresh's
	// estimated end (see pacer). Default DefaultMaxDelay.
	MaxDelay time.Duration

	// NotFoundTimeout is how long the refresh may be missing from Describe
	// before waiting fails with ErrNotFound. Default DefaultNotFoundTimeout.
	NotFoundTimeout time.Duration

	// LogWaitAttempts logs every poll at DEBUG level.
	LogWaitAttempts bool

	// OnProgress, if set, is called with the refresh on the first poll and
	// whenever its status, percentage, instances left, status reason, pool
	// progress or rollback progress changes. It runs on the waiting
	// goroutine; keep it short.
	OnProgress func(types.InstanceRefresh)

	// Retryable decides after each poll whether to keep waiting. It sees the
	// refresh only once Describe returns it. Contract: (true, nil) keeps
	// waiting; (false, nil) ends the wait successfully; a non-nil error ends
	// the wait with that error. Default DefaultRetryable.
	Retryable func(ctx context.Context, refresh types.InstanceRefresh) (bool, error)

	// sleep, now and jitter are replaced in tests so that hours of waiting
	// take microseconds.
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
	jitter func(d time.Duration) time.Duration
}

// DefaultRetryable keeps waiting while the refresh runs, succeeds on
// Successful and returns a *FailedError for every other end, including
// statuses this package does not know.
func DefaultRetryable(_ context.Context, r types.InstanceRefresh) (bool, error) {
	switch Classify(r.Status) {
	case Running:
		return true, nil
	case Succeeded:
		return false, nil
	default:
		return false, &FailedError{Refresh: r}
	}
}

// InstanceRefreshCompleteWaiter waits for an instance refresh to end.
type InstanceRefreshCompleteWaiter struct {
	client  DescribeInstanceRefreshesAPIClient
	options InstanceRefreshCompleteWaiterOptions
}

// NewInstanceRefreshCompleteWaiter returns a waiter for refreshes read with
// client.
func NewInstanceRefreshCompleteWaiter(client DescribeInstanceRefreshesAPIClient, optFns ...func(*InstanceRefreshCompleteWaiterOptions)) *InstanceRefreshCompleteWaiter {
	o := InstanceRefreshCompleteWaiterOptions{
		MinDelay:        DefaultMinDelay,
		MaxDelay:        DefaultMaxDelay,
		NotFoundTimeout: DefaultNotFoundTimeout,
		Retryable:       DefaultRetryable,
		sleep:           smithytime.SleepWithContext,
		now:             time.Now,
		jitter:          defaultJitter,
	}
	for _, fn := range optFns {
		fn(&o)
	}
	return &InstanceRefreshCompleteWaiter{client: client, options: o}
}

// Wait waits for the refresh named by params (a group and exactly one
// refresh id) to end, for at most maxWaitDur.
func (w *InstanceRefreshCompleteWaiter) Wait(ctx context.Context, params *autoscaling.DescribeInstanceRefreshesInput, maxWaitDur time.Duration, optFns ...func(*InstanceRefreshCompleteWaiterOptions)) error {
	_, err := w.WaitForOutput(ctx, params, maxWaitDur, optFns...)
	return err
}

// WaitForOutput is Wait that also returns the refresh as last seen, which
// is non-nil whenever Describe returned it at least once, errors included:
// a caller that times out or is cancelled needs it to decide what to do.
func (w *InstanceRefreshCompleteWaiter) WaitForOutput(ctx context.Context, params *autoscaling.DescribeInstanceRefreshesInput, maxWaitDur time.Duration, optFns ...func(*InstanceRefreshCompleteWaiterOptions)) (*types.InstanceRefresh, error) {
	if maxWaitDur <= 0 {
		return nil, fmt.Errorf("maximum wait time for waiter must be greater than zero")
	}
	if params == nil || aws.ToString(params.AutoScalingGroupName) == "" || len(params.InstanceRefreshIds) != 1 {
		return nil, fmt.Errorf("waiting for instance refresh: params need a group name and exactly one refresh id")
	}
	o := w.options
	o.ClientOptions = append([]func(*autoscaling.Options){}, o.ClientOptions...)
	for _, fn := range optFns {
		fn(&o)
	}
	if o.MinDelay <= 0 || o.MaxDelay < o.MinDelay {
		return nil, fmt.Errorf("waiting for instance refresh: need 0 < MinDelay <= MaxDelay, got %s and %s", o.MinDelay, o.MaxDelay)
	}
	group, id := aws.ToString(params.AutoScalingGroupName), params.InstanceRefreshIds[0]

	start := o.now()
	deadline := start.Add(maxWaitDur)
	var last *types.InstanceRefresh
	var lastKey progressKey
	pace := newPacer(o.MinDelay, o.MaxDelay)
	delay := o.MinDelay
	for attempt := int64(1); ; attempt++ {
		if o.LogWaitAttempts {
			log.Printf("[DEBUG] polling Auto Scaling group (%s) instance refresh (%s): attempt %d", group, id, attempt)
		}
		r, err := Find(ctx, w.client, group, id, o.ClientOptions...)
		switch {
		case errors.Is(err, ErrNotFound) && last == nil && o.now().Sub(start) < o.NotFoundTimeout:
			// Not visible yet: poll again soon.
		case err != nil:
			if ctx.Err() != nil {
				return last, fmt.Errorf("waiting for Auto Scaling group (%s) instance refresh (%s): %w", group, id, ctx.Err())
			}
			return last, err
		default:
			last = r
			if key := keyOf(r); attempt == 1 || key != lastKey {
				if o.OnProgress != nil {
					o.OnProgress(*r)
				}
				lastKey = key
			}
			delay = pace.next(o.now(), r)
			retry, err := o.Retryable(ctx, *r)
			if err != nil || !retry {
				return last, err
			}
		}

		remaining := deadline.Sub(o.now())
		if remaining <= 0 {
			return last, fmt.Errorf("Auto Scaling group (%s) instance refresh (%s): %w (%s)", group, id, ErrWaitTimeout, maxWaitDur)
		}
		d := min(o.jitter(delay), remaining)
		if err := o.sleep(ctx, d); err != nil {
			return last, fmt.Errorf("waiting for Auto Scaling group (%s) instance refresh (%s): %w", group, id, err)
		}
	}
}

// progressKey is what a user watching a refresh would call a change.
type progressKey struct {
	status                    types.InstanceRefreshStatus
	percent, toUpdate         int32
	reason                    string
	livePercent, warmPercent  int32
	rollbackPercent, rollLeft int32
}

func keyOf(r *types.InstanceRefresh) progressKey {
	k := progressKey{
		status:   r.Status,
		percent:  aws.ToInt32(r.PercentageComplete),
		toUpdate: aws.ToInt32(r.InstancesToUpdate),
		reason:   aws.ToString(r.StatusReason),
	}
	if p := r.ProgressDetails; p != nil {
		if p.LivePoolProgress != nil {
			k.livePercent = aws.ToInt32(p.LivePoolProgress.PercentageComplete)
		}
		if p.WarmPoolProgress != nil {
			k.warmPercent = aws.ToInt32(p.WarmPoolProgress.PercentageComplete)
		}
	}
	if d := r.RollbackDetails; d != nil {
		k.rollbackPercent = aws.ToInt32(d.PercentageCompleteOnRollback)
		k.rollLeft = aws.ToInt32(d.InstancesToUpdateOnRollback)
	}
	return k
}

// defaultJitter spreads polls by up to a fifth of the delay either way, so
// that many waiters started together do not poll in lockstep.
func defaultJitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}
