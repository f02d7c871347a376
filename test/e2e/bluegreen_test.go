package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// The blue/green tests (issue 10) seed a live group behind a target group
// or a classic load balancer, run the real packer build with
// strategy = "blue-green", and check the fleet as a user would: which
// groups of the line are live, which AMI each of their instances runs,
// which instances the load balancer sends traffic to.

// bgBuild is a blue/green template: the amazon-ebs source, then one
// post-processor chain per entry of chains (a post-processor body after
// the endpoints), each getting the builder's artifact.
func (e *env) bgBuild(amiTags map[string]string, chains ...string) string {
	e.t.Helper()
	return e.writeHCL(e.bgBuildText(amiTags, chains...))
}

// bgBuildText is bgBuild's template text.
func (e *env) bgBuildText(amiTags map[string]string, chains ...string) string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString(e.sourceBlock(amiName(e.t), amiTags))
	b.WriteString("\nbuild {\n  sources = [\"source.amazon-ebs.app\"]\n")
	for _, body := range chains {
		fmt.Fprintf(&b, `
  post-processor "asg-rollout" {
    access_key                  = "test"
    secret_key                  = "test"
    custom_endpoint_ec2         = %[1]q
    custom_endpoint_autoscaling = %[1]q
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
    strategy                    = "blue-green"
%[2]s
  }
`, e.emu.URL(), body)
	}
	b.WriteString("}\n")
	return b.String()
}

// bgTarget is the body of a chain rolling group with a blue_green block.
func bgTarget(group, blueGreen string, extra ...string) string {
	return fmt.Sprintf("    target {\n      auto_scaling_group = %q\n    }\n    blue_green {\n%s\n    }\n%s", group, blueGreen, strings.Join(extra, "\n"))
}

// seedServing seeds a group and waits until the load balancer serves all
// of its instances: the steady state a deploy starts from.
func (e *env) seedServing(s fleet.Spec) *fleet.Seeded {
	e.t.Helper()
	seeded := e.seed("us-east-1", s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.clients("us-east-1").WaitServing(ctx, seeded.TargetGroupARN, seeded.LoadBalancerName, int(s.Desired)); err != nil {
		e.t.Fatal(err)
	}
	return seeded
}

// sampler counts, continuously, the instances the load balancer serves
// (healthy in the target group, or InService in the classic load
// balancer).
type sampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples int
	min     int
	minAt   time.Time
	errs    int
	seen    map[string]bool // every instance ever served
}

// sample starts sampling every 20 ms of real time (4 emulated seconds).
func (e *env) sample(seeded *fleet.Seeded) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{}), min: -1, seen: map[string]bool{}}
	c := e.clients("us-east-1")
	go func() {
		defer close(s.done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ids, err := c.Serving(ctx, seeded.TargetGroupARN, seeded.LoadBalancerName)
			cancel()
			s.mu.Lock()
			if err != nil {
				s.errs++
			} else {
				s.samples++
				if s.min < 0 || len(ids) < s.min {
					s.min, s.minAt = len(ids), time.Now()
				}
				for _, id := range ids {
					s.seen[id] = true
				}
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	e.t.Cleanup(s.end)
	return s
}

func (s *sampler) end() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// result stops the sampler and returns the fewest instances served at any
// sample, the number of samples and of failed samples.
func (s *sampler) result() (minServed, samples, errs int) {
	s.end()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.min, s.samples, s.errs
}

// live returns the one live group of the line, failing unless there is
// exactly one.
func (e *env) live(base string) string {
	e.t.Helper()
	live, err := e.clients("us-east-1").Live(context.Background(), base)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(live) != 1 {
		e.t.Fatalf("line %s has live groups %v, want exactly one", base, live)
	}
	return live[0]
}

// line returns the names of every group of the line, sorted.
func (e *env) line(base string) []string {
	e.t.Helper()
	line, err := e.clients("us-east-1").Line(context.Background(), base)
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(line))
}

// group describes one group; nil if it does not exist.
func (e *env) group(name string) *astypes.AutoScalingGroup {
	e.t.Helper()
	out, err := e.clients("us-east-1").AutoScaling.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return nil
	}
	return &out.AutoScalingGroups[0]
}

