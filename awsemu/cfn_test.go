package awsemu

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// cfnClients adds a CloudFormation client to the test clients.
type cfnClients struct {
	clients
	cfn *cloudformation.Client
}

func newCFNClients(url string) cfnClients {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return cfnClients{
		clients: newClients(url, 0),
		cfn:     cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(url) }),
	}
}

// stackTemplate is a stack of a launch template (or launch configuration)
// whose ImageId is the parameter ImageId, and a group of desired instances
// on it with the given update policy (nil: none).
func stackTemplate(t *testing.T, launchConfig bool, desired int, policy map[string]any) string {
	t.Helper()
	group := map[string]any{
		"MinSize": "1", "MaxSize": "6", "DesiredCapacity": desired,
		"VPCZoneIdentifier": map[string]any{"Ref": "Subnets"},
		"Tags":              []any{map[string]any{"Key": "team", "Value": "web", "PropagateAtLaunch": true}},
	}
	resources := map[string]any{}
	if launchConfig {
		resources["LC"] = map[string]any{"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": map[string]any{
			"ImageId": map[string]any{"Ref": "ImageId"}, "InstanceType": "t3.micro"}}
		group["LaunchConfigurationName"] = map[string]any{"Ref": "LC"}
	} else {
		resources["LT"] = map[string]any{"Type": "AWS::EC2::LaunchTemplate", "Properties": map[string]any{
			"LaunchTemplateData": map[string]any{"ImageId": map[string]any{"Ref": "ImageId"}, "InstanceType": "t3.micro"}}}
		group["LaunchTemplate"] = map[string]any{
			"LaunchTemplateId": map[string]any{"Ref": "LT"},
			"Version":          map[string]any{"Fn::GetAtt": []any{"LT", "LatestVersionNumber"}},
		}
	}
	asg := map[string]any{"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": group}
	if policy != nil {
		asg["UpdatePolicy"] = policy
	}
	resources["ASG"] = asg
	doc := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              "a fleet",
		"Parameters": map[string]any{
			"ImageId": map[string]any{"Type": "AWS::EC2::Image::Id"},
			"Subnets": map[string]any{"Type": "List<AWS::EC2::Subnet::Id>"},
		},
		"Resources": resources,
		"Outputs":   map[string]any{"GroupName": map[string]any{"Value": map[string]any{"Ref": "ASG"}}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (c cfnClients) subnets(t *testing.T) string {
	t.Helper()
	out, err := c.ec2.DescribeSubnets(ctxFor(t), &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}},
	})
	if err != nil || len(out.Subnets) < 2 {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	return aws.ToString(out.Subnets[0].SubnetId) + "," + aws.ToString(out.Subnets[1].SubnetId)
}

func param(k, v string) cfntypes.Parameter {
	return cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)}
}

func previous(k string) cfntypes.Parameter {
	return cfntypes.Parameter{ParameterKey: aws.String(k), UsePreviousValue: aws.Bool(true)}
}

// createStack creates a stack from body on oldAMI and waits for
// CREATE_COMPLETE.
func (c cfnClients) createStack(t *testing.T, body string) string {
	t.Helper()
	name := uniqueName(t)
	_, err := c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{
		StackName: aws.String(name), TemplateBody: aws.String(body),
		Parameters: []cfntypes.Parameter{param("ImageId", oldAMI), param("Subnets", c.subnets(t))},
		Tags:       []cfntypes.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	})
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	c.waitStack(t, name, "CREATE_COMPLETE")
	return name
}

