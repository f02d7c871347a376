package rollout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// BenchmarkGroups rolls 1, 10 and 50 groups, each with a refresh that lasts
// the same simulated time (500ms) behind API calls that take 5ms each, and
// reports the wall time of each roll-out, its ratio to one group's, and the
// API calls per group. A roll-out that handled groups one after another
// would take 50 times as long for 50 groups.
func BenchmarkGroups(b *testing.B) {
	const refreshTime, latency = 500 * time.Millisecond, 5 * time.Millisecond
	var one time.Duration
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("groups-%d", n), func(b *testing.B) {
			var wall time.Duration
			var calls int
			for i := 0; i < b.N; i++ {
				f := manyGroups(n)
				f.latency, f.refreshTime = latency, refreshTime
				var targets []map[string]interface{}
				for g := 0; g < n; g++ {
					targets = append(targets, map[string]interface{}{"auto_scaling_group": fmt.Sprintf("web-%d", g)})
				}
				p := newBenchPP(b, f, map[string]interface{}{
					"target": targets, "max_concurrency": 10, "poll_min_delay": "100ms", "poll_max_delay": "200ms",
				})
				start := time.Now()
				if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				calls += len(f.calls)
			}
			wall /= time.Duration(b.N)
			perGroup := float64(calls) / float64(b.N*n)
			if n == 1 {
				one = wall
			}
			b.ReportMetric(wall.Seconds(), "s-wall")
			b.ReportMetric(perGroup, "calls/group")
			b.ReportMetric(float64(wall)/float64(one), "x-one-group")
			b.Logf("%2d groups: %s wall, %.2fx one group, %.1f API calls per group", n, wall.Round(time.Millisecond), float64(wall)/float64(one), perGroup)
		})
	}
}

// manyGroups is a region with n groups web-0..web-n-1, each on its own
// template.
func manyGroups(n int) *fakeAWS {
	f := newFakeAWS()
	tmpl := f.groups["web"]
	delete(f.groups, "web")
	for i := 0; i < n; i++ {
		g := tmpl
		g.AutoScalingGroupName = aws.String(fmt.Sprintf("web-%d", i))
		id := fmt.Sprintf("lt-g%d", i)
		g.LaunchTemplate = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String("3")}
		f.groups[*g.AutoScalingGroupName] = g
		f.versions[id] = map[int64]string{3: "ami-old3"}
	}
	return f
}

func newBenchPP(b *testing.B, f *fakeAWS, raw map[string]interface{}) *PostProcessor {
	b.Helper()
	p := &PostProcessor{newClients: func(context.Context, string, awsauth.AssumeRoleConfig) (*clients, error) {
		return &clients{autoscaling: f, ec2: f}, nil
	}}
	if err := p.Configure(raw); err != nil {
		b.Fatal(err)
	}
	return p
}
