package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func policy(minH, maxH int32) *astypes.InstanceMaintenancePolicy {
	return &astypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(minH), MaxHealthyPercentage: aws.Int32(maxH)}
}

func withPolicy(f *fakeAWS, p *astypes.InstanceMaintenancePolicy) {
	g := f.groups["web"]
	g.InstanceMaintenancePolicy = p
	f.groups["web"] = g
}

// TestHealthyFor: the group's policy applies exactly when neither bound is
// set; setting one overrides the policy, the other taking the plugin's
// default; a cleared policy (-1) is no policy.
func TestHealthyFor(t *testing.T) {
	cases := []struct {
		name     string
		refresh  map[string]interface{}
		policy   *astypes.InstanceMaintenancePolicy
		min, max int
		send     bool
		line     string
	}{
		{"no policy, nothing set", nil, nil, 100, 110, true,
			"min healthy 100% / max 110%, this plugin's defaults (the group has no instance maintenance policy)"},
		{"policy, nothing set", nil, policy(90, 120), 90, 120, false,
			"min healthy 90% / max 120% from the group's instance maintenance policy"},
		{"policy of terminate and launch", nil, policy(90, 100), 90, 100, false,
			"min healthy 90% / max 100% from the group's instance maintenance policy"},
		{"cleared policy", nil, policy(-1, -1), 100, 110, true,
			"this plugin's defaults (the group has no instance maintenance policy)"},
		{"half a policy", nil, &astypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(90)}, 100, 110, true,
			"this plugin's defaults"},
		{"both set override the policy", map[string]interface{}{"min_healthy_percentage": 50, "max_healthy_percentage": 150}, policy(90, 120), 50, 150, true,
			"min healthy 50% / max 150% as configured, overriding the group's instance maintenance policy (90% / 120%)"},
		{"min set overrides the policy, max by default", map[string]interface{}{"min_healthy_percentage": 100}, policy(0, 100), 100, 110, true,
			"min healthy 100% / max 110% as configured, overriding"},
		{"max set, min by default", map[string]interface{}{"max_healthy_percentage": 200}, nil, 100, 200, true,
			"min healthy 100% / max 200% as configured"},
		{"set to the defaults still overrides the policy", map[string]interface{}{"min_healthy_percentage": 100, "max_healthy_percentage": 110}, policy(90, 120), 100, 110, true,
			"as configured, overriding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := map[string]interface{}{"target": target()}
			if c.refresh != nil {
				raw["instance_refresh"] = c.refresh
			}
			var cfg Config
			if err := cfg.Prepare(raw); err != nil {
				t.Fatal(err)
			}
			h := cfg.InstanceRefresh.healthyFor(c.policy)
			if h.min != c.min || h.max != c.max || h.send() != c.send {
				t.Errorf("healthy %d%%-%d%% sent %v, want %d%%-%d%% sent %v", h.min, h.max, h.send(), c.min, c.max, c.send)
			}
			if !strings.Contains(h.String(), c.line) {
				t.Errorf("start line part %q, want it to contain %q", h.String(), c.line)
			}
			p := cfg.InstanceRefresh.Preferences(0, h)
			if sent := p.MinHealthyPercentage != nil || p.MaxHealthyPercentage != nil; sent != c.send {
				t.Errorf("preferences carry healthy percentages %v, want %v", sent, c.send)
			}
			if c.send && (aws.ToInt32(p.MinHealthyPercentage) != int32(c.min) || aws.ToInt32(p.MaxHealthyPercentage) != int32(c.max)) {
				t.Errorf("sent %d%%-%d%%, want %d%%-%d%%", aws.ToInt32(p.MinHealthyPercentage), aws.ToInt32(p.MaxHealthyPercentage), c.min, c.max)
			}
		})
	}
}

// TestGroupPolicyIsLeftToAWS: a group with an instance maintenance policy,
// and nothing set here, is refreshed without healthy percentages (AWS then
// applies the policy), everything else still explicit, and the start line
// says whose percentages they are.
func TestGroupPolicyIsLeftToAWS(t *testing.T) {
	f := newFakeAWS()
	withPolicy(f, policy(90, 120))
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	pr := f.started[0].Preferences
	if pr.MinHealthyPercentage != nil || pr.MaxHealthyPercentage != nil {
		t.Errorf("sent healthy %d%%-%d%%, overriding the group's policy", aws.ToInt32(pr.MinHealthyPercentage), aws.ToInt32(pr.MaxHealthyPercentage))
	}
	if aws.ToInt32(pr.InstanceWarmup) != 120 || !aws.ToBool(pr.AutoRollback) || !aws.ToBool(pr.SkipMatching) {
		t.Errorf("the other preferences are no longer explicit: %+v", pr)
	}
	if !said(ui, "(min healthy 90% / max 120% from the group's instance maintenance policy, warm-up 120s, auto rollback)") {
		t.Errorf("start line does not say the policy applies: %v", messages(ui))
	}
}

