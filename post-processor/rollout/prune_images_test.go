package rollout

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// imageFleet is lt-1 with versions 1 (ami-a), 2 (ami-b, the default) and 3
// (ami-g, web's), and AMIs of the deployment lt-1, each used by one thing
// or by nothing, one of another deployment and one untagged.
func imageFleet() *releaseFake {
	f := newReleaseFake().deploys()
	f.versions["lt-1"] = map[int64]string{1: "ami-a", 2: "ami-b", 3: "ami-g"}
	for i, id := range []string{"ami-w", "ami-a", "ami-b", "ami-c", "ami-d", "ami-e", "ami-f", "ami-g", "ami-p", "ami-z", "ami-y", "ami-h"} {
		f.addAMI(id, i, "lt-1")
	}
	f.amis["ami-p"].DeregistrationProtection = aws.String("enabled")
	f.addAMI("ami-x", 0, "lt-other")
	f.addAMI("ami-u", 0, "")
	f.lcs["old-lc"] = astypes.LaunchConfiguration{LaunchConfigurationName: aws.String("old-lc"), ImageId: aws.String("ami-c")}
	f.groups["mixed"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("mixed"), MixedInstancesPolicy: &astypes.MixedInstancesPolicy{
		LaunchTemplate: &astypes.LaunchTemplate{
			LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-other"), Version: aws.String("1")},
			Overrides:                   []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("m7g.large"), ImageId: aws.String("ami-d")}},
		},
	}}
	f.versions["lt-other"] = map[int64]string{1: "ami-x"}
	f.instances = []ec2types.Instance{
		{InstanceId: aws.String("i-stopped"), ImageId: aws.String("ami-e"), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameStopped}},
		{InstanceId: aws.String("i-gone"), ImageId: aws.String("ami-z"), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameTerminated}},
	}
	f.imageRefs = []ec2types.ImageReference{{ImageId: aws.String("ami-f"), ResourceType: ec2types.ImageReferenceResourceTypeSsmParameter, Arn: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/other/ami")}}
	f.snapshotInUse = map[string]bool{"snap-y": true}
	return f
}

func TestPruneImagesKeepsWhatIsReferenced(t *testing.T) {
	f := imageFleet()
	art, err := pruneBuild(t, f, map[string]interface{}{"prune_images": map[string]interface{}{"keep": 2}})
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if !hasImageTag(*f.amis["ami-new"], deployedTag, "lt-1") {
		t.Errorf("ami-new tags %v, want %s=lt-1", f.amis["ami-new"].Tags, deployedTag)
	}
	dereg := slices.Sorted(slices.Values(f.deregistered))
	if want := []string{"ami-w", "ami-y", "ami-z"}; !reflect.DeepEqual(dereg, want) {
		t.Errorf("deregistered %v, want %v", dereg, want)
	}
	for _, snap := range []string{"snap-w", "snap-z"} {
		if f.snapshots[snap] {
			t.Errorf("%s not deleted with its AMI", snap)
		}
	}
	if !f.snapshots["snap-y"] {
		t.Errorf("snap-y deleted although in use")
	}
	for _, ids := range f.refCalls {
		if len(ids) > maxImageReferenceIDs {
			t.Errorf("DescribeImageReferences asked for %d AMIs at once", len(ids))
		}
	}
	ip := art.after.Images[0]
	want := map[string][]string{
		keptCurrentImage:                                  {"ami-new"},
		"one of the newest 2":                             {"ami-h"},
		keptProtection:                                    {"ami-p"},
		"in version 1 of launch template lt-1":            {"ami-a"},
		"in version 2 of launch template lt-1":            {"ami-b"},
		"in version 3 of launch template lt-1":            {"ami-g"},
		"launch configuration old-lc":                     {"ami-c"},
		"an override ImageId of Auto Scaling group mixed": {"ami-d"},
		"instance i-stopped (stopped)":                    {"ami-e"},
		"referenced by ssm:Parameter arn:aws:ssm:us-east-1:123456789012:parameter/other/ami": {"ami-f"},
	}
	if !reflect.DeepEqual(ip.Kept, want) {
		t.Errorf("kept %v,\nwant %v", ip.Kept, want)
	}
	for _, other := range []string{"ami-x", "ami-u"} {
		if f.amis[other] == nil || strings.Contains(art.String(), other) {
			t.Errorf("%s, of another deployment or untagged, was touched or named", other)
		}
	}
	s := art.String()
	for _, line := range []string{"AMIs of lt-1 (us-east-1): deregistered ", "kept ami-p: deregistration protection is on", "not removed, snapshot of ami-y not deleted (InvalidSnapshot.InUse"} {
		if !strings.Contains(s, line) {
			t.Errorf("summary lacks %q:\n%s", line, s)
		}
	}

	// A re-run deregisters nothing more.
	n := len(f.deregistered)
	if _, err := pruneBuild(t, f, map[string]interface{}{"prune_images": map[string]interface{}{"keep": 2}}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if len(f.deregistered) != n {
		t.Errorf("the re-run deregistered %v", f.deregistered[n:])
	}
}

// TestPruneImagesAfterVersions: an AMI whose only version was pruned goes;
// those of the default version and of the way back stay.
func TestPruneImagesAfterVersions(t *testing.T) {
	f := newReleaseFake().deploys()
	f.versions["lt-1"] = map[int64]string{1: "ami-a", 2: "ami-b", 3: "ami-g"}
	for i, id := range []string{"ami-a", "ami-b", "ami-g"} {
		f.addAMI(id, i, "lt-1")
	}
	if _, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}, "prune_images": map[string]interface{}{"keep": 1}}); err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if !reflect.DeepEqual(f.deregistered, []string{"ami-a"}) {
		t.Errorf("deregistered %v, want [ami-a]", f.deregistered)
	}
	if f.snapshots["snap-a"] || !f.snapshots["snap-b"] || !f.snapshots["snap-g"] {
		t.Errorf("snapshots left %v, want snap-a deleted only", f.snapshots)
	}
}

