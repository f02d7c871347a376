package rollout

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Launch configurations are the legacy way to tell a group what to launch.
// Instance refresh's desired configuration takes launch templates only, so
// such a group is rolled by copying its launch configuration with the new
// AMI, setting the copy on the group (UpdateAutoScalingGroup, the one place
// this plugin updates a group, and only with copy_launch_configuration) and
// starting a refresh without a desired configuration. AWS cannot roll such a
// refresh back; on any failure or interruption the previous launch
// configuration is put back on the group, so that new launches use the old
// AMI again.

// maxLaunchConfigurationName is Auto Scaling's limit on the name.
const maxLaunchConfigurationName = 255

// amiSuffix matches the "-ami-..." a previous roll-out appended to a name.
var amiSuffix = regexp.MustCompile(`-ami-[0-9a-f]+$`)

// launchConfigurationUse is a group's launch configuration and its copy.
type launchConfigurationUse struct {
	name, sourceImage string
	source            astypes.LaunchConfiguration
	copyName          string
	applied           bool // the copy is set on the group
}

// copyName is the name of the copy of name with ami: the original name
// (without a previous roll-out's AMI suffix) followed by the AMI id, so a
// re-run finds its own copy.
func copyName(name, ami string) string {
	base := amiSuffix.ReplaceAllString(name, "")
	return truncate(base, maxLaunchConfigurationName-len(ami)-1) + "-" + ami
}

// resolveLaunchConfiguration reads the group's launch configuration.
func (r *roller) resolveLaunchConfiguration(ctx context.Context, ro *rollout) error {
	out, err := ro.clients.autoscaling.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{
		LaunchConfigurationNames: []string{ro.lc.name},
	})
	if err != nil {
		return fmt.Errorf("describing launch configuration (%s) of Auto Scaling group (%s): %w", ro.lc.name, ro.group, err)
	}
	if len(out.LaunchConfigurations) == 0 {
		return fmt.Errorf("launch configuration (%s) of Auto Scaling group (%s) not found", ro.lc.name, ro.group)
	}
	ro.lc.source = out.LaunchConfigurations[0]
	ro.lc.sourceImage = aws.ToString(ro.lc.source.ImageId)
	ro.lc.copyName = copyName(ro.lc.name, ro.imageID)
	r.say(ro, "uses launch configuration %s (legacy): it will be copied as %s and set on the group, and the refresh cannot be rolled back by AWS", ro.lc.name, ro.lc.copyName)
	return nil
}

// createLaunchConfiguration copies the group's launch configuration with
// the new AMI, unless the group already uses one with it.
func (r *roller) createLaunchConfiguration(ctx context.Context, ro *rollout) error {
	if ro.lc.sourceImage == ro.imageID {
		ro.lc.copyName = ro.lc.name
		r.say(ro, "launch configuration %s already has %s: using it as it is", ro.lc.name, ro.imageID)
		return nil
	}
	src := ro.lc.source
	in := &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName:  aws.String(ro.lc.copyName),
		ImageId:                  aws.String(ro.imageID),
		InstanceType:             src.InstanceType,
		KeyName:                  nonEmpty(src.KeyName),
		SecurityGroups:           src.SecurityGroups,
		UserData:                 nonEmpty(src.UserData),
		IamInstanceProfile:       nonEmpty(src.IamInstanceProfile),
		BlockDeviceMappings:      src.BlockDeviceMappings,
		EbsOptimized:             src.EbsOptimized,
		InstanceMonitoring:       src.InstanceMonitoring,
		AssociatePublicIpAddress: src.AssociatePublicIpAddress,
		MetadataOptions:          src.MetadataOptions,
		PlacementTenancy:         nonEmpty(src.PlacementTenancy),
		SpotPrice:                nonEmpty(src.SpotPrice),
		KernelId:                 nonEmpty(src.KernelId),
		RamdiskId:                nonEmpty(src.RamdiskId),
	}
	_, err := ro.clients.autoscaling.CreateLaunchConfiguration(ctx, in)
	var exists *astypes.AlreadyExistsFault
	switch {
	case errors.As(err, &exists):
		// A previous run (or a retry after a lost answer) made it; its name
		// carries the AMI, so it is the copy we want.
		r.say(ro, "launch configuration %s already exists: using it", ro.lc.copyName)
	case err != nil:
		return fmt.Errorf("creating launch configuration (%s) with %s for Auto Scaling group (%s): %w", ro.lc.copyName, ro.imageID, ro.group, err)
	default:
		r.say(ro, "created launch configuration %s from %s, with %s", ro.lc.copyName, ro.lc.name, ro.imageID)
	}
	return nil
}

// applyLaunchConfiguration sets the copy on the group, before the refresh.
func (r *roller) applyLaunchConfiguration(ctx context.Context, ro *rollout) error {
	if ro.lc.copyName == ro.lc.name {
		return nil
	}
	if err := setLaunchConfiguration(ctx, ro, ro.lc.copyName); err != nil {
		return err
	}
	ro.lc.applied = true
	r.say(ro, "set launch configuration %s on the group (copy_launch_configuration)", ro.lc.copyName)
	return nil
}

// restoreLaunchConfiguration puts the previous launch configuration back
// after a roll-out that did not succeed, on a fresh bounded context.
func (r *roller) restoreLaunchConfiguration(ro *rollout) string {
	if ro.lc == nil || !ro.lc.applied {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	if err := setLaunchConfiguration(ctx, ro, ro.lc.name); err != nil {
		msg := fmt.Sprintf("putting launch configuration %s back on the group failed: %v; new instances launch with %s until you do", ro.lc.name, err, ro.imageID)
		r.say(ro, "%s", msg)
		return msg
	}
	ro.lc.applied = false
	msg := fmt.Sprintf("put launch configuration %s back on the group: new instances launch with %s again; instances already replaced keep %s", ro.lc.name, ro.lc.sourceImage, ro.imageID)
	r.say(ro, "%s", msg)
	return msg
}

func setLaunchConfiguration(ctx context.Context, ro *rollout, name string) error {
	_, err := ro.clients.autoscaling.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName:    aws.String(ro.group),
		LaunchConfigurationName: aws.String(name),
	})
	if err != nil {
		return fmt.Errorf("setting launch configuration (%s) on Auto Scaling group (%s): %w", name, ro.group, err)
	}
	return nil
}

func nonEmpty(s *string) *string {
	if aws.ToString(s) == "" {
		return nil
	}
	return s
}
