package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// retiredProcesses are suspended on an old group left behind, so that its
// scheduled actions and alarm-driven policies never scale it back up; they
// stay configured for the way back (resume them).
var retiredProcesses = []string{"AlarmNotification", "ScheduledActions"}

// cutOver hands the traffic to the healthy new group and retires the old
// one: the new group takes the scaling policies, scheduled actions and
// deletion protection; the old group leaves the load balancers, its
// connections drain, and it is scaled to zero and deleted, or kept, as
// blue_green.old_group says. Until the old group leaves the load
// balancers, a failure removes the new group; after, the new group serves
// and is never removed.
func (r *roller) cutOver(ctx context.Context, ro *rollout) error {
	bg := ro.bg
	if err := r.copyScaling(ctx, ro); err != nil {
		return r.failBlueGreen(ro, err, "")
	}
	if ctx.Err() != nil {
		return r.failBlueGreen(ro, fmt.Errorf("interrupted before the cut-over: %w", ctx.Err()), "interrupt")
	}
	// No longer a candidate: from here on the new group is the live one,
	// whatever happens to the old.
	if _, err := ro.clients.blueGreen.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: []astypes.Tag{{
		Key: aws.String(tagPending), ResourceId: aws.String(bg.newName), ResourceType: aws.String("auto-scaling-group"),
	}}}); err != nil {
		return r.failBlueGreen(ro, fmt.Errorf("removing tag %s from Auto Scaling group (%s) before the cut-over: %w", tagPending, bg.newName, err), "")
	}
	// From here on the new group serves; the old one goes, on a context of
	// its own so that an interruption does not stop it half-way out of the
	// load balancers.
	bg.detachOld = true
	cctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	err := r.detachFromLoadBalancers(cctx, ro, bg.oldName)
	cancel()
	if err != nil {
		return fmt.Errorf("%w; %s serves beside %s: take %s out of the load balancers by hand", err, bg.newName, bg.oldName, bg.oldName)
	}
	r.say(ro, "cut over: %s serves; %s left %s", bg.newName, bg.oldName, attachedText(bg))
	// Deletion protection comes last: until now a failure had to be able to
	// force-delete the new group.
	if p := bg.old.DeletionProtection; p != "" && p != astypes.DeletionProtectionNone {
		pctx, pcancel := context.WithTimeout(context.Background(), actionTimeout)
		_, err := ro.clients.blueGreen.UpdateAutoScalingGroup(pctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(bg.newName), DeletionProtection: p})
		pcancel()
		if err != nil {
			r.say(ro, "Warning: setting deletion protection %s on %s as on %s failed (%v): set it by hand: aws autoscaling update-auto-scaling-group --region %s --auto-scaling-group-name %s --deletion-protection %s",
				p, bg.newName, bg.oldName, err, ro.region, bg.newName, p)
		}
	}
	if err := r.waitDrained(ctx, ro, bg.oldName, instanceIDs(bg.old)); err != nil {
		return r.keepOld(ro, fmt.Errorf("%w: %s is out of the load balancers, at full size", err, bg.oldName))
	}
	return r.retireOld(ctx, ro)
}

