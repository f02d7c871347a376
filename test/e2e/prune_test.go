package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// This file proves the pruning of issue 13 end to end: launch template
// versions and AMIs that no fleet needs are deleted after a successful
// roll-out, and nothing a group, an override, an instance or a parameter
// still uses. Each test checks what is left the way a user would, with
// DescribeLaunchTemplateVersions, DescribeImages and DescribeSnapshots.

// deployedTag is the tag the post-processor sets on each AMI it deployed;
// its value names the launch templates the AMI was rolled onto.
const deployedTag = "asg-rollout:deployed"

// versionNumbers lists a template's version numbers, ascending.
func (e *env) versionNumbers(region, templateID string) []int64 {
	e.t.Helper()
	return slices.Sorted(maps.Keys(e.versions(region, templateID)))
}

// TestPruneVersions: three builds in a row with keep = 2. The template
// keeps its default version, the version another group launches from, and
// the newest two (the live one and the one it replaced); the rest is gone.
func TestPruneVersions(t *testing.T) {
	e := newEnv(t)
	c := e.clients("us-east-1")
	ctx := context.Background()
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1})
	lt := seeded.LaunchTemplateID

	// Version 2 of web's template is what a canary group launches from.
	// (Without user data: moto cannot launch a group from a version that
	// CreateLaunchTemplateVersion gave user data.)
	v2, err := c.EC2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(lt), VersionDescription: aws.String("canary"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(seeded.ImageID), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil || aws.ToInt64(v2.LaunchTemplateVersion.VersionNumber) != 2 {
		t.Fatalf("creating the canary version: %+v, %v", v2, err)
	}
	if _, err := c.AutoScaling.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("canary"), MinSize: aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(1),
		AvailabilityZones: []string{"us-east-1a"},
		LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(lt), Version: aws.String("2")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitInService(ctx, "canary", 1); err != nil {
		t.Fatal(err)
	}
	canaryBefore := e.snapshot("us-east-1", "canary")

	var last string
	for i := 1; i <= 3; i++ {
		res := e.packerBuild(e.write(build{
			AMIName: fmt.Sprintf("%s-%d", e.amiName(), i), Targets: []target{{Group: "web"}},
			Extra: "\n    prune_versions { keep = 2 }",
		}))
		if res.ExitCode != 0 {
			t.Fatalf("build %d: packer build exited %d", i, res.ExitCode)
		}
		last = res.Output
		live := int64(i + 2) // builds create versions 3, 4 and 5
		if st := e.snapshot("us-east-1", "web"); st.Version != fmt.Sprint(live) {
			t.Errorf("build %d: web on version %q, want %d", i, st.Version, live)
		}
		want := []int64{1, 2, 3, 4, 5}[:live]
		if i == 3 {
			want = []int64{1, 2, 4, 5}
		}
		if got := e.versionNumbers("us-east-1", lt); !slices.Equal(got, want) {
			t.Errorf("build %d: versions %v, want %v", i, got, want)
		}
	}
	if d := e.defaultVersion("us-east-1", lt); d != 1 {
		t.Errorf("default version %d, want 1", d)
	}
	wantUntouched(t, canaryBefore, e.snapshot("us-east-1", "canary"))
	wantOutput(t, last, "Launch template "+lt+" (us-east-1): deleted 1 version(s): 3", "kept 2: launched by Auto Scaling group canary")
	for _, c := range e.emu.Calls() {
		if c.Action == "DeleteLaunchTemplateVersions" && !isDryRun(c) {
			for k, v := range c.Params {
				if strings.HasPrefix(k, "LaunchTemplateVersion.") && (v == "1" || v == "2" || v == "4" || v == "5") {
					t.Errorf("DeleteLaunchTemplateVersions was asked to delete version %s", v)
				}
			}
		}
	}
}

// deployedImage makes an AMI as an earlier build of this plugin would have
// left it: baked from the stock image and tagged as deployed to value.
func (e *env) deployedImage(region, name, value string) (ami, snapshot string) {
	e.t.Helper()
	c := e.clients(region)
	ctx := context.Background()
	stock, err := c.StockImage(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(stock), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		e.t.Fatal(err)
	}
	builder := aws.ToString(run.Instances[0].InstanceId)
	img, err := c.EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(builder), Name: aws.String(name)})
	if err != nil {
		e.t.Fatal(err)
	}
	ami = aws.ToString(img.ImageId)
	if _, err := c.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{builder}}); err != nil {
		e.t.Fatal(err)
	}
	if value != "" {
		e.tagDeployed(region, ami, value)
	}
	out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		e.t.Fatalf("DescribeImages(%s): %v", ami, err)
	}
	for _, bd := range out.Images[0].BlockDeviceMappings {
		if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
			snapshot = *bd.Ebs.SnapshotId
		}
	}
	if snapshot == "" {
		e.t.Fatalf("AMI %s has no snapshot", ami)
	}
	return ami, snapshot
}

