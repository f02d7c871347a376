package e2e

// Correctness tests for the defects of issue 8, each end to end: a real
// packer build bakes an AMI and rolls a seeded fleet on the local AWS, and
// the test checks the fleet the way a user would (which AMI and which
// instance type does each instance run, which versions exist, which calls
// were made). Each would fail on the behaviour the issue describes.

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// movedType is the instance type someone else moves a group to while a
// build runs; groups are seeded on t3.micro.
const movedType = "t3.small"

// ---------------------------------------------------------------------------
// Helpers.

// newVersionFrom creates a version of a template from version source with
// only the instance type changed, as a colleague would, and returns its
// number.
func (e *env) newVersionFrom(region, templateID string, source int64, instanceType string) int64 {
	e.t.Helper()
	out, err := e.clients(region).EC2.CreateLaunchTemplateVersion(context.Background(), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(templateID),
		SourceVersion:      aws.String(fmt.Sprint(source)),
		VersionDescription: aws.String("moved to " + instanceType + " by someone else"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceType(instanceType)},
	})
	if err != nil {
		e.t.Fatalf("creating a version of %s: %v", templateID, err)
	}
	return aws.ToInt64(out.LaunchTemplateVersion.VersionNumber)
}

// pointGroupAt makes a group launch version n of its template, as a
// colleague's UpdateAutoScalingGroup would.
func (e *env) pointGroupAt(region, group, templateID string, n int64) {
	e.t.Helper()
	_, err := e.clients(region).AutoScaling.UpdateAutoScalingGroup(context.Background(), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templateID), Version: aws.String(fmt.Sprint(n))},
	})
	if err != nil {
		e.t.Fatalf("moving %s to version %d: %v", group, n, err)
	}
}

// instanceTypes counts a group's in-service instances by the instance type
// EC2 reports for each.
func (e *env) instanceTypes(region string, st *fleet.State) map[string]int {
	e.t.Helper()
	var ids []string
	for _, i := range st.Instances {
		if i.LifecycleState == string(astypes.LifecycleStateInService) {
			ids = append(ids, i.ID)
		}
	}
	m := map[string]int{}
	if len(ids) == 0 {
		return m
	}
	out, err := e.clients(region).EC2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		e.t.Fatalf("describing the instances of %s: %v", st.Group, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			m[string(i.InstanceType)]++
		}
	}
	return m
}

// wantAllOfType checks that the group's n in-service instances all have
// instance type typ.
func (e *env) wantAllOfType(region string, st *fleet.State, typ string, n int) {
	e.t.Helper()
	if got := e.instanceTypes(region, st); len(got) != 1 || got[typ] != n {
		e.t.Errorf("%s: in-service instances by instance type %v, want all %d of %s", st.Group, got, n, typ)
	}
}

// wantCopy checks that version n of a template is version from with ami as
// its image and nothing else changed.
func wantCopy(t *testing.T, versions map[int64]ec2types.LaunchTemplateVersion, templateID string, n, from int64, ami string) {
	t.Helper()
	v, ok := versions[n]
	src, okFrom := versions[from]
	if !ok || !okFrom {
		t.Errorf("launch template %s lacks version %d or %d (has %d versions)", templateID, n, from, len(versions))
		return
	}
	d, s := v.LaunchTemplateData, src.LaunchTemplateData
	if got := aws.ToString(d.ImageId); got != ami {
		t.Errorf("launch template %s version %d has image %s, want %s", templateID, n, got, ami)
	}
	if d.InstanceType != s.InstanceType || !slices.Equal(d.SecurityGroupIds, s.SecurityGroupIds) || aws.ToString(d.UserData) != aws.ToString(s.UserData) {
		ud, _ := base64.StdEncoding.DecodeString(aws.ToString(d.UserData))
		t.Errorf("launch template %s version %d is not a copy of version %d with the AMI: instance type %s (want %s), security groups %v (want %v), user data %q",
			templateID, n, from, d.InstanceType, s.InstanceType, d.SecurityGroupIds, s.SecurityGroupIds, ud)
	}
}

// createVersionSources lists the SourceVersion of every
// CreateLaunchTemplateVersion call made on templateID, in order.
func (e *env) createVersionSources(templateID string) []string {
	var out []string
	for _, c := range e.emu.Calls() {
		if c.Action == "CreateLaunchTemplateVersion" && c.Params["LaunchTemplateId"] == templateID && c.Fault == "" && !isDryRun(c) {
			out = append(out, c.Params["SourceVersion"])
		}
	}
	return out
}

