package awsemu

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: a refresh with a DesiredConfiguration replaces every instance with
// one launched from the desired launch template version, and writes that
// configuration onto the group only when it succeeds; until then
// DescribeAutoScalingGroups shows the old version. The desired capacity is
// the same at the end.
func TestRefreshReplacesEveryInstanceThenUpdatesTheGroup(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 4)
	before := c.images(t, group)

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage: aws.Int32(50),
			InstanceWarmup:       aws.Int32(300),
		},
	})

	mid := c.waitFor(t, group, id, 20*time.Second, "half the instances replaced", func(r asgtypes.InstanceRefresh) bool {
		return aws.ToInt32(r.PercentageComplete) >= 50 && r.Status == asgtypes.InstanceRefreshStatusInProgress
	})
	if got := aws.ToString(c.group(t, group).LaunchTemplate.Version); got != "1" {
		t.Errorf("mid-refresh the group shows launch template version %s, want the old 1", got)
	}
	if aws.ToInt32(mid.InstancesToUpdate) != 2 || aws.ToInt32(mid.ProgressDetails.LivePoolProgress.InstancesToUpdate) != 2 {
		t.Errorf("mid-refresh InstancesToUpdate = %d (live pool %d), want 2", aws.ToInt32(mid.InstancesToUpdate), aws.ToInt32(mid.ProgressDetails.LivePoolProgress.InstancesToUpdate))
	}

	done := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if aws.ToInt32(done.PercentageComplete) != 100 || aws.ToInt32(done.InstancesToUpdate) != 0 {
		t.Errorf("finished refresh reports %d%% and %d to update", aws.ToInt32(done.PercentageComplete), aws.ToInt32(done.InstancesToUpdate))
	}
	if done.StartTime == nil || done.EndTime == nil || !done.EndTime.After(*done.StartTime) {
		t.Errorf("StartTime %v / EndTime %v not filled in", done.StartTime, done.EndTime)
	}
	if done.DesiredConfiguration == nil || aws.ToString(done.DesiredConfiguration.LaunchTemplate.Version) != v2 {
		t.Errorf("DesiredConfiguration not echoed: %+v", done.DesiredConfiguration)
	}
	if p := done.Preferences; p == nil || aws.ToInt32(p.MinHealthyPercentage) != 50 || aws.ToInt32(p.InstanceWarmup) != 300 ||
		p.ScaleInProtectedInstances != asgtypes.ScaleInProtectedInstancesWait || p.StandbyInstances != asgtypes.StandbyInstancesWait {
		t.Errorf("Preferences = %+v, want the given ones plus the API defaults", p)
	}

	g := c.group(t, group)
	if got := aws.ToString(g.LaunchTemplate.Version); got != v2 {
		t.Errorf("after the refresh the group uses version %s, want %s", got, v2)
	}
	if aws.ToInt32(g.DesiredCapacity) != 4 {
		t.Errorf("desired capacity %d, want 4", aws.ToInt32(g.DesiredCapacity))
	}
	// Each instance reports the version it was launched from.
	for _, in := range g.Instances {
		if got := aws.ToString(in.LaunchTemplate.Version); got != v2 {
			t.Errorf("DescribeAutoScalingGroups: instance %s reports version %s, want %s", aws.ToString(in.InstanceId), got, v2)
		}
	}
	insts, err := c.asg.DescribeAutoScalingInstances(ctxFor(t), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: instanceIDs(g)})
	if err != nil {
		t.Fatalf("DescribeAutoScalingInstances: %v", err)
	}
	for _, in := range insts.AutoScalingInstances {
		if got := aws.ToString(in.LaunchTemplate.Version); got != v2 || aws.ToString(in.LaunchTemplate.LaunchTemplateId) != lt {
			t.Errorf("DescribeAutoScalingInstances: instance %s reports %s version %s, want %s version %s",
				aws.ToString(in.InstanceId), aws.ToString(in.LaunchTemplate.LaunchTemplateId), got, lt, v2)
		}
	}
	after := c.images(t, group)
	if len(after) != 4 {
		t.Fatalf("group has %d instances, want 4", len(after))
	}
	for inst, ami := range after {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want %s", inst, ami, newAMI)
		}
		if _, old := before[inst]; old {
			t.Errorf("instance %s was not replaced", inst)
		}
	}

	acts, err := c.asg.DescribeScalingActivities(ctxFor(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeScalingActivities: %v", err)
	}
	var launches, terminations int
	for _, a := range acts.Activities {
		switch {
		case strings.HasPrefix(aws.ToString(a.Description), "Launching"):
			launches++
		case strings.HasPrefix(aws.ToString(a.Description), "Terminating"):
			terminations++
		}
	}
	if launches != 4 || terminations != 4 {
		t.Errorf("activities: %d launches and %d terminations, want 4 and 4", launches, terminations)
	}
}

