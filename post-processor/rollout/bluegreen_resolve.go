package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// resolveBlueGreen finds the live group of ro's line, reads all of its
// configuration and checks that a new group beside it can be made and the
// old one retired. It changes nothing. What the new group could not copy
// faithfully is refused here, naming the setting.
func (r *roller) resolveBlueGreen(ctx context.Context, ro *rollout) error {
	if ro.clients.blueGreen == nil || ro.clients.elbv2 == nil || ro.clients.elb == nil || ro.clients.subnets == nil {
		return fmt.Errorf("Auto Scaling group (%s): no Elastic Load Balancing or subnet client for a blue/green roll-out", ro.group)
	}
	// A re-read (a later wave) starts again from what AWS says.
	*ro.bg = blueGreen{}
	ro.templateUse, ro.mixed, ro.overrides, ro.lc, ro.upToDate, ro.warnings = templateUse{}, nil, nil, nil, "", nil
	bg := ro.bg
	old, resume, err := r.findLive(ctx, ro)
	if err != nil {
		return err
	}
	if old == nil { // our own group already serves: the last run finished
		ro.upToDate = fmt.Sprintf("group %s, made for %s by an earlier run, is the live group", aws.ToString(resume.AutoScalingGroupName), ro.imageID)
		bg.oldName = aws.ToString(resume.AutoScalingGroupName)
		return nil
	}
	g := *old
	bg.old, bg.oldName, bg.resume = g, aws.ToString(g.AutoScalingGroupName), resume
	bg.base = tagValue(g.Tags, tagBaseName)
	if bg.base == "" {
		bg.base = bg.oldName
	}
	if err := checkOperator(g); err != nil {
		return err
	}
	if err := r.checkCopyable(ctx, ro, g); err != nil {
		return err
	}
	if err := ro.readTemplate(g, true); err != nil {
		return err
	}
	if ro.lc != nil {
		// The new group gets a copy of it, with the new AMI.
		if err := readLaunchConfiguration(ctx, ro, bg.oldName); err != nil {
			return err
		}
	} else {
		for _, tu := range ro.templates() {
			if err := r.readVersion(ctx, ro, tu); err != nil {
				return err
			}
		}
	}
	if ro.imageID != "" {
		if err := r.checkImage(ctx, ro); err != nil {
			return err
		}
		if err := r.nameNewGroup(ctx, ro); err != nil {
			return err
		}
	}
	if err := r.checkQuiet(ctx, ro, g); err != nil {
		return err
	}
	if err := r.checkRetirement(ro, g); err != nil {
		return err
	}
	if bg.resume == nil {
		if err := r.checkRoom(ctx, ro, g); err != nil {
			return err
		}
	}
	if err := r.checkPermissions(ctx, ro, g); err != nil {
		return err
	}
	if ro.imageID != "" && bg.resume == nil && launchesOnly(ro, ro.imageID) {
		ro.upToDate = fmt.Sprintf("group %s already launches %s", bg.oldName, ro.imageID)
	}
	return nil
}

