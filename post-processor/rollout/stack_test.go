package rollout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

func TestStackOwnedGroupIsRefused(t *testing.T) {
	f := newFakeAWS()
	s := newFakeStack(f)
	p := newStackPP(t, f, s, map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web-prod-ASG-1"}}, "stack": nil})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil {
		t.Fatal("a direct target on a stack's group was rolled")
	}
	for _, want := range []string{"belongs to CloudFormation stack web-prod (resource ASG)", `stack_name      = "web-prod"`, `image_parameter = "ImageId"`, "allow_stack_drift = true", "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nmisses %q", err, want)
		}
	}
	if len(f.created)+len(f.started) != 0 || s.count("UpdateStack") != 0 {
		t.Errorf("changes made despite the refusal: %v", f.calls)
	}
}

func TestStackDriftAllowed(t *testing.T) {
	f := newFakeAWS()
	s := newFakeStack(f)
	g := f.groups["web"]
	g.Tags = f.groups["web-prod-ASG-1"].Tags
	f.groups["web"] = g
	p := newStackPP(t, f, s, map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web", "allow_stack_drift": true}}, "stack": nil})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("allow_stack_drift = true must roll the group directly: %v", err)
	}
	if len(f.started) != 1 || !said(ui, "rolled directly (allow_stack_drift = true)") {
		t.Errorf("started %d refreshes; output %v", len(f.started), messages(ui))
	}
}

func TestStackUpdateHappyPath(t *testing.T) {
	_, s, art, ui, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) {
		s.capabilities = []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}
		s.needs = []cfntypes.Capability{cfntypes.CapabilityCapabilityIam, cfntypes.CapabilityCapabilityAutoExpand}
	})
	if err != nil {
		t.Fatalf("PostProcess: %v\n%v", err, messages(ui))
	}
	if len(s.updates) != 1 {
		t.Fatalf("%d UpdateStack calls, want 1", len(s.updates))
	}
	in := s.updates[0]
	if !aws.ToBool(in.UsePreviousTemplate) || in.TemplateBody != nil || in.TemplateURL != nil || aws.ToString(in.StackName) != s.id {
		t.Errorf("update %+v: want the previous template, by stack id", in)
	}
	// Only ImageId changed; every other parameter (the NoEcho one too) keeps
	// its value, and none is left out.
	var got []string
	for _, p := range in.Parameters {
		switch {
		case aws.ToBool(p.UsePreviousValue) && p.ParameterValue == nil:
			got = append(got, aws.ToString(p.ParameterKey)+"=previous")
		case !aws.ToBool(p.UsePreviousValue):
			got = append(got, aws.ToString(p.ParameterKey)+"="+aws.ToString(p.ParameterValue))
		default:
			t.Errorf("parameter %s has both a value and UsePreviousValue", aws.ToString(p.ParameterKey))
		}
	}
	if want := []string{"ImageId=ami-new", "Subnets=previous", "DbPassword=previous"}; !slices.Equal(got, want) {
		t.Errorf("parameters %v, want %v", got, want)
	}
	// The stack's own capabilities plus what the template needs; IAM is
	// covered by NAMED_IAM.
	if want := []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam, cfntypes.CapabilityCapabilityAutoExpand}; !slices.Equal(in.Capabilities, want) {
		t.Errorf("capabilities %v, want %v", in.Capabilities, want)
	}
	tok := aws.ToString(in.ClientRequestToken)
	if !strings.HasPrefix(tok, "asg-rollout-") || len(tok) > 128 || strings.ContainsAny(tok, "_:/ ") {
		t.Errorf("token %q: want our prefix, at most 128 characters of [a-zA-Z0-9-]", tok)
	}
	// The same stack state gives the same token, so a retry never starts a
	// second update.
	_, s2, _, _, _ := stackRun(t, context.Background(), nil, nil)
	if tok2 := aws.ToString(s2.updates[0].ClientRequestToken); tok2 != tok {
		t.Errorf("tokens differ for the same stack and values: %s, %s", tok, tok2)
	}

	for _, want := range []string{
		"updating the stack: parameter ImageId ami-old → ami-new",
		"ASG (AWS::AutoScaling::AutoScalingGroup) UPDATE_IN_PROGRESS: Rolling update initiated. Terminating 2 obsolete instance(s) in batches of 1.",
		"group web-prod-ASG-1 (ASG): 1 of 2 instance(s) on ami-new",
		"group web-prod-ASG-1 (ASG): 2 of 2 instance(s) on ami-new",
		"stack UPDATE_COMPLETE: parameter ImageId = ami-new",
	} {
		if !said(ui, want) {
			t.Errorf("output misses %q:\n%s", want, strings.Join(messages(ui), "\n"))
		}
	}
	// Events from before the update are not progress.
	for _, m := range messages(ui) {
		if strings.Contains(m, "web-prod (AWS::CloudFormation::Stack) UPDATE_COMPLETE\n") || strings.Count(strings.Join(messages(ui), "\n"), "UPDATE_IN_PROGRESS: User Initiated") != 1 {
			t.Errorf("an event printed twice or from before the update: %q", m)
		}
	}
	r := art.Results[0]
	if r.Stack != "web-prod" || r.Parameter != "ImageId" || r.PreviousValue != "ami-old" || r.ImageID != "ami-new" || r.Status != "UPDATE_COMPLETE" || r.Outcome != "succeeded" || r.AutoScalingGroup != "web-prod-ASG-1" {
		t.Errorf("artifact %+v", r)
	}
	st := art.State("rollouts").([]map[string]string)[0]
	if st["stack"] != "web-prod" || st["parameter"] != "ImageId" || st["previous_value"] != "ami-old" || st["status"] != "UPDATE_COMPLETE" {
		t.Errorf("state %v", st)
	}
	if sum := art.String(); !strings.Contains(sum, "STACK") || !strings.Contains(sum, "web-prod  ImageId") || !strings.Contains(sum, "UPDATE_COMPLETE") {
		t.Errorf("summary %q", sum)
	}
}

