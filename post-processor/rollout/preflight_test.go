package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// newPreflight is newTestPP with the target's region set, as the data
// source needs it: there is no artifact to take it from.
func newPreflight(t *testing.T, f *fakeAWS, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	if raw == nil {
		raw = map[string]interface{}{}
	}
	raw["region"] = "us-east-1"
	return newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, raw)
}

// writes are the calls that change something.
var writes = []string{"CreateLaunchTemplateVersion", "StartInstanceRefresh", "CancelInstanceRefresh", "RollbackInstanceRefresh",
	"CreateLaunchConfiguration", "UpdateAutoScalingGroup", "ModifyLaunchTemplate", "EnableImageDeregistrationProtection", "RunInstances"}

func assertNoWrites(t *testing.T, f *fakeAWS) {
	t.Helper()
	for _, c := range f.calls {
		if slices.Contains(writes, c) {
			t.Errorf("pre-flight made write %s (calls %v)", c, f.calls)
		}
	}
}

func TestPreflightReportsTheGroupWithoutWriting(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.Instances = []astypes.Instance{{InstanceId: aws.String("i-1")}, {InstanceId: aws.String("i-2")}}
	g.VPCZoneIdentifier = aws.String("subnet-a,subnet-b")
	f.groups["web"] = g
	p := newPreflight(t, f, nil)
	got, err := p.preflight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Checked{Region: "us-east-1", Group: "web", LaunchTemplateID: "lt-1", CurrentVersion: 3, ImageID: "ami-old3", InstanceCount: 2, DesiredCapacity: 4}
	if len(got) != 1 || got[0].Region != want.Region || got[0].Group != want.Group || got[0].LaunchTemplateID != want.LaunchTemplateID ||
		got[0].CurrentVersion != want.CurrentVersion || got[0].ImageID != want.ImageID || got[0].InstanceCount != want.InstanceCount || got[0].DesiredCapacity != want.DesiredCapacity {
		t.Errorf("got %+v, want %+v", got, want)
	}
	assertNoWrites(t, f)
	if f.count("DescribeAutoScalingGroups") != 1 {
		t.Errorf("group described %d times, want once", f.count("DescribeAutoScalingGroups"))
	}
	// The DryRuns ask what the roll-out will do: a version from the
	// current one with only an AMI (the current one, before the bake), and
	// a launch from the current version where the group launches.
	if len(f.dryRunVersions) != 1 {
		t.Fatalf("%d CreateLaunchTemplateVersion DryRuns, want 1", len(f.dryRunVersions))
	}
	v := f.dryRunVersions[0]
	if aws.ToString(v.SourceVersion) != "3" || aws.ToString(v.LaunchTemplateData.ImageId) != "ami-old3" || aws.ToString(v.LaunchTemplateId) != "lt-1" {
		t.Errorf("version DryRun = %+v, want lt-1 from version 3 with ami-old3", v)
	}
	if len(f.dryRuns) != 1 {
		t.Fatalf("%d RunInstances DryRuns, want 1", len(f.dryRuns))
	}
	if r := f.dryRuns[0]; aws.ToString(r.LaunchTemplate.Version) != "3" || aws.ToString(r.SubnetId) != "subnet-a" {
		t.Errorf("launch DryRun from version %s in %s, want version 3 in subnet-a", aws.ToString(r.LaunchTemplate.Version), aws.ToString(r.SubnetId))
	}
}

func TestPreflightRefusesWhatThePostProcessorRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*fakeAWS)
		raw   map[string]interface{}
		want  []string
	}{
		{"missing group", nil, map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "nope"}}},
			[]string{"Auto Scaling group (nope) not found in us-east-1", "check target.auto_scaling_group"}},
		{"refresh running, fail", func(f *fakeAWS) {
			f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress", StartTime: aws.Time(time.Unix(0, 0))}}
		}, nil, []string{"already has instance refresh (theirs)", `on_refresh_in_progress = "wait"`}},
		{"$Latest with auto rollback", func(f *fakeAWS) {
			g := f.groups["web"]
			g.LaunchTemplate.Version = aws.String("$Latest")
			f.groups["web"] = g
		}, nil, []string{"cannot roll back to $Latest", "pin the group to a version number (version 3"}},
		{"create version denied", func(f *fakeAWS) {
			f.denied = map[string]bool{"CreateLaunchTemplateVersion lt-1": true}
		}, nil, []string{"UnauthorizedOperation", "allow ec2:CreateLaunchTemplateVersion on arn:aws:ec2:us-east-1:ACCOUNT:launch-template/lt-1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAWS()
			if c.setup != nil {
				c.setup(f)
			}
			p := newPreflight(t, f, c.raw)
			_, err := p.preflight(context.Background())
			if err == nil {
				t.Fatal("passed")
			}
			for _, w := range append(c.want, "pre-flight") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			assertNoWrites(t, f)
		})
	}
}

func TestPreflightWarnsAboutARefreshThePostProcessorWillHandle(t *testing.T) {
	for policy, want := range map[string]string{
		"wait":   "will wait for it to end",
		"cancel": "will cancel it",
	} {
		t.Run(policy, func(t *testing.T) {
			f := newFakeAWS()
			f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress", StartTime: aws.Time(time.Unix(0, 0))}}
			p := newPreflight(t, f, map[string]interface{}{"on_refresh_in_progress": policy})
			got, err := p.preflight(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !slices.ContainsFunc(got[0].Warnings, func(w string) bool {
				return strings.Contains(w, "theirs") && strings.Contains(w, want)
			}) {
				t.Errorf("warnings %q, want one naming refresh theirs and saying %q", got[0].Warnings, want)
			}
			assertNoWrites(t, f)
		})
	}
}

func TestPreflightNeedsARegion(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, err := p.preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "target[0]: set region") {
		t.Fatalf("err = %v, want a request for a region", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls made: %v", f.calls)
	}
}

// TestPermissionDeniedStopsTheRollOutBeforeAnyWrite: the post-processor
// runs the same DryRuns in resolve, so a missing permission stops it
// before the first version is created, with the permission to add.
func TestPermissionDeniedStopsTheRollOutBeforeAnyWrite(t *testing.T) {
	for denied, want := range map[string]string{
		"CreateLaunchTemplateVersion lt-1": "allow ec2:CreateLaunchTemplateVersion on arn:aws:ec2:us-east-1:ACCOUNT:launch-template/lt-1",
		"RunInstances lt-1":                "allow ec2:RunInstances on the template",
	} {
		t.Run(denied, func(t *testing.T) {
			f := newFakeAWS()
			f.denied = map[string]bool{denied: true}
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
			_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err == nil {
				t.Fatal("rolled out")
			}
			for _, w := range []string{"nothing was changed", "Auto Scaling group (web)", "UnauthorizedOperation", want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			assertNoWrites(t, f)
			// The post-processor's DryRun sends the new AMI, as the version
			// it would create.
			if len(f.dryRunVersions) != 1 || aws.ToString(f.dryRunVersions[0].LaunchTemplateData.ImageId) != "ami-new" {
				t.Errorf("version DryRuns %+v, want one with ami-new", f.dryRunVersions)
			}
		})
	}
}