// findLive finds the live group of ro's line (ro.group is its base name,
// or the name of a group that has none yet) and, after a crash, the new
// group an earlier run of this build made for it. Candidates are the
// groups tagged with the base name and the group of that name, retired
// ones left out. One carrying this AMI's tag is ours; of the others there
// must be exactly one. With only ours, it is live already: old is nil.
func (r *roller) findLive(ctx context.Context, ro *rollout) (old, ours *astypes.AutoScalingGroup, err error) {
	tagged, err := groupsByTags(ctx, ro.clients.autoscaling, map[string]string{tagBaseName: ro.group})
	if err != nil {
		return nil, nil, err
	}
	out, err := ro.clients.autoscaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{ro.group}})
	if err != nil {
		return nil, nil, fmt.Errorf("describing Auto Scaling group (%s) in %s: %w", ro.group, ro.region, err)
	}
	candidates := tagged
	var retired []string
	for _, g := range out.AutoScalingGroups {
		if !slices.ContainsFunc(candidates, func(c astypes.AutoScalingGroup) bool {
			return aws.ToString(c.AutoScalingGroupName) == aws.ToString(g.AutoScalingGroupName)
		}) {
			candidates = append(candidates, g)
		}
	}
	var others, mine, leftovers []astypes.AutoScalingGroup
	for _, g := range candidates {
		name := aws.ToString(g.AutoScalingGroupName)
		switch {
		case tagValue(g.Tags, tagRetired) != "":
			retired = append(retired, name)
		case strings.EqualFold(aws.ToString(g.Status), "Delete in progress"):
		case ro.imageID != "" && tagValue(g.Tags, tagImage) == ro.imageID:
			mine = append(mine, g)
		case tagValue(g.Tags, tagPending) != "":
			leftovers = append(leftovers, g)
		default:
			others = append(others, g)
		}
	}
	if len(leftovers) > 0 {
		var parts []string
		for _, g := range leftovers {
			name := aws.ToString(g.AutoScalingGroupName)
			parts = append(parts, fmt.Sprintf("%s (made for %s at %s, never cut over: aws autoscaling detach-load-balancer-target-groups / detach-load-balancers for it, then aws autoscaling delete-auto-scaling-group --region %s --auto-scaling-group-name %s --force-delete)",
				name, orDash(tagValue(g.Tags, tagImage)), tagValue(g.Tags, tagPending), ro.region, name))
		}
		return nil, nil, fmt.Errorf("line %s has a new group left by an interrupted or crashed roll-out of another build beside its live group: %s; it may be serving beside the live group: take it out of the load balancers and delete it, then run again", ro.group, strings.Join(parts, "; "))
	}
	names := func(gs []astypes.AutoScalingGroup) string {
		var ns []string
		for _, g := range gs {
			ns = append(ns, aws.ToString(g.AutoScalingGroupName))
		}
		return strings.Join(ns, ", ")
	}
	switch {
	case len(mine) > 1:
		return nil, nil, fmt.Errorf("Auto Scaling groups %s all carry %s = %s for line %s: delete all but one, then run again", names(mine), tagImage, ro.imageID, ro.group)
	case len(others) > 1:
		return nil, nil, fmt.Errorf("line %s has %d live groups (%s): a blue/green roll-out needs exactly one group tagged %s = %s (or named %s) without %s; retire or delete the others (a group left by a crashed run of another build carries %s with that build's AMI)",
			ro.group, len(others), names(others), tagBaseName, ro.group, ro.group, tagRetired, tagImage)
	case len(others) == 1 && len(mine) == 1:
		return &others[0], &mine[0], nil
	case len(others) == 1:
		return &others[0], nil, nil
	case len(mine) == 1 && tagValue(mine[0].Tags, tagPending) != "":
		return nil, nil, fmt.Errorf("Auto Scaling group (%s), made for %s, was never cut over, and no live group of line %s is beside it: let it serve by removing its %s tag, or delete it, then run again", aws.ToString(mine[0].AutoScalingGroupName), ro.imageID, ro.group, tagPending)
	case len(mine) == 1:
		return nil, &mine[0], nil
	case len(retired) > 0:
		return nil, nil, fmt.Errorf("Auto Scaling group (%s) in %s: every group of this line is retired (%s, tagged %s); remove the tag from the one that should serve, or give auto_scaling_group the live group's base name", ro.group, ro.region, strings.Join(retired, ", "), tagRetired)
	}
	return nil, nil, fmt.Errorf("Auto Scaling group (%s) not found in %s, and no group carries %s = %s; check target.auto_scaling_group and the region", ro.group, ro.region, tagBaseName, ro.group)
}

