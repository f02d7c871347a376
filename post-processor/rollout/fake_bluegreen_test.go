package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// interruptOn returns a context that is cancelled, as a Ctrl-C would
// cancel it, once b records call.
func interruptOn(t *testing.T, b *bgFake, call string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b.onCall = func(c string) {
		if c == call {
			cancel()
		}
	}
	return ctx
}

// bgFake extends fakeAWS with what a blue/green roll-out needs: groups
// created and deleted, instances that launch, register in target groups and
// classic load balancers, turn healthy (or not, by AMI), drain when
// deregistered and terminate when scaled in, all on the roll-out's own
// clock, which moves only when the roll-out sleeps.
type bgFake struct {
	*fakeAWS
	now func() time.Time

	// Delays on the clock; stagger delays each launch of a batch by that
	// much more than the one before.
	launch, healthyAfter, drain, terminate, stagger time.Duration

	unhealthy map[string]bool // AMIs whose instances never turn healthy

	launchedAt map[string]time.Time // instance -> launch
	termAt     map[string]time.Time // instance -> scale-in
	imageOf    map[string]string    // instance -> AMI
	// reg is each load balancer's (target group ARN or CLB name)
	// registrations: instance -> registered, and deregistered when set.
	reg  map[string]map[string]*registration
	clbs map[string]bool // classic load balancer names
	// clbDrain is the classic load balancers' connection draining timeout
	// (off, 0, by default, as in AWS's API).
	clbDrain time.Duration
	seq      int
	limit    int32 // MaxNumberOfAutoScalingGroups

	policies  map[string][]astypes.ScalingPolicy
	scheduled map[string][]astypes.ScheduledUpdateGroupAction
	hooks     map[string][]astypes.LifecycleHook
	suspended map[string][]string
	subnets   map[string]int32

	createdGroups []*autoscaling.CreateAutoScalingGroupInput
	deleted       []*autoscaling.DeleteAutoScalingGroupInput
	// onCall runs after each blue/green call is recorded, outside the lock.
	onCall func(call string)
	// putPolicyErr fails PutScalingPolicy.
	putPolicyErr error
	// at records when each call was made, on the clock.
	at map[string][]time.Time
}

type registration struct {
	at      time.Time
	deregAt *time.Time
}

const testTG = "arn:aws:elasticloadbalancing:us-east-1:000011112222:targetgroup/tg-web/50dc6c495c0c9188"

// newBGFake is a region with a live group web of four healthy instances
// behind target group tg-web, with a target tracking policy and a scheduled
// action.
func newBGFake() *bgFake {
	f := newFakeAWS()
	b := &bgFake{
		fakeAWS: f, launch: 30 * time.Second, healthyAfter: time.Minute, drain: 5 * time.Minute, terminate: 20 * time.Second,
		unhealthy: map[string]bool{}, launchedAt: map[string]time.Time{}, termAt: map[string]time.Time{}, imageOf: map[string]string{},
		reg: map[string]map[string]*registration{testTG: {}}, clbs: map[string]bool{}, limit: 500,
		policies: map[string][]astypes.ScalingPolicy{"web": {{
			PolicyName: aws.String("cpu50"), PolicyType: aws.String("TargetTrackingScaling"),
			TargetTrackingConfiguration: &astypes.TargetTrackingConfiguration{TargetValue: aws.Float64(50),
				PredefinedMetricSpecification: &astypes.PredefinedMetricSpecification{PredefinedMetricType: astypes.MetricTypeASGAverageCPUUtilization}},
		}}},
		scheduled: map[string][]astypes.ScheduledUpdateGroupAction{"web": {{
			ScheduledActionName: aws.String("night"), Recurrence: aws.String("0 22 * * *"), MinSize: aws.Int32(2), StartTime: aws.Time(time.Now().Add(-24 * time.Hour)),
		}}},
		hooks:     map[string][]astypes.LifecycleHook{},
		suspended: map[string][]string{},
		subnets:   map[string]int32{"subnet-a": 100, "subnet-b": 100},
		at:        map[string][]time.Time{},
	}
	b.now = time.Now
	g := f.groups["web"]
	g.MinSize, g.MaxSize = aws.Int32(2), aws.Int32(8)
	g.VPCZoneIdentifier = aws.String("subnet-a,subnet-b")
	g.HealthCheckType, g.HealthCheckGracePeriod = aws.String("ELB"), aws.Int32(90)
	g.TargetGroupARNs = []string{testTG}
	g.TerminationPolicies = []string{"OldestInstance"}
	g.Tags = []astypes.TagDescription{{Key: aws.String("team"), Value: aws.String("web"), PropagateAtLaunch: aws.Bool(true)}}
	g.DeletionProtection = astypes.DeletionProtectionNone
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("i-old%d", i)
		g.Instances = append(g.Instances, astypes.Instance{InstanceId: aws.String(id), LifecycleState: astypes.LifecycleStateInService, HealthStatus: aws.String("Healthy")})
		b.imageOf[id] = "ami-old3"
		b.reg[testTG][id] = &registration{at: time.Time{}}
	}
	f.groups["web"] = g
	return b
}