func (c cfnClients) stack(t *testing.T, name string) cfntypes.Stack {
	t.Helper()
	out, err := c.cfn.DescribeStacks(ctxFor(t), &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil || len(out.Stacks) != 1 {
		t.Fatalf("DescribeStacks(%s): %v", name, err)
	}
	return out.Stacks[0]
}

// waitStack polls until the stack's status no longer ends in IN_PROGRESS
// and checks it.
func (c cfnClients) waitStack(t *testing.T, name, want string) cfntypes.Stack {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var st cfntypes.Stack
	for time.Now().Before(deadline) {
		st = c.stack(t, name)
		if !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") {
			if string(st.StackStatus) != want {
				t.Fatalf("stack %s ended %s (%s), want %s; events:\n%s", name, st.StackStatus, aws.ToString(st.StackStatusReason), want, c.eventLog(t, name))
			}
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("stack %s still %s, want %s; events:\n%s", name, st.StackStatus, want, c.eventLog(t, name))
	return st
}

// events returns the stack's events, oldest first.
func (c cfnClients) events(t *testing.T, name string) []cfntypes.StackEvent {
	t.Helper()
	var all []cfntypes.StackEvent
	p := cloudformation.NewDescribeStackEventsPaginator(c.cfn, &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctxFor(t))
		if err != nil {
			t.Fatalf("DescribeStackEvents: %v", err)
		}
		all = append(all, out.StackEvents...)
	}
	slices.Reverse(all)
	return all
}

func (c cfnClients) eventLog(t *testing.T, name string) string {
	var b strings.Builder
	for _, e := range c.events(t, name) {
		b.WriteString("  " + aws.ToString(e.LogicalResourceId) + " " + string(e.ResourceStatus) + " " + aws.ToString(e.ResourceStatusReason) + "\n")
	}
	return b.String()
}

func (c cfnClients) physicalID(t *testing.T, stack, logical string) string {
	t.Helper()
	out, err := c.cfn.DescribeStackResource(ctxFor(t), &cloudformation.DescribeStackResourceInput{StackName: aws.String(stack), LogicalResourceId: aws.String(logical)})
	if err != nil {
		t.Fatalf("DescribeStackResource(%s): %v", logical, err)
	}
	return aws.ToString(out.StackResourceDetail.PhysicalResourceId)
}

func (c cfnClients) updateAMI(t *testing.T, stack, ami, token string) {
	t.Helper()
	in := &cloudformation.UpdateStackInput{
		StackName: aws.String(stack), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{param("ImageId", ami), previous("Subnets")},
	}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	if _, err := c.cfn.UpdateStack(ctxFor(t), in); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
}

func paramValue(st cfntypes.Stack, key string) string {
	for _, p := range st.Parameters {
		if aws.ToString(p.ParameterKey) == key {
			return aws.ToString(p.ParameterValue)
		}
	}
	return ""
}

func groupTagMap(c cfnClients, t *testing.T, group string) map[string]string {
	out := map[string]string{}
	for _, tg := range c.group(t, group).Tags {
		out[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return out
}

// CloudFormation resource tagging: "In addition to any tags you define,
// CloudFormation automatically creates the following stack-level tags with
// the aws: prefix: aws:cloudformation:logical-id, aws:cloudformation:stack-id,
// aws:cloudformation:stack-name". The group, its launch template and its
// instances carry them with the stack's own tags; DescribeStacks,
// DescribeStackResources and the outputs describe the stack; events come
// newest first.
func TestStackCreateTagsWhatItCreates(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, nil))
	st := c.stack(t, name)
	group := c.physicalID(t, name, "ASG")
	if !strings.HasPrefix(group, name+"-ASG-") {
		t.Errorf("generated group name %q, want %s-ASG-<suffix>", group, name)
	}
	want := map[string]string{
		"aws:cloudformation:stack-name": name, "aws:cloudformation:stack-id": aws.ToString(st.StackId),
		"aws:cloudformation:logical-id": "ASG", "env": "test", "team": "web",
	}
	tags := groupTagMap(c, t, group)
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("group tag %s = %q, want %q", k, tags[k], v)
		}
	}
	lt := c.physicalID(t, name, "LT")
	lts, err := c.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{lt}})
	if err != nil || len(lts.LaunchTemplates) != 1 {
		t.Fatalf("DescribeLaunchTemplates: %v", err)
	}
	ltTags := map[string]string{}
	for _, tg := range lts.LaunchTemplates[0].Tags {
		ltTags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if ltTags["aws:cloudformation:logical-id"] != "LT" || ltTags["aws:cloudformation:stack-name"] != name {
		t.Errorf("launch template tags %v lack the stack's aws:cloudformation tags", ltTags)
	}
	ids := instanceIDs(c.group(t, group))
	if len(ids) != 2 {
		t.Fatalf("group has %d instances, want 2", len(ids))
	}
	res, err := c.ec2.DescribeInstances(ctxFor(t), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	for _, r := range res.Reservations {
		for _, in := range r.Instances {
			found := false
			for _, tg := range in.Tags {
				found = found || (aws.ToString(tg.Key) == "aws:cloudformation:stack-name" && aws.ToString(tg.Value) == name)
			}
			if !found {
				t.Errorf("instance %s lacks aws:cloudformation:stack-name", aws.ToString(in.InstanceId))
			}
		}
	}

	if paramValue(st, "ImageId") != oldAMI || aws.ToString(st.Description) != "a fleet" {
		t.Errorf("DescribeStacks: parameters %v, description %q", st.Parameters, aws.ToString(st.Description))
	}
	if len(st.Outputs) != 1 || aws.ToString(st.Outputs[0].OutputValue) != group {
		t.Errorf("outputs %+v, want GroupName = %s", st.Outputs, group)
	}
	out, err := c.cfn.DescribeStackEvents(ctxFor(t), &cloudformation.DescribeStackEventsInput{StackName: aws.String(name)})
	if err != nil || len(out.StackEvents) < 3 {
		t.Fatalf("DescribeStackEvents: %v (%d events)", err, len(out.StackEvents))
	}
	first, last := out.StackEvents[0], out.StackEvents[len(out.StackEvents)-1]
	if first.ResourceStatus != "CREATE_COMPLETE" || aws.ToString(first.LogicalResourceId) != name ||
		last.ResourceStatus != "CREATE_IN_PROGRESS" || aws.ToString(last.ResourceStatusReason) != "User Initiated" {
		t.Errorf("events not newest first: first %s %s, last %s %s", aws.ToString(first.LogicalResourceId), first.ResourceStatus, aws.ToString(last.LogicalResourceId), last.ResourceStatus)
	}
	// The control API lists it.
	resp, err := http.Get(s.URL() + "/_emu/stacks")
	if err != nil {
		t.Fatalf("GET /_emu/stacks: %v", err)
	}
	var listed []StackInfo
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || !slices.Contains(listed, StackInfo{Region: "us-east-1", Name: name, ID: aws.ToString(st.StackId), Status: "CREATE_COMPLETE"}) {
		t.Errorf("GET /_emu/stacks: %v; %+v lacks %s", err, listed, name)
	}
	if status, _, ok := s.StackStatus("us-east-1", name); !ok || status != "CREATE_COMPLETE" {
		t.Errorf("StackStatus = %s, %v", status, ok)
	}
	// The summary tells a client which parameters and capabilities the stack has.
	sum, err := c.cfn.GetTemplateSummary(ctxFor(t), &cloudformation.GetTemplateSummaryInput{StackName: aws.String(name)})
	if err != nil || len(sum.Parameters) != 2 || len(sum.Capabilities) != 0 {
		t.Errorf("GetTemplateSummary: %v, %+v", err, sum)
	}
}

// instanceAMIs checks that the group has n instances, all on ami, and
// returns their ids.
func (c cfnClients) instanceAMIs(t *testing.T, group string, n int, ami string) map[string]string {
	t.Helper()
	got := c.images(t, group)
	if len(got) != n {
		t.Errorf("group %s has %d instances, want %d", group, len(got), n)
	}
	for id, img := range got {
		if img != ami {
			t.Errorf("instance %s runs %s, want %s", id, img, ami)
		}
	}
	return got
}

// minInService replays the group's scaling activities, oldest first, and
// returns the fewest instances it had (a launch counts from its launch,
// which can only overstate the count between a launch and its joining).
func (c cfnClients) minInService(t *testing.T, group string, start int) (lowest, launches int) {
	t.Helper()
	out, err := c.asg.DescribeScalingActivities(ctxFor(t), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeScalingActivities: %v", err)
	}
	acts := out.Activities
	slices.Reverse(acts)
	n, lowest := start, start
	for _, a := range acts {
		switch {
		case strings.HasPrefix(aws.ToString(a.Description), "Launching"):
			n++
			launches++
		case strings.HasPrefix(aws.ToString(a.Description), "Terminating"):
			n--
		}
		lowest = min(lowest, n)
	}
	return lowest, launches
}

// AutoScalingRollingUpdate: a changed AMI parameter makes a new launch
// template version ("LatestVersionNumber" through Fn::GetAtt), the group
// moves to it, and CloudFormation replaces the instances in batches of
// MaxBatchSize while keeping MinInstancesInService in service. The stack
// ends UPDATE_COMPLETE with its parameter on the new AMI.
func TestStackRollingUpdateReplacesInBatches(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 4, map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": "2", "MinInstancesInService": "3", "PauseTime": "PT2M"},
	}))
	group := c.physicalID(t, name, "ASG")
	before := c.images(t, group)

	c.updateAMI(t, name, newAMI, "")
	st := c.waitStack(t, name, "UPDATE_COMPLETE")
	if paramValue(st, "ImageId") != newAMI {
		t.Errorf("parameter ImageId = %s, want %s", paramValue(st, "ImageId"), newAMI)
	}
	after := c.instanceAMIs(t, group, 4, newAMI)
	for id := range after {
		if _, old := before[id]; old {
			t.Errorf("instance %s was not replaced", id)
		}
	}
	g := c.group(t, group)
	if v := aws.ToString(g.LaunchTemplate.Version); v != "2" {
		t.Errorf("group on launch template version %s, want 2", v)
	}
	lts, err := c.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{c.physicalID(t, name, "LT")}})
	if err != nil || aws.ToInt64(lts.LaunchTemplates[0].LatestVersionNumber) != 2 || aws.ToInt64(lts.LaunchTemplates[0].DefaultVersionNumber) != 2 {
		t.Errorf("launch template after the update: %v %+v, want latest and default version 2", err, lts)
	}
	if aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.DesiredCapacity) != 4 {
		t.Errorf("group MinSize %d, desired %d; want 1 and 4 back", aws.ToInt32(g.MinSize), aws.ToInt32(g.DesiredCapacity))
	}
	// MinInstancesInService 3 of 4 leaves room to take one out at a time;
	// the second of each batch of two launches first.
	lowest, launches := c.minInService(t, group, 4)
	if lowest < 3 || launches != 4 {
		t.Errorf("scaling activities: as few as %d instances with %d launches; want at least 3 in service and 4 launches", lowest, launches)
	}
	var progress []string
	for _, e := range c.events(t, name) {
		if r := aws.ToString(e.ResourceStatusReason); strings.Contains(r, "(Progress") {
			progress = append(progress, r[strings.Index(r, "(Progress"):])
		}
	}
	if !slices.Equal(progress, []string{"(Progress 50%).", "(Progress 100%)."}) {
		t.Errorf("batch progress events %q, want two batches of two", progress)
	}
}

