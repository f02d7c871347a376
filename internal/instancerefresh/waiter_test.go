package instancerefresh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// fakeClock advances only when the waiter sleeps.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// timeline is a refresh whose state depends on the fake clock: each step
// holds from its offset on.
type timeline struct {
	clock *fakeClock
	start time.Time
	steps []step
	calls int
}

type step struct {
	at      time.Duration
	status  types.InstanceRefreshStatus
	percent int32
	reason  string
	left    int32 // InstancesToUpdate
	missing bool  // not visible to Describe
}

func (tl *timeline) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	tl.calls++
	elapsed := tl.clock.now.Sub(tl.start)
	var cur step
	for _, s := range tl.steps {
		if s.at <= elapsed {
			cur = s
		}
	}
	if cur.missing {
		return &autoscaling.DescribeInstanceRefreshesOutput{}, nil
	}
	return &autoscaling.DescribeInstanceRefreshesOutput{InstanceRefreshes: []types.InstanceRefresh{{
		AutoScalingGroupName: in.AutoScalingGroupName,
		InstanceRefreshId:    aws.String(in.InstanceRefreshIds[0]),
		Status:               cur.status,
		PercentageComplete:   aws.Int32(cur.percent),
		InstancesToUpdate:    aws.Int32(cur.left),
		StatusReason:         aws.String(cur.reason),
	}}}, nil
}

func newTestWaiter(tl *timeline, optFns ...func(*InstanceRefreshCompleteWaiterOptions)) *InstanceRefreshCompleteWaiter {
	return NewInstanceRefreshCompleteWaiter(tl, append([]func(*InstanceRefreshCompleteWaiterOptions){func(o *InstanceRefreshCompleteWaiterOptions) {
		o.now = tl.clock.Now
		o.sleep = tl.clock.Sleep
		o.jitter = func(d time.Duration) time.Duration { return d }
	}}, optFns...)...)
}

func newTimeline(steps ...step) *timeline {
	c := &fakeClock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	return &timeline{clock: c, start: c.now, steps: steps}
}

var params = &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web"), InstanceRefreshIds: []string{"r-1"}}

func TestWaiterTwoHourRefreshSucceeds(t *testing.T) {
	tl := newTimeline(
		step{at: 0, status: "Pending"},
		step{at: time.Minute, status: "InProgress", percent: 0, reason: "Waiting for instances to warm up"},
		step{at: 30 * time.Minute, status: "InProgress", percent: 25},
		step{at: 60 * time.Minute, status: "InProgress", percent: 50},
		step{at: 90 * time.Minute, status: "InProgress", percent: 75},
		step{at: 110 * time.Minute, status: "Baking", percent: 100},
		step{at: 120 * time.Minute, status: "Successful", percent: 100},
	)
	var seen []string
	w := newTestWaiter(tl, func(o *InstanceRefreshCompleteWaiterOptions) {
		o.OnProgress = func(r types.InstanceRefresh) {
			seen = append(seen, fmt.Sprintf("%s %d", r.Status, *r.PercentageComplete))
		}
	})
	start := time.Now()
	out, err := w.WaitForOutput(context.Background(), params, 3*time.Hour)
	if err != nil {
		t.Fatalf("WaitForOutput: %v", err)
	}
	if out.Status != "Successful" {
		t.Fatalf("final status %s, want Successful", out.Status)
	}
	if real := time.Since(start); real > time.Second {
		t.Errorf("a two-hour refresh took %s of real time", real)
	}
	want := []string{"Pending 0", "InProgress 0", "InProgress 25", "InProgress 50", "InProgress 75", "Baking 100", "Successful 100"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("progress reported %v, want each change once: %v", seen, want)
	}
	// Detection: the refresh ended at 2h; the waiter must notice within one
	// maximum delay.
	if late := tl.clock.now.Sub(tl.start) - 120*time.Minute; late > DefaultMaxDelay {
		t.Errorf("noticed the end %s late, more than MaxDelay", late)
	}
	// Frugal: while nothing changes the delay grows to MaxDelay, so two
	// hours take far fewer polls than one every MinDelay.
	if max := int(120 * time.Minute / DefaultMinDelay); tl.calls >= max/3 {
		t.Errorf("%d polls for two hours; backoff is not working", tl.calls)
	}
}

