package awsemu

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// deleteGroup calls DeleteAutoScalingGroup and returns the AWS error code.
func (c clients) deleteGroup(t *testing.T, name string, force bool) string {
	t.Helper()
	_, err := c.asg.DeleteAutoScalingGroup(ctxFor(t), &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), ForceDelete: aws.Bool(force)})
	if err != nil && apiCode(err) == "" {
		t.Fatalf("DeleteAutoScalingGroup: %v", err)
	}
	return apiCode(err)
}

func (c clients) exists(t *testing.T, name string) bool {
	t.Helper()
	out, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		t.Fatalf("DescribeAutoScalingGroups: %v", err)
	}
	return len(out.AutoScalingGroups) == 1
}

func (c clients) setProtection(t *testing.T, name string, p asgtypes.DeletionProtection) {
	t.Helper()
	if _, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), DeletionProtection: p}); err != nil {
		t.Fatalf("UpdateAutoScalingGroup(DeletionProtection %s): %v", p, err)
	}
}

// AWS ("Configure deletion protection for your Amazon EC2 Auto Scaling
// resources"): "Prevent all deletion: Your Auto Scaling group can't be
// deleted regardless of whether the ForceDelete option is used"; "Prevent
// force deletion: ... can't be deleted when using the ForceDelete option.
// This configuration allows deletion of empty Auto Scaling groups"; a
// blocked deletion is a ValidationError and changes nothing. And
// DeleteAutoScalingGroup: "If the group has instances or scaling activities
// in progress, you must specify the option to force the deletion".
func TestDeletionProtectionAndForceDelete(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, templateID, "1", 2)
	if g := c.group(t, group); g.DeletionProtection != asgtypes.DeletionProtectionNone {
		t.Errorf("a new group reports DeletionProtection %q, want AWS's default none", g.DeletionProtection)
	}
	if code := c.deleteGroup(t, group, false); code != "ResourceInUse" || !c.exists(t, group) {
		t.Fatalf("deleting a group with instances without ForceDelete answered %q; want ResourceInUse and the group kept", code)
	}

	c.setProtection(t, group, asgtypes.DeletionProtectionPreventAllDeletion)
	if g := c.group(t, group); g.DeletionProtection != asgtypes.DeletionProtectionPreventAllDeletion {
		t.Fatalf("DescribeAutoScalingGroups reports DeletionProtection %q", g.DeletionProtection)
	}
	for _, force := range []bool{true, false} {
		if code := c.deleteGroup(t, group, force); code != "ValidationError" || len(c.group(t, group).Instances) != 2 {
			t.Errorf("prevent-all-deletion, ForceDelete %v: answered %q; want ValidationError and the group with its 2 instances", force, code)
		}
	}

	c.setProtection(t, group, asgtypes.DeletionProtectionPreventForceDeletion)
	if code := c.deleteGroup(t, group, true); code != "ValidationError" || len(c.group(t, group).Instances) != 2 {
		t.Errorf("prevent-force-deletion with ForceDelete answered %q; want ValidationError and the group untouched", code)
	}
	c.setDesired(t, group, 0)
	if code := c.deleteGroup(t, group, false); code != "" || c.exists(t, group) {
		t.Errorf("prevent-force-deletion, empty group, no ForceDelete: answered %q, group exists %v; want it deleted", code, c.exists(t, group))
	}

	// Without protection, ForceDelete deletes a group with instances and
	// terminates them.
	other := c.createGroup(t, templateID, "1", 1)
	ids := instanceIDs(c.group(t, other))
	if code := c.deleteGroup(t, other, true); code != "" || c.exists(t, other) {
		t.Fatalf("ForceDelete answered %q", code)
	}
	out, err := c.ec2.DescribeInstances(ctxFor(t), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if in.State.Name != ec2types.InstanceStateNameTerminated {
				t.Errorf("instance %s of the force-deleted group is %s", aws.ToString(in.InstanceId), in.State.Name)
			}
		}
	}

	if _, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group), DeletionProtection: "sometimes"}); apiCode(err) != "ValidationError" {
		t.Errorf("an unknown DeletionProtection answered %v, want ValidationError", err)
	}
}