// AutoScalingInstanceRefresh: "When properties that trigger an instance
// refresh change (such as LaunchTemplate or MixedInstancesPolicy),
// CloudFormation starts an instance refresh to replace instances
// gradually", with the policy's preferences; the refresh puts the new
// version on the group when it succeeds.
func TestStackInstanceRefreshPolicy(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{
		"AutoScalingInstanceRefresh": map[string]any{"Preferences": map[string]any{"MinHealthyPercentage": 50, "InstanceWarmup": 60, "BakeTime": 120}},
	}))
	group := c.physicalID(t, name, "ASG")
	c.updateAMI(t, name, newAMI, "")
	c.waitStack(t, name, "UPDATE_COMPLETE")
	c.instanceAMIs(t, group, 2, newAMI)
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil || len(out.InstanceRefreshes) != 1 {
		t.Fatalf("DescribeInstanceRefreshes: %v %+v", err, out)
	}
	r := out.InstanceRefreshes[0]
	if r.Status != "Successful" || aws.ToInt32(r.Preferences.MinHealthyPercentage) != 50 || aws.ToInt32(r.Preferences.BakeTime) != 120 ||
		aws.ToBool(r.Preferences.AutoRollback) || aws.ToString(r.DesiredConfiguration.LaunchTemplate.Version) != "2" {
		t.Errorf("refresh %+v: want Successful, the policy's preferences, no AutoRollback, version 2", r)
	}
	if v := aws.ToString(c.group(t, group).LaunchTemplate.Version); v != "2" {
		t.Errorf("group on version %s, want 2", v)
	}

	// AutoRollback is the stack's business under this policy.
	_, err = c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{
		StackName: aws.String(uniqueName(t)), TemplateBody: aws.String(stackTemplate(t, false, 1, map[string]any{
			"AutoScalingInstanceRefresh": map[string]any{"Preferences": map[string]any{"AutoRollback": true}}})),
		Parameters: []cfntypes.Parameter{param("ImageId", oldAMI), param("Subnets", c.subnets(t))},
	})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "AutoRollback") {
		t.Errorf("AutoRollback in the policy: got %v, want a ValidationError naming AutoRollback", err)
	}
}

// AWS::AutoScaling::LaunchConfiguration properties have "Update requires:
// Replacement": the update creates a new configuration (a new name), the
// group moves to it with a rolling update, and the old one is deleted in
// the cleanup.
func TestStackLaunchConfigurationIsReplaced(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, true, 2, map[string]any{"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 1}}))
	group := c.physicalID(t, name, "ASG")
	oldLC := c.physicalID(t, name, "LC")
	c.updateAMI(t, name, newAMI, "")
	c.waitStack(t, name, "UPDATE_COMPLETE")
	newLC := c.physicalID(t, name, "LC")
	if newLC == oldLC || !strings.HasPrefix(newLC, name+"-LC-") {
		t.Errorf("launch configuration %s after the update (was %s): want a new generated name", newLC, oldLC)
	}
	if got := aws.ToString(c.group(t, group).LaunchConfigurationName); got != newLC {
		t.Errorf("group uses %s, want %s", got, newLC)
	}
	out, err := c.asg.DescribeLaunchConfigurations(ctxFor(t), &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{oldLC, newLC}})
	if err != nil || len(out.LaunchConfigurations) != 1 || aws.ToString(out.LaunchConfigurations[0].ImageId) != newAMI {
		t.Errorf("launch configurations after the cleanup: %v %+v, want only the new one, on %s", err, out, newAMI)
	}
	c.instanceAMIs(t, group, 2, newAMI)
}

// Without an update policy the stack updates the launch template and the
// group's version, and replaces no instance.
func TestStackUpdateWithoutPolicyReplacesNothing(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, nil))
	group := c.physicalID(t, name, "ASG")
	before := c.images(t, group)
	c.updateAMI(t, name, newAMI, "")
	c.waitStack(t, name, "UPDATE_COMPLETE")
	if v := aws.ToString(c.group(t, group).LaunchTemplate.Version); v != "2" {
		t.Errorf("group on version %s, want 2", v)
	}
	after := c.instanceAMIs(t, group, 2, oldAMI)
	for id := range before {
		if _, ok := after[id]; !ok {
			t.Errorf("instance %s was replaced without an update policy", id)
		}
	}
	// The instances still report the version they were launched from.
	for _, in := range c.group(t, group).Instances {
		if v := aws.ToString(in.LaunchTemplate.Version); v != "1" {
			t.Errorf("instance %s reports launch template version %s, want 1", aws.ToString(in.InstanceId), v)
		}
	}
}

