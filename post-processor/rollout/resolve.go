package rollout

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// resolve reads everything a roll-out of ro needs and checks that it can
// proceed. It changes nothing.
func (r *roller) resolve(ctx context.Context, ro *rollout) error {
	if ro.bg != nil {
		return r.resolveBlueGreen(ctx, ro)
	}
	if ro.stack != nil {
		return r.resolveStack(ctx, ro) // stack_resolve.go
	}
	g, err := r.describeGroup(ctx, ro)
	if err != nil {
		return err
	}
	if err := checkOperator(g); err != nil {
		return err
	}
	if err := r.checkStackOwner(ctx, ro, g); err != nil { // stack_resolve.go
		return err
	}
	if err := ro.readTemplate(g, r.cfg.CopyLaunchConfiguration); err != nil {
		return err
	}
	warnings, err := checkProcesses(g, ro.region)
	if err != nil {
		return err
	}
	ro.warnings = append(ro.warnings, warnings...)
	ro.healthy = r.cfg.InstanceRefresh.healthyFor(g.InstanceMaintenancePolicy)
	if err := r.checkInstances(g, ro.healthy); err != nil {
		return err
	}
	if *r.cfg.InstanceRefresh.AutoRollback {
		if err := checkOverrideRollback(ro); err != nil {
			return err
		}
	}
	ro.warmup = groupWarmup(g)

	if ro.lc != nil {
		if err := r.resolveLaunchConfiguration(ctx, ro); err != nil {
			return err
		}
	} else {
		for _, tu := range ro.templates() {
			if err := r.resolveVersion(ctx, ro, tu); err != nil {
				return err
			}
		}
	}
	// Before the bake (Preflight) there is no AMI: only the checks of the
	// image itself are left out.
	if ro.imageID != "" {
		if err := r.checkImage(ctx, ro); err != nil {
			return err
		}
	}
	if err := r.findActive(ctx, ro); err != nil {
		return err
	}
	if err := r.checkPermissions(ctx, ro, g); err != nil {
		return err
	}
	if err := r.release.checkAccess(ctx, ro); err != nil { // release_plan.go
		return err
	}
	if ro.lc != nil && ro.adopted == nil && ro.foreign == nil {
		// Only with no refresh running: one of ours is followed instead,
		// and someone else's may be moving the group elsewhere.
		upToDate, warning := launchConfigurationFleet(ro.lc.name, ro.lc.sourceImage, ro.imageID, g.Instances, g.WarmPoolConfiguration != nil)
		ro.upToDate = upToDate
		if warning != "" {
			ro.warnings = append(ro.warnings, warning)
		}
	}
	return nil
}

// describeGroup returns the group as the tag search found it, or
// describes it.
func (r *roller) describeGroup(ctx context.Context, ro *rollout) (astypes.AutoScalingGroup, error) {
	if ro.described != nil {
		return *ro.described, nil
	}
	out, err := ro.clients.autoscaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{ro.group},
	})
	if err != nil {
		return astypes.AutoScalingGroup{}, fmt.Errorf("describing Auto Scaling group (%s) in %s: %w", ro.group, ro.region, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return astypes.AutoScalingGroup{}, fmt.Errorf("Auto Scaling group (%s) not found in %s; check target.auto_scaling_group and the region", ro.group, ro.region)
	}
	return out.AutoScalingGroups[0], nil
}

