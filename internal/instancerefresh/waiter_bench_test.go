package instancerefresh

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// shape is a simulated refresh: batches of replacements, each taking a
// warm-up, then an optional bake.
type shape struct {
	steps  []step
	end    time.Duration // when it becomes Successful
	bake   int32
	warmup int32
}

// shapes draws n refresh shapes from a fixed seed, so every run measures
// the same refreshes: 4 to 40 instances, 1 to 4 at a time, warm-ups of 1
// to 5 minutes with ±20% noise per batch, and a bake of 0 or 5 to 15
// minutes.
func shapes(n int) []shape {
	rnd := rand.New(rand.NewPCG(1, 2))
	out := make([]shape, n)
	for i := range out {
		instances := 4 + rnd.IntN(37)
		batch := 1 + rnd.IntN(4)
		warmup := time.Duration(60+rnd.IntN(241)) * time.Second
		var bake time.Duration
		if rnd.IntN(2) == 1 {
			bake = time.Duration(300+rnd.IntN(601)) * time.Second
		}
		out[i] = refreshShape(rnd, instances, batch, warmup, bake)
	}
	return out
}

// refreshShape is the timeline of a refresh that replaces instances in
// batches, each lasting its warm-up give or take a fifth (drawn from rnd),
// then bakes for bake, if any, and succeeds.
func refreshShape(rnd *rand.Rand, instances, batch int, warmup, bake time.Duration) shape {
	s := shape{bake: int32(bake / time.Second), warmup: int32(warmup / time.Second), steps: []step{{at: 0, status: "Pending", left: int32(instances)}}}
	at := 10 * time.Second
	s.steps = append(s.steps, step{at: at, status: "InProgress", left: int32(instances)})
	for done := 0; done < instances; {
		at += time.Duration(float64(warmup) * (0.8 + 0.4*rnd.Float64()))
		done = min(done+batch, instances)
		s.steps = append(s.steps, step{at: at, status: "InProgress", percent: int32(100 * done / instances), left: int32(instances - done)})
	}
	if bake > 0 {
		s.steps = append(s.steps, step{at: at, status: "Baking", percent: 100})
		at += bake
	}
	s.end = at
	s.steps = append(s.steps, step{at: at, status: "Successful", percent: 100})
	return s
}

// prefTimeline is a timeline whose refreshes carry their BakeTime and
// InstanceWarmup, as DescribeInstanceRefreshes returns them.
type prefTimeline struct {
	*timeline
	bake, warmup int32
}

func (b prefTimeline) DescribeInstanceRefreshes(ctx context.Context, in *autoscaling.DescribeInstanceRefreshesInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	out, err := b.timeline.DescribeInstanceRefreshes(ctx, in, o...)
	for i := range out.InstanceRefreshes {
		out.InstanceRefreshes[i].Preferences = &types.RefreshPreferences{BakeTime: aws.Int32(b.bake), InstanceWarmup: aws.Int32(b.warmup)}
	}
	return out, err
}

// BenchmarkPolling compares this waiter with fixed 30-second and 15-second
// polls (what deploy scripts and the most eager tools do) over the same
// simulated refreshes. It reports, per refresh, how late each notices the
// end (average, p50, p95 and max) and how many DescribeInstanceRefreshes
// calls each makes.
func BenchmarkPolling(b *testing.B) {
	refreshes := shapes(200)
	b.Run("waiter", func(b *testing.B) { benchWaiter(b, refreshes, DefaultMaxDelay) })
	b.Run("waiter-max-30s", func(b *testing.B) { benchWaiter(b, refreshes, 30*time.Second) })
	b.Run("fixed-30s", func(b *testing.B) { benchFixed(b, refreshes, 30*time.Second) })
	b.Run("fixed-15s", func(b *testing.B) { benchFixed(b, refreshes, 15*time.Second) })
}

// benchFixed polls every period from the start: the first poll at or after
// the end notices it.
func benchFixed(b *testing.B, refreshes []shape, period time.Duration) {
	var late []time.Duration
	var calls int
	for i := 0; i < b.N; i++ {
		late, calls = late[:0], 0
		for _, s := range refreshes {
			polls := int((s.end + period - 1) / period)
			late = append(late, time.Duration(polls)*period-s.end)
			calls += polls + 1
		}
	}
	report(b, late, calls)
}

func benchWaiter(b *testing.B, refreshes []shape, maxDelay time.Duration) {
	var late []time.Duration
	var calls int
	for i := 0; i < b.N; i++ {
		late, calls = late[:0], 0
		for j, s := range refreshes {
			tl := newTimeline(s.steps...)
			w := NewInstanceRefreshCompleteWaiter(prefTimeline{tl, s.bake, s.warmup}, func(o *InstanceRefreshCompleteWaiterOptions) {
				o.now, o.sleep = tl.clock.Now, tl.clock.Sleep
				o.MaxDelay = maxDelay
				o.jitter = seededJitter(uint64(j + 1))
			})
			if err := w.Wait(context.Background(), params, 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			late = append(late, tl.clock.now.Sub(tl.start)-s.end)
			calls += tl.calls
		}
	}
	report(b, late, calls)
}

// seededJitter is defaultJitter drawn from its own seeded source, so that
// a benchmark measures the same polls on every run and two runs (before
// and after a change) can be compared figure for figure.
func seededJitter(seed uint64) func(time.Duration) time.Duration {
	rnd := rand.New(rand.NewPCG(seed, 7))
	return func(d time.Duration) time.Duration {
		spread := int64(d) / 5
		if spread <= 0 {
			return d
		}
		return d - time.Duration(spread) + time.Duration(rnd.Int64N(2*spread+1))
	}
}

func report(b *testing.B, late []time.Duration, calls int) {
	n := len(late)
	l := lateness(late)
	b.ReportMetric(l.mean.Seconds(), "s-late/refresh")
	b.ReportMetric(l.p95.Seconds(), "s-late-p95")
	b.ReportMetric(float64(calls)/float64(n), "calls/refresh")
	b.Logf("%d simulated refreshes: the end noticed %.1fs late on average (p50 %.1fs, p95 %.1fs, max %.1fs), %.1f DescribeInstanceRefreshes calls each",
		n, l.mean.Seconds(), l.p50.Seconds(), l.p95.Seconds(), l.max.Seconds(), float64(calls)/float64(n))
}

// latenessStats summarises how late ends were noticed.
type latenessStats struct{ mean, p50, p95, max time.Duration }

func lateness(late []time.Duration) latenessStats {
	if len(late) == 0 {
		return latenessStats{}
	}
	sorted := slices.Clone(late)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	return latenessStats{mean: sum / time.Duration(len(sorted)), p50: at(0.50), p95: at(0.95), max: sorted[len(sorted)-1]}
}
