package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// createBlueGreen makes the new group: the launch template versions (as a
// refresh would: SourceVersion, only the AMI, a deterministic client token)
// or a launch configuration copy, then a group that copies the live one
// with the new launch template version, the old group's desired capacity,
// and the same target groups and load balancers. A re-run after a crash
// continues the group it finds instead.
func (r *roller) createBlueGreen(ctx context.Context, ro *rollout) error {
	bg := ro.bg
	if g := bg.resume; g != nil {
		bg.created = true
		if spec := launchSpec(*g); spec != nil {
			ro.version = versionOf(spec)
		}
		if ro.lc != nil {
			ro.lc.copyName = aws.ToString(g.LaunchConfigurationName)
		}
		r.say(ro, "found group %s, made for %s by an earlier run of this build: continuing it", bg.newName, ro.imageID)
		return nil
	}
	if ro.lc != nil {
		if err := r.createLaunchConfiguration(ctx, ro); err != nil {
			return err
		}
	} else {
		for _, tu := range ro.templates() {
			if err := r.createTemplateVersion(ctx, ro, tu); err != nil {
				return err
			}
		}
	}
	bg.pendingSince = r.now().UTC().Format(time.RFC3339)
	in := newGroupInput(ro)
	_, err := ro.clients.blueGreen.CreateAutoScalingGroup(ctx, in)
	var exists *astypes.AlreadyExistsFault
	switch {
	case errors.As(err, &exists):
		// A retry after a lost answer, or a group made meanwhile: ours only
		// if it carries our tags.
		if g, _ := describeOne(ctx, ro, bg.newName); g != nil && tagValue(g.Tags, tagImage) == ro.imageID && tagValue(g.Tags, tagBaseName) == bg.base {
			r.say(ro, "group %s already exists with this build's tags: continuing it", bg.newName)
		} else {
			return fmt.Errorf("creating Auto Scaling group (%s): it already exists and is not this build's: delete it, or change blue_green.group_name", bg.newName)
		}
	case err != nil:
		// The answer may have been lost after the group was made: look, so
		// that the clean-up removes it.
		cctx, cancel := cleanupContext()
		if g, _ := describeOne(cctx, ro, bg.newName); g != nil && tagValue(g.Tags, tagImage) == ro.imageID {
			bg.created = true
		}
		cancel()
		return fmt.Errorf("creating Auto Scaling group (%s) beside %s: %w", bg.newName, bg.oldName, err)
	}
	bg.created = true
	r.say(ro, "created group %s beside %s: %d instance(s) (min %d, max %d) from %s, attached to %s",
		bg.newName, bg.oldName, aws.ToInt32(in.DesiredCapacity), aws.ToInt32(in.MinSize), aws.ToInt32(in.MaxSize), newLaunches(ro), attachedText(bg))

	for _, n := range bg.notifications {
		_, err := ro.clients.blueGreen.PutNotificationConfiguration(ctx, &autoscaling.PutNotificationConfigurationInput{
			AutoScalingGroupName: aws.String(bg.newName), TopicARN: n.TopicARN, NotificationTypes: []string{aws.ToString(n.NotificationType)},
		})
		if err != nil {
			return fmt.Errorf("copying notification configuration (%s, %s) onto Auto Scaling group (%s): %w", aws.ToString(n.TopicARN), aws.ToString(n.NotificationType), bg.newName, err)
		}
	}
	if metrics, granularity := enabledMetrics(bg.old); len(metrics) > 0 {
		_, err := ro.clients.blueGreen.EnableMetricsCollection(ctx, &autoscaling.EnableMetricsCollectionInput{
			AutoScalingGroupName: aws.String(bg.newName), Granularity: aws.String(granularity), Metrics: metrics,
		})
		if err != nil {
			return fmt.Errorf("enabling metrics collection on Auto Scaling group (%s) as on %s: %w", bg.newName, bg.oldName, err)
		}
	}
	return nil
}

