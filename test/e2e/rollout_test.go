package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// TestBakeAndRoll: one packer build bakes an AMI and every instance of the
// group ends up on it, through a new numbered version that keeps
// everything but the AMI.
func TestBakeAndRoll(t *testing.T) {
	bakeAndRoll(newEnv(t))
}

// bakeAndRoll is the happy path, run with e's packer: bake with
// amazon-ebs, roll a seeded group of four, and check that every instance
// was replaced by one running the new AMI, through a new numbered version
// that keeps everything but the AMI, without a direct write to the group
// or the template.
func bakeAndRoll(e *env) {
	t := e.t
	t.Helper()
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	before := e.snapshot("us-east-1", "web")

	file := e.write(build{Targets: []target{{Group: "web"}}})
	res := e.packerBuild(file)
	if res.ExitCode != 0 {
		t.Fatalf("packer %s: packer build exited %d", e.pk.Version, res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())

	after := e.snapshot("us-east-1", "web")
	t.Logf("before:\n%s\nafter:\n%s", before, after)
	if imgs := after.Images(); len(imgs) != 1 || imgs[ami] != 4 {
		t.Errorf("in-service instances by AMI %v, want all 4 on %s", imgs, ami)
	}
	for _, i := range after.Instances {
		for _, old := range before.Instances {
			if i.ID == old.ID {
				t.Errorf("instance %s survived the roll-out", i.ID)
			}
		}
	}
	if after.Version != "2" {
		t.Errorf("group on version %q, want the new numbered version 2", after.Version)
	}

	versions, err := e.clients("us-east-1").Versions(context.Background(), seeded.LaunchTemplateID)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 {
		t.Errorf("template has %d versions, want exactly 2 (one created)", len(versions))
	}
	v1, v2 := versions[1].LaunchTemplateData, versions[2].LaunchTemplateData
	if aws.ToString(v2.ImageId) != ami {
		t.Errorf("version 2 image %s, want %s", aws.ToString(v2.ImageId), ami)
	}
	if v2.InstanceType != v1.InstanceType || len(v2.SecurityGroupIds) != 1 || v2.SecurityGroupIds[0] != seeded.SecurityGroupID {
		t.Errorf("version 2 lost the source's instance type or security groups: %+v", v2)
	}
	if ud, _ := base64.StdEncoding.DecodeString(aws.ToString(v2.UserData)); string(ud) != seeded.UserData {
		t.Errorf("version 2 user data %q, want the source's %q", ud, seeded.UserData)
	}
	if d := aws.ToString(versions[2].VersionDescription); !strings.Contains(d, ami) {
		t.Errorf("version description %q does not name the AMI", d)
	}

	for _, want := range []string{"created version 2 of launch template", "started instance refresh", "Successful: the group runs version 2"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("packer output misses %q", want)
		}
	}
	// Never a direct write to the group or the template.
	for _, c := range e.emu.Calls() {
		if c.Action == "UpdateAutoScalingGroup" || c.Action == "ModifyLaunchTemplate" {
			t.Errorf("the roll-out called %s", c.Action)
		}
	}
}

// TestFailedRolloutRollsBack: new instances fail their health checks; the
// build fails naming the group, the refresh and the reason, and auto
// rollback leaves the fleet on the old AMI and version.
func TestFailedRolloutRollsBack(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seed("us-east-1", fleet.Spec{Group: "api", Desired: 3})

	file := e.write(build{Targets: []target{{Group: "api"}}, AMITags: map[string]string{"health": "broken"}})
	res := e.packerBuild(file)
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although every new instance failed its health check")
	}
	for _, want := range []string{"Auto Scaling group (api)", "instance refresh (", "ended RollbackSuccessful", "rolled back: the group is on version 1"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("failure output misses %q", want)
		}
	}
	after := e.snapshot("us-east-1", "api")
	t.Logf("after:\n%s", after)
	if imgs := after.Images(); imgs[seeded.ImageID] != 3 || len(imgs) != 1 {
		t.Errorf("instances by AMI %v, want all 3 back on %s", imgs, seeded.ImageID)
	}
	if after.Version != "1" {
		t.Errorf("group on version %q, want 1 after the rollback", after.Version)
	}
}

