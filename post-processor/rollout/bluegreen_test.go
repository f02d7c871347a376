package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// runBG rolls b's group web onto ami-new blue/green.
func runBG(t *testing.T, b *bgFake, raw map[string]interface{}) (*Artifact, *packersdk.MockUi, error) {
	t.Helper()
	return runBGCtx(context.Background(), t, b, raw)
}

func runBGCtx(ctx context.Context, t *testing.T, b *bgFake, raw map[string]interface{}) (*Artifact, *packersdk.MockUi, error) {
	t.Helper()
	p := newBGTestPP(t, b, raw)
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(ctx, ui, amiArtifact("us-east-1:ami-new"))
	a, _ := art.(*Artifact)
	return a, ui, err
}

func tagsOf(g astypes.AutoScalingGroup) map[string]string {
	m := map[string]string{}
	for _, t := range g.Tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestBlueGreenHappyPath(t *testing.T) {
	b := newBGFake()
	b.stagger = 20 * time.Second
	art, ui, err := runBG(t, b, nil)
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}

	// The version: as a refresh makes it.
	if len(b.created) != 1 || aws.ToString(b.created[0].SourceVersion) != "3" || aws.ToString(b.created[0].LaunchTemplateData.ImageId) != "ami-new" {
		t.Fatalf("versions created %+v, want one from version 3 with only the AMI", b.created)
	}
	// The group: deterministic name, the old one's settings and capacity.
	if len(b.createdGroups) != 1 {
		t.Fatalf("%d groups created, want 1", len(b.createdGroups))
	}
	in := b.createdGroups[0]
	if got := aws.ToString(in.AutoScalingGroupName); got != "web-new" {
		t.Errorf("new group %q, want web-new ({{ .BaseName }}-{{ .ImageSuffix }})", got)
	}
	if aws.ToInt32(in.DesiredCapacity) != 4 || aws.ToInt32(in.MinSize) != 2 || aws.ToInt32(in.MaxSize) != 8 {
		t.Errorf("capacity %d (min %d, max %d), want the old group's 4 (2, 8)", aws.ToInt32(in.DesiredCapacity), aws.ToInt32(in.MinSize), aws.ToInt32(in.MaxSize))
	}
	if lt := in.LaunchTemplate; aws.ToString(lt.LaunchTemplateId) != "lt-1" || aws.ToString(lt.Version) != "4" {
		t.Errorf("launch template %+v, want lt-1 version 4", lt)
	}
	if !slices.Equal(in.TargetGroupARNs, []string{testTG}) || aws.ToString(in.VPCZoneIdentifier) != "subnet-a,subnet-b" ||
		aws.ToString(in.HealthCheckType) != "ELB" || aws.ToInt32(in.HealthCheckGracePeriod) != 90 || !slices.Equal(in.TerminationPolicies, []string{"OldestInstance"}) {
		t.Errorf("settings not copied: %+v", in)
	}
	tags := map[string]astypes.Tag{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = tg
	}
	if tg := tags["team"]; aws.ToString(tg.Value) != "web" || !aws.ToBool(tg.PropagateAtLaunch) {
		t.Errorf("tag team = %+v, want web propagated at launch", tg)
	}
	if aws.ToString(tags[tagBaseName].Value) != "web" || aws.ToString(tags[tagImage].Value) != "ami-new" {
		t.Errorf("contract tags %+v", tags)
	}

	// Health: per load balancer progress, printed when it changes.
	if !said(ui, "0/4 healthy in tg-web") || !said(ui, "3/4 healthy in tg-web") || !said(ui, "4/4 healthy in tg-web") || !said(ui, "2/4 InService in web-new") || !said(ui, "4/4 InService in web-new") {
		t.Errorf("no per-load-balancer progress:\n%s", strings.Join(messages(ui), "\n"))
	}
	n := 0
	for _, m := range messages(ui) {
		if strings.HasSuffix(m, "4/4 healthy in tg-web") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%q printed %d times; progress is printed only when it changes", "4/4 healthy in tg-web", n)
	}

	// Cut-over: policies and scheduled actions first, then the old group
	// leaves the target group, drains the whole deregistration delay, and
	// only then is scaled in and deleted.
	put, detach, scale, del := b.index("PutScalingPolicy web-new"), b.index("DetachLoadBalancerTargetGroups web"), b.index("UpdateAutoScalingGroup web"), b.index("DeleteAutoScalingGroup web")
	if put < 0 || b.index("PutScheduledUpdateGroupAction web-new") < 0 || put > detach || detach > scale || scale > del {
		t.Errorf("cut-over order: put policy %d, detach old %d, scale old %d, delete old %d; calls %v", put, detach, scale, del, b.calls)
	}
	if drained := b.firstAt("UpdateAutoScalingGroup web").Sub(b.firstAt("DetachLoadBalancerTargetGroups web")); drained < b.drain {
		t.Errorf("old group scaled in %s after leaving the target group, before its deregistration delay (%s) ended", drained, b.drain)
	}
	if healthyAt := b.firstAt("DetachLoadBalancerTargetGroups web").Sub(b.firstAt("CreateAutoScalingGroup")); healthyAt < b.launch+b.healthyAfter {
		t.Errorf("old group detached %s after the new one was created, before its instances could be healthy", healthyAt)
	}
	if _, ok := b.group("web"); ok {
		t.Error("old group web still exists; old_group = delete")
	}
	g, ok := b.group("web-new")
	if !ok || len(g.Instances) != 4 {
		t.Fatalf("new group: %v, %+v", ok, g)
	}
	if len(b.policies["web-new"]) != 1 || len(b.scheduled["web-new"]) != 1 {
		t.Errorf("policies %v, scheduled actions %v on the new group, want one each", b.policies["web-new"], b.scheduled["web-new"])
	}

	// Report.
	r := art.Results[0]
	if r.Outcome != "succeeded" || r.LiveGroup != "web-new" || r.OldGroupState != oldDeleted || r.Status != "CutOver" || r.Version != 4 {
		t.Errorf("result %+v", r)
	}
	st := art.State("rollouts").([]map[string]string)[0]
	if st["live_group"] != "web-new" || st["strategy"] != StrategyBlueGreen || st["old_group_state"] != "deleted" {
		t.Errorf("state %v", st)
	}
	if s := art.String(); !strings.Contains(s, "web (us-east-1): live group web-new (new); old group web deleted") {
		t.Errorf("summary does not say which group is live:\n%s", s)
	}
	if len(b.protected) != 0 {
		t.Errorf("AMI protected after a success: %v", b.protected)
	}
}

