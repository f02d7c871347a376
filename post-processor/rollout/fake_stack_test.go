package rollout

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// fakeStack is one CloudFormation stack, deep enough for stack roll-out
// tests: its status follows a script, one step per DescribeStacks once an
// update began, and each step may add events and move instances.
type fakeStack struct {
	mu  sync.Mutex
	aws *fakeAWS // the region's groups, for the stack's group

	id, name     string
	status       string
	reason       string
	params       []cfntypes.Parameter
	types        map[string]string // parameter types, AWS::EC2::Image::Id when missing
	capabilities []cfntypes.Capability
	needs        []cfntypes.Capability // what GetTemplateSummary finds
	template     string
	groups       map[string]string // logical id -> group name
	events       []cfntypes.StackEvent
	clock        time.Time

	// script is what follows an accepted update; cancelScript what follows
	// a CancelUpdateStack.
	script, cancelScript []fakeStep
	// afterUpdate, when set, replaces script once an update is accepted.
	afterUpdate []fakeStep
	step        int
	updating    bool
	// instances are the AMIs of the instances (DescribeInstances).
	instances map[string]string

	updates   []*cloudformation.UpdateStackInput
	cancels   []*cloudformation.CancelUpdateStackInput
	updateErr error
	// readErr fails GetTemplate and GetTemplateSummary, as a policy that
	// denies them would.
	readErr error
	// updateOnce: updateErr is returned once, after the update began (a
	// lost answer).
	updateOnce bool
	onDescribe func(n int) // after each DescribeStacks, with the number of polls since the update
	polls      int
	calls      []string
}

// fakeStep is one step of a stack's script.
type fakeStep struct {
	status string
	events [][3]string // logical id, status, reason
	moved  map[string]string
}

func newFakeStack(f *fakeAWS) *fakeStack {
	s := &fakeStack{
		aws: f, id: "arn:aws:cloudformation:us-east-1:123456789012:stack/web-prod/1", name: "web-prod",
		status: "UPDATE_COMPLETE",
		params: []cfntypes.Parameter{
			{ParameterKey: aws.String("ImageId"), ParameterValue: aws.String("ami-old")},
			{ParameterKey: aws.String("Subnets"), ParameterValue: aws.String("subnet-1,subnet-2")},
			{ParameterKey: aws.String("DbPassword"), ParameterValue: aws.String("****")},
		},
		types:     map[string]string{"Subnets": "List<AWS::EC2::Subnet::Id>", "DbPassword": "String"},
		template:  `{"Resources":{"LT":{"Type":"AWS::EC2::LaunchTemplate"},"ASG":{"Type":"AWS::AutoScaling::AutoScalingGroup","UpdatePolicy":{"AutoScalingRollingUpdate":{"MaxBatchSize":1}},"Properties":{"LaunchTemplate":{"LaunchTemplateId":{"Ref":"LT"},"Version":{"Fn::GetAtt":["LT","LatestVersionNumber"]}}}}}}`,
		groups:    map[string]string{"ASG": "web-prod-ASG-1"},
		clock:     time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		instances: map[string]string{"i-1": "ami-old", "i-2": "ami-old"},
		script: []fakeStep{
			{status: "UPDATE_IN_PROGRESS", events: [][3]string{{"LT", "UPDATE_IN_PROGRESS", ""}, {"LT", "UPDATE_COMPLETE", ""}, {"ASG", "UPDATE_IN_PROGRESS", "Rolling update initiated. Terminating 2 obsolete instance(s) in batches of 1."}}, moved: map[string]string{"i-1": "ami-new"}},
			{status: "UPDATE_IN_PROGRESS", moved: map[string]string{"i-2": "ami-new"}},
			{status: "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", events: [][3]string{{"ASG", "UPDATE_COMPLETE", ""}, {"web-prod", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""}}},
			{status: "UPDATE_COMPLETE", events: [][3]string{{"web-prod", "UPDATE_COMPLETE", ""}}},
		},
		cancelScript: []fakeStep{
			{status: "UPDATE_ROLLBACK_IN_PROGRESS", events: [][3]string{{"web-prod", "UPDATE_ROLLBACK_IN_PROGRESS", "Stack update cancelled"}}, moved: map[string]string{"i-1": "ami-old"}},
			{status: "UPDATE_ROLLBACK_COMPLETE", events: [][3]string{{"web-prod", "UPDATE_ROLLBACK_COMPLETE", ""}}},
		},
	}
	s.event("web-prod", "UPDATE_COMPLETE", "")
	g := astypes.AutoScalingGroup{
		AutoScalingGroupName: aws.String("web-prod-ASG-1"), DesiredCapacity: aws.Int32(2),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("3")},
		Instances:      []astypes.Instance{{InstanceId: aws.String("i-1"), LifecycleState: "InService"}, {InstanceId: aws.String("i-2"), LifecycleState: "InService"}},
		Tags:           []astypes.TagDescription{{Key: aws.String(tagStackName), Value: aws.String("web-prod")}, {Key: aws.String(tagLogicalID), Value: aws.String("ASG")}},
	}
	f.groups["web-prod-ASG-1"] = g
	return s
}