// checkCopyable reads what the new group must copy besides the group's own
// fields (policies, scheduled actions, hooks, notifications, warm pool)
// and refuses what it could not copy faithfully.
func (r *roller) checkCopyable(ctx context.Context, ro *rollout, g astypes.AutoScalingGroup) error {
	bg, name := ro.bg, aws.ToString(g.AutoScalingGroupName)
	refuse := func(setting, why string) error {
		return fmt.Errorf("Auto Scaling group (%s) cannot be rolled blue/green: %s: %s; change that, or use strategy = \"instance-refresh\" for this target", name, setting, why)
	}
	if stack := tagValue(g.Tags, "aws:cloudformation:stack-name"); stack != "" {
		return refuse("CloudFormation stack "+stack, "the stack owns the group, and a new group beside it would be outside the stack (drift the next stack update undoes)")
	}
	if len(g.SuspendedProcesses) > 0 {
		var ps []string
		for _, p := range g.SuspendedProcesses {
			ps = append(ps, aws.ToString(p.ProcessName))
		}
		return refuse("suspended processes "+strings.Join(ps, ", "), "the new group would have to start with them suspended, and then never launch, register or heal as the cut-over needs; resume them first")
	}
	if g.WarmPoolConfiguration != nil {
		return refuse("warm pool", "a warm pool is not copied: the new group's would have to be filled before the cut-over; delete the warm pool first")
	}
	bg.targetGroups = append([]string{}, g.TargetGroupARNs...)
	bg.loadBalancers = append([]string{}, g.LoadBalancerNames...)
	for _, ts := range g.TrafficSources {
		id := aws.ToString(ts.Identifier)
		if slices.Contains(bg.targetGroups, id) || slices.Contains(bg.loadBalancers, id) {
			continue
		}
		return refuse(fmt.Sprintf("traffic source %s (%s)", id, aws.ToString(ts.Type)), "only target groups and classic load balancers attached with attach-load-balancer-target-groups or attach-load-balancers are copied and drained")
	}

	var policies []astypes.ScalingPolicy
	pin := &autoscaling.DescribePoliciesInput{AutoScalingGroupName: g.AutoScalingGroupName}
	for page := 0; ; page++ {
		out, err := ro.clients.blueGreen.DescribePolicies(ctx, pin)
		if err != nil {
			return fmt.Errorf("describing the scaling policies of Auto Scaling group (%s): %w", name, err)
		}
		policies = append(policies, out.ScalingPolicies...)
		if aws.ToString(out.NextToken) == "" || page == maxGroupPages {
			break
		}
		pin.NextToken = out.NextToken
	}
	for _, p := range policies {
		pn, pt := aws.ToString(p.PolicyName), aws.ToString(p.PolicyType)
		switch {
		case (pt == "StepScaling" || pt == "SimpleScaling" || pt == "") && len(p.Alarms) > 0:
			var alarms []string
			for _, a := range p.Alarms {
				alarms = append(alarms, aws.ToString(a.AlarmName))
			}
			return refuse(fmt.Sprintf("%s policy %s", pt, pn), fmt.Sprintf("CloudWatch alarms (%s) invoke it by its ARN, and a copy on the new group has another ARN that they would not invoke; replace it with a target tracking policy, or remove it for the roll-out", strings.Join(alarms, ", ")))
		case pt == "PredictiveScaling" && p.PredictiveScalingConfiguration != nil && predictiveCustomized(p.PredictiveScalingConfiguration):
			return refuse("predictive scaling policy "+pn, "its customized metrics are not copied; use predefined metrics")
		}
	}
	bg.policies = policies
	ain := &autoscaling.DescribeScheduledActionsInput{AutoScalingGroupName: g.AutoScalingGroupName}
	for page := 0; ; page++ {
		out, err := ro.clients.blueGreen.DescribeScheduledActions(ctx, ain)
		if err != nil {
			return fmt.Errorf("describing the scheduled actions of Auto Scaling group (%s): %w", name, err)
		}
		bg.scheduled = append(bg.scheduled, out.ScheduledUpdateGroupActions...)
		if aws.ToString(out.NextToken) == "" || page == maxGroupPages {
			break
		}
		ain.NextToken = out.NextToken
	}
	hooks, err := ro.clients.blueGreen.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: g.AutoScalingGroupName})
	if err != nil {
		return fmt.Errorf("describing the lifecycle hooks of Auto Scaling group (%s): %w", name, err)
	}
	bg.hooks = hooks.LifecycleHooks
	notes, err := ro.clients.blueGreen.DescribeNotificationConfigurations(ctx, &autoscaling.DescribeNotificationConfigurationsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return fmt.Errorf("describing the notification configurations of Auto Scaling group (%s): %w", name, err)
	}
	bg.notifications = notes.NotificationConfigurations
	return nil
}

// predictiveCustomized reports whether a predictive scaling policy uses
// customized metrics, which name the group they measure.
func predictiveCustomized(c *astypes.PredictiveScalingConfiguration) bool {
	for _, m := range c.MetricSpecifications {
		if m.CustomizedCapacityMetricSpecification != nil || m.CustomizedLoadMetricSpecification != nil || m.CustomizedScalingMetricSpecification != nil {
			return true
		}
	}
	return false
}

// readVersion turns the group's template reference into a number and reads
// that version's AMI. Unlike a refresh, a blue/green roll-out never goes
// back through AWS, so $Latest and $Default are fine: the new group is
// pinned to the new version's number.
func (r *roller) readVersion(ctx context.Context, ro *rollout, tu *templateUse) error {
	ref, err := readTemplateVersion(ctx, ro, tu, ro.bg.oldName)
	if err != nil {
		return err
	}
	if ref == "$Latest" {
		r.say(ro, "group %s launches $Latest of %s: from the moment the new version exists, any instance it launches (scaling during the roll-out) runs the new AMI; the new group is pinned to the version number", ro.bg.oldName, tu.templateID)
	}
	return nil
}

// launchesOnly reports whether everything the group launches from already
// has ami.
func launchesOnly(ro *rollout, ami string) bool {
	for _, li := range ro.launchedImages() {
		if li.image != ami {
			return false
		}
	}
	return true
}

