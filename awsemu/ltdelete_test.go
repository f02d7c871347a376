package awsemu

import (
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// versionNumbers lists a template's versions as DescribeLaunchTemplateVersions
// pages them, pageSize at a time (0: one request without MaxResults).
func (c clients) versionNumbers(t *testing.T, templateID string, pageSize int32) []int64 {
	t.Helper()
	in := &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(templateID)}
	if pageSize > 0 {
		in.MaxResults = aws.Int32(pageSize)
	}
	var got []int64
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(c.ec2, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctxFor(t))
		if err != nil {
			t.Fatalf("DescribeLaunchTemplateVersions(%s): %v", templateID, err)
		}
		if pageSize > 0 && len(out.LaunchTemplateVersions) > int(pageSize) {
			t.Fatalf("a page of %d versions for MaxResults %d", len(out.LaunchTemplateVersions), pageSize)
		}
		for _, v := range out.LaunchTemplateVersions {
			got = append(got, aws.ToInt64(v.VersionNumber))
		}
	}
	return got
}

// AWS (DeleteLaunchTemplateVersions): "You can't delete the default version
// of a launch template; you must first assign a different version as the
// default." Versions that cannot be deleted are reported one by one in
// UnsuccessfullyDeletedLaunchTemplateVersions with a LaunchTemplateErrorCode;
// deleted versions no longer appear in DescribeLaunchTemplateVersions, and
// version numbers are not reused.
func TestDeleteLaunchTemplateVersions(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	id, name := c.createTemplate(t, oldAMI)
	for range 19 {
		c.createVersion(t, id, newAMI) // versions 2..20
	}
	if _, err := c.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String("3")}); err != nil {
		t.Fatalf("ModifyLaunchTemplate: %v", err)
	}

	out, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String(name), Versions: []string{"1", "3", "4", "25"},
	})
	if err != nil {
		t.Fatalf("DeleteLaunchTemplateVersions: %v", err)
	}
	var deleted []int64
	for _, v := range out.SuccessfullyDeletedLaunchTemplateVersions {
		deleted = append(deleted, aws.ToInt64(v.VersionNumber))
		if aws.ToString(v.LaunchTemplateId) != id || aws.ToString(v.LaunchTemplateName) != name {
			t.Errorf("deleted version %d reported for %s/%s, want %s/%s", aws.ToInt64(v.VersionNumber), aws.ToString(v.LaunchTemplateId), aws.ToString(v.LaunchTemplateName), id, name)
		}
	}
	if !slices.Equal(deleted, []int64{1, 4}) {
		t.Errorf("SuccessfullyDeletedLaunchTemplateVersions %v, want [1 4]", deleted)
	}
	codes := map[int64]ec2types.LaunchTemplateErrorCode{}
	for _, v := range out.UnsuccessfullyDeletedLaunchTemplateVersions {
		if v.ResponseError == nil {
			t.Fatalf("unsuccessful version %d without ResponseError", aws.ToInt64(v.VersionNumber))
		}
		codes[aws.ToInt64(v.VersionNumber)] = v.ResponseError.Code
	}
	if codes[3] != ec2types.LaunchTemplateErrorCodeUnexpectedError {
		t.Errorf("default version 3: code %q, want unexpectedError", codes[3])
	}
	if codes[25] != ec2types.LaunchTemplateErrorCodeLaunchTemplateVersionDoesNotExist {
		t.Errorf("version 25: code %q, want launchTemplateVersionDoesNotExist", codes[25])
	}
	if n := len(out.UnsuccessfullyDeletedLaunchTemplateVersions); n != 2 {
		t.Errorf("%d unsuccessful versions, want 2 (3 and 25)", n)
	}

	// Deleting again: the version is gone.
	again, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"4"}})
	if err != nil || len(again.UnsuccessfullyDeletedLaunchTemplateVersions) != 1 ||
		again.UnsuccessfullyDeletedLaunchTemplateVersions[0].ResponseError.Code != ec2types.LaunchTemplateErrorCodeLaunchTemplateVersionDoesNotExist {
		t.Errorf("deleting version 4 again: %+v, %v; want launchTemplateVersionDoesNotExist", again, err)
	}

	// Described versions: 18 left, paged by MaxResults, none deleted.
	want := []int64{2, 3}
	for v := int64(5); v <= 20; v++ {
		want = append(want, v)
	}
	for _, page := range []int32{0, 7} {
		if got := c.versionNumbers(t, id, page); !slices.Equal(got, want) {
			t.Errorf("versions paged by %d: %v, want %v", page, got, want)
		}
	}
	if _, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"4"}}); apiCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Errorf("describing deleted version 4: %v, want InvalidLaunchTemplateId.VersionNotFound", err)
	}
	if _, err := c.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(id), DefaultVersion: aws.String("4")}); apiCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Errorf("making deleted version 4 the default: %v, want InvalidLaunchTemplateId.VersionNotFound", err)
	}

	// Deleting the latest: $Latest and LatestVersionNumber move to 19, and
	// the next version is 21.
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"20"}}); err != nil {
		t.Fatalf("DeleteLaunchTemplateVersions(20): %v", err)
	}
	latest, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Latest"}})
	if err != nil || len(latest.LaunchTemplateVersions) != 1 || aws.ToInt64(latest.LaunchTemplateVersions[0].VersionNumber) != 19 {
		t.Errorf("$Latest after deleting 20: %+v, %v; want version 19", latest, err)
	}
	tmpl, err := c.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}})
	if err != nil || len(tmpl.LaunchTemplates) != 1 || aws.ToInt64(tmpl.LaunchTemplates[0].LatestVersionNumber) != 19 {
		t.Errorf("LatestVersionNumber after deleting 20: %+v, %v; want 19", tmpl, err)
	}
	next, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("2"), // 1 is deleted
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(oldAMI)},
	})
	if err != nil || aws.ToInt64(next.LaunchTemplateVersion.VersionNumber) != 21 {
		t.Errorf("new version after deleting 20: %+v, %v; want 21 (numbers are not reused)", next, err)
	}
}

