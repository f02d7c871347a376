package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func TestPreflightRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(f *fakeAWS)
		raw   map[string]interface{}
		want  []string
	}{
		{"missing group", func(f *fakeAWS) { delete(f.groups, "web") }, nil,
			[]string{"Auto Scaling group (web) not found in us-east-1"}},
		{"launch configuration", func(f *fakeAWS) {
			g := f.groups["web"]
			g.LaunchTemplate, g.LaunchConfigurationName = nil, aws.String("web-lc")
			f.groups["web"] = g
		}, nil, []string{"uses launch configuration web-lc", "set copy_launch_configuration = true"}},
		{"suspended", func(f *fakeAWS) {
			g := f.groups["web"]
			g.SuspendedProcesses = []astypes.SuspendedProcess{{ProcessName: aws.String("Launch")}, {ProcessName: aws.String("AZRebalance")}, {ProcessName: aws.String("InstanceRefresh")}}
			f.groups["web"] = g
		}, nil, []string{"suspended processes Launch, InstanceRefresh", "resume-processes --auto-scaling-group-name web --scaling-processes Launch InstanceRefresh"}},
		{"one instance without spare", func(f *fakeAWS) {
			g := f.groups["web"]
			g.DesiredCapacity = aws.Int32(1)
			f.groups["web"] = g
		}, map[string]interface{}{"instance_refresh": map[string]interface{}{"min_healthy_percentage": 90, "max_healthy_percentage": 100}},
			[]string{"has one instance", "an outage", "max_healthy_percentage above 100"}},
		{"standby with wait", func(f *fakeAWS) {
			g := f.groups["web"]
			g.Instances = []astypes.Instance{{InstanceId: aws.String("i-1"), LifecycleState: astypes.LifecycleStateStandby}}
			f.groups["web"] = g
		}, nil, []string{"in Standby (i-1)", `standby_instances to "Ignore"`}},
		{"protected with wait", func(f *fakeAWS) {
			g := f.groups["web"]
			g.Instances = []astypes.Instance{{InstanceId: aws.String("i-2"), ProtectedFromScaleIn: aws.Bool(true)}}
			f.groups["web"] = g
		}, nil, []string{"protected from scale in (i-2)", `scale_in_protected_instances to "Ignore"`}},
		{"AMI missing", func(f *fakeAWS) { delete(f.images, "ami-new") }, nil, []string{"AMI (ami-new) not found in us-east-1"}},
		{"AMI pending", func(f *fakeAWS) { f.images["ami-new"] = ec2types.ImageStatePending }, nil, []string{"AMI (ami-new) in us-east-1 is pending"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAWS()
			c.setup(f)
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, c.raw)
			_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(c.want, "nothing was changed") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if f.count("CreateLaunchTemplateVersion")+f.count("StartInstanceRefresh") != 0 {
				t.Errorf("a refused roll-out changed something: %v", f.calls)
			}
		})
	}
}

func TestEveryGroupIsCheckedBeforeAnyChange(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	delete(west.groups, "web")
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "us-east-1"}, {"auto_scaling_group": "web", "region": "us-west-2"}},
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err == nil || !strings.Contains(err.Error(), "not found in us-west-2") {
		t.Fatalf("err = %v", err)
	}
	if len(east.created) != 0 {
		t.Error("the healthy region was changed although another target failed its checks")
	}
}

func TestMultiRegionUsesEachRegionsAMI(t *testing.T) {
	east, west := newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "us-west-2"}, {"auto_scaling_group": "web", "region": "us-east-1"}},
	})
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(east.created[0].LaunchTemplateData.ImageId) != "ami-new" || aws.ToString(west.created[0].LaunchTemplateData.ImageId) != "ami-west" {
		t.Error("a region got another region's AMI")
	}
	if art.Id() != "us-east-1:ami-new,us-west-2:ami-west" {
		t.Errorf("Id %q", art.Id())
	}
}

func TestTargetRegionRules(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-west"))
	if err == nil || !strings.Contains(err.Error(), "set region: the artifact has AMIs in 2 regions") {
		t.Fatalf("a target without region must not guess among several: %v", err)
	}
	p = newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "eu-west-1"}}})
	_, _, _, err = p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "no AMI in eu-west-1 (it has us-east-1)") {
		t.Fatalf("err = %v", err)
	}
}