// oldTouched lists the changing calls made to the old group.
func oldTouched(b *bgFake) []string {
	var out []string
	for _, c := range b.callsOn("web") {
		if !strings.HasPrefix(c, "Describe") {
			out = append(out, c)
		}
	}
	return out
}

func TestBlueGreenUnhealthyRemovesNewGroup(t *testing.T) {
	b := newBGFake()
	b.unhealthy["ami-new"] = true
	art, ui, err := runBG(t, b, map[string]interface{}{"blue_green": map[string]interface{}{"health_timeout": "5m"}})
	if err == nil {
		t.Fatal("an AMI that never turns healthy succeeded")
	}
	for _, want := range []string{"not healthy within blue_green.health_timeout (5m)", "0/4 healthy in tg-web", "unhealthy Target.FailedHealthChecks", "new group web-new removed; old group web untouched and live"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, ok := b.group("web-new"); ok {
		t.Error("new group left behind")
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
	// The new group left the target group before it was deleted.
	if d, del := b.index("DetachLoadBalancerTargetGroups web-new"), b.index("DeleteAutoScalingGroup web-new"); d < 0 || d > del {
		t.Errorf("new group deleted (%d) before it left the target group (%d)", del, d)
	}
	// Never healthy, so no connection to drain: no wait.
	if d := b.firstAt("DeleteAutoScalingGroup web-new").Sub(b.firstAt("DetachLoadBalancerTargetGroups web-new")); d >= b.drain {
		t.Errorf("waited %s to delete a group whose instances never served", d)
	}
	if !aws.ToBool(b.deleted[0].ForceDelete) {
		t.Error("the new group was deleted without ForceDelete: its instances would block it")
	}
	r := art.Results[0]
	if r.Outcome != "rolled back" || r.LiveGroup != "web" || r.OldGroupState != oldUntouched || r.Status != "Removed" {
		t.Errorf("result %+v", r)
	}
	if !said(ui, "new group web-new removed") {
		t.Error("the removal was not said")
	}
	if len(b.protected) != 0 {
		t.Errorf("AMI protected though no group launches it: %v", b.protected)
	}
}

func TestBlueGreenInterruptRemovesNewGroup(t *testing.T) {
	b := newBGFake()
	ctx := interruptOn(t, b, "DescribeTargetHealth")
	art, _, err := runBGCtx(ctx, t, b, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted while waiting for Auto Scaling group (web-new) to be healthy") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := b.group("web-new"); ok {
		t.Error("new group left behind after an interruption")
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
	if o := art.Results[0].Outcome; o != "rolled back" {
		t.Errorf("outcome %q", o)
	}
}

func TestBlueGreenInterruptDetachLeavesBoth(t *testing.T) {
	b := newBGFake()
	ctx := interruptOn(t, b, "DescribeTargetHealth")
	art, _, err := runBGCtx(ctx, t, b, map[string]interface{}{"on_interrupt": "detach"})
	if err == nil {
		t.Fatal("an interrupted roll-out succeeded")
	}
	for _, want := range []string{
		"left both groups running (detach)",
		"aws autoscaling detach-load-balancer-target-groups --region us-east-1 --auto-scaling-group-name web --target-group-arns " + testTG,
		"aws autoscaling delete-auto-scaling-group --region us-east-1 --auto-scaling-group-name web-new --force-delete",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, ok := b.group("web-new"); !ok {
		t.Error("new group removed despite on_interrupt = detach")
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
	r := art.Results[0]
	if r.Outcome != "may still be running" || r.OldGroupState != oldDetached {
		t.Errorf("result %+v", r)
	}
	// Both groups may launch the AMI: it is protected from Packer's clean-up.
	if !slices.Contains(b.protected, "ami-new") {
		t.Error("AMI not protected while a group launches it")
	}
}

func TestBlueGreenTimeoutRemovesNewGroup(t *testing.T) {
	b := newBGFake()
	_, _, err := runBG(t, b, map[string]interface{}{"timeout": "1m"})
	if err == nil || !strings.Contains(err.Error(), "timeout (1m) passed while waiting for Auto Scaling group (web-new) to be healthy") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := b.group("web-new"); ok {
		t.Error("new group left behind after the timeout")
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
}

func TestBlueGreenRerunContinuesItsOwnGroup(t *testing.T) {
	b := newBGFake()
	// A first run that crashed while waiting for health.
	ctx := interruptOn(t, b, "CreateAutoScalingGroup")
	p := newBGTestPP(t, b, map[string]interface{}{"on_interrupt": "detach"})
	if _, _, _, err := p.PostProcess(ctx, &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err == nil {
		t.Fatal("first run did not stop")
	}
	b.onCall = nil
	if _, ok := b.group("web-new"); !ok {
		t.Fatal("the crashed run left no group to continue")
	}
	art, ui, err := runBG(t, b, nil)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if len(b.createdGroups) != 1 {
		t.Errorf("%d groups created over both runs, want 1: the re-run must continue the first", len(b.createdGroups))
	}
	if !said(ui, "found group web-new, made for ami-new by an earlier run of this build: continuing it") {
		t.Error("the re-run did not say it continues its group")
	}
	if r := art.Results[0]; r.Outcome != "succeeded" || r.LiveGroup != "web-new" {
		t.Errorf("result %+v", r)
	}

	// And once more: the live group is our own, nothing to do.
	art, _, err = runBG(t, b, nil)
	if err != nil || art.Results[0].Outcome != "up to date" || len(b.createdGroups) != 1 {
		t.Errorf("third run: %v, %+v", err, art.Results)
	}
}

func TestBlueGreenDeletionProtection(t *testing.T) {
	b := newBGFake()
	g := b.groups["web"]
	g.DeletionProtection = astypes.DeletionProtectionPreventAllDeletion
	b.groups["web"] = g
	art, _, err := runBG(t, b, nil)
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	old, ok := b.group("web")
	if !ok || aws.ToInt32(old.DesiredCapacity) != 0 || tagsOf(old)[tagRetired] == "" {
		t.Errorf("old group: exists %v, desired %d, tags %v; want kept at zero, tagged retired", ok, aws.ToInt32(old.DesiredCapacity), tagsOf(old))
	}
	if !slices.Contains(b.suspended["web"], "ScheduledActions") {
		t.Errorf("retired group's scheduled actions not suspended: %v", b.suspended["web"])
	}
	if ng, _ := b.group("web-new"); ng.DeletionProtection != astypes.DeletionProtectionPreventAllDeletion {
		t.Errorf("new group's deletion protection %q, want the old one's", ng.DeletionProtection)
	}
	if set, detach := b.index("UpdateAutoScalingGroup web-new"), b.index("DetachLoadBalancerTargetGroups web"); set < detach {
		t.Errorf("deletion protection set on the new group (%d) before the old one left the load balancers (%d): a failure in between could not remove it", set, detach)
	}
	if slices.ContainsFunc(b.calls, func(c string) bool { return c == "DeleteAutoScalingGroup web" }) {
		t.Error("tried to delete a deletion-protected group")
	}
	r := art.Results[0]
	if r.Outcome != "succeeded" || r.OldGroupState != oldDeletionProtected || !strings.Contains(r.Message, "it has deletion protection (prevent-all-deletion)") {
		t.Errorf("result %+v", r)
	}

	// The next build's live group is the new one: the retired one is never
	// a candidate.
	b.images["ami-next"] = "available"
	p := newBGTestPP(t, b, nil)
	art2, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-next"))
	if err != nil {
		t.Fatalf("next build: %v", err)
	}
	if r := art2.(*Artifact).Results[0]; r.OldGroup != "web-new" || r.LiveGroup != "web-next" {
		t.Errorf("next build rolled %s → %s, want web-new → web-next", r.OldGroup, r.LiveGroup)
	}
}

func TestBlueGreenKeepOldGroup(t *testing.T) {
	b := newBGFake()
	art, _, err := runBG(t, b, map[string]interface{}{"blue_green": map[string]interface{}{"old_group": "keep"}})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := b.group("web")
	if aws.ToInt32(old.DesiredCapacity) != 4 || len(old.TargetGroupARNs) != 0 || tagsOf(old)[tagRetired] == "" {
		t.Errorf("kept group: desired %d, target groups %v, tags %v", aws.ToInt32(old.DesiredCapacity), old.TargetGroupARNs, tagsOf(old))
	}
	if r := art.Results[0]; r.OldGroupState != oldKept || r.Outcome != "succeeded" {
		t.Errorf("result %+v", r)
	}
}

func TestBlueGreenClassicLoadBalancer(t *testing.T) {
	b := newBGFake()
	b.withCLB()
	b.drain, b.clbDrain = 0, 90*time.Second // only the load balancer drains
	_, ui, err := runBG(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.createdGroups[0].LoadBalancerNames, []string{"clb-web"}) {
		t.Errorf("new group's load balancers %v", b.createdGroups[0].LoadBalancerNames)
	}
	if !said(ui, "4/4 healthy in clb-web") {
		t.Error("no progress for the classic load balancer")
	}
	if d, s := b.index("DetachLoadBalancers web"), b.index("UpdateAutoScalingGroup web"); d < 0 || d > s {
		t.Errorf("old group scaled in (%d) before leaving the classic load balancer (%d)", s, d)
	}
	if drained := b.firstAt("UpdateAutoScalingGroup web").Sub(b.firstAt("DetachLoadBalancers web")); drained < b.clbDrain {
		t.Errorf("old group scaled in %s after leaving the load balancer, before connection draining (%s) ended", drained, b.clbDrain)
	}
}

func TestBlueGreenLaunchConfiguration(t *testing.T) {
	b := newBGFake()
	g := b.groups["web"]
	g.LaunchTemplate, g.LaunchConfigurationName = nil, aws.String("web-lc")
	b.groups["web"] = g
	b.lcs["web-lc"] = astypes.LaunchConfiguration{LaunchConfigurationName: aws.String("web-lc"), ImageId: aws.String("ami-old3"), InstanceType: aws.String("t3.micro")}
	art, _, err := runBG(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lc := aws.ToString(b.createdGroups[0].LaunchConfigurationName); lc != "web-lc-ami-new" || aws.ToString(b.lcs[lc].ImageId) != "ami-new" {
		t.Errorf("new group launches %q (%v)", lc, b.lcs[lc])
	}
	if r := art.Results[0]; r.Outcome != "succeeded" || r.LaunchConfiguration != "web-lc-ami-new" {
		t.Errorf("result %+v", r)
	}
}

// noWrites fails t if anything was created, changed or deleted.
func noWrites(t *testing.T, b *bgFake) {
	t.Helper()
	for _, c := range b.calls {
		if strings.HasPrefix(c, "Describe") || strings.HasSuffix(c, "(DryRun)") {
			continue
		}
		t.Errorf("call %s made by a roll-out that was refused", c)
	}
}

func TestBlueGreenRefusesWhatItCannotCopy(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*bgFake)
		want  string
	}{
		{"step policy with alarms", func(b *bgFake) {
			b.policies["web"] = append(b.policies["web"], astypes.ScalingPolicy{PolicyName: aws.String("up"), PolicyType: aws.String("StepScaling"), Alarms: []astypes.Alarm{{AlarmName: aws.String("high-cpu")}}})
		}, "StepScaling policy up: CloudWatch alarms (high-cpu) invoke it by its ARN"},
		{"suspended process", func(b *bgFake) {
			g := b.groups["web"]
			g.SuspendedProcesses = []astypes.SuspendedProcess{{ProcessName: aws.String("AZRebalance")}}
			b.groups["web"] = g
		}, "suspended processes AZRebalance"},
		{"warm pool", func(b *bgFake) {
			g := b.groups["web"]
			g.WarmPoolConfiguration = &astypes.WarmPoolConfiguration{}
			b.groups["web"] = g
		}, "warm pool"},
		{"protected instances", func(b *bgFake) {
			g := b.groups["web"]
			g.Instances[0].ProtectedFromScaleIn = aws.Bool(true)
			b.groups["web"] = g
		}, "protected from scale in (i-old1)"},
		{"scaling activity", func(b *bgFake) {
			b.activities = []astypes.Activity{{StatusCode: astypes.ScalingActivityStatusCodeInProgress, Description: aws.String("Launching a new EC2 instance")}}
		}, "scaling activity in progress (InProgress: Launching a new EC2 instance)"},
		{"quota", func(b *bgFake) { b.limit = 1 }, "the account has 1 of its 1 Auto Scaling groups"},
		{"subnets", func(b *bgFake) { b.subnets = map[string]int32{"subnet-a": 1, "subnet-b": 2} }, "its subnets have 3 free addresses (subnet-a: 1, subnet-b: 2), and a second group of 4 instances"},
		{"two live groups", func(b *bgFake) {
			g := b.groups["web"]
			g.AutoScalingGroupName = aws.String("web-other")
			g.Tags = append(g.Tags, astypes.TagDescription{Key: aws.String(tagBaseName), Value: aws.String("web")})
			b.groups["web-other"] = g
		}, "line web has 2 live groups (web-other, web)"},
		{"name taken", func(b *bgFake) {
			b.groups["web-new"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("web-new")}
		}, "Auto Scaling group (web-new) already exists and is not this build's new group"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBGFake()
			tc.setup(b)
			_, _, err := runBG(t, b, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
			noWrites(t, b)
		})
	}
}

func TestBlueGreenRetargetsCustomMetric(t *testing.T) {
	c := &astypes.TargetTrackingConfiguration{CustomizedMetricSpecification: &astypes.CustomizedMetricSpecification{
		Dimensions: []astypes.MetricDimension{{Name: aws.String("AutoScalingGroupName"), Value: aws.String("web")}, {Name: aws.String("Other"), Value: aws.String("web")}},
	}}
	got := retargetTracking(c, "web", "web-new")
	if d := got.CustomizedMetricSpecification.Dimensions; aws.ToString(d[0].Value) != "web-new" || aws.ToString(d[1].Value) != "web" {
		t.Errorf("dimensions %+v", d)
	}
	if aws.ToString(c.CustomizedMetricSpecification.Dimensions[0].Value) != "web" {
		t.Error("the old group's policy was changed in place")
	}
}

func TestBlueGreenDryRun(t *testing.T) {
	b := newBGFake()
	planFile := filepath.Join(t.TempDir(), "plan.json")
	art, ui, err := runBG(t, b, map[string]interface{}{"dry_run": true, "plan_file": planFile})
	if err != nil {
		t.Fatal(err)
	}
	noWrites(t, b)
	for _, want := range []string{
		"blue/green: would create group web-new beside live group web: desired 4 (min 2, max 8)",
		"attached to: target group tg-web; would wait at most 15m",
		"cut-over: would copy 1 scaling polic(ies) [cpu50] and 1 scheduled action(s) [night] onto web-new",
		"retire (old_group = delete): web would leave the load balancers, drain, be scaled to zero and deleted",
		"would create version 4 of lt-1 from version 3",
	} {
		if !said(ui, want) {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(messages(ui), "\n"))
		}
	}
	js, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan dryRunPlan
	if err := json.Unmarshal(js, &plan); err != nil || plan.Groups[0].BlueGreen == nil || plan.Groups[0].BlueGreen.NewGroup != "web-new" {
		t.Errorf("plan file %s: %v", js, err)
	}
	if art.Results[0].Status != "Planned" {
		t.Errorf("status %q", art.Results[0].Status)
	}
}

func TestBlueGreenConfig(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{"strategy": "red-black"}, `strategy: "red-black" is not one of`},
		{map[string]interface{}{"strategy": "blue-green", "wait": false}, "wait: a blue/green roll-out cannot return before the new group is healthy"},
		{map[string]interface{}{"blue_green": map[string]interface{}{"group_name": "{{ .BaseName }}-v2"}}, "does not use .ImageId or .ImageSuffix"},
		{map[string]interface{}{"blue_green": map[string]interface{}{"group_name": "{{ .Build }}-{{ .ImageId }}"}}, "may use only .BaseName, .ImageId, .ImageSuffix and .Region"},
		{map[string]interface{}{"blue_green": map[string]interface{}{"health_timeout": "soon"}}, `blue_green.health_timeout: "soon" is not a duration`},
		{map[string]interface{}{"blue_green": map[string]interface{}{"old_group": "drop"}}, `blue_green.old_group: "drop" is not one of`},
		{map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web", "strategy": "rolling"}}}, `target[0].strategy: "rolling" is not one of`},
	} {
		var c Config
		raw := tc.raw
		if _, ok := raw["target"]; !ok {
			raw["target"] = []map[string]interface{}{{"auto_scaling_group": "web"}}
		}
		err := c.Prepare(raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.raw, err, tc.want)
		}
	}
	var c Config
	if err := c.Prepare(map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web", "strategy": "blue-green"}}}); err != nil {
		t.Fatal(err)
	}
	if c.Strategy != StrategyInstanceRefresh || c.Targets[0].Strategy != StrategyBlueGreen || c.BlueGreen.OldGroup != OldGroupDelete || c.BlueGreen.healthTimeout != 15*time.Minute {
		t.Errorf("defaults: %q %q %q %s", c.Strategy, c.Targets[0].Strategy, c.BlueGreen.OldGroup, c.BlueGreen.healthTimeout)
	}
	name, err := renderGroupName(c.BlueGreen.groupName, groupNameData{BaseName: "web", ImageId: "ami-0abc", ImageSuffix: "0abc", Region: "eu-west-1"})
	if err != nil || name != "web-0abc" {
		t.Errorf("default name %q, %v", name, err)
	}
}

func TestBlueGreenTooLongName(t *testing.T) {
	b := newBGFake()
	_, _, err := runBG(t, b, map[string]interface{}{"blue_green": map[string]interface{}{"group_name": strings.Repeat("x", 250) + "-{{ .ImageId }}"}})
	if err == nil || !strings.Contains(err.Error(), "blue_green.group_name: renders to a name of 258 characters") {
		t.Fatalf("err = %v", err)
	}
	noWrites(t, b)
}

// Every field of a group is copied onto the new group, refused by resolve,
// or left out on purpose: a field an SDK update adds fails this test until
// someone decides which.
func TestBlueGreenCopiesEveryGroupField(t *testing.T) {
	copied := []string{"MinSize", "MaxSize", "DesiredCapacity", "DesiredCapacityType", "AvailabilityZoneDistribution", "AvailabilityZoneImpairmentPolicy",
		"CapacityRebalance", "CapacityReservationSpecification", "Context", "DefaultCooldown", "DefaultInstanceWarmup", "HealthCheckGracePeriod",
		"HealthCheckType", "InstanceLifecyclePolicy", "InstanceMaintenancePolicy", "MaxInstanceLifetime", "NewInstancesProtectedFromScaleIn",
		"PlacementGroup", "ServiceLinkedRoleARN", "TerminationPolicies", "VPCZoneIdentifier", "TargetGroupARNs", "LoadBalancerNames"}
	special := map[string]string{
		"AutoScalingGroupName": "rendered from blue_green.group_name", "LaunchTemplate": "the new version", "MixedInstancesPolicy": "with the new versions and AMI",
		"LaunchConfigurationName": "the copy", "Tags": "copied with the contract's tags", "AvailabilityZones": "only without subnets", "AvailabilityZoneIds": "only without subnets",
		"DeletionProtection": "set at the cut-over", "EnabledMetrics": "EnableMetricsCollection", "TrafficSources": "refused unless target groups or load balancers",
		"SuspendedProcesses": "refused", "WarmPoolConfiguration": "refused", "WarmPoolSize": "refused with the warm pool", "Operator": "refused",
		"Instances": "not copied: the new group launches its own", "CreatedTime": "AWS's", "AutoScalingGroupARN": "AWS's", "Status": "AWS's", "PredictedCapacity": "AWS's",
	}
	typ := reflect.TypeOf(astypes.AutoScalingGroup{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if !slices.Contains(copied, f.Name) && special[f.Name] == "" {
			t.Errorf("AutoScalingGroup.%s is neither copied nor refused nor left out on purpose: decide", f.Name)
		}
	}
	// Each copied field arrives in CreateAutoScalingGroup as it was.
	g := astypes.AutoScalingGroup{}
	gv := reflect.ValueOf(&g).Elem()
	for _, name := range copied {
		fv := gv.FieldByName(name)
		switch fv.Kind() {
		case reflect.Pointer:
			v := reflect.New(fv.Type().Elem())
			switch v.Elem().Kind() {
			case reflect.String:
				v.Elem().SetString("x-" + name)
			case reflect.Int32:
				v.Elem().SetInt(7)
			case reflect.Bool:
				v.Elem().SetBool(true)
			}
			fv.Set(v)
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]string{"x-" + name}))
		}
	}
	ro := &rollout{imageID: "ami-new", bg: &blueGreen{old: g, oldName: "web", newName: "web-new", base: "web", targetGroups: g.TargetGroupARNs, loadBalancers: g.LoadBalancerNames}}
	ro.templateID, ro.version = "lt-1", 4
	in := reflect.ValueOf(*newGroupInput(ro))
	for _, name := range copied {
		if got, want := in.FieldByName(name).Interface(), gv.FieldByName(name).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: sent %v, want the old group's %v", name, got, want)
		}
	}
}