// AWS: with MaxHealthyPercentage above 100 the group launches replacements
// before terminating the instances they replace.
func TestMaxHealthyPercentageLaunchesBeforeTerminating(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage: aws.Int32(100),
			MaxHealthyPercentage: aws.Int32(200),
			InstanceWarmup:       aws.Int32(60),
		},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	acts, err := c.asg.DescribeScalingActivities(ctxFor(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeScalingActivities: %v", err)
	}
	// Newest first: the oldest two must be the launches of the one batch.
	n := len(acts.Activities)
	if n != 4 {
		t.Fatalf("got %d activities, want 4", n)
	}
	for _, a := range acts.Activities[n-2:] {
		if !strings.HasPrefix(aws.ToString(a.Description), "Launching") {
			t.Errorf("activity %q came before a launch; replacements must launch first", aws.ToString(a.Description))
		}
	}
	for inst, ami := range c.images(t, group) {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want %s", inst, ami, newAMI)
		}
	}
}

// AWS: only one refresh can be active per group; a second start fails with
// InstanceRefreshInProgress. CancelInstanceRefresh moves the active one to
// Cancelling and then Cancelled, and with none active it fails with
// ActiveInstanceRefreshNotFound. A cancelled refresh leaves the group's
// configuration alone.
func TestSecondStartFailsAndCancel(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	in := &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(600)},
	}
	id := c.start(t, in)

	_, err := c.asg.StartInstanceRefresh(ctxFor(t), in)
	if apiCode(err) != "InstanceRefreshInProgress" {
		t.Fatalf("second StartInstanceRefresh: got %v, want InstanceRefreshInProgress", err)
	}

	c.waitFor(t, group, id, 10*time.Second, "InProgress", func(r asgtypes.InstanceRefresh) bool {
		return r.Status == asgtypes.InstanceRefreshStatusInProgress
	})
	out, err := c.asg.CancelInstanceRefresh(ctxFor(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("CancelInstanceRefresh: %v", err)
	}
	if aws.ToString(out.InstanceRefreshId) != id {
		t.Errorf("CancelInstanceRefresh returned id %s, want %s", aws.ToString(out.InstanceRefreshId), id)
	}
	if r := c.refresh(t, group, id); r.Status != asgtypes.InstanceRefreshStatusCancelling && r.Status != asgtypes.InstanceRefreshStatusCancelled {
		t.Errorf("right after cancelling the status is %s, want Cancelling", r.Status)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusCancelled)
	if got := aws.ToString(c.group(t, group).LaunchTemplate.Version); got != "1" {
		t.Errorf("a cancelled refresh changed the group to version %s", got)
	}
	if n := len(c.images(t, group)); n != 2 {
		t.Errorf("after cancelling the group has %d instances, want 2", n)
	}

	_, err = c.asg.CancelInstanceRefresh(ctxFor(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if apiCode(err) != "ActiveInstanceRefreshNotFound" {
		t.Errorf("CancelInstanceRefresh without an active refresh: got %v, want ActiveInstanceRefreshNotFound", err)
	}
	// The group is free for a new refresh.
	c.start(t, in)
}

// AWS: while a refresh with a desired configuration is active, the group's
// launch template cannot be changed with UpdateAutoScalingGroup.
func TestUpdateGroupBlockedDuringRefresh(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 1)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(600)},
	})
	_, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(lt), Version: aws.String(v2)},
	})
	if apiCode(err) != "ValidationError" {
		t.Errorf("UpdateAutoScalingGroup during a refresh: got %v, want ValidationError", err)
	}
	// Other settings stay updatable.
	if _, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MaxSize: aws.Int32(5),
	}); err != nil {
		t.Errorf("UpdateAutoScalingGroup of MaxSize during a refresh: %v", err)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
}

