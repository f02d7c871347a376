package instancerefresh

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// seen is a refresh in progress with left instances to go, of a group
// of 4, whose warm-up is two minutes.
func seen(left int32) *types.InstanceRefresh {
	return &types.InstanceRefresh{
		Status: types.InstanceRefreshStatusInProgress, InstancesToUpdate: aws.Int32(left),
		PercentageComplete: aws.Int32(25 * (4 - left)),
		Preferences:        &types.RefreshPreferences{InstanceWarmup: aws.Int32(120)},
	}
}

func backedOff() *pacer {
	p := newPacer(5*time.Second, 30*time.Second)
	for i := 0; i < 4; i++ {
		p.next(t0, seen(4))
	}
	return p
}

func TestPacerAimsAtTheLastBatch(t *testing.T) {
	p := backedOff()
	// Two replaced between the polls at t0 and t0+30s: batches of two, so
	// the two left are the last batch, due 2m ± 24s after t0.
	if d := p.next(t0.Add(30*time.Second), seen(2)); d != 30*time.Second {
		t.Errorf("delay %s well before the window, want MaxDelay", d)
	}
	if d := p.next(t0.Add(90*time.Second), seen(2)); d != 6*time.Second {
		t.Errorf("delay %s, want 6s: the next poll at the window's start (t0+96s)", d)
	}
	if d := p.next(t0.Add(100*time.Second), seen(2)); d != 5*time.Second {
		t.Errorf("delay %s inside the window, want MinDelay", d)
	}
	// The window ends at 2m + 24s + the 30s the change may have gone unseen
	// + 5s: t0+179s.
	if d := p.next(t0.Add(175*time.Second), seen(2)); d != 5*time.Second {
		t.Errorf("delay %s at the window's end, want MinDelay", d)
	}
	if d := p.next(t0.Add(200*time.Second), seen(2)); d != 30*time.Second {
		t.Errorf("delay %s past the window, want MaxDelay: the refresh is late, not due", d)
	}
}

func TestPacerCallsOnlyPollsAimedAtTheWindowUrgent(t *testing.T) {
	// The polls of TestPacerAimsAtTheLastBatch, whose window is t0+96s to
	// t0+179s.
	p := backedOff()
	for _, c := range []struct {
		at   time.Duration
		left int32
		want Priority
	}{
		{30 * time.Second, 2, PriorityRoutine},  // the backoff lands before the window
		{90 * time.Second, 2, PriorityUrgent},   // aimed at its start
		{100 * time.Second, 2, PriorityUrgent},  // inside
		{175 * time.Second, 2, PriorityUrgent},  // at its end
		{200 * time.Second, 2, PriorityRoutine}, // past it: late, or stalled
	} {
		p.next(t0.Add(c.at), seen(c.left))
		if got := p.priority(); got != c.want {
			t.Errorf("poll planned at t0+%s is %s, want %s", c.at, got, c.want)
		}
	}
	if p := newPacer(5*time.Second, 30*time.Second); p.priority() != PriorityRoutine {
		t.Error("the first poll is urgent, want routine: it aims at nothing")
	}
}

func TestPacerIgnoresBatchesThatAreNotTheLast(t *testing.T) {
	p := newPacer(5*time.Second, 30*time.Second)
	for i := 0; i < 4; i++ {
		p.next(t0, &types.InstanceRefresh{Status: types.InstanceRefreshStatusInProgress, InstancesToUpdate: aws.Int32(40)})
	}
	if d := p.next(t0.Add(2*time.Minute), &types.InstanceRefresh{Status: types.InstanceRefreshStatusInProgress, InstancesToUpdate: aws.Int32(38), PercentageComplete: aws.Int32(5)}); d != 30*time.Second {
		t.Errorf("delay %s with 38 of 40 left, want MaxDelay", d)
	}
}

func TestPacerBaking(t *testing.T) {
	p := backedOff()
	baking := &types.InstanceRefresh{Status: types.InstanceRefreshStatusBaking, PercentageComplete: aws.Int32(100),
		Preferences: &types.RefreshPreferences{BakeTime: aws.Int32(600)}}
	// Baking began between t0 and t0+30s, so it ends between t0+10m and
	// t0+10m30s.
	if d := p.next(t0.Add(30*time.Second), baking); d != 30*time.Second {
		t.Errorf("delay %s early in a 10-minute bake, want MaxDelay", d)
	}
	if d := p.next(t0.Add(9*time.Minute+50*time.Second), baking); d != 10*time.Second {
		t.Errorf("delay %s 10s before the earliest end, want 10s", d)
	}
	if d := p.next(t0.Add(10*time.Minute+10*time.Second), baking); d != 5*time.Second {
		t.Errorf("delay %s within the bake's end window, want MinDelay", d)
	}
}

func TestPacerLearnsTheBatchLengthWithoutAWarmup(t *testing.T) {
	p := newPacer(5*time.Second, 30*time.Second)
	r := func(left int32) *types.InstanceRefresh {
		return &types.InstanceRefresh{Status: types.InstanceRefreshStatusInProgress, InstancesToUpdate: aws.Int32(left), PercentageComplete: aws.Int32(25 * (4 - left))}
	}
	p.next(t0, r(4))
	p.next(t0.Add(60*time.Second), r(3))
	p.next(t0.Add(120*time.Second), r(2))
	// Batches of one every minute: with one left the end is due about a
	// minute after the last change (seen between 120s and 150s).
	if d := p.next(t0.Add(150*time.Second), r(1)); d != 18*time.Second {
		t.Errorf("delay %s, want 18s: aimed at 120s + 60s - 12s", d)
	}
}

func TestPacerBackoffSaturates(t *testing.T) {
	for _, max := range []time.Duration{time.Minute, MaxPollDelay, time.Duration(1<<63 - 1)} {
		p := newPacer(5*time.Second, max)
		prev := time.Duration(0)
		for i := 0; i < 200; i++ {
			d := p.next(t0.Add(time.Duration(i)*time.Second), &types.InstanceRefresh{Status: types.InstanceRefreshStatusPending})
			if d < prev || d > max {
				t.Fatalf("max %s: delay %d is %s after %s; the backoff must grow to the cap and stay there", max, i, d, prev)
			}
			prev = d
		}
		if prev != max {
			t.Errorf("max %s: the backoff stopped at %s", max, prev)
		}
	}
}

func TestDoubleUpTo(t *testing.T) {
	huge := time.Duration(1<<63 - 1)
	for _, c := range []struct{ d, limit, want time.Duration }{
		{5 * time.Second, time.Minute, 10 * time.Second},
		{40 * time.Second, time.Minute, time.Minute},
		{time.Minute, time.Minute, time.Minute},
		{huge / 2, huge, huge},
		{huge/2 + 1, huge, huge},
	} {
		if got := doubleUpTo(c.d, c.limit); got != c.want {
			t.Errorf("doubleUpTo(%s, %s) = %s, want %s", c.d, c.limit, got, c.want)
		}
	}
}
