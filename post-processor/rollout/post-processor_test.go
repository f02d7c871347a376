package rollout

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// newTestPP configures a post-processor on fake regions. Polls are a
// millisecond apart, so a scripted refresh takes milliseconds.
func newTestPP(t *testing.T, regions map[string]*fakeAWS, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	p := &PostProcessor{
		newClients: func(_ context.Context, region string, _ awsauth.AssumeRoleConfig) (*clients, error) {
			f, ok := regions[region]
			if !ok {
				t.Fatalf("no fake for region %s", region)
			}
			return &clients{autoscaling: f, ec2: f}, nil
		},
		waitOptions: []func(*instancerefresh.InstanceRefreshCompleteWaiterOptions){
			func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
				o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond
				o.Budget = nil // polls a millisecond apart would only queue for it
			},
		},
	}
	// The roller's own clock moves only when it sleeps, so that its waits
	// (a lost start looked for) take no real time.
	clk := &testClock{t: time.Now()}
	p.now, p.sleep = clk.Now, clk.Sleep
	if raw == nil {
		raw = map[string]interface{}{}
	}
	if _, ok := raw["target"]; !ok {
		raw["target"] = []map[string]interface{}{{"auto_scaling_group": "web"}}
	}
	raw["packer_build_name"] = "app"
	if err := p.Configure(raw); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

func amiArtifact(id string) *packersdk.MockArtifact {
	return &packersdk.MockArtifact{BuilderIdValue: "mitchellh.amazonebs", IdValue: id}
}

func TestPostProcessHappyPath(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	art, keep, force, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if !keep || !force {
		t.Errorf("keep=%v forceOverride=%v; both must be true so Packer never deregisters the AMI", keep, force)
	}

	// The version: from the group's numbered version, only ImageId, a
	// token that names nothing random.
	if len(f.created) != 1 {
		t.Fatalf("%d versions created, want 1", len(f.created))
	}
	v := f.created[0]
	if aws.ToString(v.SourceVersion) != "3" {
		t.Errorf("SourceVersion %q, want the group's version 3", aws.ToString(v.SourceVersion))
	}
	if want := (&astypesLTData{ImageId: "ami-new"}); !want.equals(v.LaunchTemplateData) {
		t.Errorf("LaunchTemplateData %+v, want ImageId only", v.LaunchTemplateData)
	}
	if tok := aws.ToString(v.ClientToken); !strings.HasPrefix(tok, clientTokenPrefix) || len(tok) > 128 {
		t.Errorf("ClientToken %q: want our prefix and at most 128 characters", tok)
	}
	if d := aws.ToString(v.VersionDescription); !strings.Contains(d, "ami-new") || !strings.Contains(d, "app") {
		t.Errorf("description %q does not say which build and AMI made it", d)
	}

	// The refresh: numbered version in DesiredConfiguration, every
	// preference explicit, no empty list.
	if len(f.started) != 1 {
		t.Fatalf("%d refreshes started, want 1", len(f.started))
	}
	s := f.started[0]
	lt := s.DesiredConfiguration.LaunchTemplate
	if aws.ToString(lt.LaunchTemplateId) != "lt-1" || aws.ToString(lt.Version) != "4" {
		t.Errorf("desired configuration %s version %s, want lt-1 version 4", aws.ToString(lt.LaunchTemplateId), aws.ToString(lt.Version))
	}
	pr := s.Preferences
	if aws.ToInt32(pr.MinHealthyPercentage) != 100 || aws.ToInt32(pr.MaxHealthyPercentage) != 110 ||
		aws.ToInt32(pr.InstanceWarmup) != 120 || !aws.ToBool(pr.SkipMatching) || !aws.ToBool(pr.AutoRollback) ||
		pr.BakeTime == nil || pr.ScaleInProtectedInstances != "Wait" || pr.StandbyInstances != "Wait" || s.Strategy != "Rolling" {
		t.Errorf("preferences not explicit or not the documented defaults: %+v", pr)
	}
	if pr.CheckpointPercentages != nil || pr.CheckpointDelay != nil || pr.AlarmSpecification != nil {
		t.Errorf("checkpoints or alarms sent without being set: %+v", pr)
	}

	// Only reads, the permission DryRuns, one version, one refresh, one
	// wait: never a direct update of the group or the template (the API
	// interfaces have no such call).
	for _, c := range f.calls {
		switch c {
		case "DescribeAutoScalingGroups", "DescribeLaunchTemplateVersions", "DescribeImages", "DescribeInstanceRefreshes", "CreateLaunchTemplateVersion", "StartInstanceRefresh",
			"CreateLaunchTemplateVersion(DryRun)", "RunInstances(DryRun)":
		default:
			t.Errorf("unexpected call %s in a successful roll-out", c)
		}
	}

	a := art.(*Artifact)
	want := Result{Region: "us-east-1", AutoScalingGroup: "web", ImageID: "ami-new", LaunchTemplateID: "lt-1", SourceVersion: 3, Version: 4, InstanceRefreshID: "refresh-1", Status: "Successful", Outcome: "succeeded"}
	if !reflect.DeepEqual(a.Results, []Result{want}) {
		t.Errorf("artifact %+v, want %+v", a.Results, want)
	}
	if art.Id() != "us-east-1:ami-new" || art.BuilderId() != BuilderID {
		t.Errorf("Id %q BuilderId %q", art.Id(), art.BuilderId())
	}
	if got := art.State("rollouts").([]map[string]string)[0]["version"]; got != "4" {
		t.Errorf(`State("rollouts")[0]["version"] = %q, want "4"`, got)
	}
	if !regexp.MustCompile(`us-east-1\s+web\s+lt-1\s+4 \(from 3\)\s+ami-new\s+refresh-1\s+Successful`).MatchString(art.String()) || art.Destroy() != nil {
		t.Errorf("String %q", art.String())
	}
	if !said(ui, "created version 4 of launch template lt-1 from version 3") || !said(ui, "Successful") {
		t.Errorf("progress output misses a phase: %v", messages(ui))
	}
}