func TestBlueGreenScaleToZeroAndTargetsByTags(t *testing.T) {
	b := newBGFake()
	g := b.groups["web"]
	g.Tags = append(g.Tags, astypes.TagDescription{Key: aws.String("app"), Value: aws.String("shop")})
	b.groups["web"] = g
	raw := map[string]interface{}{
		"target":     []map[string]interface{}{{"tags": map[string]string{"app": "shop"}}},
		"blue_green": map[string]interface{}{"old_group": "scale-to-zero"},
	}
	art, _, err := runBG(t, b, raw)
	if err != nil {
		t.Fatal(err)
	}
	old, ok := b.group("web")
	if !ok || aws.ToInt32(old.DesiredCapacity) != 0 || tagsOf(old)[tagRetired] == "" || len(old.TargetGroupARNs) != 0 {
		t.Errorf("old group: %v %+v", ok, old)
	}
	if r := art.Results[0]; r.OldGroupState != oldScaledToZero || r.LiveGroup != "web-new" {
		t.Errorf("result %+v", r)
	}
	// The new group carries the tags, so the same target finds the line
	// again, and the retired group is left out of it.
	b.images["ami-next"] = "available"
	p := newBGTestPP(t, b, raw)
	a2, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-next"))
	if err != nil {
		t.Fatalf("next build: %v", err)
	}
	if rs := a2.(*Artifact).Results; len(rs) != 1 || rs[0].OldGroup != "web-new" || rs[0].LiveGroup != "web-next" {
		t.Errorf("next build: %+v", rs)
	}
}