// served returns the instances the seeded fleet's load balancer serves now.
func (e *env) served(seeded *fleet.Seeded) []string {
	e.t.Helper()
	ids, err := e.clients("us-east-1").Serving(context.Background(), seeded.TargetGroupARN, seeded.LoadBalancerName)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// ids returns a state's instance ids, sorted.
func ids(st *fleet.State) []string {
	var out []string
	for _, i := range st.Instances {
		out = append(out, i.ID)
	}
	sort.Strings(out)
	return out
}

// checkCutOver checks a successful cut-over from old: one live group, not
// old, whose desired instances all run ami and are exactly what the load
// balancer serves; the old group gone.
func (e *env) checkCutOver(seeded *fleet.Seeded, ami string) string {
	e.t.Helper()
	t := e.t
	newGroup := e.live(seeded.Group)
	if newGroup == seeded.Group {
		t.Fatalf("the live group is still %s", newGroup)
	}
	st := e.snapshot("us-east-1", newGroup)
	t.Logf("new group:\n%s", st)
	if imgs := st.Images(); len(imgs) != 1 || imgs[ami] != int(seeded.Desired) {
		t.Errorf("%s's in-service instances by AMI %v, want all %d on %s", newGroup, imgs, seeded.Desired, ami)
	}
	g := e.group(newGroup)
	if seeded.TargetGroupARN != "" && !slices.Equal(g.TargetGroupARNs, []string{seeded.TargetGroupARN}) {
		t.Errorf("%s is attached to target groups %v, want %s", newGroup, g.TargetGroupARNs, seeded.TargetGroupARN)
	}
	if seeded.LoadBalancerName != "" && !slices.Equal(g.LoadBalancerNames, []string{seeded.LoadBalancerName}) {
		t.Errorf("%s is attached to classic load balancers %v, want %s", newGroup, g.LoadBalancerNames, seeded.LoadBalancerName)
	}
	if served := e.served(seeded); !slices.Equal(served, ids(st)) {
		t.Errorf("the load balancer serves %v, want exactly the new group's %v", served, ids(st))
	}
	return newGroup
}

// TestBlueGreenHappyPath: a new group on the new AMI, registered and
// healthy in the target group, the old group deleted; and while the test
// samples target health continuously, the number of healthy targets never
// drops below the old desired capacity.
func TestBlueGreenHappyPath(t *testing.T) {
	e := newEnv(t)
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 4, TargetGroup: true})
	before := e.snapshot("us-east-1", "web")
	s := e.sample(seeded)

	res := e.packerBuild(e.bgBuild(nil, bgTarget("web", "")))
	minServed, samples, errs := s.result()
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	t.Logf("healthy targets: at least %d over %d samples (%d failed samples)", minServed, samples, errs)
	if samples < 10 || errs > 0 {
		t.Errorf("%d samples of target health, %d failed: too few to measure", samples, errs)
	}
	if minServed < int(seeded.Desired) {
		t.Errorf("healthy targets dropped to %d during the roll-out, below the old desired capacity %d", minServed, seeded.Desired)
	}
	newGroup := e.checkCutOver(seeded, ami)
	if e.group("web") != nil {
		t.Errorf("old group web still exists: %v", e.line("web"))
	}
	for _, i := range e.snapshot("us-east-1", newGroup).Instances {
		if slices.Contains(ids(before), i.ID) {
			t.Errorf("instance %s of the old group is in the new one", i.ID)
		}
	}
	if !strings.Contains(res.Output, "4/4 healthy in") {
		t.Errorf("the output never shows 4/4 healthy in the target group")
	}
}

