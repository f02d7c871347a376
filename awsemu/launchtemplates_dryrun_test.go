package awsemu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS, on DryRun: "Checks whether you have the required permissions for
// the action, without actually making the request, and provides an error
// response. If you have the required permissions, the error response is
// DryRunOperation." So a DryRun of CreateLaunchTemplateVersion creates no
// version, with SourceVersion or a ClientToken too, and a token already used
// does not replay its version.
func TestCreateLaunchTemplateVersionDryRunCreatesNothing(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	out, err := c.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(uniqueName(t)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(oldAMI), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	id := aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	token := uniqueName(t) + "-token"
	create := func(dryRun bool) error {
		_, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			DryRun: aws.Bool(dryRun), LaunchTemplateId: aws.String(id), SourceVersion: aws.String("1"), ClientToken: aws.String(token),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-00000000000000001")},
		})
		return err
	}
	versions := func() int {
		t.Helper()
		out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id)})
		if err != nil {
			t.Fatalf("DescribeLaunchTemplateVersions: %v", err)
		}
		return len(out.LaunchTemplateVersions)
	}

	if err := create(true); apiCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun: got %v, want DryRunOperation", err)
	}
	if n := versions(); n != 1 {
		t.Fatalf("%d versions after a DryRun, want 1", n)
	}
	if err := create(false); err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	// The token now has an answer: a DryRun with it is still only a DryRun.
	if err := create(true); apiCode(err) != "DryRunOperation" {
		t.Errorf("DryRun with a used token: got %v, want DryRunOperation", err)
	}
	if n := versions(); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
}
