package awsemu

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// This file answers the instance refresh API: StartInstanceRefresh,
// DescribeInstanceRefreshes, CancelInstanceRefresh, RollbackInstanceRefresh
// and DescribeScalingActivities, validating requests as AWS does.

// Limits of the API, from the Auto Scaling API reference.
const (
	maxDelaySeconds       = 172800 // CheckpointDelay and BakeTime
	maxAlarms             = 10
	defaultRefreshRecords = 50
	maxRefreshRecords     = 100
	maxActivityRecords    = 100
)

func (e *engine) startInstanceRefresh(ctx context.Context, q *queryRequest) (*xmlNode, *apiError) {
	name := q.Form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	strategy := q.Form.Get("Strategy")
	if strategy == "" {
		strategy = "Rolling"
	}
	if strategy != "Rolling" && strategy != "ReplaceRootVolume" {
		return nil, validationError("1 validation error detected: Value '%s' at 'strategy' failed to satisfy constraint: Member must satisfy enum value set: [Rolling, ReplaceRootVolume]", strategy)
	}
	prefs, aerr := parsePreferences(q.Form)
	if aerr != nil {
		return nil, aerr
	}
	var desired url.Values
	if hasPrefix(q.Form, "DesiredConfiguration.") {
		desired = subValues(q.Form, "DesiredConfiguration.")
		hasLT, hasMixed := hasPrefix(desired, "LaunchTemplate."), hasPrefix(desired, "MixedInstancesPolicy.")
		if hasLT == hasMixed {
			return nil, validationError("The desired configuration must specify either a LaunchTemplate or a MixedInstancesPolicy.")
		}
	}
	if prefs.AutoRollback && desired == nil {
		return nil, validationError("The request isn't valid. The AutoRollback parameter cannot be set to true when the DesiredConfiguration parameter is empty. Set AutoRollback to false or specify a desired configuration and try again.")
	}

	mc := e.moto.clientsFor(q.Region, q.AccessKey)
	g, err := mc.describeGroup(ctx, name)
	if err != nil {
		return nil, toAPIError(err)
	}
	if g == nil {
		return nil, validationError("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	original, err := mc.specFromGroup(ctx, g)
	if err != nil {
		return nil, toAPIError(err)
	}
	var desiredSpec *launchSpec
	if desired != nil {
		spec, err := mc.specFromDesired(ctx, desired)
		if err != nil {
			return nil, toAPIError(err)
		}
		desiredSpec = &spec
	}
	if strategy == "ReplaceRootVolume" {
		if aerr := e.replaceRootVolumeBlocker(ctx, mc, q.Region, original, desiredSpec); aerr != nil {
			return nil, aerr
		}
	}
	if prefs.AutoRollback {
		if why := rollbackBlocker(desired, desiredSpec, original); why != "" {
			return nil, validationError("AutoRollback can't be enabled for this instance refresh: %s", why)
		}
	}

	if len(prefs.Alarms) > 0 {
		states, err := mc.alarmStates(ctx, prefs.Alarms)
		if err != nil {
			return nil, toAPIError(err)
		}
		var missing []string
		for _, a := range prefs.Alarms {
			if _, ok := states[a]; !ok {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			return nil, validationError("The alarm specification is not valid: the CloudWatch alarms %s do not exist.", strings.Join(missing, ", "))
		}
	}

	key := groupKey{Region: q.Region, Name: name}
	prefs = e.withMaintenancePolicy(key, prefs)
	warmup := e.defaultWarmup(key, g, prefs)
	want := original
	if desiredSpec != nil {
		want = *desiredSpec
	}
	plan, err := e.plan(mc, key, g, want, original, prefs)
	if err != nil {
		return nil, toAPIError(err)
	}

	r := &refresh{
		ID: newUUID(), Key: key, GroupARN: aws.ToString(g.AutoScalingGroupARN), Strategy: strategy,
		Prefs: prefs, Warmup: warmup, Desired: desired, DesiredSpec: desiredSpec, Original: original,
		Tags: groupTags(g), poke: make(chan struct{}, 1),
		Status: statusPending, StartTime: e.clock.Now(), Total: len(plan.Targets),
	}
	nothingToDo := len(plan.Targets) == 0 && len(plan.TerminateStandby) == 0
	r.committing = nothingToDo // it finishes below; Cancel and Rollback find nothing to stop
	e.mu.Lock()
	if active := e.activeRefreshLocked(key); active != nil {
		e.mu.Unlock()
		return nil, senderError("InstanceRefreshInProgress", "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.")
	}
	r.visibleFrom = r.StartTime.Add(e.describeLag)
	e.refreshes[key] = append(e.refreshes[key], r)
	e.mu.Unlock()
	e.log("refresh %s of %s started: %d instances to replace with %s, warm-up %s", r.ID, name, r.Total, want, warmup)

	if nothingToDo {
		// Nothing to replace: AWS finishes such a refresh at once.
		if desired != nil {
			if err := mc.applyDesiredConfiguration(ctx, name, desired); err != nil {
				e.finish(r, statusFailed, fmt.Sprintf("Failed to update the Auto Scaling group with the desired configuration: %v", err))
				return refreshIDResult(r.ID), nil
			}
		}
		e.finish(r, statusSuccessful, "")
		return refreshIDResult(r.ID), nil
	}
	if !e.startWorker(func() { e.run(r, mc, plan) }) {
		e.finish(r, statusFailed, "The emulator is shutting down.")
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The emulator is shutting down."}
	}
	return refreshIDResult(r.ID), nil
}

func refreshIDResult(id string) *xmlNode { return elem("Result", leaf("InstanceRefreshId", id)) }

// defaultWarmup is the InstanceWarmup a refresh uses when the request has
// none: the group's DefaultInstanceWarmup, else its HealthCheckGracePeriod.
func (e *engine) defaultWarmup(key groupKey, g *asgtypes.AutoScalingGroup, prefs preferences) time.Duration {
	if prefs.InstanceWarmup != nil {
		return time.Duration(*prefs.InstanceWarmup) * time.Second
	}
	e.mu.Lock()
	w, ok := e.warmups[key]
	e.mu.Unlock()
	switch {
	case ok:
		return time.Duration(w) * time.Second
	case g.DefaultInstanceWarmup != nil:
		return time.Duration(*g.DefaultInstanceWarmup) * time.Second
	case g.HealthCheckGracePeriod != nil:
		return time.Duration(*g.HealthCheckGracePeriod) * time.Second
	}
	return 0
}

// warmupOf is the DefaultInstanceWarmup recorded for a group.
func (e *engine) warmupOf(region, group string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.warmups[groupKey{Region: region, Name: group}]
	return w, ok
}

// recordDefaultWarmup keeps the DefaultInstanceWarmup of a group created or
// updated through the emulator, which moto accepts but does not store.
func (e *engine) recordDefaultWarmup(region string, form url.Values) {
	v := form.Get("DefaultInstanceWarmup")
	name := form.Get("AutoScalingGroupName")
	if v == "" || name == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := groupKey{Region: region, Name: name}
	if n < 0 {
		delete(e.warmups, key) // -1 clears it
		return
	}
	e.warmups[key] = n
}

// plan works out which instances a refresh replaces: the group's InService
// instances, less those already on the desired configuration with
// SkipMatching, with protected and Standby instances treated as the
// preferences say. Instances that must be waited for go last.
func (e *engine) plan(mc *motoClients, key groupKey, g *asgtypes.AutoScalingGroup, want, original launchSpec, prefs preferences) (workPlan, error) {
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	insts, err := mc.describeInstances(e.ctx, ids)
	if err != nil {
		return workPlan{}, err
	}
	subnets := splitSubnets(aws.ToString(g.VPCZoneIdentifier))
	var plan workPlan
	var blocked []target
	for _, m := range g.Instances {
		id := aws.ToString(m.InstanceId)
		inst := insts[id]
		t := target{ID: id, Where: placeOf(inst.SubnetId, inst.Placement, subnets)}
		if t.Where.AZ == "" {
			t.Where.AZ = aws.ToString(m.AvailabilityZone)
		}
		if m.LifecycleState == asgtypes.LifecycleStateStandby && prefs.Standby == "Terminate" {
			plan.TerminateStandby = append(plan.TerminateStandby, t)
			continue
		}
		block, skip := classify(m, prefs)
		if skip {
			continue
		}
		if prefs.SkipMatching && e.matches(key.Region, inst, want, original) {
			continue
		}
		t.Block = block
		if block == "" {
			plan.Targets = append(plan.Targets, t)
		} else {
			blocked = append(blocked, t)
		}
	}
	plan.Targets = append(plan.Targets, blocked...)
	return plan, nil
}

// matches reports whether an instance already runs the wanted launch
// template version. For instances the emulator launched it knows; moto does
// not record versions per instance, so any other instance is taken to run
// the group's configured version if it has that version's image.
func (e *engine) matches(region string, inst ec2types.Instance, want, group launchSpec) bool {
	if want.Template == nil {
		return false
	}
	if want.overrideImage() != "" {
		// AWS: "When skip matching is enabled, Auto Scaling compares each
		// instance's current AMI ID against the AMI IDs in your desired
		// configuration."
		return slices.Contains(want.OverrideImages, aws.ToString(inst.ImageId))
	}
	if o, ok := e.originOf(region, aws.ToString(inst.InstanceId)); ok {
		return o.TemplateID == want.Template.ID && o.Number == want.Template.Number
	}
	gt := group.Template
	return gt != nil && aws.ToString(inst.ImageId) == gt.ImageID &&
		gt.ID == want.Template.ID && gt.Number == want.Template.Number
}

// replaceRootVolumeBlocker checks the requirements AWS lists for the
// ReplaceRootVolume strategy ("Replace root volumes during instance
// refresh", Amazon EC2 Auto Scaling User Guide):
//
//   - "Your Auto Scaling group must use a mixed instances policy"
//   - "All overrides in the mixed instances policy must specify an ImageId"
//   - "AMIs must contain only a single root volume"
//   - "You must start the instance refresh with a desired configuration
//     having a mixed instances policy containing ImageId overrides."
//
// "All instances must match the group's launch template configuration" is
// not checked: moto does not record what an instance was launched from.
func (e *engine) replaceRootVolumeBlocker(ctx context.Context, mc *motoClients, region string, original launchSpec, desired *launchSpec) *apiError {
	switch {
	case !original.Mixed:
		return validationError("The ReplaceRootVolume strategy is only supported for Auto Scaling groups that use a mixed instances policy.")
	case desired == nil || !desired.Mixed:
		return validationError("The ReplaceRootVolume strategy requires a desired configuration with a mixed instances policy whose overrides specify an ImageId.")
	case len(desired.OverrideImages) == 0:
		return validationError("The ReplaceRootVolume strategy requires a desired mixed instances policy with overrides, each specifying an ImageId.")
	}
	seen := map[string]bool{}
	for i, img := range desired.OverrideImages {
		if img == "" {
			return validationError("The ReplaceRootVolume strategy requires an ImageId in every override of the mixed instances policy; override %d has none.", i+1)
		}
		if seen[img] {
			continue
		}
		seen[img] = true
		n, found, err := mc.ebsVolumes(ctx, img)
		if recorded, ok := e.imageVolumes(region, img); ok && found {
			n = recorded
		}
		switch {
		case err != nil:
			return toAPIError(err)
		case !found:
			return validationError("The AMI %s of override %d does not exist.", img, i+1)
		case n != 1:
			return validationError("The AMI %s of override %d has %d EBS volumes. The ReplaceRootVolume strategy supports only AMIs with a single root volume.", img, i+1, n)
		}
	}
	return nil
}

// rollbackBlocker says why a refresh could not be rolled back, or "". AWS
// documents that a rollback needs a desired configuration, a group on a
// numbered launch template version (not $Latest or $Default, and not a
// launch configuration), and no AMI given as an SSM parameter; the desired
// version must be numbered too.
func rollbackBlocker(desired url.Values, desiredSpec *launchSpec, original launchSpec) string {
	switch {
	case desired == nil || desiredSpec == nil:
		return "the instance refresh has no desired configuration"
	case original.LaunchConfig != nil:
		return "the Auto Scaling group uses a launch configuration, and a rollback needs a launch template"
	case original.Template != nil && !original.Template.numbered():
		return fmt.Sprintf("the Auto Scaling group uses version %s of its launch template; a rollback needs a specific version number, not $Latest or $Default", versionLabel(original.Template.Version))
	case desiredSpec.Template != nil && !desiredSpec.Template.numbered():
		return fmt.Sprintf("the desired configuration uses version %s of its launch template; a rollback needs a specific version number, not $Latest or $Default", versionLabel(desiredSpec.Template.Version))
	case strings.HasPrefix(original.imageID(), "resolve:ssm:"):
		return "the Auto Scaling group's launch template gives its AMI as a Systems Manager parameter (" + original.imageID() + ")"
	case strings.HasPrefix(desiredSpec.imageID(), "resolve:ssm:"):
		return "the desired launch template gives its AMI as a Systems Manager parameter (" + desiredSpec.imageID() + ")"
	}
	return ""
}

func versionLabel(v string) string {
	if v == "" {
		return "$Default"
	}
	return v
}

// constraintError is AWS's ValidationError for a preference value that
// breaks a constraint of the API's model.
func constraintError(value, name, rule string) *apiError {
	return validationError("1 validation error detected: Value '%s' at 'preferences.%s' failed to satisfy constraint: %s", value, lowerFirst(name), rule)
}

// parsePreferences reads and validates Preferences, filling in the API's
// defaults (which are not the console's); a group's instance maintenance
// policy comes on top (withMaintenancePolicy).
func parsePreferences(form url.Values) (preferences, *apiError) {
	p := preferences{MinHealthy: 90, ScaleInProtected: "Wait", Standby: "Wait"}
	var aerr *apiError
	intPref := func(name string, lo, hi int) *int {
		v := form.Get("Preferences." + name)
		if v == "" || aerr != nil {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			aerr = constraintError(v, name, "Member must be an integer")
			return nil
		}
		if n < lo {
			aerr = constraintError(strconv.Itoa(n), name, "Member must have value greater than or equal to "+strconv.Itoa(lo))
			return nil
		}
		if n > hi {
			aerr = constraintError(strconv.Itoa(n), name, "Member must have value less than or equal to "+strconv.Itoa(hi))
			return nil
		}
		return &n
	}
	boolPref := func(name string) bool {
		v := form.Get("Preferences." + name)
		if v == "" || aerr != nil {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			aerr = constraintError(v, name, "Member must be a boolean")
		}
		return b
	}
	enumPref := func(name, def string, allowed ...string) string {
		v := form.Get("Preferences." + name)
		if v == "" || aerr != nil {
			return def
		}
		for _, a := range allowed {
			if v == a {
				return v
			}
		}
		aerr = constraintError(v, name, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
		return def
	}

	minGiven := intPref("MinHealthyPercentage", 0, 100)
	if minGiven != nil {
		p.MinHealthy, p.minGiven = *minGiven, true
	}
	if maxH := intPref("MaxHealthyPercentage", 100, 200); maxH != nil {
		switch {
		case minGiven == nil:
			return p, validationError("The request isn't valid. You must specify MinHealthyPercentage when you specify MaxHealthyPercentage.")
		case *maxH-p.MinHealthy > 100:
			return p, validationError("The request isn't valid. The difference between MaxHealthyPercentage (%d) and MinHealthyPercentage (%d) can't be more than 100.", *maxH, p.MinHealthy)
		}
		p.MaxHealthy = *maxH
	}
	p.InstanceWarmup = intPref("InstanceWarmup", 0, 1<<31-1)
	p.CheckpointDelay = intPref("CheckpointDelay", 0, maxDelaySeconds)
	if bake := intPref("BakeTime", 0, maxDelaySeconds); bake != nil {
		p.BakeTime = *bake
	}
	p.SkipMatching = boolPref("SkipMatching")
	p.AutoRollback = boolPref("AutoRollback")
	p.ScaleInProtected = enumPref("ScaleInProtectedInstances", "Wait", "Refresh", "Ignore", "Wait")
	p.Standby = enumPref("StandbyInstances", "Wait", "Terminate", "Ignore", "Wait")
	if aerr != nil {
		return p, aerr
	}

	for _, v := range memberList(form, "Preferences.CheckpointPercentages") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return p, validationError("The request isn't valid. Checkpoint percentages must be whole numbers from 1 to 100; %q is not.", v)
		}
		if len(p.Checkpoints) > 0 && n <= p.Checkpoints[len(p.Checkpoints)-1] {
			return p, validationError("The request isn't valid. Checkpoint percentages must be unique and in ascending order.")
		}
		p.Checkpoints = append(p.Checkpoints, n)
	}
	if len(p.Checkpoints) > 0 && p.CheckpointDelay == nil {
		d := 3600 // the API default once checkpoints are set
		p.CheckpointDelay = &d
	}
	if hasPrefix(form, "Preferences.AlarmSpecification") {
		p.alarmsGiven = true
		p.Alarms = memberList(form, "Preferences.AlarmSpecification.Alarms")
		if len(p.Alarms) > maxAlarms {
			return p, validationError("1 validation error detected: Value at 'preferences.alarmSpecification.alarms' failed to satisfy constraint: Member must have length less than or equal to %d", maxAlarms)
		}
	}
	return p, nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (e *engine) describeInstanceRefreshes(q *queryRequest) (*xmlNode, *apiError) {
	name := q.Form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	maxRecords, aerr := maxRecordsParam(q.Form, defaultRefreshRecords, maxRefreshRecords)
	if aerr != nil {
		return nil, aerr
	}
	wanted := map[string]bool{}
	for _, id := range memberList(q.Form, "InstanceRefreshIds") {
		wanted[id] = true
	}

	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	all := e.refreshes[groupKey{Region: q.Region, Name: name}]
	var list []*refresh
	for i := len(all) - 1; i >= 0; i-- { // newest first
		if now.Before(all[i].visibleFrom) {
			continue // not yet visible to Describe: eventual consistency
		}
		if len(wanted) == 0 || wanted[all[i].ID] {
			list = append(list, all[i])
		}
	}
	status := ""
	if rs, ok := e.reported[name]; ok {
		if rs.Until.IsZero() || now.Before(rs.Until) {
			status = rs.Status
		} else {
			delete(e.reported, name)
		}
	}
	from, to, next, aerr := page(len(list), maxRecords, q.Form.Get("NextToken"))
	if aerr != nil {
		return nil, aerr
	}
	members := elem("InstanceRefreshes")
	for _, r := range list[from:to] {
		members.add(r.xmlLocked(status))
	}
	return elem("Result", members, optLeaf("NextToken", next)), nil
}

// xmlLocked renders r as an InstanceRefresh, reporting status instead of
// its own unless status is "". Caller holds engine.mu.
func (r *refresh) xmlLocked(status string) *xmlNode {
	if status == "" {
		status = r.Status
	}
	pct := percent(r.Done, r.Total)
	if r.Status == statusSuccessful {
		pct = 100
	}
	toUpdate := max(r.Total-r.Done, 0)
	m := elem("member",
		leaf("InstanceRefreshId", r.ID),
		leaf("AutoScalingGroupName", r.Key.Name),
		leaf("Status", status),
		optLeaf("StatusReason", r.Reason),
		leafTime("StartTime", r.StartTime),
		optTime("EndTime", r.EndTime),
		leafInt("PercentageComplete", int64(pct)),
		leafInt("InstancesToUpdate", int64(toUpdate)),
		elem("ProgressDetails", livePool(pct, toUpdate)),
		r.preferencesXML(),
		r.desiredXML(),
		leaf("Strategy", r.Strategy),
	)
	if rb := r.Rollback; rb != nil {
		rpct := percent(rb.Done, rb.Total)
		rleft := max(rb.Total-rb.Done, 0)
		m.add(elem("RollbackDetails",
			optLeaf("RollbackReason", rb.Reason),
			leafTime("RollbackStartTime", rb.Start),
			leafInt("PercentageCompleteOnRollback", int64(rpct)),
			leafInt("InstancesToUpdateOnRollback", int64(rleft)),
			elem("ProgressDetailsOnRollback", livePool(rpct, rleft)),
		))
	}
	return m
}

func livePool(pct, left int) *xmlNode {
	return elem("LivePoolProgress", leafInt("PercentageComplete", int64(pct)), leafInt("InstancesToUpdate", int64(left)))
}

// preferencesXML reports the preferences the refresh runs with, defaults
// included, as AWS does.
func (r *refresh) preferencesXML() *xmlNode {
	p := r.Prefs
	n := elem("Preferences", leafInt("MinHealthyPercentage", int64(p.MinHealthy)))
	if p.MaxHealthy > 0 {
		n.add(leafInt("MaxHealthyPercentage", int64(p.MaxHealthy)))
	}
	n.add(leafInt("InstanceWarmup", int64(r.Warmup/time.Second)))
	if len(p.Checkpoints) > 0 {
		cps := elem("CheckpointPercentages")
		for _, c := range p.Checkpoints {
			cps.add(leafInt("member", int64(c)))
		}
		n.add(cps)
	}
	if p.CheckpointDelay != nil {
		n.add(leafInt("CheckpointDelay", int64(*p.CheckpointDelay)))
	}
	n.add(leafBool("SkipMatching", p.SkipMatching), leafBool("AutoRollback", p.AutoRollback),
		leaf("ScaleInProtectedInstances", p.ScaleInProtected), leaf("StandbyInstances", p.Standby))
	if p.alarmsGiven {
		alarms := elem("Alarms")
		for _, a := range p.Alarms {
			alarms.add(leaf("member", a))
		}
		n.add(elem("AlarmSpecification", alarms))
	}
	if p.BakeTime > 0 {
		n.add(leafInt("BakeTime", int64(p.BakeTime)))
	}
	return n
}

// desiredXML echoes the DesiredConfiguration. A launch template is reported
// with both its id and name, as AWS does; a mixed instances policy is echoed
// as it was sent.
func (r *refresh) desiredXML() *xmlNode {
	if r.Desired == nil {
		return nil
	}
	if r.DesiredSpec != nil && !r.DesiredSpec.Mixed && r.DesiredSpec.Template != nil {
		t := r.DesiredSpec.Template
		return elem("DesiredConfiguration", elem("LaunchTemplate",
			leaf("LaunchTemplateId", t.ID), leaf("LaunchTemplateName", t.Name), optLeaf("Version", t.Version)))
	}
	return paramTree("DesiredConfiguration", r.Desired)
}

func (e *engine) cancelInstanceRefresh(q *queryRequest) (*xmlNode, *apiError) {
	name := q.Form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.activeRefreshLocked(groupKey{Region: q.Region, Name: name})
	if r == nil || r.committing {
		return nil, senderError("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh found for Auto Scaling group %s", name)
	}
	r.cancelReq = true
	r.Status = statusCancelling
	r.Reason = "Cancelling the instance refresh; instances being replaced right now are finished first."
	r.wake()
	return refreshIDResult(r.ID), nil
}

func (e *engine) rollbackInstanceRefresh(q *queryRequest) (*xmlNode, *apiError) {
	name := q.Form.Get("AutoScalingGroupName")
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.activeRefreshLocked(groupKey{Region: q.Region, Name: name})
	if r == nil || r.committing || r.Status == statusRollbackInProgress {
		return nil, senderError("ActiveInstanceRefreshNotFound", "No in progress or pending Instance Refresh that can be rolled back found for Auto Scaling group %s", name)
	}
	if why := rollbackBlocker(r.Desired, r.DesiredSpec, r.Original); why != "" {
		return nil, senderError("IrreversibleInstanceRefresh", "The instance refresh %s can't be rolled back: %s.", r.ID, why)
	}
	r.rollbackReq = true
	r.cancelReq = false
	r.Status = statusRollbackInProgress
	r.Reason = "Rolling back: replacing the instances launched by this instance refresh with instances of the group's previous configuration."
	r.Rollback = &rollbackInfo{Reason: "A user started the rollback with RollbackInstanceRefresh.", Start: e.clock.Now(), Total: len(r.launched)}
	r.wake()
	return refreshIDResult(r.ID), nil
}

// wake pokes r's worker out of an interruptible sleep.
func (r *refresh) wake() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func (e *engine) describeScalingActivities(q *queryRequest) (*xmlNode, *apiError) {
	maxRecords, aerr := maxRecordsParam(q.Form, maxActivityRecords, maxActivityRecords)
	if aerr != nil {
		return nil, aerr
	}
	name := q.Form.Get("AutoScalingGroupName")
	wanted := map[string]bool{}
	for _, id := range memberList(q.Form, "ActivityIds") {
		wanted[id] = true
	}
	e.mu.Lock()
	var list []*activity
	for k, acts := range e.activities {
		if k.Region != q.Region || (name != "" && k.Name != name) {
			continue
		}
		for _, a := range acts {
			if len(wanted) == 0 || wanted[a.ID] {
				list = append(list, a)
			}
		}
	}
	e.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { // newest first
		if !list[i].Start.Equal(list[j].Start) {
			return list[i].Start.After(list[j].Start)
		}
		return list[i].seq > list[j].seq
	})

	from, to, next, aerr := page(len(list), maxRecords, q.Form.Get("NextToken"))
	if aerr != nil {
		return nil, aerr
	}
	members := elem("Activities")
	for _, a := range list[from:to] {
		members.add(elem("member",
			leaf("ActivityId", a.ID),
			leaf("AutoScalingGroupName", a.Key.Name),
			optLeaf("AutoScalingGroupARN", a.GroupARN),
			leaf("Description", a.Description),
			leaf("Cause", a.Cause),
			leafTime("StartTime", a.Start),
			optTime("EndTime", a.End),
			leaf("StatusCode", a.StatusCode),
			optLeaf("StatusMessage", a.StatusMessage),
			leafInt("Progress", 100),
			optLeaf("Details", a.Details),
		))
	}
	return elem("Result", members, optLeaf("NextToken", next)), nil
}

func maxRecordsParam(form url.Values, def, hi int) (int, *apiError) {
	v := form.Get("MaxRecords")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > hi {
		return 0, validationError("1 validation error detected: Value '%s' at 'maxRecords' failed to satisfy constraint: Member must be between 1 and %d", v, hi)
	}
	return n, nil
}

// page returns the slice bounds of one page and the token of the next.
// Tokens are opaque to clients; here they encode the offset.
func page(total, size int, token string) (from, to int, next string, aerr *apiError) {
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		n, perr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), "offset:") || n < 0 || n > total {
			return 0, 0, "", validationError("The NextToken value is invalid.")
		}
		from = n
	}
	to = min(from+size, total)
	if to < total {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(to)))
	}
	return from, to, next, nil
}