// readTemplate finds the launch template the group launches from, directly
// or through its mixed instances policy.
func (ro *rollout) readTemplate(g astypes.AutoScalingGroup, copyLaunchConfiguration bool) error {
	ro.override = -1
	switch {
	case g.LaunchTemplate != nil:
		ro.spec = *g.LaunchTemplate
	case g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil &&
		g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification != nil:
		ro.mixed = g.MixedInstancesPolicy
		ro.spec = *g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
		for i, o := range g.MixedInstancesPolicy.LaunchTemplate.Overrides {
			if o.LaunchTemplateSpecification != nil {
				ro.overrides = append(ro.overrides, &templateUse{spec: *o.LaunchTemplateSpecification, override: i})
			}
		}
	case aws.ToString(g.LaunchConfigurationName) != "" && copyLaunchConfiguration:
		ro.lc = &launchConfigurationUse{name: aws.ToString(g.LaunchConfigurationName)}
	case aws.ToString(g.LaunchConfigurationName) != "":
		return fmt.Errorf("Auto Scaling group (%s) uses launch configuration %s (legacy): set copy_launch_configuration = true to roll it anyway (the group is then updated directly and AWS cannot roll the refresh back), or move the group to a launch template",
			ro.group, aws.ToString(g.LaunchConfigurationName))
	default:
		return fmt.Errorf("Auto Scaling group (%s) has no launch template", ro.group)
	}
	return nil
}

// checkOperator refuses a group that names an operator: only that service
// principal may change it, so AWS would refuse the refresh, after the new
// launch template versions exist. A Packer build calls AWS with IAM
// credentials, never as a service principal, so any operator excludes it.
func checkOperator(g astypes.AutoScalingGroup) error {
	if g.Operator == nil || aws.ToString(g.Operator.Principal) == "" {
		return nil
	}
	principal := aws.ToString(g.Operator.Principal)
	return fmt.Errorf("Auto Scaling group (%s) is managed by operator %s: only that service principal may change the group, so AWS would refuse the instance refresh after the new launch template version was created; roll it out through the service behind %s, and take the group out of this post-processor's targets",
		aws.ToString(g.AutoScalingGroupName), principal, principal)
}

// checkProcesses reads the group's suspended processes: those that make a
// refresh fail silently are refused, the others that matter are returned
// as warnings.
func checkProcesses(g astypes.AutoScalingGroup, region string) ([]string, error) {
	var suspended []string
	for _, p := range g.SuspendedProcesses {
		suspended = append(suspended, aws.ToString(p.ProcessName))
	}
	attached := attachedTraffic(g)
	refused, warned := suspendedProcessEffects(suspended, attached)
	name := aws.ToString(g.AutoScalingGroupName)
	if slices.Contains(suspended, "AddToLoadBalancer") && len(attached) == 0 {
		log.Printf("[DEBUG] Auto Scaling group (%s): AddToLoadBalancer is suspended, and nothing is attached for replacements to join", name)
	}
	resume := func(ps []processEffect) string {
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = p.process
		}
		return fmt.Sprintf("aws autoscaling resume-processes --auto-scaling-group-name %s --scaling-processes %s --region %s", name, strings.Join(names, " "), region)
	}
	var warnings []string
	for _, p := range warned {
		warnings = append(warnings, fmt.Sprintf("process %s is suspended: %s; resume it unless that is what you want (%s)", p.process, p.effect, resume([]processEffect{p})))
	}
	if len(refused) == 0 {
		return warnings, nil
	}
	// One clause per effect, naming every process that has it.
	var names, effects []string
	byEffect := map[string][]string{}
	for _, p := range refused {
		names = append(names, p.process)
		if byEffect[p.effect] == nil {
			effects = append(effects, p.effect)
		}
		byEffect[p.effect] = append(byEffect[p.effect], p.process)
	}
	clauses := make([]string, len(effects))
	for i, e := range effects {
		clauses[i] = "with " + strings.Join(byEffect[e], " or ") + " suspended, " + e
	}
	noun, pronoun := "processes", "them"
	if len(names) == 1 {
		noun, pronoun = "process", "it"
	}
	return nil, fmt.Errorf("Auto Scaling group (%s) has suspended %s %s: %s; resume %s first (%s)",
		name, noun, strings.Join(names, ", "), strings.Join(clauses, "; "), pronoun, resume(refused))
}

// processEffect is what one suspended process does to a refresh.
type processEffect struct{ process, effect string }