// withCLB attaches the live group to classic load balancer clb-web as well.
func (b *bgFake) withCLB() {
	g := b.groups["web"]
	g.LoadBalancerNames = []string{"clb-web"}
	b.groups["web"] = g
	b.clbs["clb-web"] = true
	b.reg["clb-web"] = map[string]*registration{}
	for _, i := range g.Instances {
		b.reg["clb-web"][aws.ToString(i.InstanceId)] = &registration{}
	}
}

// newBGTestPP is newTestPP on bgFake, strategy blue-green, with the fake
// on the roll-out's clock.
func newBGTestPP(t *testing.T, b *bgFake, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	if raw == nil {
		raw = map[string]interface{}{}
	}
	if _, ok := raw["strategy"]; !ok {
		raw["strategy"] = StrategyBlueGreen
	}
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": b.fakeAWS}, raw)
	p.newClients = func(context.Context, string, awsauth.AssumeRoleConfig) (*clients, error) {
		return &clients{autoscaling: b, ec2: b.fakeAWS, blueGreen: b, elbv2: b, elb: b, subnets: b}, nil
	}
	b.now = p.now
	return p
}

// call records a call and when it was made; callers hold b.mu.
func (b *bgFake) call(name string) {
	b.record(name)
	b.at[name] = append(b.at[name], b.now())
}

func (b *bgFake) after(name string) {
	if b.onCall != nil {
		b.onCall(name)
	}
}

// sync moves every instance and registration to where the clock says;
// callers hold b.mu.
func (b *bgFake) sync() {
	now := b.now()
	for name, g := range b.groups {
		var keep []astypes.Instance
		for _, in := range g.Instances {
			id := aws.ToString(in.InstanceId)
			if t, ok := b.termAt[id]; ok {
				if !now.Before(t.Add(b.terminate)) {
					b.deregister(id, now)
					continue
				}
				in.LifecycleState = astypes.LifecycleStateTerminating
			} else if t, ok := b.launchedAt[id]; ok {
				if !now.Before(t.Add(b.launch)) {
					if in.LifecycleState != astypes.LifecycleStateInService {
						for _, lb := range append(slices.Clone(g.TargetGroupARNs), g.LoadBalancerNames...) {
							if b.reg[lb] != nil && b.reg[lb][id] == nil {
								b.reg[lb][id] = &registration{at: t.Add(b.launch)}
							}
						}
					}
					in.LifecycleState, in.HealthStatus = astypes.LifecycleStateInService, aws.String("Healthy")
				}
			}
			keep = append(keep, in)
		}
		g.Instances = keep
		b.groups[name] = g
	}
	for lb, rs := range b.reg {
		for id, r := range rs {
			if r.deregAt != nil && !now.Before(r.deregAt.Add(b.drainFor(lb))) {
				delete(rs, id)
			}
		}
	}
}

func (b *bgFake) drainFor(lb string) time.Duration {
	if b.clbs[lb] {
		return b.clbDrain
	}
	return b.drain
}

func (b *bgFake) deregister(id string, now time.Time) {
	for _, rs := range b.reg {
		if r := rs[id]; r != nil && r.deregAt == nil {
			r.deregAt = &now
		}
	}
}