// AWS: with SkipMatching, instances already on the desired launch template
// version are not replaced; when all match the refresh succeeds at once.
func TestSkipMatching(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)

	// Leave the group half replaced: cancel after the first batch.
	first := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(50),
			InstanceWarmup:        aws.Int32(60),
			CheckpointPercentages: []int32{50, 100},
			CheckpointDelay:       aws.Int32(3600),
		},
	})
	c.waitFor(t, group, first, 10*time.Second, "the checkpoint", func(r asgtypes.InstanceRefresh) bool {
		return aws.ToInt32(r.PercentageComplete) == 50
	})
	if _, err := c.asg.CancelInstanceRefresh(ctxFor(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(group)}); err != nil {
		t.Fatalf("CancelInstanceRefresh: %v", err)
	}
	c.waitStatus(t, group, first, asgtypes.InstanceRefreshStatusCancelled)
	half := c.images(t, group)
	var onNew string
	for inst, ami := range half {
		if ami == newAMI {
			onNew = inst
		}
	}
	if onNew == "" {
		t.Fatalf("no instance on the new AMI after the first batch: %v", half)
	}

	second := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{SkipMatching: aws.Bool(true), InstanceWarmup: aws.Int32(60)},
	})
	r := c.refresh(t, group, second)
	if r.Status == asgtypes.InstanceRefreshStatusPending && aws.ToInt32(r.InstancesToUpdate) != 1 {
		t.Errorf("InstancesToUpdate = %d, want 1 (one instance already matches)", aws.ToInt32(r.InstancesToUpdate))
	}
	c.waitStatus(t, group, second, asgtypes.InstanceRefreshStatusSuccessful)
	after := c.images(t, group)
	if _, kept := after[onNew]; !kept {
		t.Errorf("matching instance %s was replaced despite SkipMatching", onNew)
	}
	for inst, ami := range after {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want %s", inst, ami, newAMI)
		}
	}

	// Everything matches now: the refresh has nothing to do.
	third := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{SkipMatching: aws.Bool(true)},
	})
	if r := c.refresh(t, group, third); r.Status != asgtypes.InstanceRefreshStatusSuccessful || aws.ToInt32(r.PercentageComplete) != 100 {
		t.Errorf("refresh with nothing to replace is %s at %d%%, want Successful at once", r.Status, aws.ToInt32(r.PercentageComplete))
	}
}

// AWS: after reaching each checkpoint percentage the refresh pauses for
// CheckpointDelay, saying so in StatusReason; with BakeTime it then bakes
// before succeeding.
func TestCheckpointsAndBaking(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 4)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(75), // one at a time
			InstanceWarmup:        aws.Int32(30),
			CheckpointPercentages: []int32{50, 100},
			CheckpointDelay:       aws.Int32(600),
			BakeTime:              aws.Int32(600),
		},
	})
	at := c.waitFor(t, group, id, 10*time.Second, "the 50% checkpoint", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), "checkpoint")
	})
	if at.Status != asgtypes.InstanceRefreshStatusInProgress || aws.ToInt32(at.PercentageComplete) != 50 {
		t.Errorf("at the checkpoint: %s at %d%%, want InProgress at 50%%", at.Status, aws.ToInt32(at.PercentageComplete))
	}
	if n := len(c.images(t, group)); n != 4 {
		t.Errorf("at the checkpoint the group has %d instances, want 4", n)
	}
	if got := at.Preferences.CheckpointPercentages; !slices.Equal(got, []int32{50, 100}) || aws.ToInt32(at.Preferences.CheckpointDelay) != 600 {
		t.Errorf("checkpoint preferences echoed as %v / %d", got, aws.ToInt32(at.Preferences.CheckpointDelay))
	}
	baking := c.waitFor(t, group, id, 10*time.Second, "Baking", func(r asgtypes.InstanceRefresh) bool {
		return r.Status == asgtypes.InstanceRefreshStatusBaking
	})
	if aws.ToInt32(baking.PercentageComplete) != 100 {
		t.Errorf("baking at %d%%, want 100", aws.ToInt32(baking.PercentageComplete))
	}
	if got := aws.ToString(c.group(t, group).LaunchTemplate.Version); got != "1" {
		t.Errorf("while baking the group shows version %s, want the old 1", got)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if got := aws.ToString(c.group(t, group).LaunchTemplate.Version); got != v2 {
		t.Errorf("after baking the group uses version %s, want %s", got, v2)
	}
}

// AWS: when new instances fail their health checks the refresh keeps trying
// for a while and then fails; without AutoRollback the group keeps its old
// configuration, its capacity is restored, and DescribeScalingActivities
// explains the failed launch.
func TestUnhealthyReplacementFailsTheRefresh(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	vBad := c.createVersion(t, lt, badAMI)
	group := c.createGroup(t, lt, "1", 2)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, vBad),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(60)},
	})
	waiting := c.waitFor(t, group, id, 10*time.Second, "the health check failure", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), "health check")
	})
	if waiting.Status != asgtypes.InstanceRefreshStatusInProgress {
		t.Errorf("while retrying the status is %s, want InProgress", waiting.Status)
	}
	failed := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusFailed)
	if !strings.Contains(aws.ToString(failed.StatusReason), "health checks") || failed.EndTime == nil {
		t.Errorf("failed refresh: reason %q, end %v", aws.ToString(failed.StatusReason), failed.EndTime)
	}
	g := c.group(t, group)
	if got := aws.ToString(g.LaunchTemplate.Version); got != "1" {
		t.Errorf("a failed refresh changed the group to version %s", got)
	}
	if aws.ToInt32(g.DesiredCapacity) != 2 || len(g.Instances) != 2 {
		t.Errorf("after the failure: desired %d with %d instances, want 2 and 2", aws.ToInt32(g.DesiredCapacity), len(g.Instances))
	}
	for inst, ami := range c.images(t, group) {
		if ami == badAMI {
			t.Errorf("unhealthy instance %s is still in the group", inst)
		}
	}
	acts, err := c.asg.DescribeScalingActivities(ctxFor(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeScalingActivities: %v", err)
	}
	var failedActs []asgtypes.Activity
	for _, a := range acts.Activities {
		if a.StatusCode == asgtypes.ScalingActivityStatusCodeFailed {
			failedActs = append(failedActs, a)
		}
	}
	if len(failedActs) == 0 {
		t.Fatalf("no failed scaling activity among %d", len(acts.Activities))
	}
	a := failedActs[0]
	if !strings.Contains(aws.ToString(a.StatusMessage), badAMI) || aws.ToString(a.Cause) == "" || aws.ToString(a.Description) == "" {
		t.Errorf("failed activity lacks detail: %+v", a)
	}
}