func TestStackNoUpdatesIsUpToDate(t *testing.T) {
	cases := map[string]func(*fakeAWS, *fakeStack){
		// Already on the AMI: nothing to send.
		"parameter": func(_ *fakeAWS, s *fakeStack) { s.params[0].ParameterValue = aws.String("ami-new") },
		// CloudFormation's own answer.
		"answer": func(_ *fakeAWS, s *fakeStack) {
			s.updateErr = &smithy.GenericAPIError{Code: "ValidationError", Message: "No updates are to be performed."}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			_, s, art, _, err := stackRun(t, context.Background(), nil, setup)
			if err != nil {
				t.Fatalf("no update to perform must succeed: %v", err)
			}
			if r := art.Results[0]; r.Outcome != "up to date" {
				t.Errorf("outcome %q, want up to date", r.Outcome)
			}
			if want := map[string]int{"parameter": 0, "answer": 1}[name]; s.count("UpdateStack") != want {
				t.Errorf("%d UpdateStack calls, want %d", s.count("UpdateStack"), want)
			}
			if s.count("CancelUpdateStack") != 0 {
				t.Error("cancelled an update that never ran")
			}
		})
	}
}

func TestStackEndStates(t *testing.T) {
	failed := [][3]string{{"ASG", "UPDATE_FAILED", "Received 0 SUCCESS signal(s) out of 2. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement"}, {"web-prod", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [ASG]."}}
	cases := []struct {
		end     string
		outcome string
		want    []string
	}{
		{"UPDATE_ROLLBACK_COMPLETE", "rolled back", []string{"ended UPDATE_ROLLBACK_COMPLETE", "parameter ImageId is ami-old again", "ASG (AWS::AutoScaling::AutoScalingGroup) UPDATE_FAILED: Received 0 SUCCESS signal(s)"}},
		{"UPDATE_ROLLBACK_FAILED", "failed in place", []string{"ended UPDATE_ROLLBACK_FAILED", "continue-update-rollback", "UPDATE_FAILED: Received 0"}},
		{"UPDATE_FAILED", "failed in place", []string{"ended UPDATE_FAILED and was not rolled back"}},
		// A status from after this code was written: a failure, and not
		// called ended.
		{"UPDATE_PAUSED", "may still be running", []string{"ended UPDATE_PAUSED, which is not UPDATE_COMPLETE"}},
	}
	for _, c := range cases {
		t.Run(c.end, func(t *testing.T) {
			f, _, art, _, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) {
				s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS", events: failed}, {status: "UPDATE_ROLLBACK_IN_PROGRESS"}, {status: c.end}}
			})
			if err == nil {
				t.Fatalf("%s must fail the build", c.end)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nmisses %q", err, w)
				}
			}
			if r := art.Results[0]; r.Outcome != c.outcome || r.Status != c.end {
				t.Errorf("artifact outcome %q status %q, want %q %q", r.Outcome, r.Status, c.outcome, c.end)
			}
			// Only a stack that may still deploy the AMI needs it kept.
			if mayRun := c.outcome == "may still be running"; mayRun != (len(f.protected) > 0) {
				t.Errorf("AMI protected = %v, want %v", len(f.protected) > 0, mayRun)
			}
		})
	}
}