// checkUntouched checks that the old group is exactly as before: the same
// instances on the same AMI, the same capacity and load balancers, all its
// instances served, and no other group left in the line.
func (e *env) checkUntouched(seeded *fleet.Seeded, before *fleet.State, beforeGroup *astypes.AutoScalingGroup) {
	e.t.Helper()
	t := e.t
	if line := e.line(seeded.Group); !slices.Equal(line, []string{seeded.Group}) {
		t.Errorf("line %s has groups %v, want only the old one (the new group removed)", seeded.Group, line)
	}
	after := e.snapshot("us-east-1", seeded.Group)
	t.Logf("old group after:\n%s", after)
	if !slices.Equal(ids(after), ids(before)) {
		t.Errorf("old group's instances %v, want the same %v", ids(after), ids(before))
	}
	if imgs := after.Images(); len(imgs) != 1 || imgs[seeded.ImageID] != int(seeded.Desired) {
		t.Errorf("old group's instances by AMI %v, want all %d on %s", imgs, seeded.Desired, seeded.ImageID)
	}
	g := e.group(seeded.Group)
	if g == nil {
		t.Fatalf("old group %s is gone", seeded.Group)
	}
	if aws.ToInt32(g.DesiredCapacity) != aws.ToInt32(beforeGroup.DesiredCapacity) || aws.ToInt32(g.MinSize) != aws.ToInt32(beforeGroup.MinSize) || aws.ToInt32(g.MaxSize) != aws.ToInt32(beforeGroup.MaxSize) ||
		!slices.Equal(g.TargetGroupARNs, beforeGroup.TargetGroupARNs) || !slices.Equal(g.LoadBalancerNames, beforeGroup.LoadBalancerNames) || fleet.TagOf(*g, fleet.TagRetired) != "" {
		t.Errorf("old group changed: desired/min/max %d/%d/%d (was %d/%d/%d), target groups %v (was %v), load balancers %v (was %v), retired %q",
			aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize),
			aws.ToInt32(beforeGroup.DesiredCapacity), aws.ToInt32(beforeGroup.MinSize), aws.ToInt32(beforeGroup.MaxSize),
			g.TargetGroupARNs, beforeGroup.TargetGroupARNs, g.LoadBalancerNames, beforeGroup.LoadBalancerNames, fleet.TagOf(*g, fleet.TagRetired))
	}
	if served := e.served(seeded); !slices.Equal(served, ids(before)) {
		t.Errorf("the load balancer serves %v, want the old group's %v", served, ids(before))
	}
}

// TestBlueGreenUnhealthyAMI: the new instances fail the load balancer's
// health checks; the build fails with the reason, the new group is gone
// and the old group serves with the same capacity and registrations.
func TestBlueGreenUnhealthyAMI(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 3, TargetGroup: true})
	before, beforeGroup := e.snapshot("us-east-1", "web"), e.group("web")

	res := e.packerBuild(e.bgBuild(map[string]string{"health": "broken"}, bgTarget("web", `      health_timeout = "4s"`)))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although every new instance failed its health checks")
	}
	for _, want := range []string{"was not healthy within blue_green.health_timeout (4s)", "0/3 healthy in web-tg", "unhealthy Target.FailedHealthChecks"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("the output misses %q", want)
		}
	}
	e.checkUntouched(seeded, before, beforeGroup)
}

// TestBlueGreenInterruptWhileWaitingForHealth: Ctrl-C while the new group
// is not yet healthy; the new group is removed, the old one untouched.
func TestBlueGreenInterruptWhileWaitingForHealth(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true})
	before, beforeGroup := e.snapshot("us-east-1", "web"), e.group("web")

	run := e.startBuild(e.bgBuild(map[string]string{"health": "broken"}, bgTarget("web", "")))
	run.waitContains("0/2 healthy in web-tg")
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	if !strings.Contains(out, "interrupted while waiting for Auto Scaling group (web-") {
		t.Errorf("the output does not say the wait for health was interrupted")
	}
	e.checkUntouched(seeded, before, beforeGroup)
}