// suspendedProcessEffects decides, for the suspended processes of a group
// with the given load balancers and target groups attached, which make a
// refresh fail silently (refused) and which only make it worse (warned),
// each with its effect, in the order AWS lists processes.
//
// Refused: Launch and Terminate (nothing is replaced), InstanceRefresh (the
// refresh never progresses), AddToLoadBalancer with something attached
// (replacements never join it, not even after the process resumes: the
// refresh ends Successful with no registered targets, an outage), and
// HealthCheck (no instance is ever marked unhealthy, so a bad AMI rolls
// across the whole fleet, the refresh ends Successful and auto rollback
// never fires: the one failure this roll-out exists to catch goes unseen).
//
// Warned: ReplaceUnhealthy. Health checks still run, so a bad AMI still
// fails the refresh (and rolls it back); what changes is that unhealthy
// instances stay in the group instead of being replaced, so the refresh
// stalls up to an hour before failing, with less healthy capacity
// meanwhile. That is loud, not silent, and some suspend it on purpose to
// inspect unhealthy instances.
//
// AddToLoadBalancer with nothing attached changes nothing for this refresh
// and is left alone: refusing it would block groups that suspend it for
// good reasons of their own.
func suspendedProcessEffects(suspended []string, attached []string) (refused, warned []processEffect) {
	has := map[string]bool{}
	for _, p := range suspended {
		has[p] = true
	}
	effects := []struct {
		process string
		refuse  bool
		effect  string
	}{
		{"Launch", true, "an instance refresh would not replace anything"},
		{"Terminate", true, "an instance refresh would not replace anything"},
		{"HealthCheck", true, "no instance is ever marked unhealthy: an AMI that does not work would roll across the whole fleet, the refresh would end Successful and auto rollback would never fire"},
		{"ReplaceUnhealthy", false, "instances marked unhealthy during the refresh stay in the group instead of being replaced, so a bad AMI stalls the refresh for up to an hour before it fails, with fewer healthy instances meanwhile"},
		{"AddToLoadBalancer", true, fmt.Sprintf("replacements never join its load balancers and target groups (%s), not even once the process resumes: the refresh would end with no registered targets, an outage, while every instance reports healthy", strings.Join(attached, ", "))},
		{"InstanceRefresh", true, "an instance refresh would stay paused and never replace anything"},
	}
	for _, e := range effects {
		switch {
		case !has[e.process]:
		case e.process == "AddToLoadBalancer" && len(attached) == 0:
		case e.refuse:
			refused = append(refused, processEffect{e.process, e.effect})
		default:
			warned = append(warned, processEffect{e.process, e.effect})
		}
	}
	return refused, warned
}

// attachedTraffic names the load balancers, target groups and other
// traffic sources attached to the group, each once.
func attachedTraffic(g astypes.AutoScalingGroup) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, n := range g.LoadBalancerNames {
		add(n)
	}
	for _, arn := range g.TargetGroupARNs {
		add(arn)
	}
	for _, t := range g.TrafficSources {
		add(aws.ToString(t.Identifier))
	}
	return out
}