// scale launches or scales in the group's instances to desired; callers
// hold b.mu.
func (b *bgFake) scale(name string) {
	g := b.groups[name]
	desired := int(aws.ToInt32(g.DesiredCapacity))
	live := 0
	for _, in := range g.Instances {
		if _, ok := b.termAt[aws.ToString(in.InstanceId)]; !ok {
			live++
		}
	}
	for k := 0; live < desired; live, k = live+1, k+1 {
		b.seq++
		id := fmt.Sprintf("i-%s-%d", name, b.seq)
		b.launchedAt[id] = b.now().Add(time.Duration(k) * b.stagger)
		b.imageOf[id] = b.imageFor(g)
		g.Instances = append(g.Instances, astypes.Instance{InstanceId: aws.String(id), LifecycleState: astypes.LifecycleStatePending, HealthStatus: aws.String("Healthy")})
	}
	for i := range g.Instances {
		if live <= desired {
			break
		}
		id := aws.ToString(g.Instances[i].InstanceId)
		if _, ok := b.termAt[id]; !ok {
			b.termAt[id] = b.now()
			b.deregister(id, b.now())
			live--
		}
	}
	b.groups[name] = g
}

func (b *bgFake) imageFor(g astypes.AutoScalingGroup) string {
	if lc := aws.ToString(g.LaunchConfigurationName); lc != "" {
		return aws.ToString(b.lcs[lc].ImageId)
	}
	spec := launchSpec(g)
	v, _ := strconv.ParseInt(aws.ToString(spec.Version), 10, 64)
	return b.versions[aws.ToString(spec.LaunchTemplateId)][v]
}

func (b *bgFake) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	b.mu.Lock()
	b.sync()
	b.mu.Unlock()
	return b.fakeAWS.DescribeAutoScalingGroups(ctx, in, o...)
}

func (b *bgFake) DescribeAccountLimits(context.Context, *autoscaling.DescribeAccountLimitsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAccountLimitsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeAccountLimits")
	return &autoscaling.DescribeAccountLimitsOutput{MaxNumberOfAutoScalingGroups: aws.Int32(b.limit), NumberOfAutoScalingGroups: aws.Int32(int32(len(b.groups))),
		MaxNumberOfLaunchConfigurations: aws.Int32(200), NumberOfLaunchConfigurations: aws.Int32(int32(len(b.lcs)))}, nil
}

func (b *bgFake) DescribePolicies(_ context.Context, in *autoscaling.DescribePoliciesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribePoliciesOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribePolicies")
	return &autoscaling.DescribePoliciesOutput{ScalingPolicies: b.policies[aws.ToString(in.AutoScalingGroupName)]}, nil
}

func (b *bgFake) DescribeScheduledActions(_ context.Context, in *autoscaling.DescribeScheduledActionsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScheduledActionsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeScheduledActions")
	return &autoscaling.DescribeScheduledActionsOutput{ScheduledUpdateGroupActions: b.scheduled[aws.ToString(in.AutoScalingGroupName)]}, nil
}

func (b *bgFake) DescribeLifecycleHooks(_ context.Context, in *autoscaling.DescribeLifecycleHooksInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeLifecycleHooks")
	return &autoscaling.DescribeLifecycleHooksOutput{LifecycleHooks: b.hooks[aws.ToString(in.AutoScalingGroupName)]}, nil
}

func (b *bgFake) DescribeNotificationConfigurations(context.Context, *autoscaling.DescribeNotificationConfigurationsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeNotificationConfigurationsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeNotificationConfigurations")
	return &autoscaling.DescribeNotificationConfigurationsOutput{}, nil
}

func (b *bgFake) DescribeWarmPool(context.Context, *autoscaling.DescribeWarmPoolInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeWarmPoolOutput, error) {
	return &autoscaling.DescribeWarmPoolOutput{}, nil
}

