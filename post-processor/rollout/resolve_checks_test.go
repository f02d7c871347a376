package rollout

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// resolveOnly runs resolve alone on group web of f, for ami-new, and
// returns the roll-out it filled in.
func resolveOnly(t *testing.T, f *fakeAWS, raw map[string]interface{}) (*rollout, error) {
	t.Helper()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, raw)
	r := &roller{cfg: &p.config, ui: &packersdk.MockUi{}}
	ro := &rollout{region: "us-east-1", group: "web", imageID: "ami-new", clients: &clients{autoscaling: f, ec2: f}}
	return ro, r.resolve(context.Background(), ro)
}

// refusedUnchanged runs a roll-out that must be refused with every one of
// want in its error, before anything was changed.
func refusedUnchanged(t *testing.T, f *fakeAWS, raw map[string]interface{}, want ...string) {
	t.Helper()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, raw)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range append(want, "nothing was changed") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
	if n := f.count("CreateLaunchTemplateVersion") + f.count("StartInstanceRefresh") + f.count("CreateLaunchConfiguration") + f.count("UpdateAutoScalingGroup"); n != 0 {
		t.Errorf("a refused roll-out changed something: %v", f.calls)
	}
}

func suspend(f *fakeAWS, processes ...string) {
	g := f.groups["web"]
	for _, p := range processes {
		g.SuspendedProcesses = append(g.SuspendedProcesses, astypes.SuspendedProcess{ProcessName: aws.String(p)})
	}
	f.groups["web"] = g
}

func TestSuspendedProcessEffects(t *testing.T) {
	tg := []string{"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1"}
	cases := []struct {
		name              string
		suspended         []string
		attached          []string
		refused, warned   []string
		effectMentionsAll string
	}{
		{"none", nil, tg, nil, nil, ""},
		{"harmless only", []string{"AZRebalance", "AlarmNotification", "ScheduledActions"}, tg, nil, nil, ""},
		{"add to load balancer, attached", []string{"AddToLoadBalancer"}, tg, []string{"AddToLoadBalancer"}, nil, tg[0]},
		{"add to load balancer, nothing attached", []string{"AddToLoadBalancer"}, nil, nil, nil, ""},
		{"health check", []string{"HealthCheck"}, nil, []string{"HealthCheck"}, nil, "auto rollback would never fire"},
		{"replace unhealthy", []string{"ReplaceUnhealthy"}, nil, nil, []string{"ReplaceUnhealthy"}, ""},
		{"blocking, in AWS's order", []string{"InstanceRefresh", "AZRebalance", "Launch"}, nil, []string{"Launch", "InstanceRefresh"}, nil, ""},
		{"all", []string{"ReplaceUnhealthy", "AddToLoadBalancer", "HealthCheck", "Terminate"}, tg, []string{"Terminate", "HealthCheck", "AddToLoadBalancer"}, []string{"ReplaceUnhealthy"}, ""},
	}
	names := func(ps []processEffect) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.process)
		}
		return out
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refused, warned := suspendedProcessEffects(c.suspended, c.attached)
			if !reflect.DeepEqual(names(refused), c.refused) || !reflect.DeepEqual(names(warned), c.warned) {
				t.Errorf("refused %v, warned %v; want %v, %v", names(refused), names(warned), c.refused, c.warned)
			}
			if c.effectMentionsAll != "" && (len(refused) == 0 || !strings.Contains(refused[0].effect, c.effectMentionsAll)) {
				t.Errorf("effect %+v does not mention %q", refused, c.effectMentionsAll)
			}
		})
	}
}

func TestSuspendedAddToLoadBalancerIsRefusedWithTargetGroups(t *testing.T) {
	f := newFakeAWS()
	suspend(f, "AddToLoadBalancer")
	g := f.groups["web"]
	g.TargetGroupARNs = []string{"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1"}
	g.LoadBalancerNames = []string{"web-clb"}
	f.groups["web"] = g
	refusedUnchanged(t, f, nil,
		"Auto Scaling group (web) has suspended process AddToLoadBalancer: with AddToLoadBalancer suspended, replacements never join",
		"never join its load balancers and target groups (web-clb, arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1)",
		"no registered targets, an outage",
		"resume it first (aws autoscaling resume-processes --auto-scaling-group-name web --scaling-processes AddToLoadBalancer --region us-east-1)")
}

