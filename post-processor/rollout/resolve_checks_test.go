package rollout

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
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

func TestOneInstanceOutage(t *testing.T) {
	cases := []struct {
		desired    int32
		minH, maxH int
		outage     bool
		why        string
	}{
		{1, 90, 100, true, "AWS may terminate first to meet both bounds"},
		{1, 0, 100, true, "terminate first is allowed"},
		{1, 100, 100, false, "both bounds cannot hold: an explicit 100 launches first"},
		{1, 100, 110, false, "room for the replacement"},
		{1, 90, 110, false, "room for the replacement"},
		{2, 90, 100, false, "not one instance"},
		{0, 90, 100, false, "nothing to replace"},
	}
	for _, c := range cases {
		if got := oneInstanceOutage(c.desired, c.minH, c.maxH); got != c.outage {
			t.Errorf("desired %d, healthy %d%%-%d%%: outage %v, want %v (%s)", c.desired, c.minH, c.maxH, got, c.outage, c.why)
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
