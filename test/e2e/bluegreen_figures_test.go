package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// TestStrategyDurations prints the figure issue 10 asks for: for the same
// 4-instance group in the local AWS (behind a target group, default
// instance warm-up 60 s), how long an instance refresh and a blue/green
// roll-out take at their defaults, from the post-processor's first line to
// packer's exit. It reports wall-clock time and the emulated time that
// spans (the local AWS runs `speed` times faster: warm-ups, health checks
// and deregistration delays are emulated). It asserts no duration: the
// figures depend on the machine; the roll-outs must only succeed.
func TestStrategyDurations(t *testing.T) {
	e := newEnv(t)
	speedNow := e.emu.Speed()
	for _, strategy := range []string{"instance-refresh", "blue-green"} {
		group := "web-" + strings.ReplaceAll(strategy, "-", "")
		e.seedServing(fleet.Spec{Group: group, Desired: 4, TargetGroup: true})
		file := e.writeHCL(e.sourceBlock(amiName(t)+"-"+strategy, nil) + fmt.Sprintf(`
build {
  sources = ["source.amazon-ebs.app"]
  post-processor "asg-rollout" {
    access_key                  = "test"
    secret_key                  = "test"
    custom_endpoint_ec2         = %[1]q
    custom_endpoint_autoscaling = %[1]q
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
    strategy                    = %[2]q
    target {
      auto_scaling_group = %[3]q
    }
  }
}
`, e.emu.URL(), strategy, group))
		run := e.startBuild(file)
		first := run.waitContains("Rolling 1 Auto Scaling group(s)")
		code, _ := run.wait()
		if code != 0 {
			t.Fatalf("%s: packer build exited %d", strategy, code)
		}
		end := run.start.Add(run.elapsed)
		wall := end.Sub(first.at)
		// The clock runs at a constant speed: the emulated span is the
		// wall-clock span times the speed, read off the emulator's clock.
		now, emuNow := time.Now(), e.emu.Now()
		emuStart := emuNow.Add(-time.Duration(float64(now.Sub(first.at)) * speedNow))
		emuEnd := emuNow.Add(-time.Duration(float64(now.Sub(end)) * speedNow))
		t.Logf("FIGURE %s, 4 instances, defaults: wall-clock %s (whole build %s), emulated %s (speed %g)",
			strategy, wall.Round(time.Millisecond), run.elapsed.Round(time.Millisecond), emuEnd.Sub(emuStart).Round(time.Second), speedNow)
	}
}