// AWS: with AutoRollback a failing refresh rolls back: RollbackInProgress,
// then RollbackSuccessful with RollbackDetails, the instances back on the
// group's original configuration, which never changed.
func TestUnhealthyReplacementWithAutoRollback(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	vBad := c.createVersion(t, lt, badAMI)
	group := c.createGroup(t, lt, "1", 2)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, vBad),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage: aws.Int32(50),
			InstanceWarmup:       aws.Int32(60),
			AutoRollback:         aws.Bool(true),
		},
	})
	r := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusRollbackSuccessful)
	rb := r.RollbackDetails
	if rb == nil || rb.RollbackStartTime == nil || !strings.Contains(aws.ToString(rb.RollbackReason), "health checks") ||
		aws.ToInt32(rb.PercentageCompleteOnRollback) != 100 || aws.ToInt32(rb.InstancesToUpdateOnRollback) != 0 {
		t.Errorf("RollbackDetails = %+v", rb)
	}
	g := c.group(t, group)
	if got := aws.ToString(g.LaunchTemplate.Version); got != "1" {
		t.Errorf("after the rollback the group uses version %s, want 1", got)
	}
	images := c.images(t, group)
	if len(images) != 2 {
		t.Errorf("after the rollback the group has %d instances, want 2", len(images))
	}
	for inst, ami := range images {
		if ami != oldAMI {
			t.Errorf("instance %s runs %s after the rollback, want %s", inst, ami, oldAMI)
		}
	}
}

// AWS: RollbackInstanceRefresh replaces the instances the refresh already
// replaced with the group's previous configuration.
func TestManualRollbackRestoresOldInstances(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 4)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(50),
			InstanceWarmup:        aws.Int32(60),
			CheckpointPercentages: []int32{50, 100},
		},
	})
	c.waitFor(t, group, id, 10*time.Second, "the checkpoint", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), "checkpoint")
	})
	out, err := c.asg.RollbackInstanceRefresh(ctxFor(t), &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("RollbackInstanceRefresh: %v", err)
	}
	if aws.ToString(out.InstanceRefreshId) != id {
		t.Errorf("RollbackInstanceRefresh returned %s, want %s", aws.ToString(out.InstanceRefreshId), id)
	}
	if r := c.refresh(t, group, id); r.Status != asgtypes.InstanceRefreshStatusRollbackInProgress && r.Status != asgtypes.InstanceRefreshStatusRollbackSuccessful {
		t.Errorf("right after RollbackInstanceRefresh the status is %s", r.Status)
	}
	r := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusRollbackSuccessful)
	if rb := r.RollbackDetails; rb == nil || aws.ToString(rb.RollbackReason) == "" || rb.ProgressDetailsOnRollback == nil {
		t.Errorf("RollbackDetails = %+v", rb)
	}
	images := c.images(t, group)
	if len(images) != 4 {
		t.Errorf("after the rollback the group has %d instances, want 4", len(images))
	}
	for inst, ami := range images {
		if ami != oldAMI {
			t.Errorf("instance %s runs %s after the rollback, want %s", inst, ami, oldAMI)
		}
	}
	if got := aws.ToString(c.group(t, group).LaunchTemplate.Version); got != "1" {
		t.Errorf("after the rollback the group uses version %s, want 1", got)
	}
}