// blocksConfigUpdate tells whether an UpdateAutoScalingGroup request must be
// refused because it would change what an active refresh with a desired
// configuration is rolling out, as AWS refuses it.
func (e *engine) blocksConfigUpdate(q *queryRequest) *apiError {
	if !hasPrefix(q.Form, "LaunchTemplate.") && !hasPrefix(q.Form, "MixedInstancesPolicy.") && q.Form.Get("LaunchConfigurationName") == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.activeRefreshLocked(groupKey{Region: q.Region, Name: q.Form.Get("AutoScalingGroupName")})
	if r == nil || r.Desired == nil {
		return nil
	}
	return validationError("An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active.")
}

// groupTags returns the group's tags that propagate to new instances.
func groupTags(g *asgtypes.AutoScalingGroup) []ec2types.Tag {
	tags := map[string]string{}
	for _, t := range g.Tags {
		if aws.ToBool(t.PropagateAtLaunch) {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return propagatedTags(tags)
}

func splitSubnets(vpcZoneIdentifier string) []string {
	var out []string
	for _, s := range strings.Split(vpcZoneIdentifier, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// placeOf places a replacement where the old instance is: its subnet, else
// the group's first subnet, else its Availability Zone.
func placeOf(subnetID *string, pl *ec2types.Placement, groupSubnets []string) placement {
	p := placement{SubnetID: aws.ToString(subnetID)}
	if pl != nil {
		p.AZ = aws.ToString(pl.AvailabilityZone)
	}
	if p.SubnetID == "" && len(groupSubnets) > 0 {
		p.SubnetID = groupSubnets[0]
	}
	return p
}
