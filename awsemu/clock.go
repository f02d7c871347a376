package awsemu

import (
	"context"
	"sync"
	"time"
)

// clock is the emulator's notion of time. Everything AWS does on a schedule
// (warm-ups, checkpoint delays, bake time, the one-hour limit for a stuck
// refresh) is measured in emulated time, which runs Speed times faster than
// real time, so a test can watch an hour-long refresh in a second while the
// code under test sees timestamps that are consistent with the durations it
// configured.
//
// Emulated time starts equal to real time and never runs slower than it, so
// timestamps the emulator reports are never earlier than the real clock of
// the client that reads them.
type clock struct {
	real func() time.Time // the real clock; replaceable in unit tests

	mu       sync.Mutex
	speed    float64
	baseReal time.Time     // real instant of the last speed change
	baseEmu  time.Time     // emulated instant at baseReal
	changed  chan struct{} // closed (and replaced) whenever the speed changes
}

func newClock(speed float64, real func() time.Time) *clock {
	if real == nil {
		real = time.Now
	}
	if speed <= 0 {
		speed = 1
	}
	now := real()
	return &clock{real: real, speed: speed, baseReal: now, baseEmu: now, changed: make(chan struct{})}
}

// Now returns the current emulated time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *clock) nowLocked() time.Time {
	elapsed := c.real().Sub(c.baseReal)
	return c.baseEmu.Add(time.Duration(float64(elapsed) * c.speed))
}

// Speed returns the number of emulated seconds per real second.
func (c *clock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// SetSpeed changes the speed from now on; emulated time stays continuous.
// Sleepers recompute their real deadline at once. Non-positive speeds are
// ignored: emulated time must keep moving forward.
func (c *clock) SetSpeed(speed float64) {
	if speed <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.baseEmu = c.nowLocked()
	c.baseReal = c.real()
	c.speed = speed
	close(c.changed)
	c.changed = make(chan struct{})
}

// Sleep waits until d of emulated time has passed. It returns early with
// false when ctx is done or when wake receives (wake may be nil), and true
// when the full duration elapsed.
func (c *clock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	return c.SleepUntil(ctx, c.Now().Add(d), wake)
}

// SleepUntil waits until the emulated time reaches deadline; see Sleep.
func (c *clock) SleepUntil(ctx context.Context, deadline time.Time, wake <-chan struct{}) bool {
	for {
		c.mu.Lock()
		remaining := deadline.Sub(c.nowLocked())
		speed, changed := c.speed, c.changed
		c.mu.Unlock()
		if remaining <= 0 {
			return true
		}
		timer := time.NewTimer(time.Duration(float64(remaining) / speed))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-wake:
			timer.Stop()
			return false
		case <-changed:
			timer.Stop() // recompute with the new speed
		case <-timer.C:
		}
	}
}