// New instances that fail their health checks fail the rolling update, and
// the stack rolls back: UPDATE_ROLLBACK_IN_PROGRESS, then
// UPDATE_ROLLBACK_COMPLETE, with the failure's reason in the events, the
// instances back on the old AMI and the parameter back to its old value.
func TestStackUnhealthyAMIRollsBack(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 3, map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": "1", "MinInstancesInService": "1", "PauseTime": "PT1M"},
	}))
	group := c.physicalID(t, name, "ASG")
	c.updateAMI(t, name, badAMI, "")
	st := c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	if paramValue(st, "ImageId") != oldAMI {
		t.Errorf("after the rollback ImageId = %s, want %s", paramValue(st, "ImageId"), oldAMI)
	}
	c.instanceAMIs(t, group, 3, oldAMI)
	if v := aws.ToString(c.group(t, group).LaunchTemplate.Version); v != "1" {
		t.Errorf("group on version %s after the rollback, want 1", v)
	}
	var statuses []string
	var failure, rollbackReason string
	for _, e := range c.events(t, name) {
		if aws.ToString(e.LogicalResourceId) == name {
			statuses = append(statuses, string(e.ResourceStatus))
			if e.ResourceStatus == "UPDATE_ROLLBACK_IN_PROGRESS" {
				rollbackReason = aws.ToString(e.ResourceStatusReason)
			}
		}
		if aws.ToString(e.LogicalResourceId) == "ASG" && e.ResourceStatus == "UPDATE_FAILED" {
			failure = aws.ToString(e.ResourceStatusReason)
		}
	}
	wantSeq := []string{"CREATE_IN_PROGRESS", "CREATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"}
	if !slices.Equal(statuses, wantSeq) {
		t.Errorf("stack statuses %v, want %v", statuses, wantSeq)
	}
	if !strings.Contains(failure, badAMI) || !strings.Contains(failure, "health check") {
		t.Errorf("ASG UPDATE_FAILED reason %q, want the unhealthy instance and AMI", failure)
	}
	if !strings.Contains(rollbackReason, "[ASG]") {
		t.Errorf("UPDATE_ROLLBACK_IN_PROGRESS reason %q, want the failed resource", rollbackReason)
	}
}

// CancelUpdateStack: "You can cancel only stacks that are in the
// UPDATE_IN_PROGRESS state"; "If the call completes successfully, the
// stack rolls back the update and reverts to the previous stack
// configuration." Wherever in the update the cancel lands, the stack ends
// UPDATE_ROLLBACK_COMPLETE with the old AMI everywhere.
func TestStackCancelUpdateRollsBack(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": "1", "MinInstancesInService": "1", "PauseTime": "PT1H"},
	}))
	group := c.physicalID(t, name, "ASG")
	c.updateAMI(t, name, newAMI, "")
	// The update lasts two batches of an emulated hour (twelve real
	// seconds): the cancel arrives long before it ends.
	if _, err := c.cfn.CancelUpdateStack(ctxFor(t), &cloudformation.CancelUpdateStackInput{StackName: aws.String(name)}); err != nil {
		t.Fatalf("CancelUpdateStack: %v", err)
	}
	c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	c.instanceAMIs(t, group, 2, oldAMI)
	var reason string
	for _, e := range c.events(t, name) {
		if e.ResourceStatus == "UPDATE_ROLLBACK_IN_PROGRESS" {
			reason = aws.ToString(e.ResourceStatusReason)
		}
	}
	if reason != "User Initiated" {
		t.Errorf("UPDATE_ROLLBACK_IN_PROGRESS reason %q, want User Initiated", reason)
	}
	_, err := c.cfn.CancelUpdateStack(ctxFor(t), &cloudformation.CancelUpdateStackInput{StackName: aws.String(name)})
	if apiCode(err) != "ValidationError" {
		t.Errorf("CancelUpdateStack on a stack not updating: got %v, want ValidationError", err)
	}
}

// A rollback undoes changes already complete: when a later group fails,
// an earlier group that finished its rolling update gets its old version
// back and its new instances replaced by old ones.
func TestStackRollbackUndoesACompletedRollingUpdate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	group := func(lt string, dependsOn any) map[string]any {
		g := map[string]any{"Type": "AWS::AutoScaling::AutoScalingGroup",
			"UpdatePolicy": map[string]any{"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 1}},
			"Properties": map[string]any{"MinSize": 1, "MaxSize": 4, "DesiredCapacity": 2, "VPCZoneIdentifier": map[string]any{"Ref": "Subnets"},
				"LaunchTemplate": map[string]any{"LaunchTemplateId": map[string]any{"Ref": lt}, "Version": map[string]any{"Fn::GetAtt": []any{lt, "LatestVersionNumber"}}}}}
		if dependsOn != nil {
			g["DependsOn"] = dependsOn
		}
		return g
	}
	lt := func(param string) map[string]any {
		return map[string]any{"Type": "AWS::EC2::LaunchTemplate", "Properties": map[string]any{"LaunchTemplateData": map[string]any{"ImageId": map[string]any{"Ref": param}}}}
	}
	doc := map[string]any{
		"Parameters": map[string]any{"ImageId": map[string]any{"Type": "String"}, "ImageIdB": map[string]any{"Type": "String", "Default": oldAMI},
			"Subnets": map[string]any{"Type": "List<AWS::EC2::Subnet::Id>"}},
		"Resources": map[string]any{"LT": lt("ImageId"), "LTB": lt("ImageIdB"), "ASG": group("LT", nil), "ASGB": group("LTB", "ASG")},
	}
	body, _ := json.Marshal(doc)
	name := c.createStack(t, string(body))
	a, b := c.physicalID(t, name, "ASG"), c.physicalID(t, name, "ASGB")
	if _, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{param("ImageId", newAMI), param("ImageIdB", badAMI), previous("Subnets")}}); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	c.instanceAMIs(t, a, 2, oldAMI)
	c.instanceAMIs(t, b, 2, oldAMI)
	if v := aws.ToString(c.group(t, a).LaunchTemplate.Version); v != "1" {
		t.Errorf("group ASG on version %s after the rollback, want 1", v)
	}
	var seq []string
	for _, e := range c.events(t, name) {
		if id := aws.ToString(e.LogicalResourceId); id == "ASG" || id == "ASGB" {
			if e.ResourceStatus == "UPDATE_COMPLETE" || e.ResourceStatus == "UPDATE_FAILED" {
				seq = append(seq, id+" "+string(e.ResourceStatus))
			}
		}
	}
	// The rollback puts back the failed group, then the earlier one.
	want := []string{"ASG UPDATE_COMPLETE", "ASGB UPDATE_FAILED", "ASGB UPDATE_COMPLETE", "ASG UPDATE_COMPLETE"}
	if !slices.Equal(seq, want) {
		t.Errorf("group events %v, want %v", seq, want)
	}
	if _, launches := c.minInService(t, a, 2); launches != 4 {
		t.Errorf("group ASG had %d launches, want 2 for the update and 2 for the rollback", launches)
	}
}

