package awsemu

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// This file carries out stack operations: create, update (with the groups'
// update policies) and rollback, delete. Each runs on an engine worker, on
// the emulated clock, and records stack events as it goes.

// cfnUpdatePlan is what an update changes, and what a rollback restores.
type cfnUpdatePlan struct {
	OldBody      string
	OldTemplate  *cfnTemplate
	OldParams    map[string]string
	OldTags      [][2]string
	OldOutputs   map[string]string
	OldResources map[string]*cfnResource

	Body            string
	Template        *cfnTemplate
	Params          map[string]string
	Tags            [][2]string
	DisableRollback bool

	// done lists what the update changed, in order, for the rollback.
	done []cfnChange
	// cleanup runs once the update has succeeded (old launch
	// configurations, replaced groups, removed resources).
	cleanup []func(ctx context.Context) error
}

// cfnChange is one resource the update created or changed.
type cfnChange struct {
	ID       string
	Created  bool
	Old, New *cfnResource
	// launched are the instances the update launched into the group.
	launched []string
	// newGroup is the group a replacing update created.
	newGroup string
}

// errCancelled is the failure of an update cancelled by CancelUpdateStack.
var errCancelled = errors.New("Resource update cancelled")

func (c *cfnStacks) event(st *cfnStack, op *cfnOperation, r *cfnResource, status, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r != nil {
		r.Status, r.Reason, r.Updated = status, reason, c.s.clock.Now()
		c.addEventLocked(st, r.LogicalID, r.PhysicalID, r.Type, status, reason, op.Token)
		return
	}
	st.Status, st.Reason = status, reason
	c.addEventLocked(st, st.Name, st.ID, "AWS::CloudFormation::Stack", status, reason, op.Token)
}

func (c *cfnStacks) resourceEvent(st *cfnStack, op *cfnOperation, id, typ, physical, status, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := st.Resources[id]; r != nil {
		r.Status, r.Reason, r.Updated = status, reason, c.s.clock.Now()
	}
	c.addEventLocked(st, id, physical, typ, status, reason, op.Token)
}

func (c *cfnStacks) setResource(st *cfnStack, r *cfnResource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Updated = c.s.clock.Now()
	st.Resources[r.LogicalID] = r
}

func (c *cfnStacks) finishOp(st *cfnStack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.op = nil
}

// step waits the emulated time a resource operation takes; false when the
// emulator closes.
func (c *cfnStacks) step(d time.Duration) bool {
	return c.s.clock.Sleep(c.s.engine.ctx, d, nil)
}

func (c *cfnStacks) evaluator(st *cfnStack, t *cfnTemplate, params map[string]string) *cfnEval {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := map[string]*cfnResource{}
	for k, v := range st.Resources {
		res[k] = v
	}
	return &cfnEval{
		params: evalParams(t, params),
		pseudo: map[string]string{"AWS::AccountId": st.Account, "AWS::Region": st.Region, "AWS::StackId": st.ID, "AWS::StackName": st.Name,
			"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"},
		res: res,
	}
}

