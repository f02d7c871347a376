package awsemu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// createMixedGroup creates a group on a mixed instances policy with the
// template's version 1 and one override per image (t3.small, t3.medium,
// ...), each with that ImageId ("" for none).
func (c clients) createMixedGroup(t *testing.T, templateID string, desired int32, images ...string) string {
	t.Helper()
	name := uniqueName(t)
	_, err := c.asg.CreateAutoScalingGroup(ctxFor(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MixedInstancesPolicy: mixedPolicy(templateID, "1", images...),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(desired + 2),
		DesiredCapacity:      aws.Int32(desired),
		AvailabilityZones:    []string{"us-east-1a"},
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	return name
}

var overrideTypes = []string{"t3.small", "t3.medium", "t3.large"}

func mixedPolicy(templateID, version string, images ...string) *asgtypes.MixedInstancesPolicy {
	lt := &asgtypes.LaunchTemplate{LaunchTemplateSpecification: &asgtypes.LaunchTemplateSpecification{
		LaunchTemplateId: aws.String(templateID), Version: aws.String(version),
	}}
	for i, img := range images {
		o := asgtypes.LaunchTemplateOverrides{InstanceType: aws.String(overrideTypes[i])}
		if img != "" {
			o.ImageId = aws.String(img)
		}
		lt.Overrides = append(lt.Overrides, o)
	}
	return &asgtypes.MixedInstancesPolicy{LaunchTemplate: lt}
}

func overrideImages(g asgtypes.AutoScalingGroup) []string {
	var out []string
	if g.MixedInstancesPolicy == nil || g.MixedInstancesPolicy.LaunchTemplate == nil {
		return nil
	}
	for _, o := range g.MixedInstancesPolicy.LaunchTemplate.Overrides {
		out = append(out, aws.ToString(o.ImageId))
	}
	return out
}

// AWS: an override's ImageId is "The ID of the Amazon Machine Image (AMI)
// to use for instances launched with this override", so it takes
// precedence over the template's AMI. A group keeps its overrides'
// ImageIds; a refresh launches from the override's AMI even with the same
// template version, writes the desired overrides onto the group when it
// succeeds, and the instances report ImageId, which AWS shows for
// "Instances launched with AMI overrides".
func TestOverrideImageIDsTakePrecedenceAndAreKept(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	group := c.createMixedGroup(t, lt, 2, oldAMI)
	if got := overrideImages(c.group(t, group)); len(got) != 1 || got[0] != oldAMI {
		t.Fatalf("after CreateAutoScalingGroup the overrides' ImageIds are %q, want [%s]", got, oldAMI)
	}
	if _, err := c.asg.UpdateAutoScalingGroup(ctxFor(t), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), MixedInstancesPolicy: mixedPolicy(lt, "1", oldAMI, oldAMI),
	}); err != nil {
		t.Fatalf("UpdateAutoScalingGroup: %v", err)
	}
	if got := overrideImages(c.group(t, group)); len(got) != 2 || got[1] != oldAMI {
		t.Fatalf("after UpdateAutoScalingGroup the overrides' ImageIds are %q, want two of %s", got, oldAMI)
	}

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", newAMI, newAMI)},
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(50), InstanceWarmup: aws.Int32(60)},
	})
	done := c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	if got := done.DesiredConfiguration.MixedInstancesPolicy.LaunchTemplate.Overrides; len(got) != 2 || aws.ToString(got[0].ImageId) != newAMI {
		t.Errorf("Describe echoes desired overrides %+v, want their ImageIds", got)
	}
	g := c.group(t, group)
	if got := overrideImages(g); len(got) != 2 || got[0] != newAMI || got[1] != newAMI {
		t.Errorf("after the refresh the group's overrides have ImageIds %q, want the desired %s", got, newAMI)
	}
	for inst, ami := range c.images(t, group) {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want the override's %s over the template's %s", inst, ami, newAMI, oldAMI)
		}
	}
	for _, in := range g.Instances {
		if aws.ToString(in.ImageId) != newAMI {
			t.Errorf("DescribeAutoScalingGroups: instance %s reports ImageId %q, want %s", aws.ToString(in.InstanceId), aws.ToString(in.ImageId), newAMI)
		}
	}
	insts, err := c.asg.DescribeAutoScalingInstances(ctxFor(t), &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: instanceIDs(g)})
	if err != nil {
		t.Fatalf("DescribeAutoScalingInstances: %v", err)
	}
	for _, in := range insts.AutoScalingInstances {
		if aws.ToString(in.ImageId) != newAMI {
			t.Errorf("DescribeAutoScalingInstances: instance %s reports ImageId %q, want %s", aws.ToString(in.InstanceId), aws.ToString(in.ImageId), newAMI)
		}
	}

	// Instances launched without an override ImageId report none.
	plain := c.createGroup(t, lt, "1", 1)
	id = c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(plain),
		DesiredConfiguration: ltDesired(lt, "1"),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(0), InstanceWarmup: aws.Int32(0)},
	})
	c.waitStatus(t, plain, id, asgtypes.InstanceRefreshStatusSuccessful)
	for _, in := range c.group(t, plain).Instances {
		if in.ImageId != nil {
			t.Errorf("instance %s launched from a plain template reports ImageId %s", aws.ToString(in.InstanceId), aws.ToString(in.ImageId))
		}
	}
}

