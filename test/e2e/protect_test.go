package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// TestFailedBuildKeepsAnAMIGroupsStillLaunch: the roll-out times out and is
// detached, so the refresh goes on launching the new AMI. Packer destroys
// the builder's artifact of a failed build; the post-processor must have
// protected the AMI first, so that it survives.
func TestFailedBuildKeepsAnAMIGroupsStillLaunch(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.emu.SetSpeed(50) // a 300 s warm-up lasts 6 s: well past the timeout
	file := e.write(build{
		Targets: []target{{Group: "web"}},
		// A long warm-up keeps the refresh busy past the timeout (a
		// checkpoint delay longer than the timeout is refused at validate).
		Refresh: warmup300,
		Extra: `    timeout    = "3s"
    on_timeout = "detach"`,
	})
	res := e.packerBuild(file)
	if res.ExitCode == 0 {
		t.Fatal("a timed-out roll-out must fail the build")
	}
	for _, want := range []string{"left instance refresh", "Protected AMI", "disable-image-deregistration-protection", "Error destroying builder artifact"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	ami := e.newAMI("us-east-1", "app-testfailedbuildkeepsanamigroupsstilllaunch")
	out, err := e.clients("us-east-1").EC2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("the AMI the refresh launches was deregistered: %v", err)
	}
	if p := aws.ToString(out.Images[0].DeregistrationProtection); !strings.HasPrefix(p, "enabled") {
		t.Errorf("deregistration protection %q, want enabled", p)
	}
}