type astypesLTData struct{ ImageId string }

func (w *astypesLTData) equals(d interface{}) bool {
	v := reflect.ValueOf(d).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, field := v.Type().Field(i).Name, v.Field(i)
		if name == "ImageId" {
			if aws.ToString(field.Interface().(*string)) != w.ImageId {
				return false
			}
			continue
		}
		if field.CanInterface() && !field.IsZero() {
			return false
		}
	}
	return true
}

func said(ui *packersdk.MockUi, s string) bool {
	for _, m := range ui.SayMessages {
		if strings.Contains(m.Message, s) {
			return true
		}
	}
	return false
}

func messages(ui *packersdk.MockUi) []string {
	var out []string
	for _, m := range ui.SayMessages {
		out = append(out, m.Message)
	}
	return out
}

func TestClientTokenIsStableAndSpecific(t *testing.T) {
	a := clientToken("lt-1", 3, "ami-new", "d")
	if a != clientToken("lt-1", 3, "ami-new", "d") {
		t.Fatal("the same request must give the same token")
	}
	for _, b := range []string{clientToken("lt-2", 3, "ami-new", "d"), clientToken("lt-1", 4, "ami-new", "d"), clientToken("lt-1", 3, "ami-other", "d"), clientToken("lt-1", 3, "ami-new", "e")} {
		if a == b {
			t.Errorf("different requests share token %s", a)
		}
	}
}

func TestRerunCreatesNoDuplicateVersion(t *testing.T) {
	f := newFakeAWS()
	regions := map[string]*fakeAWS{"us-east-1": f}
	for i := 0; i < 2; i++ {
		f.polls = 0
		f.groups["web"] = withVersion(f.groups["web"], "3") // a failed first run left the group on 3
		p := newTestPP(t, regions, nil)
		if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.versions["lt-1"]); n != 4 {
		t.Errorf("template has %d versions after two runs, want 4 (one created, then returned again for the same token)", n)
	}
}

func withVersion(g astypes.AutoScalingGroup, v string) astypes.AutoScalingGroup {
	lt := *g.LaunchTemplate
	lt.Version = aws.String(v)
	g.LaunchTemplate = &lt
	return g
}