func TestSuspendedAddToLoadBalancerWithoutTargetsIsAllowed(t *testing.T) {
	f := newFakeAWS()
	suspend(f, "AddToLoadBalancer")
	ro, err := resolveOnly(t, f, nil)
	if err != nil || len(ro.warnings) != 0 {
		t.Fatalf("err = %v, warnings %v: nothing is attached, so nothing is lost", err, ro.warnings)
	}
}

func TestSuspendedHealthCheckIsRefused(t *testing.T) {
	f := newFakeAWS()
	suspend(f, "HealthCheck", "AZRebalance")
	refusedUnchanged(t, f, nil,
		"Auto Scaling group (web) has suspended process HealthCheck: with HealthCheck suspended, no instance is ever marked unhealthy",
		"the refresh would end Successful and auto rollback would never fire",
		"aws autoscaling resume-processes --auto-scaling-group-name web --scaling-processes HealthCheck --region us-east-1)")
}

func TestSuspendedProcessesShareOneClausePerEffect(t *testing.T) {
	f := newFakeAWS()
	suspend(f, "Terminate", "HealthCheck", "Launch")
	refusedUnchanged(t, f, nil,
		"Auto Scaling group (web) has suspended processes Launch, Terminate, HealthCheck: with Launch or Terminate suspended, an instance refresh would not replace anything; with HealthCheck suspended, no instance is ever marked unhealthy",
		"resume them first (aws autoscaling resume-processes --auto-scaling-group-name web --scaling-processes Launch Terminate HealthCheck --region us-east-1)")
}

func TestSuspendedReplaceUnhealthyIsAWarning(t *testing.T) {
	f := newFakeAWS()
	suspend(f, "ReplaceUnhealthy")
	ro, err := resolveOnly(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "process ReplaceUnhealthy is suspended: instances marked unhealthy during the refresh stay in the group instead of being replaced, so a bad AMI stalls the refresh for up to an hour before it fails, with fewer healthy instances meanwhile; resume it unless that is what you want (aws autoscaling resume-processes --auto-scaling-group-name web --scaling-processes ReplaceUnhealthy --region us-east-1)"
	if !reflect.DeepEqual(ro.warnings, []string{want}) {
		t.Errorf("warnings %q\nwant %q", ro.warnings, want)
	}
}

// imageOverrideGroup is a mixed instances group whose c7i override carries
// its own ImageId, ami-old9, and whose m7i override launches the template's
// AMI.
func imageOverrideGroup(f *fakeAWS) {
	g := f.groups["web"]
	g.MixedInstancesPolicy = &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{
		LaunchTemplateSpecification: g.LaunchTemplate,
		Overrides: []astypes.LaunchTemplateOverrides{
			{InstanceType: aws.String("c7i.large"), ImageId: aws.String("ami-old9")},
			{InstanceType: aws.String("m7i.large")},
		},
	}}
	g.LaunchTemplate = nil
	f.groups["web"] = g
	f.images["ami-old9"], f.images["ami-old3"] = ec2types.ImageStateAvailable, ec2types.ImageStateAvailable
}

func TestOverrideImageIdsGetTheNewAMI(t *testing.T) {
	f := newFakeAWS()
	imageOverrideGroup(f)
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	o := f.started[0].DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate.Overrides
	if got := aws.ToString(o[0].ImageId); got != "ami-new" {
		t.Errorf("override 1 ImageId %q, want ami-new: the group would keep launching ami-old9", got)
	}
	if o[1].ImageId != nil {
		t.Errorf("override 2 got ImageId %q; it launches its template's AMI", aws.ToString(o[1].ImageId))
	}
	if got := aws.ToString(f.groups["web"].MixedInstancesPolicy.LaunchTemplate.Overrides[0].ImageId); got != "ami-old9" {
		t.Errorf("the group's own policy was modified (ImageId %s)", got)
	}
}

