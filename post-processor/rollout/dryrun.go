package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// A dry run (dry_run = true) goes as far as resolve: every group read and
// checked, the permission checks made with EC2's DryRun flag, the warnings
// said. Then, instead of the first change, it prints a plan per group and
// writes it to plan_file as JSON. Everything here reads: it describes the
// group and its template's latest version, and writes nothing to AWS.

// dryRunPlan is the plan of a dry run, as written to plan_file.
type dryRunPlan struct {
	DryRun bool        `json:"dry_run"` // always true: the file says what it is
	Groups []groupPlan `json:"groups"`
	// What publishing and pruning would do after a successful roll-out.
	*afterRollout
}

// groupPlan is what a roll-out of one group would do.
type groupPlan struct {
	Region           string `json:"region"`
	AutoScalingGroup string `json:"auto_scaling_group"`
	Account          string `json:"account,omitempty"`
	Wave             int    `json:"wave"`
	ImageID          string `json:"image_id"`
	// UpToDate says why no refresh is needed, when none is.
	UpToDate string `json:"up_to_date,omitempty"`
	// Adopted is a refresh of this AMI already running, which would be
	// followed rather than a new one started.
	Adopted string `json:"adopted_refresh,omitempty"`

	Templates           []templatePlan `json:"launch_templates,omitempty"`
	LaunchConfiguration *lcPlan        `json:"launch_configuration,omitempty"`

	Preferences preferencesPlan `json:"preferences"`
	Refresh     refreshPlan     `json:"refresh"`

	BlueGreen         *blueGreenPlan `json:"blue_green,omitempty"`
	OnFailure         string         `json:"on_failure"`
	RefreshInProgress string         `json:"refresh_in_progress,omitempty"`
	Warnings          []string       `json:"warnings"`
}

// templatePlan is the version a roll-out would create of one template.
type templatePlan struct {
	LaunchTemplateID string `json:"launch_template_id"`
	SourceVersion    int64  `json:"source_version"`
	SourceImageID    string `json:"source_image_id"`
	// NewVersion is the number the version would most likely get (the
	// template's latest plus one); 0 when the source is used as it is.
	NewVersion int64  `json:"new_version,omitempty"`
	Override   *int   `json:"override,omitempty"` // index in the mixed instances policy's overrides
	Action     string `json:"action"`
}

// lcPlan is the launch configuration copy a roll-out would make.
type lcPlan struct {
	Name          string `json:"name"`
	SourceImageID string `json:"source_image_id"`
	Copy          string `json:"copy"`
}

// preferencesPlan are the refresh preferences that would be sent.
type preferencesPlan struct {
	MinHealthyPercentage int `json:"min_healthy_percentage"`
	MaxHealthyPercentage int `json:"max_healthy_percentage"`
	// HealthySource says whose the healthy percentages are: "configured",
	// "instance maintenance policy" (not sent: AWS applies the group's
	// policy) or "defaults".
	HealthySource             string   `json:"healthy_source"`
	HealthySent               bool     `json:"healthy_sent"`
	InstanceWarmupSeconds     int32    `json:"instance_warmup_seconds"`
	CheckpointPercentages     []int32  `json:"checkpoint_percentages,omitempty"`
	CheckpointDelaySeconds    int32    `json:"checkpoint_delay_seconds,omitempty"`
	BakeTimeSeconds           int32    `json:"bake_time_seconds"`
	SkipMatching              bool     `json:"skip_matching"`
	AutoRollback              bool     `json:"auto_rollback"`
	ScaleInProtectedInstances string   `json:"scale_in_protected_instances"`
	StandbyInstances          string   `json:"standby_instances"`
	Strategy                  string   `json:"strategy"`
	Alarms                    []string `json:"alarms,omitempty"`
}

// refreshPlan is how the refresh would proceed.
type refreshPlan struct {
	Summary         string      `json:"summary"`
	Batches         []batchPlan `json:"batches"`
	DesiredCapacity int         `json:"desired_capacity"`
	// Instances is how many instances the refresh would replace; Left are
	// those it would leave alone (Standby, scale-in protected under Ignore).
	Instances int `json:"instances_to_replace"`
	Left      int `json:"instances_left_alone"`
	// LowestInService and HighestInstances bound the group's instance
	// count during the refresh.
	LowestInService  int `json:"lowest_in_service"`
	HighestInstances int `json:"highest_instances"`
	// EstimatedSeconds is the waiting the refresh does: a warm-up per
	// batch, checkpoint delays and the bake time. Launches and
	// terminations come on top.
	EstimatedSeconds int64 `json:"estimated_seconds"`
}

