package instancerefresh

import (
	"context"
	"fmt"
	"math"
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

// Budget is a token bucket shared by the waiters that poll one account and
// region, so that together they poll at most at a set rate, however many
// groups roll out. It is safe for concurrent use.
//
// Calls are let through in the order they asked (first come, first
// served). A waiter has at most one call waiting, so when the budget binds
// every waiter gets a turn before any gets a second one: no group starves,
// and no group can poll faster than its fair share by asking more often.
// The pacer's close polling around a predicted end asks more often, so it
// still gets more turns than a group far from its end whenever the budget
// is not fully used, and no fewer than one per round when it is; and since
// the pacer plans from the time a poll actually happened, a poll the budget
// delayed shifts later polls rather than making them bunch up.
//
// A call that would fit in the burst goes at once: with few groups the
// budget never delays a poll.
type Budget struct {
	interval time.Duration // between two calls at the sustained rate
	tau      time.Duration // how far ahead of the schedule the burst may run

	mu sync.Mutex
	// tat is the theoretical arrival time of the next call (GCRA): when it
	// would be due if every earlier call had gone at the sustained rate.
	tat time.Time

	// now and sleep are replaced in tests and simulations.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
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
		now:      time.Now,
		sleep:    smithytime.SleepWithContext,
	}, nil
}

// Wait blocks until the budget lets one call through, or ctx ends. A wait
// that ctx ends keeps its place spent: handing it back could let a later
// call run ahead of the rate, and a cancelled wait costs at most one call's
// worth of budget.
func (b *Budget) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	now := b.now()
	at := b.tat.Add(-b.tau) // the earliest the burst allows
	if at.Before(now) {
		at = now
	}
	next := b.tat
	if next.Before(at) {
		next = at
	}
	b.tat = next.Add(b.interval)
	b.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return b.sleep(ctx, d)
	}
	return nil
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
