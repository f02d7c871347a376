package awsemu

import (
	"encoding/xml"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// elb makes signed Elastic Load Balancing Query calls (both versions) to
// the front server; the project has no ELB SDK.
func elb(t *testing.T, s *Server, version string, form url.Values) []byte {
	t.Helper()
	form.Set("Version", version)
	mc := newMotoAPI(s.URL(), nil).clientsFor("us-east-1", "test")
	body, err := mc.raw(ctxFor(t), serviceELB, form)
	if err != nil {
		t.Fatalf("%s: %v", form.Get("Action"), err)
	}
	return body
}

const (
	elbv2Version = "2015-12-01"
	elbVersion   = "2012-06-01"
)

// loadBalanced creates a target group and a Classic Load Balancer and
// attaches both to the group.
func loadBalanced(t *testing.T, s *Server, c clients, group string) (tgARN, clb string) {
	t.Helper()
	vpcs, err := c.ec2.DescribeVpcs(ctxFor(t), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) == 0 {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	var tg struct {
		ARN string `xml:"CreateTargetGroupResult>TargetGroups>member>TargetGroupArn"`
	}
	body := elb(t, s, elbv2Version, url.Values{"Action": {"CreateTargetGroup"}, "Name": {group[len(group)-20:]}, "Protocol": {"HTTP"},
		"Port": {"80"}, "VpcId": {aws.ToString(vpcs.Vpcs[0].VpcId)}})
	if err := xml.Unmarshal(body, &tg); err != nil || tg.ARN == "" {
		t.Fatalf("CreateTargetGroup answered %s (%v)", body, err)
	}
	clb = "clb" + strconv.FormatInt(nameSeq.Add(1), 10)
	elb(t, s, elbVersion, url.Values{"Action": {"CreateLoadBalancer"}, "LoadBalancerName": {clb},
		"AvailabilityZones.member.1":  {"us-east-1a"},
		"Listeners.member.1.Protocol": {"HTTP"}, "Listeners.member.1.LoadBalancerPort": {"80"}, "Listeners.member.1.InstancePort": {"80"}})
	if _, err := c.asg.AttachLoadBalancerTargetGroups(ctxFor(t), &autoscaling.AttachLoadBalancerTargetGroupsInput{
		AutoScalingGroupName: aws.String(group), TargetGroupARNs: []string{tg.ARN},
	}); err != nil {
		t.Fatalf("AttachLoadBalancerTargetGroups: %v", err)
	}
	if _, err := c.asg.AttachLoadBalancers(ctxFor(t), &autoscaling.AttachLoadBalancersInput{
		AutoScalingGroupName: aws.String(group), LoadBalancerNames: []string{clb},
	}); err != nil {
		t.Fatalf("AttachLoadBalancers: %v", err)
	}
	return tg.ARN, clb
}

// registered returns the instances DescribeTargetHealth and
// DescribeInstanceHealth list, sorted.
func registered(t *testing.T, s *Server, tgARN, clb string) (targets, instances []string) {
	t.Helper()
	var th struct {
		IDs []string `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member>Target>Id"`
	}
	if err := xml.Unmarshal(elb(t, s, elbv2Version, url.Values{"Action": {"DescribeTargetHealth"}, "TargetGroupArn": {tgARN}}), &th); err != nil {
		t.Fatalf("reading DescribeTargetHealth: %v", err)
	}
	var ih struct {
		IDs []string `xml:"DescribeInstanceHealthResult>InstanceStates>member>InstanceId"`
	}
	if err := xml.Unmarshal(elb(t, s, elbVersion, url.Values{"Action": {"DescribeInstanceHealth"}, "LoadBalancerName": {clb}}), &ih); err != nil {
		t.Fatalf("reading DescribeInstanceHealth: %v", err)
	}
	sort.Strings(th.IDs)
	sort.Strings(ih.IDs)
	return th.IDs, ih.IDs
}

func (c clients) suspend(t *testing.T, group string, procs ...string) {
	t.Helper()
	if _, err := c.asg.SuspendProcesses(ctxFor(t), &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(group), ScalingProcesses: procs}); err != nil {
		t.Fatalf("SuspendProcesses: %v", err)
	}
}

func (c clients) setDesired(t *testing.T, group string, n int32) {
	t.Helper()
	if _, err := c.asg.SetDesiredCapacity(ctxFor(t), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(n)}); err != nil {
		t.Fatalf("SetDesiredCapacity: %v", err)
	}
}