// newGroupInput is the new group: every setting of the old one, the new
// launch template versions (or launch configuration copy), and the
// contract's tags. Deletion protection is left off until the cut-over, so
// that a failed roll-out can remove the group; scaling policies and
// scheduled actions come at the cut-over too, so that the two groups never
// both scale on them.
func newGroupInput(ro *rollout) *autoscaling.CreateAutoScalingGroupInput {
	bg, g := ro.bg, ro.bg.old
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName:             aws.String(bg.newName),
		MinSize:                          g.MinSize,
		MaxSize:                          g.MaxSize,
		DesiredCapacity:                  g.DesiredCapacity,
		DesiredCapacityType:              g.DesiredCapacityType,
		AvailabilityZoneDistribution:     g.AvailabilityZoneDistribution,
		AvailabilityZoneImpairmentPolicy: g.AvailabilityZoneImpairmentPolicy,
		CapacityRebalance:                g.CapacityRebalance,
		CapacityReservationSpecification: g.CapacityReservationSpecification,
		Context:                          g.Context,
		DefaultCooldown:                  g.DefaultCooldown,
		DefaultInstanceWarmup:            g.DefaultInstanceWarmup,
		HealthCheckGracePeriod:           g.HealthCheckGracePeriod,
		HealthCheckType:                  g.HealthCheckType,
		InstanceLifecyclePolicy:          g.InstanceLifecyclePolicy,
		InstanceMaintenancePolicy:        g.InstanceMaintenancePolicy,
		MaxInstanceLifetime:              g.MaxInstanceLifetime,
		NewInstancesProtectedFromScaleIn: g.NewInstancesProtectedFromScaleIn,
		PlacementGroup:                   g.PlacementGroup,
		ServiceLinkedRoleARN:             g.ServiceLinkedRoleARN,
		TerminationPolicies:              g.TerminationPolicies,
		LoadBalancerNames:                slices.Clone(bg.loadBalancers),
		TargetGroupARNs:                  slices.Clone(bg.targetGroups),
	}
	if vpc := aws.ToString(g.VPCZoneIdentifier); vpc != "" {
		in.VPCZoneIdentifier = g.VPCZoneIdentifier
	} else if len(g.AvailabilityZoneIds) > 0 {
		in.AvailabilityZoneIds = g.AvailabilityZoneIds
	} else {
		in.AvailabilityZones = g.AvailabilityZones
	}
	switch {
	case ro.lc != nil:
		in.LaunchConfigurationName = aws.String(ro.lc.copyName)
	case ro.mixed != nil:
		in.MixedInstancesPolicy = newMixedPolicy(ro)
	default:
		in.LaunchTemplate = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ro.templateID), Version: aws.String(strconv.FormatInt(ro.version, 10))}
	}
	for _, h := range bg.hooks {
		in.LifecycleHookSpecificationList = append(in.LifecycleHookSpecificationList, astypes.LifecycleHookSpecification{
			LifecycleHookName: h.LifecycleHookName, LifecycleTransition: h.LifecycleTransition, DefaultResult: h.DefaultResult,
			HeartbeatTimeout: h.HeartbeatTimeout, NotificationMetadata: h.NotificationMetadata,
			NotificationTargetARN: h.NotificationTargetARN, RoleARN: h.RoleARN,
		})
	}
	in.Tags = newGroupTags(ro)
	return in
}