// TestBlueGreenRerunContinuesItsGroup: a first roll-out stops mid-deploy
// and leaves its new group beside the old one, as a crash does (here
// on_timeout = "detach" while the new AMI fails its health checks); a
// second post-processor chain of the same build (the same AMI: a run of a
// new build bakes another AMI and starts afresh) finds that group by its
// tags, continues it instead of making another, and cuts over.
func TestBlueGreenRerunContinuesItsGroup(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true})

	run := e.startBuild(e.bgBuild(map[string]string{"health": "broken"},
		bgTarget("web", "", `    timeout    = "8s"`, `    on_timeout = "detach"`),
		bgTarget("web", "")))
	run.waitContains("left both groups running (detach)")
	left, err := e.clients("us-east-1").Live(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	e.emu.SetUnhealthyImageTag("", "") // the AMI is fine after all
	_, out := run.wait()
	if len(left) != 2 {
		t.Fatalf("after the first roll-out stopped, the line's live groups are %v, want the old and the new", left)
	}
	first := left[0]
	if first == "web" {
		first = left[1]
	}
	ami := amiOf(t, out)
	if !strings.Contains(out, "found group "+first+", made for "+ami+" by an earlier run of this build: continuing it") {
		t.Errorf("the second roll-out does not say it continues %s", first)
	}
	if got := e.checkCutOver(seeded, ami); got != first {
		t.Errorf("the live group is %s, want %s, the group the first roll-out made", got, first)
	}
	created := 0
	for _, c := range e.emu.Calls() {
		if c.Action == "CreateAutoScalingGroup" && c.Params["AutoScalingGroupName"] != "web" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("CreateAutoScalingGroup called %d times for new groups, want 1", created)
	}
	if e.group("web") != nil {
		t.Errorf("old group web still exists")
	}
}

// TestBlueGreenCarriesPoliciesActionsTags: after the cut-over the new group
// has the old group's scaling policies, scheduled actions and tags (those
// that propagate on its instances too).
func TestBlueGreenCarriesPoliciesActionsTags(t *testing.T) {
	e := newEnv(t)
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true, Tags: map[string]string{"cost": "42"}})
	asg := e.clients("us-east-1").AutoScaling
	ctx := context.Background()
	if _, err := asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		Key: aws.String("team"), Value: aws.String("web"), PropagateAtLaunch: aws.Bool(true), ResourceId: aws.String("web"), ResourceType: aws.String("auto-scaling-group")}}}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*autoscaling.PutScalingPolicyInput{
		{PolicyName: aws.String("cpu50"), PolicyType: aws.String("TargetTrackingScaling"), EstimatedInstanceWarmup: aws.Int32(90),
			TargetTrackingConfiguration: &astypes.TargetTrackingConfiguration{TargetValue: aws.Float64(50),
				PredefinedMetricSpecification: &astypes.PredefinedMetricSpecification{PredefinedMetricType: astypes.MetricTypeASGAverageCPUUtilization}}},
		{PolicyName: aws.String("forecast"), PolicyType: aws.String("PredictiveScaling"), PredictiveScalingConfiguration: &astypes.PredictiveScalingConfiguration{
			Mode: astypes.PredictiveScalingModeForecastOnly, MetricSpecifications: []astypes.PredictiveScalingMetricSpecification{{TargetValue: aws.Float64(40),
				PredefinedMetricPairSpecification: &astypes.PredictiveScalingPredefinedMetricPair{PredefinedMetricType: astypes.PredefinedMetricPairTypeASGCPUUtilization}}}}},
	} {
		in.AutoScalingGroupName = aws.String("web")
		if _, err := asg.PutScalingPolicy(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := asg.PutScheduledUpdateGroupAction(ctx, &autoscaling.PutScheduledUpdateGroupActionInput{
		AutoScalingGroupName: aws.String("web"), ScheduledActionName: aws.String("nightly"), Recurrence: aws.String("0 22 * * *"), MinSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}

	res := e.packerBuild(e.bgBuild(nil, bgTarget("web", "")))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	newGroup := e.checkCutOver(seeded, e.newAMI("us-east-1", amiName(t)))
	pols, err := asg.DescribePolicies(ctx, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String(newGroup)})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]astypes.ScalingPolicy{}
	for _, p := range pols.ScalingPolicies {
		byName[aws.ToString(p.PolicyName)] = p
	}
	if p := byName["cpu50"]; p.TargetTrackingConfiguration == nil || aws.ToFloat64(p.TargetTrackingConfiguration.TargetValue) != 50 || aws.ToInt32(p.EstimatedInstanceWarmup) != 90 {
		t.Errorf("%s's policy cpu50 is %+v", newGroup, p)
	}
	if p := byName["forecast"]; p.PredictiveScalingConfiguration == nil || p.PredictiveScalingConfiguration.Mode != astypes.PredictiveScalingModeForecastOnly {
		t.Errorf("%s's policy forecast is %+v", newGroup, p)
	}
	if len(byName) != 2 {
		t.Errorf("%s has policies %v, want cpu50 and forecast", newGroup, slices.Sorted(maps.Keys(byName)))
	}
	acts, err := asg.DescribeScheduledActions(ctx, &autoscaling.DescribeScheduledActionsInput{AutoScalingGroupName: aws.String(newGroup)})
	if err != nil {
		t.Fatal(err)
	}
	if a := acts.ScheduledUpdateGroupActions; len(a) != 1 || aws.ToString(a[0].ScheduledActionName) != "nightly" || aws.ToString(a[0].Recurrence) != "0 22 * * *" || aws.ToInt32(a[0].DesiredCapacity) != 1 {
		t.Errorf("%s's scheduled actions: %+v", newGroup, a)
	}
	g := e.group(newGroup)
	tags := map[string]bool{}
	for _, tag := range g.Tags {
		tags[aws.ToString(tag.Key)+"="+aws.ToString(tag.Value)] = aws.ToBool(tag.PropagateAtLaunch)
	}
	if p, ok := tags["team=web"]; !ok || !p {
		t.Errorf("%s's tags %v: want team=web, propagated at launch", newGroup, tags)
	}
	if p, ok := tags["cost=42"]; !ok || p {
		t.Errorf("%s's tags %v: want cost=42, not propagated", newGroup, tags)
	}
	if tags[fleet.TagBaseName+"=web"] {
		t.Errorf("the base-name tag propagates at launch")
	} else if _, ok := tags[fleet.TagBaseName+"=web"]; !ok {
		t.Errorf("%s lacks %s=web", newGroup, fleet.TagBaseName)
	}
	out, err := e.clients("us-east-1").EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids(e.snapshot("us-east-1", newGroup))})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			team, cost := false, false
			for _, tag := range in.Tags {
				team = team || aws.ToString(tag.Key) == "team" && aws.ToString(tag.Value) == "web"
				cost = cost || aws.ToString(tag.Key) == "cost"
			}
			if !team || cost {
				t.Errorf("instance %s has tags %v: want team=web and no cost", aws.ToString(in.InstanceId), in.Tags)
			}
		}
	}
}