// checkInstances refuses refreshes that AWS would start but that would
// hurt or stall: a one-instance group replaced without a spare (an outage)
// with the healthy bounds h the refresh runs with, and Standby or
// scale-in-protected instances under a Wait policy (the refresh stalls for
// an hour, then fails).
func (r *roller) checkInstances(g astypes.AutoScalingGroup, h healthyBounds) error {
	name := aws.ToString(g.AutoScalingGroupName)
	ir := r.cfg.InstanceRefresh
	if oneInstanceOutage(aws.ToInt32(g.DesiredCapacity), h.min, h.max, h.send()) {
		fix := "set max_healthy_percentage above 100, or both min_healthy_percentage and max_healthy_percentage to 100 (AWS then launches the replacement first)"
		if h.source == healthyPolicy {
			fix = "set instance_refresh.max_healthy_percentage above 100, or both min_healthy_percentage and max_healthy_percentage to 100 (either overrides the policy for this refresh; AWS then launches the replacement first), or give the group a policy with a maximum above 100"
		}
		return fmt.Errorf("Auto Scaling group (%s) has one instance and %s: it may be terminated before its replacement is healthy (an outage); %s",
			name, h.fields(), fix)
	}
	var standby, protected []string
	for _, i := range g.Instances {
		if i.LifecycleState == astypes.LifecycleStateStandby {
			standby = append(standby, aws.ToString(i.InstanceId))
		}
		if aws.ToBool(i.ProtectedFromScaleIn) {
			protected = append(protected, aws.ToString(i.InstanceId))
		}
	}
	if len(standby) > 0 && ir.StandbyInstances == "Wait" {
		return fmt.Errorf("Auto Scaling group (%s) has instances in Standby (%s) and instance_refresh.standby_instances is Wait: the refresh would stall for an hour and fail; return them to service, or set standby_instances to \"Ignore\" or \"Terminate\"",
			name, strings.Join(standby, ", "))
	}
	if len(protected) > 0 && ir.ScaleInProtectedInstances == "Wait" {
		return fmt.Errorf("Auto Scaling group (%s) has instances protected from scale in (%s) and instance_refresh.scale_in_protected_instances is Wait: the refresh would stall for an hour and fail; remove the protection, or set scale_in_protected_instances to \"Ignore\" or \"Refresh\"",
			name, strings.Join(protected, ", "))
	}
	return nil
}

// oneInstanceOutage reports whether a refresh of a group of desired
// instances with these healthy percentages can leave it with none in
// service; sent says whether they go into the request. Above 100, the
// maximum leaves room to launch the replacement first. At exactly 100 with
// a minimum of 100, the two bounds cannot both hold while one instance is
// replaced, and a maximum of 100 sent in the request makes AWS launch
// before terminating ("Explicitly setting MaxHealthyPercentage to 100 is not
// equivalent to omitting it"). AWS does not say which a maximum of 100 from
// the group's instance maintenance policy is, so it counts as omitted: AWS
// may then terminate and launch at once. With a lower minimum AWS may meet
// both bounds by terminating first.
func oneInstanceOutage(desired int32, minHealthy, maxHealthy int, sent bool) bool {
	if desired != 1 || maxHealthy > 100 {
		return false
	}
	return minHealthy < 100 || !sent
}

// groupWarmup is the warm-up AWS would use for the group: its default
// instance warm-up, else its health check grace period.
func groupWarmup(g astypes.AutoScalingGroup) time.Duration {
	if g.DefaultInstanceWarmup != nil && *g.DefaultInstanceWarmup >= 0 {
		return time.Duration(*g.DefaultInstanceWarmup) * time.Second
	}
	return time.Duration(aws.ToInt32(g.HealthCheckGracePeriod)) * time.Second
}

// readTemplateVersion turns the template reference tu of Auto Scaling
// group group ($Latest, $Default, empty or a number) into a number, and
// reads that version's AMI. It returns the reference it asked AWS for.
func readTemplateVersion(ctx context.Context, ro *rollout, tu *templateUse, group string) (ref string, err error) {
	ref = aws.ToString(tu.spec.Version)
	if ref == "" {
		ref = "$Default" // what AWS uses when a group names no version
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{ref}}
	if id := aws.ToString(tu.spec.LaunchTemplateId); id != "" {
		in.LaunchTemplateId = aws.String(id)
	} else {
		in.LaunchTemplateName = tu.spec.LaunchTemplateName
	}
	out, err := ro.clients.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return ref, fmt.Errorf("describing launch template (%s) version %s of Auto Scaling group (%s): %w", tu.templateLabel(), ref, group, err)
	}
	if len(out.LaunchTemplateVersions) == 0 {
		return ref, fmt.Errorf("launch template (%s) of Auto Scaling group (%s) has no version %s", tu.templateLabel(), group, ref)
	}
	v := out.LaunchTemplateVersions[0]
	tu.templateID = aws.ToString(v.LaunchTemplateId)
	tu.templateName = aws.ToString(v.LaunchTemplateName)
	tu.sourceVersion = aws.ToInt64(v.VersionNumber)
	if v.LaunchTemplateData != nil {
		tu.sourceImage = aws.ToString(v.LaunchTemplateData.ImageId)
	}
	return ref, nil
}

