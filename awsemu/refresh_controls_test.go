package awsemu

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// describeCount returns how many refreshes DescribeInstanceRefreshes lists
// for the group and id.
func (c clients) describeCount(t *testing.T, group, id string) int {
	t.Helper()
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), InstanceRefreshIds: []string{id},
	})
	if err != nil {
		t.Fatalf("DescribeInstanceRefreshes: %v", err)
	}
	return len(out.InstanceRefreshes)
}

// AWS (eventual consistency): a refresh that was just started can be
// missing from DescribeInstanceRefreshes for a while. SetDescribeLag makes
// it so for an emulated duration; Cancel acts on it meanwhile, because it
// acts on the group's active refresh, not on what Describe shows.
func TestDescribeLagHidesANewRefreshButCancelActsOnIt(t *testing.T) {
	s := ownServer(t, testSpeed)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)

	const lag = 10 * time.Hour // 60 s of real time at testSpeed: never reached by accident
	s.SetDescribeLag(lag)
	start := s.Now()
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(3600)},
	})
	if n := c.describeCount(t, group, id); n != 0 {
		t.Fatalf("right after the start Describe lists %d refreshes, want none during the lag", n)
	}
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil || len(out.InstanceRefreshes) != 0 {
		t.Fatalf("Describe without ids lists %v (err %v), want none during the lag", out, err)
	}
	cancel, err := c.asg.CancelInstanceRefresh(ctxFor(t), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(group)})
	if err != nil || aws.ToString(cancel.InstanceRefreshId) != id {
		t.Fatalf("CancelInstanceRefresh during the lag: %v, %v; want it to cancel %s", cancel, err, id)
	}

	s.SetDescribeLag(0) // later refreshes are not affected; this one keeps its lag
	if n := c.describeCount(t, group, id); n != 0 {
		t.Fatalf("after SetDescribeLag(0) the running lag ended early")
	}
	s.SetSpeed(3600 * 100) // let the emulated hours pass
	deadline := time.Now().Add(10 * time.Second)
	for c.describeCount(t, group, id) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the refresh never became visible")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := c.refresh(t, group, id)
	if seen := s.Now(); seen.Sub(start) < lag {
		t.Errorf("the refresh became visible after %v of emulated time, want at least %v", seen.Sub(start), lag)
	}
	if r.Status != asgtypes.InstanceRefreshStatusCancelled && r.Status != asgtypes.InstanceRefreshStatusCancelling {
		t.Errorf("once visible the refresh is %s, want it cancelled", r.Status)
	}
}

// SetReportedStatus makes Describe report a status the client may not know
// (AWS adds statuses: Baking came late) while the refresh keeps running:
// once the override ends the real status shows, and the refresh finishes.
func TestReportedStatusOverridesDescribeWhileTheRefreshRuns(t *testing.T) {
	s := ownServer(t, testSpeed)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(36000)},
	})
	c.waitFor(t, group, id, 10*time.Second, "InProgress", func(r asgtypes.InstanceRefresh) bool {
		return r.Status == asgtypes.InstanceRefreshStatusInProgress
	})

	s.SetReportedStatus(group, "Paused", 0)
	if r := c.refresh(t, group, id); r.Status != "Paused" || r.StartTime == nil {
		t.Fatalf("with the override Describe reports %s (start %v), want Paused and the other fields", r.Status, r.StartTime)
	}
	if r := c.refresh(t, group, id); r.Status != "Paused" {
		t.Fatalf("an override without a duration ended by itself: %s", r.Status)
	}
	s.SetReportedStatus(group, "Paused", time.Hour)
	s.SetSpeed(3600 * 100)
	c.waitFor(t, group, id, 10*time.Second, "the real status back", func(r asgtypes.InstanceRefresh) bool { return r.Status != "Paused" })
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)

	s.SetReportedStatus(group, "SomethingNew", 0)
	if r := c.refresh(t, group, id); r.Status != "SomethingNew" {
		t.Errorf("finished refreshes get the override too: got %s", r.Status)
	}
	s.SetReportedStatus(group, "", 0)
	if r := c.refresh(t, group, id); r.Status != asgtypes.InstanceRefreshStatusSuccessful {
		t.Errorf("after clearing Describe reports %s, want Successful", r.Status)
	}
}