// UpdateStack with the same template and parameters fails with
// "No updates are to be performed." and changes nothing.
func TestStackNoOpUpdate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 1, nil))
	n := len(c.events(t, name))
	_, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{
		StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{previous("ImageId"), previous("Subnets")},
	})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "No updates are to be performed.") {
		t.Fatalf("no-op UpdateStack: got %v, want ValidationError No updates are to be performed.", err)
	}
	// Giving the same value explicitly is no change either.
	_, err = c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{
		StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{param("ImageId", oldAMI), previous("Subnets")},
	})
	if !strings.Contains(fmtErr(err), "No updates are to be performed.") {
		t.Errorf("same value again: got %v", err)
	}
	if st := c.stack(t, name); st.StackStatus != "CREATE_COMPLETE" || len(c.events(t, name)) != n {
		t.Errorf("a refused update changed the stack: %s, %d events (was %d)", st.StackStatus, len(c.events(t, name)), n)
	}
	// UsePreviousValue with a value is refused, as is an unknown key.
	for _, ps := range [][]cfntypes.Parameter{
		{{ParameterKey: aws.String("ImageId"), ParameterValue: aws.String(newAMI), UsePreviousValue: aws.Bool(true)}, previous("Subnets")},
		{param("ImageId", newAMI), previous("Subnets"), param("Nope", "x")},
		{param("ImageId", newAMI)},
	} {
		_, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true), Parameters: ps})
		if apiCode(err) != "ValidationError" {
			t.Errorf("UpdateStack with parameters %v: got %v, want ValidationError", ps, err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// ClientRequestToken: "Specify this token if you plan to retry requests so
// that CloudFormation knows that you're not attempting to update a stack
// with the same name." A retry with the token starts no second update,
// during the update or after it; the events carry the token; the token
// with another request is TokenAlreadyExistsException.
func TestStackClientRequestToken(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 1, map[string]any{"AutoScalingRollingUpdate": map[string]any{"PauseTime": "PT1M"}}))
	c.updateAMI(t, name, newAMI, "rollout-1")
	c.updateAMI(t, name, newAMI, "rollout-1") // a retry while it runs
	c.waitStack(t, name, "UPDATE_COMPLETE")
	c.updateAMI(t, name, newAMI, "rollout-1") // a re-run after it ended
	if st := c.stack(t, name); st.StackStatus != "UPDATE_COMPLETE" {
		t.Errorf("a retry with the same token changed the stack to %s", st.StackStatus)
	}
	updates, tokened := 0, 0
	for _, e := range c.events(t, name) {
		if aws.ToString(e.LogicalResourceId) == name && e.ResourceStatus == "UPDATE_IN_PROGRESS" {
			updates++
		}
		if e.ResourceStatus == "UPDATE_COMPLETE" && aws.ToString(e.ClientRequestToken) == "rollout-1" {
			tokened++
		}
	}
	if updates != 1 || tokened == 0 {
		t.Errorf("%d updates started (want 1), %d UPDATE_COMPLETE events with the token (want some)", updates, tokened)
	}
	_, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{
		StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true), ClientRequestToken: aws.String("rollout-1"),
		Parameters: []cfntypes.Parameter{param("ImageId", oldAMI), previous("Subnets")},
	})
	if apiCode(err) != "TokenAlreadyExistsException" {
		t.Errorf("the token with other parameters: got %v, want TokenAlreadyExistsException", err)
	}
}

// AutoScalingReplacingUpdate: "During replacement, CloudFormation retains
// the old group until it finishes creating the new one ... After
// successfully creating the new Auto Scaling group, CloudFormation deletes
// the old Auto Scaling group during the cleanup process." If the new
// group's instances are unhealthy, the stack rolls back to the old group
// and deletes the new one.
func TestStackReplacingUpdate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{"AutoScalingReplacingUpdate": map[string]any{"WillReplace": true}}))
	oldGroup := c.physicalID(t, name, "ASG")

	c.updateAMI(t, name, badAMI, "")
	c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	if got := c.physicalID(t, name, "ASG"); got != oldGroup {
		t.Errorf("after the rollback the stack's group is %s, want %s", got, oldGroup)
	}
	c.instanceAMIs(t, oldGroup, 2, oldAMI)

	c.updateAMI(t, name, newAMI, "")
	c.waitStack(t, name, "UPDATE_COMPLETE")
	newGroup := c.physicalID(t, name, "ASG")
	if newGroup == oldGroup {
		t.Fatalf("the group was not replaced")
	}
	c.instanceAMIs(t, newGroup, 2, newAMI)
	out, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{oldGroup}})
	if err != nil || len(out.AutoScalingGroups) != 0 {
		t.Errorf("the old group %s is still there: %v %d", oldGroup, err, len(out.AutoScalingGroups))
	}
	if tags := groupTagMap(c, t, newGroup); tags["aws:cloudformation:logical-id"] != "ASG" {
		t.Errorf("new group tags %v lack the stack's tags", tags)
	}
}