type batchPlan struct {
	Size           int   `json:"size"`
	LaunchFirst    int   `json:"launch_first"`
	TerminateFirst int   `json:"terminate_first"`
	Checkpoint     int   `json:"checkpoint,omitempty"`
	PauseSeconds   int64 `json:"pause_seconds,omitempty"`
}

// dryRun prints the plan of every group, writes it to plan_file when set,
// and changes nothing.
func (r *roller) dryRun(ctx context.Context, ros []*rollout) error {
	plan := dryRunPlan{DryRun: true}
	var errs []error
	for _, ro := range ros {
		gp, err := r.planGroup(ctx, ro)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ro.label(), err))
			continue
		}
		plan.Groups = append(plan.Groups, gp)
	}
	after, err := r.release.plan(ctx, r, ros) // release_plan.go
	if err != nil {
		errs = append(errs, err)
	}
	plan.afterRollout = after
	if len(errs) > 0 {
		return fmt.Errorf("dry run: nothing was changed: %w", errors.Join(errs...))
	}
	r.ui.Say("Dry run: nothing was changed. A roll-out would do this:")
	for i, gp := range plan.Groups {
		r.say(ros[i], "%s", gp.text())
	}
	for _, line := range after.lines() {
		r.ui.Say("Dry run: " + line)
	}
	if r.cfg.PlanFile == "" {
		return nil
	}
	js, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return fmt.Errorf("dry run: encoding the plan: %w", err)
	}
	if err := os.WriteFile(r.cfg.PlanFile, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("dry run: writing the plan: %w", err)
	}
	r.ui.Say("Dry run: wrote the plan to " + r.cfg.PlanFile)
	return nil
}

// planGroup works out what a roll-out of ro would do, from what resolve
// found and one more read of the group.
func (r *roller) planGroup(ctx context.Context, ro *rollout) (groupPlan, error) {
	if ro.bg != nil {
		return r.planBlueGreen(ctx, ro)
	}
	gp := groupPlan{
		Region: ro.region, AutoScalingGroup: ro.group, Account: ro.account, Wave: ro.wave,
		ImageID: ro.imageID, UpToDate: ro.upToDate, Warnings: append([]string{}, ro.warnings...),
	}
	g, err := r.describeGroup(ctx, ro)
	if err != nil {
		return gp, err
	}
	if ro.adopted != nil {
		gp.Adopted = aws.ToString(ro.adopted.InstanceRefreshId)
	}
	if ro.lc != nil {
		gp.LaunchConfiguration = &lcPlan{Name: ro.lc.name, SourceImageID: ro.lc.sourceImage, Copy: ro.lc.copyName}
	} else if ro.adopted == nil {
		for _, tu := range ro.templates() {
			tp, err := planTemplate(ctx, ro, tu)
			if err != nil {
				return gp, err
			}
			gp.Templates = append(gp.Templates, tp)
		}
	}

	ir := r.cfg.InstanceRefresh
	p := ir.Preferences(ro.warmup, ro.healthy)
	if ro.lc != nil { // as startInput sends them
		p.AutoRollback, p.SkipMatching = aws.Bool(false), aws.Bool(false)
	}
	gp.Preferences = preferencesPlan{
		MinHealthyPercentage:      ro.healthy.min,
		MaxHealthyPercentage:      ro.healthy.max,
		HealthySource:             ro.healthy.sourceName(),
		HealthySent:               ro.healthy.send(),
		InstanceWarmupSeconds:     aws.ToInt32(p.InstanceWarmup),
		CheckpointPercentages:     p.CheckpointPercentages,
		CheckpointDelaySeconds:    aws.ToInt32(p.CheckpointDelay),
		BakeTimeSeconds:           aws.ToInt32(p.BakeTime),
		SkipMatching:              aws.ToBool(p.SkipMatching),
		AutoRollback:              aws.ToBool(p.AutoRollback),
		ScaleInProtectedInstances: string(p.ScaleInProtectedInstances),
		StandbyInstances:          string(p.StandbyInstances),
		Strategy:                  ir.Strategy,
	}
	if p.AlarmSpecification != nil {
		gp.Preferences.Alarms = p.AlarmSpecification.Alarms
	}

	replace, left := replaced(g, ir)
	if ro.upToDate != "" {
		replace = 0
	}
	var checkpoints []int
	for _, c := range p.CheckpointPercentages {
		checkpoints = append(checkpoints, int(c))
	}
	desired := int(aws.ToInt32(g.DesiredCapacity))
	prog := instancerefresh.Plan(instancerefresh.Shape{
		Desired: desired, Replace: replace,
		MinHealthy: ro.healthy.min, MaxHealthy: ro.healthy.max,
		// A maximum sent, or a policy's above 100, lets AWS launch first
		// where the bounds leave no room (see oneInstanceOutage).
		MaxGiven:        ro.healthy.send() || ro.healthy.max > 100,
		Checkpoints:     checkpoints,
		Warmup:          time.Duration(aws.ToInt32(p.InstanceWarmup)) * time.Second,
		CheckpointDelay: time.Duration(aws.ToInt32(p.CheckpointDelay)) * time.Second,
		BakeTime:        time.Duration(aws.ToInt32(p.BakeTime)) * time.Second,
	})
	gp.Refresh = refreshPlan{
		Summary: prog.Summary(), DesiredCapacity: desired, Instances: replace, Left: left,
		LowestInService: prog.Lowest, HighestInstances: prog.Highest,
		EstimatedSeconds: int64(prog.Duration / time.Second), Batches: []batchPlan{},
	}
	for _, b := range prog.Batches {
		gp.Refresh.Batches = append(gp.Refresh.Batches, batchPlan{
			Size: b.Size, LaunchFirst: b.LaunchFirst, TerminateFirst: b.TerminateFirst,
			Checkpoint: b.Checkpoint, PauseSeconds: int64(b.Pause / time.Second),
		})
	}
	gp.OnFailure = r.onFailureText(ro)
	if f := ro.foreign; f != nil {
		gp.RefreshInProgress = r.foreignText(f)
	}
	return gp, nil
}

