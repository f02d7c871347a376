package instancerefresh

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// simClock is a discrete-event clock for many goroutines: virtual time
// stands still while any of them runs and jumps to the earliest wake-up
// once all of them sleep. Exactly one goroutine runs at a time, woken in
// order of wake-up time then of falling asleep, so a simulation is
// deterministic and hours of it take milliseconds.
type simClock struct {
	mu      sync.Mutex
	now     time.Time
	running int
	seq     int
	events  wakeups
}

type wakeup struct {
	at  time.Time
	seq int
	ch  chan struct{}
}

type wakeups []wakeup

func (h wakeups) Len() int { return len(h) }
func (h wakeups) Less(i, j int) bool {
	return h[i].at.Before(h[j].at) || h[i].at.Equal(h[j].at) && h[i].seq < h[j].seq
}
func (h wakeups) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *wakeups) Push(x any)   { *h = append(*h, x.(wakeup)) }
func (h *wakeups) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep ignores ctx once asleep: nothing in a simulation is cancelled.
func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := c.schedule(d)
	c.mu.Lock()
	c.running--
	c.advance()
	c.mu.Unlock()
	<-ch
	return nil
}

func (c *simClock) schedule(d time.Duration) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.seq++
	heap.Push(&c.events, wakeup{at: c.now.Add(d), seq: c.seq, ch: ch})
	return ch
}

// advance wakes the next sleeper when nobody runs. Callers hold mu.
func (c *simClock) advance() {
	if c.running > 0 || len(c.events) == 0 {
		return
	}
	e := heap.Pop(&c.events).(wakeup)
	if e.at.After(c.now) {
		c.now = e.at
	}
	c.running++
	close(e.ch)
}

// Go starts f asleep, to be woken at the current time in the order of Go
// calls once Run is called.
func (c *simClock) Go(wg *sync.WaitGroup, f func()) {
	ch := c.schedule(0)
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ch
		f()
		c.mu.Lock()
		c.running--
		c.advance()
		c.mu.Unlock()
	}()
}

// Run starts the simulation and returns when every goroutine has ended.
func (c *simClock) Run(wg *sync.WaitGroup) {
	c.mu.Lock()
	c.advance()
	c.mu.Unlock()
	wg.Wait()
}

// fleetShapes draws n refreshes that last a realistic 10 to 30 minutes: 4
// to 40 instances, 1 to 4 at a time, half of them with a bake of 2 to 8
// minutes, and the warm-up whatever fills the rest (±20% per batch).
func fleetShapes(n int) []shape {
	rnd := rand.New(rand.NewPCG(3, 4))
	out := make([]shape, n)
	for i := range out {
		total := time.Duration(600+rnd.IntN(1201)) * time.Second
		instances := 4 + rnd.IntN(37)
		batch := 1 + rnd.IntN(4)
		var bake time.Duration
		if rnd.IntN(2) == 1 {
			bake = time.Duration(120+rnd.IntN(361)) * time.Second
		}
		batches := (instances + batch - 1) / batch
		warmup := max((total-bake-10*time.Second)/time.Duration(batches), 30*time.Second).Truncate(time.Second)
		out[i] = refreshShape(rnd, instances, batch, warmup, bake)
	}
	return out
}

// fleetAPI is one account and region's Auto Scaling API for the
// simulation: each group's refresh follows its shape on the clock, and
// every call is counted by virtual second.
type fleetAPI struct {
	clock  *simClock
	start  time.Time
	groups map[string]shape

	mu        sync.Mutex
	perSecond map[int64]int
	calls     int
}

func (f *fleetAPI) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	elapsed := f.clock.Now().Sub(f.start)
	f.mu.Lock()
	f.calls++
	f.perSecond[int64(elapsed/time.Second)]++
	f.mu.Unlock()
	s := f.groups[aws.ToString(in.AutoScalingGroupName)]
	var cur step
	for _, st := range s.steps {
		if st.at <= elapsed {
			cur = st
		}
	}
	return &autoscaling.DescribeInstanceRefreshesOutput{InstanceRefreshes: []types.InstanceRefresh{{
		AutoScalingGroupName: in.AutoScalingGroupName,
		InstanceRefreshId:    aws.String(in.InstanceRefreshIds[0]),
		Status:               cur.status,
		PercentageComplete:   aws.Int32(cur.percent),
		InstancesToUpdate:    aws.Int32(cur.left),
		Preferences:          &types.RefreshPreferences{BakeTime: aws.Int32(s.bake), InstanceWarmup: aws.Int32(s.warmup)},
	}}}, nil
}