func TestPruneImagesFailClosed(t *testing.T) {
	t.Run("references unknown", func(t *testing.T) {
		f := imageFleet()
		f.refsErr = apiError("UnauthorizedOperation", "not allowed to ec2:DescribeImageReferences")
		art, err := pruneBuild(t, f, map[string]interface{}{"prune_images": map[string]interface{}{"keep": 2}})
		if err != nil {
			t.Fatalf("PostProcess: %v; a failed clean-up must not fail a deployed build", err)
		}
		if len(f.deregistered) != 0 {
			t.Errorf("deregistered %v without knowing what uses them", f.deregistered)
		}
		if e := art.after.Images[0].Error; !strings.Contains(e, "nothing was deregistered") || !strings.Contains(e, "UnauthorizedOperation") {
			t.Errorf("error %q", e)
		}
	})
	t.Run("roll-out failed", func(t *testing.T) {
		f := imageFleet()
		f.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
		if _, err := pruneBuild(t, f, map[string]interface{}{"prune_images": map[string]interface{}{"keep": 1}}); err == nil {
			t.Fatal("PostProcess succeeded on a rolled-back refresh")
		}
		if n := f.count("CreateTags") + f.count("DeregisterImage") + f.count("DeleteSnapshot"); n != 0 {
			t.Errorf("AMIs tagged or pruned after a failed roll-out: %v", f.calls)
		}
	})
	t.Run("permission checked first", func(t *testing.T) {
		f := imageFleet()
		f.denied = map[string]bool{"DeregisterImage ami-new": true}
		_, err := pruneBuild(t, f, map[string]interface{}{"prune_images": map[string]interface{}{"keep": 1}})
		if err == nil || !strings.Contains(err.Error(), "ec2:DeregisterImage") || f.count("StartInstanceRefresh") != 0 {
			t.Fatalf("err = %v, want the missing permission refused before any change", err)
		}
	})
}
