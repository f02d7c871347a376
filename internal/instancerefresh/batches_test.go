package instancerefresh

import (
	"reflect"
	"testing"
	"time"
)

// sizes lists the batch sizes of p.
func sizes(p Progress) []int {
	var out []int
	for _, b := range p.Batches {
		out = append(out, b.Size)
	}
	return out
}

// Each case is an example or a rule from AWS's documentation, quoted.
func TestPlanFollowsAWSDocumentation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quote string
		shape Shape
		want  []int // batch sizes
		// lowest and highest instance counts; launchFirst of the first batch
		lowest, highest, launchFirst int
	}{
		{
			name:  "min 100 replaces one at a time",
			quote: "Setting the minimum healthy percentage to 100 percent limits the rate of replacement to one instance at a time.",
			shape: Shape{Desired: 4, Replace: 4, MinHealthy: 100},
			want:  []int{1, 1, 1, 1}, lowest: 3, highest: 4,
		},
		{
			name:  "min 0 replaces all at once",
			quote: "In contrast, setting it to 0 percent causes all instances to be replaced at the same time.",
			shape: Shape{Desired: 6, Replace: 6, MinHealthy: 0},
			want:  []int{6}, lowest: 0, highest: 6,
		},
		{
			name:  "the minimum rounds up",
			quote: "The value is expressed as a percentage of the desired capacity of the Auto Scaling group (rounded up to the nearest integer).",
			// 90 % of 4 is 3.6: 4 stay in service, so there is no room,
			// and one at a time it is.
			shape: Shape{Desired: 4, Replace: 4, MinHealthy: 90},
			want:  []int{1, 1, 1, 1}, lowest: 3, highest: 4,
		},
		{
			name:  "the minimum rounds up, larger group",
			quote: "(rounded up to the nearest integer)",
			// 85 % of 10 is 8.5: 9 stay, 1 at a time.
			shape: Shape{Desired: 10, Replace: 10, MinHealthy: 85},
			want:  []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, lowest: 9, highest: 10,
		},
		{
			name:  "the maximum is a cap",
			quote: "It represents the maximum percentage of the group that can be in service and healthy, or pending, to support your workload when replacing instances.",
			// 110 % of 15 is 16.5: at most 16 in the group, one launched first.
			shape: Shape{Desired: 15, Replace: 3, MinHealthy: 100, MaxHealthy: 110, MaxGiven: true},
			want:  []int{1, 1, 1}, lowest: 15, highest: 16, launchFirst: 1,
		},
		{
			name:  "a wider range replaces more at once",
			quote: "A large range increases the number of instances that can be replaced at the same time.",
			// 10 with 90..110: one may be out, one may be extra.
			shape: Shape{Desired: 10, Replace: 10, MinHealthy: 90, MaxHealthy: 110, MaxGiven: true},
			want:  []int{2, 2, 2, 2, 2}, lowest: 9, highest: 11, launchFirst: 1,
		},
		{
			name:  "an explicit maximum of 100 launches first",
			quote: "Explicitly setting MaxHealthyPercentage to 100 is not equivalent to omitting it",
			shape: Shape{Desired: 3, Replace: 3, MinHealthy: 100, MaxHealthy: 100, MaxGiven: true},
			want:  []int{1, 1, 1}, lowest: 3, highest: 4, launchFirst: 1,
		},
		{
			name:  "a small group with a 110 maximum launches first",
			quote: "With an instance maintenance policy, you can make sure that Amazon EC2 Auto Scaling first launches a new instance and then waits for it to be fully ready before terminating the unhealthy instance.",
			// 110 % of 1 rounds down to 1, no room: the maximum still
			// makes AWS launch first.
			shape: Shape{Desired: 1, Replace: 1, MinHealthy: 100, MaxHealthy: 110, MaxGiven: true},
			want:  []int{1}, lowest: 1, highest: 2, launchFirst: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan(tc.shape)
			if got := sizes(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("batches %v, want %v\nAWS: %q", got, tc.want, tc.quote)
			}
			if p.Lowest != tc.lowest || p.Highest != tc.highest {
				t.Errorf("instances from %d to %d, want %d to %d\nAWS: %q", p.Lowest, p.Highest, tc.lowest, tc.highest, tc.quote)
			}
			if lf := p.Batches[0].LaunchFirst; lf != tc.launchFirst {
				t.Errorf("first batch launches %d first, want %d\nAWS: %q", lf, tc.launchFirst, tc.quote)
			}
			for i, b := range p.Batches {
				if b.LaunchFirst+b.TerminateFirst != b.Size {
					t.Errorf("batch %d: %d launched first + %d terminated first != %d", i, b.LaunchFirst, b.TerminateFirst, b.Size)
				}
			}
		})
	}
}