func TestOverrideImageStillOldWhenTheTemplateHasTheAMI(t *testing.T) {
	// The template already carries the AMI (a re-run, or someone else's
	// version): an override still on another AMI must still be refreshed.
	f := newFakeAWS()
	imageOverrideGroup(f)
	f.versions["lt-1"][3] = "ami-new"
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if len(f.started) != 1 {
		t.Fatalf("%d refreshes started, want 1", len(f.started))
	}
	lt := f.started[0].DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate
	if aws.ToString(lt.LaunchTemplateSpecification.Version) != "3" || aws.ToString(lt.Overrides[0].ImageId) != "ami-new" {
		t.Errorf("want version 3 as it is and override 1 on ami-new, got version %s, ImageId %s", aws.ToString(lt.LaunchTemplateSpecification.Version), aws.ToString(lt.Overrides[0].ImageId))
	}
}

func TestRefreshLeavingAnOverrideOnAnotherAMIIsNotAdopted(t *testing.T) {
	// Version 4 of lt-1 has our AMI, but the running refresh keeps override
	// 1 on ami-old9: it is not what this build would start.
	f := newFakeAWS()
	imageOverrideGroup(f)
	f.versions["lt-1"][4] = "ami-new"
	desired := *f.groups["web"].MixedInstancesPolicy
	lt := *desired.LaunchTemplate
	lt.LaunchTemplateSpecification = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("4")}
	desired.LaunchTemplate = &lt
	f.refreshes = []*astypes.InstanceRefresh{{
		AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress",
		DesiredConfiguration: &astypes.DesiredConfiguration{MixedInstancesPolicy: &desired},
	}}
	ro, err := resolveOnly(t, f, map[string]interface{}{"on_refresh_in_progress": "wait"})
	if err != nil {
		t.Fatal(err)
	}
	if ro.adopted != nil || ro.foreign == nil {
		t.Errorf("adopted %v, foreign %v: want the refresh treated as someone else's", ro.adopted, ro.foreign)
	}
	// The same refresh with the override on our AMI is ours.
	lt.Overrides = []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("c7i.large"), ImageId: aws.String("ami-new")}, {InstanceType: aws.String("m7i.large")}}
	ro, err = resolveOnly(t, f, nil)
	if err != nil || ro.adopted == nil {
		t.Errorf("err = %v, adopted %v: want it adopted", err, ro.adopted)
	}
}

func TestOverrideImageArchitectureIsRefused(t *testing.T) {
	f := newFakeAWS()
	imageOverrideGroup(f)
	f.arch = map[string]ec2types.ArchitectureValues{"ami-old9": ec2types.ArchitectureValuesArm64}
	refusedUnchanged(t, f, nil, "override 1 (c7i.large) of Auto Scaling group (web) runs arm64 AMI ami-old9, and ami-new is x86_64")
}