// AWS: a rollback needs a desired configuration, numbered launch template
// versions (not $Latest or $Default) and an AMI that is not an SSM parameter:
// StartInstanceRefresh refuses AutoRollback otherwise (ValidationError) and
// RollbackInstanceRefresh fails with IrreversibleInstanceRefresh. Without an
// active refresh it fails with ActiveInstanceRefreshNotFound.
func TestRollbackPreconditions(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	v2 := c.createVersion(t, lt, newAMI)
	vSSM := c.createVersion(t, lt, "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
	group := c.createGroup(t, lt, "1", 1)
	latestGroup := c.createGroup(t, lt, "$Latest", 1)

	_, err := c.asg.RollbackInstanceRefresh(ctxFor(t), &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if apiCode(err) != "ActiveInstanceRefreshNotFound" {
		t.Errorf("rollback without an active refresh: got %v, want ActiveInstanceRefreshNotFound", err)
	}

	autoRollback := &asgtypes.RefreshPreferences{AutoRollback: aws.Bool(true), InstanceWarmup: aws.Int32(600)}
	for _, tc := range []struct {
		name    string
		group   string
		desired *asgtypes.DesiredConfiguration
	}{
		{"no desired configuration", group, nil},
		{"desired $Latest", group, ltDesired(lt, "$Latest")},
		{"desired $Default", group, ltDesired(lt, "$Default")},
		{"desired AMI from SSM", group, ltDesired(lt, vSSM)},
		{"group on $Latest", latestGroup, ltDesired(lt, v2)},
	} {
		_, err := c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{
			AutoScalingGroupName: aws.String(tc.group), DesiredConfiguration: tc.desired, Preferences: autoRollback,
		})
		if apiCode(err) != "ValidationError" {
			t.Errorf("AutoRollback with %s: got %v, want ValidationError", tc.name, err)
		}
	}

	// A refresh that cannot be rolled back: no desired configuration.
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(600)},
	})
	_, err = c.asg.RollbackInstanceRefresh(ctxFor(t), &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if apiCode(err) != "IrreversibleInstanceRefresh" {
		t.Errorf("rollback of a refresh without desired configuration: got %v, want IrreversibleInstanceRefresh", err)
	}
	if _, err := c.asg.CancelInstanceRefresh(ctxFor(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(group)}); err != nil {
		t.Fatalf("CancelInstanceRefresh: %v", err)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusCancelled)

	// A group on $Latest cannot be rolled back either.
	id = c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(latestGroup),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(600)},
	})
	_, err = c.asg.RollbackInstanceRefresh(ctxFor(t), &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(latestGroup)})
	if apiCode(err) != "IrreversibleInstanceRefresh" {
		t.Errorf("rollback of a group on $Latest: got %v, want IrreversibleInstanceRefresh", err)
	}
	c.waitStatus(t, latestGroup, id, asgtypes.InstanceRefreshStatusSuccessful)
}

// AWS: StartInstanceRefresh validates its preferences and needs an existing
// group.
func TestStartValidation(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, lt, "1", 0)
	for _, tc := range []struct {
		name  string
		group string
		prefs *asgtypes.RefreshPreferences
		strat asgtypes.RefreshStrategy
	}{
		{"missing group", "no-such-group", nil, ""},
		{"min above 100", group, &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(101)}, ""},
		{"max below 100", group, &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(90), MaxHealthyPercentage: aws.Int32(99)}, ""},
		{"max above 200", group, &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(90), MaxHealthyPercentage: aws.Int32(201)}, ""},
		{"max without min", group, &asgtypes.RefreshPreferences{MaxHealthyPercentage: aws.Int32(150)}, ""},
		{"max minus min above 100", group, &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(0), MaxHealthyPercentage: aws.Int32(150)}, ""},
		{"checkpoints not ascending", group, &asgtypes.RefreshPreferences{CheckpointPercentages: []int32{50, 20}}, ""},
		{"checkpoint above 100", group, &asgtypes.RefreshPreferences{CheckpointPercentages: []int32{150}}, ""},
		{"checkpoint delay too long", group, &asgtypes.RefreshPreferences{CheckpointPercentages: []int32{100}, CheckpointDelay: aws.Int32(172801)}, ""},
		{"bake time too long", group, &asgtypes.RefreshPreferences{BakeTime: aws.Int32(172801)}, ""},
		{"ReplaceRootVolume without mixed instances policy", group, nil, asgtypes.RefreshStrategyReplaceRootVolume},
	} {
		_, err := c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{
			AutoScalingGroupName: aws.String(tc.group), Preferences: tc.prefs, Strategy: tc.strat,
		})
		if apiCode(err) != "ValidationError" {
			t.Errorf("%s: got %v, want ValidationError", tc.name, err)
		}
	}
}