func (b *bgFake) CreateAutoScalingGroup(_ context.Context, in *autoscaling.CreateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateAutoScalingGroupOutput, error) {
	b.mu.Lock()
	b.call("CreateAutoScalingGroup")
	name := aws.ToString(in.AutoScalingGroupName)
	if _, ok := b.groups[name]; ok {
		b.mu.Unlock()
		return nil, &astypes.AlreadyExistsFault{Message: aws.String("AutoScalingGroup by this name already exists")}
	}
	b.createdGroups = append(b.createdGroups, in)
	g := astypes.AutoScalingGroup{
		AutoScalingGroupName: in.AutoScalingGroupName, MinSize: in.MinSize, MaxSize: in.MaxSize, DesiredCapacity: in.DesiredCapacity,
		LaunchTemplate: in.LaunchTemplate, MixedInstancesPolicy: in.MixedInstancesPolicy, LaunchConfigurationName: in.LaunchConfigurationName,
		VPCZoneIdentifier: in.VPCZoneIdentifier, TargetGroupARNs: slices.Clone(in.TargetGroupARNs), LoadBalancerNames: slices.Clone(in.LoadBalancerNames),
		HealthCheckType: in.HealthCheckType, HealthCheckGracePeriod: in.HealthCheckGracePeriod, TerminationPolicies: in.TerminationPolicies,
		DefaultInstanceWarmup: in.DefaultInstanceWarmup, DeletionProtection: in.DeletionProtection,
	}
	if g.DeletionProtection == "" {
		g.DeletionProtection = astypes.DeletionProtectionNone
	}
	for _, t := range in.Tags {
		g.Tags = append(g.Tags, astypes.TagDescription{Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch, ResourceId: in.AutoScalingGroupName, ResourceType: aws.String("auto-scaling-group")})
	}
	b.groups[name] = g
	b.scale(name)
	b.mu.Unlock()
	b.after("CreateAutoScalingGroup")
	return &autoscaling.CreateAutoScalingGroupOutput{}, nil
}

func (b *bgFake) DeleteAutoScalingGroup(_ context.Context, in *autoscaling.DeleteAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.DeleteAutoScalingGroupOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DeleteAutoScalingGroup " + aws.ToString(in.AutoScalingGroupName))
	b.sync()
	name := aws.ToString(in.AutoScalingGroupName)
	g, ok := b.groups[name]
	switch {
	case !ok:
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "AutoScalingGroup name not found"}
	case g.DeletionProtection == astypes.DeletionProtectionPreventAllDeletion,
		g.DeletionProtection == astypes.DeletionProtectionPreventForceDeletion && aws.ToBool(in.ForceDelete):
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "deletion protection"}
	case len(g.Instances) > 0 && !aws.ToBool(in.ForceDelete):
		return nil, &astypes.ResourceInUseFault{Message: aws.String("You cannot delete an AutoScalingGroup while there are instances still in the group.")}
	}
	b.deleted = append(b.deleted, in)
	for _, i := range g.Instances {
		b.deregister(aws.ToString(i.InstanceId), b.now())
	}
	delete(b.groups, name)
	return &autoscaling.DeleteAutoScalingGroupOutput{}, nil
}

func (b *bgFake) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("UpdateAutoScalingGroup " + name)
	g := b.groups[name]
	if in.DesiredCapacity != nil {
		g.MinSize, g.MaxSize, g.DesiredCapacity = in.MinSize, in.MaxSize, in.DesiredCapacity
	}
	if in.DeletionProtection != "" {
		g.DeletionProtection = in.DeletionProtection
	}
	b.groups[name] = g
	b.scale(name)
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (b *bgFake) CreateOrUpdateTags(_ context.Context, in *autoscaling.CreateOrUpdateTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range in.Tags {
		name := aws.ToString(t.ResourceId)
		b.call("CreateOrUpdateTags " + name + " " + aws.ToString(t.Key))
		g := b.groups[name]
		g.Tags = slices.DeleteFunc(g.Tags, func(d astypes.TagDescription) bool { return aws.ToString(d.Key) == aws.ToString(t.Key) })
		g.Tags = append(g.Tags, astypes.TagDescription{Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch})
		b.groups[name] = g
	}
	return &autoscaling.CreateOrUpdateTagsOutput{}, nil
}

func (b *bgFake) PutNotificationConfiguration(context.Context, *autoscaling.PutNotificationConfigurationInput, ...func(*autoscaling.Options)) (*autoscaling.PutNotificationConfigurationOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("PutNotificationConfiguration")
	return &autoscaling.PutNotificationConfigurationOutput{}, nil
}

func (b *bgFake) EnableMetricsCollection(context.Context, *autoscaling.EnableMetricsCollectionInput, ...func(*autoscaling.Options)) (*autoscaling.EnableMetricsCollectionOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("EnableMetricsCollection")
	return &autoscaling.EnableMetricsCollectionOutput{}, nil
}

