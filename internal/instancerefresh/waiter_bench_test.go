package instancerefresh

import (
	"context"
	"math/rand/v2"
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
		out[i] = s
	}
	return out
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

// BenchmarkPolling compares this waiter with a fixed 30-second poll (what
// deploy scripts commonly do) over the same simulated refreshes. It
// reports, per refresh, how late each notices the end (s-late) and how many
// DescribeInstanceRefreshes calls each makes (calls).
func BenchmarkPolling(b *testing.B) {
	refreshes := shapes(200)
	b.Run("waiter", func(b *testing.B) { benchWaiter(b, refreshes, DefaultMaxDelay) })
	b.Run("waiter-max-30s", func(b *testing.B) { benchWaiter(b, refreshes, 30*time.Second) })
	b.Run("fixed-30s", func(b *testing.B) {
		var late time.Duration
		var calls int
		for i := 0; i < b.N; i++ {
			late, calls = 0, 0
			for _, s := range refreshes {
				polls := int((s.end + 30*time.Second - 1) / (30 * time.Second)) // the first poll at or after the end
				late += time.Duration(polls)*30*time.Second - s.end
				calls += polls + 1
			}
		}
		report(b, late, calls, len(refreshes))
	})
}

func benchWaiter(b *testing.B, refreshes []shape, maxDelay time.Duration) {
	{
		var late time.Duration
		var calls int
		for i := 0; i < b.N; i++ {
			late, calls = 0, 0
			for _, s := range refreshes {
				tl := newTimeline(s.steps...)
				w := NewInstanceRefreshCompleteWaiter(prefTimeline{tl, s.bake, s.warmup}, func(o *InstanceRefreshCompleteWaiterOptions) {
					o.now, o.sleep = tl.clock.Now, tl.clock.Sleep
					o.MaxDelay = maxDelay
				})
				if err := w.Wait(context.Background(), params, 24*time.Hour); err != nil {
					b.Fatal(err)
				}
				late += tl.clock.now.Sub(tl.start) - s.end
				calls += tl.calls
			}
		}
		report(b, late, calls, len(refreshes))
	}
}

func report(b *testing.B, late time.Duration, calls, n int) {
	b.ReportMetric(late.Seconds()/float64(n), "s-late/refresh")
	b.ReportMetric(float64(calls)/float64(n), "calls/refresh")
	b.Logf("%d simulated refreshes: the end noticed %.1fs late on average, %.1f DescribeInstanceRefreshes calls each",
		n, late.Seconds()/float64(n), float64(calls)/float64(n))
}
