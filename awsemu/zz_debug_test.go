package awsemu

import (
	"net/url"
	"testing"
)

func TestZZDebugCopyLongNameForTheTargetGroupHelper(t *testing.T) {
	s := ownServer(t, 200)
	c := newClients(s.URL(), 0)
	templateID, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, templateID, "1", 4)
	tgARN, _ := loadBalanced(t, s, c, group)
	mc := newMotoAPI(s.URL(), nil).clientsFor("us-east-1", "test")
	form := url.Values{"Action": {"CreateAutoScalingGroup"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {"n1"}, "AvailabilityZones.member.1": {"us-east-1a"},
		"DesiredCapacity": {"4"}, "MaxSize": {"8"}, "MinSize": {"0"}, "LaunchTemplate.LaunchTemplateId": {templateID}, "LaunchTemplate.Version": {"1"},
		"LoadBalancerNames": {""}, "TargetGroupARNs.member.1": {tgARN}, "ServiceLinkedRoleARN": {"arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},
		"TerminationPolicies.member.1": {"Default"}, "CapacityRebalance": {"false"}, "DefaultCooldown": {"300"}, "HealthCheckType": {"EC2"},
		"DefaultInstanceWarmup": {"60"}, "HealthCheckGracePeriod": {"300"}, "NewInstancesProtectedFromScaleIn": {"false"},
		"Tags.member.1.Key": {"asg-rollout:base-name"}, "Tags.member.1.PropagateAtLaunch": {"false"}, "Tags.member.1.ResourceId": {"n1"}, "Tags.member.1.ResourceType": {"auto-scaling-group"}, "Tags.member.1.Value": {"web"},
		"Tags.member.2.Key": {"asg-rollout:image"}, "Tags.member.2.PropagateAtLaunch": {"false"}, "Tags.member.2.ResourceId": {"n1"}, "Tags.member.2.ResourceType": {"auto-scaling-group"}, "Tags.member.2.Value": {"ami-x"}}
	body, err := mc.raw(ctxFor(t), serviceAutoScaling, form)
	t.Logf("%s %v", body, err)
}
