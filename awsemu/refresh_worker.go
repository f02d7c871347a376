package awsemu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// This file is the worker that carries one instance refresh out in moto.
//
// moto has no notion of a refresh, so the worker replaces instances with the
// calls a person would make: RunInstances from the desired launch template
// version (moto honours LaunchTemplate.Version), wait for the warm-up, then
// TerminateInstanceInAutoScalingGroup(ShouldDecrementDesiredCapacity) for the
// old instance and AttachInstances for the new one. The order matters in
// moto: it refuses an attach that would take the group over MaxSize, so new
// instances join only after the old ones left, and a decrementing
// termination keeps moto from launching a replacement of its own from the
// group's old configuration. The group's desired capacity therefore dips
// while a batch is in flight and is back where it was once the batch is in.

// outcome is how a phase of the worker ended.
type outcome struct {
	kind   outcomeKind
	reason string
}

type outcomeKind int

const (
	outDone      outcomeKind = iota // every planned replacement is in
	outCancelled                    // CancelInstanceRefresh was called
	outRollback                     // RollbackInstanceRefresh was called
	outFailed                       // the refresh cannot succeed; reason says why
	outStopped                      // the emulator is closing
)

// errStopped reports that the emulator closed while the worker was busy.
var errStopped = errors.New("emulator closing")

// workPlan is what the worker starts from, worked out when the refresh was
// started.
type workPlan struct {
	Targets          []target // to replace, in order; some may have to wait
	TerminateStandby []target // Standby instances with StandbyInstances=Terminate
}

// run drives r from Pending to a final status.
func (e *engine) run(r *refresh, mc *motoClients, plan workPlan) {
	if !e.sleep(r, pendingDelay) && e.ctx.Err() != nil {
		return
	}
	e.update(r, func(r *refresh) {
		if r.Status == statusPending {
			r.Status = statusInProgress
		}
	})
	if cancel, rollback := e.requests(r); cancel || rollback {
		plan.TerminateStandby = nil // nothing is done once the refresh is being stopped
	}
	for _, t := range plan.TerminateStandby {
		start := e.clock.Now()
		// No decrement: in moto a Standby instance no longer counts towards
		// the desired capacity, and decrementing would make it scale in.
		if err := mc.terminateInGroup(e.ctx, t.ID, false); err != nil {
			e.conclude(r, mc, outcome{outFailed, fmt.Sprintf("Failed to terminate Standby instance %s: %v", t.ID, err)})
			return
		}
		e.recordActivity(r, "Terminating EC2 instance: "+t.ID,
			fmt.Sprintf("At %s instance %s in Standby was terminated in response to an instance refresh (StandbyInstances is Terminate).", awsTime(start), t.ID),
			"Successful", "", t.Where, start)
	}
	e.conclude(r, mc, e.rollForward(r, mc, plan.Targets))
}

// conclude takes r from the end of the replacement phase to its final status:
// baking and applying the desired configuration on success, cancelling, or
// failing and, with AutoRollback, rolling back.
func (e *engine) conclude(r *refresh, mc *motoClients, out outcome) {
	if out.kind == outDone && r.Prefs.BakeTime > 0 {
		bake := time.Duration(r.Prefs.BakeTime) * time.Second
		e.update(r, func(r *refresh) {
			if r.Status == statusInProgress {
				r.Status = statusBaking
			}
			r.Reason = fmt.Sprintf("Waiting for the bake time of %s to pass before completing the instance refresh.", formatSeconds(bake))
		})
		if !e.pause(r, mc, bake) {
			out = e.interrupted(r)
		}
	}
	if out.kind == outStopped {
		return
	}
	if out.kind == outRollback || (out.kind == outFailed && r.Prefs.AutoRollback) || e.commit(r) {
		e.rollBack(r, mc, out.reason)
		return
	}
	if out.kind == outDone && r.Desired != nil {
		if err := mc.applyDesiredConfiguration(e.ctx, r.Key.Name, r.Desired); err != nil {
			if e.ctx.Err() != nil {
				return
			}
			out = outcome{outFailed, fmt.Sprintf("Failed to update the Auto Scaling group with the desired configuration: %v", err)}
		}
	}
	switch out.kind {
	case outDone:
		e.finish(r, statusSuccessful, "")
	case outCancelled:
		e.settle(r, mc)
		e.finish(r, statusCancelled, "The instance refresh was cancelled.")
	case outFailed:
		e.settle(r, mc)
		e.finish(r, statusFailed, out.reason)
	}
}