// The emulator refuses what it does not carry out, naming it, and leaves
// templates without its resource types to moto.
func TestStackTemplateSubset(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	bad := map[string]string{
		"no LaunchTemplateData": "Resources:\n  LT:\n    Type: AWS::EC2::LaunchTemplate\n",
		"unknown YAML tag":      "Resources:\n  LT:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData: !Nope x\n",
		"unsupported property":  `{"Resources":{"ASG":{"Type":"AWS::AutoScaling::AutoScalingGroup","Properties":{"MinSize":1,"MaxSize":1,"LaunchConfigurationName":"x","MixedInstancesPolicy":{}}}}}`,
		"mixed types":           `{"Resources":{"B":{"Type":"AWS::S3::Bucket"},"LC":{"Type":"AWS::AutoScaling::LaunchConfiguration","Properties":{"ImageId":"ami-1","InstanceType":"t3.micro"}}}}`,
		"Fn::If":                `{"Resources":{"LC":{"Type":"AWS::AutoScaling::LaunchConfiguration","Properties":{"ImageId":{"Fn::If":["c","a","b"]},"InstanceType":"t3.micro"}}}}`,
		"two policies":          stackTemplate(t, false, 1, map[string]any{"AutoScalingRollingUpdate": map[string]any{}, "AutoScalingInstanceRefresh": map[string]any{}}),
	}
	for what, body := range bad {
		_, err := c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{StackName: aws.String(uniqueName(t)), TemplateBody: aws.String(body),
			Parameters: []cfntypes.Parameter{param("ImageId", oldAMI), param("Subnets", c.subnets(t))}})
		if apiCode(err) != "ValidationError" {
			t.Errorf("%s: got %v, want ValidationError", what, err)
		}
	}
	// Only moto's types: moto creates it, and DescribeStacks lists both kinds.
	motoStack := uniqueName(t)
	if _, err := c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{StackName: aws.String(motoStack),
		TemplateBody: aws.String(`{"Resources":{"Q":{"Type":"AWS::SQS::Queue"}}}`)}); err != nil {
		t.Fatalf("CreateStack for moto: %v", err)
	}
	ours := c.createStack(t, stackTemplate(t, false, 1, nil))
	out, err := c.cfn.DescribeStacks(ctxFor(t), &cloudformation.DescribeStacksInput{})
	if err != nil {
		t.Fatalf("DescribeStacks: %v", err)
	}
	seen := map[string]bool{}
	for _, st := range out.Stacks {
		seen[aws.ToString(st.StackName)] = true
	}
	if !seen[motoStack] || !seen[ours] {
		t.Errorf("DescribeStacks lists %v, want both %s and %s", seen, motoStack, ours)
	}
}

// Under AutoScalingInstanceRefresh a refresh whose new instances fail their
// health checks fails (no AutoRollback), which fails the update; the
// stack's rollback then puts the instances back on the old AMI.
func TestStackInstanceRefreshFailureRollsBackTheStack(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{
		"AutoScalingInstanceRefresh": map[string]any{"Preferences": map[string]any{"MinHealthyPercentage": 100, "MaxHealthyPercentage": 150, "InstanceWarmup": 30}},
	}))
	group := c.physicalID(t, name, "ASG")
	c.updateAMI(t, name, badAMI, "")
	c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	c.instanceAMIs(t, group, 2, oldAMI)
	if v := aws.ToString(c.group(t, group).LaunchTemplate.Version); v != "1" {
		t.Errorf("group on version %s after the rollback, want 1", v)
	}
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil || len(out.InstanceRefreshes) != 1 || out.InstanceRefreshes[0].Status != "Failed" {
		t.Fatalf("DescribeInstanceRefreshes: %v %+v, want one Failed refresh", err, out)
	}
	id := aws.ToString(out.InstanceRefreshes[0].InstanceRefreshId)
	failed := false
	for _, e := range c.events(t, name) {
		if aws.ToString(e.LogicalResourceId) == "ASG" && e.ResourceStatus == "UPDATE_FAILED" {
			failed = strings.Contains(aws.ToString(e.ResourceStatusReason), id) && strings.Contains(aws.ToString(e.ResourceStatusReason), "health checks")
		}
	}
	if !failed {
		t.Errorf("no UPDATE_FAILED event of ASG names refresh %s and the health checks; events:\n%s", id, c.eventLog(t, name))
	}
}

// A cancel during an instance refresh cancels the refresh and rolls the
// stack back.
func TestStackCancelDuringInstanceRefresh(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{
		"AutoScalingInstanceRefresh": map[string]any{"Preferences": map[string]any{"MinHealthyPercentage": 50, "InstanceWarmup": 3600}},
	}))
	group := c.physicalID(t, name, "ASG")
	c.updateAMI(t, name, newAMI, "")
	// Cancel once the refresh runs: each of its two batches warms up for an
	// emulated hour, six real seconds at the test speed.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
		if err != nil {
			t.Fatalf("DescribeInstanceRefreshes: %v", err)
		}
		if len(out.InstanceRefreshes) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the update started no instance refresh; events:\n%s", c.eventLog(t, name))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.cfn.CancelUpdateStack(ctxFor(t), &cloudformation.CancelUpdateStackInput{StackName: aws.String(name)}); err != nil {
		t.Fatalf("CancelUpdateStack: %v", err)
	}
	c.waitStack(t, name, "UPDATE_ROLLBACK_COMPLETE")
	c.instanceAMIs(t, group, 2, oldAMI)
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil || len(out.InstanceRefreshes) != 1 || out.InstanceRefreshes[0].Status != "Cancelled" {
		t.Errorf("DescribeInstanceRefreshes: %v %+v, want one Cancelled refresh", err, out)
	}
}

// DeleteStack deletes what the stack created; a stack whose creation fails
// rolls back to ROLLBACK_COMPLETE, deleting what it had created, and cannot
// be updated.
func TestStackDeleteAndFailedCreate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 1, nil))
	id := aws.ToString(c.stack(t, name).StackId)
	group, lt := c.physicalID(t, name, "ASG"), c.physicalID(t, name, "LT")
	if _, err := c.cfn.DeleteStack(ctxFor(t), &cloudformation.DeleteStackInput{StackName: aws.String(name)}); err != nil {
		t.Fatalf("DeleteStack: %v", err)
	}
	c.waitStack(t, id, "DELETE_COMPLETE")
	if out, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}}); err != nil || len(out.AutoScalingGroups) != 0 {
		t.Errorf("group %s survived the stack: %v", group, err)
	}
	if out, err := c.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{lt}}); err == nil && len(out.LaunchTemplates) > 0 {
		t.Errorf("launch template %s survived the stack", lt)
	}
	if _, err := c.cfn.DescribeStacks(ctxFor(t), &cloudformation.DescribeStacksInput{StackName: aws.String(name)}); apiCode(err) != "ValidationError" {
		t.Errorf("DescribeStacks by the name of a deleted stack: got %v, want ValidationError", err)
	}

	// A group on a launch configuration that does not exist fails to create.
	body := `{"Resources":{
		"LT":{"Type":"AWS::EC2::LaunchTemplate","Properties":{"LaunchTemplateData":{"ImageId":"` + oldAMI + `"}}},
		"ASG":{"Type":"AWS::AutoScaling::AutoScalingGroup","DependsOn":"LT","Properties":{"MinSize":1,"MaxSize":1,"LaunchConfigurationName":"no-such-configuration","AvailabilityZones":["us-east-1a"]}}}}`
	failing := uniqueName(t)
	if _, err := c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{StackName: aws.String(failing), TemplateBody: aws.String(body)}); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	c.waitStack(t, failing, "ROLLBACK_COMPLETE")
	if out, err := c.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{c.physicalID(t, failing, "LT")}}); err == nil && len(out.LaunchTemplates) > 0 {
		t.Errorf("the rollback of the creation left the launch template")
	}
	var reason string
	for _, e := range c.events(t, failing) {
		if aws.ToString(e.LogicalResourceId) == "ASG" && e.ResourceStatus == "CREATE_FAILED" {
			reason = aws.ToString(e.ResourceStatusReason)
		}
	}
	if !strings.Contains(reason, "no-such-configuration") {
		t.Errorf("CREATE_FAILED reason %q does not name the missing launch configuration", reason)
	}
	_, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{StackName: aws.String(failing), TemplateBody: aws.String(body)})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "ROLLBACK_COMPLETE") {
		t.Errorf("UpdateStack of a ROLLBACK_COMPLETE stack: got %v", err)
	}
}

