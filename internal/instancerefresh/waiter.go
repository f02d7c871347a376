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

	// MaxPollDelay is the longest MinDelay or MaxDelay the waiter accepts.
	// AWS fails a refresh that makes no progress for an hour, so polling
	// less often than that would report such a failure hours late; the
	// bound also keeps the pacer's arithmetic far from overflowing.
	MaxPollDelay = time.Hour

	// DescribeCallTimeout bounds one DescribeInstanceRefreshes call, the
	// SDK's retries included. A connection that goes silent without closing
	// would otherwise hold the poll, and with it the whole wait, forever.
	// Five minutes let the retryer ride out a dozen throttled attempts at
	// its 30-second backoff cap; a call slower than that is hung, and is
	// abandoned for a fresh poll at the next delay.
	DescribeCallTimeout = 5 * time.Minute

	// lastPollTime is the time kept for the last poll before the deadline:
	// the wait stops sleeping this long before it (or a tenth of a short
	// wait before it), so that a refresh that ends just in time is seen and
	// the wait still never overruns its deadline. A Describe call answers in
	// well under a second; five allow a throttled retry or two.
	lastPollTime = 5 * time.Second
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

	// Budget, if set, is waited on before every DescribeInstanceRefreshes
	// call. Give every waiter that polls one account and region the same
	// Budget (see Budgets): Auto Scaling throttles all of an account's calls
	// in a region together. Nil polls without a shared limit. Polls the
	// pacer aims at a predicted end ask at PriorityUrgent, every other at
	// PriorityRoutine, so that when the budget binds the end is noticed
	// soon without a stalled refresh going unpolled (see Budget).
	Budget *Budget

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
	// take microseconds, and callTimeout so that a hung call is abandoned
	// in milliseconds.
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	jitter      func(d time.Duration) time.Duration
	callTimeout time.Duration
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
		callTimeout:     DescribeCallTimeout,
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
//
// The wait never outlasts maxWaitDur, even while a Describe call hangs: it
// then ends with an error wrapping ErrWaitTimeout. When ctx ends instead,
// the error wraps ctx.Err(), so a caller tells an interrupt from a timeout
// by its own ctx.Err() and by errors.Is(err, ErrWaitTimeout). A call that
// hangs for DescribeCallTimeout is abandoned and the refresh polled again
// after the usual delay.
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
	if err := ValidatePollDelays(o.MinDelay, o.MaxDelay); err != nil {
		return nil, fmt.Errorf("waiting for instance refresh: %w", err)
	}
	group, id := aws.ToString(params.AutoScalingGroupName), params.InstanceRefreshIds[0]

	start := o.now()
	deadline := start.Add(maxWaitDur)
	timedOut := func(cause string) error {
		return fmt.Errorf("Auto Scaling group (%s) instance refresh (%s): %w (%s)%s", group, id, ErrWaitTimeout, maxWaitDur, cause)
	}
	// The last poll gets lastPollTime, or a tenth of a short wait.
	lead := min(lastPollTime, maxWaitDur/10)
	var last *types.InstanceRefresh
	var lastKey progressKey
	pace := newPacer(o.MinDelay, o.MaxDelay)
	delay := o.MinDelay
	prio := PriorityRoutine // the first poll aims at nothing
	for attempt := int64(1); ; attempt++ {
		if o.LogWaitAttempts {
			log.Printf("[DEBUG] polling Auto Scaling group (%s) instance refresh (%s): attempt %d", group, id, attempt)
		}
		r, err := w.poll(ctx, &o, group, id, deadline, prio)
		switch {
		case err == nil:
			last = r
			if key := keyOf(r); attempt == 1 || key != lastKey {
				if o.OnProgress != nil {
					o.OnProgress(*r)
				}
				lastKey = key
			}
			delay, prio = pace.next(o.now(), r), pace.priority()
			retry, err := o.Retryable(ctx, *r)
			if err != nil || !retry {
				return last, err
			}
		case ctx.Err() != nil:
			return last, fmt.Errorf("waiting for Auto Scaling group (%s) instance refresh (%s): %w", group, id, ctx.Err())
		case errors.Is(err, errDeadline):
			return last, timedOut(": the last poll did not answer in time")
		case errors.Is(err, errCallTimeout):
			// The poll meant for the window (if it was) did not answer:
			// the retry stays as urgent as it was.
			log.Printf("[WARN] Auto Scaling group (%s) instance refresh (%s): %v; polling again", group, id, err)
		case errors.Is(err, ErrNotFound) && last == nil && o.now().Sub(start) < o.NotFoundTimeout:
			// Not visible yet: poll again soon.
		default:
			return last, err
		}

		remaining := deadline.Sub(o.now())
		if remaining <= lead {
			return last, timedOut("")
		}
		d := o.jitter(delay)
		if d <= 0 {
			// A jitter function that misbehaves must not turn the wait
			// into back-to-back polling.
			d = o.MinDelay
		}
		d = min(d, remaining-lead)
		if err := o.sleep(ctx, d); err != nil {
			return last, fmt.Errorf("waiting for Auto Scaling group (%s) instance refresh (%s): %w", group, id, err)
		}
	}
}

var (
	// errDeadline marks a poll cut short by the wait's deadline.
	errDeadline = errors.New("wait deadline reached")
	// errCallTimeout marks a Describe call abandoned after callTimeout.
	errCallTimeout = errors.New("DescribeInstanceRefreshes did not answer")
)

// poll waits for the budget at priority prio, then describes the refresh
// once. Both are bounded by the wait's deadline, and the call by
// callTimeout as well. When a bound (not ctx) cuts the poll short, the
// error wraps errDeadline or errCallTimeout.
func (w *InstanceRefreshCompleteWaiter) poll(ctx context.Context, o *InstanceRefreshCompleteWaiterOptions, group, id string, deadline time.Time, prio Priority) (*types.InstanceRefresh, error) {
	remaining := deadline.Sub(o.now())
	if remaining <= 0 {
		return nil, errDeadline
	}
	waitCtx, cancel := context.WithTimeout(ctx, remaining)
	defer cancel()
	if o.Budget != nil {
		if err := o.Budget.WaitPriority(waitCtx, prio); err != nil {
			if ctx.Err() == nil {
				return nil, fmt.Errorf("waiting for the poll budget: %w", errDeadline)
			}
			return nil, err
		}
		if remaining = deadline.Sub(o.now()); remaining <= 0 {
			return nil, errDeadline
		}
	}
	bound, byDeadline := o.callTimeout, false
	if remaining <= bound {
		bound, byDeadline = remaining, true
	}
	callCtx, cancelCall := context.WithTimeout(waitCtx, bound)
	defer cancelCall()
	r, err := Find(callCtx, w.client, group, id, o.ClientOptions...)
	if err != nil && ctx.Err() == nil && callCtx.Err() != nil {
		if byDeadline || waitCtx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", errDeadline, err)
		}
		return nil, fmt.Errorf("%w within %s: %w", errCallTimeout, bound, err)
	}
	return r, err
}

// ValidatePollDelays reports whether the waiter accepts minDelay and
// maxDelay as MinDelay and MaxDelay: 0 < minDelay <= maxDelay <=
// MaxPollDelay.
func ValidatePollDelays(minDelay, maxDelay time.Duration) error {
	switch {
	case minDelay <= 0 || maxDelay < minDelay:
		return fmt.Errorf("poll delays: need 0 < minimum <= maximum, got %s and %s", minDelay, maxDelay)
	case maxDelay > MaxPollDelay:
		return fmt.Errorf("poll delays: the maximum must be at most %s, got %s", MaxPollDelay, maxDelay)
	}
	return nil
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
