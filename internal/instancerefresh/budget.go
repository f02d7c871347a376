package instancerefresh

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	smithytime "github.com/aws/smithy-go/time"
)

const (
	// DefaultBudgetRate is the default number of DescribeInstanceRefreshes
	// calls per second that all waiters sharing a Budget may make together.
	// Auto Scaling throttles each account and region with one token bucket
	// that every tool in the account draws on; five a second leaves most of
	// it to them, and is two and a half times what ten groups polling every
	// DefaultMinDelay need, so a roll-out of a few groups never waits for it.
	DefaultBudgetRate = 5.0

	// DefaultBudgetBurst is how many calls a Budget lets through at once
	// after a quiet spell: the first polls of every group of a wave start
	// together, and ten groups should not queue for them.
	DefaultBudgetBurst = 10

	// MaxBudgetRate bounds the rate a Budget accepts: past it the interval
	// between two calls would round to nothing, and no Auto Scaling account
	// answers a thousand Describe calls a second anyway.
	MaxBudgetRate = 1000.0
)

// Priority says how much a call matters to the waiter that makes it, so
// that a Budget that binds can serve the calls that matter most first.
type Priority int

const (
	// PriorityRoutine is a poll made only to keep watching: the first
	// poll, a backed-off poll while the end is far away, a poll of a
	// refresh that is late or stalled.
	PriorityRoutine Priority = iota
	// PriorityUrgent is a poll aimed at a predicted transition (see
	// pacer): delaying it delays noticing that the refresh ended.
	PriorityUrgent
)

func (p Priority) String() string {
	if p == PriorityUrgent {
		return "urgent"
	}
	return "routine"
}

// RoutineGiveWay is how long a routine call gives way to urgent ones under
// a binding Budget: an urgent call that asks less than RoutineGiveWay after
// a routine one goes first, one that asks later queues behind it. A routine
// poll comes at most DefaultMaxDelay after the previous one, so giving way
// for as long again at most doubles the gap a stalled or long refresh goes
// unpolled.
//
// Giving way longer is not better. Routine polls are what see a refresh
// reach its last batch or start baking, and the pacer's window is as wide
// as the time that may have gone unseen: routine polls held back longer
// widen every window, and the wider windows ask for more urgent polls. In
// BenchmarkFleet's 1,000 groups on the default budget, a minute took the
// end's lateness at p95 from 129s (first come, first served) to 110s; five
// minutes made it 260s, and strict priority 1,060s.
const RoutineGiveWay = time.Minute