// YAML templates, with the short forms of the functions, work as JSON ones
// do; GetTemplate answers the body as given.
func TestStackYAMLTemplate(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	body := `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ImageId:
    Type: AWS::EC2::Image::Id
  Subnets:
    Type: List<AWS::EC2::Subnet::Id>
Resources:
  LT:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        ImageId: !Ref ImageId
        InstanceType: t3.micro
  ASG:
    Type: AWS::AutoScaling::AutoScalingGroup
    UpdatePolicy:
      AutoScalingRollingUpdate:
        MaxBatchSize: 1
        MinInstancesInService: 1
    Properties:
      MinSize: 1
      MaxSize: 3
      DesiredCapacity: 2
      VPCZoneIdentifier: !Ref Subnets
      LaunchTemplate:
        LaunchTemplateId: !Ref LT
        Version: !GetAtt LT.LatestVersionNumber
      Tags:
        - Key: Name
          Value: !Sub "${AWS::StackName}-web"
          PropagateAtLaunch: true
`
	name := c.createStack(t, body)
	group := c.physicalID(t, name, "ASG")
	if got := groupTagMap(c, t, group)["Name"]; got != name+"-web" {
		t.Errorf("tag Name = %q, want %q (Fn::Sub of AWS::StackName)", got, name+"-web")
	}
	c.updateAMI(t, name, newAMI, "")
	c.waitStack(t, name, "UPDATE_COMPLETE")
	c.instanceAMIs(t, group, 2, newAMI)
	out, err := c.cfn.GetTemplate(ctxFor(t), &cloudformation.GetTemplateInput{StackName: aws.String(name)})
	if err != nil || aws.ToString(out.TemplateBody) != body {
		t.Errorf("GetTemplate: %v; body changed: %q", err, aws.ToString(out.TemplateBody))
	}
}

// iamStackTemplate adds a role and an instance profile (named or not) to
// the fleet stack, the launch template using the profile.
func iamStackTemplate(t *testing.T, named bool) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(stackTemplate(t, false, 1, nil)), &doc); err != nil {
		t.Fatal(err)
	}
	res := doc["Resources"].(map[string]any)
	role := map[string]any{"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}}}}
	if named {
		role["RoleName"] = uniqueName(t)
	}
	res["Role"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": role}
	res["Profile"] = map[string]any{"Type": "AWS::IAM::InstanceProfile", "Properties": map[string]any{"Roles": []any{map[string]any{"Ref": "Role"}}}}
	data := res["LT"].(map[string]any)["Properties"].(map[string]any)["LaunchTemplateData"].(map[string]any)
	data["IamInstanceProfile"] = map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{"Profile", "Arn"}}}
	b, _ := json.Marshal(doc)
	return string(b)
}

// Capabilities: "The following IAM resources require you to specify either
// the CAPABILITY_IAM or CAPABILITY_NAMED_IAM capability ... If you have IAM
// resources with custom names, you must specify CAPABILITY_NAMED_IAM ... If
// you don't specify either of these capabilities, CloudFormation returns an
// InsufficientCapabilities error", on CreateStack and UpdateStack alike;
// GetTemplateSummary says which a stack needs.
func TestStackCapabilities(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	params := []cfntypes.Parameter{param("ImageId", oldAMI), param("Subnets", c.subnets(t))}
	create := func(body string, caps ...cfntypes.Capability) (string, error) {
		name := uniqueName(t)
		_, err := c.cfn.CreateStack(ctxFor(t), &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(body), Parameters: params, Capabilities: caps})
		return name, err
	}
	if _, err := create(iamStackTemplate(t, false)); apiCode(err) != "InsufficientCapabilitiesException" || !strings.Contains(err.Error(), "CAPABILITY_IAM") {
		t.Errorf("IAM resources without capabilities: got %v, want InsufficientCapabilitiesException naming CAPABILITY_IAM", err)
	}
	if _, err := create(iamStackTemplate(t, true), cfntypes.CapabilityCapabilityIam); apiCode(err) != "InsufficientCapabilitiesException" || !strings.Contains(err.Error(), "CAPABILITY_NAMED_IAM") {
		t.Errorf("a named role with CAPABILITY_IAM: got %v, want InsufficientCapabilitiesException naming CAPABILITY_NAMED_IAM", err)
	}
	name, err := create(iamStackTemplate(t, false), cfntypes.CapabilityCapabilityIam)
	if err != nil {
		t.Fatalf("CreateStack with CAPABILITY_IAM: %v", err)
	}
	st := c.waitStack(t, name, "CREATE_COMPLETE")
	if !slices.Equal(st.Capabilities, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}) {
		t.Errorf("DescribeStacks Capabilities = %v", st.Capabilities)
	}
	sum, err := c.cfn.GetTemplateSummary(ctxFor(t), &cloudformation.GetTemplateSummaryInput{StackName: aws.String(name)})
	if err != nil || !slices.Equal(sum.Capabilities, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}) {
		t.Errorf("GetTemplateSummary: %v, capabilities %v", err, sum.Capabilities)
	}
	lt := c.physicalID(t, name, "LT")
	v, err := c.ec2.DescribeLaunchTemplateVersions(ctxFor(t), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(lt), Versions: []string{"1"}})
	if err != nil || len(v.LaunchTemplateVersions) != 1 || !strings.Contains(aws.ToString(v.LaunchTemplateVersions[0].LaunchTemplateData.IamInstanceProfile.Arn), ":instance-profile/") {
		t.Errorf("launch template version 1: %v %+v, want the instance profile's Arn", err, v)
	}

	in := &cloudformation.UpdateStackInput{StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{param("ImageId", newAMI), previous("Subnets")}}
	if _, err := c.cfn.UpdateStack(ctxFor(t), in); apiCode(err) != "InsufficientCapabilitiesException" {
		t.Errorf("UpdateStack without the capability: got %v, want InsufficientCapabilitiesException", err)
	}
	in.Capabilities = []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam} // either will do
	if _, err := c.cfn.UpdateStack(ctxFor(t), in); err != nil {
		t.Fatalf("UpdateStack with CAPABILITY_NAMED_IAM: %v", err)
	}
	c.waitStack(t, name, "UPDATE_COMPLETE")
}