// commit marks r as finishing, after which Cancel and Rollback no longer
// apply to it, unless a rollback was requested first: then it reports true.
func (e *engine) commit(r *refresh) (rollback bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.rollbackReq {
		return true
	}
	r.committing = true
	return false
}

// interrupted tells why a sleep of r's worker ended early.
func (e *engine) interrupted(r *refresh) outcome {
	if e.ctx.Err() != nil {
		return outcome{kind: outStopped}
	}
	e.mu.Lock()
	cancel, rollback, alarm := r.cancelReq, r.rollbackReq, r.alarm
	e.mu.Unlock()
	switch {
	case alarm != "" && !rollback && !cancel:
		return outcome{outFailed, alarmReason(alarm)}
	case rollback:
		return outcome{kind: outRollback}
	case cancel:
		return outcome{kind: outCancelled}
	}
	return outcome{kind: outDone} // not reached: only requests poke the worker
}

// rollForward replaces the planned instances batch by batch, pausing at
// checkpoints and waiting for blocked instances.
func (e *engine) rollForward(r *refresh, mc *motoClients, targets []target) outcome {
	spec := r.Original
	if r.DesiredSpec != nil {
		spec = *r.DesiredSpec
	}
	var ready, blocked []target
	for _, t := range targets {
		if t.Block == "" {
			ready = append(ready, t)
		} else {
			blocked = append(blocked, t)
		}
	}
	checkpoints := r.Prefs.Checkpoints
	next := 0 // index of the next checkpoint not yet reached
	var blockedSince time.Time
	for {
		if e.ctx.Err() != nil {
			return outcome{kind: outStopped}
		}
		if cancel, rollback := e.requests(r); rollback {
			return outcome{kind: outRollback}
		} else if cancel {
			return outcome{kind: outCancelled}
		}
		if len(ready) == 0 && len(blocked) == 0 {
			return outcome{kind: outDone}
		}
		if name := e.alarmFired(r, mc); name != "" {
			return outcome{outFailed, alarmReason(name)}
		}

		g, err := mc.describeGroup(e.ctx, r.Key.Name)
		if err != nil || g == nil {
			if e.ctx.Err() != nil {
				return outcome{kind: outStopped}
			}
			if err == nil {
				err = errors.New("the group no longer exists")
			}
			return outcome{outFailed, fmt.Sprintf("Failed to describe Auto Scaling group %s: %v", r.Key.Name, err)}
		}
		members := map[string]asgtypes.Instance{}
		for _, in := range g.Instances {
			members[aws.ToString(in.InstanceId)] = in
		}

		if len(ready) == 0 {
			// Only blocked instances are left: see whether they can go now.
			if blockedSince.IsZero() {
				blockedSince = e.clock.Now()
			}
			var still []target
			for _, t := range blocked {
				m, ok := members[t.ID]
				if !ok {
					e.update(r, func(r *refresh) { r.Done++ }) // gone: nothing left to replace
					continue
				}
				block, skip := classify(m, r.Prefs)
				switch {
				case skip:
					e.update(r, func(r *refresh) { r.Total-- })
				case block == "":
					t.Block = ""
					ready = append(ready, t)
				default:
					t.Block = block
					still = append(still, t)
				}
			}
			blocked = still
			if len(ready) > 0 || len(blocked) == 0 {
				continue
			}
			if e.clock.Now().Sub(blockedSince) >= stuckLimit {
				return outcome{outFailed, blockedFailure(blocked)}
			}
			e.setReason(r, "%s", blockedReason(blocked))
			e.pause(r, mc, blockedPollInterval) // if interrupted, the loop head tells why
			continue
		}

		// Instances that left the group meanwhile need no replacement.
		var batchable []target
		for _, t := range ready {
			if _, ok := members[t.ID]; ok {
				batchable = append(batchable, t)
			} else {
				e.update(r, func(r *refresh) { r.Done++ })
			}
		}
		ready = batchable
		if len(ready) == 0 {
			continue
		}

		desired := int(aws.ToInt32(g.DesiredCapacity))
		bp := planBatch(desired, r.Prefs.MinHealthy, r.Prefs.MaxHealthy, len(ready))
		size := bp.Size
		var done, total int
		e.update(r, func(r *refresh) { done, total = r.Done, r.Total })
		if next < len(checkpoints) {
			if limit := checkpointCount(total, checkpoints[next]) - done; limit > 0 && size > limit {
				size = limit // do not run past a checkpoint
			}
		}
		launchFirst := bp.Size - bp.TerminateFirst
		terminateFirst := max(size-launchFirst, 0)
		batch := ready[:size]
		ready = ready[size:]

		res, err := e.replaceBatch(r, mc, spec, batch, terminateFirst, desired)
		e.update(r, func(r *refresh) {
			r.Done += len(res.Replaced)
			r.launched = append(r.launched, res.New...)
			r.owed = append(r.owed, res.Owed...)
			r.Reason = ""
		})
		if errors.Is(err, errStopped) {
			return outcome{kind: outStopped}
		}
		if err != nil {
			return outcome{outFailed, fmt.Sprintf("Failed to replace instances: %v", err)}
		}
		if len(res.Unhealthy) > 0 {
			return e.unhealthyWait(r, mc, spec, res.Unhealthy[0])
		}

		e.update(r, func(r *refresh) { done = r.Done })
		if next < len(checkpoints) && done >= checkpointCount(total, checkpoints[next]) {
			reached := checkpoints[next]
			for next < len(checkpoints) && done >= checkpointCount(total, checkpoints[next]) {
				reached = checkpoints[next]
				next++
			}
			// AWS pauses at each checkpoint but the last, where the refresh
			// concludes: "After waiting 10 minutes, it then refreshes the
			// next 19 percent before concluding the operation"
			// (CheckpointPercentages [1,20]).
			if next < len(checkpoints) && r.Prefs.CheckpointDelay != nil && *r.Prefs.CheckpointDelay > 0 {
				delay := time.Duration(*r.Prefs.CheckpointDelay) * time.Second
				e.setReason(r, "Instance refresh is waiting at checkpoint %d%% for the checkpoint delay of %s before continuing (%d%% of instances replaced).",
					reached, formatSeconds(delay), percent(done, total))
				if !e.pause(r, mc, delay) {
					continue // the loop head tells why
				}
				e.setReason(r, "")
			}
			if next == len(checkpoints) && reached < 100 {
				// The last checkpoint is below 100: the refresh ends there.
				return outcome{kind: outDone}
			}
		}
	}
}