// planTemplate is the version a roll-out would create of tu. The number is
// the template's latest plus one: what AWS gives the next version, unless
// someone else creates one first.
func planTemplate(ctx context.Context, ro *rollout, tu *templateUse) (templatePlan, error) {
	tp := templatePlan{LaunchTemplateID: tu.templateID, SourceVersion: tu.sourceVersion, SourceImageID: tu.sourceImage}
	if tu.override >= 0 {
		tp.Override = aws.Int(tu.override)
	}
	if tu.sourceImage == ro.imageID {
		tp.Action = fmt.Sprintf("version %d of %s already has %s: it would be used as it is", tu.sourceVersion, tu.templateID, ro.imageID)
		return tp, nil
	}
	out, err := ro.clients.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(tu.templateID),
		Versions:         []string{"$Latest"},
	})
	if err != nil {
		return tp, fmt.Errorf("describing launch template (%s) latest version: %w", tu.templateID, err)
	}
	latest := tu.sourceVersion
	for _, v := range out.LaunchTemplateVersions {
		latest = max(latest, aws.ToInt64(v.VersionNumber))
	}
	tp.NewVersion = latest + 1
	tp.Action = fmt.Sprintf("would create version %d of %s from version %d, ImageId %s → %s", tp.NewVersion, tu.templateID, tu.sourceVersion, tu.sourceImage, ro.imageID)
	return tp, nil
}

// replaced counts the group's instances a refresh would replace, and those
// it would leave alone, following the Standby and scale-in protection
// preferences. Instances neither in service nor in Standby (launching,
// terminating) are neither.
func replaced(g astypes.AutoScalingGroup, ir InstanceRefreshConfig) (replace, left int) {
	for _, in := range g.Instances {
		switch in.LifecycleState {
		case astypes.LifecycleStateInService:
			if aws.ToBool(in.ProtectedFromScaleIn) && ir.ScaleInProtectedInstances == "Ignore" {
				left++
				continue
			}
			replace++
		case astypes.LifecycleStateStandby:
			left++ // Ignore leaves it, Terminate terminates it at the start
		}
	}
	return replace, left
}

