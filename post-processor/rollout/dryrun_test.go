package rollout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// changingCalls reports the calls among calls that may change something: every
// call but Describe*, Get*, List* and DryRun ones.
func changingCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "Describe") || strings.HasPrefix(c, "Get") || strings.HasPrefix(c, "List") || strings.HasSuffix(c, "(DryRun)") {
			continue
		}
		out = append(out, c)
	}
	return out
}

func instances(n int) []astypes.Instance {
	var out []astypes.Instance
	for i := range n {
		out = append(out, astypes.Instance{InstanceId: aws.String("i-" + string(rune('a'+i))), LifecycleState: astypes.LifecycleStateInService})
	}
	return out
}

func TestDryRunPlansAndChangesNothing(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.Instances = instances(4)
	g.Instances = append(g.Instances, astypes.Instance{InstanceId: aws.String("i-s"), LifecycleState: astypes.LifecycleStateStandby})
	f.groups["web"] = g
	planFile := filepath.Join(t.TempDir(), "plan.json")
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"dry_run":   true,
		"plan_file": planFile,
		"instance_refresh": map[string]interface{}{
			"instance_warmup":        "2m",
			"checkpoint_percentages": []int{50, 100},
			"checkpoint_delay":       "10m",
			"bake_time":              "5m",
			"standby_instances":      "Ignore",
		},
	})
	ui := &packersdk.MockUi{}
	art, keep, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if !keep {
		t.Error("keep = false: Packer would destroy the AMI after a dry run")
	}
	if w := changingCalls(f.calls); len(w) > 0 {
		t.Errorf("a dry run made calls that change things: %v (all calls: %v)", w, f.calls)
	}
	if len(f.created) != 0 || len(f.started) != 0 || len(f.protected) != 0 {
		t.Errorf("created %d versions, started %d refreshes, protected %v", len(f.created), len(f.started), f.protected)
	}
	if got := art.State("rollouts").([]map[string]string)[0]["outcome"]; got != "not started" {
		t.Errorf("artifact outcome %q, want not started", got)
	}

	out := ui.SayMessages
	var said strings.Builder
	for _, m := range out {
		said.WriteString(m.Message + "\n")
	}
	for _, want := range []string{
		"Dry run: nothing was changed",
		"would create version 4 of lt-1 from version 3, ImageId ami-old3 → ami-new",
		"min healthy 100% / max 110% (defaults)",
		"refresh: 4 batches of 1 instance (4 instance(s) of desired 4; 1 left alone)",
		"at least 4 in service, at most 5 instances",
		"duration: about 23m0s", // 4 warm-ups of 2m, one 10m pause at 50, 5m bake
		"AWS would roll the group back to version 3 of lt-1 (auto rollback)",
	} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, said.String())
		}
	}

	js, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan dryRunPlan
	if err := json.Unmarshal(js, &plan); err != nil {
		t.Fatalf("plan file: %v\n%s", err, js)
	}
	if !plan.DryRun || len(plan.Groups) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	gp := plan.Groups[0]
	if len(gp.Refresh.Batches) != 4 || gp.Refresh.EstimatedSeconds != 23*60 || gp.Refresh.Batches[1].Checkpoint != 50 || gp.Refresh.Batches[1].PauseSeconds != 600 {
		t.Errorf("refresh %+v", gp.Refresh)
	}
	if gp.Templates[0].NewVersion != 4 || gp.Preferences.HealthySource != "defaults" || !gp.Preferences.HealthySent {
		t.Errorf("templates %+v, preferences %+v", gp.Templates, gp.Preferences)
	}
}

// A group with an instance maintenance policy: the plan says the policy's
// percentages apply, and sizes the batches with them.
func TestDryRunWithPolicy(t *testing.T) {
	f := newFakeAWS()
	g := f.groups["web"]
	g.Instances = instances(4)
	g.InstanceMaintenancePolicy = &astypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(50), MaxHealthyPercentage: aws.Int32(150)}
	f.groups["web"] = g
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"dry_run": true})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	var said strings.Builder
	for _, m := range ui.SayMessages {
		said.WriteString(m.Message + "\n")
	}
	for _, want := range []string{
		"min healthy 50% / max 150% (instance maintenance policy, not sent",
		"refresh: 1 batch of 4 instances",
		"at least 2 in service, at most 6 instances",
	} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, said.String())
		}
	}
	if w := changingCalls(f.calls); len(w) > 0 {
		t.Errorf("a dry run made calls that change things: %v", w)
	}
}

// A check that refuses still fails a dry run, and nothing is planned.
func TestDryRunStillRefuses(t *testing.T) {
	f := newFakeAWS()
	delete(f.groups, "web")
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"dry_run": true})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v, want the missing group", err)
	}
	if w := changingCalls(f.calls); len(w) > 0 {
		t.Errorf("a dry run made calls that change things: %v", w)
	}
}

func TestPlanFileNeedsDryRun(t *testing.T) {
	var c Config
	err := c.Prepare(map[string]interface{}{"plan_file": "plan.json", "target": []map[string]interface{}{{"auto_scaling_group": "web"}}})
	if err == nil || !strings.Contains(err.Error(), "plan_file: needs dry_run") {
		t.Errorf("err = %v", err)
	}
}

// sayings joins what ui was told.
func sayings(ui *packersdk.MockUi) string {
	var b strings.Builder
	for _, m := range ui.SayMessages {
		b.WriteString(m.Message + "\n")
	}
	return b.String()
}

// A group on a launch configuration: the plan names the copy, and neither
// the copy nor the group's update is made.
func TestDryRunLaunchConfiguration(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	g := f.groups["web"]
	g.Instances = instances(2)
	f.groups["web"] = g
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"dry_run": true, "copy_launch_configuration": true})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	said := sayings(ui)
	for _, want := range []string{
		"launch configuration: would copy web-lc as web-lc-ami-new with ImageId ami-old3 → ami-new",
		"auto rollback false",
		"would put launch configuration web-lc back on the group",
		"refresh: 2 batches of 1 instance",
	} {
		if !strings.Contains(said, want) {
			t.Errorf("output lacks %q:\n%s", want, said)
		}
	}
	if w := changingCalls(f.calls); len(w) > 0 {
		t.Errorf("a dry run made calls that change things: %v", w)
	}
}

// A refresh of someone else's: the plan says what on_refresh_in_progress
// would do, and nothing waits for or cancels it.
func TestDryRunForeignRefresh(t *testing.T) {
	for _, policy := range []string{"wait", "cancel"} {
		t.Run(policy, func(t *testing.T) {
			f := newFakeAWS()
			f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress"}}
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"dry_run": true, "on_refresh_in_progress": policy})
			ui := &packersdk.MockUi{}
			if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
				t.Fatalf("PostProcess: %v", err)
			}
			want := map[string]string{
				"wait":   "refresh in progress: refresh theirs (not this build's) is InProgress: the roll-out would wait for it to end",
				"cancel": "refresh in progress: refresh theirs (not this build's) is InProgress: it would be cancelled",
			}[policy]
			if said := sayings(ui); !strings.Contains(said, want) {
				t.Errorf("output lacks %q:\n%s", want, said)
			}
			if w := changingCalls(f.calls); len(w) > 0 {
				t.Errorf("a dry run made calls that change things: %v", w)
			}
		})
	}
}