// unhealthyWait emulates AWS retrying unhealthy replacements: the refresh
// stays InProgress with a StatusReason that says so, then fails. Cancel and
// Rollback interrupt the wait.
func (e *engine) unhealthyWait(r *refresh, mc *motoClients, spec launchSpec, bad unhealthyInstance) outcome {
	e.setReason(r, "Waiting for new instances to pass health checks: instance %s launched from %s (image %s) failed its health check. Retrying for up to %s.",
		bad.ID, spec, bad.ImageID, unhealthyRetryPeriod)
	if !e.pause(r, mc, unhealthyRetryPeriod) {
		return e.interrupted(r)
	}
	return outcome{outFailed, fmt.Sprintf("The instance refresh failed because new instances did not pass health checks: instance %s launched from %s (image %s) was unhealthy, and replacements kept failing for %s.",
		bad.ID, spec, bad.ImageID, unhealthyRetryPeriod)}
}

// blockedReason is the StatusReason while only blocked instances are left.
func blockedReason(blocked []target) string {
	var protected, standby []string
	for _, t := range blocked {
		if t.Block == blockStandby {
			standby = append(standby, t.ID)
		} else {
			protected = append(protected, t.ID)
		}
	}
	var parts []string
	if len(protected) > 0 {
		parts = append(parts, "instances protected from scale in to be unprotected ("+strings.Join(protected, ", ")+")")
	}
	if len(standby) > 0 {
		parts = append(parts, "instances in Standby to return to service ("+strings.Join(standby, ", ")+")")
	}
	return fmt.Sprintf("Waiting for %s before they can be replaced. The instance refresh fails after waiting %s.", strings.Join(parts, " and "), stuckLimit)
}

func blockedFailure(blocked []target) string {
	ids := make([]string, len(blocked))
	for i, t := range blocked {
		ids[i] = t.ID
	}
	return fmt.Sprintf("The instance refresh failed because instances could not be replaced within %s: %s are protected from scale in or in Standby, and the refresh preferences say to wait for them.",
		stuckLimit, strings.Join(ids, ", "))
}

