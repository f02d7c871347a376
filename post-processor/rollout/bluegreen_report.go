package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// blueGreenResult fills in the blue/green part of a group's result: which
// group serves now, and what became of the other.
func (res *Result) blueGreenResult(ro *rollout, dryRun bool) {
	bg := ro.bg
	if bg == nil {
		return
	}
	o := ro.outcome()
	res.Strategy = StrategyBlueGreen
	res.AutoScalingGroup = bg.oldName
	if res.AutoScalingGroup == "" {
		res.AutoScalingGroup = ro.group
	}
	res.NewGroup = bg.newName
	res.OldGroup = bg.oldName
	res.LiveGroup = bg.liveGroup(o)
	res.OldGroupState = bg.oldState
	if res.OldGroupState == "" {
		res.OldGroupState = oldUntouched
	}
	res.Message = bg.message
	switch {
	case dryRun:
		res.Status = "Planned"
	case ro.upToDate != "":
		res.Status, res.LiveGroup, res.Message = "UpToDate", bg.oldName, ro.upToDate
	case o == outcomeSucceeded:
		res.Status = "CutOver"
	case bg.removed:
		res.Status = "Removed"
	case bg.detached:
		res.Status = "Detached"
	case bg.created:
		res.Status = "Created"
	default:
		res.Status = "NotStarted"
	}
	if res.Message == "" && !dryRun {
		switch {
		case !bg.created:
			res.Message = fmt.Sprintf("no new group was created; old group %s untouched and live", orDash(bg.oldName))
		default:
			res.Message = fmt.Sprintf("new group %s and old group %s both exist", bg.newName, bg.oldName)
		}
	}
}

// blueGreenLines are the summary's lines about blue/green groups, one
// each, after the table.
func (a *Artifact) blueGreenLines() string {
	var b strings.Builder
	for _, r := range a.Results {
		if r.Strategy != StrategyBlueGreen || r.Message == "" {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%s): %s", r.AutoScalingGroup, r.Region, r.Message)
	}
	return b.String()
}

// blueGreenPlan is what a blue/green roll-out of one group would do.
type blueGreenPlan struct {
	LiveGroup       string   `json:"live_group"`
	NewGroup        string   `json:"new_group"`
	Resume          bool     `json:"resume,omitempty"`
	DesiredCapacity int32    `json:"desired_capacity"`
	MinSize         int32    `json:"min_size"`
	MaxSize         int32    `json:"max_size"`
	TargetGroups    []string `json:"target_groups"`
	LoadBalancers   []string `json:"load_balancers"`
	Tags            int      `json:"tags"`
	ScalingPolicies []string `json:"scaling_policies"`
	ScheduledAction []string `json:"scheduled_actions"`
	LifecycleHooks  []string `json:"lifecycle_hooks"`
	Notifications   int      `json:"notification_configurations"`
	HealthTimeout   string   `json:"health_timeout"`
	OldGroup        string   `json:"old_group"`
	Retire          string   `json:"retire"`
}