// resolveVersion turns a template reference of the group ($Latest,
// $Default, empty or a number) into a number, and reads that version's AMI.
func (r *roller) resolveVersion(ctx context.Context, ro *rollout, tu *templateUse) error {
	ref, err := readTemplateVersion(ctx, ro, tu, ro.group)
	if err != nil {
		return err
	}
	if ref != strconv.FormatInt(tu.sourceVersion, 10) {
		log.Printf("[DEBUG] %s: launch template %s version %s is version %d", ro.label(), tu.templateID, ref, tu.sourceVersion)
	}
	if *r.cfg.InstanceRefresh.AutoRollback {
		// AWS cannot roll back to a moving reference or an SSM alias and
		// refuses such a start; refuse it here, before a version exists.
		if ref == "$Latest" || ref == "$Default" {
			return fmt.Errorf("Auto Scaling group (%s) launches from %s of launch template %s, and AWS cannot roll back to %s: pin the group to a version number (version %d is what it runs now), or set instance_refresh.auto_rollback = false",
				ro.group, ref, tu.templateID, ref, tu.sourceVersion)
		}
		if strings.HasPrefix(tu.sourceImage, "resolve:ssm:") {
			return fmt.Errorf("Auto Scaling group (%s) runs version %d of launch template %s, whose image is the SSM parameter %s, and AWS cannot roll back to one: set instance_refresh.auto_rollback = false",
				ro.group, tu.sourceVersion, tu.templateID, tu.sourceImage)
		}
	}
	if ref == "$Latest" {
		r.say(ro, "launches from $Latest of %s: from the moment the new version exists, any instance the group launches uses the new AMI; the refresh pins version numbers", tu.templateID)
	}
	return nil
}

// checkOverrideRollback refuses, as resolveVersion does for a template,
// an override whose ImageId is an SSM parameter: AWS cannot roll back to
// one.
func checkOverrideRollback(ro *rollout) error {
	for _, o := range overrideImageSources(ro.mixed) {
		if strings.HasPrefix(o.image, "resolve:ssm:") {
			return fmt.Errorf("Auto Scaling group (%s) launches %s with the SSM parameter %s as its image, and AWS cannot roll back to one: set the override's ImageId to an AMI id, or set instance_refresh.auto_rollback = false",
				ro.group, o.what, o.image)
		}
	}
	return nil
}

// checkImage checks that the AMI exists and is available in the group's
// region (and account).
func (r *roller) checkImage(ctx context.Context, ro *rollout) error {
	img, err := r.image(ctx, ro, ro.imageID)
	if err != nil {
		return fmt.Errorf("describing AMI (%s) in %s: %w", ro.imageID, ro.region, err)
	}
	if img == nil {
		return fmt.Errorf("AMI (%s) not found in %s, where Auto Scaling group (%s) runs; if the group is in another account, share the AMI with it (the builder's ami_users)", ro.imageID, ro.region, ro.group)
	}
	if s := img.State; s != ec2types.ImageStateAvailable {
		return fmt.Errorf("AMI (%s) in %s is %s, not available; instances cannot launch from it", ro.imageID, ro.region, s)
	}
	if err := r.checkArchitectures(ctx, ro, img.Architecture); err != nil {
		return err
	}
	if r.cfg.InstanceRefresh.Strategy == string(astypes.RefreshStrategyReplaceRootVolume) {
		if problems := replaceRootVolumeProblems(ro.mixed, img); len(problems) > 0 {
			return fmt.Errorf("Auto Scaling group (%s) cannot be refreshed with instance_refresh.strategy = \"ReplaceRootVolume\": %s; AWS would refuse the refresh after the new launch template version was created; fix these, or use strategy \"Rolling\"",
				ro.group, strings.Join(problems, "; "))
		}
	}
	if p := aws.ToString(img.DeregistrationProtection); p == "" || p == "disabled" {
		r.warnDeregistration(ro)
	}
	return nil
}