// AWS: "You can delete up to 200 launch template versions in a single
// request"; the template must be named by id or by name, not both; a
// template that does not exist fails every version with the error code
// saying so.
func TestDeleteLaunchTemplateVersionsRequestRules(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	id, name := c.createTemplate(t, oldAMI)
	c.createVersion(t, id, newAMI)

	var many []string
	for i := 1; i <= 201; i++ {
		many = append(many, strconv.Itoa(i))
	}
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: many}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("201 versions: %v, want InvalidParameterValue", err)
	}
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"2", "$Latest"}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("a version that is not a number: %v, want InvalidParameterValue", err)
	}
	if got := c.versionNumbers(t, id, 0); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("after refused requests: versions %v, want [1 2]", got)
	}
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), LaunchTemplateName: aws.String(name), Versions: []string{"2"}}); err == nil {
		t.Error("both LaunchTemplateId and LaunchTemplateName: accepted")
	}
	for _, tc := range []struct {
		in   *ec2.DeleteLaunchTemplateVersionsInput
		code ec2types.LaunchTemplateErrorCode
	}{
		{&ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String("lt-0123456789abcdef0"), Versions: []string{"2"}}, ec2types.LaunchTemplateErrorCodeLaunchTemplateIdDoesNotExist},
		{&ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String("template"), Versions: []string{"2"}}, ec2types.LaunchTemplateErrorCodeLaunchTemplateIdMalformed},
		{&ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateName: aws.String(name + "-none"), Versions: []string{"2"}}, ec2types.LaunchTemplateErrorCodeLaunchTemplateNameDoesNotExist},
	} {
		out, err := c.ec2.DeleteLaunchTemplateVersions(ctx, tc.in)
		if err != nil || len(out.UnsuccessfullyDeletedLaunchTemplateVersions) != 1 || out.UnsuccessfullyDeletedLaunchTemplateVersions[0].ResponseError.Code != tc.code {
			t.Errorf("DeleteLaunchTemplateVersions(%s%s): %+v, %v; want one version failed with %s", aws.ToString(tc.in.LaunchTemplateId), aws.ToString(tc.in.LaunchTemplateName), out, err, tc.code)
		}
	}
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"2"}, DryRun: aws.Bool(true)}); apiCode(err) != "DryRunOperation" {
		t.Errorf("DryRun: %v, want DryRunOperation", err)
	}
	if got := c.versionNumbers(t, id, 0); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("after a DryRun: versions %v, want [1 2]", got)
	}
}

// A deleted version is gone for every use: AWS cannot launch from it nor
// copy it, and $Latest is the newest version left.
func TestDeletedVersionCannotBeUsed(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	id, _ := c.createTemplate(t, oldAMI)
	c.createVersion(t, id, newAMI) // 2
	c.createVersion(t, id, newAMI) // 3
	if _, err := c.ec2.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"2", "3"}}); err != nil {
		t.Fatal(err)
	}
	run := func(version string) (*ec2.RunInstancesOutput, error) {
		return c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String(version)}})
	}
	if _, err := run("2"); apiCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Errorf("RunInstances from deleted version 2: %v, want InvalidLaunchTemplateId.VersionNotFound", err)
	}
	out, err := run("$Latest")
	if err != nil || len(out.Instances) != 1 || aws.ToString(out.Instances[0].ImageId) != oldAMI {
		t.Errorf("RunInstances from $Latest (version 1 once 2 and 3 are deleted): %+v, %v; want an instance of %s", out, err, oldAMI)
	} else if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: aws.String(id), SourceVersion: aws.String("3"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)},
	}); apiCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Errorf("CreateLaunchTemplateVersion from deleted version 3: %v, want InvalidLaunchTemplateId.VersionNotFound", err)
	}
}