// nameNewGroup renders blue_green.group_name, and checks that the name is
// one Auto Scaling accepts and is free, or is our own group from an
// earlier run.
func (r *roller) nameNewGroup(ctx context.Context, ro *rollout) error {
	bg := ro.bg
	name, err := renderGroupName(r.cfg.BlueGreen.groupName, groupNameData{
		BaseName: bg.base, ImageId: ro.imageID, ImageSuffix: strings.TrimPrefix(ro.imageID, "ami-"), Region: ro.region,
	})
	if err != nil {
		return fmt.Errorf("blue_green.group_name: rendering %q: %w", r.cfg.BlueGreen.GroupName, err)
	}
	switch {
	case name == "":
		return fmt.Errorf("blue_green.group_name: %q renders to an empty name", r.cfg.BlueGreen.GroupName)
	case utf8.RuneCountInString(name) > maxGroupName:
		return fmt.Errorf("blue_green.group_name: renders to a name of %d characters for Auto Scaling group (%s); Auto Scaling allows %d: shorten the template", utf8.RuneCountInString(name), bg.oldName, maxGroupName)
	case strings.Contains(name, ":") || !xmlChars(name):
		return fmt.Errorf("blue_green.group_name: renders to %q, which Auto Scaling refuses as a group name (a colon, or a control character)", name)
	case name == bg.oldName:
		return fmt.Errorf("blue_green.group_name: renders to %q, the live group's own name: this AMI is what the group was made for, or the template lacks {{ .ImageSuffix }}", name)
	}
	bg.newName = name
	if bg.resume != nil {
		if got := aws.ToString(bg.resume.AutoScalingGroupName); got != name {
			return fmt.Errorf("Auto Scaling group (%s) carries %s = %s from an earlier run, but blue_green.group_name now renders %q: delete %s, or set group_name back, then run again", got, tagImage, ro.imageID, name, got)
		}
		return nil
	}
	out, err := ro.clients.autoscaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return fmt.Errorf("describing Auto Scaling group (%s): %w", name, err)
	}
	if len(out.AutoScalingGroups) > 0 {
		return fmt.Errorf("Auto Scaling group (%s) already exists and is not this build's new group (it lacks %s = %s and %s = %s): delete it, or change blue_green.group_name", name, tagImage, ro.imageID, tagBaseName, bg.base)
	}
	return nil
}

// checkQuiet refuses a live group that something else is changing: a
// refresh or a scaling activity in progress. The new group copies the
// group as it is now, and the old one must stay as it is until the
// cut-over.
func (r *roller) checkQuiet(ctx context.Context, ro *rollout, g astypes.AutoScalingGroup) error {
	name := aws.ToString(g.AutoScalingGroupName)
	active, err := instancerefresh.FindActive(ctx, ro.clients.autoscaling, name)
	if err != nil {
		return err
	}
	if active != nil {
		return fmt.Errorf("Auto Scaling group (%s) has instance refresh (%s) %s: a blue/green roll-out would copy a group in the middle of changing; wait for it to end, or cancel it", name, aws.ToString(active.InstanceRefreshId), active.Status)
	}
	out, err := ro.clients.autoscaling.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(name), MaxRecords: aws.Int32(20)})
	if err != nil {
		return fmt.Errorf("describing the scaling activities of Auto Scaling group (%s): %w", name, err)
	}
	for _, a := range out.Activities {
		switch a.StatusCode {
		case astypes.ScalingActivityStatusCodeSuccessful, astypes.ScalingActivityStatusCodeFailed, astypes.ScalingActivityStatusCodeCancelled:
			continue
		}
		return fmt.Errorf("Auto Scaling group (%s) has a scaling activity in progress (%s: %s): the new group would copy a capacity that is about to change; run again once it ends", name, a.StatusCode, aws.ToString(a.Description))
	}
	var standby []string
	for _, i := range g.Instances {
		if i.LifecycleState == astypes.LifecycleStateStandby {
			standby = append(standby, aws.ToString(i.InstanceId))
		}
	}
	if len(standby) > 0 {
		return fmt.Errorf("Auto Scaling group (%s) has instances in Standby (%s): they count in its desired capacity but serve nothing; return them to service or detach them first", name, strings.Join(standby, ", "))
	}
	return nil
}