// classify says how a refresh treats a group member: replace it now
// (block ""), wait for it (blockProtected or blockStandby), or leave it out
// (skip), following ScaleInProtectedInstances and StandbyInstances.
// Instances that are neither InService nor in Standby (launching,
// terminating, detaching) are left out.
func classify(in asgtypes.Instance, p preferences) (block string, skip bool) {
	switch in.LifecycleState {
	case asgtypes.LifecycleStateInService:
		if !aws.ToBool(in.ProtectedFromScaleIn) {
			return "", false
		}
		switch p.ScaleInProtected {
		case "Ignore":
			return "", true
		case "Refresh":
			return "", false
		}
		return blockProtected, false
	case asgtypes.LifecycleStateStandby:
		switch p.Standby {
		case "Ignore", "Terminate":
			return "", true // Terminate is handled once, at the start
		}
		return blockStandby, false
	}
	return "", true
}

// unhealthyInstance is a replacement that failed its health check.
type unhealthyInstance struct{ ID, ImageID string }

// batchResult is what one batch did.
type batchResult struct {
	Replaced  []string            // old instances replaced
	New       []string            // new instances now in the group
	Unhealthy []unhealthyInstance // replacements that failed their health check (terminated)
	Owed      []placement         // old instances gone whose replacement failed
}

// replaceBatch replaces batch with instances launched from spec. The first
// terminateFirst old instances are terminated before launching; the others
// only once their replacements are warm. desired is the group's desired
// capacity before the batch, restored at the end.
func (e *engine) replaceBatch(r *refresh, mc *motoClients, spec launchSpec, batch []target, terminateFirst, desired int) (batchResult, error) {
	var res batchResult
	ctx := e.ctx
	stopped := func(err error) error {
		if ctx.Err() != nil {
			return errStopped
		}
		return err
	}
	for _, t := range batch[:terminateFirst] {
		start := e.clock.Now()
		if err := mc.terminateInGroup(ctx, t.ID, true); err != nil {
			return res, stopped(err)
		}
		res.Owed = append(res.Owed, t.Where) // until its replacement is in
		e.recordActivity(r, "Terminating EC2 instance: "+t.ID,
			fmt.Sprintf("At %s an instance was taken out of service in response to an instance refresh. Instance %s was terminated before its replacement launched, as MinHealthyPercentage allows.", awsTime(start), t.ID),
			"Successful", "", t.Where, start)
	}

	type launched struct {
		old     target
		id, img string
		launch  *activity
	}
	var fresh []launched
	for _, t := range batch {
		start := e.clock.Now()
		id, img, err := mc.runInstance(ctx, spec, t.Where, r.Tags)
		if err != nil {
			ids := make([]string, len(fresh))
			for i, f := range fresh {
				ids[i] = f.id
			}
			_ = mc.terminateInstances(ctx, ids)
			return res, stopped(err)
		}
		e.recordOrigin(r.Key.Region, id, spec, img)
		a := e.recordActivity(r, "Launching a new EC2 instance: "+id,
			fmt.Sprintf("At %s an instance was launched in response to an instance refresh, to replace instance %s.", awsTime(start), t.ID),
			"Successful", "", t.Where, start)
		fresh = append(fresh, launched{old: t, id: id, img: img, launch: a})
	}

	example := fresh[0].id
	e.setReason(r, "Waiting for instances to warm up before continuing. For example: %s is warming up.", example)
	if !e.clock.Sleep(ctx, r.Warmup, nil) { // a batch in flight is finished, whatever is requested
		return res, errStopped
	}

	// The health checks happen now, after the warm-up, and follow the
	// group's suspended processes as they are now (see suspended.go).
	suspended := map[string]bool{}
	if g, err := mc.describeGroup(ctx, r.Key.Name); err == nil && g != nil {
		suspended = suspendedSet(g)
	} else if ctx.Err() != nil {
		return res, errStopped
	}

	var joining, joinedOld, keptUnhealthy []string
	for i, f := range fresh {
		bad := !suspended[processHealthCheck] && e.isUnhealthy(mc, f.img)
		if bad && !suspended[processReplaceUnhealthy] {
			start := e.clock.Now()
			if err := mc.terminateInstances(ctx, []string{f.id}); err != nil {
				return res, stopped(err)
			}
			res.Unhealthy = append(res.Unhealthy, unhealthyInstance{ID: f.id, ImageID: f.img})
			e.failActivity(f.launch,
				fmt.Sprintf("At %s an instance was launched in response to an instance refresh, to replace instance %s. The new instance failed its health check after its warm-up of %s and was terminated.", awsTime(f.launch.Start), f.old.ID, formatSeconds(r.Warmup)),
				fmt.Sprintf("Instance %s launched from %s (image %s) failed its health check.", f.id, spec, f.img))
			e.recordActivity(r, "Terminating EC2 instance: "+f.id,
				fmt.Sprintf("At %s an instance was taken out of service in response to a health check failure during an instance refresh.", awsTime(start)),
				"Successful", "", f.old.Where, start)
			continue
		}
		if bad {
			// ReplaceUnhealthy is suspended: the instance is marked
			// unhealthy but stays, in place of the one it replaces.
			res.Unhealthy = append(res.Unhealthy, unhealthyInstance{ID: f.id, ImageID: f.img})
			keptUnhealthy = append(keptUnhealthy, f.id)
			e.failActivity(f.launch,
				fmt.Sprintf("At %s an instance was launched in response to an instance refresh, to replace instance %s. The new instance failed its health check after its warm-up of %s and was marked unhealthy; it stays in the group because the ReplaceUnhealthy process is suspended.", awsTime(f.launch.Start), f.old.ID, formatSeconds(r.Warmup)),
				fmt.Sprintf("Instance %s launched from %s (image %s) failed its health check.", f.id, spec, f.img))
		}
		if i >= terminateFirst {
			start := e.clock.Now()
			if err := mc.terminateInGroup(ctx, f.old.ID, true); err != nil {
				return res, stopped(err)
			}
			e.recordActivity(r, "Terminating EC2 instance: "+f.old.ID,
				fmt.Sprintf("At %s an instance was taken out of service in response to an instance refresh. Instance %s was replaced by %s.", awsTime(start), f.old.ID, f.id),
				"Successful", "", f.old.Where, start)
		} else {
			res.Owed = removePlacement(res.Owed, f.old.Where)
		}
		joining = append(joining, f.id)
		joinedOld = append(joinedOld, f.old.ID)
		if !bad {
			res.Replaced = append(res.Replaced, f.old.ID)
		}
	}
	if err := mc.attach(ctx, r.Key.Name, joining); err != nil {
		// The replacements are lost to the group: give them up and owe
		// the capacity of the instances they replaced.
		_ = mc.terminateInstances(ctx, joining)
		for _, f := range fresh {
			if slices.Contains(joinedOld, f.old.ID) {
				res.Owed = append(res.Owed, f.old.Where)
			}
		}
		res.Replaced = nil
		return res, stopped(err)
	}
	for _, id := range keptUnhealthy {
		if err := mc.setUnhealthy(ctx, id); err != nil {
			return res, stopped(err)
		}
	}
	res.New = joining
	return res, stopped(e.restoreDesired(mc, r.Key.Name, desired-len(res.Owed)))
}