// An UpdateStack whose answer is lost has started the update: a retry
// without a token is refused because the stack is updating, and a retry
// with the same ClientRequestToken answers as the first request did and
// starts nothing more. Not parallel: its fault is on the shared emulator,
// and parallel tests only run once the sequential ones are done.
func TestStackUpdateRetryAfterLostAnswer(t *testing.T) {
	s := sharedServer(t)
	t.Cleanup(s.ClearFaults)
	c := newCFNClients(s.URL())
	// UpdateStack goes through a client of its own, without retries, so
	// that the test makes each retry itself and the connection the fault
	// closes is no other call's.
	updater := cloudformation.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(s.URL()); o.RetryMaxAttempts = 1 })
	name := c.createStack(t, stackTemplate(t, false, 2, map[string]any{"AutoScalingRollingUpdate": map[string]any{"PauseTime": "PT10M"}}))
	id := aws.ToString(c.stack(t, name).StackId)
	s.AddFault(Fault{Service: "cloudformation", Action: "UpdateStack", Kind: FaultLoseResponse, Count: 1})
	in := &cloudformation.UpdateStackInput{StackName: aws.String(name), UsePreviousTemplate: aws.Bool(true), ClientRequestToken: aws.String("build-42"),
		Parameters: []cfntypes.Parameter{param("ImageId", newAMI), previous("Subnets")}}
	if _, err := updater.UpdateStack(ctxFor(t), in); err == nil {
		t.Fatalf("the first UpdateStack got an answer; the fault did not apply")
	}
	// Two batches of ten emulated minutes: two real seconds to retry in.
	noToken := *in
	noToken.ClientRequestToken = nil
	if _, err := updater.UpdateStack(ctxFor(t), &noToken); apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "UPDATE_IN_PROGRESS") {
		t.Errorf("a retry without the token: got %v, want ValidationError, the stack is updating", err)
	}
	out, err := updater.UpdateStack(ctxFor(t), in)
	if err != nil || aws.ToString(out.StackId) != id {
		t.Fatalf("a retry with the token: %v, stack id %s, want %s", err, aws.ToString(out.StackId), id)
	}
	c.waitStack(t, name, "UPDATE_COMPLETE")
	updates := 0
	for _, e := range c.events(t, name) {
		if aws.ToString(e.LogicalResourceId) == name && e.ResourceStatus == "UPDATE_IN_PROGRESS" {
			updates++
		}
	}
	if updates != 1 {
		t.Errorf("%d updates started, want 1", updates)
	}
	c.instanceAMIs(t, c.physicalID(t, name, "ASG"), 2, newAMI)
}

// A stack belongs to the account of the credentials that create it: with
// a role assumed in another account, its id names that account, and the
// first account does not see it.
func TestStackInAnotherAccount(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	base := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	out, err := sts.NewFromConfig(base, func(o *sts.Options) { o.BaseEndpoint = aws.String(s.URL()) }).AssumeRole(ctxFor(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/deploy"), RoleSessionName: aws.String("build"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	cr := out.Credentials
	other := base
	other.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	c := newCFNClients(s.URL())
	c.cfn = cloudformation.NewFromConfig(other, func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	c.ec2 = ec2.NewFromConfig(other, func(o *ec2.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	c.asg = autoscaling.NewFromConfig(other, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(s.URL()) })
	name := c.createStack(t, stackTemplate(t, false, 1, nil))
	if id := aws.ToString(c.stack(t, name).StackId); !strings.Contains(id, ":111122223333:stack/"+name+"/") {
		t.Errorf("stack id %s does not name account 111122223333", id)
	}
	if tags := groupTagMap(c, t, c.physicalID(t, name, "ASG")); tags["aws:cloudformation:stack-name"] != name {
		t.Errorf("the group in the other account lacks the stack's tags: %v", tags)
	}
	mine := newCFNClients(s.URL())
	if _, err := mine.cfn.DescribeStacks(ctxFor(t), &cloudformation.DescribeStacksInput{StackName: aws.String(name)}); apiCode(err) != "ValidationError" {
		t.Errorf("the first account sees the other account's stack: %v", err)
	}
}

// An update with a new template creates the resources it adds and deletes,
// in the cleanup phase, those it drops.
func TestStackUpdateAddsAndRemovesResources(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newCFNClients(s.URL())
	name := c.createStack(t, stackTemplate(t, false, 1, nil))
	group := c.physicalID(t, name, "ASG")
	var doc map[string]any
	if err := json.Unmarshal([]byte(stackTemplate(t, false, 1, nil)), &doc); err != nil {
		t.Fatal(err)
	}
	res := doc["Resources"].(map[string]any)
	delete(res, "ASG")
	delete(doc, "Outputs")
	res["LC"] = map[string]any{"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": map[string]any{"ImageId": map[string]any{"Ref": "ImageId"}, "InstanceType": "t3.micro"}}
	body, _ := json.Marshal(doc)
	if _, err := c.cfn.UpdateStack(ctxFor(t), &cloudformation.UpdateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(body)),
		Parameters: []cfntypes.Parameter{previous("ImageId"), previous("Subnets")}}); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	c.waitStack(t, name, "UPDATE_COMPLETE")
	if out, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}}); err != nil || len(out.AutoScalingGroups) != 0 {
		t.Errorf("the dropped group %s is still there: %v", group, err)
	}
	lc := c.physicalID(t, name, "LC")
	out, err := c.asg.DescribeLaunchConfigurations(ctxFor(t), &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{lc}})
	if err != nil || len(out.LaunchConfigurations) != 1 {
		t.Errorf("the added launch configuration %s: %v %+v", lc, err, out)
	}
	list, err := c.cfn.ListStackResources(ctxFor(t), &cloudformation.ListStackResourcesInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatalf("ListStackResources: %v", err)
	}
	var ids []string
	for _, r := range list.StackResourceSummaries {
		ids = append(ids, aws.ToString(r.LogicalResourceId))
	}
	if !slices.Equal(ids, []string{"LC", "LT"}) {
		t.Errorf("stack resources %v, want [LC LT]", ids)
	}
}