// AWS: ScaleInProtectedInstances=Wait makes the refresh wait for protection
// to be removed (Ignore skips protected instances), and a group with a mixed
// instances policy can take a mixed instances policy as desired
// configuration.
func TestProtectedInstancesAndMixedInstancesPolicy(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	g := c.group(t, group)
	protected := aws.ToString(g.Instances[0].InstanceId)
	if _, err := c.asg.SetInstanceProtection(ctxFor(t), &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: []string{protected}, ProtectedFromScaleIn: aws.Bool(true),
	}); err != nil {
		t.Fatalf("SetInstanceProtection: %v", err)
	}

	// Ignore: the protected instance stays as it is.
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			InstanceWarmup: aws.Int32(30), ScaleInProtectedInstances: asgtypes.ScaleInProtectedInstancesIgnore,
		},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if ami := c.images(t, group)[protected]; ami != oldAMI {
		t.Errorf("protected instance with Ignore: runs %q, want it kept on %s", ami, oldAMI)
	}

	// Wait (the default): the refresh waits until the protection is removed.
	mixed := &asgtypes.DesiredConfiguration{MixedInstancesPolicy: &asgtypes.MixedInstancesPolicy{
		LaunchTemplate: &asgtypes.LaunchTemplate{
			LaunchTemplateSpecification: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(lt), Version: aws.String(v2)},
			Overrides:                   []asgtypes.LaunchTemplateOverrides{{InstanceType: aws.String("t3.large")}, {InstanceType: aws.String("t3.xlarge")}},
		},
	}}
	id = c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: mixed,
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(30)},
	})
	waiting := c.waitFor(t, group, id, 10*time.Second, "waiting for the protected instance", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), protected)
	})
	if waiting.Status != asgtypes.InstanceRefreshStatusInProgress {
		t.Errorf("waiting refresh is %s, want InProgress", waiting.Status)
	}
	if dc := waiting.DesiredConfiguration; dc == nil || dc.MixedInstancesPolicy == nil || len(dc.MixedInstancesPolicy.LaunchTemplate.Overrides) != 2 ||
		aws.ToString(dc.MixedInstancesPolicy.LaunchTemplate.Overrides[1].InstanceType) != "t3.xlarge" {
		t.Errorf("mixed instances policy not echoed: %+v", dc)
	}
	if _, err := c.asg.SetInstanceProtection(ctxFor(t), &autoscaling.SetInstanceProtectionInput{
		AutoScalingGroupName: aws.String(group), InstanceIds: []string{protected}, ProtectedFromScaleIn: aws.Bool(false),
	}); err != nil {
		t.Fatalf("SetInstanceProtection: %v", err)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	images := c.images(t, group)
	if _, still := images[protected]; still {
		t.Errorf("formerly protected instance %s was not replaced", protected)
	}
	g = c.group(t, group)
	if g.MixedInstancesPolicy == nil {
		t.Errorf("the group did not take the desired mixed instances policy: %+v", g.LaunchTemplate)
	}
	for _, in := range g.Instances {
		if aws.ToString(in.InstanceType) != "t3.large" {
			t.Errorf("instance %s is %s, want the first override t3.large", aws.ToString(in.InstanceId), aws.ToString(in.InstanceType))
		}
	}
}

// AWS: DescribeInstanceRefreshes lists a group's refreshes newest first,
// MaxRecords at a time with NextToken, and can filter by id.
func TestDescribeInstanceRefreshesPaging(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, lt, "1", 0) // empty: every refresh succeeds at once
	var ids []string
	for range 5 {
		ids = append(ids, c.start(t, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String(group)}))
	}
	slices.Reverse(ids) // newest first

	var got []string
	pages := 0
	p := autoscaling.NewDescribeInstanceRefreshesPaginator(c.asg, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(2),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctxFor(t))
		if err != nil {
			t.Fatalf("DescribeInstanceRefreshes page %d: %v", pages+1, err)
		}
		if len(page.InstanceRefreshes) > 2 {
			t.Errorf("page of %d refreshes with MaxRecords 2", len(page.InstanceRefreshes))
		}
		for _, r := range page.InstanceRefreshes {
			got = append(got, aws.ToString(r.InstanceRefreshId))
			if r.Status != asgtypes.InstanceRefreshStatusSuccessful {
				t.Errorf("refresh of an empty group is %s, want Successful", r.Status)
			}
		}
		pages++
	}
	if !slices.Equal(got, ids) || pages != 3 {
		t.Errorf("paged %d pages: %v, want 3 pages: %v", pages, got, ids)
	}

	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), InstanceRefreshIds: []string{ids[3], ids[1]},
	})
	if err != nil {
		t.Fatalf("DescribeInstanceRefreshes by id: %v", err)
	}
	if len(out.InstanceRefreshes) != 2 || aws.ToString(out.InstanceRefreshes[0].InstanceRefreshId) != ids[1] {
		t.Errorf("filter by id returned %d refreshes", len(out.InstanceRefreshes))
	}

	for _, bad := range []int32{0, 101} {
		_, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{
			AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(bad),
		})
		if apiCode(err) != "ValidationError" {
			t.Errorf("MaxRecords %d: got %v, want ValidationError", bad, err)
		}
	}
	_, err = c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), NextToken: aws.String("bogus"),
	})
	if apiCode(err) != "ValidationError" {
		t.Errorf("bad NextToken: got %v, want ValidationError", err)
	}
}

