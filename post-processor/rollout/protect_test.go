package rollout

import (
	"context"
	"strings"
	"testing"

	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func TestFailedRolloutProtectsAnAMIGroupsLaunch(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	west.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "us-east-1"}, {"auto_scaling_group": "web", "region": "us-west-2"}},
	})
	ui := &packersdk.MockUi{}
	_, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err == nil {
		t.Fatal("a rolled-back group must fail the build")
	}
	// us-east-1 succeeded and launches ami-new; us-west-2 rolled back and
	// no longer launches ami-west.
	if strings.Join(east.protected, ",") != "ami-new" || len(west.protected) != 0 {
		t.Errorf("protected east %v west %v, want only ami-new", east.protected, west.protected)
	}
	if !said(ui, "Protected AMI ami-new (us-east-1) from deregistration") || !said(ui, "web (us-east-1) (its refresh succeeded)") || !said(ui, "disable-image-deregistration-protection --region us-east-1 --image-id ami-new") {
		t.Errorf("output %v", messages(ui))
	}
}

func TestFailedRolloutThatLeftNothingOnTheAMIProtectsNothing(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err == nil {
		t.Fatal("want a failure")
	}
	if f.count("EnableImageDeregistrationProtection") != 0 {
		t.Error("protected an AMI that no group launches")
	}
}

func TestDetachedRefreshProtectsTheAMI(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"timeout": "30ms", "on_timeout": "detach"})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err == nil {
		t.Fatal("want a timeout")
	}
	if strings.Join(f.protected, ",") != "ami-new" {
		t.Errorf("protected %v: a detached refresh keeps launching ami-new", f.protected)
	}
}

func TestSuccessProtectsNothing(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if f.count("EnableImageDeregistrationProtection") != 0 {
		t.Error("a successful build keeps its artifact; nothing to protect")
	}
}
