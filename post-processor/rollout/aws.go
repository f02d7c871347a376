package rollout

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// autoScalingAPI is every Auto Scaling call a roll-out makes. Each step
// uses only its own few; the union exists so that one client per region
// serves them all.
type autoScalingAPI interface {
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	StartInstanceRefresh(context.Context, *autoscaling.StartInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error)
	CancelInstanceRefresh(context.Context, *autoscaling.CancelInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.CancelInstanceRefreshOutput, error)
	RollbackInstanceRefresh(context.Context, *autoscaling.RollbackInstanceRefreshInput, ...func(*autoscaling.Options)) (*autoscaling.RollbackInstanceRefreshOutput, error)
	DescribeScalingActivities(context.Context, *autoscaling.DescribeScalingActivitiesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error)
	DescribeLaunchConfigurations(context.Context, *autoscaling.DescribeLaunchConfigurationsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error)
	// CreateLaunchConfiguration and UpdateAutoScalingGroup are called only
	// for groups on launch configurations, with copy_launch_configuration.
	CreateLaunchConfiguration(context.Context, *autoscaling.CreateLaunchConfigurationInput, ...func(*autoscaling.Options)) (*autoscaling.CreateLaunchConfigurationOutput, error)
	UpdateAutoScalingGroup(context.Context, *autoscaling.UpdateAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
	instancerefresh.DescribeInstanceRefreshesAPIClient
}

// ec2API is every EC2 call a roll-out makes.
type ec2API interface {
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	CreateLaunchTemplateVersion(context.Context, *ec2.CreateLaunchTemplateVersionInput, ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error)
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	// EnableImageDeregistrationProtection is called only after a failed
	// roll-out that leaves groups launching the new AMI (see protect.go).
	EnableImageDeregistrationProtection(context.Context, *ec2.EnableImageDeregistrationProtectionInput, ...func(*ec2.Options)) (*ec2.EnableImageDeregistrationProtectionOutput, error)
	// ModifyLaunchTemplate is called only with set_default_version.
	ModifyLaunchTemplate(context.Context, *ec2.ModifyLaunchTemplateInput, ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error)
	// RunInstances is called only with DryRun, to check launch permissions
	// before the first write (see permissions.go).
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
}

var (
	_ autoScalingAPI = (*autoscaling.Client)(nil)
	_ ec2API         = (*ec2.Client)(nil)
)

// clients are the API clients of one region.
type clients struct {
	autoscaling autoScalingAPI
	ec2         ec2API
	// For release_parameter, prune_versions and prune_images only
	// (release_api.go).
	ssm     ssmAPI
	cleanup cleanupAPI
	pools   warmPoolAPI
	// blueGreen, elbv2, elb and subnets serve blue/green roll-outs only
	// (bluegreen*.go).
	blueGreen blueGreenAPI
	elbv2     elbv2API
	elb       elbAPI
	subnets   subnetsAPI
}

// clientFactory makes the clients of a region, in the account of role when
// it is set.
type clientFactory func(ctx context.Context, region string, role awsauth.AssumeRoleConfig) (*clients, error)