// Budget is a token bucket shared by the waiters that poll one account and
// region, so that together they poll at most at a set rate, however many
// groups roll out. It is safe for concurrent use.
//
// A call that would fit in the burst, with no call queued, goes at once:
// with few groups the budget never delays a poll, and its priority does
// not matter.
//
// Once the budget binds, calls queue, and are let through one interval
// apart in the order of a key: the time an urgent call asked, or the time
// a routine call asked plus RoutineGiveWay (ties in the order of asking).
// So:
//   - An urgent call goes ahead of every routine call that asked less than
//     RoutineGiveWay before it: the polls aimed at a predicted end are not
//     stuck behind routine polls of groups whose end is far away.
//   - Calls of one priority go first come, first served. A waiter has at
//     most one call queued, so among urgent calls every waiter gets a turn
//     before any gets a second one.
//   - No call starves. A call's key is fixed when it asks, and every call
//     that asks RoutineGiveWay or more after a routine call has a later
//     key, so at most one call per other waiter is ever let through ahead
//     of it once that long has passed: a routine call waits at most
//     RoutineGiveWay plus one interval per waiter sharing the budget (an
//     urgent call at most the latter), as the budget's whole rate could
//     serve them. With 1,000 waiters at DefaultBudgetRate that is
//     1m + 200s, against 200s first come, first served.
//
// The pacer plans from the time a poll actually happened, so a poll the
// budget delayed shifts later polls rather than making them bunch up.
//
// Hazards: priority is declared by the caller and not checked. A waiter
// that calls every poll urgent gains over routine waiters for
// RoutineGiveWay at most, but if many do, urgent calls are first come,
// first served again among themselves and the ordering buys nothing. And
// a queued call that its context ends leaves the queue without spending
// budget, but the call behind it sleeps until its own turn, so that
// interval goes unused: a cancellation costs the budget one interval's
// worth of calls.
type Budget struct {
	interval time.Duration // between two calls at the sustained rate
	tau      time.Duration // how far ahead of the schedule the burst may run
	giveWay  time.Duration // RoutineGiveWay, replaced in tests

	mu sync.Mutex
	// tat is the theoretical arrival time of the next call (GCRA): when it
	// would be due if every earlier call had gone at the sustained rate.
	tat time.Time
	// queue holds the calls waiting for their turn, sorted by turn: the
	// head goes when the bucket allows, the one at index i an interval
	// after the one before it.
	queue []*budgetCall
	seq   uint64

	// now and sleep are replaced in tests and simulations.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// budgetCall is one queued Wait.
type budgetCall struct {
	key time.Time // see Budget: the ask time, plus giveWay if routine
	seq uint64    // the order of asking, to break ties in key
}

func (c *budgetCall) before(o *budgetCall) bool {
	return c.key.Before(o.key) || c.key.Equal(o.key) && c.seq < o.seq
}

// NewBudget returns a budget of callsPerSecond calls a second (more than 0,
// at most MaxBudgetRate) that lets burst calls (at least 1) through at
// once.
func NewBudget(callsPerSecond float64, burst int) (*Budget, error) {
	if math.IsNaN(callsPerSecond) || callsPerSecond <= 0 || callsPerSecond > MaxBudgetRate {
		return nil, fmt.Errorf("creating poll budget: calls per second must be more than 0 and at most %g, got %g", MaxBudgetRate, callsPerSecond)
	}
	if burst < 1 {
		return nil, fmt.Errorf("creating poll budget: burst must be at least 1, got %d", burst)
	}
	interval := time.Duration(float64(time.Second) / callsPerSecond)
	return &Budget{
		interval: interval,
		tau:      time.Duration(burst-1) * interval,
		giveWay:  RoutineGiveWay,
		now:      time.Now,
		sleep:    smithytime.SleepWithContext,
	}, nil
}

// Wait is WaitPriority for a routine call.
func (b *Budget) Wait(ctx context.Context) error {
	return b.WaitPriority(ctx, PriorityRoutine)
}

// WaitPriority blocks until the budget lets one call of priority p
// through, or ctx ends. A wait that ctx ends spends no budget (see Budget
// for what it may still cost).
func (b *Budget) WaitPriority(ctx context.Context, p Priority) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	now := b.now()
	if len(b.queue) == 0 && !b.conforming(now).After(now) {
		b.spend(now)
		b.mu.Unlock()
		return nil
	}
	c := &budgetCall{key: now, seq: b.seq}
	b.seq++
	if p != PriorityUrgent {
		c.key = now.Add(b.giveWay)
	}
	b.queue = slices.Insert(b.queue, b.index(c), c)
	for {
		// The turn moves later when an urgent call goes ahead, and earlier
		// when the calls ahead go (on time, as the head sleeps until its
		// turn): sleep until it, then look again.
		i := b.index(c)
		at := b.conforming(now).Add(time.Duration(i) * b.interval)
		if i == 0 && !at.After(now) {
			b.queue = slices.Delete(b.queue, 0, 1)
			b.spend(now)
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		err := b.sleep(ctx, at.Sub(now))
		b.mu.Lock()
		if err != nil {
			i := b.index(c)
			b.queue = slices.Delete(b.queue, i, i+1)
			b.mu.Unlock()
			return err
		}
		now = b.now()
	}
}

// index is where c is, or belongs, in the queue. Callers hold mu.
func (b *Budget) index(c *budgetCall) int {
	i, _ := slices.BinarySearchFunc(b.queue, c, func(q, c *budgetCall) int {
		switch {
		case q.before(c):
			return -1
		case c.before(q):
			return 1
		}
		return 0
	})
	return i
}

// conforming is the earliest the bucket lets the next call through, now
// at the soonest. Callers hold mu.
func (b *Budget) conforming(now time.Time) time.Time {
	if at := b.tat.Add(-b.tau); at.After(now) {
		return at
	}
	return now
}

// spend lets one call through at now, which conforming allows. Callers
// hold mu.
func (b *Budget) spend(now time.Time) {
	next := b.tat
	if next.Before(now) {
		next = now
	}
	b.tat = next.Add(b.interval)
}

// Budgets hands out one Budget per account and region, all of the same
// rate and burst, so that every waiter of a roll-out that polls the same
// throttling bucket shares one budget. It is safe for concurrent use.
type Budgets struct {
	rate  float64
	burst int

	mu sync.Mutex
	m  map[[2]string]*Budget
}

// NewBudgets returns budgets of callsPerSecond and burst each, validated as
// NewBudget does.
func NewBudgets(callsPerSecond float64, burst int) (*Budgets, error) {
	if _, err := NewBudget(callsPerSecond, burst); err != nil {
		return nil, err
	}
	return &Budgets{rate: callsPerSecond, burst: burst, m: map[[2]string]*Budget{}}, nil
}

// For returns the budget of account in region, creating it on first use.
// Use "" for the account of the default credentials.
func (s *Budgets) For(account, region string) *Budget {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{account, region}
	b, ok := s.m[k]
	if !ok {
		b, _ = NewBudget(s.rate, s.burst) // validated by NewBudgets
		s.m[k] = b
	}
	return b
}