// startForeignRefresh starts a refresh of group as someone else would, a
// long one (it pauses for two hours at its first checkpoint), and returns
// its id.
func (e *env) startForeignRefresh(region, group string) string {
	e.t.Helper()
	theirs, err := e.clients(region).AutoScaling.StartInstanceRefresh(context.Background(), &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		Preferences: &astypes.RefreshPreferences{
			CheckpointPercentages: []int32{50, 100}, CheckpointDelay: aws.Int32(7200), MinHealthyPercentage: aws.Int32(50),
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(theirs.InstanceRefreshId)
}

// TestRefreshAlreadyRunning: a refresh someone else started is running;
// the build fails before changing anything and does not cancel it.
func TestRefreshAlreadyRunning(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "worker", Desired: 2})
	c := e.clients("us-east-1")
	id := e.startForeignRefresh("us-east-1", "worker")

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "worker"}}}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded over someone else's refresh")
	}
	for _, want := range []string{"already has instance refresh (" + id + ")", "not started by this build", `on_refresh_in_progress = "wait"`, "nothing was changed"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	versions, err := c.Versions(context.Background(), seeded.LaunchTemplateID)
	if err != nil || len(versions) != 1 {
		t.Errorf("versions %d (%v), want the template untouched", len(versions), err)
	}
	out, err := c.AutoScaling.DescribeInstanceRefreshes(context.Background(), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("worker"), InstanceRefreshIds: []string{id}})
	if err != nil || len(out.InstanceRefreshes) != 1 {
		t.Fatal(err)
	}
	if s := out.InstanceRefreshes[0].Status; s == astypes.InstanceRefreshStatusCancelled || s == astypes.InstanceRefreshStatusCancelling {
		t.Errorf("the other refresh was cancelled (%s)", s)
	}
}

// TestMultiRegionArtifact: ami_regions copies the AMI; each region's group
// rolls onto its own region's copy.
func TestMultiRegionArtifact(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.seed("us-west-2", fleet.Spec{Group: "web", Desired: 2})

	res := e.packerBuild(e.write(build{
		AMIRegions: []string{"us-west-2"},
		Targets:    []target{{Group: "web", Region: "us-east-1"}, {Group: "web", Region: "us-west-2"}},
	}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	for _, region := range []string{"us-east-1", "us-west-2"} {
		ami := e.newAMI(region, "app-testmultiregionartifact")
		st := e.snapshot(region, "web")
		if imgs := st.Images(); imgs[ami] != 2 || len(imgs) != 1 {
			t.Errorf("%s: instances by AMI %v, want both on that region's copy %s", region, imgs, ami)
		}
	}
}

// TestValidate: packer validate lists every bad value with its field and
// exits non-zero; a good template validates.
func TestValidate(t *testing.T) {
	e := newEnv(t)
	bad := e.write(build{Targets: []target{{Group: "web"}}, Refresh: `
      min_healthy_percentage = 150
      checkpoint_percentages = [50, 20]
      instance_warmup        = "soon"`})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := packer.Run(ctx, e.dir, nil, "validate", bad)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 {
		t.Fatal("packer validate accepted bad values")
	}
	out := strings.Join(strings.Fields(res.Output), " ") // packer wraps long lines
	for _, want := range []string{
		"instance_refresh.min_healthy_percentage: must be from 0 to 100, got 150",
		"instance_refresh.checkpoint_percentages: must be ascending and unique, got 20 after 50",
		`instance_refresh.instance_warmup: "soon" is not a duration`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output misses %q:\n%s", want, res.Output)
		}
	}
	good := e.write(build{Targets: []target{{Group: "web"}}})
	if res, err := packer.Run(ctx, e.dir, nil, "validate", good); err != nil || res.ExitCode != 0 {
		t.Errorf("a good template failed to validate: %v\n%s", err, res.Output)
	}
}