func (c *cfnStacks) evalProps(ev *cfnEval, decl *cfnResDecl) (map[string]any, error) {
	v, err := ev.eval(decl.Props)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func (c *cfnStacks) computeOutputs(st *cfnStack, t *cfnTemplate, params map[string]string) map[string]string {
	ev := c.evaluator(st, t, params)
	out := map[string]string{}
	for _, k := range t.OutputOrder {
		v, err := ev.eval(t.Outputs[k].Value)
		if err == nil {
			if list, ok := v.([]any); ok {
				parts := make([]string, len(list))
				for i, x := range list {
					parts[i] = scalarString(x)
				}
				out[k] = strings.Join(parts, ",")
			} else {
				out[k] = scalarString(v)
			}
		}
	}
	return out
}

func (c *cfnStacks) createResource(ctx context.Context, st *cfnStack, id, typ string, props map[string]any) (*cfnResource, error) {
	switch typ {
	case cfnTypeLaunchTemplate:
		return c.createLaunchTemplate(ctx, st, id, props)
	case cfnTypeLaunchConfig:
		return c.createLaunchConfig(ctx, st, id, props)
	case cfnTypeGroup:
		return c.createGroup(ctx, st, id, "", props)
	case cfnTypeRole:
		return c.createRole(ctx, st, id, props)
	case cfnTypeInstanceProfile:
		return c.createInstanceProfile(ctx, st, id, props)
	}
	return nil, fmt.Errorf("unsupported resource type %s", typ)
}

func (c *cfnStacks) deleteResource(ctx context.Context, st *cfnStack, r *cfnResource) error {
	switch r.Type {
	case cfnTypeLaunchTemplate:
		return c.deleteLaunchTemplate(ctx, st, r)
	case cfnTypeLaunchConfig:
		return c.deleteLaunchConfig(ctx, st, r.PhysicalID)
	case cfnTypeGroup:
		return c.deleteGroup(ctx, st, r.PhysicalID)
	case cfnTypeRole:
		return c.deleteRole(ctx, st, r)
	case cfnTypeInstanceProfile:
		return c.deleteInstanceProfile(ctx, st, r)
	}
	return nil
}

// runCreate creates a stack's resources in dependency order; a failure
// rolls the creation back (deletes what was created) unless rollback is
// disabled.
func (c *cfnStacks) runCreate(st *cfnStack, op *cfnOperation) {
	defer c.finishOp(st)
	ctx := c.s.engine.ctx
	var created []*cfnResource
	fail := func(id, typ string, err error) {
		c.resourceEvent(st, op, id, typ, "", stCreateFailed, err.Error())
		if st.DisableRollback {
			c.event(st, op, nil, stCreateFailed, fmt.Sprintf("The following resource(s) failed to create: [%s]. ", id))
			return
		}
		c.event(st, op, nil, stRollbackInProgress, fmt.Sprintf("The following resource(s) failed to create: [%s]. Rollback requested by user.", id))
		for i := len(created) - 1; i >= 0; i-- {
			r := created[i]
			c.event(st, op, r, stDeleteInProgress, "")
			if err := c.deleteResource(ctx, st, r); err != nil {
				c.event(st, op, r, stDeleteFailed, err.Error())
				continue
			}
			c.event(st, op, r, stDeleteComplete, "")
		}
		c.event(st, op, nil, stRollbackComplete, "")
	}
	for _, id := range st.Template.Order {
		decl := st.Template.Resources[id]
		c.resourceEvent(st, op, id, decl.Type, "", stCreateInProgress, "")
		if !c.step(cfnStepDelay) {
			return
		}
		props, err := c.evalProps(c.evaluator(st, st.Template, st.Params), decl)
		if err != nil {
			fail(id, decl.Type, err)
			return
		}
		r, err := c.createResource(ctx, st, id, decl.Type, props)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fail(id, decl.Type, err)
			return
		}
		c.setResource(st, r)
		created = append(created, r)
		c.event(st, op, r, stCreateInProgress, "Resource creation Initiated")
		c.event(st, op, r, stCreateComplete, "")
	}
	outs := c.computeOutputs(st, st.Template, st.Params)
	c.mu.Lock()
	st.Outputs = outs
	c.mu.Unlock()
	c.event(st, op, nil, stCreateComplete, "")
}

// runDelete deletes a stack's resources, dependents first.
func (c *cfnStacks) runDelete(st *cfnStack, op *cfnOperation) {
	defer c.finishOp(st)
	ctx := c.s.engine.ctx
	order := st.Template.Order
	failed := ""
	for i := len(order) - 1; i >= 0; i-- {
		c.mu.Lock()
		r := st.Resources[order[i]]
		c.mu.Unlock()
		if r == nil || r.Status == stDeleteComplete {
			continue
		}
		c.event(st, op, r, stDeleteInProgress, "")
		if !c.step(cfnStepDelay) {
			return
		}
		if err := c.deleteResource(ctx, st, r); err != nil {
			c.event(st, op, r, stDeleteFailed, err.Error())
			failed = r.LogicalID
			continue
		}
		c.event(st, op, r, stDeleteComplete, "")
	}
	if failed != "" {
		c.event(st, op, nil, stDeleteFailed, fmt.Sprintf("The following resource(s) failed to delete: [%s]. ", failed))
		return
	}
	c.mu.Lock()
	st.Deleted = c.s.clock.Now()
	c.mu.Unlock()
	c.event(st, op, nil, stDeleteComplete, "")
}

