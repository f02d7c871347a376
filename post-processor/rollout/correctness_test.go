package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// Tests of what an independent review found: roll-outs that reported
// success on a fleet not on the new AMI, or undid someone else's change.

// twoWaves is a post-processor rolling web in us-east-1 (wave 1), then web
// in us-west-2 (wave 2).
func twoWaves(t *testing.T, extra map[string]interface{}) (p *PostProcessor, east, west *fakeAWS) {
	t.Helper()
	east, west = newFakeAWS(), newFakeAWS()
	west.images = map[string]ec2types.ImageState{"ami-west": ec2types.ImageStateAvailable}
	raw := map[string]interface{}{
		"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1", "wave": 1},
			{"auto_scaling_group": "web", "region": "us-west-2", "wave": 2},
		},
	}
	for k, v := range extra {
		raw[k] = v
	}
	return newTestPP(t, map[string]*fakeAWS{"us-east-1": east, "us-west-2": west}, raw), east, west
}

const twoRegions = "us-east-1:ami-new,us-west-2:ami-west"

// moveDuringWave1 has someone point west's group at version ref while
// east's refresh (wave 1) runs.
func moveDuringWave1(east, west *fakeAWS, ref string) {
	east.onPoll = func(n int) {
		if n == 1 {
			west.mu.Lock()
			west.groups["web"] = withVersion(west.groups["web"], ref)
			west.mu.Unlock()
		}
	}
}

// cancelAtPoll returns a context that is cancelled, as by Ctrl-C, during
// the n-th poll of a watched refresh.
func cancelAtPoll(t *testing.T, f *fakeAWS, n int) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.onPoll = func(i int) {
		if i == n {
			cancel()
		}
	}
	return ctx
}

func TestLaterWaveRollsFromWhatItsGroupRunsNow(t *testing.T) {
	p, east, west := twoWaves(t, nil)
	// While wave 1 runs, someone moves the wave-2 group to version 2 (say,
	// another instance type).
	moveDuringWave1(east, west, "2")
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact(twoRegions)); err != nil {
		t.Fatal(err)
	}
	if len(west.created) != 1 || aws.ToString(west.created[0].SourceVersion) != "2" {
		t.Fatalf("wave 2 copied version %v, want the version its group runs now (2)", sourceVersions(west))
	}
	if !said(ui, "changed since it was first read: it launched version 3 of lt-1 (ami-old3) and now launches version 2 of lt-1 (ami-old2)") {
		t.Errorf("the change is not reported: %v", messages(ui))
	}
}

func TestLaterWaveRefusedWhenItsGroupNoLongerQualifies(t *testing.T) {
	p, east, west := twoWaves(t, nil)
	moveDuringWave1(east, west, "$Latest")
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact(twoRegions))
	if err == nil || !strings.Contains(err.Error(), "cannot roll back to $Latest") || !strings.Contains(err.Error(), "reading the group again") {
		t.Fatalf("err = %v, want the re-read group refused", err)
	}
	if len(west.created)+len(west.started) != 0 {
		t.Errorf("wave 2 was changed: %v", west.calls)
	}
}

func sourceVersions(f *fakeAWS) []string {
	var vs []string
	for _, c := range f.created {
		vs = append(vs, aws.ToString(c.SourceVersion))
	}
	return vs
}

func TestWaitPolicyRollsFromWhatTheOtherRefreshLeft(t *testing.T) {
	f := newFakeAWS()
	f.refreshes = []*astypes.InstanceRefresh{{
		AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress",
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("1")}},
	}}
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Successful"}
	// AWS writes the other refresh's desired configuration onto the group
	// when it succeeds.
	f.onPoll = func(n int) {
		if n == 2 {
			f.mu.Lock()
			f.groups["web"] = withVersion(f.groups["web"], "1")
			f.mu.Unlock()
		}
	}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"on_refresh_in_progress": "wait"})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if v := sourceVersions(f); len(v) != 1 || v[0] != "1" {
		t.Errorf("versions created from %v, want one from version 1, which the other refresh left", v)
	}
}

func TestCancelPolicyNeverCancelsARollback(t *testing.T) {
	f := newFakeAWS()
	theirs := &astypes.InstanceRefresh{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "RollbackInProgress"}
	f.refreshes = []*astypes.InstanceRefresh{theirs}
	f.settled["theirs"] = true // it ends RollbackSuccessful at the next poll
	f.script = []astypes.InstanceRefreshStatus{"Successful"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"on_refresh_in_progress": "cancel"})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if n := f.count("CancelInstanceRefresh"); n != 0 {
		t.Errorf("a rollback was cancelled (%d calls): that leaves the group half-way back", n)
	}
	if !said(ui, "not cancelling that; waiting for it to end") || len(f.started) != 1 {
		t.Errorf("want a wait, then one start: %v", messages(ui))
	}
}