// onFailureText says what would happen if the refresh failed.
func (r *roller) onFailureText(ro *rollout) string {
	switch {
	case ro.lc != nil:
		return fmt.Sprintf("AWS cannot roll back a launch configuration refresh; the post-processor would put launch configuration %s back on the group, and the build would fail", ro.lc.name)
	case *r.cfg.InstanceRefresh.AutoRollback:
		return fmt.Sprintf("AWS would roll the group back to version %d of %s (auto rollback), and the build would fail", ro.sourceVersion, ro.templateID)
	case r.cfg.OnFailure == FailureRollback:
		return fmt.Sprintf("the post-processor would start a refresh back onto version %d of %s (on_failure = rollback), and the build would fail", ro.sourceVersion, ro.templateID)
	}
	return "the build would fail and replaced instances would stay on the new AMI (on_failure = report)"
}

// foreignText says what a refresh of someone else's would meet.
func (r *roller) foreignText(f *astypes.InstanceRefresh) string {
	id, s := aws.ToString(f.InstanceRefreshId), f.Status
	unwinding := s == astypes.InstanceRefreshStatusRollbackInProgress || s == astypes.InstanceRefreshStatusCancelling
	switch {
	case r.cfg.OnRefreshInProgress == InProgressCancel && !unwinding:
		return fmt.Sprintf("refresh %s (not this build's) is %s: it would be cancelled, then the group read again (on_refresh_in_progress = cancel)", id, s)
	default:
		return fmt.Sprintf("refresh %s (not this build's) is %s: the roll-out would wait for it to end, then read the group again (on_refresh_in_progress = %s)", id, s, r.cfg.OnRefreshInProgress)
	}
}

// sourceName names where h comes from, for the plan.
func (h healthyBounds) sourceName() string {
	switch h.source {
	case healthyConfigured:
		return "configured"
	case healthyPolicy:
		return "instance maintenance policy"
	}
	return "defaults"
}

// text is the plan of one group as printed.
func (gp groupPlan) text() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "\n  "+format, args...) }
	fmt.Fprintf(&b, "plan (wave %d)", gp.Wave)
	switch {
	case gp.UpToDate != "":
		line("no refresh: %s", gp.UpToDate)
	case gp.Adopted != "":
		line("refresh %s of this AMI is already running: it would be followed, nothing started", gp.Adopted)
	}
	if gp.BlueGreen != nil {
		return gp.blueGreenText(&b, line)
	}
	for _, tp := range gp.Templates {
		line("launch template: %s", tp.Action)
	}
	if lc := gp.LaunchConfiguration; lc != nil {
		line("launch configuration: would copy %s as %s with ImageId %s → %s and set the copy on the group", lc.Name, lc.Copy, lc.SourceImageID, gp.ImageID)
	}
	pr := gp.Preferences
	healthy := fmt.Sprintf("min healthy %d%% / max %d%% (%s", pr.MinHealthyPercentage, pr.MaxHealthyPercentage, pr.HealthySource)
	if !pr.HealthySent {
		healthy += ", not sent: AWS applies the group's policy"
	}
	healthy += ")"
	line("preferences: %s, warm-up %ds, skip matching %t, auto rollback %t, bake %ds, protected %s, standby %s",
		healthy, pr.InstanceWarmupSeconds, pr.SkipMatching, pr.AutoRollback, pr.BakeTimeSeconds, pr.ScaleInProtectedInstances, pr.StandbyInstances)
	if len(pr.CheckpointPercentages) > 0 {
		line("checkpoints: %v, pausing %ds at each but the last", pr.CheckpointPercentages, pr.CheckpointDelaySeconds)
	}
	if len(pr.Alarms) > 0 {
		line("alarms: %s", strings.Join(pr.Alarms, ", "))
	}
	rf := gp.Refresh
	if gp.UpToDate == "" {
		line("refresh: %s (%d instance(s) of desired %d; %d left alone)", rf.Summary, rf.Instances, rf.DesiredCapacity, rf.Left)
		line("capacity: at least %d in service, at most %d instances", rf.LowestInService, rf.HighestInstances)
		line("duration: about %s of warm-ups, checkpoint delays and bake time, plus launch and termination time", time.Duration(rf.EstimatedSeconds)*time.Second)
		line("on failure: %s", gp.OnFailure)
	}
	if gp.RefreshInProgress != "" {
		line("refresh in progress: %s", gp.RefreshInProgress)
	}
	if len(gp.Warnings) == 0 {
		line("warnings: none")
	}
	for _, w := range gp.Warnings {
		line("warning: %s", w)
	}
	return b.String()
}
