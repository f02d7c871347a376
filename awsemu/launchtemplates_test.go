package awsemu

import (
	"encoding/base64"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (c clients) version(t *testing.T, templateID, version string) *ec2types.ResponseLaunchTemplateData {
	t.Helper()
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctxFor(t), &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(templateID), Versions: []string{version},
	})
	if err != nil || len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("DescribeLaunchTemplateVersions(%s, %s): %v", templateID, version, err)
	}
	return out.LaunchTemplateVersions[0].LaunchTemplateData
}

// AWS: CreateLaunchTemplateVersion with SourceVersion inherits every setting
// of the source version that LaunchTemplateData does not give; a top-level
// field that is given replaces the inherited one whole. Without SourceVersion
// the new version holds only what was sent.
func TestCreateLaunchTemplateVersionInheritsSourceVersion(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	var sgs []string
	for i := range 2 {
		out, err := c.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(uniqueName(t) + "-sg" + string(rune('a'+i))), Description: aws.String("test"),
		})
		if err != nil {
			t.Fatalf("CreateSecurityGroup: %v", err)
		}
		sgs = append(sgs, aws.ToString(out.GroupId))
	}
	userData := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hello\n"))
	source := &ec2types.RequestLaunchTemplateData{
		ImageId:          aws.String(oldAMI),
		InstanceType:     ec2types.InstanceTypeT3Small,
		KeyName:          aws.String("deploy-key"),
		SecurityGroupIds: []string{sgs[0]},
		UserData:         aws.String(userData),
		IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{
			Name: aws.String("app-profile"),
		},
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.LaunchTemplateHttpTokensStateRequired,
			HttpPutResponseHopLimit: aws.Int32(2),
		},
		TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{
			ResourceType: ec2types.ResourceTypeInstance,
			Tags:         []ec2types.Tag{{Key: aws.String("app"), Value: aws.String("web")}, {Key: aws.String("team"), Value: aws.String("core")}},
		}},
		BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &ec2types.LaunchTemplateEbsBlockDeviceRequest{VolumeSize: aws.Int32(30), VolumeType: ec2types.VolumeTypeGp3, Encrypted: aws.Bool(true)},
		}},
		Monitoring: &ec2types.LaunchTemplatesMonitoringRequest{Enabled: aws.Bool(true)},
	}
	out, err := c.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(uniqueName(t)), LaunchTemplateData: source,
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	lt := aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	v1 := c.version(t, lt, "1")

	// Only the AMI changes; everything else is inherited.
	v2out, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(lt),
		SourceVersion:      aws.String("1"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	if n := aws.ToInt64(v2out.LaunchTemplateVersion.VersionNumber); n != 2 {
		t.Fatalf("new version is %d, want 2", n)
	}
	v2 := c.version(t, lt, "2")
	if aws.ToString(v2.ImageId) != newAMI {
		t.Errorf("version 2 image %s, want %s", aws.ToString(v2.ImageId), newAMI)
	}
	want := *v1
	want.ImageId = aws.String(newAMI)
	if !reflect.DeepEqual(*v2, want) {
		t.Errorf("version 2 did not inherit version 1:\n got %+v\nwant %+v", *v2, want)
	}
	if aws.ToString(v2.UserData) != userData || aws.ToString(v2.KeyName) != "deploy-key" || v2.InstanceType != ec2types.InstanceTypeT3Small ||
		!slices.Equal(v2.SecurityGroupIds, []string{sgs[0]}) || v2.MetadataOptions == nil || v2.MetadataOptions.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired ||
		len(v2.TagSpecifications) != 1 || len(v2.TagSpecifications[0].Tags) != 2 || v2.IamInstanceProfile == nil || len(v2.BlockDeviceMappings) != 1 {
		t.Errorf("version 2 lost settings: %+v", *v2)
	}

	// A given top-level field replaces the inherited one; the rest is kept.
	if _, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(lt),
		SourceVersion:      aws.String("2"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{SecurityGroupIds: []string{sgs[1]}},
	}); err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	v3 := c.version(t, lt, "3")
	if !slices.Equal(v3.SecurityGroupIds, []string{sgs[1]}) {
		t.Errorf("version 3 security groups %v, want only %s", v3.SecurityGroupIds, sgs[1])
	}
	if aws.ToString(v3.ImageId) != newAMI || aws.ToString(v3.UserData) != userData {
		t.Errorf("version 3 lost inherited settings: image %s", aws.ToString(v3.ImageId))
	}

	// Without SourceVersion nothing is inherited.
	if _, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(lt),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	}); err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	if v4 := c.version(t, lt, "4"); v4.InstanceType != "" || aws.ToString(v4.UserData) != "" {
		t.Errorf("version 4 without SourceVersion inherited settings: %+v", *v4)
	}

	// A missing source version is an error, not a silent empty version.
	_, err = c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(lt),
		SourceVersion:      aws.String("99"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	})
	if err == nil {
		t.Errorf("SourceVersion 99 of a template with 4 versions was accepted")
	}
}

// AWS: CreateLaunchTemplateVersion is idempotent by ClientToken: repeating
// a request with the same token returns the first answer (the same version)
// without creating another; reusing the token for different parameters fails
// with IdempotentParameterMismatch.
func TestCreateLaunchTemplateVersionClientToken(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	in := &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(lt),
		SourceVersion:      aws.String("1"),
		ClientToken:        aws.String("deploy-" + uniqueName(t)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	}
	first, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), in)
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	again, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), in)
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion again: %v", err)
	}
	if a, b := aws.ToInt64(first.LaunchTemplateVersion.VersionNumber), aws.ToInt64(again.LaunchTemplateVersion.VersionNumber); a != 2 || b != 2 {
		t.Errorf("versions %d and %d, want 2 both times", a, b)
	}
	versions, err := c.ec2.DescribeLaunchTemplateVersions(ctxFor(t), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(lt)})
	if err != nil {
		t.Fatalf("DescribeLaunchTemplateVersions: %v", err)
	}
	if n := len(versions.LaunchTemplateVersions); n != 2 {
		t.Errorf("template has %d versions, want 2", n)
	}

	mismatch := *in
	mismatch.LaunchTemplateData = &ec2types.RequestLaunchTemplateData{ImageId: aws.String(badAMI)}
	_, err = c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &mismatch)
	if apiCode(err) != "IdempotentParameterMismatch" {
		t.Errorf("same token, other parameters: got %v, want IdempotentParameterMismatch", err)
	}

	other := *in
	other.ClientToken = aws.String("other-" + uniqueName(t))
	out, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &other)
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion with a new token: %v", err)
	}
	if n := aws.ToInt64(out.LaunchTemplateVersion.VersionNumber); n != 3 {
		t.Errorf("a new token made version %d, want 3", n)
	}
}