func TestBlueGreenInterruptAfterDetachKeepsNewGroup(t *testing.T) {
	b := newBGFake()
	// Ctrl-C while the old group drains
	ctx := interruptOn(t, b, "DetachLoadBalancerTargetGroups web")
	art, _, err := runBGCtx(ctx, t, b, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted while the instances of Auto Scaling group (web) drained") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := b.group("web-new"); !ok {
		t.Fatal("the new group was removed after the old one had left the load balancers: an outage")
	}
	old, _ := b.group("web")
	if aws.ToInt32(old.DesiredCapacity) != 4 || tagsOf(old)[tagRetired] == "" {
		t.Errorf("old group: desired %d, tags %v; want kept at full size, tagged retired", aws.ToInt32(old.DesiredCapacity), tagsOf(old))
	}
	if r := art.Results[0]; r.LiveGroup != "web-new" || r.OldGroupState != oldKept {
		t.Errorf("result %+v", r)
	}
}

func TestBlueGreenLeftoverOfAnotherBuildIsRefused(t *testing.T) {
	b := newBGFake()
	// A build of ami-new stopped with both groups left (detach).
	ctx := interruptOn(t, b, "DescribeTargetHealth")
	if _, _, err := runBGCtx(ctx, t, b, map[string]interface{}{"on_interrupt": "detach"}); err == nil {
		t.Fatal("first build did not stop")
	}
	b.onCall = nil
	if g, _ := b.group("web-new"); tagsOf(g)[tagPending] == "" {
		t.Fatalf("the new group does not carry %s before its cut-over: %v", tagPending, tagsOf(g))
	}
	// The next build bakes another AMI: it must not guess which group serves.
	b.images["ami-next"] = "available"
	before := len(b.calls)
	p := newBGTestPP(t, b, nil)
	_, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-next"))
	for _, want := range []string{"line web has a new group left by an interrupted or crashed roll-out of another build", "web-new (made for ami-new at", "delete-auto-scaling-group --region us-east-1 --auto-scaling-group-name web-new --force-delete", "nothing was changed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}
	for _, c := range b.calls[before:] {
		if !strings.HasPrefix(c, "Describe") && !strings.HasSuffix(c, "(DryRun)") {
			t.Errorf("call %s made by a refused roll-out", c)
		}
	}
}

func TestBlueGreenPendingTagLeavesAtCutOver(t *testing.T) {
	b := newBGFake()
	if _, _, err := runBG(t, b, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(b.createdGroups[0].Tags, func(tg astypes.Tag) bool { return aws.ToString(tg.Key) == tagPending }) {
		t.Errorf("new group created without %s", tagPending)
	}
	g, _ := b.group("web-new")
	if _, ok := tagsOf(g)[tagPending]; ok {
		t.Errorf("live group still carries %s", tagPending)
	}
	if del, detach := b.index("DeleteTags web-new "+tagPending), b.index("DetachLoadBalancerTargetGroups web"); del < 0 || del > detach {
		t.Errorf("%s removed at %d, the old group detached at %d: the tag must go first", tagPending, del, detach)
	}
}

func TestBlueGreenFailureAfterHealthyDrainsNewGroup(t *testing.T) {
	b := newBGFake()
	b.putPolicyErr = &smithy.GenericAPIError{Code: "ValidationError", Message: "bad policy"}
	_, _, err := runBG(t, b, nil)
	if err == nil || !strings.Contains(err.Error(), "copying scaling policy (cpu50) onto Auto Scaling group (web-new)") || !strings.Contains(err.Error(), "new group web-new removed") {
		t.Fatalf("err = %v", err)
	}
	// Its instances served: they drain the whole delay before the delete.
	if d := b.firstAt("DeleteAutoScalingGroup web-new").Sub(b.firstAt("DetachLoadBalancerTargetGroups web-new")); d < b.drain {
		t.Errorf("deleted %s after leaving the target group, before the deregistration delay (%s)", d, b.drain)
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
}

// The pre-flight data source finds a blue/green line's live group by its
// tags, also after the group named in the target is gone, and refuses what
// the roll-out would refuse.
func TestBlueGreenPreflight(t *testing.T) {
	b := newBGFake()
	if _, _, err := runBG(t, b, nil); err != nil {
		t.Fatal(err)
	}
	p := newBGTestPP(t, b, map[string]interface{}{"region": "us-east-1"})
	before := len(b.calls)
	checked, err := p.preflight(context.Background())
	if err != nil {
		t.Fatalf("preflight: %v", err)
	}
	if len(checked) != 1 || checked[0].Group != "web-new" || checked[0].DesiredCapacity != 4 || checked[0].LaunchTemplateID != "lt-1" || checked[0].CurrentVersion != 4 {
		t.Errorf("checked %+v, want the live group web-new (4 instances, lt-1 version 4)", checked)
	}
	for _, c := range b.calls[before:] {
		if !strings.HasPrefix(c, "Describe") && !strings.HasSuffix(c, "(DryRun)") {
			t.Errorf("pre-flight made call %s", c)
		}
	}
	b.policies["web-new"] = append(b.policies["web-new"], astypes.ScalingPolicy{PolicyName: aws.String("up"), PolicyType: aws.String("SimpleScaling"), Alarms: []astypes.Alarm{{AlarmName: aws.String("cpu")}}})
	if _, err := p.preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "SimpleScaling policy up") {
		t.Errorf("preflight err = %v, want the policy refused", err)
	}
}

// addGroup adds a second live group, a copy of web named name.
func (b *bgFake) addGroup(name string) {
	g := b.groups["web"]
	g.AutoScalingGroupName = aws.String(name)
	g.Instances = nil
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("i-%s-old%d", name, i)
		g.Instances = append(g.Instances, astypes.Instance{InstanceId: aws.String(id), LifecycleState: astypes.LifecycleStateInService, HealthStatus: aws.String("Healthy")})
		b.imageOf[id] = "ami-old3"
		b.reg[testTG][id] = &registration{}
	}
	b.groups[name] = g
}

func TestBlueGreenGroupsWaitTogetherAndWavesInTurn(t *testing.T) {
	b := newBGFake()
	b.addGroup("api")
	// Each group's health wait holds until both groups exist: a roll-out
	// that waited for one group before creating the next would stall here.
	both := make(chan struct{})
	var once sync.Once
	b.onCall = func(c string) {
		switch c {
		case "CreateAutoScalingGroup":
			b.mu.Lock()
			n := len(b.createdGroups)
			b.mu.Unlock()
			if n == 2 {
				once.Do(func() { close(both) })
			}
		case "DescribeTargetHealth":
			select {
			case <-both:
			case <-time.After(10 * time.Second):
				t.Error("a group's health wait held up the other group's creation")
				once.Do(func() { close(both) })
			}
		}
	}
	_, _, err := runBG(t, b, map[string]interface{}{
		"max_concurrency": 1,
		"target":          []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// max_concurrency bounds the calls, not the waits: both groups are
	// created before either cuts over.
	created := 0
	for _, c := range b.calls[:b.index("PutScalingPolicy web-new")] {
		if c == "CreateAutoScalingGroup" {
			created++
		}
	}
	if created != 2 || b.index("DeleteTags api-new "+tagPending) < 0 {
		t.Errorf("%d group(s) created before the first cut-over; calls %v", created, b.calls)
	}

	// In waves, the second wave's group is created only after the first's
	// old group is gone.
	b = newBGFake()
	b.addGroup("api")
	if _, _, err := runBG(t, b, map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "api", "wave": 2}},
	}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range b.calls {
		if c == "DeleteAutoScalingGroup web" || c == "DeleteAutoScalingGroup api" || c == "CreateAutoScalingGroup" {
			order = append(order, c)
		}
	}
	if want := []string{"CreateAutoScalingGroup", "DeleteAutoScalingGroup web", "CreateAutoScalingGroup", "DeleteAutoScalingGroup api"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
}

func TestBlueGreenAbortLeavesTheNewGroupForInspection(t *testing.T) {
	b := newBGFake()
	b.unhealthy["ami-new"] = true
	art, _, err := runBG(t, b, map[string]interface{}{"packer_on_error": "abort", "blue_green": map[string]interface{}{"health_timeout": "5m"}})
	if err == nil || !strings.Contains(err.Error(), "new group web-new left running for inspection (packer -on-error=abort), out of the load balancers") {
		t.Fatalf("err = %v", err)
	}
	g, ok := b.group("web-new")
	if !ok || len(g.TargetGroupARNs) != 0 {
		t.Errorf("new group: exists %v, target groups %v; want it kept, out of the load balancers", ok, g.TargetGroupARNs)
	}
	if c := oldTouched(b); len(c) > 0 {
		t.Errorf("old group changed: %v", c)
	}
	if r := art.Results[0]; r.LiveGroup != "web" || r.Outcome != "may still be running" {
		t.Errorf("result %+v", r)
	}
}