// TestBlueGreenClassicLoadBalancer: the same behind a classic load
// balancer: InService instances never fewer than the old desired capacity.
func TestBlueGreenClassicLoadBalancer(t *testing.T) {
	e := newEnv(t)
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 3, ClassicLoadBalancer: true})
	s := e.sample(seeded)
	res := e.packerBuild(e.bgBuild(nil, bgTarget("web", "")))
	minServed, samples, errs := s.result()
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	t.Logf("InService instances: at least %d over %d samples (%d failed)", minServed, samples, errs)
	if samples < 10 || errs > 0 || minServed < int(seeded.Desired) {
		t.Errorf("InService instances dropped to %d (%d samples, %d failed), below the old desired capacity %d", minServed, samples, errs, seeded.Desired)
	}
	e.checkCutOver(seeded, e.newAMI("us-east-1", amiName(t)))
	if e.group("web") != nil {
		t.Errorf("old group web still exists")
	}
	if !strings.Contains(res.Output, "3/3 healthy in "+seeded.LoadBalancerName) {
		t.Errorf("the output never shows 3/3 healthy in %s", seeded.LoadBalancerName)
	}
}

// TestBlueGreenLaunchConfiguration: a group on a launch configuration gets
// a new group on a copy of it with the new AMI.
func TestBlueGreenLaunchConfiguration(t *testing.T) {
	e := newEnv(t)
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true, LaunchConfiguration: true})
	res := e.packerBuild(e.bgBuild(nil, bgTarget("web", "")))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", amiName(t))
	newGroup := e.checkCutOver(seeded, ami)
	lcName := aws.ToString(e.group(newGroup).LaunchConfigurationName)
	if lcName == "" || lcName == seeded.LaunchConfigurationName {
		t.Fatalf("%s is on launch configuration %q, want a new one", newGroup, lcName)
	}
	lcs, err := e.clients("us-east-1").LaunchConfigurations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lc, old := lcs[lcName], lcs[seeded.LaunchConfigurationName]
	if aws.ToString(lc.ImageId) != ami || aws.ToString(lc.InstanceType) != aws.ToString(old.InstanceType) || !slices.Equal(lc.SecurityGroups, old.SecurityGroups) || aws.ToString(lc.UserData) != aws.ToString(old.UserData) {
		t.Errorf("launch configuration %s is %+v; want %s's settings with %s", lcName, lc, seeded.LaunchConfigurationName, ami)
	}
}