func TestPostProcessOutcomes(t *testing.T) {
	cases := []struct {
		final   astypes.InstanceRefreshStatus
		wantErr []string
	}{
		{"Successful", nil},
		{"Failed", []string{"web", "refresh-1", "ended Failed", "step 3", "still launches version 3", "Launching a new EC2 instance: i-bad: Status Reason: Instance failed to boot"}},
		{"Cancelled", []string{"ended Cancelled"}},
		{"RollbackSuccessful", []string{"ended RollbackSuccessful", "on version 3 of lt-1 again"}},
		{"RollbackFailed", []string{"ended RollbackFailed", "rollback failed too"}},
		// A status from after this code was written: the build fails, but
		// the refresh may still be running, so it is not called ended.
		{"Vanished", []string{`reports status "Vanished", which this plugin does not know, so it may still be running`}},
	}
	for _, c := range cases {
		t.Run(string(c.final), func(t *testing.T) {
			f := newFakeAWS()
			f.script = []astypes.InstanceRefreshStatus{"Pending", "InProgress", "Baking", c.final}
			f.activities = []astypes.Activity{{
				StatusCode:    astypes.ScalingActivityStatusCodeFailed,
				Description:   aws.String("Launching a new EC2 instance: i-bad"),
				StatusMessage: aws.String("Status Reason: Instance failed to boot"),
			}}
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
			art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s must fail the build", c.final)
			}
			// Only a refresh that may still deploy the AMI needs it kept.
			if mayRun, protected := c.final == "Vanished", len(f.protected) > 0; mayRun != protected {
				t.Errorf("status %s: AMI protected = %v, want %v", c.final, protected, mayRun)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if got := art.(*Artifact).Results[0].Status; got != string(c.final) {
				t.Errorf("artifact status %s, want %s", got, c.final)
			}
		})
	}
}

func TestPostProcessTimeoutRollsBackOnce(t *testing.T) {
	f := newFakeAWS()
	f.script = []astypes.InstanceRefreshStatus{"InProgress"}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"timeout": "30ms"})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "did not end within timeout 30ms") || !strings.Contains(err.Error(), "rollback of instance refresh refresh-1 started") {
		t.Fatalf("err = %v, want a timeout that started a rollback", err)
	}
	if n := f.count("RollbackInstanceRefresh"); n != 1 {
		t.Errorf("RollbackInstanceRefresh called %d times, want exactly once", n)
	}
}

func TestPostProcessInterrupt(t *testing.T) {
	cases := []struct {
		action, wantCall, wantMsg string
	}{
		{ActionRollback, "RollbackInstanceRefresh", "rollback of instance refresh refresh-1 started"},
		{ActionCancel, "CancelInstanceRefresh", "cancelled instance refresh refresh-1"},
		{ActionDetach, "", "left instance refresh refresh-1 running"},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			f := newFakeAWS()
			f.script = []astypes.InstanceRefreshStatus{"InProgress"}
			ctx := cancelAtPoll(t, f, 2) // Ctrl-C mid-refresh
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"on_interrupt": c.action})
			ui := &packersdk.MockUi{}
			_, _, _, err := p.PostProcess(ctx, ui, amiArtifact("us-east-1:ami-new"))
			if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err = %v, want interrupted with %q", err, c.wantMsg)
			}
			for _, call := range []string{"RollbackInstanceRefresh", "CancelInstanceRefresh"} {
				want := 0
				if call == c.wantCall {
					want = 1
				}
				if n := f.count(call); n != want {
					t.Errorf("%s called %d times, want %d", call, n, want)
				}
			}
			if !said(ui, c.wantMsg) {
				t.Errorf("the outcome was not printed: %v", messages(ui))
			}
		})
	}
}

func TestForeignRefreshFailsBeforeAnyChange(t *testing.T) {
	f := newFakeAWS()
	f.refreshes = []*astypes.InstanceRefresh{{
		AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress",
		StartTime:            aws.Time(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)),
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("2")}},
	}}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "theirs") || !strings.Contains(err.Error(), `on_refresh_in_progress = "wait"`) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v, want a refusal naming the other refresh and the option", err)
	}
	if f.count("CreateLaunchTemplateVersion")+f.count("StartInstanceRefresh")+f.count("CancelInstanceRefresh") != 0 {
		t.Errorf("changes made despite the refusal: %v", f.calls)
	}
}

func TestForeignRefreshCancelPolicy(t *testing.T) {
	f := newFakeAWS()
	f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress"}}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"on_refresh_in_progress": "cancel"})
	f.script = []astypes.InstanceRefreshStatus{"Successful"}
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if f.count("CancelInstanceRefresh") != 1 || len(f.started) != 1 {
		t.Errorf("want one cancel then one start, got calls %v", f.calls)
	}
}

func TestAdoptsOwnRunningRefresh(t *testing.T) {
	f := newFakeAWS()
	f.versions["lt-1"][4] = "ami-new" // made by an earlier run of this build
	f.refreshes = []*astypes.InstanceRefresh{{
		AutoScalingGroupName: aws.String("web"), InstanceRefreshId: aws.String("earlier"), Status: "InProgress",
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("4")}},
	}}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 0 || len(f.started) != 0 {
		t.Errorf("adopting must neither create a version nor start a refresh: created %d, started %d", len(f.created), len(f.started))
	}
	if r := art.(*Artifact).Results[0]; r.InstanceRefreshID != "earlier" || r.Version != 4 || r.Status != "Successful" {
		t.Errorf("artifact %+v, want the adopted refresh and version 4", r)
	}
	if !said(ui, "adopting it") {
		t.Errorf("adoption not announced: %v", messages(ui))
	}
}

