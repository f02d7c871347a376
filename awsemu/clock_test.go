package awsemu

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeReal is a real clock the test moves by hand.
type fakeReal struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeReal) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeReal) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Emulated time runs Speed times faster than real time and stays continuous
// when the speed changes.
func TestClockSpeed(t *testing.T) {
	real := &fakeReal{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClock(60, real.Now)
	start := c.Now()
	if !start.Equal(real.Now()) {
		t.Fatalf("emulated time starts at %v, want the real %v", start, real.Now())
	}
	real.advance(time.Second)
	if got := c.Now().Sub(start); got != time.Minute {
		t.Errorf("one real second at speed 60 is %v emulated, want 1m", got)
	}
	c.SetSpeed(3600)
	if got := c.Now().Sub(start); got != time.Minute {
		t.Errorf("changing the speed moved emulated time to %v", got)
	}
	real.advance(time.Second)
	if got := c.Now().Sub(start); got != time.Hour+time.Minute {
		t.Errorf("after another real second at speed 3600: %v, want 1h1m", got)
	}
	c.SetSpeed(0) // ignored
	if c.Speed() != 3600 {
		t.Errorf("speed 0 was accepted")
	}
}

// A sleep lasts its emulated duration divided by the speed, adapts when the
// speed changes, and ends early on wake or cancellation.
func TestClockSleep(t *testing.T) {
	c := newClock(3600, nil)
	start := time.Now()
	if !c.Sleep(context.Background(), time.Hour, nil) {
		t.Fatal("sleep interrupted")
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("an emulated hour at speed 3600 took %v, want about 1s", d)
	}

	c = newClock(1, nil)
	done := make(chan bool)
	go func() { done <- c.Sleep(context.Background(), time.Hour, nil) }()
	time.Sleep(50 * time.Millisecond)
	c.SetSpeed(360000) // the remaining hour now takes 10ms
	select {
	case ok := <-done:
		if !ok {
			t.Error("sleep interrupted by a speed change")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleep did not adapt to the new speed")
	}

	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if c.Sleep(context.Background(), time.Hour, wake) {
		t.Error("sleep ignored wake")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.Sleep(ctx, time.Hour, nil) {
		t.Error("sleep ignored a cancelled context")
	}
}