// lastCall returns the params of the last call of action that no fault hit.
func (e *env) lastCall(action string) map[string]string {
	var p map[string]string
	for _, c := range e.emu.Calls() {
		if c.Action == action && c.Fault == "" {
			p = c.Params
		}
	}
	return p
}

// packerValidate runs `packer validate` on file.
func (e *env) packerValidate(file string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := packer.Run(ctx, e.dir, nil, "validate", file)
	if err != nil {
		e.t.Fatalf("running packer validate: %v", err)
	}
	e.t.Logf("packer validate exited %d:\n%s", res.ExitCode, res.Output)
	return res.ExitCode, res.Output
}

// waitStatus polls until the group's refresh id reports status.
func (e *env) waitStatus(region, group, id string, status astypes.InstanceRefreshStatus) {
	e.t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for {
		irs := e.refreshes(region, group)
		for _, ir := range irs {
			if aws.ToString(ir.InstanceRefreshId) == id && ir.Status == status {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("refresh %s of %s not %s within %s: %s", id, group, status, lineTimeout, describeRefreshes(irs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// 1. A stale snapshot must not revert other people's changes.

// TestCorrectnessStaleSnapshotWave: every group is read before any is
// changed; the second wave's group is moved to a new version with another
// instance type while the first wave runs. The roll-out must copy the
// version the group runs now, not the one it read at the start (which
// would put every instance back on the old instance type).
func TestCorrectnessStaleSnapshotWave(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "front", Desired: 2})
	back := e.seed("us-east-1", fleet.Spec{Group: "back", Desired: 3})
	// The first wave's refresh is reported InProgress, whatever it does
	// underneath, until the test has moved the second wave's group: the
	// move lands while wave 1 runs, however fast it is.
	e.emu.SetReportedStatus("front", string(astypes.InstanceRefreshStatusInProgress), 0)

	run := e.startBuild(e.write(build{
		Targets: []target{{Group: "front", Wave: 1}, {Group: "back", Wave: 2}},
	}))
	run.waitContains("Wave 1 of 2")
	run.waitLine("front's started instance refresh line", func(l string) bool {
		return strings.Contains(l, "front (") && startedLine.MatchString(l)
	})
	moved := e.newVersionFrom("us-east-1", back.LaunchTemplateID, 1, movedType)
	e.pointGroupAt("us-east-1", "back", back.LaunchTemplateID, moved)
	e.emu.SetReportedStatus("front", "", 0)

	code, out := run.wait()
	if code != 0 {
		t.Fatalf("packer build exited %d", code)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	wantOutput(t, out, "Wave 2 of 2", "back (us-east-1): changed since it was first read",
		fmt.Sprintf("now launches version %d of %s", moved, back.LaunchTemplateID))

	versions := e.versions("us-east-1", back.LaunchTemplateID)
	if len(versions) != 3 {
		t.Errorf("back's template has %d versions, want 3: the seeded one, the one it was moved to and the roll-out's", len(versions))
	}
	wantCopy(t, versions, back.LaunchTemplateID, 3, moved, ami)
	if got := e.createVersionSources(back.LaunchTemplateID); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("versions of back's template created from source versions %v, want [1 2] (the test's from 1, the roll-out's from 2)", got)
	}
	st := e.snapshot("us-east-1", "back")
	t.Logf("back after:\n%s", st)
	wantAllOn(t, st, ami, 3)
	e.wantAllOfType("us-east-1", st, movedType, 3)
	if st.Version != "3" {
		t.Errorf("back on version %q, want 3", st.Version)
	}
	front := e.snapshot("us-east-1", "front")
	wantAllOn(t, front, ami, 2)
}

// TestCorrectnessStaleSnapshotWaitForeign: on_refresh_in_progress = "wait"
// and someone else's refresh, onto a version with another instance type, is
// running when the post-processor starts. When it succeeds AWS writes its
// desired configuration onto the group; the roll-out must then copy that
// version, not the one it read while the other refresh ran.
func TestCorrectnessStaleSnapshotWaitForeign(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	moved := e.newVersionFrom("us-east-1", seeded.LaunchTemplateID, 1, movedType)
	// The other refresh waits at its 50% checkpoint for ten hours (three
	// minutes here): it is running whenever the post-processor reads the
	// group, and ends only when the test speeds the clock up.
	start, err := e.clients("us-east-1").AutoScaling.StartInstanceRefresh(context.Background(), &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String("web"),
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(seeded.LaunchTemplateID), Version: aws.String(fmt.Sprint(moved)),
		}},
		Preferences: &astypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(50),
			MaxHealthyPercentage:  aws.Int32(100),
			CheckpointPercentages: []int32{50, 100},
			CheckpointDelay:       aws.Int32(36000),
			SkipMatching:          aws.Bool(false),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	foreign := aws.ToString(start.InstanceRefreshId)

	run := e.startBuild(e.write(build{
		Targets: []target{{Group: "web"}},
		Extra:   `    on_refresh_in_progress = "wait"`,
	}))
	run.waitContains("instance refresh " + foreign + " (not this build's) is InProgress: waiting for it to end before starting")
	if st := e.snapshot("us-east-1", "web"); st.Version != "1" {
		t.Fatalf("group on version %q while the other refresh runs, want 1: the test proves nothing", st.Version)
	}
	e.emu.SetSpeed(100000)
	e.waitStatus("us-east-1", "web", foreign, astypes.InstanceRefreshStatusSuccessful)
	e.emu.SetSpeed(speed)

	code, out := run.wait()
	if code != 0 {
		t.Fatalf("packer build exited %d", code)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	wantOutput(t, out, "instance refresh "+foreign+" ended Successful",
		"web (us-east-1): changed since it was first read",
		fmt.Sprintf("now launches version %d of %s", moved, seeded.LaunchTemplateID))

	versions := e.versions("us-east-1", seeded.LaunchTemplateID)
	if len(versions) != 3 {
		t.Errorf("template has %d versions, want 3: the seeded one, the other refresh's and the roll-out's", len(versions))
	}
	wantCopy(t, versions, seeded.LaunchTemplateID, 3, moved, ami)
	if got := e.createVersionSources(seeded.LaunchTemplateID); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("versions created from source versions %v, want [1 2]", got)
	}
	st := e.snapshot("us-east-1", "web")
	t.Logf("after:\n%s", st)
	wantAllOn(t, st, ami, 2)
	e.wantAllOfType("us-east-1", st, movedType, 2)
	if st.Version != "3" {
		t.Errorf("group on version %q, want 3", st.Version)
	}
	if irs := e.refreshes("us-east-1", "web"); len(irs) != 2 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful {
		t.Errorf("refreshes %s, want the other one and ours, both Successful", describeRefreshes(irs))
	}
	if n := e.calls("CancelInstanceRefresh"); n != 0 {
		t.Errorf("CancelInstanceRefresh called %d times with on_refresh_in_progress = wait", n)
	}
}

// ---------------------------------------------------------------------------
// 2. Suspended processes.

// TestCorrectnessSuspendedProcesses: a group attached to a target group
// with AddToLoadBalancer suspended, or with HealthCheck suspended, is
// refused before anything changes; with HealthCheck suspended the AMI
// baked is one whose instances fail their health checks, which a refresh
// would have rolled across the whole fleet unseen.
func TestCorrectnessSuspendedProcesses(t *testing.T) {
	for _, c := range []struct {
		process string
		broken  bool // the new AMI's instances fail their health checks
	}{
		{process: "AddToLoadBalancer"},
		{process: "HealthCheck", broken: true},
	} {
		t.Run(c.process, func(t *testing.T) {
			e := newEnv(t)
			var tags map[string]string
			if c.broken {
				e.emu.SetUnhealthyImageTag("health", "broken")
				tags = map[string]string{"health": "broken"}
			}
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2, TargetGroup: true, SuspendedProcesses: []string{c.process}})
			before := e.snapshot("us-east-1", "web")
			t.Logf("before:\n%s\nregistered %v", before, before.Registered())
			if len(before.Registered()) != 2 || !slices.Equal(before.SuspendedProcesses, []string{c.process}) {
				t.Fatalf("seeded group has registered targets %v and suspended processes %v, want 2 and [%s]", before.Registered(), before.SuspendedProcesses, c.process)
			}
			e.emu.ResetCalls()

			res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, AMITags: tags}))
			if res.ExitCode == 0 {
				t.Fatalf("packer build succeeded on a group with %s suspended", c.process)
			}
			wantOutput(t, res.Output, "nothing was changed",
				"Auto Scaling group (web) has suspended process "+c.process,
				"aws autoscaling resume-processes --auto-scaling-group-name web --scaling-processes "+c.process+" --region us-east-1")
			if c.process == "AddToLoadBalancer" {
				wantOutput(t, res.Output, seeded.TargetGroupARN)
			}
			after := e.snapshot("us-east-1", "web")
			wantUntouched(t, before, after)
			if !slices.Equal(after.SuspendedProcesses, []string{c.process}) {
				t.Errorf("suspended processes %v after the build, want [%s] as before", after.SuspendedProcesses, c.process)
			}
			for id := range before.Registered() {
				if _, ok := after.Registered()[id]; !ok {
					t.Errorf("instance %s is no longer registered in the target group", id)
				}
			}
			wantAllOn(t, after, seeded.ImageID, 2)
			if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 1 {
				t.Errorf("template has %d versions, want 1", n)
			}
			if irs := e.refreshes("us-east-1", "web"); len(irs) != 0 {
				t.Errorf("refreshes %s, want none", describeRefreshes(irs))
			}
			e.wantNoCalls("us-east-1", "", "CreateLaunchTemplateVersion", "StartInstanceRefresh", "UpdateAutoScalingGroup", "ResumeProcesses", "ModifyLaunchTemplate")
		})
	}
}

