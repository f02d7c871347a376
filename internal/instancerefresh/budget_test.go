package instancerefresh

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func testBudget(t *testing.T, rate float64, burst int) (*Budget, *fakeClock) {
	t.Helper()
	b, err := NewBudget(rate, burst)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClock{now: t0}
	b.now, b.sleep = c.Now, c.Sleep
	return b, c
}

func TestBudgetLetsTheBurstThroughAtOnce(t *testing.T) {
	b, c := testBudget(t, 5, 10)
	for i := 0; i < 10; i++ {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.sleeps) != 0 {
		t.Fatalf("the burst of 10 waited %v", c.sleeps)
	}
	// The 11th call is one interval (200ms) behind, the 12th two.
	_ = b.Wait(context.Background())
	_ = b.Wait(context.Background())
	if want := []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}; len(c.sleeps) != 2 || c.sleeps[0] != want[0] || c.sleeps[1] != want[1] {
		t.Errorf("sleeps %v past the burst, want %v (each after the other's)", c.sleeps, want)
	}
}

func TestBudgetRefillsToTheBurstOnly(t *testing.T) {
	b, c := testBudget(t, 5, 3)
	c.now = c.now.Add(time.Hour) // an hour of quiet saves no more than the burst
	for i := 0; i < 4; i++ {
		_ = b.Wait(context.Background())
	}
	if len(c.sleeps) != 1 || c.sleeps[0] != 200*time.Millisecond {
		t.Errorf("sleeps %v, want only the 4th call to wait, one interval", c.sleeps)
	}
}