func TestOwnRefreshRollingBackIsNotAdopted(t *testing.T) {
	for _, status := range []astypes.InstanceRefreshStatus{"RollbackInProgress", "Cancelling"} {
		t.Run(string(status), func(t *testing.T) {
			f := newFakeAWS()
			f.versions["lt-1"][4] = "ami-new"
			f.refreshes = []*astypes.InstanceRefresh{{
				AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("earlier"), Status: status,
				DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("4")}},
			}}
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
			_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err == nil || !strings.Contains(err.Error(), "earlier") || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("err = %v, want a refresh on its way back refused, not reported as this build's", err)
			}
		})
	}
}

func TestLaterWaveNotStartedWithoutTimeLeft(t *testing.T) {
	// The group's warm-up is 2 minutes: with a 1-minute timeout a second
	// wave would be rolled back the moment it started.
	p, _, west := twoWaves(t, map[string]interface{}{"timeout": "1m"})
	ui := &packersdk.MockUi{}
	_, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact(twoRegions))
	if err == nil || !strings.Contains(err.Error(), "wave 2 would need at least 2m0s") || !strings.Contains(err.Error(), "nothing was changed in: web (us-west-2)") {
		t.Fatalf("err = %v, want wave 2 refused for lack of time", err)
	}
	if len(west.calls) == 0 || len(west.created)+len(west.started) != 0 {
		t.Errorf("wave 2 was changed: %v", west.calls)
	}
}

func TestInterruptAfterWaveOneSucceeded(t *testing.T) {
	p, east, west := twoWaves(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	east.onPoll = func(n int) {
		if n == len(east.script) {
			cancel() // Ctrl-C just as wave 1 succeeds
		}
	}
	art, _, _, err := p.PostProcess(ctx, &packersdk.MockUi{}, amiArtifact(twoRegions))
	if err == nil {
		t.Fatal("an interrupted roll-out must fail the build")
	}
	msg := err.Error()
	if !strings.Contains(msg, "interrupted after wave 1 succeeded") || !strings.Contains(msg, "nothing was changed in: web (us-west-2)") {
		t.Errorf("err = %q, want the interruption between waves", msg)
	}
	for _, wrong := range []string{"before any refresh started", "did not succeed", "%!"} {
		if strings.Contains(msg, wrong) {
			t.Errorf("err = %q says %q", msg, wrong)
		}
	}
	if len(west.created)+len(west.started) != 0 {
		t.Errorf("wave 2 was changed: %v", west.calls)
	}
	if r := art.(*Artifact).Results; r[0].Outcome != "succeeded" || r[1].Outcome != "not started" {
		t.Errorf("outcomes %q and %q, want succeeded and not started", r[0].Outcome, r[1].Outcome)
	}
}

func TestInterruptBeforeTheRefreshIsListed(t *testing.T) {
	f := newFakeAWS()
	f.hideNew = 3 // Describe misses the new refresh for three calls
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onStart = func(*astypes.InstanceRefresh) { cancel() } // Ctrl-C as the start is answered
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(ctx, ui, amiArtifact("us-east-1:ami-new"))
	if err == nil || strings.Contains(err.Error(), "already ended") {
		t.Fatalf("err = %v: a refresh not listed yet was taken for ended", err)
	}
	if n := f.count("RollbackInstanceRefresh"); n != 1 {
		t.Errorf("RollbackInstanceRefresh called %d times, want once, by the refresh's id", n)
	}
	if !said(ui, "not listed yet") || !strings.Contains(err.Error(), "ended RollbackSuccessful") {
		t.Errorf("err = %v; output %v", err, messages(ui))
	}
	if r := art.(*Artifact).Results[0]; r.Status != "RollbackSuccessful" || r.Outcome != "rolled back" {
		t.Errorf("summary %s / %s, want the rollback's end", r.Status, r.Outcome)
	}
}

func TestLostRollbackAnswerIsConfirmed(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress"}
	f.rollbackErr = lostAnswer{}
	f.stuckRollback = true
	ctx := cancelAtPoll(t, f, 2) // Ctrl-C mid-refresh
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	p.followFor = 50 * time.Millisecond
	_, _, _, err := p.PostProcess(ctx, &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "rollback of instance refresh refresh-1 under way") {
		t.Fatalf("err = %v, want the lost answer seen through", err)
	}
	if !strings.Contains(err.Error(), "is still RollbackInProgress after 50ms: it goes on without this build") {
		t.Errorf("err = %v, want a rollback that outlasts the follow said to go on", err)
	}
	if len(f.protected) != 1 {
		t.Errorf("a rollback still under way leaves replaced instances on the AMI, protected %v", f.protected)
	}
}

func TestInterruptDuringRollbackFollowsItToItsEnd(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress"}
	ctx := cancelAtPoll(t, f, 2) // Ctrl-C mid-refresh
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	art, _, _, err := p.PostProcess(ctx, &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "ended RollbackSuccessful: rolled back: the group is on version 3 of lt-1 again") {
		t.Fatalf("err = %v, want the rollback followed to its end", err)
	}
	if r := art.(*Artifact).Results[0]; r.Status != "RollbackSuccessful" || r.Outcome != "rolled back" {
		t.Errorf("summary says %s / %s after the rollback ended", r.Status, r.Outcome)
	}
	if len(f.protected) != 0 {
		t.Errorf("a fleet back on its old AMI needs no protected AMI: %v", f.protected)
	}
}

func TestStartAnswerWithoutAnID(t *testing.T) {
	t.Run("no refresh began", func(t *testing.T) {
		f := newFakeAWS()
		f.startNoID, f.startNothing = true, true
		p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
		art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
		if err == nil || !strings.Contains(err.Error(), "without a refresh id") {
			t.Fatalf("err = %v: an answer without a refresh id is not a success", err)
		}
		if len(f.protected) != 1 {
			t.Errorf("whether a refresh began is unknown, so the AMI must be kept: protected %v", f.protected)
		}
		if strings.Contains(err.Error(), "no refresh was started") {
			t.Errorf("err = %v: says no refresh was started, which is not known", err)
		}
		if r := art.(*Artifact).Results[0]; r.Status != "Unknown" || r.Outcome != "may still be running" {
			t.Errorf("summary %s / %s, want Unknown / may still be running", r.Status, r.Outcome)
		}
	})
	t.Run("a refresh began", func(t *testing.T) {
		f := newFakeAWS()
		f.startNoID = true
		f.onStart = func(r *astypes.InstanceRefresh) { r.StartTime = aws.Time(p0()) }
		p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
		art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
		if err != nil {
			t.Fatal(err)
		}
		if r := art.(*Artifact).Results[0]; r.InstanceRefreshID != "refresh-1" || r.Status != "Successful" {
			t.Errorf("artifact %+v, want refresh-1 found and followed to Successful", r)
		}
	})
}

// p0 is a start time just now, as AWS would stamp it.
func p0() time.Time { return time.Now() }

func TestOnFailureRollbackGoesBackWithoutAlarmsOrBakeTime(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"on_failure": "rollback",
		"instance_refresh": map[string]interface{}{
			"auto_rollback": false, "alarms": []string{"deploy-errors"}, "bake_time": "10m",
			"checkpoint_percentages": []int{50, 100}, "checkpoint_delay": "5m",
		},
	})
	f.onPoll = func(int) {
		f.mu.Lock()
		if len(f.started) == 2 {
			f.script = []astypes.InstanceRefreshStatus{"Successful"}
		}
		f.mu.Unlock()
	}
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || len(f.started) != 2 {
		t.Fatalf("err = %v, %d starts: want the failure and one refresh back", err, len(f.started))
	}
	back := f.started[1].Preferences
	if back.AlarmSpecification != nil || aws.ToInt32(back.BakeTime) != 0 || back.CheckpointPercentages != nil {
		t.Errorf("the refresh back carries the deploy's alarms %v, bake %d or checkpoints %v: the alarm that failed the deploy would fail it too",
			back.AlarmSpecification, aws.ToInt32(back.BakeTime), back.CheckpointPercentages)
	}
	if r := art.(*Artifact).Results[0]; r.Outcome != "rolled back" {
		t.Errorf("outcome %q after a successful refresh back, want rolled back", r.Outcome)
	}
}