// TestConfiguredBoundsOverrideGroupPolicy: bounds set here are sent, and
// the start line says they override the group's policy.
func TestConfiguredBoundsOverrideGroupPolicy(t *testing.T) {
	f := newFakeAWS()
	withPolicy(f, policy(90, 120))
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"min_healthy_percentage": 100}})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	pr := f.started[0].Preferences
	if aws.ToInt32(pr.MinHealthyPercentage) != 100 || aws.ToInt32(pr.MaxHealthyPercentage) != 110 {
		t.Errorf("sent healthy %v-%v, want 100-110", pr.MinHealthyPercentage, pr.MaxHealthyPercentage)
	}
	if !said(ui, "min healthy 100% / max 110% as configured, overriding the group's instance maintenance policy (90% / 120%)") {
		t.Errorf("start line does not say the policy is overridden: %v", messages(ui))
	}
}

// TestOneInstanceCheckUsesGroupPolicy: the one-instance rule reasons about
// the percentages the refresh will run with: a policy that terminates
// first is refused with a fix that fits it, and one with room above 100
// rolls, the plugin's own maximum notwithstanding.
func TestOneInstanceCheckUsesGroupPolicy(t *testing.T) {
	oneInstance := func(p *astypes.InstanceMaintenancePolicy) *fakeAWS {
		f := newFakeAWS()
		g := f.groups["web"]
		g.DesiredCapacity = aws.Int32(1)
		f.groups["web"] = g
		withPolicy(f, p)
		return f
	}
	refusedUnchanged(t, oneInstance(policy(90, 100)), nil,
		"Auto Scaling group (web) has one instance and its instance maintenance policy has min healthy 90% and max healthy 100%: it may be terminated before its replacement is healthy (an outage); set instance_refresh.max_healthy_percentage above 100, or both min_healthy_percentage and max_healthy_percentage to 100 (either overrides the policy for this refresh; AWS then launches the replacement first), or give the group a policy with a maximum above 100")
	// A policy's maximum of 100 is not known to launch first, as one sent
	// in the request does.
	refusedUnchanged(t, oneInstance(policy(100, 100)), nil, "has one instance and its instance maintenance policy has min healthy 100% and max healthy 100%")
	f100 := oneInstance(policy(100, 100))
	p100 := newTestPP(t, map[string]*fakeAWS{"us-east-1": f100}, map[string]interface{}{"instance_refresh": map[string]interface{}{"min_healthy_percentage": 100, "max_healthy_percentage": 100}})
	if _, _, _, err := p100.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("both at 100, sent over the policy, refused: %v", err)
	}

	// Overridden here, the policy no longer counts.
	f := oneInstance(policy(90, 100))
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"max_healthy_percentage": 200}})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("a maximum of 200 set over the policy refused: %v", err)
	}

	f = oneInstance(policy(100, 200))
	p = newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("a policy that launches first refused: %v", err)
	}
	if pr := f.started[0].Preferences; pr.MinHealthyPercentage != nil || pr.MaxHealthyPercentage != nil {
		t.Errorf("healthy percentages sent over the group's policy: %+v", pr)
	}
}

// TestPolicyChangedBeforeLaterWaveIsUsed: a later wave reads its group
// again, and a policy set meanwhile is what its refresh runs with.
func TestPolicyChangedBeforeLaterWaveIsUsed(t *testing.T) {
	p, east, west := twoWaves(t, nil)
	east.onPoll = func(n int) {
		if n == 1 {
			west.mu.Lock()
			withPolicy(west, policy(50, 150))
			west.mu.Unlock()
		}
	}
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact(twoRegions)); err != nil {
		t.Fatal(err)
	}
	if pr := west.started[0].Preferences; pr.MinHealthyPercentage != nil || pr.MaxHealthyPercentage != nil {
		t.Errorf("wave 2 sent healthy %v-%v over the policy set meanwhile", pr.MinHealthyPercentage, pr.MaxHealthyPercentage)
	}
	if pr := east.started[0].Preferences; aws.ToInt32(pr.MinHealthyPercentage) != 100 || aws.ToInt32(pr.MaxHealthyPercentage) != 110 {
		t.Errorf("wave 1, without a policy, sent %v-%v, want the defaults 100-110", pr.MinHealthyPercentage, pr.MaxHealthyPercentage)
	}
	if !said(ui, "its refresh would have run with min healthy 100% / max 110%, this plugin's defaults (the group has no instance maintenance policy) and now runs with min healthy 50% / max 150% from the group's instance maintenance policy") {
		t.Errorf("the change is not reported: %v", messages(ui))
	}
}