// image describes an AMI as ro's clients see it, once per roll-out: many
// groups of a region share the new AMI, and often their old one.
func (r *roller) image(ctx context.Context, ro *rollout, id string) (*ec2types.Image, error) {
	key := imageKey{ro.clients, id}
	r.imagesMu.Lock()
	img, ok := r.images[key]
	r.imagesMu.Unlock()
	if ok {
		return img, nil
	}
	out, err := ro.clients.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		var apiErr interface{ ErrorCode() string }
		if errors.As(err, &apiErr) && strings.HasPrefix(apiErr.ErrorCode(), "InvalidAMIID") {
			err = nil // not found, or not visible to this account
		} else {
			return nil, err
		}
	}
	if out != nil && len(out.Images) > 0 {
		img = &out.Images[0]
	}
	r.imagesMu.Lock()
	if r.images == nil {
		r.images = map[imageKey]*ec2types.Image{}
	}
	r.images[key] = img
	r.imagesMu.Unlock()
	return img, nil
}

// cachedImage is an AMI as first described during this roll-out, if it
// was.
func (r *roller) cachedImage(id string) *ec2types.Image {
	r.imagesMu.Lock()
	defer r.imagesMu.Unlock()
	for k, img := range r.images {
		if k.id == id && img != nil {
			return img
		}
	}
	return nil
}

type imageKey struct {
	clients *clients
	id      string
}

// checkArchitectures refuses a template or an override whose current AMI
// has another architecture than the new one: its instances would fail to
// launch. An artifact has one AMI per region, so a mixed instances policy
// with, say, an arm64 override template or override ImageId cannot be
// rolled from an x86_64 build.
func (r *roller) checkArchitectures(ctx context.Context, ro *rollout, arch ec2types.ArchitectureValues) error {
	for _, src := range ro.launchedImages() {
		if src.image == "" || src.image == ro.imageID || strings.HasPrefix(src.image, "resolve:ssm:") {
			continue
		}
		img, err := r.image(ctx, ro, src.image)
		if err != nil || img == nil {
			continue // the old AMI may be gone or private; nothing to compare
		}
		if old := img.Architecture; old != "" && arch != "" && old != arch {
			return fmt.Errorf("%s of Auto Scaling group (%s) runs %s AMI %s, and %s is %s: its instances would fail to launch; roll this group from a build of its architecture",
				src.what, ro.group, old, src.image, ro.imageID, arch)
		}
	}
	return nil
}

// warnDeregistration warns, once per AMI, that Packer deregisters the AMI
// if the build fails and no post-processor kept the builder's artifact.
func (r *roller) warnDeregistration(ro *rollout) {
	r.uiMu.Lock()
	defer r.uiMu.Unlock()
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	if r.warned[ro.imageID] {
		return
	}
	r.warned[ro.imageID] = true
	r.ui.Say(packersdk.LogSecretFilter.FilterString(fmt.Sprintf("Warning: AMI %s (%s) has no deregistration protection. If this roll-out fails or is interrupted, Packer deregisters the builder's AMI unless a post-processor kept it, possibly while instances run it. Set deregistration_protection { enabled = true } on the builder, or keep_input_artifact = true on an earlier post-processor.",
		ro.imageID, ro.region)))
}