// copyScaling puts the old group's scaling policies, scheduled actions and
// deletion protection on the new group. A policy of the same name is
// replaced (PutScalingPolicy), so a re-run after a crash does it again
// safely.
func (r *roller) copyScaling(ctx context.Context, ro *rollout) error {
	bg := ro.bg
	for _, p := range bg.policies {
		in := &autoscaling.PutScalingPolicyInput{
			AutoScalingGroupName: aws.String(bg.newName), PolicyName: p.PolicyName, PolicyType: p.PolicyType,
			AdjustmentType: p.AdjustmentType, Cooldown: p.Cooldown, Enabled: p.Enabled,
			EstimatedInstanceWarmup: p.EstimatedInstanceWarmup, MetricAggregationType: p.MetricAggregationType,
			MinAdjustmentMagnitude: p.MinAdjustmentMagnitude, ScalingAdjustment: p.ScalingAdjustment,
			StepAdjustments: p.StepAdjustments, PredictiveScalingConfiguration: p.PredictiveScalingConfiguration,
			TargetTrackingConfiguration: retargetTracking(p.TargetTrackingConfiguration, bg.oldName, bg.newName),
		}
		if _, err := ro.clients.blueGreen.PutScalingPolicy(ctx, in); err != nil {
			return fmt.Errorf("copying scaling policy (%s) onto Auto Scaling group (%s): %w", aws.ToString(p.PolicyName), bg.newName, err)
		}
	}
	now := r.now()
	copied := 0
	for _, a := range bg.scheduled {
		if a.EndTime != nil && !a.EndTime.After(now) {
			continue // over: AWS refuses an end time in the past
		}
		if a.Recurrence == nil && a.StartTime != nil && !a.StartTime.After(now) {
			continue // a one-off action that already ran
		}
		in := &autoscaling.PutScheduledUpdateGroupActionInput{
			AutoScalingGroupName: aws.String(bg.newName), ScheduledActionName: a.ScheduledActionName,
			Recurrence: a.Recurrence, TimeZone: a.TimeZone, EndTime: a.EndTime,
			MinSize: a.MinSize, MaxSize: a.MaxSize, DesiredCapacity: a.DesiredCapacity,
		}
		// AWS refuses a start time in the past; a recurring action's next
		// run follows its recurrence anyway.
		if t := a.StartTime; t != nil && t.After(now) {
			in.StartTime = t
		}
		if _, err := ro.clients.blueGreen.PutScheduledUpdateGroupAction(ctx, in); err != nil {
			return fmt.Errorf("copying scheduled action (%s) onto Auto Scaling group (%s): %w", aws.ToString(a.ScheduledActionName), bg.newName, err)
		}
		copied++
	}
	if n, m := len(bg.policies), copied; n+m > 0 {
		r.say(ro, "copied %d scaling polic(ies) and %d scheduled action(s) onto %s", n, m, bg.newName)
	}
	return nil
}

// retargetTracking is a target tracking configuration with every metric
// dimension naming the old group renamed to the new one.
func retargetTracking(c *astypes.TargetTrackingConfiguration, oldName, newName string) *astypes.TargetTrackingConfiguration {
	if c == nil || c.CustomizedMetricSpecification == nil {
		return c
	}
	cp := *c
	m := *c.CustomizedMetricSpecification
	m.Dimensions = append([]astypes.MetricDimension{}, m.Dimensions...)
	for i, d := range m.Dimensions {
		if aws.ToString(d.Name) == "AutoScalingGroupName" && aws.ToString(d.Value) == oldName {
			m.Dimensions[i].Value = aws.String(newName)
		}
	}
	cp.CustomizedMetricSpecification = &m
	return &cp
}

// detachFromLoadBalancers takes group out of every target group and
// classic load balancer it is attached to now.
func (r *roller) detachFromLoadBalancers(ctx context.Context, ro *rollout, group string) error {
	g, err := describeOne(ctx, ro, group)
	if err != nil || g == nil {
		return err
	}
	if len(g.TargetGroupARNs) > 0 {
		if _, err := ro.clients.blueGreen.DetachLoadBalancerTargetGroups(ctx, &autoscaling.DetachLoadBalancerTargetGroupsInput{
			AutoScalingGroupName: aws.String(group), TargetGroupARNs: g.TargetGroupARNs,
		}); err != nil {
			return fmt.Errorf("detaching Auto Scaling group (%s) from its target groups: %w", group, err)
		}
	}
	if len(g.LoadBalancerNames) > 0 {
		if _, err := ro.clients.blueGreen.DetachLoadBalancers(ctx, &autoscaling.DetachLoadBalancersInput{
			AutoScalingGroupName: aws.String(group), LoadBalancerNames: g.LoadBalancerNames,
		}); err != nil {
			return fmt.Errorf("detaching Auto Scaling group (%s) from its load balancers: %w", group, err)
		}
	}
	return nil
}

