package rollout

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

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

// readLaunchConfiguration reads ro's launch configuration, the one
// Auto Scaling group group launches from, and names its copy with the new
// AMI.
func readLaunchConfiguration(ctx context.Context, ro *rollout, group string) error {
	out, err := ro.clients.autoscaling.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{
		LaunchConfigurationNames: []string{ro.lc.name},
	})
	if err != nil {
		return fmt.Errorf("describing launch configuration (%s) of Auto Scaling group (%s): %w", ro.lc.name, group, err)
	}
	if len(out.LaunchConfigurations) == 0 {
		return fmt.Errorf("launch configuration (%s) of Auto Scaling group (%s) not found", ro.lc.name, group)
	}
	ro.lc.source = out.LaunchConfigurations[0]
	ro.lc.sourceImage = aws.ToString(ro.lc.source.ImageId)
	ro.lc.copyName = copyName(ro.lc.name, ro.imageID)
	return nil
}

// resolveLaunchConfiguration reads the group's launch configuration.
func (r *roller) resolveLaunchConfiguration(ctx context.Context, ro *rollout) error {
	if err := readLaunchConfiguration(ctx, ro, ro.group); err != nil {
		return err
	}
	if ro.lc.sourceImage == ro.imageID {
		r.say(ro, "uses launch configuration %s (legacy), which already has %s", ro.lc.name, ro.imageID)
		return nil
	}
	r.say(ro, "uses launch configuration %s (legacy): it will be copied as %s and set on the group, and the refresh cannot be rolled back by AWS", ro.lc.name, ro.lc.copyName)
	return nil
}

// launchConfigurationFleet decides what a refresh of a group on launch
// configuration lc (with AMI lcImage) does for the new AMI ami, given the
// group's instances. Such a refresh has no desired configuration, so AWS
// cannot skip instances that already match: it replaces every one. So
// when lc already has the AMI and every instance runs lc, the group is up
// to date and upToDate says why; when some instances already run the new
// AMI but others do not, warning says that those are replaced too. A warm
// pool's instances are not among the group's, so with one the group is
// never called up to date.
func launchConfigurationFleet(lc, lcImage, ami string, instances []astypes.Instance, warmPool bool) (upToDate, warning string) {
	current := lc // the launch configuration that has the new AMI
	if lcImage != ami {
		current = copyName(lc, ami)
	}
	var on, other []string
	for _, i := range instances {
		if strings.HasPrefix(string(i.LifecycleState), "Terminat") {
			continue // on its way out; not what the refresh replaces
		}
		if aws.ToString(i.LaunchConfigurationName) == current {
			on = append(on, aws.ToString(i.InstanceId))
		} else {
			other = append(other, aws.ToString(i.InstanceId))
		}
	}
	n := len(on) + len(other)
	switch {
	case lcImage == ami && len(other) == 0 && warmPool:
		return "", fmt.Sprintf("launch configuration %s already has %s, but the group's warm pool instances cannot be checked: a refresh without a desired configuration cannot skip matching instances, so every instance will be replaced, the %d already on %s too", lc, ami, n, lc)
	case lcImage == ami && len(other) == 0 && n == 0:
		return fmt.Sprintf("launch configuration %s already has %s, and the group has no instances", lc, ami), ""
	case lcImage == ami && len(other) == 0 && n == 1:
		return fmt.Sprintf("launch configuration %s already has %s, and the group's one instance runs it", lc, ami), ""
	case lcImage == ami && len(other) == 0:
		return fmt.Sprintf("launch configuration %s already has %s, and all %d instances run it", lc, ami, n), ""
	case len(on) > 0:
		return "", fmt.Sprintf("instances %s do not run launch configuration %s (with %s), and %d of %d do: a refresh without a desired configuration cannot skip matching instances, so every instance will be replaced, those already on %s too",
			strings.Join(other, ", "), current, ami, len(on), n, ami)
	}
	return "", ""
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
