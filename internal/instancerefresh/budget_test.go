package instancerefresh

import (
	"context"
	"errors"
	"math"
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