// tagDeployed tags an AMI as deployed to value.
func (e *env) tagDeployed(region, ami, value string) {
	e.t.Helper()
	if _, err := e.clients(region).EC2.CreateTags(context.Background(), &ec2.CreateTagsInput{
		Resources: []string{ami}, Tags: []ec2types.Tag{{Key: aws.String(deployedTag), Value: aws.String(value)}},
	}); err != nil {
		e.t.Fatal(err)
	}
}

// snapshotExists reports whether a snapshot still exists.
func (e *env) snapshotExists(region, snapshot string) bool {
	e.t.Helper()
	_, err := e.clients(region).EC2.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapshot}})
	if err != nil && !strings.Contains(err.Error(), "InvalidSnapshot.NotFound") {
		e.t.Fatalf("DescribeSnapshots(%s): %v", snapshot, err)
	}
	return err == nil
}

// TestPruneImages: with keep = 1, every older AMI deployed to web's
// template is a candidate; those still used by web's own older version,
// another template's version, another group's launch configuration, a
// mixed instances override, an instance or an SSM parameter are kept, as
// is one with deregistration protection and one deployed to something
// else; the unused one is deregistered and its snapshot deleted.
func TestPruneImages(t *testing.T) {
	e := newEnv(t)
	c := e.clients("us-east-1")
	ctx := context.Background()
	// web runs an AMI an earlier build deployed: its template's version 1,
	// the default and the way back, keeps naming it.
	previous, _ := e.deployedImage("us-east-1", "old-previous", "")
	web := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1, ImageID: previous})
	mine := web.LaunchTemplateID
	e.tagDeployed("us-east-1", previous, mine)

	byGroup, byGroupSnap := e.deployedImage("us-east-1", "old-legacy", mine)
	byOverride, _ := e.deployedImage("us-east-1", "old-override", mine)
	byInstance, _ := e.deployedImage("us-east-1", "old-instance", mine)
	byParam, _ := e.deployedImage("us-east-1", "old-param", mine)
	unused, unusedSnap := e.deployedImage("us-east-1", "old-unused", mine)
	protected, _ := e.deployedImage("us-east-1", "old-protected", mine)
	others, othersSnap := e.deployedImage("us-east-1", "old-other-app", "lt-0123456789abcdef0")
	byTemplate, _ := e.deployedImage("us-east-1", "old-template", mine)
	if _, err := c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("spare"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(byTemplate), InstanceType: ec2types.InstanceTypeT3Micro},
	}); err != nil {
		t.Fatal(err)
	}

	e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 0, LaunchConfiguration: true, ImageID: byGroup})
	e.seed("us-east-1", fleet.Spec{Group: "mixed", Desired: 0, Overrides: []fleet.Override{{InstanceType: "t3.micro", ImageID: byOverride}, {InstanceType: "t3.small"}}})
	if _, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(byInstance), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	e.putParam("us-east-1", "/other/ami", byParam)
	if _, err := c.EC2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(protected)}); err != nil {
		t.Fatal(err)
	}

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Extra: "\n    prune_images { keep = 1 }"}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	wantAllOn(t, e.snapshot("us-east-1", "web"), ami, 1)

	for what, id := range map[string]string{
		"the new AMI": ami, "the launch configuration's": byGroup, "the override's": byOverride, "the instance's": byInstance,
		"the parameter's": byParam, "the protected": protected, "another application's": others,
		"the previous (web's version 1)": previous, "another template's": byTemplate,
	} {
		if !e.imageExists("us-east-1", id) {
			t.Errorf("%s AMI %s was deregistered", what, id)
		}
	}
	if e.imageExists("us-east-1", unused) {
		t.Errorf("the unused AMI %s is still registered", unused)
	}
	if e.snapshotExists("us-east-1", unusedSnap) {
		t.Errorf("the snapshot %s of the deregistered AMI %s still exists", unusedSnap, unused)
	}
	for _, s := range []string{byGroupSnap, othersSnap} {
		if !e.snapshotExists("us-east-1", s) {
			t.Errorf("snapshot %s of a kept AMI was deleted", s)
		}
	}
	tags, err := c.EC2.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("resource-id"), Values: []string{ami}}, {Name: aws.String("key"), Values: []string{deployedTag}},
	}})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != mine {
		t.Errorf("the new AMI's %s tag: %+v, %v; want %s", deployedTag, tags, err, mine)
	}
	wantOutput(t, res.Output, "deregistered "+unused)
	if !strings.Contains(res.Output, protected) {
		t.Errorf("the output does not name the protected AMI %s", protected)
	}
}