func TestLostStartAnswerIsAdopted(t *testing.T) {
	f := newFakeAWS()
	// The start succeeds but its answer is lost; the SDK retries and gets
	// InstanceRefreshInProgress, for the refresh the first try started.
	f.startErr = &astypes.InstanceRefreshInProgressFault{Message: aws.String("in progress")}
	f.startOnce = true
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.started) != 1 || art.(*Artifact).Results[0].InstanceRefreshID != "refresh-1" {
		t.Errorf("want exactly one refresh, followed: started %d, artifact %+v", len(f.started), art.(*Artifact).Results)
	}
}

func TestLatestIsResolvedAndExplained(t *testing.T) {
	f := newFakeAWS()
	f.groups["web"] = withVersion(f.groups["web"], "$Latest")
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{"instance_refresh": map[string]interface{}{"auto_rollback": false}})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(f.created[0].SourceVersion) != "3" || aws.ToString(f.started[0].DesiredConfiguration.LaunchTemplate.Version) != "4" {
		t.Errorf("$Latest must be resolved to 3 and the refresh pinned to 4")
	}
	if !said(ui, "launches from $Latest of lt-1") {
		t.Errorf("the $Latest effect is not explained: %v", messages(ui))
	}
}

func TestOnFailureRollback(t *testing.T) {
	for _, onError := range []string{"cleanup", "abort"} {
		t.Run(onError, func(t *testing.T) {
			f := newFakeAWS()
			f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
			p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
				"on_failure": "rollback", "instance_refresh": map[string]interface{}{"auto_rollback": false}, "packer_on_error": onError,
			})
			// The second refresh (back onto version 3) follows its own script.
			f.onPoll = func(int) {
				f.mu.Lock()
				if len(f.started) == 2 {
					f.script = []astypes.InstanceRefreshStatus{"InProgress", "Successful"}
				}
				f.mu.Unlock()
			}
			_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err == nil || !strings.Contains(err.Error(), "ended Failed") {
				t.Fatalf("err = %v, want the failure reported", err)
			}
			if onError == "abort" {
				if len(f.started) != 1 || !strings.Contains(err.Error(), "-on-error=abort") {
					t.Errorf("-on-error=abort must leave the fleet alone: %d starts, err %v", len(f.started), err)
				}
				return
			}
			if len(f.started) != 2 {
				t.Fatalf("%d refreshes started, want the roll-out and one back", len(f.started))
			}
			back := f.started[1]
			if v := aws.ToString(back.DesiredConfiguration.LaunchTemplate.Version); v != "3" || !aws.ToBool(back.Preferences.SkipMatching) {
				t.Errorf("rollback refresh onto version %s (skip matching %v), want 3 with skip matching", v, aws.ToBool(back.Preferences.SkipMatching))
			}
			if !strings.Contains(err.Error(), "returned every instance to version 3") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// lostAnswer is a transport failure after the request was performed: the
// SDK's retryers treat it as retryable.
type lostAnswer struct{}

func (lostAnswer) Error() string        { return "read: connection reset by peer" }
func (lostAnswer) RetryableError() bool { return true }

func TestLostStartAnswerOfARefreshThatAlreadyEnded(t *testing.T) {
	f := newFakeAWS()
	// Nothing to replace: the refresh started by the first attempt is
	// Successful before the retry. A blind retry would start a second one.
	f.script = []astypes.InstanceRefreshStatus{"Successful"}
	f.startErr, f.startOnce = lostAnswer{}, true
	f.onStart = func(r *astypes.InstanceRefresh) {
		r.Status = "Successful"
		r.StartTime = aws.Time(time.Now())
	}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.started) != 1 {
		t.Errorf("%d refreshes started, want exactly one", len(f.started))
	}
	if r := art.(*Artifact).Results[0]; r.InstanceRefreshID != "refresh-1" || r.Status != "Successful" {
		t.Errorf("artifact %+v", r)
	}
	if !said(ui, "the answer to starting the instance refresh was lost, but refresh refresh-1 had started") {
		t.Errorf("output %v", messages(ui))
	}
}