// checkRetirement refuses what would keep the old group from being
// retired as old_group says, and warns about what would slow it.
func (r *roller) checkRetirement(ro *rollout, g astypes.AutoScalingGroup) error {
	name := aws.ToString(g.AutoScalingGroupName)
	if r.cfg.BlueGreen.OldGroup != OldGroupKeep {
		var protected []string
		for _, i := range g.Instances {
			if aws.ToBool(i.ProtectedFromScaleIn) {
				protected = append(protected, aws.ToString(i.InstanceId))
			}
		}
		if len(protected) > 0 {
			return fmt.Errorf("Auto Scaling group (%s) has instances protected from scale in (%s): scaling it to zero after the cut-over would leave them running (blue_green.old_group = %q); remove the protection (aws autoscaling set-instance-protection --no-protected-from-scale-in), or set old_group = \"keep\"",
				name, strings.Join(protected, ", "), r.cfg.BlueGreen.OldGroup)
		}
	}
	for _, h := range ro.bg.hooks {
		if aws.ToString(h.LifecycleTransition) == "autoscaling:EC2_INSTANCE_TERMINATING" && r.cfg.BlueGreen.OldGroup != OldGroupKeep {
			ro.warnings = append(ro.warnings, fmt.Sprintf("lifecycle hook %s holds each terminating instance of %s for up to %ds (or until completed): retiring the old group waits for it", aws.ToString(h.LifecycleHookName), name, aws.ToInt32(h.HeartbeatTimeout)))
		}
	}
	return nil
}

// checkRoom checks that the account's quotas and the group's subnets have
// room for a second group of the same size.
func (r *roller) checkRoom(ctx context.Context, ro *rollout, g astypes.AutoScalingGroup) error {
	name := aws.ToString(g.AutoScalingGroupName)
	lim, err := ro.clients.blueGreen.DescribeAccountLimits(ctx, &autoscaling.DescribeAccountLimitsInput{})
	if err != nil {
		return fmt.Errorf("describing the Auto Scaling account limits in %s: %w", ro.region, err)
	}
	if n, m := aws.ToInt32(lim.NumberOfAutoScalingGroups), aws.ToInt32(lim.MaxNumberOfAutoScalingGroups); m > 0 && n >= m {
		return fmt.Errorf("Auto Scaling group (%s): the account has %d of its %d Auto Scaling groups in %s, and a blue/green roll-out needs one more; delete unused groups (retired ones carry %s) or ask for a higher quota", name, n, m, ro.region, tagRetired)
	}
	if ro.lc != nil && ro.lc.sourceImage != ro.imageID {
		if n, m := aws.ToInt32(lim.NumberOfLaunchConfigurations), aws.ToInt32(lim.MaxNumberOfLaunchConfigurations); m > 0 && n >= m {
			return fmt.Errorf("Auto Scaling group (%s): the account has %d of its %d launch configurations in %s, and the new group needs a copy; delete unused ones or move the group to a launch template", name, n, m, ro.region)
		}
	}
	desired := aws.ToInt32(g.DesiredCapacity)
	var subnets []string
	for _, s := range strings.Split(aws.ToString(g.VPCZoneIdentifier), ",") {
		if s = strings.TrimSpace(s); s != "" {
			subnets = append(subnets, s)
		}
	}
	if len(subnets) == 0 || desired == 0 {
		return nil
	}
	out, err := ro.clients.subnets.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets})
	if err != nil {
		return fmt.Errorf("describing the subnets of Auto Scaling group (%s): %w", name, err)
	}
	free := int32(0)
	var parts []string
	for _, s := range out.Subnets {
		n := aws.ToInt32(s.AvailableIpAddressCount)
		free += n
		parts = append(parts, fmt.Sprintf("%s: %d", aws.ToString(s.SubnetId), n))
	}
	if free < desired {
		return fmt.Errorf("Auto Scaling group (%s): its subnets have %d free addresses (%s), and a second group of %d instances beside it needs %d; free addresses, add subnets to the group, or use strategy = \"instance-refresh\"", name, free, strings.Join(parts, ", "), desired, desired)
	}
	share := (desired + int32(len(subnets)) - 1) / int32(len(subnets))
	for _, s := range out.Subnets {
		if n := aws.ToInt32(s.AvailableIpAddressCount); n < share {
			ro.warnings = append(ro.warnings, fmt.Sprintf("subnet %s has %d free addresses, below its share (%d) of the new group's %d instances: Auto Scaling launches the rest in the other subnets, unbalanced", aws.ToString(s.SubnetId), n, share, desired))
		}
	}
	return nil
}

// tagValue is the value of a group's tag key, "" if the group has none.
func tagValue(tags []astypes.TagDescription, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// versionOf is the version number a group's launch template specification
// names, 0 when it names none.
func versionOf(spec *astypes.LaunchTemplateSpecification) int64 {
	if spec == nil {
		return 0
	}
	n, _ := strconv.ParseInt(aws.ToString(spec.Version), 10, 64)
	return n
}