// putAlarm creates a CloudWatch alarm in moto in the given state.
func putAlarm(t *testing.T, s *Server, name, state string) {
	t.Helper()
	mc := s.api.clientsFor("us-east-1", "test")
	if _, err := mc.raw(ctxFor(t), "monitoring", url.Values{
		"Action": {"PutMetricAlarm"}, "Version": {"2010-08-01"}, "AlarmName": {name},
		"MetricName": {"HTTPCode_Target_5XX_Count"}, "Namespace": {"AWS/ApplicationELB"}, "Statistic": {"Sum"},
		"Period": {"60"}, "EvaluationPeriods": {"1"}, "Threshold": {"1"}, "ComparisonOperator": {"GreaterThanThreshold"},
	}); err != nil {
		t.Fatalf("PutMetricAlarm: %v", err)
	}
	if _, err := mc.raw(ctxFor(t), "monitoring", url.Values{
		"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {name}, "StateValue": {state}, "StateReason": {"test"},
	}); err != nil {
		t.Fatalf("SetAlarmState: %v", err)
	}
}

// AWS: with an AlarmSpecification the refresh fails when one of its alarms
// goes into ALARM, and with AutoRollback it rolls back. Alarms must exist.
func TestAlarmSpecificationTriggersRollback(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	alarm := uniqueName(t)
	putAlarm(t, s, alarm, "OK")

	_, err := c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{AlarmSpecification: &asgtypes.AlarmSpecification{Alarms: []string{"no-such-alarm"}}},
	})
	if apiCode(err) != "ValidationError" {
		t.Errorf("unknown alarm: got %v, want ValidationError", err)
	}

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(50),
			InstanceWarmup:        aws.Int32(60),
			CheckpointPercentages: []int32{50, 100},
			AutoRollback:          aws.Bool(true),
			AlarmSpecification:    &asgtypes.AlarmSpecification{Alarms: []string{alarm}},
		},
	})
	at := c.waitFor(t, group, id, 10*time.Second, "the checkpoint", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), "checkpoint")
	})
	if got := at.Preferences.AlarmSpecification; got == nil || !slices.Equal(got.Alarms, []string{alarm}) {
		t.Errorf("AlarmSpecification echoed as %+v", got)
	}
	putAlarm(t, s, alarm, "ALARM")
	r := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusRollbackSuccessful)
	if reason := aws.ToString(r.RollbackDetails.RollbackReason); !strings.Contains(reason, alarm) {
		t.Errorf("rollback reason %q does not name the alarm", reason)
	}
	for inst, ami := range c.images(t, group) {
		if ami != oldAMI {
			t.Errorf("instance %s runs %s after the rollback, want %s", inst, ami, oldAMI)
		}
	}
}

// AWS: StandbyInstances=Wait (the default) makes the refresh wait for
// Standby instances to return to service and then replace them;
// Terminate terminates them instead.
func TestStandbyInstances(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 3)
	g := c.group(t, group)
	standby := aws.ToString(g.Instances[0].InstanceId)
	enterStandby := func(id string) {
		t.Helper()
		if _, err := c.asg.EnterStandby(ctxFor(t), &autoscaling.EnterStandbyInput{
			AutoScalingGroupName: aws.String(group), InstanceIds: []string{id}, ShouldDecrementDesiredCapacity: aws.Bool(true),
		}); err != nil {
			t.Fatalf("EnterStandby: %v", err)
		}
	}
	enterStandby(standby)

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(30)},
	})
	c.waitFor(t, group, id, 10*time.Second, "waiting for the Standby instance", func(r asgtypes.InstanceRefresh) bool {
		return strings.Contains(aws.ToString(r.StatusReason), standby)
	})
	if _, err := c.asg.ExitStandby(ctxFor(t), &autoscaling.ExitStandbyInput{AutoScalingGroupName: aws.String(group), InstanceIds: []string{standby}}); err != nil {
		t.Fatalf("ExitStandby: %v", err)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	images := c.images(t, group)
	if _, still := images[standby]; still || len(images) != 3 {
		t.Errorf("after the Standby instance returned: %v, want 3 new instances", images)
	}

	// Terminate: a Standby instance is terminated, not waited for.
	g = c.group(t, group)
	standby = aws.ToString(g.Instances[0].InstanceId)
	enterStandby(standby)
	v3 := c.createVersion(t, lt, oldAMI)
	id = c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v3),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(30), StandbyInstances: asgtypes.StandbyInstancesTerminate},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	images = c.images(t, group)
	if _, still := images[standby]; still {
		t.Errorf("Standby instance %s survived StandbyInstances=Terminate", standby)
	}
	for inst, ami := range images {
		if ami != oldAMI {
			t.Errorf("instance %s runs %s, want %s", inst, ami, oldAMI)
		}
	}
}