// event adds a stack event; callers hold mu or own s.
func (s *fakeStack) event(logical, status, reason string) {
	s.clock = s.clock.Add(time.Second)
	typ := "AWS::AutoScaling::AutoScalingGroup"
	switch logical {
	case s.name:
		typ = "AWS::CloudFormation::Stack"
	case "LT":
		typ = "AWS::EC2::LaunchTemplate"
	}
	e := cfntypes.StackEvent{
		EventId: aws.String("ev-" + strconv.Itoa(len(s.events)+1)), LogicalResourceId: aws.String(logical), ResourceType: aws.String(typ),
		ResourceStatus: cfntypes.ResourceStatus(status), Timestamp: aws.Time(s.clock), StackId: aws.String(s.id), StackName: aws.String(s.name),
	}
	if reason != "" {
		e.ResourceStatusReason = aws.String(reason)
	}
	s.events = append(s.events, e)
}

func (s *fakeStack) record(call string) { s.calls = append(s.calls, call) }

func (s *fakeStack) count(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (s *fakeStack) notFound(name string) error {
	if name != s.name && name != s.id {
		return &smithy.GenericAPIError{Code: "ValidationError", Message: fmt.Sprintf("Stack with id %s does not exist", name)}
	}
	return nil
}

func (s *fakeStack) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	s.mu.Lock()
	s.record("DescribeStacks")
	if err := s.notFound(aws.ToString(in.StackName)); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.updating && s.step < len(s.script) {
		st := s.script[s.step]
		s.step++
		s.status = st.status
		for _, e := range st.events {
			s.event(e[0], e[1], e[2])
		}
		for i, ami := range st.moved {
			s.instances[i] = ami
		}
	}
	if s.updating {
		s.polls++
	}
	out := &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{{
		StackId: aws.String(s.id), StackName: aws.String(s.name), StackStatus: cfntypes.StackStatus(s.status),
		Parameters: append([]cfntypes.Parameter{}, s.params...), Capabilities: s.capabilities,
		CreationTime: aws.Time(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), LastUpdatedTime: aws.Time(s.clock),
	}}}
	if s.reason != "" {
		out.Stacks[0].StackStatusReason = aws.String(s.reason)
	}
	n, hook := s.polls, s.onDescribe
	updating := s.updating
	s.mu.Unlock()
	if hook != nil && updating {
		hook(n)
	}
	return out, nil
}

func (s *fakeStack) DescribeStackEvents(_ context.Context, in *cloudformation.DescribeStackEventsInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("DescribeStackEvents")
	// Newest first, two a page, so that paging is exercised.
	from := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		from, _ = strconv.Atoi(tok)
	}
	out := &cloudformation.DescribeStackEventsOutput{}
	n := len(s.events)
	for i := from; i < min(n, from+2); i++ {
		out.StackEvents = append(out.StackEvents, s.events[n-1-i])
	}
	if from+2 < n {
		out.NextToken = aws.String(strconv.Itoa(from + 2))
	}
	return out, nil
}

func (s *fakeStack) ListStackResources(_ context.Context, in *cloudformation.ListStackResourcesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("ListStackResources")
	// One resource a page, so that paging is exercised.
	all := []cfntypes.StackResourceSummary{
		{LogicalResourceId: aws.String("LT"), PhysicalResourceId: aws.String("lt-1"), ResourceType: aws.String("AWS::EC2::LaunchTemplate")},
	}
	for _, id := range []string{"ASG", "Worker"} {
		if name, ok := s.groups[id]; ok {
			all = append(all, cfntypes.StackResourceSummary{LogicalResourceId: aws.String(id), PhysicalResourceId: aws.String(name), ResourceType: aws.String(groupType)})
		}
	}
	from := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		from, _ = strconv.Atoi(tok)
	}
	out := &cloudformation.ListStackResourcesOutput{StackResourceSummaries: all[from : from+1]}
	if from+1 < len(all) {
		out.NextToken = aws.String(strconv.Itoa(from + 1))
	}
	return out, nil
}

func (s *fakeStack) GetTemplate(_ context.Context, in *cloudformation.GetTemplateInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("GetTemplate")
	if s.readErr != nil {
		return nil, s.readErr
	}
	return &cloudformation.GetTemplateOutput{TemplateBody: aws.String(s.template)}, nil
}