func TestStackInterrupt(t *testing.T) {
	cases := []struct {
		action  string
		cancels int
		outcome string
		want    string
	}{
		{ActionRollback, 1, "rolled back", "cancelled the stack update (CancelUpdateStack, on_interrupt/on_timeout = rollback)"},
		{ActionCancel, 1, "rolled back", "CloudFormation rolls the stack back, parameter ImageId back to ami-old"},
		{ActionDetach, 0, "may still be running", "left the stack update running"},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, s, art, ui, err := stackRun(t, ctx, map[string]interface{}{"on_interrupt": c.action}, func(_ *fakeAWS, s *fakeStack) {
				s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS"}}
				s.onDescribe = func(n int) {
					if n == 2 {
						cancel() // Ctrl-C mid-update
					}
				}
			})
			if err == nil || !strings.Contains(err.Error(), "update interrupted") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want interrupted with %q", err, c.want)
			}
			if n := s.count("CancelUpdateStack"); n != c.cancels {
				t.Errorf("CancelUpdateStack called %d times, want %d", n, c.cancels)
			}
			if c.cancels == 1 && !strings.HasPrefix(aws.ToString(s.cancels[0].ClientRequestToken), "asg-rollout-cancel-") {
				t.Errorf("cancel token %q", aws.ToString(s.cancels[0].ClientRequestToken))
			}
			if r := art.Results[0]; r.Outcome != c.outcome {
				t.Errorf("outcome %q, want %q", r.Outcome, c.outcome)
			}
			if c.cancels == 1 && !said(ui, "the stack ended UPDATE_ROLLBACK_COMPLETE") {
				t.Errorf("the rollback was not followed to its end: %v", messages(ui))
			}
		})
	}
}

func TestStackTimeoutCancelsOnce(t *testing.T) {
	_, s, art, _, err := stackRun(t, context.Background(), map[string]interface{}{"timeout": "10m"}, func(_ *fakeAWS, s *fakeStack) {
		s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS"}}
	})
	if err == nil || !strings.Contains(err.Error(), "did not end within timeout 10m") || !strings.Contains(err.Error(), "cancelled the stack update") {
		t.Fatalf("err = %v, want a timeout that cancelled the update", err)
	}
	if n := s.count("CancelUpdateStack"); n != 1 {
		t.Errorf("CancelUpdateStack called %d times, want exactly once", n)
	}
	if art.Results[0].Outcome != "rolled back" {
		t.Errorf("outcome %q", art.Results[0].Outcome)
	}
}