func TestPollsShareTheBudgetOfTheirAccountAndRegion(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"polls_per_second": 50})
	var budgets []*instancerefresh.Budget
	// Runs after the roller sets the budget, before the test's own option
	// takes it away again.
	p.waitOptions = append([]func(*instancerefresh.InstanceRefreshCompleteWaiterOptions){
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) { budgets = append(budgets, o.Budget) },
	}, p.waitOptions...)
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if len(budgets) == 0 || budgets[0] == nil {
		t.Fatalf("waits got budgets %v, want the shared one", budgets)
	}
}

func TestForeignRefreshInAnUnknownStatusIsNotCalledEnded(t *testing.T) {
	f := newFakeAWS()
	f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress"}}
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "Paused"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"on_refresh_in_progress": "wait"})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), `reports status "Paused"`) || len(f.started) != 0 {
		t.Fatalf("err = %v, %d starts: want no start after another refresh's unknown status", err, len(f.started))
	}
}

func TestLaunchConfigurationGroupReadAgainAfterARefreshGotIn(t *testing.T) {
	f := newFakeAWS()
	lcGroup(f)
	// Someone starts a refresh between our setting the copy and our start.
	f.onUpdate = func() {
		if f.count0("StartInstanceRefresh") == 0 && len(f.refreshes) == 0 {
			f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress"}}
		}
	}
	f.script = []astypes.InstanceRefreshStatus{"Failed"} // theirs, then ours
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"copy_launch_configuration": true, "on_refresh_in_progress": "wait",
	})
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err == nil {
		t.Fatal("our refresh failed: the build must fail")
	}
	if lc := aws.ToString(f.groups["web"].LaunchConfigurationName); lc != "web-lc" {
		t.Errorf("after the failure the group launches %s, want its own web-lc back", lc)
	}
}

// count0 is count for callers that hold f.mu.
func (f *fakeAWS) count0(call string) int {
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}