func TestTemplateAMIUnusedByOverridesIsNotCompared(t *testing.T) {
	// Every override carries an ImageId, so the template's own (arm64) AMI
	// launches nothing and must not block an x86_64 roll-out.
	f := newFakeAWS()
	imageOverrideGroup(f)
	g := f.groups["web"]
	g.MixedInstancesPolicy.LaunchTemplate.Overrides[1].ImageId = aws.String("ami-old9")
	f.groups["web"] = g
	f.arch = map[string]ec2types.ArchitectureValues{"ami-old3": ec2types.ArchitectureValuesArm64}
	if _, err := resolveOnly(t, f, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideImageFromSSMRefusedWithAutoRollback(t *testing.T) {
	f := newFakeAWS()
	imageOverrideGroup(f)
	g := f.groups["web"]
	g.MixedInstancesPolicy.LaunchTemplate.Overrides[0].ImageId = aws.String("resolve:ssm:/app/ami")
	f.groups["web"] = g
	refusedUnchanged(t, f, nil, "launches override 1 (c7i.large) with the SSM parameter resolve:ssm:/app/ami as its image, and AWS cannot roll back to one", "auto_rollback = false")
}

func TestLaunchedImages(t *testing.T) {
	f := newFakeAWS()
	overrideGroup(f) // m7i names lt-2 on version 5
	g := f.groups["web"]
	g.MixedInstancesPolicy.LaunchTemplate.Overrides = append(g.MixedInstancesPolicy.LaunchTemplate.Overrides,
		astypes.LaunchTemplateOverrides{InstanceType: aws.String("m7g.large"), ImageId: aws.String("ami-arm")},
		astypes.LaunchTemplateOverrides{InstanceType: aws.String("c7g.large"), ImageId: aws.String("ami-arm")})
	f.groups["web"] = g
	f.images["ami-old2"], f.images["ami-old3"], f.images["ami-arm"] = ec2types.ImageStateAvailable, ec2types.ImageStateAvailable, ec2types.ImageStateAvailable
	ro, err := resolveOnly(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []launchedImage{
		{"launch template lt-1", "ami-old3"},
		{"launch template lt-2", "ami-old2"},
		{"override 3 (m7g.large)", "ami-arm"},
		{"override 4 (c7g.large)", "ami-arm"},
	}
	if got := ro.launchedImages(); !reflect.DeepEqual(got, want) {
		t.Errorf("launchedImages\n%v\nwant\n%v", got, want)
	}
}

func TestReplaceRootVolumeProblems(t *testing.T) {
	root := []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{}}}
	two := append(root, ec2types.BlockDeviceMapping{DeviceName: aws.String("/dev/xvdb"), Ebs: &ec2types.EbsBlockDevice{}})
	ephemeral := append(root, ec2types.BlockDeviceMapping{DeviceName: aws.String("/dev/sdb"), VirtualName: aws.String("ephemeral0")})
	policy := func(overrides ...astypes.LaunchTemplateOverrides) *astypes.MixedInstancesPolicy {
		return &astypes.MixedInstancesPolicy{LaunchTemplate: &astypes.LaunchTemplate{Overrides: overrides}}
	}
	withImage := astypes.LaunchTemplateOverrides{InstanceType: aws.String("c7i.large"), ImageId: aws.String("ami-1")}
	without := astypes.LaunchTemplateOverrides{InstanceType: aws.String("m7i.large")}
	img := func(m []ec2types.BlockDeviceMapping) *ec2types.Image {
		return &ec2types.Image{ImageId: aws.String("ami-new"), BlockDeviceMappings: m}
	}
	cases := []struct {
		name   string
		mixed  *astypes.MixedInstancesPolicy
		img    *ec2types.Image
		wanted []string
	}{
		{"ready", policy(withImage, withImage), img(root), nil},
		{"instance store beside the root volume", policy(withImage), img(ephemeral), nil},
		{"no policy", nil, img(root), []string{"the group has no mixed instances policy (it names its launch template directly)"}},
		{"no overrides", policy(), img(root), []string{"its mixed instances policy has no overrides, and the AMI to put on the root volumes comes from each override's ImageId"}},
		{"an override without ImageId", policy(withImage, without), img(root), []string{"override 2 (m7i.large) of its mixed instances policy has no ImageId"}},
		{"two without", policy(without, astypes.LaunchTemplateOverrides{}), img(root), []string{"override 1 (m7i.large), override 2 of its mixed instances policy have no ImageId"}},
		{"two volumes", policy(withImage), img(two), []string{"AMI ami-new has 2 EBS volumes (/dev/xvda, /dev/xvdb), and only an AMI with a single root volume can replace one"}},
		{"no EBS", policy(withImage), img(nil), []string{"AMI ami-new has no EBS root volume"}},
		{"everything", nil, img(two), []string{"the group has no mixed instances policy (it names its launch template directly)", "AMI ami-new has 2 EBS volumes (/dev/xvda, /dev/xvdb), and only an AMI with a single root volume can replace one"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := replaceRootVolumeProblems(c.mixed, c.img); !reflect.DeepEqual(got, c.wanted) {
				t.Errorf("got %q\nwant %q", got, c.wanted)
			}
		})
	}
}

func TestReplaceRootVolumeIsCheckedBeforeAnyChange(t *testing.T) {
	rrv := map[string]interface{}{"instance_refresh": map[string]interface{}{"strategy": "ReplaceRootVolume"}}
	f := newFakeAWS()
	f.devices = map[string][]ec2types.BlockDeviceMapping{"ami-new": {{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{}}}}
	refusedUnchanged(t, f, rrv,
		`Auto Scaling group (web) cannot be refreshed with instance_refresh.strategy = "ReplaceRootVolume": the group has no mixed instances policy`,
		`use strategy "Rolling"`)

	f = newFakeAWS()
	imageOverrideGroup(f)
	f.devices = map[string][]ec2types.BlockDeviceMapping{"ami-new": {{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{}}}}
	refusedUnchanged(t, f, rrv, "override 2 (m7i.large) of its mixed instances policy has no ImageId")

	// Every override with an ImageId and a single root volume: it goes,
	// with the new AMI on every override.
	f = newFakeAWS()
	imageOverrideGroup(f)
	g := f.groups["web"]
	g.MixedInstancesPolicy.LaunchTemplate.Overrides[1].ImageId = aws.String("ami-old9")
	f.groups["web"] = g
	f.devices = map[string][]ec2types.BlockDeviceMapping{"ami-new": {{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{}}}}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, rrv)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	s := f.started[0]
	if s.Strategy != astypes.RefreshStrategyReplaceRootVolume {
		t.Errorf("strategy %s", s.Strategy)
	}
	for i, o := range s.DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate.Overrides {
		if aws.ToString(o.ImageId) != "ami-new" {
			t.Errorf("override %d ImageId %s, want ami-new", i+1, aws.ToString(o.ImageId))
		}
	}
}