func TestWaiterDelaysBackOff(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "Pending"}, step{at: 20 * time.Minute, status: "Successful", percent: 100})
	w := newTestWaiter(tl)
	if err := w.Wait(context.Background(), params, time.Hour); err != nil {
		t.Fatal(err)
	}
	s := tl.clock.sleeps
	want := []time.Duration{DefaultMinDelay, 2 * DefaultMinDelay, 4 * DefaultMinDelay, 8 * DefaultMinDelay, DefaultMaxDelay}
	for i, d := range want {
		if s[i] != d {
			t.Fatalf("delays %v, want them to start %v", s[:len(want)], want)
		}
	}
	for _, d := range s {
		if d > DefaultMaxDelay {
			t.Errorf("delay %s above MaxDelay", d)
		}
	}
}

func TestWaiterFailureStatuses(t *testing.T) {
	for _, status := range []types.InstanceRefreshStatus{"Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed", "Exploded"} {
		t.Run(string(status), func(t *testing.T) {
			tl := newTimeline(step{at: 0, status: "InProgress"}, step{at: 5 * time.Minute, status: status, reason: "instances failed health checks"})
			out, err := newTestWaiter(tl).WaitForOutput(context.Background(), params, time.Hour)
			var failed *FailedError
			if !errors.As(err, &failed) {
				t.Fatalf("err = %v, want *FailedError", err)
			}
			if out == nil || out.Status != status {
				t.Fatalf("last refresh %v, want status %s", out, status)
			}
			for _, want := range []string{"web", "r-1", string(status), "instances failed health checks"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

func TestWaiterTimeout(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "InProgress", percent: 10})
	out, err := newTestWaiter(tl).WaitForOutput(context.Background(), params, 45*time.Minute)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("err = %v, want ErrWaitTimeout", err)
	}
	if out == nil || out.Status != "InProgress" {
		t.Fatalf("want the last seen refresh with the timeout, got %v", out)
	}
	// The last poll is made lastPollTime before the limit, so that it has
	// time to answer within it.
	if waited := tl.clock.now.Sub(tl.start); waited != 45*time.Minute-lastPollTime {
		t.Errorf("waited %s, want the 45m limit less the last poll's %s", waited, lastPollTime)
	}
}

func TestWaiterRefreshBrieflyMissing(t *testing.T) {
	tl := newTimeline(step{at: 0, missing: true}, step{at: 20 * time.Second, status: "Successful", percent: 100})
	if err := newTestWaiter(tl).Wait(context.Background(), params, time.Hour); err != nil {
		t.Fatalf("a refresh missing for 20s must be waited for: %v", err)
	}
}

func TestWaiterRefreshNeverAppears(t *testing.T) {
	tl := newTimeline(step{at: 0, missing: true})
	err := newTestWaiter(tl).Wait(context.Background(), params, time.Hour)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if waited := tl.clock.now.Sub(tl.start); waited < DefaultNotFoundTimeout || waited > DefaultNotFoundTimeout+DefaultMaxDelay {
		t.Errorf("gave up after %s, want about %s", waited, DefaultNotFoundTimeout)
	}
}

func TestWaiterSuccessBeforeFirstPoll(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "Successful", percent: 100})
	if err := newTestWaiter(tl).Wait(context.Background(), params, time.Hour); err != nil {
		t.Fatal(err)
	}
	if tl.calls != 1 || len(tl.clock.sleeps) != 0 {
		t.Errorf("%d calls and %d sleeps for a refresh already done, want 1 and 0", tl.calls, len(tl.clock.sleeps))
	}
}