// runUpdate carries out an update; a failure or a cancel rolls it back.
func (c *cfnStacks) runUpdate(st *cfnStack, op *cfnOperation, plan *cfnUpdatePlan) {
	defer c.finishOp(st)
	ctx := c.s.engine.ctx
	failedID, err := c.applyUpdate(ctx, st, op, plan)
	if ctx.Err() != nil {
		return
	}
	// A cancel accepted while the stack was UPDATE_IN_PROGRESS rolls it
	// back, even when it came as the last change finished: the check and
	// the move to the cleanup phase happen under the lock CancelUpdateStack
	// takes.
	c.mu.Lock()
	if err == nil && op.cancelled() {
		err, failedID = errCancelled, plan.Template.Order[len(plan.Template.Order)-1]
	}
	if err == nil {
		st.Status, st.Reason = stUpdateCompleteCleanup, ""
		c.addEventLocked(st, st.Name, st.ID, "AWS::CloudFormation::Stack", stUpdateCompleteCleanup, "", op.Token)
	}
	c.mu.Unlock()
	if err == nil {
		if !c.step(cfnStepDelay) {
			return
		}
		for _, f := range plan.cleanup {
			if err := f(ctx); err != nil {
				c.s.logf("stack %s: cleanup: %v", st.Name, err)
			}
		}
		outs := c.computeOutputs(st, plan.Template, plan.Params)
		c.mu.Lock()
		st.Outputs = outs
		c.mu.Unlock()
		c.event(st, op, nil, stUpdateComplete, "")
		return
	}
	reason := fmt.Sprintf("The following resource(s) failed to update: [%s]. ", failedID)
	if errors.Is(err, errCancelled) {
		reason = "User Initiated"
	}
	if plan.DisableRollback {
		c.event(st, op, nil, stUpdateFailed, reason)
		return
	}
	c.event(st, op, nil, stUpdateRollbackInProgress, reason)
	c.mu.Lock()
	st.Body, st.Template, st.Params, st.Tags = plan.OldBody, plan.OldTemplate, plan.OldParams, plan.OldTags
	c.mu.Unlock()
	rbErr := c.rollBackUpdate(ctx, st, op, plan)
	if ctx.Err() != nil {
		return
	}
	if rbErr != nil {
		c.event(st, op, nil, stUpdateRollbackFailed, rbErr.Error())
		return
	}
	c.event(st, op, nil, stUpdateRollbackCleanup, "")
	if !c.step(cfnStepDelay) {
		return
	}
	for _, ch := range plan.done {
		if ch.Created && ch.New != nil {
			c.event(st, op, ch.New, stDeleteInProgress, "")
			if err := c.deleteResource(ctx, st, ch.New); err != nil {
				c.event(st, op, ch.New, stDeleteFailed, err.Error())
				continue
			}
			c.event(st, op, ch.New, stDeleteComplete, "")
			c.mu.Lock()
			delete(st.Resources, ch.ID)
			c.mu.Unlock()
			continue
		}
		if ch.New != nil && ch.Old != nil && ch.New.PhysicalID != ch.Old.PhysicalID {
			// A replacement made by the update (launch configuration, replaced group).
			var err error
			if ch.New.Type == cfnTypeGroup {
				err = c.deleteGroup(ctx, st, ch.New.PhysicalID)
			} else {
				err = c.deleteLaunchConfig(ctx, st, ch.New.PhysicalID)
			}
			if err != nil {
				c.s.logf("stack %s: rollback cleanup of %s: %v", st.Name, ch.New.PhysicalID, err)
			}
		}
	}
	c.mu.Lock()
	st.Outputs = plan.OldOutputs
	c.mu.Unlock()
	c.event(st, op, nil, stUpdateRollbackComplete, "")
}