// waitDrained waits until none of ids is registered or draining in the
// roll-out's target groups, or registered in its classic load balancers:
// their connections have drained (the target groups' deregistration
// delay). It is bounded by ctx and the run's timeout.
func (r *roller) waitDrained(ctx context.Context, ro *rollout, group string, ids []string) error {
	bg := ro.bg
	if len(ids) == 0 || len(bg.targetGroups)+len(bg.loadBalancers) == 0 {
		return nil
	}
	said := ""
	for {
		var left []string
		for _, arn := range bg.targetGroups {
			states, err := targetStates(ctx, ro.clients.elbv2, arn, ids)
			if err != nil {
				return err
			}
			n := 0
			for _, id := range ids {
				if s, ok := states[id]; ok && s.State != elbv2types.TargetHealthStateEnumUnused && s.State != "" {
					n++
				}
			}
			if n > 0 {
				left = append(left, fmt.Sprintf("%d draining in %s", n, targetGroupName(arn)))
			}
		}
		for _, lb := range bg.loadBalancers {
			// Asked for by id, a classic load balancer lists an instance
			// whether registered or not; its full list has only those still
			// registered (draining ones included).
			out, err := ro.clients.elb.DescribeInstanceHealth(ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)})
			if err != nil {
				return fmt.Errorf("describing the instances of load balancer (%s): %w", lb, err)
			}
			n := 0
			for _, s := range out.InstanceStates {
				if slices.Contains(ids, aws.ToString(s.InstanceId)) {
					n++
				}
			}
			if n > 0 {
				left = append(left, fmt.Sprintf("%d still registered in %s", n, lb))
			}
		}
		if len(left) == 0 {
			r.say(ro, "%s's instances have left the load balancers", group)
			return nil
		}
		if line := strings.Join(left, ", "); line != said {
			said = line
			r.say(ro, "%s: %s", group, line)
		}
		if !r.now().Before(r.deadline) {
			return fmt.Errorf("timeout (%s) passed while the instances of Auto Scaling group (%s) drained: %s", shortDuration(r.cfg.timeout), group, said)
		}
		if err := r.sleep(ctx, max(min(r.cfg.pollMinDelay, r.deadline.Sub(r.now())), time.Millisecond)); err != nil {
			return fmt.Errorf("interrupted while the instances of Auto Scaling group (%s) drained: %w", group, err)
		}
	}
}

// retireOld scales the old group to zero and deletes it, or leaves it, as
// blue_green.old_group says; a group with deletion protection is left at
// zero.
func (r *roller) retireOld(ctx context.Context, ro *rollout) error {
	bg := ro.bg
	mode := r.cfg.BlueGreen.OldGroup
	if mode == OldGroupKeep {
		return r.keepOld(ro, nil)
	}
	cctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	if err := r.suspendRetired(cctx, ro); err != nil {
		return err
	}
	_, err := ro.clients.blueGreen.UpdateAutoScalingGroup(cctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(bg.oldName), MinSize: aws.Int32(0), MaxSize: aws.Int32(0), DesiredCapacity: aws.Int32(0),
	})
	if err != nil {
		return r.keepOld(ro, fmt.Errorf("scaling Auto Scaling group (%s) to zero: %w", bg.oldName, err))
	}
	protection := bg.old.DeletionProtection
	protected := protection != "" && protection != astypes.DeletionProtectionNone
	if mode == OldGroupScaleToZero || protected {
		state, msg := oldScaledToZero, fmt.Sprintf("old group %s scaled to zero and kept", bg.oldName)
		if protected && mode == OldGroupDelete {
			state = oldDeletionProtected
			msg += fmt.Sprintf(": it has deletion protection (%s); delete it once you no longer need the way back: aws autoscaling update-auto-scaling-group --region %s --auto-scaling-group-name %s --deletion-protection none && aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s",
				protection, ro.region, bg.oldName, ro.region, bg.oldName)
		}
		return r.markRetired(cctx, ro, state, msg)
	}
	if err := r.waitEmpty(ctx, ro, bg.oldName); err != nil {
		return r.markRetired(cctx, ro, oldScaledToZero, fmt.Sprintf("old group %s scaled to zero and kept: %v; delete it with: aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s", bg.oldName, err, ro.region, bg.oldName))
	}
	dctx, dcancel := context.WithTimeout(context.Background(), actionTimeout)
	defer dcancel()
	if _, err := ro.clients.blueGreen.DeleteAutoScalingGroup(dctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(bg.oldName)}); err != nil {
		return r.markRetired(dctx, ro, oldScaledToZero, fmt.Sprintf("old group %s scaled to zero and kept: deleting it failed (%v); delete it with: aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s", bg.oldName, err, ro.region, bg.oldName))
	}
	bg.oldState = oldDeleted
	bg.message = fmt.Sprintf("live group %s (new); old group %s deleted", bg.newName, bg.oldName)
	r.say(ro, "deleted old group %s", bg.oldName)
	return nil
}