func TestStackCancelAfterSuccess(t *testing.T) {
	// The update reached cleanup when the build was interrupted: it
	// succeeded and cannot be cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, s, art, _, err := stackRun(t, ctx, nil, func(_ *fakeAWS, s *fakeStack) {
		s.script = []fakeStep{{status: "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"}, {status: "UPDATE_COMPLETE"}}
		s.onDescribe = func(n int) {
			if n == 1 {
				cancel()
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "had already succeeded") {
		t.Fatalf("err = %v", err)
	}
	if s.count("CancelUpdateStack") != 1 || art.Results[0].Outcome != "succeeded" {
		t.Errorf("cancels %d, outcome %q", s.count("CancelUpdateStack"), art.Results[0].Outcome)
	}
}

func TestStackResolveRefusals(t *testing.T) {
	cases := map[string]struct {
		raw   map[string]interface{}
		setup func(*fakeAWS, *fakeStack)
		want  string
	}{
		"no such parameter": {map[string]interface{}{"stack": []map[string]interface{}{{"stack_name": "web-prod", "image_parameter": "AmiId"}}}, nil,
			"has no parameter AmiId (it has: ImageId, Subnets, DbPassword)"},
		"no such stack": {map[string]interface{}{"stack": []map[string]interface{}{{"stack_name": "api", "image_parameter": "ImageId"}}}, nil,
			"CloudFormation stack (api) not found in us-east-1"},
		"creation rolled back": {nil, func(_ *fakeAWS, s *fakeStack) { s.status = "ROLLBACK_COMPLETE" },
			"is ROLLBACK_COMPLETE and cannot be updated: its creation failed"},
		"rollback failed": {nil, func(_ *fakeAWS, s *fakeStack) { s.status = "UPDATE_ROLLBACK_FAILED" },
			"continue-update-rollback"},
		"update of someone else's": {nil, func(_ *fakeAWS, s *fakeStack) { s.status = "UPDATE_IN_PROGRESS" },
			`is UPDATE_IN_PROGRESS since 2026-12-01T10:00:01Z, an operation not started by this build; wait for it to end, or set on_refresh_in_progress = "wait"`},
		"ssm parameter": {nil, func(_ *fakeAWS, s *fakeStack) { s.types["ImageId"] = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>" },
			"its value is the name of an SSM parameter"},
		"suspended launch": {nil, func(f *fakeAWS, _ *fakeStack) {
			g := f.groups["web-prod-ASG-1"]
			g.SuspendedProcesses = []astypes.SuspendedProcess{{ProcessName: aws.String("Launch")}}
			f.groups["web-prod-ASG-1"] = g
		}, "Auto Scaling group (web-prod-ASG-1) has suspended process Launch"},
		"ami missing": {nil, func(f *fakeAWS, _ *fakeStack) { delete(f.images, "ami-new") },
			"AMI (ami-new) not found in us-east-1, for parameter ImageId of CloudFormation stack (web-prod)"},
		"architecture": {nil, func(f *fakeAWS, _ *fakeStack) {
			f.images["ami-old"] = "available"
			f.arch = map[string]ec2types.ArchitectureValues{"ami-old": "arm64"}
		}, "holds arm64 AMI ami-old, and ami-new is x86_64"},
		"refresh running": {nil, func(f *fakeAWS, _ *fakeStack) {
			f.refreshes = []*astypes.InstanceRefresh{{AutoScalingGroupName: aws.String("web-prod-ASG-1"), InstanceRefreshId: aws.String("theirs"), Status: "InProgress"}}
		}, "already has instance refresh (theirs) InProgress"},
		"failed update to this AMI": {nil, func(_ *fakeAWS, s *fakeStack) {
			s.status, s.params[0].ParameterValue = "UPDATE_FAILED", aws.String("ami-new")
		}, "is UPDATE_FAILED with parameter ImageId = ami-new already set"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, s, art, _, err := stackRun(t, context.Background(), c.raw, c.setup)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %q", err, c.want)
			}
			if s.count("UpdateStack")+s.count("CancelUpdateStack") != 0 {
				t.Errorf("changed the stack despite the refusal: %v", s.calls)
			}
			if !strings.Contains(err.Error(), "nothing was changed") || art.Results[0].Outcome != "not started" {
				t.Errorf("err %v, outcome %q", err, art.Results[0].Outcome)
			}
		})
	}
}