// AWS's checkpoint example, in "Adding checkpoints to an instance refresh":
// "assume that your Auto Scaling group has 10 instances. Your checkpoint
// percentages are [20,50] with a checkpoint delay of 15 minutes and a
// minimum healthy percentage of 80 percent." Then:
//
//	0:00: Two old instances are replaced with new ones.
//	0:10: Two new instances finish warming up.
//	0:25: Two old instances are replaced with new ones. (To maintain the
//	      minimum healthy percentage, only two instances are replaced.)
//	0:35: Two new instances finish warming up.
//	0:35: One old instance is replaced with a new one.
//	0:45: One new instance finishes warming up.
func TestPlanCheckpointExample(t *testing.T) {
	p := Plan(Shape{
		Desired: 10, Replace: 10, MinHealthy: 80,
		Checkpoints: []int{20, 50}, CheckpointDelay: 15 * time.Minute,
		Warmup: 10 * time.Minute,
	})
	if got, want := sizes(p), []int{2, 2, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if p.Duration != 45*time.Minute {
		t.Errorf("duration %s, want 45m (the example's last warm-up ends at 0:45)", p.Duration)
	}
	if p.Batches[0].Checkpoint != 20 || p.Batches[0].Pause != 15*time.Minute {
		t.Errorf("first batch %+v, want checkpoint 20 with a 15m pause", p.Batches[0])
	}
	if p.Batches[2].Checkpoint != 50 || p.Batches[2].Pause != 0 {
		t.Errorf("last batch %+v, want checkpoint 50 and no pause: the refresh concludes there", p.Batches[2])
	}
	if p.Replaced != 5 || p.Lowest != 8 || p.Highest != 10 {
		t.Errorf("replaced %d, instances %d to %d; want 5, 8 to 10", p.Replaced, p.Lowest, p.Highest)
	}
}

// "suppose that your Auto Scaling group has two instances and your
// checkpoint percentages are [10,40,100]. After the first instance is
// replaced, Amazon EC2 Auto Scaling calculates that 50 percent of the group
// was replaced. Because 50 percent is higher than the first two
// checkpoints, it skips the first checkpoint (10) and sends a notification
// for the second checkpoint (40)."
func TestPlanSkipsACheckpoint(t *testing.T) {
	p := Plan(Shape{
		Desired: 2, Replace: 2, MinHealthy: 0,
		Checkpoints: []int{10, 40, 100}, CheckpointDelay: time.Hour,
		Warmup: time.Minute,
	})
	if got, want := sizes(p), []int{1, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v: a batch stops at the next checkpoint", got, want)
	}
	if p.Batches[0].Checkpoint != 40 || p.Batches[0].Pause != time.Hour {
		t.Errorf("first batch %+v, want checkpoint 40 with one pause", p.Batches[0])
	}
	if p.Duration != 2*time.Minute+time.Hour {
		t.Errorf("duration %s, want 1h2m0s: one pause, none at 100", p.Duration)
	}
}

// "This example configures an instance refresh that initially refreshes
// one percent of the Auto Scaling group. After waiting 10 minutes, it then
// refreshes the next 19 percent before concluding the operation."
// (CheckpointPercentages [1,20], CheckpointDelay 600, MinHealthyPercentage 80.)
func TestPlanPartialRefresh(t *testing.T) {
	p := Plan(Shape{
		Desired: 100, Replace: 100, MinHealthy: 80,
		Checkpoints: []int{1, 20}, CheckpointDelay: 10 * time.Minute,
		Warmup: 400 * time.Second,
	})
	if got, want := sizes(p), []int{1, 19}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if p.Replaced != 20 {
		t.Errorf("replaced %d, want 20", p.Replaced)
	}
	if want := 2*400*time.Second + 10*time.Minute; p.Duration != want {
		t.Errorf("duration %s, want %s: no pause after the last checkpoint", p.Duration, want)
	}
}

// The last checkpoint at 100 pauses nowhere; the bake comes after the last
// batch; a refresh with nothing to replace only bakes.
func TestPlanDurations(t *testing.T) {
	p := Plan(Shape{Desired: 4, Replace: 4, MinHealthy: 50, Checkpoints: []int{50, 100}, CheckpointDelay: time.Hour, Warmup: 5 * time.Minute, BakeTime: 30 * time.Minute})
	if got, want := sizes(p), []int{2, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if want := 10*time.Minute + time.Hour + 30*time.Minute; p.Duration != want {
		t.Errorf("duration %s, want %s", p.Duration, want)
	}
	empty := Plan(Shape{Desired: 0, Replace: 0, MinHealthy: 100, BakeTime: time.Minute})
	if len(empty.Batches) != 0 || empty.Duration != time.Minute || empty.Summary() != "no instance to replace" {
		t.Errorf("empty refresh %+v (%s)", empty, empty.Summary())
	}
	// Instances left alone (Standby under Ignore) are not replaced, but
	// the batches are sized from the desired capacity.
	some := Plan(Shape{Desired: 4, Replace: 3, MinHealthy: 50})
	if got, want := sizes(some), []int{2, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

// Without a maximum, a group whose minimum leaves no room terminates first:
// a one-instance group is then out of service for a while.
func TestPlanWithoutMaximumTerminatesFirst(t *testing.T) {
	p := Plan(Shape{Desired: 1, Replace: 1, MinHealthy: 100})
	if b := p.Batches[0]; b.TerminateFirst != 1 || p.Lowest != 0 || p.Highest != 1 {
		t.Errorf("batch %+v, instances %d to %d; want terminate first, 0 to 1", b, p.Lowest, p.Highest)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		p    Progress
		want string
	}{
		{Plan(Shape{Desired: 4, Replace: 4, MinHealthy: 100}), "4 batches of 1 instance"},
		{Plan(Shape{Desired: 10, Replace: 10, MinHealthy: 80, Checkpoints: []int{20, 50}}), "2 batches of 2 instances, then 1 batch of 1 instance"},
		{Plan(Shape{Desired: 3, Replace: 3, MinHealthy: 0}), "1 batch of 3 instances"},
	} {
		if got := tc.p.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}