// restoreDesired puts the group's desired capacity back to want. moto's
// AttachInstances sets it to the number of instances in the group, which
// counts Standby instances that do not count otherwise.
func (e *engine) restoreDesired(mc *motoClients, group string, want int) error {
	g, err := mc.describeGroup(e.ctx, group)
	if err != nil || g == nil {
		return err
	}
	if int(aws.ToInt32(g.DesiredCapacity)) == want {
		return nil
	}
	return mc.setDesiredCapacity(e.ctx, group, int32(want))
}

func removePlacement(ps []placement, p placement) []placement {
	for i, q := range ps {
		if q == p {
			return append(ps[:i:i], ps[i+1:]...)
		}
	}
	return ps
}

// settle gives back capacity that failed replacements took away, launching
// from the group's own configuration as AWS would to keep the desired
// capacity.
func (e *engine) settle(r *refresh, mc *motoClients) {
	var owed []placement
	e.update(r, func(r *refresh) { owed, r.owed = r.owed, nil })
	var ids []string
	for _, where := range owed {
		start := e.clock.Now()
		id, img, err := mc.runInstance(e.ctx, r.Original, where, r.Tags)
		if err != nil {
			e.log("refresh %s: restoring capacity: %v", r.ID, err)
			continue
		}
		e.recordOrigin(r.Key.Region, id, r.Original, img)
		e.recordActivity(r, "Launching a new EC2 instance: "+id,
			fmt.Sprintf("At %s an instance was launched from the group's configuration to restore the desired capacity after a failed replacement.", awsTime(start)),
			"Successful", "", where, start)
		ids = append(ids, id)
	}
	if err := mc.attach(e.ctx, r.Key.Name, ids); err != nil {
		e.log("refresh %s: restoring capacity: %v", r.ID, err)
	}
}