func TestWaiterCancelled(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "InProgress"})
	ctx, cancel := context.WithCancel(context.Background())
	w := newTestWaiter(tl, func(o *InstanceRefreshCompleteWaiterOptions) {
		o.OnProgress = func(types.InstanceRefresh) { cancel() }
	})
	out, err := w.WaitForOutput(ctx, params, time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if out == nil {
		t.Fatal("the last seen refresh must come back with the cancellation")
	}
}

func TestWaiterCustomRetryable(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "InProgress"}, step{at: time.Minute, status: "Cancelled"})
	w := newTestWaiter(tl, func(o *InstanceRefreshCompleteWaiterOptions) {
		o.Retryable = func(_ context.Context, r types.InstanceRefresh) (bool, error) { return IsActive(r.Status), nil }
	})
	out, err := w.WaitForOutput(context.Background(), params, time.Hour)
	if err != nil || out.Status != "Cancelled" {
		t.Fatalf("got %v, %v; want the Cancelled refresh and no error", out, err)
	}
}

func TestWaiterRejectsBadArguments(t *testing.T) {
	w := newTestWaiter(newTimeline())
	if err := w.Wait(context.Background(), params, 0); err == nil {
		t.Error("zero max wait accepted")
	}
	if err := w.Wait(context.Background(), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web")}, time.Hour); err == nil {
		t.Error("params without a refresh id accepted")
	}
	for _, d := range []struct {
		name     string
		min, max time.Duration
	}{
		{"MinDelay > MaxDelay", time.Minute, time.Second},
		{"zero MinDelay", 0, time.Second},
		{"negative MinDelay", -time.Second, time.Second},
		{"MaxDelay above MaxPollDelay", time.Second, MaxPollDelay + 1},
		{"absurd MaxDelay", time.Second, time.Duration(1<<63 - 1)},
	} {
		err := w.Wait(context.Background(), params, time.Hour, func(o *InstanceRefreshCompleteWaiterOptions) { o.MinDelay, o.MaxDelay = d.min, d.max })
		if err == nil || !strings.Contains(err.Error(), "poll delays") {
			t.Errorf("%s: err = %v, want a poll delay error", d.name, err)
		}
	}
	if err := ValidatePollDelays(DefaultMinDelay, MaxPollDelay); err != nil {
		t.Errorf("MaxPollDelay itself rejected: %v", err)
	}
}

func TestDefaultJitterStaysWithinAFifth(t *testing.T) {
	for i := 0; i < 1000; i++ {
		d := defaultJitter(10 * time.Second)
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter gave %s for 10s", d)
		}
	}
}

// hangingClient never answers until ctx ends, except for the calls that
// answers lets through.
type hangingClient struct {
	calls   atomic.Int32
	answers func(call int32) *types.InstanceRefresh // nil: hang
}

func (h *hangingClient) DescribeInstanceRefreshes(ctx context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	n := h.calls.Add(1)
	if h.answers != nil {
		if r := h.answers(n); r != nil {
			return &autoscaling.DescribeInstanceRefreshesOutput{InstanceRefreshes: []types.InstanceRefresh{*r}}, nil
		}
	}
	<-ctx.Done()
	// What the SDK returns for a cancelled call: the context's error,
	// wrapped.
	return nil, fmt.Errorf("operation error Auto Scaling: DescribeInstanceRefreshes, canceled: %w", ctx.Err())
}

func refreshIn(status types.InstanceRefreshStatus) *types.InstanceRefresh {
	return &types.InstanceRefresh{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("r-1"), Status: status}
}

func newHangingWaiter(h *hangingClient, optFns ...func(*InstanceRefreshCompleteWaiterOptions)) (*InstanceRefreshCompleteWaiter, *fakeClock) {
	c := &fakeClock{now: t0}
	return NewInstanceRefreshCompleteWaiter(h, append([]func(*InstanceRefreshCompleteWaiterOptions){func(o *InstanceRefreshCompleteWaiterOptions) {
		o.now, o.sleep = c.Now, c.Sleep
		o.jitter = func(d time.Duration) time.Duration { return d }
	}}, optFns...)...), c
}