func TestStackWaitsForSomeoneElsesUpdate(t *testing.T) {
	for _, policy := range []string{InProgressWait, InProgressCancel} {
		t.Run(policy, func(t *testing.T) {
			_, s, art, ui, err := stackRun(t, context.Background(), map[string]interface{}{"on_refresh_in_progress": policy}, func(_ *fakeAWS, s *fakeStack) {
				s.status, s.updating = "UPDATE_IN_PROGRESS", true
				theirs := []fakeStep{{status: "UPDATE_IN_PROGRESS"}, {status: "UPDATE_COMPLETE"}}
				s.script = theirs
				s.cancelScript = []fakeStep{{status: "UPDATE_ROLLBACK_IN_PROGRESS"}, {status: "UPDATE_ROLLBACK_COMPLETE"}}
				s.afterUpdate = []fakeStep{{status: "UPDATE_IN_PROGRESS"}, {status: "UPDATE_COMPLETE"}}
			})
			if err != nil {
				t.Fatalf("PostProcess: %v\n%v", err, messages(ui))
			}
			if want := map[string]int{InProgressWait: 0, InProgressCancel: 1}[policy]; s.count("CancelUpdateStack") != want {
				t.Errorf("CancelUpdateStack %d, want %d", s.count("CancelUpdateStack"), want)
			}
			if s.count("UpdateStack") != 1 || art.Results[0].Outcome != "succeeded" {
				t.Errorf("updates %d, outcome %q", s.count("UpdateStack"), art.Results[0].Outcome)
			}
		})
	}
}

func TestStackAdoptsOwnUpdate(t *testing.T) {
	_, s, art, ui, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) {
		// A run before this one sent the update, and its answer was lost.
		s.status, s.updating = "UPDATE_IN_PROGRESS", true
		s.params[0].ParameterValue = aws.String("ami-new")
		s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS"}, {status: "UPDATE_IN_PROGRESS"}, {status: "UPDATE_COMPLETE"}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.count("UpdateStack") != 0 || art.Results[0].Outcome != "succeeded" || !said(ui, "following it, starting nothing") {
		t.Errorf("updates %d, outcome %q, output %v", s.count("UpdateStack"), art.Results[0].Outcome, messages(ui))
	}
}

func TestStackLostUpdateAnswer(t *testing.T) {
	_, s, art, _, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) {
		s.updateErr, s.updateOnce = lostAnswer{}, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.count("UpdateStack") != 1 || art.Results[0].Outcome != "succeeded" {
		t.Errorf("updates %d, outcome %q", s.count("UpdateStack"), art.Results[0].Outcome)
	}
}

func TestStackWarnsWithoutUpdatePolicy(t *testing.T) {
	cases := map[string]struct{ template, want string }{
		"none":    {`{"Resources":{"ASG":{"Type":"AWS::AutoScaling::AutoScalingGroup","Properties":{}}}}`, "has no update policy"},
		"$Latest": {`{"Resources":{"ASG":{"Type":"AWS::AutoScaling::AutoScalingGroup","UpdatePolicy":{"AutoScalingRollingUpdate":{}},"Properties":{"LaunchTemplate":{"Version":"$Latest"}}}}}`, "names its launch template version as $Latest"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, _, ui, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) { s.template = c.template })
			if err != nil {
				t.Fatal(err)
			}
			if !said(ui, c.want) {
				t.Errorf("no warning %q: %v", c.want, messages(ui))
			}
		})
	}
}