// AWS lists the requirements of ReplaceRootVolume: "Your Auto Scaling group
// must use a mixed instances policy", "All overrides in the mixed instances
// policy must specify an ImageId", "AMIs must contain only a single root
// volume", and "You must start the instance refresh with a desired
// configuration having a mixed instances policy containing ImageId
// overrides." Each unmet one is a ValidationError; a refresh that meets
// them runs.
func TestReplaceRootVolumeRequirements(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	plain := c.createGroup(t, lt, "1", 0)
	mixed := c.createMixedGroup(t, lt, 1, oldAMI, oldAMI)

	reg, err := c.ec2.RegisterImage(ctxFor(t), &ec2.RegisterImageInput{
		Name:           aws.String(uniqueName(t)),
		RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(8)}},
			{DeviceName: aws.String("/dev/xvdb"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(8)}},
		},
	})
	if err != nil {
		t.Fatalf("RegisterImage: %v", err)
	}
	twoVolumes := aws.ToString(reg.ImageId)

	rrv := asgtypes.RefreshStrategyReplaceRootVolume
	for _, tc := range []struct {
		name    string
		group   string
		desired *asgtypes.DesiredConfiguration
	}{
		{"group without a mixed instances policy", plain, &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", newAMI)}},
		{"no desired configuration", mixed, nil},
		{"desired launch template", mixed, ltDesired(lt, "1")},
		{"an override without ImageId", mixed, &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", newAMI, "")}},
		{"no overrides", mixed, &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1")}},
		{"an AMI with two volumes", mixed, &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", newAMI, twoVolumes)}},
		{"an AMI that does not exist", mixed, &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", "ami-00000000")}},
	} {
		_, err := c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{
			AutoScalingGroupName: aws.String(tc.group), Strategy: rrv, DesiredConfiguration: tc.desired,
		})
		if apiCode(err) != "ValidationError" {
			t.Errorf("ReplaceRootVolume with %s: got %v, want ValidationError", tc.name, err)
		}
	}

	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(mixed), Strategy: rrv,
		DesiredConfiguration: &asgtypes.DesiredConfiguration{MixedInstancesPolicy: mixedPolicy(lt, "1", newAMI, newAMI)},
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(0), InstanceWarmup: aws.Int32(0)},
	})
	if r := c.waitStatus(t, mixed, id, asgtypes.InstanceRefreshStatusSuccessful); r.Strategy != rrv {
		t.Errorf("strategy reported as %s", r.Strategy)
	}
	for inst, ami := range c.images(t, mixed) {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want %s", inst, ami, newAMI)
		}
	}
}