// ---------------------------------------------------------------------------
// 3. min_healthy_percentage = 0 alone.

// TestCorrectnessMinHealthyZero: min_healthy_percentage = 0 with no
// max_healthy_percentage validates (the maximum defaults within 100 of it)
// and rolls the whole group.
func TestCorrectnessMinHealthyZero(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 3})
	file := e.write(build{Targets: []target{{Group: "web"}}, Refresh: `      min_healthy_percentage = 0`})
	if code, out := e.packerValidate(file); code != 0 {
		t.Fatalf("packer validate refused min_healthy_percentage = 0 alone:\n%s", out)
	}
	res := e.packerBuild(file)
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	st := e.snapshot("us-east-1", "web")
	wantAllOn(t, st, ami, 3)
	if st.Version != "2" {
		t.Errorf("group on version %q, want 2", st.Version)
	}
	wantVersionImage(t, e.versions("us-east-1", seeded.LaunchTemplateID), seeded.LaunchTemplateID, 2, ami)
	p := e.lastCall("StartInstanceRefresh")
	if p["Preferences.MinHealthyPercentage"] != "0" || p["Preferences.MaxHealthyPercentage"] != "100" {
		t.Errorf("refresh started with healthy %q-%q, want 0-100", p["Preferences.MinHealthyPercentage"], p["Preferences.MaxHealthyPercentage"])
	}
	if irs := e.refreshes("us-east-1", "web"); len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful {
		t.Errorf("refreshes %s, want one, Successful", describeRefreshes(irs))
	}
}