func TestMixedInstancesPolicyKeepsItsStructure(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.MixedInstancesPolicy = &astypes.MixedInstancesPolicy{
		LaunchTemplate: &astypes.LaunchTemplate{
			LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("$Default")},
			Overrides:                   []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("c7i.large")}, {InstanceType: aws.String("m7i.large")}},
		},
		InstancesDistribution: &astypes.InstancesDistribution{OnDemandPercentageAboveBaseCapacity: aws.Int32(25)},
	}
	g.LaunchTemplate = nil
	f.groups["web"] = g
	f.versions["lt-1"][2] = "ami-default"
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"auto_rollback": false}})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(f.created[0].SourceVersion); got != "2" {
		t.Errorf("SourceVersion %s, want 2 ($Default resolved)", got)
	}
	dc := f.started[0].DesiredConfiguration
	if dc.LaunchTemplate != nil || dc.MixedInstancesPolicy == nil {
		t.Fatal("a mixed instances group must get a mixed instances desired configuration")
	}
	spec := dc.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
	if aws.ToString(spec.LaunchTemplateId) != "lt-1" || aws.ToString(spec.Version) != "4" {
		t.Errorf("spec %+v, want lt-1 version 4", spec)
	}
	if len(dc.MixedInstancesPolicy.LaunchTemplate.Overrides) != 2 || aws.ToInt32(dc.MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity) != 25 {
		t.Error("overrides or distribution lost")
	}
	if v := aws.ToString(f.groups["web"].MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.Version); v != "$Default" {
		t.Errorf("the group's own policy was modified (version %s)", v)
	}
}

func TestSourceAlreadyOnAMIReusesVersion(t *testing.T) {
	f := newFakeAWS()
	f.versions["lt-1"][3] = "ami-new"
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 0 || aws.ToString(f.started[0].DesiredConfiguration.LaunchTemplate.Version) != "3" {
		t.Errorf("want no new version and a refresh onto version 3: created %d", len(f.created))
	}
}

func TestWaitFalseReturnsAfterStart(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"wait": false})
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	if f.count("DescribeInstanceRefreshes") != 1 || art.(*Artifact).Results[0].Status != "Pending" || !said(ui, "describe-instance-refreshes --region us-east-1 --auto-scaling-group-name web --instance-refresh-ids refresh-1") {
		t.Errorf("wait=false: polls %d, artifact %+v, output %v", f.count("DescribeInstanceRefreshes"), art.(*Artifact).Results, messages(ui))
	}
}

func TestDeregistrationWarning(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if !said(ui, "AMI ami-new (us-east-1) has no deregistration protection") {
		t.Errorf("no warning: %v", messages(ui))
	}
}

func TestAutoRollbackNeedsANumberedVersion(t *testing.T) {
	for _, ref := range []string{"$Latest", "$Default"} {
		f := newFakeAWS()
		p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"auto_rollback": true}})
		f.groups["web"] = withVersion(f.groups["web"], ref)
		_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
		if err == nil || !strings.Contains(err.Error(), "AWS cannot roll back to "+ref) || !strings.Contains(err.Error(), "auto_rollback = false") || len(f.created) != 0 {
			t.Errorf("%s: err = %v, created %d", ref, err, len(f.created))
		}
	}
	f := newFakeAWS()
	f.versions["lt-1"][3] = "resolve:ssm:/app/ami"
	f.groups["web"] = withVersion(f.groups["web"], "3")
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err == nil || !strings.Contains(err.Error(), "SSM parameter resolve:ssm:/app/ami") {
		t.Errorf("SSM alias: err = %v", err)
	}
}

func TestDuplicateTargetAfterRegionDefaulting(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "web", "region": "us-east-1"}},
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "target of two target blocks") {
		t.Fatalf("err = %v", err)
	}
}

// overrideGroup is a mixed instances group whose m7g override names its
// own template, lt-2, on version 5.
func overrideGroup(f *fakeAWS) {
	g := f.groups["web"]
	g.MixedInstancesPolicy = &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{
		LaunchTemplateSpecification: g.LaunchTemplate,
		Overrides: []astypes.LaunchTemplateOverrides{
			{InstanceType: aws.String("c7i.large")},
			{InstanceType: aws.String("m7i.large"), LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-2"), Version: aws.String("5")}},
		},
	}}
	g.LaunchTemplate = nil
	f.groups["web"] = g
	f.versions["lt-2"] = map[int64]string{5: "ami-old2"}
}