// TestBlueGreenDeletionProtectedOldGroup: an old group with deletion
// protection cannot be deleted: it is left scaled to zero, out of the load
// balancers, retired, and the output says why.
func TestBlueGreenDeletionProtectedOldGroup(t *testing.T) {
	e := newEnv(t)
	seeded := e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true})
	if _, err := e.clients("us-east-1").AutoScaling.UpdateAutoScalingGroup(context.Background(), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"), DeletionProtection: astypes.DeletionProtectionPreventAllDeletion,
	}); err != nil {
		t.Fatal(err)
	}
	res := e.packerBuild(e.bgBuild(nil, bgTarget("web", "")))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	newGroup := e.checkCutOver(seeded, e.newAMI("us-east-1", amiName(t)))
	old := e.group("web")
	if old == nil {
		t.Fatal("the deletion-protected old group was deleted")
	}
	if len(old.Instances) != 0 || aws.ToInt32(old.DesiredCapacity) != 0 || len(old.TargetGroupARNs) != 0 || fleet.TagOf(*old, fleet.TagRetired) == "" {
		t.Errorf("old group: %d instances, desired %d, target groups %v, retired %q; want empty, out of the target group, retired",
			len(old.Instances), aws.ToInt32(old.DesiredCapacity), old.TargetGroupARNs, fleet.TagOf(*old, fleet.TagRetired))
	}
	if g := e.group(newGroup); g.DeletionProtection != astypes.DeletionProtectionPreventAllDeletion {
		t.Errorf("the new group's deletion protection is %q, want the old group's prevent-all-deletion", g.DeletionProtection)
	}
	if !strings.Contains(res.Output, "deletion protection (prevent-all-deletion)") {
		t.Errorf("the output does not say the old group was kept for its deletion protection")
	}
}

// TestBlueGreenRebuildRefusesALeftoverGroup: a roll-out stops mid-deploy
// and leaves its new group (on_timeout = "detach"); a later build, with
// another AMI, refuses before any change, naming the leftover group,
// instead of adding a third group to the line.
func TestBlueGreenRebuildRefusesALeftoverGroup(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	e.seedServing(fleet.Spec{Group: "web", Desired: 2, TargetGroup: true})
	res := e.packerBuild(e.bgBuild(map[string]string{"health": "broken"}, bgTarget("web", "", `    timeout    = "8s"`, `    on_timeout = "detach"`)))
	if !strings.Contains(res.Output, "left both groups running (detach)") {
		t.Fatalf("the first build did not leave both groups")
	}
	left := e.line("web")
	if len(left) != 2 {
		t.Fatalf("the line has groups %v after the first build, want the old and the new", left)
	}
	e.emu.SetUnhealthyImageTag("", "")
	creates := e.calls("CreateAutoScalingGroup")

	// A new build: packer bakes another AMI (under another name).
	file := e.writeHCL(strings.Replace(e.bgBuildText(nil, bgTarget("web", "")), amiName(t), amiName(t)+"-2", 1))
	res = e.packerBuild(file)
	if res.ExitCode == 0 {
		t.Fatal("the second build succeeded beside a group left by the first")
	}
	if !strings.Contains(res.Output, "line web has a new group left by an interrupted or crashed roll-out of another build") {
		t.Errorf("the second build does not name the leftover group")
	}
	if line := e.line("web"); !slices.Equal(line, left) {
		t.Errorf("the line's groups are %v, want still %v", line, left)
	}
	if n := e.calls("CreateAutoScalingGroup"); n != creates {
		t.Errorf("the refused build called CreateAutoScalingGroup %d times", n-creates)
	}
}