// applyUpdate walks the new template and carries out each change. It
// returns the logical id of the resource that failed.
func (c *cfnStacks) applyUpdate(ctx context.Context, st *cfnStack, op *cfnOperation, plan *cfnUpdatePlan) (string, error) {
	t := plan.Template
	for _, id := range t.Order {
		if op.cancelled() {
			return id, errCancelled
		}
		decl := t.Resources[id]
		props, err := c.evalProps(c.evaluator(st, t, plan.Params), decl)
		if err != nil {
			c.resourceEvent(st, op, id, decl.Type, "", stUpdateFailed, err.Error())
			return id, err
		}
		c.mu.Lock()
		old := st.Resources[id]
		c.mu.Unlock()
		if old == nil {
			c.resourceEvent(st, op, id, decl.Type, "", stCreateInProgress, "")
			r, err := c.createResource(ctx, st, id, decl.Type, props)
			if err != nil {
				c.resourceEvent(st, op, id, decl.Type, "", stCreateFailed, err.Error())
				return id, err
			}
			c.setResource(st, r)
			plan.done = append(plan.done, cfnChange{ID: id, Created: true, New: r})
			c.event(st, op, r, stCreateComplete, "")
			continue
		}
		oldPolicy := ""
		if od := plan.OldTemplate.Resources[id]; od != nil {
			oldPolicy = canonicalJSON(od.UpdatePolicy)
		}
		if old.Type != decl.Type {
			err := fmt.Errorf("changing the type of %s from %s to %s requires replacing it, which awsemu does not do", id, old.Type, decl.Type)
			c.event(st, op, old, stUpdateFailed, err.Error())
			return id, err
		}
		if canonicalJSON(props) == canonicalJSON(old.Props) {
			if oldPolicy != canonicalJSON(decl.UpdatePolicy) {
				// Only the policy changed: recorded, nothing to do.
				c.event(st, op, old, stUpdateInProgress, "")
				c.event(st, op, old, stUpdateComplete, "")
			}
			continue
		}
		c.event(st, op, old, stUpdateInProgress, "")
		if !c.step(cfnStepDelay) {
			return id, ctx.Err()
		}
		ch := cfnChange{ID: id, Old: old.clone()}
		var nr *cfnResource
		switch decl.Type {
		case cfnTypeLaunchTemplate:
			nr, err = c.updateLaunchTemplate(ctx, st, old, props)
		case cfnTypeLaunchConfig:
			nr, err = c.replaceLaunchConfig(ctx, st, op, old, props, plan)
		case cfnTypeGroup:
			nr, err = c.updateGroup(ctx, st, op, old, decl, props, plan, &ch)
		default:
			err = fmt.Errorf("awsemu does not update %s resources; leave %s unchanged, or delete and recreate the stack", decl.Type, id)
		}
		if err != nil {
			ch.New = nr
			if nr != nil || ch.launched != nil || ch.newGroup != "" {
				plan.done = append(plan.done, ch)
			}
			reason := err.Error()
			c.event(st, op, old, stUpdateFailed, reason)
			return id, err
		}
		ch.New = nr
		c.setResource(st, nr)
		plan.done = append(plan.done, ch)
		c.event(st, op, nr, stUpdateComplete, "")
	}
	// Resources no longer in the template are deleted in the cleanup,
	// dependents first.
	c.mu.Lock()
	for i := len(plan.OldTemplate.Order) - 1; i >= 0; i-- {
		id := plan.OldTemplate.Order[i]
		if r := st.Resources[id]; r != nil && t.Resources[id] == nil {
			plan.cleanup = append(plan.cleanup, func(ctx context.Context) error {
				c.event(st, op, r, stDeleteInProgress, "")
				if err := c.deleteResource(ctx, st, r); err != nil {
					c.event(st, op, r, stDeleteFailed, err.Error())
					return err
				}
				c.event(st, op, r, stDeleteComplete, "")
				c.mu.Lock()
				delete(st.Resources, r.LogicalID)
				c.mu.Unlock()
				return nil
			})
		}
	}
	c.mu.Unlock()
	return "", nil
}

// replaceLaunchConfig replaces a launch configuration: every property of
// AWS::AutoScaling::LaunchConfiguration has "Update requires: Replacement".
// The old one is deleted in the cleanup.
func (c *cfnStacks) replaceLaunchConfig(ctx context.Context, st *cfnStack, op *cfnOperation, old *cfnResource, props map[string]any, plan *cfnUpdatePlan) (*cfnResource, error) {
	if name := propString(props, "LaunchConfigurationName"); name != "" && name == old.PhysicalID {
		return nil, fmt.Errorf("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename %s and update the stack again.", name)
	}
	c.event(st, op, old, stUpdateInProgress, "Requested update requires the creation of a new physical resource; hence creating one.")
	nr, err := c.createLaunchConfig(ctx, st, old.LogicalID, props)
	if err != nil {
		return nil, err
	}
	c.deleteOnCleanup(st, op, old, plan, c.deleteLaunchConfig)
	return nr, nil
}

// deleteOnCleanup has the update's cleanup delete old, the physical
// resource a replacement took the place of, with del, reporting the
// deletion as events of old's logical resource.
func (c *cfnStacks) deleteOnCleanup(st *cfnStack, op *cfnOperation, old *cfnResource, plan *cfnUpdatePlan,
	del func(ctx context.Context, st *cfnStack, name string) error) {
	oldName := old.PhysicalID
	plan.cleanup = append(plan.cleanup, func(ctx context.Context) error {
		c.resourceEvent(st, op, old.LogicalID, old.Type, oldName, stDeleteInProgress, "")
		if err := del(ctx, st, oldName); err != nil {
			c.resourceEvent(st, op, old.LogicalID, old.Type, oldName, stDeleteFailed, err.Error())
			return err
		}
		c.resourceEvent(st, op, old.LogicalID, old.Type, oldName, stDeleteComplete, "")
		return nil
	})
}

// launchChanged tells whether a group change triggers the update policies:
// "These replacement operations occur when you make one or more of the
// following changes: Change the Amazon EC2 Auto Scaling group's
// AWS::AutoScaling::LaunchConfiguration. Change the Amazon EC2 Auto
// Scaling group's VPCZoneIdentifier property. Change the Amazon EC2 Auto
// Scaling group's LaunchTemplate property." (UpdatePolicy attribute).
func launchChanged(old, props map[string]any) bool {
	for _, k := range []string{"LaunchTemplate", "LaunchConfigurationName", "VPCZoneIdentifier"} {
		if canonicalJSON(old[k]) != canonicalJSON(props[k]) {
			return true
		}
	}
	return false
}