func TestBudgetHoldsTheRateUnderConcurrency(t *testing.T) {
	// Real clock, a fast rate: 40 callers at 1000/s with a burst of 5 take
	// at least 35ms, whoever asks first.
	b, err := NewBudget(1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 35*time.Millisecond {
		t.Errorf("40 calls through a 1000/s budget with a burst of 5 took %s, want at least 35ms", took)
	}
}

func TestBudgetWaitEndsWithItsContext(t *testing.T) {
	b, err := NewBudget(0.001, 1) // one call every 1000s
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Wait(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
}

func TestNewBudgetRejectsAbsurdValues(t *testing.T) {
	for _, c := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {MaxBudgetRate + 1, 1}, {5, 0}} {
		if _, err := NewBudget(c.rate, c.burst); err == nil {
			t.Errorf("NewBudget(%g, %d) accepted", c.rate, c.burst)
		}
		if _, err := NewBudgets(c.rate, c.burst); err == nil {
			t.Errorf("NewBudgets(%g, %d) accepted", c.rate, c.burst)
		}
	}
	if _, err := NewBudget(DefaultBudgetRate, DefaultBudgetBurst); err != nil {
		t.Errorf("the defaults are rejected: %v", err)
	}
}

func TestBudgetsSharesOnePerAccountAndRegion(t *testing.T) {
	s, err := NewBudgets(DefaultBudgetRate, DefaultBudgetBurst)
	if err != nil {
		t.Fatal(err)
	}
	a := s.For("111111111111", "eu-west-1")
	if s.For("111111111111", "eu-west-1") != a {
		t.Error("the same account and region got two budgets")
	}
	if s.For("111111111111", "us-east-1") == a || s.For("222222222222", "eu-west-1") == a || s.For("", "eu-west-1") == a {
		t.Error("another account or region shares a budget")
	}
}

// simBudget is a budget of one call a second, burst 1, on a
// discrete-event clock, whose first call has been spent: every call after
// it queues.
func simBudget(t *testing.T, giveWay time.Duration) (*Budget, *simClock) {
	t.Helper()
	b, err := NewBudget(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	clk := &simClock{now: t0}
	b.now, b.sleep, b.giveWay = clk.Now, clk.Sleep, giveWay
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, clk
}

// grant is one call let through: who asked, and when it went.
type grant struct {
	who string
	at  time.Duration
}

// grants records the calls a budget lets through, in order.
type grants struct {
	mu  sync.Mutex
	got []grant
}

func (g *grants) add(who string, at time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, grant{who, at})
}

func TestBudgetLetsUrgentCallsAheadOfRoutineOnes(t *testing.T) {
	b, clk := simBudget(t, time.Minute)
	var g grants
	var wg sync.WaitGroup
	ask := func(who string, after time.Duration, p Priority) {
		clk.Go(&wg, func() {
			_ = clk.Sleep(context.Background(), after)
			if err := b.WaitPriority(context.Background(), p); err != nil {
				t.Error(err)
			}
			g.add(who, clk.Now().Sub(t0))
		})
	}
	// Three routine calls queue first; two urgent ones ask later, while the
	// routine ones still wait for the first turn at t0+1s.
	ask("r1", 0, PriorityRoutine)
	ask("r2", 0, PriorityRoutine)
	ask("r3", 0, PriorityRoutine)
	ask("u1", 100*time.Millisecond, PriorityUrgent)
	ask("u2", 200*time.Millisecond, PriorityUrgent)
	clk.Run(&wg)
	want := []grant{{"u1", 1 * time.Second}, {"u2", 2 * time.Second}, {"r1", 3 * time.Second}, {"r2", 4 * time.Second}, {"r3", 5 * time.Second}}
	if !slices.Equal(g.got, want) {
		t.Errorf("let through %v, want %v: urgent first, each class in the order it asked, one a second", g.got, want)
	}
}

func TestBudgetGivesWayForRoutineGiveWayAtMost(t *testing.T) {
	// Four urgent waiters poll back to back for two minutes; a routine call
	// asks at once. It gives way for giveWay (10s), then goes within one
	// turn per other waiter: by 10s + 5 turns of 1s.
	const giveWay, urgentWaiters = 10 * time.Second, 4
	b, clk := simBudget(t, giveWay)
	var g grants
	var wg sync.WaitGroup
	for i := 0; i < urgentWaiters; i++ {
		who := fmt.Sprintf("u%d", i)
		clk.Go(&wg, func() {
			for clk.Now().Sub(t0) < 2*time.Minute {
				if err := b.WaitPriority(context.Background(), PriorityUrgent); err != nil {
					t.Error(err)
					return
				}
				g.add(who, clk.Now().Sub(t0))
			}
		})
	}
	clk.Go(&wg, func() {
		_ = clk.Sleep(context.Background(), 500*time.Millisecond) // after the urgent ones queued
		if err := b.Wait(context.Background()); err != nil {
			t.Error(err)
		}
		g.add("routine", clk.Now().Sub(t0))
	})
	clk.Run(&wg)
	i := slices.IndexFunc(g.got, func(x grant) bool { return x.who == "routine" })
	if i < 0 {
		t.Fatal("the routine call never went")
	}
	bound := giveWay + time.Duration(urgentWaiters+1)*time.Second
	if at := g.got[i].at; at > bound || at < giveWay {
		t.Errorf("the routine call went at %s, want after giving way (%s) and by %s: %v", at, giveWay, bound, g.got[:i+1])
	}
}

func TestBudgetTakesUrgentCallsInTurn(t *testing.T) {
	// Three waiters each asking urgently again as soon as they went share
	// the budget evenly and in turn, whatever their head start.
	b, clk := simBudget(t, time.Minute)
	var g grants
	var wg sync.WaitGroup
	for i, head := range []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond} {
		who := fmt.Sprintf("u%d", i)
		clk.Go(&wg, func() {
			_ = clk.Sleep(context.Background(), head)
			for n := 0; n < 10; n++ {
				if err := b.WaitPriority(context.Background(), PriorityUrgent); err != nil {
					t.Error(err)
					return
				}
				g.add(who, clk.Now().Sub(t0))
			}
		})
	}
	clk.Run(&wg)
	if len(g.got) != 30 {
		t.Fatalf("%d calls went, want 30", len(g.got))
	}
	for i, x := range g.got {
		if want := fmt.Sprintf("u%d", i%3); x.who != want || x.at != time.Duration(i+1)*time.Second {
			t.Fatalf("call %d went to %s at %s, want %s at %ds: %v", i, x.who, x.at, want, i+1, g.got)
		}
	}
}

func TestBudgetIgnoresPriorityWhileItDoesNotBind(t *testing.T) {
	b, c := testBudget(t, 5, 10)
	for i := 0; i < 10; i++ {
		if err := b.WaitPriority(context.Background(), Priority(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.sleeps) != 0 {
		t.Errorf("a burst of mixed priorities waited %v", c.sleeps)
	}
}

func TestBudgetCancelledWaitSpendsNothing(t *testing.T) {
	b, c := testBudget(t, 1, 1)
	_ = b.Wait(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	b.sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
	if err := b.WaitPriority(ctx, PriorityUrgent); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	if len(b.queue) != 0 {
		t.Fatalf("the cancelled call is still queued: %d", len(b.queue))
	}
	b.sleep = c.Sleep
	_ = b.Wait(context.Background())
	if len(c.sleeps) != 1 || c.sleeps[0] != time.Second {
		t.Errorf("the next call slept %v, want one turn (1s) as if the cancelled one never asked", c.sleeps)
	}
}