// findActive looks for a refresh already running on the group. One whose
// desired configuration is a numbered version of the group's template
// carrying our AMI does exactly what we would start (typically a start
// whose answer was lost), whoever started it: it is adopted. Any
// other is foreign and handled by on_refresh_in_progress; with "fail" the
// roll-out stops here, before anything is changed.
func (r *roller) findActive(ctx context.Context, ro *rollout) error {
	active, err := instancerefresh.FindActive(ctx, ro.clients.autoscaling, ro.group)
	if err != nil || active == nil {
		return err
	}
	ours := false
	if ro.imageID != "" { // without an AMI, no running refresh is ours
		if ours, err = r.isOurs(ctx, ro, active); err != nil {
			return err
		}
	}
	// A refresh of this AMI that is being cancelled or rolled back is on
	// its way away from it: someone decided against it, and following it
	// would report its end as this build's. It is someone else's here.
	if ours && adoptable(active.Status) {
		ro.adopted = active
		return nil
	}
	ro.foreign = active
	if r.cfg.OnRefreshInProgress == InProgressFail {
		return foreignRefreshError(ro, active)
	}
	return nil
}

// adoptable reports whether a running refresh in status s is still
// heading for its desired configuration.
func adoptable(s astypes.InstanceRefreshStatus) bool {
	switch s {
	case astypes.InstanceRefreshStatusPending, astypes.InstanceRefreshStatusInProgress, astypes.InstanceRefreshStatusBaking:
		return true
	}
	return false
}

func foreignRefreshError(ro *rollout, active *astypes.InstanceRefresh) error {
	return fmt.Errorf("Auto Scaling group (%s) already has instance refresh (%s) %s since %s, not started by this build; wait for it to end, cancel it, or set on_refresh_in_progress = \"wait\" or \"cancel\"",
		ro.group, aws.ToString(active.InstanceRefreshId), active.Status, aws.ToTime(active.StartTime).UTC().Format(time.RFC3339))
}

// isOurs reports whether refresh deploys our AMI through a numbered
// version of our launch template.
func (r *roller) isOurs(ctx context.Context, ro *rollout, refresh *astypes.InstanceRefresh) (bool, error) {
	if ro.lc != nil {
		// Without a desired configuration, a refresh running while the group
		// already launches our AMI is the one a previous run started.
		return refresh.DesiredConfiguration == nil && ro.lc.sourceImage == ro.imageID, nil
	}
	spec := desiredSpec(refresh.DesiredConfiguration)
	if spec == nil || !ro.sameTemplate(*spec) {
		return false, nil
	}
	if dc := refresh.DesiredConfiguration; dc.MixedInstancesPolicy != nil {
		// A refresh that leaves an override on another AMI does not do
		// what ours would.
		for _, o := range overrideImageSources(dc.MixedInstancesPolicy) {
			if o.image != ro.imageID {
				return false, nil
			}
		}
	}
	version, err := strconv.ParseInt(aws.ToString(spec.Version), 10, 64)
	if err != nil {
		return false, nil
	}
	out, err := ro.clients.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(ro.templateID),
		Versions:         []string{strconv.FormatInt(version, 10)},
	})
	if err != nil {
		var notFound interface{ ErrorCode() string }
		if errors.As(err, &notFound) && strings.HasPrefix(notFound.ErrorCode(), "InvalidLaunchTemplate") {
			return false, nil
		}
		return false, fmt.Errorf("describing launch template (%s) version %d: %w", ro.templateID, version, err)
	}
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil && aws.ToString(v.LaunchTemplateData.ImageId) == ro.imageID {
			ro.version = version
			return true, nil
		}
	}
	return false, nil
}

// desiredSpec is the launch template of a refresh's desired configuration.
func desiredSpec(dc *astypes.DesiredConfiguration) *astypes.LaunchTemplateSpecification {
	switch {
	case dc == nil:
		return nil
	case dc.LaunchTemplate != nil:
		return dc.LaunchTemplate
	case dc.MixedInstancesPolicy != nil && dc.MixedInstancesPolicy.LaunchTemplate != nil:
		return dc.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
	}
	return nil
}