// updateGroup carries out a change of an AWS::AutoScaling::AutoScalingGroup
// and its update policy.
func (c *cfnStacks) updateGroup(ctx context.Context, st *cfnStack, op *cfnOperation, old *cfnResource, decl *cfnResDecl, props map[string]any, plan *cfnUpdatePlan, ch *cfnChange) (*cfnResource, error) {
	pol, _ := parseUpdatePolicy(decl.UpdatePolicy) // checked when the template was read
	name := old.PhysicalID
	if n := propString(props, "AutoScalingGroupName"); n != propString(old.Props, "AutoScalingGroupName") && pol.Kind != "replacing" {
		return nil, fmt.Errorf("changing AutoScalingGroupName requires replacing the group, which awsemu does only with an AutoScalingReplacingUpdate policy (from %q to %q)", propString(old.Props, "AutoScalingGroupName"), n)
	}
	nr := old.clone()
	nr.Props = props
	trigger := launchChanged(old.Props, props)
	if !trigger {
		return nr, c.updateGroupConfig(ctx, st, old.LogicalID, name, old.Props, props, true)
	}
	switch pol.Kind {
	case "replacing":
		return c.replacingUpdate(ctx, st, op, old, decl, props, plan, ch)
	case "refresh":
		return nr, c.refreshUpdate(ctx, st, op, old, props, pol, ch)
	case "rolling":
		if maxSize, err := propInt32(props, "MaxSize"); err == nil && maxSize != nil && pol.MinInService >= int(*maxSize) {
			return nil, fmt.Errorf("MinInstancesInService must be less than the autoscaling group's MaxSize")
		}
		// Capacity a failed batch takes away comes back on the group's
		// previous configuration, which the rollback keeps.
		_, before, err := c.groupState(ctx, c.mcFor(st), name)
		if err != nil {
			return nil, err
		}
		if err := c.updateGroupConfig(ctx, st, old.LogicalID, name, old.Props, props, true); err != nil {
			return nil, err
		}
		return nr, c.rollingUpdate(ctx, st, op, old.LogicalID, name, pol, nil, ch, false, &before)
	}
	// No update policy: the group's configuration changes and no instance
	// is replaced.
	return nr, c.updateGroupConfig(ctx, st, old.LogicalID, name, old.Props, props, true)
}

// groupState reads the group and what it launches from now.
func (c *cfnStacks) groupState(ctx context.Context, mc *motoClients, name string) (*asgtypes.AutoScalingGroup, launchSpec, error) {
	g, err := mc.describeGroup(ctx, name)
	if err != nil {
		return nil, launchSpec{}, err
	}
	if g == nil {
		return nil, launchSpec{}, fmt.Errorf("Auto Scaling group %s no longer exists", name)
	}
	spec, err := mc.specFromGroup(ctx, g)
	return g, spec, err
}