// ---------------------------------------------------------------------------
// 4. bake_time longer than timeout.

// TestCorrectnessBakeTimeOverTimeout: a bake_time the timeout cannot hold
// would end every healthy roll-out at the timeout; packer validate refuses
// it, naming both fields, and packer build stops before baking anything.
func TestCorrectnessBakeTimeOverTimeout(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	before := e.snapshot("us-east-1", "web")
	file := e.write(build{Targets: []target{{Group: "web"}}, Refresh: `      bake_time = "2h"`, Extra: `    timeout = "1h"`})
	code, out := e.packerValidate(file)
	if code == 0 {
		t.Fatal("packer validate accepted a bake_time longer than the timeout")
	}
	wantOutput(t, out, "timeout:", "bake_time 2h", "timeout 1h does not leave room for")
	e.emu.ResetCalls()

	res := e.packerBuild(file)
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded with a bake_time longer than the timeout")
	}
	wantOutput(t, res.Output, "bake_time 2h", "timeout 1h")
	for _, a := range []string{"RunInstances", "CreateImage", "CreateLaunchTemplateVersion", "StartInstanceRefresh"} {
		if n := e.calls(a); n != 0 {
			t.Errorf("%s called %d times: the build went ahead", a, n)
		}
	}
	if _, err := e.clients("us-east-1").ImageByName(context.Background(), amiName(t)); err == nil {
		t.Error("an AMI was baked although the template is invalid")
	}
	wantUntouched(t, before, e.snapshot("us-east-1", "web"))
	if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 1 {
		t.Errorf("template has %d versions, want 1", n)
	}
}

