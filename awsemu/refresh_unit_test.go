package awsemu

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// AWS sizes batches from the desired capacity: MinHealthyPercentage bounds
// how many may be out of service, MaxHealthyPercentage how many may be
// launched on top, and at least one instance is replaced at a time.
func TestPlanBatch(t *testing.T) {
	for _, tc := range []struct {
		desired, min, max, remaining int
		want                         batchPlan
	}{
		{4, 90, 0, 4, batchPlan{Size: 1, TerminateFirst: 1}},      // the API default: one at a time
		{4, 50, 0, 4, batchPlan{Size: 2, TerminateFirst: 2}},      // half may be out
		{4, 100, 150, 4, batchPlan{Size: 2, TerminateFirst: 0}},   // launch two before terminating
		{4, 50, 150, 4, batchPlan{Size: 4, TerminateFirst: 2}},    // both at once
		{1, 100, 110, 1, batchPlan{Size: 1, TerminateFirst: 0}},   // one instance: launch first, no outage
		{1, 90, 100, 1, batchPlan{Size: 1, TerminateFirst: 0}},    // an explicit maximum of 100 launches first
		{1, 90, 0, 1, batchPlan{Size: 1, TerminateFirst: 1}},      // no maximum: terminate first, an outage
		{15, 100, 110, 15, batchPlan{Size: 1, TerminateFirst: 0}}, // the maximum is a cap: 16, not 17
		{3, 100, 150, 3, batchPlan{Size: 1, TerminateFirst: 0}},   // 4 of 3 at most: one launched first
		{10, 0, 100, 3, batchPlan{Size: 3, TerminateFirst: 3}},    // never more than what is left
		{0, 90, 0, 2, batchPlan{Size: 1, TerminateFirst: 1}},
	} {
		if got := planBatch(tc.desired, tc.min, tc.max, tc.remaining); got != tc.want {
			t.Errorf("planBatch(desired %d, min %d, max %d, left %d) = %+v, want %+v", tc.desired, tc.min, tc.max, tc.remaining, got, tc.want)
		}
	}
}

func TestCheckpointCount(t *testing.T) {
	for _, tc := range []struct{ total, pct, want int }{{4, 50, 2}, {3, 50, 2}, {10, 25, 3}, {4, 100, 4}, {1, 1, 1}} {
		if got := checkpointCount(tc.total, tc.pct); got != tc.want {
			t.Errorf("checkpointCount(%d, %d) = %d, want %d", tc.total, tc.pct, got, tc.want)
		}
	}
}

// The API's defaults, not the console's: MinHealthyPercentage 90, Wait for
// protected and Standby instances, CheckpointDelay 3600 once checkpoints are
// set.
func TestPreferencesDefaults(t *testing.T) {
	p, err := parsePreferences(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if p.MinHealthy != 90 || p.MaxHealthy != 0 || p.ScaleInProtected != "Wait" || p.Standby != "Wait" || p.SkipMatching || p.AutoRollback || p.InstanceWarmup != nil {
		t.Errorf("defaults %+v", p)
	}
	p, err = parsePreferences(url.Values{"Preferences.CheckpointPercentages.member.1": {"25"}, "Preferences.CheckpointPercentages.member.2": {"100"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.CheckpointDelay == nil || *p.CheckpointDelay != 3600 || len(p.Checkpoints) != 2 {
		t.Errorf("checkpoint defaults %+v", p)
	}
	if _, err := parsePreferences(url.Values{"Preferences.StandbyInstances": {"Refresh"}}); err == nil {
		t.Error("StandbyInstances=Refresh was accepted")
	}
}

func TestDurationJSON(t *testing.T) {
	var f Fault
	if err := json.Unmarshal([]byte(`{"kind":"slow","delay":"1.5s"}`), &f); err != nil || time.Duration(f.Delay) != 1500*time.Millisecond {
		t.Errorf("decoded %+v, %v", f, err)
	}
	data, err := json.Marshal(Fault{Kind: FaultSlow, Delay: Duration(2 * time.Second)})
	if err != nil || string(data) != `{"service":"","action":"","kind":"slow","rate":0,"count":0,"delay":"2s"}` {
		t.Errorf("encoded %s, %v", data, err)
	}
	if err := json.Unmarshal([]byte(`{"delay":"soon"}`), &f); err == nil {
		t.Error("a bad duration was accepted")
	}
}

func TestFaultMatchingAndCount(t *testing.T) {
	fs := newFaultSet()
	fs.add(Fault{Service: "ec2", Action: "RunInstances", Kind: FaultDrop, Count: 2})
	if _, ok := fs.pick("autoscaling", "RunInstances"); ok {
		t.Error("fault for ec2 matched autoscaling")
	}
	if _, ok := fs.pick("ec2", "TerminateInstances"); ok {
		t.Error("fault for RunInstances matched TerminateInstances")
	}
	for i := range 2 {
		if f, ok := fs.pick("ec2", "RunInstances"); !ok || f.Kind != FaultDrop {
			t.Errorf("application %d did not match", i+1)
		}
	}
	if _, ok := fs.pick("ec2", "RunInstances"); ok {
		t.Error("a Count 2 fault applied a third time")
	}
	fs.add(Fault{Kind: "bogus"})
	if _, ok := fs.pick("ec2", "RunInstances"); ok {
		t.Error("a fault of unknown kind applied")
	}
}