// keepOld leaves the old group at full size, out of the load balancers,
// tagged retired. With cause it is what an interrupted or failed
// retirement leaves, and cause is returned with how to finish.
func (r *roller) keepOld(ro *rollout, cause error) error {
	bg := ro.bg
	ctx, cancel := cleanupContext()
	defer cancel()
	if err := r.suspendRetired(ctx, ro); err != nil && cause == nil {
		return err
	}
	msg := fmt.Sprintf("old group %s kept at full size, out of the load balancers", bg.oldName)
	back := fmt.Sprintf("to go back: aws autoscaling attach-load-balancer-target-groups / attach-load-balancers for %s, then delete %s; to finish: aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete", bg.oldName, bg.newName, ro.region, bg.oldName)
	err := r.markRetired(ctx, ro, oldKept, msg+"; "+back)
	if cause != nil {
		return fmt.Errorf("%w; %s; %s", cause, msg, back)
	}
	return err
}

// markRetired tags the old group retired and records its state.
func (r *roller) markRetired(ctx context.Context, ro *rollout, state, msg string) error {
	bg := ro.bg
	_, err := ro.clients.blueGreen.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		Key: aws.String(tagRetired), Value: aws.String(r.now().UTC().Format(time.RFC3339)), PropagateAtLaunch: aws.Bool(false),
		ResourceId: aws.String(bg.oldName), ResourceType: aws.String("auto-scaling-group"),
	}}})
	if err != nil {
		return fmt.Errorf("tagging Auto Scaling group (%s) %s: %w; without the tag the next run takes it for a live group: tag it by hand", bg.oldName, tagRetired, err)
	}
	bg.oldState = state
	bg.message = fmt.Sprintf("live group %s (new); %s", bg.newName, msg)
	r.say(ro, "%s", msg)
	return nil
}

// suspendRetired suspends the old group's scheduled actions and alarm
// notifications.
func (r *roller) suspendRetired(ctx context.Context, ro *rollout) error {
	_, err := ro.clients.blueGreen.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
		AutoScalingGroupName: aws.String(ro.bg.oldName), ScalingProcesses: retiredProcesses,
	})
	if err != nil {
		return fmt.Errorf("suspending %s on Auto Scaling group (%s), so that it does not scale itself back up: %w", strings.Join(retiredProcesses, " and "), ro.bg.oldName, err)
	}
	return nil
}

// waitEmpty waits until group has no instances, within the run's timeout.
func (r *roller) waitEmpty(ctx context.Context, ro *rollout, group string) error {
	for {
		g, err := describeOne(ctx, ro, group)
		if err != nil {
			return err
		}
		if g == nil || len(g.Instances) == 0 {
			return nil
		}
		if !r.now().Before(r.deadline) {
			return fmt.Errorf("timeout passed with %d instance(s) still terminating", len(g.Instances))
		}
		if err := r.sleep(ctx, max(min(r.cfg.pollMinDelay, r.deadline.Sub(r.now())), time.Millisecond)); err != nil {
			return fmt.Errorf("interrupted with %d instance(s) still terminating", len(g.Instances))
		}
	}
}