// ---------------------------------------------------------------------------
// 5. Ctrl-C while the refresh just started is not listed yet.

// TestCorrectnessInterruptNotListedYet: AWS lists a new refresh only after a
// moment. Ctrl-C in that moment must still roll the refresh back (it is the
// group's active refresh), not call it ended, and the AMI may be
// deregistered only once nothing runs or launches it.
func TestCorrectnessInterruptNotListedYet(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	// 20 emulated minutes: 6 s here, far longer than from the start to
	// the post-processor's look after Ctrl-C.
	e.emu.SetDescribeLag(20 * time.Minute)

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
	line := run.waitLine("started instance refresh line", startedLine.MatchString)
	id := startedLine.FindStringSubmatch(line.text)[1]
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	// Right at exit, before the test waits for anything: if Packer
	// deregistered the AMI, nothing may run or launch it any more.
	ami := amiOf(t, out)
	if !e.imageExists("us-east-1", ami) {
		st := e.snapshot("us-east-1", "web")
		irs := e.refreshes("us-east-1", "web")
		if n := st.Images()[ami]; n != 0 || st.Version != "1" {
			t.Errorf("AMI %s deregistered while %d instance(s) run it and the group names version %q:\n%s", ami, n, st.Version, st)
		}
		for _, ir := range irs {
			if ir.Status != astypes.InstanceRefreshStatusRollbackSuccessful && ir.Status != astypes.InstanceRefreshStatusCancelled {
				t.Errorf("AMI %s deregistered while refresh %s is %s", ami, aws.ToString(ir.InstanceRefreshId), ir.Status)
			}
		}
		if len(irs) == 0 {
			t.Errorf("AMI %s deregistered while refresh %s is not even listed yet", ami, id)
		}
	}
	wantOutput(t, out, "instance refresh "+id+" is not listed yet", "instance refresh ("+id+") interrupted",
		"rollback of instance refresh "+id+" started")
	if strings.Contains(out, "had already ended") {
		t.Error("the output says the refresh had already ended, but it was running")
	}
	e.checkActionCalls(interruptCase{rollbacks: 1})
	e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
	if irs := e.refreshes("us-east-1", "web"); len(irs) == 1 && aws.ToString(irs[0].InstanceRefreshId) != id {
		t.Errorf("the refresh rolled back is %s, want ours %s", aws.ToString(irs[0].InstanceRefreshId), id)
	}
}

// ---------------------------------------------------------------------------
// 6. A status the plugin does not know.

// TestCorrectnessUnknownStatus: AWS reports a status this plugin does not
// know. The build fails closed, says the refresh may still be running, and
// keeps the AMI, which the refresh may still be launching, from Packer's
// clean-up.
func TestCorrectnessUnknownStatus(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.emu.SetReportedStatus("web", "Paused", 0)
	t.Cleanup(e.emu.ClearReportedStatuses)

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although the refresh reports a status the plugin does not know")
	}
	ami := amiOf(t, res.Output)
	wantOutput(t, res.Output, `reports status "Paused", which this plugin does not know`, "may still be running",
		"aws autoscaling describe-instance-refreshes")
	if strings.Contains(res.Output, "Successful: the group runs") {
		t.Error("the output calls the roll-out successful")
	}
	if !e.imageExists("us-east-1", ami) {
		t.Errorf("AMI %s was deregistered although a refresh in an unknown state may still launch it", ami)
	}
	wantOutput(t, res.Output, "Protected AMI "+ami)
	e.checkActionCalls(interruptCase{}) // "nothing was done to it"
}

// ---------------------------------------------------------------------------
// 7. A minute of throttling.