// AWS: a refresh without DesiredConfiguration replaces instances with the
// group's own configuration, a launch configuration included; such a refresh
// cannot auto-roll back.
func TestRefreshOfLaunchConfigurationGroup(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	name := uniqueName(t)
	if _, err := c.asg.CreateLaunchConfiguration(ctxFor(t), &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String(name), ImageId: aws.String(oldAMI), InstanceType: aws.String("t3.micro"),
	}); err != nil {
		t.Fatalf("CreateLaunchConfiguration: %v", err)
	}
	if _, err := c.asg.CreateAutoScalingGroup(ctxFor(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), LaunchConfigurationName: aws.String(name),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(3), DesiredCapacity: aws.Int32(2), AvailabilityZones: []string{"us-east-1a"},
		DefaultInstanceWarmup: aws.Int32(45),
	}); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	// AWS: DescribeAutoScalingGroups reports the DefaultInstanceWarmup the
	// group was created with (moto drops it; the emulator puts it back).
	groups, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(groups.AutoScalingGroups) != 1 || aws.ToInt32(groups.AutoScalingGroups[0].DefaultInstanceWarmup) != 45 {
		t.Errorf("DescribeAutoScalingGroups: DefaultInstanceWarmup not reported as 45 (%v)", err)
	}
	before := c.images(t, name)
	_, err = c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(name), Preferences: &asgtypes.RefreshPreferences{AutoRollback: aws.Bool(true)},
	})
	if apiCode(err) != "ValidationError" {
		t.Errorf("AutoRollback without desired configuration: got %v, want ValidationError", err)
	}
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String(name)})
	r := c.waitStatus(t, name, id, asgtypes.InstanceRefreshStatusSuccessful)
	if w := aws.ToInt32(r.Preferences.InstanceWarmup); w != 45 {
		t.Errorf("InstanceWarmup defaulted to %d, want the group's DefaultInstanceWarmup 45", w)
	}
	after := c.images(t, name)
	if len(after) != 2 {
		t.Fatalf("group has %d instances, want 2", len(after))
	}
	for inst, ami := range after {
		if _, old := before[inst]; old || ami != oldAMI {
			t.Errorf("instance %s (%s) was not replaced from the launch configuration", inst, ami)
		}
	}
}

// The AMI a build makes has an id no test knows in advance; marking it by
// tag makes its instances fail health checks all the same.
func TestUnhealthyImageTag(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	run, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(oldAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	tag := uniqueName(t)
	img, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{
		InstanceId: run.Instances[0].InstanceId, Name: aws.String(tag),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: []ec2types.Tag{{Key: aws.String("health"), Value: aws.String(tag)}}}},
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	s.SetUnhealthyImageTag("health", tag)
	t.Cleanup(func() { s.SetUnhealthyImageTag("", "") })

	lt, _ := c.createTemplate(t, oldAMI)
	vTagged := c.createVersion(t, lt, aws.ToString(img.ImageId))
	group := c.createGroup(t, lt, "1", 2)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, vTagged),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(60), AutoRollback: aws.Bool(true)},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusRollbackSuccessful)
	for inst, ami := range c.images(t, group) {
		if ami != oldAMI {
			t.Errorf("instance %s runs %s after the rollback, want %s", inst, ami, oldAMI)
		}
	}
}

// AWS, on CheckpointPercentages: "For example, if you specify [1,20] ...
// it then refreshes the next 19 percent before concluding the operation":
// the last checkpoint ends a refresh that stops short of 100 percent, with
// no CheckpointDelay after it.
func TestNoCheckpointDelayAfterTheLastCheckpoint(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	const delay = 3600
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage:  aws.Int32(50),
			InstanceWarmup:        aws.Int32(60),
			CheckpointPercentages: []int32{50},
			CheckpointDelay:       aws.Int32(delay),
		},
	})
	done := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	took := aws.ToTime(done.EndTime).Sub(aws.ToTime(done.StartTime))
	if took >= delay*time.Second {
		t.Errorf("the refresh took %v (emulated), at least the %ds checkpoint delay after its only checkpoint", took, delay)
	}
	onNew := 0
	for _, image := range c.images(t, group) {
		if image == newAMI {
			onNew++
		}
	}
	if onNew != 1 {
		t.Errorf("%d of 2 instances on the new AMI, want 1: the refresh ends at its 50%% checkpoint", onNew)
	}
}
