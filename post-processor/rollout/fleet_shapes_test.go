package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func tagged(name string, tags map[string]string) astypes.AutoScalingGroup {
	g := newFakeAWS().groups["web"]
	g.AutoScalingGroupName = aws.String(name)
	for k, v := range tags {
		g.Tags = append(g.Tags, astypes.TagDescription{Key: aws.String(k), Value: aws.String(v)})
	}
	return g
}

func TestTargetsByTags(t *testing.T) {
	f := newFakeAWS()
	delete(f.groups, "web")
	f.groups["web-a"] = tagged("web-a", map[string]string{"app": "web", "env": "prod"})
	f.groups["web-b"] = tagged("web-b", map[string]string{"app": "web", "env": "prod", "team": "x"})
	f.groups["web-staging"] = tagged("web-staging", map[string]string{"app": "web", "env": "staging"})
	f.groups["db"] = tagged("db", map[string]string{"app": "db", "env": "prod"})
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"target": []map[string]interface{}{{"tags": map[string]string{"app": "web", "env": "prod"}}},
	})
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, r := range art.(*Artifact).Results {
		groups = append(groups, r.AutoScalingGroup)
	}
	if strings.Join(groups, ",") != "web-a,web-b" {
		t.Errorf("rolled %v, want exactly the two prod web groups", groups)
	}
	if n := f.count("DescribeAutoScalingGroups"); n != 1 {
		t.Errorf("DescribeAutoScalingGroups called %d times, want once: the tag search already describes the groups", n)
	}
}

func TestTargetsByTagsMatchingNothing(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"target": []map[string]interface{}{{"tags": map[string]string{"app": "nope"}}},
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "no Auto Scaling group in us-east-1 has the tags {app=nope}") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaveStopsAfterFailure(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	east.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1", "wave": 1},
			{"auto_scaling_group": "web", "region": "us-west-2", "wave": 2},
		},
	})
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err == nil || !strings.Contains(err.Error(), "not started, because wave 1 did not succeed: web (us-west-2)") {
		t.Fatalf("err = %v", err)
	}
	if len(west.created)+len(west.started) != 0 {
		t.Errorf("the second wave was touched: %v", west.calls)
	}
	if r := art.(*Artifact).Results; r[1].Status != "NotStarted" {
		t.Errorf("second wave status %s, want NotStarted", r[1].Status)
	}
	if !said(ui, "Wave 1 did not succeed: not starting web (us-west-2)") {
		t.Errorf("output %v", messages(ui))
	}
}

func TestWavesRunInOrder(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1", "wave": 2},
			{"auto_scaling_group": "web", "region": "us-west-2", "wave": 1},
		},
	})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new,us-west-2:ami-west")); err != nil {
		t.Fatal(err)
	}
	first, second := -1, -1
	for i, m := range messages(ui) {
		if strings.Contains(m, "Wave 1 of 2: web (us-west-2)") {
			first = i
		}
		if strings.Contains(m, "Wave 2 of 2: web (us-east-1)") {
			second = i
		}
	}
	if first < 0 || second < first {
		t.Errorf("waves out of order: %v", messages(ui))
	}
}

func TestSetDefaultVersion(t *testing.T) {
	for _, set := range []bool{false, true} {
		f := newFakeAWS()
		f.groups["web"] = withVersion(f.groups["web"], "$Default")
		p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
			"set_default_version": set, "instance_refresh": map[string]interface{}{"auto_rollback": false},
		})
		if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(f.created[0].SourceVersion); got != "2" {
			t.Errorf("SourceVersion %s, want $Default resolved to 2", got)
		}
		want := int64(2)
		if set {
			want = 3 + 1
		}
		if f.defaults["lt-1"] != want || (f.count("ModifyLaunchTemplate") == 1) != set {
			t.Errorf("set_default_version=%v: default %d (want %d), %d ModifyLaunchTemplate calls", set, f.defaults["lt-1"], want, f.count("ModifyLaunchTemplate"))
		}
	}
}