// A blue/green copy puts the same policies and scheduled actions, under the
// same names, on a second group: each group keeps its own (moto keeps one
// per name across groups). AWS: a policy's ARN names its group; "If the
// group has scaling policies, deleting the group deletes the policies".
func TestScalingPoliciesAndScheduledActionsBelongToTheirGroup(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	blue := c.createGroup(t, templateID, "1", 1)
	green := c.createGroup(t, templateID, "1", 1)
	put := func(group string) {
		for _, in := range []*autoscaling.PutScalingPolicyInput{
			{PolicyName: aws.String("cpu"), PolicyType: aws.String("TargetTrackingScaling"), TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{
				TargetValue: aws.Float64(50), PredefinedMetricSpecification: &asgtypes.PredefinedMetricSpecification{PredefinedMetricType: asgtypes.MetricTypeASGAverageCPUUtilization}}},
			{PolicyName: aws.String("steps"), PolicyType: aws.String("StepScaling"), AdjustmentType: aws.String("ChangeInCapacity"), StepAdjustments: []asgtypes.StepAdjustment{
				{MetricIntervalLowerBound: aws.Float64(0), MetricIntervalUpperBound: aws.Float64(10), ScalingAdjustment: aws.Int32(1)},
				{MetricIntervalLowerBound: aws.Float64(10), ScalingAdjustment: aws.Int32(2)}}},
			{PolicyName: aws.String("simple"), AdjustmentType: aws.String("ChangeInCapacity"), ScalingAdjustment: aws.Int32(1), Cooldown: aws.Int32(120)},
			{PolicyName: aws.String("predict"), PolicyType: aws.String("PredictiveScaling"), PredictiveScalingConfiguration: &asgtypes.PredictiveScalingConfiguration{
				MetricSpecifications: []asgtypes.PredictiveScalingMetricSpecification{{TargetValue: aws.Float64(40),
					PredefinedMetricPairSpecification: &asgtypes.PredictiveScalingPredefinedMetricPair{PredefinedMetricType: asgtypes.PredefinedMetricPairTypeASGCPUUtilization}}},
				Mode: asgtypes.PredictiveScalingModeForecastOnly}},
		} {
			in.AutoScalingGroupName = aws.String(group)
			if _, err := c.asg.PutScalingPolicy(ctxFor(t), in); err != nil {
				t.Fatalf("PutScalingPolicy %s on %s: %v", aws.ToString(in.PolicyName), group, err)
			}
		}
		if _, err := c.asg.PutScheduledUpdateGroupAction(ctxFor(t), &autoscaling.PutScheduledUpdateGroupActionInput{
			AutoScalingGroupName: aws.String(group), ScheduledActionName: aws.String("nightly"), Recurrence: aws.String("0 22 * * *"), DesiredCapacity: aws.Int32(1), TimeZone: aws.String("Europe/Paris"),
		}); err != nil {
			t.Fatalf("PutScheduledUpdateGroupAction: %v", err)
		}
	}
	put(blue)
	put(green)

	policies := func(group string) map[string]asgtypes.ScalingPolicy {
		out, err := c.asg.DescribePolicies(ctxFor(t), &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("DescribePolicies(%s): %v", group, err)
		}
		m := map[string]asgtypes.ScalingPolicy{}
		for _, p := range out.ScalingPolicies {
			m[aws.ToString(p.PolicyName)] = p
		}
		return m
	}
	bp, gp := policies(blue), policies(green)
	if len(bp) != 4 || len(gp) != 4 {
		t.Fatalf("blue has %d policies, green %d; want 4 each", len(bp), len(gp))
	}
	for name, p := range gp {
		if aws.ToString(p.AutoScalingGroupName) != green || !strings.Contains(aws.ToString(p.PolicyARN), "autoScalingGroupName/"+green+":policyName/"+name) || p.PolicyARN == bp[name].PolicyARN {
			t.Errorf("green's policy %s: group %s, ARN %s (blue's %s)", name, aws.ToString(p.AutoScalingGroupName), aws.ToString(p.PolicyARN), aws.ToString(bp[name].PolicyARN))
		}
	}
	if tt := gp["cpu"].TargetTrackingConfiguration; tt == nil || aws.ToFloat64(tt.TargetValue) != 50 || tt.PredefinedMetricSpecification.PredefinedMetricType != asgtypes.MetricTypeASGAverageCPUUtilization {
		t.Errorf("target tracking configuration came back as %+v", tt)
	}
	if st := gp["steps"].StepAdjustments; len(st) != 2 || aws.ToInt32(st[1].ScalingAdjustment) != 2 || st[1].MetricIntervalUpperBound != nil {
		t.Errorf("step adjustments came back as %+v", st)
	}
	if p := gp["simple"]; p.PolicyType == nil || *p.PolicyType != "SimpleScaling" || aws.ToInt32(p.Cooldown) != 120 || !aws.ToBool(p.Enabled) {
		t.Errorf("simple policy came back as %+v", p)
	}
	if pc := gp["predict"].PredictiveScalingConfiguration; pc == nil || pc.Mode != asgtypes.PredictiveScalingModeForecastOnly || len(pc.MetricSpecifications) != 1 {
		t.Errorf("predictive configuration came back as %+v", pc)
	}

	// An alarm that invokes blue's simple policy is listed with it, and
	// only with it.
	alarm := uniqueName(t)
	if _, err := s.api.clientsFor("us-east-1", "test").raw(ctxFor(t), "monitoring", url.Values{
		"Action": {"PutMetricAlarm"}, "Version": {"2010-08-01"}, "AlarmName": {alarm},
		"MetricName": {"CPUUtilization"}, "Namespace": {"AWS/EC2"}, "Statistic": {"Average"}, "Period": {"60"}, "EvaluationPeriods": {"1"},
		"Threshold": {"80"}, "ComparisonOperator": {"GreaterThanThreshold"}, "AlarmActions.member.1": {aws.ToString(bp["simple"].PolicyARN)},
	}); err != nil {
		t.Fatalf("PutMetricAlarm: %v", err)
	}
	if a := policies(blue)["simple"].Alarms; len(a) != 1 || aws.ToString(a[0].AlarmName) != alarm {
		t.Errorf("blue's simple policy lists alarms %+v, want %s", a, alarm)
	}
	if a := policies(green)["simple"].Alarms; len(a) != 0 {
		t.Errorf("green's simple policy lists alarms %+v, want none", a)
	}

	// Executing green's simple policy scales green only.
	if _, err := c.asg.ExecutePolicy(ctxFor(t), &autoscaling.ExecutePolicyInput{AutoScalingGroupName: aws.String(green), PolicyName: aws.String("simple")}); err != nil {
		t.Fatalf("ExecutePolicy: %v", err)
	}
	if g, b := aws.ToInt32(c.group(t, green).DesiredCapacity), aws.ToInt32(c.group(t, blue).DesiredCapacity); g != 2 || b != 1 {
		t.Errorf("after executing green's policy: green desires %d, blue %d; want 2 and 1", g, b)
	}

	// Deleting blue's policy and action leaves green's; deleting the
	// group deletes its own.
	if _, err := c.asg.DeletePolicy(ctxFor(t), &autoscaling.DeletePolicyInput{AutoScalingGroupName: aws.String(blue), PolicyName: aws.String("cpu")}); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	if _, err := c.asg.DeleteScheduledAction(ctxFor(t), &autoscaling.DeleteScheduledActionInput{AutoScalingGroupName: aws.String(blue), ScheduledActionName: aws.String("nightly")}); err != nil {
		t.Fatalf("DeleteScheduledAction: %v", err)
	}
	if _, ok := policies(green)["cpu"]; !ok || len(policies(blue)) != 3 {
		t.Errorf("deleting blue's policy cpu: blue has %v, green %v", keys(policies(blue)), keys(policies(green)))
	}
	actions := func(group string) []asgtypes.ScheduledUpdateGroupAction {
		out, err := c.asg.DescribeScheduledActions(ctxFor(t), &autoscaling.DescribeScheduledActionsInput{AutoScalingGroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("DescribeScheduledActions(%s): %v", group, err)
		}
		return out.ScheduledUpdateGroupActions
	}
	if a := actions(green); len(a) != 1 || aws.ToString(a[0].Recurrence) != "0 22 * * *" || aws.ToString(a[0].TimeZone) != "Europe/Paris" || aws.ToInt32(a[0].DesiredCapacity) != 1 || aws.ToString(a[0].AutoScalingGroupName) != green {
		t.Errorf("green's scheduled actions: %+v", a)
	}
	if a := actions(blue); len(a) != 0 {
		t.Errorf("blue's scheduled actions after the deletion: %+v", a)
	}
	c.setDesired(t, green, 0)
	if code := c.deleteGroup(t, green, false); code != "" {
		t.Fatalf("deleting green: %s", code)
	}
	again := c.createGroupNamed(t, green, templateID, 0)
	if p, a := policies(again), actions(again); len(p) != 0 || len(a) != 0 {
		t.Errorf("a group created under a deleted group's name inherits %v and %+v", keys(p), a)
	}
	if _, err := c.asg.DescribePolicies(ctxFor(t), &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String("no-such-group")}); apiCode(err) != "ValidationError" {
		t.Errorf("DescribePolicies of a missing group answered %v, want ValidationError", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// createGroupNamed creates an empty group of the given name.
func (c clients) createGroupNamed(t *testing.T, name, templateID string, desired int32) string {
	t.Helper()
	_, err := c.asg.CreateAutoScalingGroup(ctxFor(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templateID), Version: aws.String("1")},
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(desired + 2), DesiredCapacity: aws.Int32(desired),
		AvailabilityZones: []string{"us-east-1a"},
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup(%s): %v", name, err)
	}
	return name
}

// Everything a blue/green copy of a group sets at creation is kept and
// reported: target groups and Classic Load Balancers (registered), tags
// with PropagateAtLaunch (on the instances), termination policies, capacity
// rebalance, health check type and grace period, default instance warm-up,
// instance maintenance policy and deletion protection. Creating a group
// under a name in use is AlreadyExists (moto would replace the group).
func TestCreateGroupKeepsWhatACopyNeeds(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	source := c.createGroup(t, templateID, "1", 0)
	tgARN, clb := loadBalanced(t, s, c, source)
	name := uniqueName(t)
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templateID), Version: aws.String("1")},
		MinSize:              aws.Int32(1), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2),
		AvailabilityZones:      []string{"us-east-1a"},
		TargetGroupARNs:        []string{tgARN},
		LoadBalancerNames:      []string{clb},
		HealthCheckType:        aws.String("ELB"),
		HealthCheckGracePeriod: aws.Int32(120),
		TerminationPolicies:    []string{"OldestLaunchTemplate", "ClosestToNextInstanceHour"},
		CapacityRebalance:      aws.Bool(true),
		DefaultInstanceWarmup:  aws.Int32(90),
		InstanceMaintenancePolicy: &asgtypes.InstanceMaintenancePolicy{
			MinHealthyPercentage: aws.Int32(100), MaxHealthyPercentage: aws.Int32(200)},
		DeletionProtection: asgtypes.DeletionProtectionPreventForceDeletion,
		LifecycleHookSpecificationList: []asgtypes.LifecycleHookSpecification{{
			LifecycleHookName: aws.String("warm"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_LAUNCHING"),
			HeartbeatTimeout: aws.Int32(300), NotificationTargetARN: aws.String("arn:aws:sqs:us-east-1:123456789012:warm"),
		}},
		Tags: []asgtypes.Tag{
			{Key: aws.String("team"), Value: aws.String("web"), PropagateAtLaunch: aws.Bool(true)},
			{Key: aws.String("cost"), Value: aws.String("42"), PropagateAtLaunch: aws.Bool(false)},
		},
	}
	if _, err := c.asg.CreateAutoScalingGroup(ctxFor(t), in); err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	g := c.group(t, name)
	if !slices.Equal(g.TargetGroupARNs, in.TargetGroupARNs) || !slices.Equal(g.LoadBalancerNames, in.LoadBalancerNames) ||
		aws.ToString(g.HealthCheckType) != "ELB" || aws.ToInt32(g.HealthCheckGracePeriod) != 120 ||
		!slices.Equal(g.TerminationPolicies, in.TerminationPolicies) || !aws.ToBool(g.CapacityRebalance) ||
		aws.ToInt32(g.DefaultInstanceWarmup) != 90 || g.InstanceMaintenancePolicy == nil || aws.ToInt32(g.InstanceMaintenancePolicy.MaxHealthyPercentage) != 200 ||
		g.DeletionProtection != asgtypes.DeletionProtectionPreventForceDeletion {
		t.Errorf("the created group reports %+v", g)
	}
	tags := map[string]bool{}
	for _, tag := range g.Tags {
		tags[aws.ToString(tag.Key)+"="+aws.ToString(tag.Value)] = aws.ToBool(tag.PropagateAtLaunch)
	}
	if p, ok := tags["team=web"]; !ok || !p {
		t.Errorf("tags %v: want team=web propagated", tags)
	}
	if p, ok := tags["cost=42"]; !ok || p {
		t.Errorf("tags %v: want cost=42 not propagated", tags)
	}
	ids := instanceIDs(g)
	out, err := c.ec2.DescribeInstances(ctxFor(t), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			var team, cost bool
			for _, tag := range inst.Tags {
				team = team || aws.ToString(tag.Key) == "team"
				cost = cost || aws.ToString(tag.Key) == "cost"
			}
			if !team || cost {
				t.Errorf("instance %s has tags %v: want team (propagated) and not cost", aws.ToString(inst.InstanceId), inst.Tags)
			}
		}
	}
	if tg, lb := registered(t, s, tgARN, clb); len(tg) != 2 || len(lb) != 2 {
		t.Errorf("the new group's 2 instances are registered as %v and %v", tg, lb)
	}
	hooks, err := c.asg.DescribeLifecycleHooks(ctxFor(t), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(name)})
	if err != nil || len(hooks.LifecycleHooks) != 1 || aws.ToString(hooks.LifecycleHooks[0].NotificationTargetARN) != "arn:aws:sqs:us-east-1:123456789012:warm" ||
		aws.ToInt32(hooks.LifecycleHooks[0].HeartbeatTimeout) != 300 {
		t.Errorf("the hook of LifecycleHookSpecificationList: %+v, %v", hooks, err)
	}
	if _, err := c.asg.CreateAutoScalingGroup(ctxFor(t), in); apiCode(err) != "AlreadyExists" {
		t.Errorf("creating it again answered %v, want AlreadyExists", err)
	}
	if n := len(c.group(t, name).Instances); n != 2 {
		t.Errorf("after the refused create the group has %d instances, want its 2", n)
	}
}