func (s *fakeStack) GetTemplateSummary(_ context.Context, in *cloudformation.GetTemplateSummaryInput, _ ...func(*cloudformation.Options)) (*cloudformation.GetTemplateSummaryOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("GetTemplateSummary")
	if s.readErr != nil {
		return nil, s.readErr
	}
	if err := s.notFound(aws.ToString(in.StackName)); err != nil {
		return nil, err
	}
	out := &cloudformation.GetTemplateSummaryOutput{Capabilities: s.needs}
	for _, p := range s.params {
		typ := s.types[aws.ToString(p.ParameterKey)]
		if typ == "" {
			typ = "AWS::EC2::Image::Id"
		}
		out.Parameters = append(out.Parameters, cfntypes.ParameterDeclaration{ParameterKey: p.ParameterKey, ParameterType: aws.String(typ)})
	}
	return out, nil
}

func (s *fakeStack) UpdateStack(_ context.Context, in *cloudformation.UpdateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("UpdateStack")
	s.updates = append(s.updates, in)
	if s.updateErr != nil && !s.updateOnce {
		return nil, s.updateErr
	}
	for _, p := range in.Parameters {
		if aws.ToBool(p.UsePreviousValue) {
			continue
		}
		for i := range s.params {
			if aws.ToString(s.params[i].ParameterKey) == aws.ToString(p.ParameterKey) {
				s.params[i].ParameterValue = p.ParameterValue
			}
		}
	}
	s.status, s.updating, s.step = "UPDATE_IN_PROGRESS", true, 0
	if s.afterUpdate != nil {
		s.script = s.afterUpdate
	}
	s.event(s.name, "UPDATE_IN_PROGRESS", "User Initiated")
	if s.updateErr != nil {
		err := s.updateErr
		s.updateErr = nil
		return nil, err
	}
	return &cloudformation.UpdateStackOutput{StackId: aws.String(s.id)}, nil
}

func (s *fakeStack) CancelUpdateStack(_ context.Context, in *cloudformation.CancelUpdateStackInput, _ ...func(*cloudformation.Options)) (*cloudformation.CancelUpdateStackOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("CancelUpdateStack")
	s.cancels = append(s.cancels, in)
	if s.status != "UPDATE_IN_PROGRESS" {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "CancelUpdateStack cannot be called from current stack status " + s.status}
	}
	s.script, s.step, s.updating = s.cancelScript, 0, true
	return &cloudformation.CancelUpdateStackOutput{}, nil
}

func (s *fakeStack) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("DescribeInstances")
	var r ec2types.Reservation
	for _, id := range in.InstanceIds {
		if ami, ok := s.instances[id]; ok {
			r.Instances = append(r.Instances, ec2types.Instance{InstanceId: aws.String(id), ImageId: aws.String(ami)})
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{r}}, nil
}

// newStackPP configures a post-processor with raw on one fake region
// holding stack s.
func newStackPP(t interface {
	Helper()
	Fatalf(string, ...any)
}, f *fakeAWS, s *fakeStack, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	p := &PostProcessor{
		newClients: func(_ context.Context, region string, _ awsauth.AssumeRoleConfig) (*clients, error) {
			return &clients{autoscaling: f, ec2: f, cloudformation: s, instances: s}, nil
		},
		waitOptions: []func(*instancerefresh.InstanceRefreshCompleteWaiterOptions){
			func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
				o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond
				o.Budget = nil
			},
		},
	}
	clk := &testClock{t: time.Now()}
	p.now, p.sleep = clk.Now, clk.Sleep
	if raw == nil {
		raw = map[string]interface{}{}
	}
	if _, ok := raw["stack"]; !ok {
		raw["stack"] = []map[string]interface{}{{"stack_name": "web-prod", "image_parameter": "ImageId"}}
	}
	raw["packer_build_name"] = "app"
	if err := p.Configure(raw); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

// stackRun runs one stack roll-out on fresh fakes adjusted by setup.
func stackRun(t interface {
	Helper()
	Fatalf(string, ...any)
}, ctx context.Context, raw map[string]interface{}, setup func(*fakeAWS, *fakeStack)) (*fakeAWS, *fakeStack, *Artifact, *packersdk.MockUi, error) {
	t.Helper()
	f := newFakeAWS()
	s := newFakeStack(f)
	if setup != nil {
		setup(f, s)
	}
	p := newStackPP(t, f, s, raw)
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(ctx, ui, amiArtifact("us-east-1:ami-new"))
	a, _ := art.(*Artifact)
	return f, s, a, ui, err
}