func TestWaiterTimeoutHoldsWhileAPollHangs(t *testing.T) {
	// The first poll answers; the second hangs past the deadline. The fake
	// clock stands still during the hang, so only a real bound on the call
	// can end it: the wait's 80ms deadline.
	h := &hangingClient{answers: func(n int32) *types.InstanceRefresh {
		if n == 1 {
			return refreshIn("InProgress")
		}
		return nil
	}}
	w, _ := newHangingWaiter(h, func(o *InstanceRefreshCompleteWaiterOptions) { o.MinDelay = time.Millisecond })
	start := time.Now()
	out, err := w.WaitForOutput(context.Background(), params, 80*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("err = %v, want ErrWaitTimeout", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v reads as a context error; a caller would take a timeout for an interrupt", err)
	}
	if out == nil || out.Status != "InProgress" {
		t.Errorf("want the refresh last seen with the timeout, got %v", out)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a hung poll held an 80ms wait for %s", took)
	}
}

func TestWaiterHangFromTheFirstPollTimesOut(t *testing.T) {
	w, _ := newHangingWaiter(&hangingClient{})
	_, err := w.WaitForOutput(context.Background(), params, 50*time.Millisecond)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("err = %v, want ErrWaitTimeout", err)
	}
}

func TestWaiterCancelledWhileAPollHangs(t *testing.T) {
	w, _ := newHangingWaiter(&hangingClient{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := w.WaitForOutput(ctx, params, time.Hour)
	if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrWaitTimeout) {
		t.Errorf("err = %v reads as a timeout; a caller would take an interrupt for one", err)
	}
}

func TestWaiterPollsAgainAfterAHungCall(t *testing.T) {
	// The first call hangs until the per-call timeout; the second answers.
	h := &hangingClient{answers: func(n int32) *types.InstanceRefresh {
		if n == 1 {
			return nil
		}
		return refreshIn("Successful")
	}}
	w, c := newHangingWaiter(h, func(o *InstanceRefreshCompleteWaiterOptions) { o.callTimeout = 20 * time.Millisecond })
	out, err := w.WaitForOutput(context.Background(), params, time.Hour)
	if err != nil || out.Status != "Successful" {
		t.Fatalf("got %v, %v; want the refresh Successful on the poll after the hung one", out, err)
	}
	if n := h.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if len(c.sleeps) != 1 || c.sleeps[0] != DefaultMinDelay {
		t.Errorf("sleeps %v, want one MinDelay between the hung poll and the next", c.sleeps)
	}
}

func TestWaiterMisbehavingJitterCannotPollBackToBack(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "InProgress"}, step{at: 10 * time.Minute, status: "Successful"})
	w := newTestWaiter(tl, func(o *InstanceRefreshCompleteWaiterOptions) {
		o.jitter = func(time.Duration) time.Duration { return -time.Hour }
	})
	if err := w.Wait(context.Background(), params, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, d := range tl.clock.sleeps {
		if d < DefaultMinDelay {
			t.Fatalf("slept %s, less than MinDelay", d)
		}
	}
}

func TestWaiterWaitsForTheBudget(t *testing.T) {
	tl := newTimeline(step{at: 0, status: "InProgress"}, step{at: time.Minute, status: "Successful"})
	b, err := NewBudget(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.now, b.sleep = tl.clock.Now, tl.clock.Sleep
	// Someone else just spent the budget: the first poll waits a second.
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := newTestWaiter(tl, func(o *InstanceRefreshCompleteWaiterOptions) { o.Budget = b })
	if err := w.Wait(context.Background(), params, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(tl.clock.sleeps) == 0 || tl.clock.sleeps[0] != time.Second {
		t.Errorf("sleeps %v, want the first to be the budget's second", tl.clock.sleeps)
	}
}