// rollBack replaces the instances r launched with instances of the group's
// original configuration, which the group still has: a refresh writes its
// desired configuration onto the group only when it succeeds.
func (e *engine) rollBack(r *refresh, mc *motoClients, reason string) {
	now := e.clock.Now()
	e.update(r, func(r *refresh) {
		r.Status = statusRollbackInProgress
		if r.Rollback == nil {
			r.Rollback = &rollbackInfo{Reason: reason, Start: now}
		}
		r.Reason = "Rolling back: replacing the instances launched by this instance refresh with instances of the group's previous configuration."
	})
	e.settle(r, mc)

	g, err := mc.describeGroup(e.ctx, r.Key.Name)
	if err != nil || g == nil {
		if e.ctx.Err() != nil {
			return
		}
		e.finish(r, statusRollbackFailed, fmt.Sprintf("The rollback failed: describing group %s: %v", r.Key.Name, err))
		return
	}
	members := map[string]bool{}
	for _, in := range g.Instances {
		members[aws.ToString(in.InstanceId)] = true
	}
	var launched []string
	e.update(r, func(r *refresh) { launched = append([]string(nil), r.launched...) })
	var ids []string
	for _, id := range launched {
		if members[id] {
			ids = append(ids, id)
		}
	}
	targets, err := e.targetsFor(mc, g, ids)
	if err != nil {
		if e.ctx.Err() != nil {
			return
		}
		e.finish(r, statusRollbackFailed, fmt.Sprintf("The rollback failed: %v", err))
		return
	}
	e.update(r, func(r *refresh) { r.Rollback.Total = len(targets) })

	for len(targets) > 0 {
		if cancel, _ := e.requests(r); cancel {
			e.settle(r, mc)
			e.finish(r, statusCancelled, "The rollback was cancelled.")
			return
		}
		g, err := mc.describeGroup(e.ctx, r.Key.Name)
		if err != nil || g == nil {
			if e.ctx.Err() != nil {
				return
			}
			e.finish(r, statusRollbackFailed, fmt.Sprintf("The rollback failed: describing group %s: %v", r.Key.Name, err))
			return
		}
		desired := int(aws.ToInt32(g.DesiredCapacity))
		bp := planBatch(desired, r.Prefs.MinHealthy, r.Prefs.MaxHealthy, len(targets))
		batch := targets[:bp.Size]
		targets = targets[bp.Size:]
		res, err := e.replaceBatch(r, mc, r.Original, batch, bp.TerminateFirst, desired)
		e.update(r, func(r *refresh) {
			r.Rollback.Done += len(res.Replaced)
			r.owed = append(r.owed, res.Owed...)
		})
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil || len(res.Unhealthy) > 0 {
			msg := fmt.Sprintf("%v", err)
			if err == nil {
				bad := res.Unhealthy[0]
				msg = fmt.Sprintf("instance %s launched from %s (image %s) failed its health check", bad.ID, r.Original, bad.ImageID)
			}
			e.settle(r, mc)
			e.finish(r, statusRollbackFailed, "The rollback failed: "+msg+".")
			return
		}
		e.setReason(r, "Rolling back: replacing the instances launched by this instance refresh with instances of the group's previous configuration.")
	}
	e.finish(r, statusRollbackSuccessful, "The instance refresh was rolled back; the group's instances use its previous configuration again.")
}

// targetsFor returns replacement targets for the given group members, each
// placed where the instance is.
func (e *engine) targetsFor(mc *motoClients, g *asgtypes.AutoScalingGroup, ids []string) ([]target, error) {
	insts, err := mc.describeInstances(e.ctx, ids)
	if err != nil {
		return nil, err
	}
	subnets := splitSubnets(aws.ToString(g.VPCZoneIdentifier))
	out := make([]target, 0, len(ids))
	for _, id := range ids {
		inst := insts[id]
		out = append(out, target{ID: id, Where: placeOf(inst.SubnetId, inst.Placement, subnets)})
	}
	return out, nil
}