type fleetResult struct {
	wall      time.Duration // from the start until the last end is noticed
	calls     int
	peak      int // the most calls in one virtual second
	late      latenessStats
	slowest   int // the index of the refresh that ends last
	lateSlice []time.Duration
}

// simulateFleet waits for every refresh of shapes at once, as the roll-out
// does, on one account and region, through one budget when budget is set.
// seeds[i] seeds the jitter of group i.
func simulateFleet(tb testing.TB, shapes []shape, seeds []uint64, budget bool) fleetResult {
	clk := &simClock{now: t0}
	api := &fleetAPI{clock: clk, start: t0, groups: map[string]shape{}, perSecond: map[int64]int{}}
	var bud *Budget
	if budget {
		var err error
		if bud, err = NewBudget(DefaultBudgetRate, DefaultBudgetBurst); err != nil {
			tb.Fatal(err)
		}
		bud.now, bud.sleep = clk.Now, clk.Sleep
	}
	noticed := make([]time.Duration, len(shapes))
	var wg sync.WaitGroup
	for i, s := range shapes {
		group := fmt.Sprintf("group-%d", i)
		api.groups[group] = s
		w := NewInstanceRefreshCompleteWaiter(api, func(o *InstanceRefreshCompleteWaiterOptions) {
			o.now, o.sleep = clk.Now, clk.Sleep
			o.Budget = bud
			o.jitter = seededJitter(seeds[i])
		})
		in := &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group), InstanceRefreshIds: []string{"r-" + group}}
		clk.Go(&wg, func() {
			if err := w.Wait(context.Background(), in, 24*time.Hour); err != nil {
				tb.Error(err)
			}
			noticed[i] = clk.Now().Sub(t0)
		})
	}
	clk.Run(&wg)

	r := fleetResult{calls: api.calls}
	for i, s := range shapes {
		r.wall = max(r.wall, noticed[i])
		r.lateSlice = append(r.lateSlice, noticed[i]-s.end)
		if s.end > shapes[r.slowest].end {
			r.slowest = i
		}
	}
	for _, n := range api.perSecond {
		r.peak = max(r.peak, n)
	}
	r.late = lateness(r.lateSlice)
	return r
}

// BenchmarkFleet waits for 1, 10, 50 and 1,000 refreshes of 10 to 30
// minutes at once on one account and region, without and with the default
// shared budget, on a discrete-event clock. It reports the virtual wall
// time against waiting for the slowest of the refreshes alone, Describe
// calls per group, the peak calls in any one second, and how late each end
// was noticed.
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{1, 10, 50, 1000} {
		shapes := fleetShapes(n)
		seeds := make([]uint64, n)
		for i := range seeds {
			seeds[i] = uint64(i + 1)
		}
		for _, budget := range []bool{false, true} {
			name := fmt.Sprintf("groups=%d/budget=none", n)
			if budget {
				name = fmt.Sprintf("groups=%d/budget=%g-per-s-burst-%d", n, DefaultBudgetRate, DefaultBudgetBurst)
			}
			b.Run(name, func(b *testing.B) {
				var r fleetResult
				for i := 0; i < b.N; i++ {
					r = simulateFleet(b, shapes, seeds, budget)
				}
				// The slowest refresh waited for alone, without a budget.
				solo := simulateFleet(b, shapes[r.slowest:r.slowest+1], seeds[r.slowest:r.slowest+1], false)
				ratio := r.wall.Seconds() / solo.wall.Seconds()
				b.ReportMetric(ratio, "wall/solo")
				b.ReportMetric(float64(r.calls)/float64(n), "calls/group")
				b.ReportMetric(float64(r.peak), "peak-calls/s")
				b.ReportMetric(r.late.p95.Seconds(), "s-late-p95")
				b.Logf("%s: virtual wall %s (%.3f× the slowest alone, %s), %.1f Describe calls per group, peak %d calls/s, end noticed late p50 %.1fs p95 %.1fs max %.1fs (mean %.1fs)",
					name, r.wall.Round(time.Second), ratio, solo.wall.Round(time.Second), float64(r.calls)/float64(n), r.peak,
					r.late.p50.Seconds(), r.late.p95.Seconds(), r.late.max.Seconds(), r.late.mean.Seconds())
			})
		}
	}
}