func TestOverrideTemplatesGetTheirOwnVersion(t *testing.T) {
	f := newFakeAWS()
	overrideGroup(f)
	f.images["ami-old2"], f.images["ami-old3"] = ec2types.ImageStateAvailable, ec2types.ImageStateAvailable
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 2 || aws.ToString(f.created[1].LaunchTemplateId) != "lt-2" || aws.ToString(f.created[1].SourceVersion) != "5" {
		t.Fatalf("want a version of lt-1 from 3 and of lt-2 from 5, got %d creations", len(f.created))
	}
	lt := f.started[0].DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate
	if v := aws.ToString(lt.LaunchTemplateSpecification.Version); v != "4" {
		t.Errorf("main template version %s, want 4", v)
	}
	if lt.Overrides[0].LaunchTemplateSpecification != nil {
		t.Error("an override without a template got one")
	}
	o := lt.Overrides[1].LaunchTemplateSpecification
	if aws.ToString(o.LaunchTemplateId) != "lt-2" || aws.ToString(o.Version) != "6" || aws.ToString(lt.Overrides[1].InstanceType) != "m7i.large" {
		t.Errorf("override spec %+v, want lt-2 version 6 for m7i.large", o)
	}
	if g := f.groups["web"].MixedInstancesPolicy.LaunchTemplate.Overrides[1].LaunchTemplateSpecification; aws.ToString(g.Version) != "5" {
		t.Error("the group's own policy was modified")
	}
}

func TestArchitectureMismatchIsRefused(t *testing.T) {
	f := newFakeAWS()
	overrideGroup(f)
	f.images["ami-old2"], f.images["ami-old3"] = ec2types.ImageStateAvailable, ec2types.ImageStateAvailable
	f.arch = map[string]ec2types.ArchitectureValues{"ami-old2": ec2types.ArchitectureValuesArm64}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "launch template lt-2 of Auto Scaling group (web) runs arm64 AMI ami-old2, and ami-new is x86_64") || len(f.created) != 0 {
		t.Fatalf("err = %v, created %d", err, len(f.created))
	}
}

func TestUnusedVersionsAreListedWhenNoRefreshStarts(t *testing.T) {
	// Two groups, one with an override template; the second group's
	// version cannot be made, so no refresh starts, and every version made
	// so far, the override template's included, is named as unused.
	f := newFakeAWS()
	overrideGroup(f)
	f.images["ami-old2"], f.images["ami-old3"] = ec2types.ImageStateAvailable, ec2types.ImageStateAvailable
	other := f.groups["web"]
	other.AutoScalingGroupName = aws.String("api")
	other.MixedInstancesPolicy = nil
	other.LaunchTemplate = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-9"), Version: aws.String("1")}
	f.groups["api"] = other
	f.versions["lt-9"] = map[int64]string{1: "ami-old3"}
	f.createErr = map[string]error{"lt-9": errors.New("UnauthorizedOperation")}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "api"}}, "max_concurrency": 1,
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "no refresh was started (launch template versions created but not in use: lt-1 version 4, lt-2 version 6)") {
		t.Fatalf("err = %v", err)
	}
	if len(f.started) != 0 {
		t.Error("a refresh started although a version of the wave failed")
	}
}

func TestUnusedVersionOfAGroupThatDidNotStart(t *testing.T) {
	f := newFakeAWS()
	other := f.groups["web"]
	other.AutoScalingGroupName = aws.String("api")
	other.LaunchTemplate = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-9"), Version: aws.String("1")}
	f.groups["api"] = other
	f.versions["lt-9"] = map[int64]string{1: "ami-old3"}
	f.startErrs = map[string]error{"api": errors.New("AccessDenied")}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "api"}},
	})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "launch template versions created but not in use: lt-9 version 2") || strings.Contains(err.Error(), "lt-1 version 4") {
		t.Fatalf("err = %v; want api's version named as unused, and web's (in use) not", err)
	}
}
