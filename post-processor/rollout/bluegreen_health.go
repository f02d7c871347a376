package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// health is one look at the new group: how many of its instances are
// InService and healthy in the group, and healthy in each load balancer.
type health struct {
	desired   int
	inService []string // InService and Healthy in the group
	// places are the group itself, then each target group and classic load
	// balancer, in order; healthy counts the group's instances healthy there.
	places []placeHealth
	// served are the instances healthy in at least one load balancer.
	served []string
}

type placeHealth struct {
	name    string
	healthy int
	ids     []string // the healthy ones
	// reasons are why instances are not healthy there, one per instance.
	reasons []string
}

func (h health) ok() bool {
	if len(h.inService) < h.desired {
		return false
	}
	for _, p := range h.places {
		if p.healthy < h.desired {
			return false
		}
	}
	return true
}

// why says what is still not healthy.
func (h health) why() string {
	var parts []string
	for _, p := range h.places {
		if p.healthy >= h.desired {
			continue
		}
		part := fmt.Sprintf("%d/%d healthy in %s", p.healthy, h.desired, p.name)
		if len(p.reasons) > 0 {
			part += " (" + strings.Join(p.reasons, "; ") + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// waitHealthy waits until every instance of the new group is InService
// and healthy in the group and in every target group and classic load
// balancer it is attached to, printing each place's count when it
// changes, within blue_green.health_timeout and the run's timeout. On an
// error, reason says what ended the wait: "interrupt", "timeout" (the
// run's) or "" (a failure: the health timeout, or a call that failed).
func (r *roller) waitHealthy(ctx context.Context, ro *rollout) (reason string, err error) {
	bg := ro.bg
	start := r.now()
	healthEnd := start.Add(r.cfg.BlueGreen.healthTimeout)
	r.say(ro, "waiting for %s to be healthy in %s (at most %s)", bg.newName, attachedText(bg), shortDuration(min(r.cfg.BlueGreen.healthTimeout, r.deadline.Sub(start).Round(time.Second))))
	var last health
	budget := r.pollBudget(ro)
	for {
		if budget != nil {
			if err := budget.Wait(ctx); err != nil {
				return "interrupt", fmt.Errorf("interrupted while waiting for Auto Scaling group (%s) to be healthy: %w", bg.newName, err)
			}
		}
		h, err := r.lookHealth(ctx, ro)
		switch {
		case ctx.Err() != nil:
			return "interrupt", fmt.Errorf("interrupted while waiting for Auto Scaling group (%s) to be healthy: %w", bg.newName, ctx.Err())
		case err != nil:
			return "", err
		}
		last = h
		bg.progMu.Lock()
		bg.served = h.served
		bg.progMu.Unlock()
		r.sayProgress(ro, h)
		if h.ok() {
			r.say(ro, "%s is healthy: %d instance(s) InService and healthy in %s", bg.newName, h.desired, attachedText(bg))
			return "", nil
		}
		now := r.now()
		switch {
		case !now.Before(r.deadline):
			return "timeout", fmt.Errorf("timeout (%s) passed while waiting for Auto Scaling group (%s) to be healthy: %s", shortDuration(r.cfg.timeout), bg.newName, last.why())
		case !now.Before(healthEnd):
			return "", fmt.Errorf("Auto Scaling group (%s) was not healthy within blue_green.health_timeout (%s): %s%s", bg.newName, shortDuration(r.cfg.BlueGreen.healthTimeout), last.why(), r.activitiesText(ro))
		}
		d := min(r.cfg.pollMinDelay, healthEnd.Sub(now), r.deadline.Sub(now))
		if err := r.sleep(ctx, max(d, time.Millisecond)); err != nil {
			if ctx.Err() != nil {
				return "interrupt", fmt.Errorf("interrupted while waiting for Auto Scaling group (%s) to be healthy: %w", bg.newName, ctx.Err())
			}
			return "", err
		}
	}
}

// pollBudget is the budget the group's health polls draw on: the same as
// its refresh waits would (polls_per_second per account and region), as
// the wait options leave it.
func (r *roller) pollBudget(ro *rollout) *instancerefresh.Budget {
	var o instancerefresh.InstanceRefreshCompleteWaiterOptions
	if r.budgets != nil {
		o.Budget = r.budgets.For(ro.account, ro.region)
	}
	for _, f := range r.waitOpt {
		f(&o)
	}
	return o.Budget
}

// activitiesText quotes the new group's failed scaling activities, which
// usually say why instances never came up.
func (r *roller) activitiesText(ro *rollout) string {
	ctx, cancel := cleanupContext()
	defer cancel()
	tmp := *ro
	tmp.group = ro.bg.newName
	if acts := failedActivities(ctx, &tmp, time.Time{}); len(acts) > 0 {
		return "\nrecent failed scaling activities of " + ro.bg.newName + ":\n  - " + strings.Join(acts, "\n  - ")
	}
	return ""
}

// sayProgress prints each place whose count changed since the last look.
func (r *roller) sayProgress(ro *rollout, h health) {
	bg := ro.bg
	bg.progMu.Lock()
	defer bg.progMu.Unlock()
	if bg.progress == nil {
		bg.progress = map[string]string{}
	}
	for i, p := range h.places {
		what := "healthy in"
		n := p.healthy
		if i == 0 {
			what, n = "InService in", len(h.inService)
		}
		line := fmt.Sprintf("%d/%d %s %s", n, h.desired, what, p.name)
		if bg.progress[p.name] == line {
			continue
		}
		bg.progress[p.name] = line
		r.say(ro, "%s", line)
	}
}

// lookHealth reads the new group and its instances' health in every
// target group and classic load balancer.
func (r *roller) lookHealth(ctx context.Context, ro *rollout) (health, error) {
	bg := ro.bg
	g, err := describeOne(ctx, ro, bg.newName)
	if err != nil {
		return health{}, err
	}
	if g == nil {
		return health{}, fmt.Errorf("Auto Scaling group (%s) is gone: it was deleted while the roll-out waited for it", bg.newName)
	}
	h := health{desired: int(aws.ToInt32(g.DesiredCapacity))}
	var ids []string
	group := placeHealth{name: bg.newName}
	for _, i := range g.Instances {
		id := aws.ToString(i.InstanceId)
		ids = append(ids, id)
		if i.LifecycleState == astypes.LifecycleStateInService && strings.EqualFold(aws.ToString(i.HealthStatus), "Healthy") {
			h.inService = append(h.inService, id)
		} else {
			group.reasons = append(group.reasons, fmt.Sprintf("%s %s/%s", id, i.LifecycleState, aws.ToString(i.HealthStatus)))
		}
	}
	group.healthy = len(h.inService)
	h.places = append(h.places, group)

	for _, arn := range bg.targetGroups {
		p, err := targetGroupHealth(ctx, ro.clients.elbv2, arn, ids)
		if err != nil {
			return h, err
		}
		h.places = append(h.places, p)
	}
	for _, lb := range bg.loadBalancers {
		p, err := loadBalancerHealth(ctx, ro.clients.elb, lb, ids)
		if err != nil {
			return h, err
		}
		h.places = append(h.places, p)
	}
	for _, p := range h.places[1:] {
		for _, id := range p.ids {
			if !slices.Contains(h.served, id) {
				h.served = append(h.served, id)
			}
		}
	}
	return h, nil
}

// targetGroupHealth counts ids healthy in the target group.
func targetGroupHealth(ctx context.Context, c elbv2API, arn string, ids []string) (placeHealth, error) {
	p := placeHealth{name: targetGroupName(arn)}
	if len(ids) == 0 {
		return p, nil
	}
	states, err := targetStates(ctx, c, arn, ids)
	if err != nil {
		return p, err
	}
	for _, id := range ids {
		s := states[id]
		if s.State == elbv2types.TargetHealthStateEnumHealthy {
			p.healthy++
			p.ids = append(p.ids, id)
			continue
		}
		why := string(s.State)
		if s.State == "" {
			why = "not registered"
		}
		if s.Reason != "" {
			why += " " + string(s.Reason)
		}
		p.reasons = append(p.reasons, id+" "+why)
	}
	return p, nil
}

// targetStates are the health of ids in a target group, by instance id
// (every port: the worst state counts).
func targetStates(ctx context.Context, c elbv2API, arn string, ids []string) (map[string]elbv2types.TargetHealth, error) {
	in := &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}
	for _, id := range ids {
		in.Targets = append(in.Targets, elbv2types.TargetDescription{Id: aws.String(id)})
	}
	out, err := c.DescribeTargetHealth(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("describing the health of targets in target group (%s): %w", targetGroupName(arn), err)
	}
	states := map[string]elbv2types.TargetHealth{}
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil || d.TargetHealth == nil {
			continue
		}
		id := aws.ToString(d.Target.Id)
		if cur, ok := states[id]; ok && cur.State != elbv2types.TargetHealthStateEnumHealthy {
			continue // already not healthy on another port
		}
		states[id] = *d.TargetHealth
	}
	return states, nil
}

// loadBalancerHealth counts ids InService in the classic load balancer.
func loadBalancerHealth(ctx context.Context, c elbAPI, lb string, ids []string) (placeHealth, error) {
	p := placeHealth{name: lb}
	if len(ids) == 0 {
		return p, nil
	}
	states, err := instanceStates(ctx, c, lb, ids)
	if err != nil {
		return p, err
	}
	for _, id := range ids {
		s, ok := states[id]
		switch {
		case ok && aws.ToString(s.State) == "InService":
			p.healthy++
			p.ids = append(p.ids, id)
		case ok:
			p.reasons = append(p.reasons, strings.TrimSpace(fmt.Sprintf("%s %s %s", id, aws.ToString(s.State), aws.ToString(s.Description))))
		default:
			p.reasons = append(p.reasons, id+" not registered")
		}
	}
	return p, nil
}

// instanceStates are the states of ids in a classic load balancer; an
// instance it does not know is missing.
func instanceStates(ctx context.Context, c elbAPI, lb string, ids []string) (map[string]elbtypes.InstanceState, error) {
	in := &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)}
	for _, id := range ids {
		in.Instances = append(in.Instances, elbtypes.Instance{InstanceId: aws.String(id)})
	}
	out, err := c.DescribeInstanceHealth(ctx, in)
	if err != nil {
		// An instance the load balancer does not know fails the whole call:
		// ask again for all its instances and pick ours.
		if errorCode(err) == "InvalidInstance" {
			out, err = c.DescribeInstanceHealth(ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)})
		}
		if err != nil {
			return nil, fmt.Errorf("describing the health of instances in load balancer (%s): %w", lb, err)
		}
	}
	states := map[string]elbtypes.InstanceState{}
	for _, s := range out.InstanceStates {
		if id := aws.ToString(s.InstanceId); slices.Contains(ids, id) {
			states[id] = s
		}
	}
	return states, nil
}