// lcGroup puts the group on launch configuration web-lc with ami-old3.
func lcGroup(f *fakeAWS) {
	g := f.groups["web"]
	g.LaunchTemplate, g.LaunchConfigurationName = nil, aws.String("web-lc")
	f.groups["web"] = g
	f.lcs["web-lc"] = astypes.LaunchConfiguration{
		LaunchConfigurationName: aws.String("web-lc"), ImageId: aws.String("ami-old3"), InstanceType: aws.String("t3.small"),
		SecurityGroups: []string{"sg-1"}, UserData: aws.String("IyEvYmluL3No"), KernelId: aws.String(""),
	}
}

func TestLaunchConfigurationNeedsOptIn(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "set copy_launch_configuration = true") || f.count("UpdateAutoScalingGroup") != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestLaunchConfigurationRollout(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"copy_launch_configuration": true})
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	cp, ok := f.lcs["web-lc-ami-new"]
	if !ok || aws.ToString(cp.ImageId) != "ami-new" || aws.ToString(cp.InstanceType) != "t3.small" || cp.SecurityGroups[0] != "sg-1" || aws.ToString(cp.UserData) != "IyEvYmluL3No" {
		t.Fatalf("copy %+v, want web-lc with only the AMI changed", cp)
	}
	if aws.ToString(f.groups["web"].LaunchConfigurationName) != "web-lc-ami-new" {
		t.Error("the copy was not set on the group")
	}
	s := f.started[0]
	if s.DesiredConfiguration != nil || aws.ToBool(s.Preferences.AutoRollback) {
		t.Errorf("a launch configuration refresh must have no desired configuration and no auto rollback: %+v", s)
	}
	if r := art.(*Artifact).Results[0]; r.Status != "Successful" || r.LaunchConfiguration != "web-lc-ami-new" || !strings.Contains(art.String(), "web-lc-ami-new") {
		t.Errorf("artifact %+v", r)
	}
	// A re-run with a new AMI names its copy after the original, not the copy.
	if got := copyName("web-lc-ami-0123abcd", "ami-0abc"); got != "web-lc-ami-0abc" {
		t.Errorf("copyName = %s", got)
	}
}

func TestLaunchConfigurationRestoredOnFailure(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"copy_launch_configuration": true})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "put launch configuration web-lc back on the group") {
		t.Fatalf("err = %v", err)
	}
	if got := aws.ToString(f.groups["web"].LaunchConfigurationName); got != "web-lc" {
		t.Errorf("group left on %s after a failure, want web-lc", got)
	}
}

func TestLaunchConfigurationRollbackRestoresFirst(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"copy_launch_configuration": true, "on_failure": "rollback", "instance_refresh": map[string]interface{}{"auto_rollback": false},
	})
	f.onPoll = func(int) {
		f.mu.Lock()
		if len(f.started) == 2 {
			f.script = []astypes.InstanceRefreshStatus{"Successful"}
		}
		f.mu.Unlock()
	}
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "returned every instance to launch configuration web-lc") {
		t.Fatalf("err = %v", err)
	}
	// The group must launch web-lc again before the refresh back starts.
	var updates, starts []int
	for i, c := range f.calls {
		switch c {
		case "UpdateAutoScalingGroup":
			updates = append(updates, i)
		case "StartInstanceRefresh":
			starts = append(starts, i)
		}
	}
	if len(updates) != 2 || len(starts) != 2 || updates[1] > starts[1] {
		t.Errorf("calls %v: want the launch configuration restored before the second start", f.calls)
	}
}

func TestSetDefaultVersionIgnoresLaunchConfigurations(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"copy_launch_configuration": true, "set_default_version": true})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if f.count("ModifyLaunchTemplate") != 0 || aws.ToString(f.groups["web"].LaunchConfigurationName) != "web-lc-ami-new" {
		t.Errorf("calls %v", f.calls)
	}
}

func TestFailedLatestGroupSaysWhatItLaunches(t *testing.T) {
	f := newFakeAWS()
	f.groups["web"] = withVersion(f.groups["web"], "$Latest")
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"auto_rollback": false}})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "still launches $Latest of lt-1, which is now version 4 with ami-new") || !strings.Contains(err.Error(), "Version=3") {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorsNameTheRegionWhenSeveralGroupsRoll(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	west.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "us-east-1"}, {"auto_scaling_group": "web", "region": "us-west-2"}},
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err == nil || !strings.HasPrefix(err.Error(), "web (us-west-2): Auto Scaling group (web)") {
		t.Fatalf("err = %v", err)
	}
}