// removeNewGroup undoes a roll-out that did not cut over: the new group
// leaves the load balancers, its connections drain, and it is deleted with
// its instances. The old group is never touched. It runs on a fresh
// bounded context, since the build's may be gone.
func (r *roller) removeNewGroup(ro *rollout) string {
	bg := ro.bg
	ctx, cancel := context.WithTimeout(context.Background(), bgCleanupTimeout)
	defer cancel()
	fail := func(err error) string {
		msg := fmt.Sprintf("removing new group %s failed: %v; it may still run %s beside %s (untouched): delete it with: aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete",
			bg.newName, err, ro.imageID, bg.oldName, ro.region, bg.newName)
		bg.message = msg
		r.say(ro, "%s", msg)
		return msg
	}
	g, err := describeOne(ctx, ro, bg.newName)
	if err != nil {
		return fail(err)
	}
	if g != nil {
		if err := r.detachFromLoadBalancers(ctx, ro, bg.newName); err != nil {
			return fail(err)
		}
		// The deadline of the run may have passed: drain within the
		// clean-up's own bound instead.
		// Only instances that were healthy somewhere may have connections
		// to drain: a load balancer sends nothing to the others.
		saved := r.deadline
		r.deadline = r.now().Add(bgCleanupTimeout)
		bg.progMu.Lock()
		served := slices.Clone(bg.served)
		bg.progMu.Unlock()
		err := r.waitDrained(ctx, ro, bg.newName, served)
		r.deadline = saved
		if err != nil {
			r.say(ro, "%v: deleting %s anyway", err, bg.newName)
		}
		if _, err := ro.clients.blueGreen.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(bg.newName), ForceDelete: aws.Bool(true)}); err != nil {
			return fail(fmt.Errorf("deleting Auto Scaling group (%s): %w", bg.newName, err))
		}
	}
	bg.removed = true
	bg.oldState = oldUntouched
	msg := fmt.Sprintf("new group %s removed; old group %s untouched and live", bg.newName, bg.oldName)
	bg.message = msg
	r.say(ro, "%s", msg)
	return msg
}

// isolateNewGroup takes the new group out of the load balancers and leaves
// it running for inspection (a failure with packer -on-error=abort): it
// serves nothing, and the old group is untouched.
func (r *roller) isolateNewGroup(ro *rollout) string {
	bg := ro.bg
	ctx, cancel := cleanupContext()
	defer cancel()
	if err := r.detachFromLoadBalancers(ctx, ro, bg.newName); err != nil {
		r.say(ro, "%v: removing the new group instead", err)
		return r.removeNewGroup(ro)
	}
	bg.oldState = oldUntouched
	msg := fmt.Sprintf("new group %s left running for inspection (packer -on-error=abort), out of the load balancers; old group %s untouched and live; delete the new group with: aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete",
		bg.newName, bg.oldName, ro.region, bg.newName)
	bg.message = msg
	r.say(ro, "%s", msg)
	return msg
}

// detachBlueGreen leaves both groups running (on_interrupt/on_timeout =
// detach) and says how to finish either way by hand.
func (r *roller) detachBlueGreen(ro *rollout) string {
	bg := ro.bg
	bg.detached = true
	bg.oldState = oldDetached
	var tgs []string
	for _, arn := range bg.targetGroups {
		tgs = append(tgs, arn)
	}
	var cmds []string
	detach := func(group string) {
		if len(tgs) > 0 {
			cmds = append(cmds, fmt.Sprintf("aws autoscaling detach-load-balancer-target-groups --region %s --auto-scaling-group-name %s --target-group-arns %s", ro.region, group, strings.Join(tgs, " ")))
		}
		if len(bg.loadBalancers) > 0 {
			cmds = append(cmds, fmt.Sprintf("aws autoscaling detach-load-balancers --region %s --auto-scaling-group-name %s --load-balancer-names %s", ro.region, group, strings.Join(bg.loadBalancers, " ")))
		}
	}
	detach(bg.oldName)
	finish := strings.Join(append(cmds, fmt.Sprintf("aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete", ro.region, bg.oldName)), "\n    ")
	cmds = nil
	detach(bg.newName)
	back := strings.Join(append(cmds, fmt.Sprintf("aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete", ro.region, bg.newName)), "\n    ")
	msg := fmt.Sprintf("left both groups running (detach): %s (new, %s) and %s (old), both in the load balancers.\n  A later build refuses to roll line %s while %s carries %s; a second post-processor chain of this build (the same AMI) continues it. To finish by hand (first copy the scaling policies and scheduled actions of %s onto %s, and remove the tag %s from %s):\n    %s\n  To go back:\n    %s",
		bg.newName, ro.imageID, bg.oldName, bg.base, bg.newName, tagPending, bg.oldName, bg.newName, tagPending, bg.newName, finish, back)
	bg.message = fmt.Sprintf("left both groups running (detach): %s (new) and %s (old)", bg.newName, bg.oldName)
	r.say(ro, "%s", msg)
	return msg
}

func instanceIDs(g astypes.AutoScalingGroup) []string {
	var ids []string
	for _, i := range g.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}