func TestOneInstanceOutage(t *testing.T) {
	cases := []struct {
		desired    int32
		minH, maxH int
		sent       bool
		outage     bool
		why        string
	}{
		{1, 90, 100, true, true, "AWS may terminate first to meet both bounds"},
		{1, 0, 100, true, true, "terminate first is allowed"},
		{1, 100, 100, true, false, "both bounds cannot hold: an explicit 100 launches first"},
		{1, 100, 100, false, true, "a policy's 100 is not known to count as explicit"},
		{1, 100, 110, true, false, "room for the replacement"},
		{1, 90, 110, false, false, "room for the replacement, from the policy too"},
		{2, 90, 100, true, false, "not one instance"},
		{0, 90, 100, false, false, "nothing to replace"},
	}
	for _, c := range cases {
		if got := oneInstanceOutage(c.desired, c.minH, c.maxH, c.sent); got != c.outage {
			t.Errorf("desired %d, healthy %d%%-%d%% sent %v: outage %v, want %v (%s)", c.desired, c.minH, c.maxH, c.sent, got, c.outage, c.why)
		}
	}
}

func TestOneInstanceWithBothBoundsAt100Rolls(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.DesiredCapacity = aws.Int32(1)
	f.groups["web"] = g
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"min_healthy_percentage": 100, "max_healthy_percentage": 100}})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if pr := f.started[0].Preferences; aws.ToInt32(pr.MaxHealthyPercentage) != 100 || aws.ToInt32(pr.MinHealthyPercentage) != 100 {
		t.Errorf("preferences %d%%-%d%%, want 100%%-100%% sent explicitly", aws.ToInt32(pr.MinHealthyPercentage), aws.ToInt32(pr.MaxHealthyPercentage))
	}
}

func TestOneInstanceRefusalNamesBothWaysOut(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.DesiredCapacity = aws.Int32(1)
	f.groups["web"] = g
	refusedUnchanged(t, f, map[string]interface{}{"instance_refresh": map[string]interface{}{"min_healthy_percentage": 90, "max_healthy_percentage": 100}},
		"Auto Scaling group (web) has one instance and instance_refresh.max_healthy_percentage is 100 with min_healthy_percentage 90: it may be terminated before its replacement is healthy (an outage); set max_healthy_percentage above 100, or both min_healthy_percentage and max_healthy_percentage to 100 (AWS then launches the replacement first)")
}

func TestOperatorIsRefused(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.Operator = &astypes.Operator{Principal: aws.String("eks.amazonaws.com")}
	f.groups["web"] = g
	refusedUnchanged(t, f, nil, "Auto Scaling group (web) is managed by operator eks.amazonaws.com: only that service principal may change the group, so AWS would refuse the instance refresh after the new launch template version was created; roll it out through the service behind eks.amazonaws.com")

	g.Operator = &astypes.Operator{}
	f.groups["web"] = g
	if _, err := resolveOnly(t, f, nil); err != nil {
		t.Errorf("an operator without a principal names nobody: %v", err)
	}
}

func lcInstances(names ...string) []astypes.Instance {
	var out []astypes.Instance
	for i, n := range names {
		out = append(out, astypes.Instance{InstanceId: aws.String("i-" + string(rune('a'+i))), LaunchConfigurationName: aws.String(n), LifecycleState: astypes.LifecycleStateInService})
	}
	return out
}