func (b *bgFake) PutScalingPolicy(_ context.Context, in *autoscaling.PutScalingPolicyInput, _ ...func(*autoscaling.Options)) (*autoscaling.PutScalingPolicyOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("PutScalingPolicy " + name)
	if b.putPolicyErr != nil {
		return nil, b.putPolicyErr
	}
	b.policies[name] = append(b.policies[name], astypes.ScalingPolicy{PolicyName: in.PolicyName, PolicyType: in.PolicyType, AutoScalingGroupName: in.AutoScalingGroupName, TargetTrackingConfiguration: in.TargetTrackingConfiguration})
	return &autoscaling.PutScalingPolicyOutput{}, nil
}

func (b *bgFake) PutScheduledUpdateGroupAction(_ context.Context, in *autoscaling.PutScheduledUpdateGroupActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.PutScheduledUpdateGroupActionOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("PutScheduledUpdateGroupAction " + name)
	if in.StartTime != nil && in.StartTime.Before(b.now()) {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Given start time is in the past"}
	}
	b.scheduled[name] = append(b.scheduled[name], astypes.ScheduledUpdateGroupAction{ScheduledActionName: in.ScheduledActionName, Recurrence: in.Recurrence, MinSize: in.MinSize})
	return &autoscaling.PutScheduledUpdateGroupActionOutput{}, nil
}

func (b *bgFake) DetachLoadBalancerTargetGroups(_ context.Context, in *autoscaling.DetachLoadBalancerTargetGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DetachLoadBalancerTargetGroupsOutput, error) {
	b.mu.Lock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("DetachLoadBalancerTargetGroups " + name)
	b.sync()
	g := b.groups[name]
	for _, arn := range in.TargetGroupARNs {
		g.TargetGroupARNs = slices.DeleteFunc(slices.Clone(g.TargetGroupARNs), func(s string) bool { return s == arn })
		for _, i := range g.Instances {
			if r := b.reg[arn][aws.ToString(i.InstanceId)]; r != nil && r.deregAt == nil {
				now := b.now()
				r.deregAt = &now
			}
		}
	}
	b.groups[name] = g
	b.mu.Unlock()
	b.after("DetachLoadBalancerTargetGroups " + name)
	return &autoscaling.DetachLoadBalancerTargetGroupsOutput{}, nil
}

func (b *bgFake) DetachLoadBalancers(_ context.Context, in *autoscaling.DetachLoadBalancersInput, _ ...func(*autoscaling.Options)) (*autoscaling.DetachLoadBalancersOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("DetachLoadBalancers " + name)
	b.sync()
	g := b.groups[name]
	for _, lb := range in.LoadBalancerNames {
		g.LoadBalancerNames = slices.DeleteFunc(slices.Clone(g.LoadBalancerNames), func(s string) bool { return s == lb })
		for _, i := range g.Instances {
			if r := b.reg[lb][aws.ToString(i.InstanceId)]; r != nil && r.deregAt == nil {
				now := b.now()
				r.deregAt = &now
			}
		}
	}
	b.groups[name] = g
	return &autoscaling.DetachLoadBalancersOutput{}, nil
}

func (b *bgFake) SuspendProcesses(_ context.Context, in *autoscaling.SuspendProcessesInput, _ ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := aws.ToString(in.AutoScalingGroupName)
	b.call("SuspendProcesses " + name)
	b.suspended[name] = append(b.suspended[name], in.ScalingProcesses...)
	return &autoscaling.SuspendProcessesOutput{}, nil
}

// targetState is an instance's state in a target group now; callers hold
// b.mu.
func (b *bgFake) targetState(arn, id string) (elbv2types.TargetHealthStateEnum, elbv2types.TargetHealthReasonEnum) {
	r := b.reg[arn][id]
	now := b.now()
	switch {
	case r == nil:
		return elbv2types.TargetHealthStateEnumUnused, elbv2types.TargetHealthReasonEnumNotRegistered
	case r.deregAt != nil:
		return elbv2types.TargetHealthStateEnumDraining, elbv2types.TargetHealthReasonEnumDeregistrationInProgress
	case b.unhealthy[b.imageOf[id]] && !now.Before(r.at.Add(b.healthyAfter)):
		return elbv2types.TargetHealthStateEnumUnhealthy, elbv2types.TargetHealthReasonEnumFailedHealthChecks
	case now.Before(r.at.Add(b.healthyAfter)):
		return elbv2types.TargetHealthStateEnumInitial, elbv2types.TargetHealthReasonEnumRegistrationInProgress
	}
	return elbv2types.TargetHealthStateEnumHealthy, ""
}