func TestStackDryRun(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.json")
	_, s, art, ui, err := stackRun(t, context.Background(), map[string]interface{}{"dry_run": true, "plan_file": plan}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.count("UpdateStack")+s.count("CancelUpdateStack") != 0 {
		t.Errorf("a dry run changed the stack: %v", s.calls)
	}
	for _, want := range []string{"stack: web-prod (UPDATE_COMPLETE)", "would update the stack with its previous template: parameter ImageId ami-old → ami-new", "group web-prod-ASG-1 (ASG): update policy AutoScalingRollingUpdate, 2 instance(s) of desired 2"} {
		if !said(ui, want) {
			t.Errorf("plan misses %q: %v", want, messages(ui))
		}
	}
	js, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Groups []struct {
			Stack *stackPlan `json:"stack"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(js, &got); err != nil || len(got.Groups) != 1 || got.Groups[0].Stack == nil {
		t.Fatalf("plan file %s: %v", js, err)
	}
	if p := got.Groups[0].Stack.Parameters; len(p) != 1 || p[0].Key != "ImageId" || p[0].Previous != "ami-old" || p[0].Value != "ami-new" {
		t.Errorf("planned parameters %+v", p)
	}
	if art.Results[0].Status != "Planned" {
		t.Errorf("status %q", art.Results[0].Status)
	}
}

func TestStackParameterMap(t *testing.T) {
	raw := map[string]interface{}{"stack": []map[string]interface{}{{"stack_name": "web-prod", "image_parameters": map[string]string{"ImageId": "us-east-1", "ReplicaImageId": "us-east-1"}}}}
	_, s, art, _, err := stackRun(t, context.Background(), raw, func(_ *fakeAWS, s *fakeStack) {
		s.params = append(s.params, cfntypes.Parameter{ParameterKey: aws.String("ReplicaImageId"), ParameterValue: aws.String("ami-old")})
	})
	if err != nil {
		t.Fatal(err)
	}
	var set []string
	for _, p := range s.updates[0].Parameters {
		if !aws.ToBool(p.UsePreviousValue) {
			set = append(set, aws.ToString(p.ParameterKey)+"="+aws.ToString(p.ParameterValue))
		}
	}
	if want := []string{"ImageId=ami-new", "ReplicaImageId=ami-new"}; !slices.Equal(set, want) {
		t.Errorf("set %v, want %v", set, want)
	}
	if r := art.Results[0]; r.Parameter != "ImageId,ReplicaImageId" || r.PreviousValue != "ami-old,ami-old" {
		t.Errorf("artifact %+v", r)
	}
}

func TestDecideStackOutcome(t *testing.T) {
	cases := []struct {
		o    stackObserved
		want outcome
	}{
		{stackObserved{upToDate: true}, outcomeUpToDate},
		{stackObserved{}, outcomeNotStarted},
		{stackObserved{started: true, last: "UPDATE_COMPLETE"}, outcomeSucceeded},
		{stackObserved{started: true, last: "UPDATE_ROLLBACK_COMPLETE"}, outcomeRolledBack},
		{stackObserved{started: true, last: "UPDATE_ROLLBACK_FAILED"}, outcomeFailedInPlace},
		{stackObserved{started: true, last: "UPDATE_FAILED"}, outcomeFailedInPlace},
		{stackObserved{started: true, last: "UPDATE_IN_PROGRESS"}, outcomeMayBeRunning},
		{stackObserved{started: true, last: "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"}, outcomeMayBeRunning},
		{stackObserved{started: true}, outcomeMayBeRunning},
		{stackObserved{started: true, detached: true, last: "UPDATE_COMPLETE"}, outcomeMayBeRunning},
		{stackObserved{started: true, last: "SOMETHING_NEW"}, outcomeMayBeRunning},
	}
	for _, c := range cases {
		if got := decideStackOutcome(c.o); got != c.want {
			t.Errorf("%+v: %s, want %s", c.o, got, c.want)
		}
	}
}

func TestTemplateGroups(t *testing.T) {
	yamlBody := `
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Rolling:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingRollingUpdate:
        MaxBatchSize: 1
    Properties:
      LaunchTemplate:
        LaunchTemplateId: !Ref LT
        Version: !GetAtt LT.LatestVersionNumber
  Replacing:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingReplacingUpdate:
        WillReplace: true
  NotReplacing:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingReplacingUpdate:
        WillReplace: false
  Refresh:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingInstanceRefresh:
        MinHealthyPercentage: 100
    Properties:
      MixedInstancesPolicy:
        LaunchTemplate:
          LaunchTemplateSpecification:
            Version: $Default
  LT:
    Type: AWS::EC2::LaunchTemplate
`
	policies, moving, err := templateGroups(yamlBody)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Rolling": policyRolling, "Replacing": policyReplacing, "Refresh": policyRefresh}
	if len(policies) != len(want) {
		t.Errorf("policies %v, want %v", policies, want)
	}
	for k, v := range want {
		if policies[k] != v {
			t.Errorf("%s: %q, want %q", k, policies[k], v)
		}
	}
	if len(moving) != 1 || moving["Refresh"] != "$Default" {
		t.Errorf("moving %v, want only Refresh on $Default (a !GetAtt is no literal)", moving)
	}
}

func TestStackConfig(t *testing.T) {
	cases := map[string]struct {
		stack map[string]interface{}
		want  string
	}{
		"no name":      {map[string]interface{}{"image_parameter": "ImageId"}, "stack[0].stack_name: required"},
		"bad name":     {map[string]interface{}{"stack_name": "web_prod", "image_parameter": "ImageId"}, "is neither a stack name"},
		"no parameter": {map[string]interface{}{"stack_name": "web"}, "set image_parameter"},
		"both":         {map[string]interface{}{"stack_name": "web", "image_parameter": "A", "image_parameters": map[string]string{"B": "us-east-1"}}, "not both"},
		"bad region":   {map[string]interface{}{"stack_name": "web", "image_parameters": map[string]string{"B": "east"}}, `B = "east" is not a region`},
		"bad key":      {map[string]interface{}{"stack_name": "web", "image_parameter": "Image-Id"}, "is not a CloudFormation parameter name"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var cfg Config
			err := cfg.Prepare(map[string]interface{}{"stack": []map[string]interface{}{c.stack}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	var cfg Config
	if err := cfg.Prepare(map[string]interface{}{"stack": []map[string]interface{}{{"stack_name": "arn:aws:cloudformation:eu-west-1:123456789012:stack/web/0f1e", "image_parameter": "ImageId"}}}); err != nil {
		t.Errorf("a stack block alone, by stack id, must do: %v", err)
	}
	if cfg.Stacks[0].Wave != 1 {
		t.Errorf("wave %d, want the default 1", cfg.Stacks[0].Wave)
	}
	prune := map[string]interface{}{"stack": []map[string]interface{}{{"stack_name": "web", "image_parameter": "ImageId"}}, "prune_images": map[string]interface{}{"keep": 3}}
	if err := (&Config{}).Prepare(prune); err == nil || !strings.Contains(err.Error(), "prune_images: not available with stack blocks") {
		t.Errorf("prune_images with a stack: %v", err)
	}
	dup := map[string]interface{}{"stack_name": "web", "image_parameter": "ImageId", "region": "us-east-1"}
	if err := (&Config{}).Prepare(map[string]interface{}{"stack": []map[string]interface{}{dup, dup}}); err == nil || !strings.Contains(err.Error(), "the same stack as stack[0]") {
		t.Errorf("duplicate stacks: %v", err)
	}
}

func TestStackAdoptedUpdateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, s, art, _, err := stackRun(t, ctx, nil, func(_ *fakeAWS, s *fakeStack) {
		s.status, s.updating = "UPDATE_IN_PROGRESS", true
		s.params[0].ParameterValue = aws.String("ami-new")
		s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS"}}
		s.onDescribe = func(n int) {
			if n == 3 {
				cancel()
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "update interrupted") {
		t.Fatalf("err = %v", err)
	}
	// The adopted update has no token of this build's: the cancel sends
	// none rather than an empty one, which CloudFormation refuses.
	if len(s.cancels) != 1 || s.cancels[0].ClientRequestToken != nil {
		t.Errorf("cancels %+v", s.cancels)
	}
	if art.Results[0].Outcome != "rolled back" {
		t.Errorf("outcome %q", art.Results[0].Outcome)
	}
}

func TestStackWithoutWaiting(t *testing.T) {
	_, s, art, ui, err := stackRun(t, context.Background(), map[string]interface{}{"wait": false}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.count("UpdateStack") != 1 || art.Results[0].Outcome != "may still be running" || !said(ui, "follow the update with: aws cloudformation describe-stack-events --region us-east-1 --stack-name web-prod") {
		t.Errorf("updates %d, outcome %q, output %v", s.count("UpdateStack"), art.Results[0].Outcome, messages(ui))
	}
}

func TestStackTemplateUnreadable(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform cloudformation:GetTemplate"}
	_, s, _, ui, err := stackRun(t, context.Background(), nil, func(_ *fakeAWS, s *fakeStack) {
		s.readErr = denied
		s.capabilities = []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}
	})
	if err != nil {
		t.Fatalf("reading the template is for warnings only: %v", err)
	}
	if got := s.updates[0].Capabilities; !slices.Equal(got, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}) {
		t.Errorf("capabilities %v, want the stack's own", got)
	}
	for _, want := range []string{"could not read the stack's template summary", "could not read the stack's template ("} {
		if !said(ui, want) {
			t.Errorf("no warning %q: %v", want, messages(ui))
		}
	}
	if said(ui, "has no update policy") {
		t.Error("warned of no update policy without knowing")
	}
}

func TestStackOwnedGroupFoundByTagsIsRefused(t *testing.T) {
	f := newFakeAWS()
	s := newFakeStack(f)
	g := f.groups["web-prod-ASG-1"]
	g.Tags = append(g.Tags, astypes.TagDescription{Key: aws.String("team"), Value: aws.String("web")})
	f.groups["web-prod-ASG-1"] = g
	p := newStackPP(t, f, s, map[string]interface{}{"target": []map[string]interface{}{{"tags": map[string]string{"team": "web"}}}, "stack": nil})
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err == nil || !strings.Contains(err.Error(), "Auto Scaling group (web-prod-ASG-1) belongs to CloudFormation stack web-prod") {
		t.Fatalf("err = %v, want the tag-chosen group refused", err)
	}
	if len(f.created)+len(f.started) != 0 {
		t.Errorf("changes made: %v", f.calls)
	}
}

func TestStackReleaseParameter(t *testing.T) {
	for _, end := range []string{"UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"} {
		t.Run(end, func(t *testing.T) {
			rf := newReleaseFake()
			s := newFakeStack(rf.fakeAWS)
			s.script = []fakeStep{{status: "UPDATE_IN_PROGRESS"}, {status: end}}
			p := newStackPP(t, rf.fakeAWS, s, map[string]interface{}{"release_parameter": []map[string]interface{}{{"name": "/web/ami"}}})
			p.newClients = func(context.Context, string, awsauth.AssumeRoleConfig) (*clients, error) {
				return &clients{autoscaling: rf, ec2: rf, ssm: rf, cleanup: rf, pools: rf, cloudformation: s, instances: s}, nil
			}
			_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if (err == nil) != (end == "UPDATE_COMPLETE") {
				t.Fatalf("err = %v", err)
			}
			// The parameter names the AMI only once the stack deployed it.
			want := 0
			if end == "UPDATE_COMPLETE" {
				want = 1
			}
			if len(rf.puts) != want || (want == 1 && aws.ToString(rf.puts[0].Value) != "ami-new") {
				t.Errorf("puts %+v, want %d of ami-new", rf.puts, want)
			}
		})
	}
}