func TestLaunchConfigurationFleet(t *testing.T) {
	terminating := lcInstances("web-lc-ami-new", "web-lc")
	terminating[1].LifecycleState = astypes.LifecycleStateTerminating
	cases := []struct {
		name              string
		lc, lcImage       string
		instances         []astypes.Instance
		warmPool          bool
		upToDate, warning string
	}{
		{"old AMI, old fleet", "web-lc", "ami-old", lcInstances("web-lc", "web-lc"), false, "", ""},
		{"up to date", "web-lc-ami-new", "ami-new", lcInstances("web-lc-ami-new", "web-lc-ami-new"), false,
			"launch configuration web-lc-ami-new already has ami-new, and all 2 instances run it", ""},
		{"up to date, empty", "web-lc-ami-new", "ami-new", nil, false,
			"launch configuration web-lc-ami-new already has ami-new, and the group has no instances", ""},
		{"terminating instances do not count", "web-lc-ami-new", "ami-new", terminating, false,
			"launch configuration web-lc-ami-new already has ami-new, and the group's one instance runs it", ""},
		{"half done", "web-lc-ami-new", "ami-new", lcInstances("web-lc-ami-new", "web-lc"), false, "",
			"instances i-b do not run launch configuration web-lc-ami-new (with ami-new), and 1 of 2 do: a refresh without a desired configuration cannot skip matching instances, so every instance will be replaced, those already on ami-new too"},
		{"restored after a partial run", "web-lc", "ami-old", lcInstances("web-lc", "web-lc-ami-new"), false, "",
			"instances i-a do not run launch configuration web-lc-ami-new (with ami-new), and 1 of 2 do: a refresh without a desired configuration cannot skip matching instances, so every instance will be replaced, those already on ami-new too"},
		{"warm pool", "web-lc-ami-new", "ami-new", lcInstances("web-lc-ami-new"), true, "",
			"launch configuration web-lc-ami-new already has ami-new, but the group's warm pool instances cannot be checked: a refresh without a desired configuration cannot skip matching instances, so every instance will be replaced, the 1 already on web-lc-ami-new too"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			upToDate, warning := launchConfigurationFleet(c.lc, c.lcImage, "ami-new", c.instances, c.warmPool)
			if upToDate != c.upToDate || warning != c.warning {
				t.Errorf("upToDate %q, warning %q\nwant %q, %q", upToDate, warning, c.upToDate, c.warning)
			}
		})
	}
}

func TestLaunchConfigurationGroupAlreadyOnTheAMIIsUpToDate(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	lc := f.lcs["web-lc"]
	lc.ImageId = aws.String("ami-new")
	f.lcs["web-lc"] = lc
	g := f.groups["web"]
	g.Instances = lcInstances("web-lc", "web-lc")
	f.groups["web"] = g
	ro, err := resolveOnly(t, f, map[string]interface{}{"copy_launch_configuration": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "launch configuration web-lc already has ami-new, and all 2 instances run it"; ro.upToDate != want {
		t.Errorf("upToDate %q, want %q", ro.upToDate, want)
	}

	// One instance still on another launch configuration: not up to date,
	// and a warning that the refresh replaces all.
	g.Instances = lcInstances("web-lc", "web-lc-old")
	f.groups["web"] = g
	ro, err = resolveOnly(t, f, map[string]interface{}{"copy_launch_configuration": true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.upToDate != "" || len(ro.warnings) != 1 || !strings.Contains(ro.warnings[0], "every instance will be replaced") {
		t.Errorf("upToDate %q, warnings %q", ro.upToDate, ro.warnings)
	}
}

func TestLaunchConfigurationUpToDateOnlyWithoutARunningRefresh(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	lc := f.lcs["web-lc"]
	lc.ImageId = aws.String("ami-new")
	f.lcs["web-lc"] = lc
	g := f.groups["web"]
	g.Instances = lcInstances("web-lc")
	f.groups["web"] = g
	f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("ours"), Status: "Baking"}}
	ro, err := resolveOnly(t, f, map[string]interface{}{"copy_launch_configuration": true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.adopted == nil || ro.upToDate != "" {
		t.Errorf("adopted %v, upToDate %q: a running refresh of ours is followed, not skipped", ro.adopted, ro.upToDate)
	}
}
