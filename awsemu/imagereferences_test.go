package awsemu

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func newSSM(url string) *ssm.Client {
	return ssm.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(url) })
}

// references lists "type arn" for each reference, all pages, sorted.
func (c clients) references(t *testing.T, in *ec2.DescribeImageReferencesInput) []string {
	t.Helper()
	var got []string
	p := ec2.NewDescribeImageReferencesPaginator(c.ec2, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctxFor(t))
		if err != nil {
			t.Fatalf("DescribeImageReferences: %v", err)
		}
		for _, r := range out.ImageReferences {
			got = append(got, aws.ToString(r.ImageId)+" "+string(r.ResourceType)+" "+aws.ToString(r.Arn))
		}
	}
	sort.Strings(got)
	return got
}

// AWS (DescribeImageReferences): "Describes your Amazon Web Services
// resources that are referencing the specified images": instances (in all
// states by default, or those the state-name option names), the newest
// launch template versions ("version-depth", default 10) and SSM
// parameters. A group's override ImageId is none of these resources and is
// not seen.
func TestDescribeImageReferences(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	sc := newSSM(s.URL())
	ctx := ctxFor(t)
	used, other, unused := c.createImage(t), c.createImage(t), c.createImage(t)

	run, err := c.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(used), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(2), MaxCount: aws.Int32(2)})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	running, stopped := aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)
	if _, err := c.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{stopped}}); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	// A template whose version 1 uses the image, then 11 newer versions
	// that do not: beyond the default depth of 10.
	deep, _ := c.createTemplate(t, used)
	for range 11 {
		c.createVersion(t, deep, other)
	}
	recent, _ := c.createTemplate(t, other)
	c.createVersion(t, recent, used)
	param := "/" + uniqueName(t) + "/ami"
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(used), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}
	textParam := "/" + uniqueName(t) + "/text"
	if _, err := sc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(textParam), Value: aws.String(used), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}

	account := "123456789012"
	inst := func(id string) string {
		return used + " ec2:Instance arn:aws:ec2:us-east-1:" + account + ":instance/" + id
	}
	lt := func(id string) string {
		return used + " ec2:LaunchTemplate arn:aws:ec2:us-east-1:" + account + ":launch-template/" + id
	}
	prm := used + " ssm:Parameter arn:aws:ssm:us-east-1:" + account + ":parameter" + param

	all := c.references(t, &ec2.DescribeImageReferencesInput{ImageIds: []string{used, unused}, IncludeAllResourceTypes: aws.Bool(true)})
	want := []string{inst(running), inst(stopped), lt(recent), prm}
	sort.Strings(want)
	if !slices.Equal(all, want) {
		t.Errorf("IncludeAllResourceTypes:\n got %q\nwant %q", all, want)
	}

	// Options: only running instances; templates 12 versions deep.
	some := c.references(t, &ec2.DescribeImageReferencesInput{ImageIds: []string{used}, ResourceTypes: []ec2types.ResourceTypeRequest{
		{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance, ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameStateName, OptionValues: []string{"running"}}}},
		{ResourceType: ec2types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"12"}}}},
	}})
	want = []string{inst(running), lt(deep), lt(recent)}
	sort.Strings(want)
	if !slices.Equal(some, want) {
		t.Errorf("running instances, depth 12:\n got %q\nwant %q", some, want)
	}

	// Paging: one reference a page, the same references.
	paged := c.references(t, &ec2.DescribeImageReferencesInput{ImageIds: []string{used, unused}, IncludeAllResourceTypes: aws.Bool(true), MaxResults: aws.Int32(1)})
	if !slices.Equal(paged, all) {
		t.Errorf("one a page:\n got %q\nwant %q", paged, all)
	}
	if got := c.references(t, &ec2.DescribeImageReferencesInput{ImageIds: []string{unused}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeSsmParameter}}}); len(got) != 0 {
		t.Errorf("parameters referencing the unused image: %q", got)
	}
	for _, r := range all {
		if strings.Contains(r, textParam) {
			t.Errorf("a text parameter is reported: %s", r)
		}
	}
}

// AWS: ImageId.N takes "Minimum number of 1 item. Maximum number of 10
// items", and "Either IncludeAllResourceTypes or ResourceTypes must be
// specified."
func TestDescribeImageReferencesRequestRules(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = oldAMI
	}
	for _, tc := range []struct {
		what string
		in   *ec2.DescribeImageReferencesInput
		code string
	}{
		{"11 images", &ec2.DescribeImageReferencesInput{ImageIds: eleven, IncludeAllResourceTypes: aws.Bool(true)}, "InvalidParameterValue"},
		{"no resource types", &ec2.DescribeImageReferencesInput{ImageIds: []string{oldAMI}}, "MissingParameter"},
		{"a malformed id", &ec2.DescribeImageReferencesInput{ImageIds: []string{"image-1"}, IncludeAllResourceTypes: aws.Bool(true)}, "InvalidAMIID.Malformed"},
		{"a bad state", &ec2.DescribeImageReferencesInput{ImageIds: []string{oldAMI}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance, ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameStateName, OptionValues: []string{"asleep"}}}}}}, "InvalidParameterValue"},
		{"depth 0", &ec2.DescribeImageReferencesInput{ImageIds: []string{oldAMI}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"0"}}}}}}, "InvalidParameterValue"},
		{"an option of another type", &ec2.DescribeImageReferencesInput{ImageIds: []string{oldAMI}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeSsmParameter, ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"3"}}}}}}, "InvalidParameterValue"},
		{"DryRun", &ec2.DescribeImageReferencesInput{ImageIds: []string{oldAMI}, IncludeAllResourceTypes: aws.Bool(true), DryRun: aws.Bool(true)}, "DryRunOperation"},
	} {
		if _, err := c.ec2.DescribeImageReferences(ctx, tc.in); apiCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.what, err, tc.code)
		}
	}
}
