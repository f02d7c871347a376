package awsemu

import (
	"encoding/base64"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// A version made with CreateLaunchTemplateVersion keeps its user data
// (given, or inherited with SourceVersion) and a group can launch from it:
// moto would answer HTTP 500 for the group (userdata.go). Malformed user
// data is refused, as AWS refuses it.
func TestLaunchTemplateVersionUserData(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ud := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho v1\n"))
	lt, err := c.ec2.CreateLaunchTemplate(ctxFor(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(uniqueName(t)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(oldAMI), InstanceType: ec2types.InstanceTypeT3Micro, UserData: aws.String(ud)},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	id := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	inherit, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	if got := aws.ToString(inherit.LaunchTemplateVersion.LaunchTemplateData.UserData); got != ud {
		t.Errorf("the answer for version 2 has user data %q, want the source's %q", got, ud)
	}
	ud3 := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho v3\n"))
	if _, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("2"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{UserData: aws.String(ud3)},
	}); err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	if _, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{UserData: aws.String("not base64!")},
	}); apiCode(err) != "InvalidUserData.Malformed" {
		t.Errorf("malformed user data answered %v, want InvalidUserData.Malformed", err)
	}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctxFor(t), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id)})
	if err != nil {
		t.Fatalf("DescribeLaunchTemplateVersions: %v", err)
	}
	want := map[int64]string{1: ud, 2: ud, 3: ud3}
	if len(out.LaunchTemplateVersions) != 3 {
		t.Fatalf("%d versions, want 3", len(out.LaunchTemplateVersions))
	}
	for _, v := range out.LaunchTemplateVersions {
		n := aws.ToInt64(v.VersionNumber)
		if got := aws.ToString(v.LaunchTemplateData.UserData); got != want[n] {
			t.Errorf("version %d has user data %q, want %q", n, got, want[n])
		}
		if n == 3 && aws.ToString(v.LaunchTemplateData.ImageId) != newAMI {
			t.Errorf("version 3 lost the AMI of its source: %+v", v.LaunchTemplateData)
		}
	}
	name := uniqueName(t)
	if _, err := c.asg.CreateAutoScalingGroup(ctxFor(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String("2")},
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(2), AvailabilityZones: []string{"us-east-1a"},
	}); err != nil {
		t.Fatalf("a group on version 2: %v", err)
	}
	for inst, ami := range c.images(t, name) {
		if ami != newAMI {
			t.Errorf("instance %s runs %s, want version 2's %s", inst, ami, newAMI)
		}
	}
}