func (b *bgFake) DescribeTargetHealth(_ context.Context, in *elasticloadbalancingv2.DescribeTargetHealthInput, _ ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeTargetHealthOutput, error) {
	b.mu.Lock()
	b.call("DescribeTargetHealth")
	b.sync()
	arn := aws.ToString(in.TargetGroupArn)
	out := &elasticloadbalancingv2.DescribeTargetHealthOutput{}
	for _, t := range in.Targets {
		s, why := b.targetState(arn, aws.ToString(t.Id))
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbv2types.TargetHealthDescription{
			Target: &elbv2types.TargetDescription{Id: t.Id, Port: aws.Int32(80)}, TargetHealth: &elbv2types.TargetHealth{State: s, Reason: why},
		})
	}
	b.mu.Unlock()
	b.after("DescribeTargetHealth")
	return out, nil
}

func (b *bgFake) DescribeInstanceHealth(_ context.Context, in *elasticloadbalancing.DescribeInstanceHealthInput, _ ...func(*elasticloadbalancing.Options)) (*elasticloadbalancing.DescribeInstanceHealthOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeInstanceHealth")
	b.sync()
	lb := aws.ToString(in.LoadBalancerName)
	out := &elasticloadbalancing.DescribeInstanceHealthOutput{}
	state := func(id string, r *registration) elbtypes.InstanceState {
		s := "InService"
		if b.unhealthy[b.imageOf[id]] || b.now().Before(r.at.Add(b.healthyAfter)) {
			s = "OutOfService"
		}
		return elbtypes.InstanceState{InstanceId: aws.String(id), State: aws.String(s)}
	}
	if len(in.Instances) == 0 {
		// Registered ones only, draining ones included.
		for id, r := range b.reg[lb] {
			out.InstanceStates = append(out.InstanceStates, state(id, r))
		}
		return out, nil
	}
	for _, i := range in.Instances {
		id := aws.ToString(i.InstanceId)
		r := b.reg[lb][id]
		if r == nil {
			return nil, &smithy.GenericAPIError{Code: "InvalidInstance", Message: "Could not find EC2 instance " + id}
		}
		out.InstanceStates = append(out.InstanceStates, state(id, r))
	}
	return out, nil
}

func (b *bgFake) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("DescribeSubnets")
	out := &ec2.DescribeSubnetsOutput{}
	for _, id := range in.SubnetIds {
		out.Subnets = append(out.Subnets, ec2types.Subnet{SubnetId: aws.String(id), AvailableIpAddressCount: aws.Int32(b.subnets[id])})
	}
	return out, nil
}

// group is a group as it is now, and whether it exists.
func (b *bgFake) group(name string) (astypes.AutoScalingGroup, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sync()
	g, ok := b.groups[name]
	return g, ok
}

// callsOn are the recorded calls that name group, in order.
func (b *bgFake) callsOn(group string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, c := range b.calls {
		if strings.HasSuffix(c, " "+group) || strings.Contains(c, " "+group+" ") {
			out = append(out, c)
		}
	}
	return out
}

// index is the position of the first recorded call named c, -1 if none.
func (b *bgFake) index(c string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Index(b.calls, c)
}

// firstAt is when call c was first made.
func (b *bgFake) firstAt(c string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ts := b.at[c]; len(ts) > 0 {
		return ts[0]
	}
	return time.Time{}
}

func (b *bgFake) DeleteTags(_ context.Context, in *autoscaling.DeleteTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range in.Tags {
		name := aws.ToString(t.ResourceId)
		b.call("DeleteTags " + name + " " + aws.ToString(t.Key))
		g := b.groups[name]
		g.Tags = slices.DeleteFunc(slices.Clone(g.Tags), func(d astypes.TagDescription) bool { return aws.ToString(d.Key) == aws.ToString(t.Key) })
		b.groups[name] = g
	}
	return &autoscaling.DeleteTagsOutput{}, nil
}