// planBlueGreen is the dry run's plan for a blue/green group.
func (r *roller) planBlueGreen(ctx context.Context, ro *rollout) (groupPlan, error) {
	bg := ro.bg
	gp := groupPlan{
		Region: ro.region, AutoScalingGroup: ro.group, Account: ro.account, Wave: ro.wave,
		ImageID: ro.imageID, UpToDate: ro.upToDate, Warnings: append([]string{}, ro.warnings...),
	}
	if ro.upToDate != "" {
		gp.BlueGreen = &blueGreenPlan{LiveGroup: bg.oldName}
		return gp, nil
	}
	if ro.lc != nil {
		gp.LaunchConfiguration = &lcPlan{Name: ro.lc.name, SourceImageID: ro.lc.sourceImage, Copy: ro.lc.copyName}
	} else if bg.resume == nil {
		for _, tu := range ro.templates() {
			tp, err := planTemplate(ctx, ro, tu)
			if err != nil {
				return gp, err
			}
			gp.Templates = append(gp.Templates, tp)
		}
	}
	g := bg.old
	p := &blueGreenPlan{
		LiveGroup: bg.oldName, NewGroup: bg.newName, Resume: bg.resume != nil,
		DesiredCapacity: aws.ToInt32(g.DesiredCapacity), MinSize: aws.ToInt32(g.MinSize), MaxSize: aws.ToInt32(g.MaxSize),
		TargetGroups: append([]string{}, bg.targetGroups...), LoadBalancers: append([]string{}, bg.loadBalancers...),
		Tags: len(newGroupTags(ro)), Notifications: len(bg.notifications),
		ScalingPolicies: []string{}, ScheduledAction: []string{}, LifecycleHooks: []string{},
		HealthTimeout: shortDuration(r.cfg.BlueGreen.healthTimeout), OldGroup: r.cfg.BlueGreen.OldGroup,
	}
	for _, x := range bg.policies {
		p.ScalingPolicies = append(p.ScalingPolicies, aws.ToString(x.PolicyName))
	}
	for _, x := range bg.scheduled {
		p.ScheduledAction = append(p.ScheduledAction, aws.ToString(x.ScheduledActionName))
	}
	for _, x := range bg.hooks {
		p.LifecycleHooks = append(p.LifecycleHooks, aws.ToString(x.LifecycleHookName))
	}
	protection := g.DeletionProtection
	switch {
	case r.cfg.BlueGreen.OldGroup == OldGroupKeep:
		p.Retire = fmt.Sprintf("%s would leave the load balancers, drain, and be kept at full size, tagged %s", bg.oldName, tagRetired)
	case r.cfg.BlueGreen.OldGroup == OldGroupScaleToZero:
		p.Retire = fmt.Sprintf("%s would leave the load balancers, drain, be scaled to zero and kept, tagged %s", bg.oldName, tagRetired)
	case protection != "" && protection != "none":
		p.Retire = fmt.Sprintf("%s would leave the load balancers, drain, and be scaled to zero and kept: it has deletion protection (%s)", bg.oldName, protection)
	default:
		p.Retire = fmt.Sprintf("%s would leave the load balancers, drain, be scaled to zero and deleted", bg.oldName)
	}
	gp.BlueGreen = p
	gp.OnFailure = fmt.Sprintf("the new group would leave the load balancers and be deleted; %s would stay exactly as it is, and the build would fail", bg.oldName)
	return gp, nil
}

// blueGreenText is a blue/green plan as printed.
func (p *blueGreenPlan) text(line func(string, ...any)) {
	if p.Resume {
		line("blue/green: would continue group %s, made by an earlier run of this build, beside live group %s", p.NewGroup, p.LiveGroup)
	} else {
		line("blue/green: would create group %s beside live group %s: desired %d (min %d, max %d), %d tag(s), %d lifecycle hook(s), %d notification configuration(s)",
			p.NewGroup, p.LiveGroup, p.DesiredCapacity, p.MinSize, p.MaxSize, p.Tags, len(p.LifecycleHooks), p.Notifications)
	}
	line("attached to: %s; would wait at most %s for every instance to be InService and healthy there", attachmentsText(p.TargetGroups, p.LoadBalancers), p.HealthTimeout)
	line("cut-over: would copy %d scaling polic(ies) %v and %d scheduled action(s) %v onto %s", len(p.ScalingPolicies), p.ScalingPolicies, len(p.ScheduledAction), p.ScheduledAction, p.NewGroup)
	line("retire (old_group = %s): %s", p.OldGroup, p.Retire)
}

// blueGreenText ends a blue/green group's printed plan.
func (gp groupPlan) blueGreenText(b *strings.Builder, line func(string, ...any)) string {
	for _, tp := range gp.Templates {
		line("launch template: %s", tp.Action)
	}
	if lc := gp.LaunchConfiguration; lc != nil {
		line("launch configuration: would copy %s as %s with ImageId %s → %s for the new group", lc.Name, lc.Copy, lc.SourceImageID, gp.ImageID)
	}
	if p := gp.BlueGreen; p != nil && gp.UpToDate == "" {
		p.text(line)
		line("on failure: %s", gp.OnFailure)
	}
	if len(gp.Warnings) == 0 {
		line("warnings: none")
	}
	for _, w := range gp.Warnings {
		line("warning: %s", w)
	}
	return b.String()
}

// withBlueGreen adds a blue/green result's keys to its state map.
func (r Result) withBlueGreen(m map[string]string) map[string]string {
	if r.Strategy != StrategyBlueGreen {
		return m
	}
	m["strategy"] = r.Strategy
	m["live_group"] = r.LiveGroup
	m["new_group"] = r.NewGroup
	m["old_group"] = r.OldGroup
	m["old_group_state"] = r.OldGroupState
	return m
}
