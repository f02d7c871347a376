package awsemu

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

func setPolicy(t *testing.T, c clients, group string, minH, maxH int32) error {
	t.Helper()
	_, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName:      aws.String(group),
		InstanceMaintenancePolicy: &asgtypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(minH), MaxHealthyPercentage: aws.Int32(maxH)},
	})
	return err
}

// AWS, StartInstanceRefresh: for MinHealthyPercentage "If you do not
// specify this property, the default is 90 percent, or the percentage set
// in the instance maintenance policy for the Auto Scaling group, if
// defined", and for MaxHealthyPercentage the default is 100 percent or the
// policy's. A group's policy is kept and reported, a refresh without
// healthy percentages runs with it (here: terminate two of four at a time,
// min 50 %), one with them runs with those, and -1 clears the policy.
func TestInstanceMaintenancePolicy(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 4)
	if err := setPolicy(t, c, group, 50, 100); err != nil {
		t.Fatalf("setting the policy: %v", err)
	}
	if p := c.group(t, group).InstanceMaintenancePolicy; p == nil || aws.ToInt32(p.MinHealthyPercentage) != 50 || aws.ToInt32(p.MaxHealthyPercentage) != 100 {
		t.Fatalf("DescribeAutoScalingGroups reports policy %+v, want 50/100", p)
	}

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(60)},
	})
	done := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if p := done.Preferences; aws.ToInt32(p.MinHealthyPercentage) != 50 || aws.ToInt32(p.MaxHealthyPercentage) != 100 {
		t.Errorf("refresh ran with healthy %d%%-%d%%, want the policy's 50%%-100%%", aws.ToInt32(p.MinHealthyPercentage), aws.ToInt32(p.MaxHealthyPercentage))
	}
	acts, err := c.asg.DescribeScalingActivities(ctxFor(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeScalingActivities: %v", err)
	}
	// Oldest last: with min 50 % of 4, the first batch terminates two
	// before their replacements launch; the API's default of 90 % would
	// replace one at a time.
	n := len(acts.Activities)
	if n < 4 {
		t.Fatalf("%d activities, want at least 4", n)
	}
	for _, a := range acts.Activities[n-2:] {
		if !strings.Contains(aws.ToString(a.Cause), "terminated before its replacement launched") {
			t.Errorf("first batch activity %q: want two instances terminated first, as the policy's 50 %% allows", aws.ToString(a.Cause))
		}
	}

	// Given in the request, the percentages win over the policy.
	lt2 := c.createVersion(t, lt, oldAMI)
	id = c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, lt2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(100), MaxHealthyPercentage: aws.Int32(150)},
	})
	done = c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if p := done.Preferences; aws.ToInt32(p.MinHealthyPercentage) != 100 || aws.ToInt32(p.MaxHealthyPercentage) != 150 {
		t.Errorf("refresh ran with healthy %d%%-%d%%, want the request's 100%%-150%%", aws.ToInt32(p.MinHealthyPercentage), aws.ToInt32(p.MaxHealthyPercentage))
	}

	// -1 for both clears it.
	if err := setPolicy(t, c, group, -1, -1); err != nil {
		t.Fatalf("clearing the policy: %v", err)
	}
	if p := c.group(t, group).InstanceMaintenancePolicy; p != nil {
		t.Errorf("cleared policy still reported: %+v", p)
	}
}

// AWS: both bounds must be given, the maximum is 100 to 200 and at most
// 100 above the minimum; a policy AWS would refuse is refused, and the
// group keeps the one it had.
func TestInstanceMaintenancePolicyValidation(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	_, _, group := c.groupWithVersion(t, newAMI, 1)
	if err := setPolicy(t, c, group, 90, 120); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]int32{{90, 99}, {0, 150}, {101, 200}, {-1, 120}} {
		if err := setPolicy(t, c, group, bad[0], bad[1]); apiCode(err) != "ValidationError" {
			t.Errorf("policy %d/%d: err %v, want ValidationError", bad[0], bad[1], err)
		}
	}
	_, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName:      aws.String(group),
		InstanceMaintenancePolicy: &asgtypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(90)},
	})
	if apiCode(err) != "ValidationError" {
		t.Errorf("policy with a minimum only: err %v, want ValidationError", err)
	}
	if p := c.group(t, group).InstanceMaintenancePolicy; p == nil || aws.ToInt32(p.MinHealthyPercentage) != 90 || aws.ToInt32(p.MaxHealthyPercentage) != 120 {
		t.Errorf("after refused updates the policy is %+v, want 90/120 kept", p)
	}
}
