package instancerefresh

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	if waited := tl.clock.now.Sub(tl.start); waited != 45*time.Minute {
		t.Errorf("waited %s, want exactly the 45m limit", waited)
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
	bad := func(o *InstanceRefreshCompleteWaiterOptions) { o.MinDelay, o.MaxDelay = time.Minute, time.Second }
	if err := w.Wait(context.Background(), params, time.Hour, bad); err == nil {
		t.Error("MinDelay > MaxDelay accepted")
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