// AWS: "Amazon EC2 Auto Scaling launches the instances but does not add
// them to the load balancer target group or Classic Load Balancer. When you
// resume the AddToLoadBalancer process, it resumes adding instances to the
// load balancer when they are launched. However, it does not add the
// instances that were launched while this process was suspended. You must
// register those instances manually." That holds for a refresh's
// replacements and for instances the group launches itself.
func TestAddToLoadBalancerSuspendedKeepsNewInstancesUnregistered(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, newAMI, 2)
	tgARN, clb := loadBalanced(t, s, c, group)
	before := instanceIDs(c.group(t, group))
	sort.Strings(before)
	if tg, in := registered(t, s, tgARN, clb); !slices.Equal(tg, before) || !slices.Equal(in, before) {
		t.Fatalf("before the suspension the load balancers list %v and %v, want the members %v", tg, in, before)
	}

	c.suspend(t, group, processAddToLoadBalancer)
	if g := c.group(t, group); len(g.SuspendedProcesses) != 1 || aws.ToString(g.SuspendedProcesses[0].ProcessName) != processAddToLoadBalancer {
		t.Fatalf("DescribeAutoScalingGroups reports suspended processes %+v", g.SuspendedProcesses)
	}
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(60)},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	c.setDesired(t, group, 3) // the group launches one itself
	launchedWhileSuspended := instanceIDs(c.group(t, group))
	if len(launchedWhileSuspended) != 3 {
		t.Fatalf("group has %d members, want 3", len(launchedWhileSuspended))
	}

	if _, err := c.asg.ResumeProcesses(ctxFor(t), &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(group)}); err != nil {
		t.Fatalf("ResumeProcesses: %v", err)
	}
	c.setDesired(t, group, 4) // launched after the resume: registered
	var after []string
	for _, m := range instanceIDs(c.group(t, group)) {
		if !slices.Contains(launchedWhileSuspended, m) {
			after = append(after, m)
		}
	}
	if len(after) != 1 {
		t.Fatalf("after the resume %d new members, want 1", len(after))
	}
	for _, gone := range before {
		if slices.Contains(launchedWhileSuspended, gone) {
			t.Fatalf("instance %s was not replaced", gone)
		}
	}
	tg, in := registered(t, s, tgARN, clb)
	for _, id := range launchedWhileSuspended {
		if slices.Contains(tg, id) || slices.Contains(in, id) {
			t.Errorf("instance %s launched while AddToLoadBalancer was suspended is registered (target group %v, load balancer %v)", id, tg, in)
		}
	}
	if !slices.Contains(tg, after[0]) || !slices.Contains(in, after[0]) {
		t.Errorf("instance %s launched after the resume is not registered (target group %v, load balancer %v)", after[0], tg, in)
	}

	// "You must register those instances manually": then they show.
	manual := launchedWhileSuspended[0]
	elb(t, s, elbv2Version, url.Values{"Action": {"RegisterTargets"}, "TargetGroupArn": {tgARN}, "Targets.member.1.Id": {manual}})
	if tg, _ := registered(t, s, tgARN, clb); !slices.Contains(tg, manual) {
		t.Errorf("instance %s registered by hand is missing from DescribeTargetHealth: %v", manual, tg)
	}
}

// AWS: with HealthCheck suspended "Amazon EC2 Auto Scaling stops marking
// instances unhealthy as a result of EC2 and Elastic Load Balancing health
// checks", so replacements from a bad AMI pass and the refresh succeeds.
func TestHealthCheckSuspendedLetsABadImageThrough(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, badAMI, 2)
	c.suspend(t, group, processHealthCheck)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(60)},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	for inst, ami := range c.images(t, group) {
		if ami != badAMI {
			t.Errorf("instance %s runs %s, want the unchecked %s", inst, ami, badAMI)
		}
	}
}

// AWS: with ReplaceUnhealthy suspended "Amazon EC2 Auto Scaling stops
// replacing instances that are marked as unhealthy. Instances that fail EC2
// or Elastic Load Balancing health checks are still marked as unhealthy."
// The bad replacement stays in the group, marked Unhealthy; the refresh,
// whose new instances never pass their health checks, fails.
func TestReplaceUnhealthySuspendedKeepsTheUnhealthyReplacement(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, v2, group := c.groupWithVersion(t, badAMI, 2)
	c.suspend(t, group, processReplaceUnhealthy)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(60)},
	})
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusFailed)
	g := c.group(t, group)
	images := c.images(t, group)
	var unhealthy []string
	for _, in := range g.Instances {
		if aws.ToString(in.HealthStatus) == "Unhealthy" {
			unhealthy = append(unhealthy, aws.ToString(in.InstanceId))
			if images[aws.ToString(in.InstanceId)] != badAMI {
				t.Errorf("unhealthy instance %s runs %s, want %s", aws.ToString(in.InstanceId), images[aws.ToString(in.InstanceId)], badAMI)
			}
		}
	}
	if len(unhealthy) != 1 || len(g.Instances) != 2 {
		t.Errorf("group has %d instances, %v unhealthy; want 2 with the one bad replacement kept, marked Unhealthy", len(g.Instances), unhealthy)
	}
}