// TestCorrectnessThrottledMinute: every Auto Scaling and EC2 call is
// throttled for a full minute of real time, then 30% of them until the end:
// once from the post-processor's start (its reads, the new version and the
// start meet it), once from the refresh's start (its waiter meets it, every
// poll refused for a minute). The roll-out must ride it out without
// draining a retry quota or giving up on the wait: one version, one
// refresh, the whole fleet on the new AMI.
func TestCorrectnessThrottledMinute(t *testing.T) {
	for _, c := range []struct {
		name  string
		from  func(run *packerRun) outputLine // the line the minute starts at
		calls string                          // an action that must meet it
	}{
		{"from-post-processor-start", func(run *packerRun) outputLine { return run.waitContains("Running post-processor") }, "DescribeAutoScalingGroups"},
		{"from-refresh-start", func(run *packerRun) outputLine {
			return run.waitLine("started instance refresh line", startedLine.MatchString)
		}, "DescribeInstanceRefreshes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
			run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
			run.onOverrun = func() { logTimeline(t, afterBuilder(e.emu.Calls())) }
			c.from(run)
			e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.FaultThrottle})
			e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.FaultThrottle})
			// A call may have gone out between the line and the faults: the
			// minute counts from here.
			fullFrom := time.Now()
			fullUntil := fullFrom.Add(time.Minute)
			timer := time.AfterFunc(time.Minute, func() {
				e.emu.ClearFaults()
				e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.FaultThrottle, Rate: 0.3})
				e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.FaultThrottle, Rate: 0.3})
			})
			code, out := run.wait()
			timer.Stop()
			e.emu.ClearFaults()
			calls := afterBuilder(e.emu.Calls())
			logFigures(t, calls)
			if code != 0 {
				logTimeline(t, calls)
				t.Fatalf("packer build exited %d under a minute of throttling", code)
			}
			if strings.Contains(out, "retry quota exceeded") {
				t.Error("the output shows a drained retry quota")
			}

			// The minute really was throttled: the post-processor kept
			// calling through it (the retryer backs off up to its maximum
			// delay between attempts, so how close to its end is not
			// asked), and nothing got through before it was over.
			during := 0
			for _, call := range calls {
				if call.Action == "" || call.Time.Before(fullFrom) || call.Time.After(fullUntil) {
					continue
				}
				if call.Fault != awsemu.FaultThrottle {
					t.Errorf("%s at %s got through during the minute of full throttling", call.Action, call.Time.Format(time.StampMilli))
					continue
				}
				if call.Action == c.calls {
					during++
				}
			}
			if during < 3 {
				t.Errorf("%d throttled %s calls during the minute, want 3 or more: the test did not throttle what it means to", during, c.calls)
			}

			ami := e.newAMI("us-east-1", amiName(t))
			st := e.snapshot("us-east-1", "web")
			wantAllOn(t, st, ami, 4)
			if st.Version != "2" {
				t.Errorf("group on version %q, want 2", st.Version)
			}
			if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 2 {
				t.Errorf("template has %d versions, want 2: exactly one created", n)
			}
			if irs := e.refreshes("us-east-1", "web"); len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful {
				t.Errorf("refreshes %s, want exactly one, Successful", describeRefreshes(irs))
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 8. Mixed instances overrides that carry an ImageId.

// TestCorrectnessOverrideImageIDs: overrides whose ImageId takes precedence
// over the template's AMI. A new template version alone would leave every
// instance on the old AMI; the desired configuration must carry the new
// AMI on each override.
func TestCorrectnessOverrideImageIDs(t *testing.T) {
	e := newEnv(t)
	stock, err := e.clients("us-east-1").StockImage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seeded := e.seed("us-east-1", fleet.Spec{Group: "mixed", Desired: 4, Overrides: []fleet.Override{
		{InstanceType: "t3.micro", ImageID: stock},
		{InstanceType: "t3a.micro", ImageID: stock},
	}})
	before := e.snapshot("us-east-1", "mixed")
	t.Logf("before:\n%s", before)

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "mixed"}}}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	after := e.snapshot("us-east-1", "mixed")
	t.Logf("after:\n%s", after)
	wantAllOn(t, after, ami, 4)
	if len(after.Overrides) != 2 {
		t.Fatalf("group has %d overrides after the roll-out, want 2: %+v", len(after.Overrides), after.Overrides)
	}
	for i, o := range after.Overrides {
		if o.ImageID != ami {
			t.Errorf("override %d (%s) has ImageId %q, want %s", i, o.InstanceType, o.ImageID, ami)
		}
		if o.InstanceType != before.Overrides[i].InstanceType {
			t.Errorf("override %d is %s, want %s as before", i, o.InstanceType, before.Overrides[i].InstanceType)
		}
	}
	if after.Version != "2" {
		t.Errorf("group on version %q, want 2", after.Version)
	}
	wantVersionImage(t, e.versions("us-east-1", seeded.LaunchTemplateID), seeded.LaunchTemplateID, 2, ami)
	for _, i := range after.Instances {
		for _, old := range before.Instances {
			if i.ID == old.ID {
				t.Errorf("instance %s survived the roll-out", i.ID)
			}
		}
	}
}