// rollingUpdate replaces instances in batches, as AutoScalingRollingUpdate
// describes: MaxBatchSize "Specifies the maximum number of instances that
// CloudFormation updates", MinInstancesInService "Specifies the minimum
// number of instances that must be in service within the Auto Scaling
// group while CloudFormation updates old instances", PauseTime "The amount
// of time that CloudFormation pauses after making a change to a batch of
// instances to give those instances time to start software applications".
// only, when not nil, limits the replacement to those instances (a
// rollback replaces what the update launched); otherwise every instance is
// replaced. The group already launches from the configuration to roll to.
func (c *cfnStacks) rollingUpdate(ctx context.Context, st *cfnStack, op *cfnOperation, logical, name string, pol updatePolicy, only []string, ch *cfnChange, rollback bool, restore *launchSpec) error {
	mc := c.mcFor(st)
	g, want, err := c.groupState(ctx, mc, name)
	if err != nil {
		return err
	}
	var ids []string
	members := map[string]bool{}
	for _, in := range g.Instances {
		members[aws.ToString(in.InstanceId)] = true
		if in.LifecycleState == asgtypes.LifecycleStateInService || in.LifecycleState == asgtypes.LifecycleStatePending {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	if only != nil {
		ids = ids[:0]
		for _, id := range only {
			if members[id] {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	targets, err := c.s.engine.targetsFor(mc, g, ids)
	if err != nil {
		return err
	}
	desired := int(aws.ToInt32(g.DesiredCapacity))
	maxSize := int(aws.ToInt32(g.MaxSize))
	minSize := aws.ToInt32(g.MinSize)
	total := len(targets)
	c.resourceEvent(st, op, logical, cfnTypeGroup, name, stUpdateInProgress, fmt.Sprintf(
		"Rolling update initiated. Terminating %d obsolete instance(s) in batches of %d, while keeping at least %d instance(s) in service. Waiting %s after each batch (PauseTime %s).",
		total, pol.MaxBatchSize, pol.MinInService, formatSeconds(time.Duration(pol.pauseSeconds)*time.Second), orDefault(pol.PauseTime, "PT0S")))
	// Terminating before launching takes the group below its MinSize, as
	// AWS does: "Temporarily setting autoscaling group MinSize".
	if minSize > 0 {
		if _, err := mc.asg.UpdateAutoScalingGroup(ctx, updateMin(name, 0)); err != nil {
			return fmt.Errorf("lowering the MinSize of %s for the rolling update: %w", name, err)
		}
		defer func() { _, _ = mc.asg.UpdateAutoScalingGroup(context.WithoutCancel(ctx), updateMin(name, minSize)) }()
	}
	// Capacity lost to a failed batch comes back on restore, else on the
	// group's configuration (r.Original). New instances carry the stack's tags
	// like the group's (CloudFormation resource tagging: stack-level tags
	// reach the instances "regardless of the PropagateAtLaunch setting").
	tags := groupTags(g)
	for _, t := range stackTags(st, logical) {
		tags = append(tags, ec2types.Tag{Key: aws.String(t[0]), Value: aws.String(t[1])})
	}
	r := &refresh{ID: "cfn-" + newUUID(), Key: groupKey{Region: st.Region, Name: name}, GroupARN: aws.ToString(g.AutoScalingGroupARN),
		Warmup: time.Duration(pol.pauseSeconds) * time.Second, Tags: tags, Original: want, poke: make(chan struct{}, 1)}
	if restore != nil {
		r.Original = *restore
	}
	allowedFailures := total - (total*pol.MinSuccessPercent+99)/100
	failures := 0
	done := 0
	for len(targets) > 0 {
		if !rollback && op.cancelled() {
			return errCancelled
		}
		size := min(pol.MaxBatchSize, len(targets))
		terminateFirst := max(0, min(size, desired-pol.MinInService))
		launchFirst := size - terminateFirst
		if room := maxSize - desired; launchFirst > room {
			launchFirst = max(0, room)
		}
		size = terminateFirst + launchFirst
		if size == 0 && rollback {
			terminateFirst, size = 1, 1 // no room to launch first: a rollback still has to go on
		}
		if size == 0 {
			return fmt.Errorf("cannot replace instances of %s while keeping %d in service: the group has %d of at most %d", name, pol.MinInService, desired, maxSize)
		}
		batch := targets[:size]
		targets = targets[size:]
		// replaceBatch terminates the first terminateFirst of the batch
		// before launching; the rest are launched first.
		res, err := c.s.engine.replaceBatch(r, mc, want, batch, terminateFirst, desired)
		if ch != nil && !rollback {
			ch.launched = append(ch.launched, res.New...)
		}
		if len(res.Owed) > 0 {
			r.owed = res.Owed
			c.s.engine.settle(r, mc)
		}
		if err != nil {
			return fmt.Errorf("replacing instances of %s: %w", name, err)
		}
		done += len(res.Replaced)
		if len(res.Unhealthy) > 0 {
			failures += len(res.Unhealthy)
			bad := res.Unhealthy[0]
			msg := fmt.Sprintf("Instance %s launched from %s (image %s) failed its health check, which the emulator takes as a FAILURE signal. Received %d FAILURE signal(s) out of %d.",
				bad.ID, want, bad.ImageID, failures, total)
			if failures > allowedFailures {
				return fmt.Errorf("%s Unable to satisfy %d%% MinSuccessfulInstancesPercent requirement", msg, pol.MinSuccessPercent)
			}
			c.resourceEvent(st, op, logical, cfnTypeGroup, name, stUpdateInProgress, msg)
		}
		c.resourceEvent(st, op, logical, cfnTypeGroup, name, stUpdateInProgress, fmt.Sprintf("Successfully terminated instance(s) %v (Progress %d%%).", res.Replaced, done*100/total))
	}
	return nil
}

func updateMin(name string, n int32) *autoscaling.UpdateAutoScalingGroupInput {
	return &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(n)}
}

func groupInstanceIDs(g *asgtypes.AutoScalingGroup) []string {
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	return ids
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// refreshUpdate carries out an AutoScalingInstanceRefresh policy: "When
// properties that trigger an instance refresh change (such as
// LaunchTemplate or MixedInstancesPolicy), CloudFormation starts an
// instance refresh to replace instances gradually." The refresh runs on the
// emulator's own engine with the policy's preferences and no AutoRollback;
// a failed refresh fails the update and the stack rolls back.
func (c *cfnStacks) refreshUpdate(ctx context.Context, st *cfnStack, op *cfnOperation, old *cfnResource, props map[string]any, pol updatePolicy, ch *cfnChange) error {
	name := old.PhysicalID
	form := url.Values{"AutoScalingGroupName": {name}}
	for k, v := range pol.Refresh {
		form[k] = v
	}
	if lt, _ := launchOf(props); lt != nil {
		// The refresh writes the new launch template onto the group when it
		// succeeds; everything else changes now.
		if err := c.updateGroupConfig(ctx, st, old.LogicalID, name, old.Props, withoutLaunch(props, old.Props), true); err != nil {
			return err
		}
		if lt.LaunchTemplateId != nil {
			form.Set("DesiredConfiguration.LaunchTemplate.LaunchTemplateId", aws.ToString(lt.LaunchTemplateId))
		} else {
			form.Set("DesiredConfiguration.LaunchTemplate.LaunchTemplateName", aws.ToString(lt.LaunchTemplateName))
		}
		form.Set("DesiredConfiguration.LaunchTemplate.Version", aws.ToString(lt.Version))
	} else if err := c.updateGroupConfig(ctx, st, old.LogicalID, name, old.Props, props, true); err != nil {
		return err
	}
	q := &queryRequest{Service: serviceAutoScaling, Region: st.Region, AccessKey: st.AccessKey, Action: "StartInstanceRefresh", Form: form}
	res, aerr := c.s.engine.startInstanceRefresh(ctx, q)
	if aerr != nil {
		return fmt.Errorf("starting an instance refresh of %s: %s", name, aerr.Message)
	}
	id := ""
	for _, k := range res.kids {
		if k.name == "InstanceRefreshId" {
			id = k.text
		}
	}
	c.resourceEvent(st, op, old.LogicalID, cfnTypeGroup, name, stUpdateInProgress, fmt.Sprintf("Instance refresh %s started to replace the instances of %s.", id, name))
	key := groupKey{Region: st.Region, Name: name}
	cancelSent := false
	for {
		status, reason, launched := c.s.engine.refreshState(key, id)
		if ch != nil {
			ch.launched = launched
		}
		if !isActive(status) {
			if status == statusSuccessful {
				c.resourceEvent(st, op, old.LogicalID, cfnTypeGroup, name, stUpdateInProgress, fmt.Sprintf("Instance refresh %s succeeded.", id))
				return nil
			}
			if cancelSent {
				return errCancelled
			}
			return fmt.Errorf("Instance refresh %s ended %s: %s", id, status, reason)
		}
		if op.cancelled() && !cancelSent {
			cancelSent = true
			_, _ = c.s.engine.cancelInstanceRefresh(&queryRequest{Region: st.Region, AccessKey: st.AccessKey, Form: url.Values{"AutoScalingGroupName": {name}}})
		}
		if !c.s.clock.Sleep(ctx, 5*time.Second, op.cancel) && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// withoutLaunch returns props with the launch template of old, so that
// everything but the launch template changes.
func withoutLaunch(props, old map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range props {
		out[k] = v
	}
	out["LaunchTemplate"] = old["LaunchTemplate"]
	return out
}

// refreshState returns a refresh's status, reason and the instances it
// launched.
func (e *engine) refreshState(key groupKey, id string) (status, reason string, launched []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.refreshes[key] {
		if r.ID == id {
			return r.Status, r.Reason, append([]string(nil), r.launched...)
		}
	}
	return statusFailed, "the instance refresh is gone", nil
}

// replacingUpdate carries out AutoScalingReplacingUpdate with WillReplace:
// "During replacement, CloudFormation retains the old group until it
// finishes creating the new one. If the update fails, CloudFormation can
// roll back to the old Auto Scaling group and delete the new Auto Scaling
// group. ... After successfully creating the new Auto Scaling group,
// CloudFormation deletes the old Auto Scaling group during the cleanup
// process." The new group's instances must pass their health checks
// (standing in for the CreationPolicy's signals, MinSuccessfulInstancesPercent
// of its AutoScalingCreationPolicy, default 100).
func (c *cfnStacks) replacingUpdate(ctx context.Context, st *cfnStack, op *cfnOperation, old *cfnResource, decl *cfnResDecl, props map[string]any, plan *cfnUpdatePlan, ch *cfnChange) (*cfnResource, error) {
	name := propString(props, "AutoScalingGroupName")
	if name != "" && name == old.PhysicalID {
		return nil, fmt.Errorf("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename %s and update the stack again.", name)
	}
	c.event(st, op, old, stUpdateInProgress, "Requested update requires the creation of a new physical resource; hence creating one.")
	nr, err := c.createGroup(ctx, st, old.LogicalID, name, props)
	if err != nil {
		return nil, err
	}
	ch.newGroup = nr.PhysicalID
	c.resourceEvent(st, op, old.LogicalID, cfnTypeGroup, nr.PhysicalID, stUpdateInProgress, "Resource creation Initiated")
	if !c.s.clock.Sleep(ctx, cfnReplacingUpdateStabilize, op.cancel) {
		if ctx.Err() != nil {
			return nr, ctx.Err()
		}
		return nr, errCancelled
	}
	pct := 100
	if cp, ok := decl.CreationPolicy["AutoScalingCreationPolicy"].(map[string]any); ok {
		if v, err := strconv.Atoi(scalarString(cp["MinSuccessfulInstancesPercent"])); err == nil {
			pct = v
		}
	}
	mc := c.mcFor(st)
	g, err := mc.describeGroup(ctx, nr.PhysicalID)
	if err != nil || g == nil {
		return nr, fmt.Errorf("reading the new group %s: %v", nr.PhysicalID, err)
	}
	ids := groupInstanceIDs(g)
	insts, err := mc.describeInstances(ctx, ids)
	if err != nil {
		return nr, err
	}
	bad := []string{}
	for _, id := range ids {
		if c.s.engine.isUnhealthy(mc, aws.ToString(insts[id].ImageId)) {
			bad = append(bad, id+" (image "+aws.ToString(insts[id].ImageId)+")")
		}
	}
	if n := len(ids); n > 0 && (n-len(bad))*100 < n*pct {
		return nr, fmt.Errorf("Received %d FAILURE signal(s) out of %d: instances %s failed their health checks, which the emulator takes as FAILURE signals. Unable to satisfy %d%% MinSuccessfulInstancesPercent requirement",
			len(bad), n, strings.Join(bad, ", "), pct)
	}
	c.deleteOnCleanup(st, op, old, plan, c.deleteGroup)
	return nr, nil
}

// rollBackUpdate undoes the changes of a failed or cancelled update, last
// first: "If you cancel a stack update, the stack is rolled back to the
// stack configuration that existed before initiating the stack update."
func (c *cfnStacks) rollBackUpdate(ctx context.Context, st *cfnStack, op *cfnOperation, plan *cfnUpdatePlan) error {
	for i := len(plan.done) - 1; i >= 0; i-- {
		ch := plan.done[i]
		if ch.Created {
			continue // deleted in the rollback cleanup
		}
		old := ch.Old
		c.event(st, op, old, stUpdateInProgress, "")
		if !c.step(cfnStepDelay) {
			return ctx.Err()
		}
		var err error
		switch old.Type {
		case cfnTypeLaunchTemplate:
			err = c.revertLaunchTemplate(ctx, st, old)
		case cfnTypeLaunchConfig:
			// The old configuration still exists; the new one goes in the cleanup.
		case cfnTypeGroup:
			err = c.revertGroup(ctx, st, op, plan, ch)
		}
		if err != nil {
			c.event(st, op, old, stUpdateFailed, err.Error())
			return fmt.Errorf("The following resource(s) failed to update: [%s]. %v", old.LogicalID, err)
		}
		c.setResource(st, old)
		c.event(st, op, old, stUpdateComplete, "")
	}
	return nil
}

// revertGroup puts a group back on its previous configuration and replaces
// the instances the update launched, in batches as the old policy says (or
// one at a time, launching first, when it had none).
func (c *cfnStacks) revertGroup(ctx context.Context, st *cfnStack, op *cfnOperation, plan *cfnUpdatePlan, ch cfnChange) error {
	if ch.newGroup != "" {
		// A replacing update: the old group is untouched; the new one is
		// deleted in the rollback cleanup.
		return nil
	}
	name := ch.Old.PhysicalID
	if err := c.updateGroupConfig(ctx, st, ch.ID, name, ch.New.propsOr(ch.Old), ch.Old.Props, true); err != nil {
		return err
	}
	if len(ch.launched) == 0 {
		return nil
	}
	pol := updatePolicy{MaxBatchSize: 1, MinSuccessPercent: 100}
	if od := plan.OldTemplate.Resources[ch.ID]; od != nil {
		if p, err := parseUpdatePolicy(od.UpdatePolicy); err == nil && p.Kind == "rolling" {
			pol = p
		} else {
			g, err := c.mcFor(st).describeGroup(ctx, name)
			if err == nil && g != nil {
				pol.MinInService = int(aws.ToInt32(g.DesiredCapacity)) // launch first: capacity never drops
			}
		}
	}
	return c.rollingUpdate(ctx, st, op, ch.ID, name, pol, ch.launched, nil, true, nil)
}

func (r *cfnResource) propsOr(other *cfnResource) map[string]any {
	if r != nil && r.Props != nil {
		return r.Props
	}
	return other.Props
}