// Notification configurations, lifecycle hooks as given, and account
// limits.
func TestNotificationsHooksAndAccountLimits(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, templateID, "1", 0)
	topic := "arn:aws:sns:us-east-1:123456789012:" + group
	if _, err := c.asg.PutNotificationConfiguration(ctxFor(t), &autoscaling.PutNotificationConfigurationInput{
		AutoScalingGroupName: aws.String(group), TopicARN: aws.String(topic),
		NotificationTypes: []string{"autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"},
	}); err != nil {
		t.Fatalf("PutNotificationConfiguration: %v", err)
	}
	out, err := c.asg.DescribeNotificationConfigurations(ctxFor(t), &autoscaling.DescribeNotificationConfigurationsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		t.Fatalf("DescribeNotificationConfigurations: %v", err)
	}
	var types []string
	for _, n := range out.NotificationConfigurations {
		if aws.ToString(n.TopicARN) == topic && aws.ToString(n.AutoScalingGroupName) == group {
			types = append(types, aws.ToString(n.NotificationType))
		}
	}
	if !slices.Equal(types, []string{"autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_TERMINATE"}) {
		t.Errorf("notification configurations %+v", out.NotificationConfigurations)
	}
	if _, err := c.asg.PutNotificationConfiguration(ctxFor(t), &autoscaling.PutNotificationConfigurationInput{
		AutoScalingGroupName: aws.String(group), TopicARN: aws.String(topic), NotificationTypes: []string{"autoscaling:NOPE"},
	}); apiCode(err) != "ValidationError" {
		t.Errorf("an unknown notification type answered %v", err)
	}
	if _, err := c.asg.DeleteNotificationConfiguration(ctxFor(t), &autoscaling.DeleteNotificationConfigurationInput{AutoScalingGroupName: aws.String(group), TopicARN: aws.String(topic)}); err != nil {
		t.Fatalf("DeleteNotificationConfiguration: %v", err)
	}
	if out, _ := c.asg.DescribeNotificationConfigurations(ctxFor(t), &autoscaling.DescribeNotificationConfigurationsInput{AutoScalingGroupNames: []string{group}}); len(out.NotificationConfigurations) != 0 {
		t.Errorf("after the deletion: %+v", out.NotificationConfigurations)
	}

	queue := "arn:aws:sqs:us-east-1:123456789012:" + group
	if _, err := c.asg.PutLifecycleHook(ctxFor(t), &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String("drain"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_TERMINATING"),
		HeartbeatTimeout: aws.Int32(600), DefaultResult: aws.String("CONTINUE"), NotificationTargetARN: aws.String(queue), NotificationMetadata: aws.String("meta"),
	}); err != nil {
		t.Fatalf("PutLifecycleHook: %v", err)
	}
	if _, err := c.asg.PutLifecycleHook(ctxFor(t), &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String("plain"), LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_LAUNCHING"),
	}); err != nil {
		t.Fatalf("PutLifecycleHook: %v", err)
	}
	hooks, err := c.asg.DescribeLifecycleHooks(ctxFor(t), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeLifecycleHooks: %v", err)
	}
	byName := map[string]asgtypes.LifecycleHook{}
	for _, h := range hooks.LifecycleHooks {
		byName[aws.ToString(h.LifecycleHookName)] = h
	}
	if h := byName["drain"]; aws.ToString(h.NotificationTargetARN) != queue || aws.ToString(h.NotificationMetadata) != "meta" || h.RoleARN != nil ||
		aws.ToInt32(h.HeartbeatTimeout) != 600 || aws.ToInt32(h.GlobalTimeout) != 60000 || aws.ToString(h.DefaultResult) != "CONTINUE" {
		t.Errorf("hook drain came back as %+v", h)
	}
	if h := byName["plain"]; h.NotificationTargetARN != nil || h.RoleARN != nil || aws.ToInt32(h.HeartbeatTimeout) != 3600 || aws.ToInt32(h.GlobalTimeout) != 172800 || aws.ToString(h.DefaultResult) != "ABANDON" {
		t.Errorf("hook plain came back as %+v", h)
	}

	limits, err := c.asg.DescribeAccountLimits(ctxFor(t), &autoscaling.DescribeAccountLimitsInput{})
	if err != nil {
		t.Fatalf("DescribeAccountLimits: %v", err)
	}
	if aws.ToInt32(limits.MaxNumberOfAutoScalingGroups) != 500 || aws.ToInt32(limits.MaxNumberOfLaunchConfigurations) != 200 || aws.ToInt32(limits.NumberOfAutoScalingGroups) < 1 {
		t.Errorf("account limits %+v", limits)
	}
}

// A group at its quota cannot be created (own emulator: the quota is
// account-wide).
func TestAccountLimitRefusesAGroupBeyondTheQuota(t *testing.T) {
	t.Parallel()
	s := ownServer(t, testSpeed)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	c.createGroup(t, templateID, "1", 0)
	s.SetAccountLimits(1, 0)
	_, err := c.asg.CreateAutoScalingGroup(ctxFor(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(uniqueName(t)),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templateID)},
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(1), AvailabilityZones: []string{"us-east-1a"},
	})
	if apiCode(err) != "LimitExceeded" {
		t.Errorf("a group beyond the quota answered %v, want LimitExceeded", err)
	}
	if l, err := c.asg.DescribeAccountLimits(ctxFor(t), &autoscaling.DescribeAccountLimitsInput{}); err != nil || aws.ToInt32(l.MaxNumberOfAutoScalingGroups) != 1 || aws.ToInt32(l.NumberOfAutoScalingGroups) != 1 {
		t.Errorf("DescribeAccountLimits: %+v, %v", l, err)
	}
}
