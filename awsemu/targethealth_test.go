package awsemu

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// The phases follow the thresholds: healthy after HealthyThresholdCount ×
// interval, unhealthy after UnhealthyThresholdCount × interval, and
// registration in progress for the first interval.
func TestHealthCheckPhases(t *testing.T) {
	c := healthCheck{Interval: 30 * time.Second, Healthy: 5, Unhealthy: 2, Enabled: true}
	for _, tc := range []struct {
		elapsed time.Duration
		bad     bool
		want    phase
	}{
		{0, false, phaseRegistering},
		{29 * time.Second, true, phaseRegistering},
		{30 * time.Second, false, phaseChecking},
		{149 * time.Second, false, phaseChecking},
		{150 * time.Second, false, phaseHealthy},
		{59 * time.Second, true, phaseChecking},
		{60 * time.Second, true, phaseUnhealthy},
		{time.Hour, true, phaseUnhealthy},
	} {
		if got := c.phaseAt(tc.elapsed, tc.bad); got != tc.want {
			t.Errorf("after %v (bad %v): phase %d, want %d", tc.elapsed, tc.bad, got, tc.want)
		}
	}
}

// tgState is one target as DescribeTargetHealth reports it.
type tgState struct{ State, Reason string }

// targetStates returns DescribeTargetHealth's answer by target id; ids, if
// given, are asked for by name.
func targetStates(t *testing.T, s *Server, arn string, ids ...string) map[string]tgState {
	t.Helper()
	form := url.Values{"Action": {"DescribeTargetHealth"}, "TargetGroupArn": {arn}}
	for i, id := range ids {
		form.Set("Targets.member."+strconv.Itoa(i+1)+".Id", id)
	}
	var doc struct {
		Members []struct {
			ID     string `xml:"Target>Id"`
			State  string `xml:"TargetHealth>State"`
			Reason string `xml:"TargetHealth>Reason"`
		} `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
	}
	if err := xml.Unmarshal(elb(t, s, elbv2Version, form), &doc); err != nil {
		t.Fatalf("reading DescribeTargetHealth: %v", err)
	}
	out := map[string]tgState{}
	for _, m := range doc.Members {
		out[m.ID] = tgState{m.State, m.Reason}
	}
	return out
}

// clbState is one instance as DescribeInstanceHealth reports it.
type clbState struct{ State, ReasonCode, Description string }

func clbStates(t *testing.T, s *Server, name string, ids ...string) map[string]clbState {
	t.Helper()
	form := url.Values{"Action": {"DescribeInstanceHealth"}, "LoadBalancerName": {name}}
	for i, id := range ids {
		form.Set("Instances.member."+strconv.Itoa(i+1)+".InstanceId", id)
	}
	var doc struct {
		Members []struct {
			ID          string `xml:"InstanceId"`
			State       string `xml:"State"`
			ReasonCode  string `xml:"ReasonCode"`
			Description string `xml:"Description"`
		} `xml:"DescribeInstanceHealthResult>InstanceStates>member"`
	}
	if err := xml.Unmarshal(elb(t, s, elbVersion, form), &doc); err != nil {
		t.Fatalf("reading DescribeInstanceHealth: %v", err)
	}
	out := map[string]clbState{}
	for _, m := range doc.Members {
		out[m.ID] = clbState{m.State, m.ReasonCode, m.Description}
	}
	return out
}

// eventually polls cond every 10 ms for up to 20 s of real time.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never %s; last: %s", what, last)
}

func fmtV(v any) string { return fmt.Sprintf("%+v", v) }

// Target and instance health follow the emulated clock and the AMI, in
// target groups and Classic Load Balancers alike, and a target that leaves
// drains for the deregistration delay (see targethealth.go for the AWS
// documentation each step follows). The clock runs at real speed while a
// state must hold, fast while the test waits for the next one.
func TestLoadBalancerHealthFollowsTheClockAndTheAMI(t *testing.T) {
	s := ownServer(t, 1)
	s.SetUnhealthyImages(badAMI)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	good := c.createGroup(t, templateID, "1", 2)
	tgARN, clb := loadBalanced(t, s, c, good)
	badTemplate, _ := c.createTemplate(t, badAMI)
	bad := c.createGroup(t, badTemplate, "1", 1)
	if _, err := c.asg.AttachLoadBalancerTargetGroups(ctxFor(t), &autoscaling.AttachLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String(bad), TargetGroupARNs: []string{tgARN}}); err != nil {
		t.Fatalf("AttachLoadBalancerTargetGroups: %v", err)
	}
	if _, err := c.asg.AttachLoadBalancers(ctxFor(t), &autoscaling.AttachLoadBalancersInput{AutoScalingGroupName: aws.String(bad), LoadBalancerNames: []string{clb}}); err != nil {
		t.Fatalf("AttachLoadBalancers: %v", err)
	}
	goodIDs, badID := instanceIDs(c.group(t, good)), instanceIDs(c.group(t, bad))[0]

	// Just registered: initial, and OutOfService while registration is in
	// progress (the first 30 emulated seconds, real seconds here).
	tg := targetStates(t, s, tgARN)
	in := clbStates(t, s, clb)
	if len(tg) != 3 || len(in) != 3 {
		t.Fatalf("want 3 targets in each load balancer, got %v and %v", tg, in)
	}
	for id, st := range tg {
		if st.State != "initial" || st.Reason != "Elb.RegistrationInProgress" {
			t.Errorf("new target %s is %+v, want initial (Elb.RegistrationInProgress)", id, st)
		}
	}
	for id, st := range in {
		if st != (clbState{"OutOfService", "ELB", "Instance registration is still in progress."}) {
			t.Errorf("new instance %s is %+v in the classic load balancer", id, st)
		}
	}

	// 5 × 30 s later the good ones are healthy, and after 2 × 30 s the bad
	// one is unhealthy; the CLB (10 × 30 s) follows.
	s.SetSpeed(3000)
	eventually(t, "healthy everywhere but on the bad AMI", func() (bool, string) {
		tg, in := targetStates(t, s, tgARN), clbStates(t, s, clb)
		ok := tg[badID] == tgState{"unhealthy", "Target.FailedHealthChecks"} &&
			in[badID] == clbState{"OutOfService", "Instance", "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."}
		for _, id := range goodIDs {
			ok = ok && tg[id] == tgState{"healthy", ""} && in[id] == clbState{"InService", "N/A", "N/A"}
		}
		return ok, fmtV(tg) + " " + fmtV(in)
	})

	// Leaving: a 600 s deregistration delay and connection draining.
	s.SetSpeed(1)
	elb(t, s, elbv2Version, url.Values{"Action": {"ModifyTargetGroupAttributes"}, "TargetGroupArn": {tgARN},
		"Attributes.member.1.Key": {"deregistration_delay.timeout_seconds"}, "Attributes.member.1.Value": {"600"}})
	elb(t, s, elbVersion, url.Values{"Action": {"ModifyLoadBalancerAttributes"}, "LoadBalancerName": {clb},
		"LoadBalancerAttributes.ConnectionDraining.Enabled": {"true"}, "LoadBalancerAttributes.ConnectionDraining.Timeout": {"600"}})
	if _, err := c.asg.DetachLoadBalancerTargetGroups(ctxFor(t), &autoscaling.DetachLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String(good), TargetGroupARNs: []string{tgARN}}); err != nil {
		t.Fatalf("DetachLoadBalancerTargetGroups: %v", err)
	}
	if _, err := c.asg.DetachLoadBalancers(ctxFor(t), &autoscaling.DetachLoadBalancersInput{AutoScalingGroupName: aws.String(good), LoadBalancerNames: []string{clb}}); err != nil {
		t.Fatalf("DetachLoadBalancers: %v", err)
	}
	// Detaching the instance from its group deregisters it too (moto
	// leaves it in the target group).
	if _, err := c.asg.DetachInstances(ctxFor(t), &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String(bad), InstanceIds: []string{badID}, ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatalf("DetachInstances: %v", err)
	}
	tg, in = targetStates(t, s, tgARN), clbStates(t, s, clb)
	for _, id := range append(goodIDs, badID) {
		if tg[id] != (tgState{"draining", "Target.DeregistrationInProgress"}) {
			t.Errorf("target %s that left is %+v, want draining", id, tg[id])
		}
		if in[id] != (clbState{"InService", "N/A", "Instance deregistration currently in progress."}) {
			t.Errorf("instance %s that left is %+v in the classic load balancer, want deregistration in progress", id, in[id])
		}
	}

	s.SetSpeed(3000)
	eventually(t, "gone once the delay passed", func() (bool, string) {
		tg, in := targetStates(t, s, tgARN), clbStates(t, s, clb)
		return len(tg) == 0 && len(in) == 0, fmtV(tg) + " " + fmtV(in)
	})
	if st := targetStates(t, s, tgARN, badID); st[badID] != (tgState{"unused", "Target.NotRegistered"}) {
		t.Errorf("asked for by id after the delay, the target is %+v, want unused (Target.NotRegistered)", st[badID])
	}
	if st := clbStates(t, s, clb, badID); st[badID] != (clbState{"OutOfService", "N/A", "Instance is not currently registered with the LoadBalancer."}) {
		t.Errorf("asked for by id after draining, the instance is %+v", st[badID])
	}
}