// newGroupTags are the old group's tags (those Auto Scaling lets a caller
// set) with their PropagateAtLaunch, the retired mark left out, and the
// contract's tags added.
func newGroupTags(ro *rollout) []astypes.Tag {
	bg := ro.bg
	var tags []astypes.Tag
	for _, t := range bg.old.Tags {
		k := aws.ToString(t.Key)
		if strings.HasPrefix(k, "aws:") || k == tagRetired || k == tagBaseName || k == tagImage || k == tagPending {
			continue
		}
		tags = append(tags, astypes.Tag{Key: t.Key, Value: t.Value, PropagateAtLaunch: t.PropagateAtLaunch,
			ResourceId: aws.String(bg.newName), ResourceType: aws.String("auto-scaling-group")})
	}
	contract := [][2]string{{tagBaseName, bg.base}, {tagImage, ro.imageID}}
	if bg.pendingSince != "" {
		contract = append(contract, [2]string{tagPending, bg.pendingSince})
	}
	for _, kv := range contract {
		tags = append(tags, astypes.Tag{Key: aws.String(kv[0]), Value: aws.String(kv[1]), PropagateAtLaunch: aws.Bool(false),
			ResourceId: aws.String(bg.newName), ResourceType: aws.String("auto-scaling-group")})
	}
	return tags
}

// newMixedPolicy is the old group's mixed instances policy, whole (AWS
// resets what a policy leaves out), with each template at its new version
// and the new AMI on every override that carries an ImageId.
func newMixedPolicy(ro *rollout) *astypes.MixedInstancesPolicy {
	old := ro.mixed
	p := *old
	lt := *old.LaunchTemplate
	p.LaunchTemplate = &lt
	lt.LaunchTemplateSpecification = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ro.templateID), Version: aws.String(strconv.FormatInt(ro.version, 10))}
	lt.Overrides = append([]astypes.LaunchTemplateOverrides{}, old.LaunchTemplate.Overrides...)
	for _, tu := range ro.overrides {
		lt.Overrides[tu.override].LaunchTemplateSpecification = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(tu.templateID), Version: aws.String(strconv.FormatInt(tu.version, 10))}
	}
	withOverrideImages(lt.Overrides, ro.imageID)
	return &p
}

// enabledMetrics are the group metrics the old group collects, and at what
// granularity.
func enabledMetrics(g astypes.AutoScalingGroup) ([]string, string) {
	var ms []string
	granularity := "1Minute"
	for _, m := range g.EnabledMetrics {
		ms = append(ms, aws.ToString(m.Metric))
		if gr := aws.ToString(m.Granularity); gr != "" {
			granularity = gr
		}
	}
	return ms, granularity
}

// launchSpec is the launch template a group names, directly or through its
// mixed instances policy.
func launchSpec(g astypes.AutoScalingGroup) *astypes.LaunchTemplateSpecification {
	switch {
	case g.LaunchTemplate != nil:
		return g.LaunchTemplate
	case g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil:
		return g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
	}
	return nil
}

// newLaunches says what the new group launches from.
func newLaunches(ro *rollout) string {
	if ro.lc != nil {
		return "launch configuration " + ro.lc.copyName
	}
	return fmt.Sprintf("version %d of %s", ro.version, ro.templateID)
}

// attachedText names the load balancers and target groups.
func attachedText(bg *blueGreen) string {
	return attachmentsText(bg.targetGroups, bg.loadBalancers)
}

// attachmentsText names target groups (given by ARN) and Classic Load
// Balancers, or says there is no load balancer.
func attachmentsText(targetGroups, loadBalancers []string) string {
	var parts []string
	for _, arn := range targetGroups {
		parts = append(parts, "target group "+targetGroupName(arn))
	}
	for _, n := range loadBalancers {
		parts = append(parts, "load balancer "+n)
	}
	if len(parts) == 0 {
		return "no load balancer"
	}
	return strings.Join(parts, ", ")
}

// targetGroupName is the name in a target group ARN
// (...:targetgroup/NAME/ID), or the ARN itself.
func targetGroupName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// describeOne describes one group by name; nil when there is none.
func describeOne(ctx context.Context, ro *rollout, name string) (*astypes.AutoScalingGroup, error) {
	out, err := ro.clients.autoscaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describing Auto Scaling group (%s): %w", name, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return nil, nil
	}
	return &out.AutoScalingGroups[0], nil
}
