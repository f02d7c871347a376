package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// releaseFake is fakeAWS with what publishing and pruning call: SSM
// parameters, listing and deleting template versions, tagged AMIs with
// snapshots, instances, image references and warm pools. It shares
// fakeAWS's lock and call log.
type releaseFake struct {
	*fakeAWS

	params map[string]*ssmtypes.Parameter // by name
	// paramTags are the tags of each parameter.
	paramTags map[string]map[string]string
	puts      []*ssm.PutParameterInput
	// putErr fails PutParameter; dropPuts accepts it and, as SSM does
	// with an aws:ec2:image value it cannot validate, never applies it.
	putErr   error
	dropPuts bool

	// amis are the build account's AMIs for pruning, beside fakeAWS.images.
	amis      map[string]*ec2types.Image
	snapshots map[string]bool
	// snapshotInUse makes DeleteSnapshot of these fail.
	snapshotInUse map[string]bool
	instances     []ec2types.Instance
	imageRefs     []ec2types.ImageReference
	refsErr       error
	refCalls      [][]string
	deregistered  []string
	pools         map[string][]astypes.Instance
	deleteCalls   [][]string
	deleteDryRuns [][]string
	deleteErr     error
}

func newReleaseFake() *releaseFake {
	return &releaseFake{
		fakeAWS:   newFakeAWS(),
		params:    map[string]*ssmtypes.Parameter{},
		paramTags: map[string]map[string]string{},
		amis:      map[string]*ec2types.Image{},
		snapshots: map[string]bool{},
		pools:     map[string][]astypes.Instance{},
	}
}

// deploys makes a successful refresh write its desired configuration onto
// the group, as AWS does.
func (f *releaseFake) deploys() *releaseFake {
	f.onStart = func(ir *astypes.InstanceRefresh) {
		name := aws.ToString(ir.AutoScalingGroupName)
		g := f.groups[name]
		if dc := ir.DesiredConfiguration; dc != nil && dc.LaunchTemplate != nil {
			g.LaunchTemplate = dc.LaunchTemplate
		}
		f.groups[name] = g
	}
	return f
}

// newReleasePP is newTestPP on release fakes, one per region.
func newReleasePP(t *testing.T, regions map[string]*releaseFake, raw map[string]interface{}) *PostProcessor {
	t.Helper()
	base := map[string]*fakeAWS{}
	for r, f := range regions {
		base[r] = f.fakeAWS
	}
	p := newTestPP(t, base, raw)
	p.newClients = func(_ context.Context, region string, _ awsauth.AssumeRoleConfig) (*clients, error) {
		f, ok := regions[region]
		if !ok {
			t.Fatalf("no fake for region %s", region)
		}
		return &clients{autoscaling: f, ec2: f, ssm: f, cleanup: f, pools: f}, nil
	}
	return p
}

func apiError(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func (f *releaseFake) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("GetParameter")
	p, ok := f.params[aws.ToString(in.Name)]
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	cp := *p
	return &ssm.GetParameterOutput{Parameter: &cp}, nil
}

func (f *releaseFake) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("PutParameter")
	f.puts = append(f.puts, in)
	if f.putErr != nil {
		return nil, f.putErr
	}
	if len(in.Tags) > 0 && aws.ToBool(in.Overwrite) {
		return nil, apiError("ValidationException", "tags and overwrite can't be used together")
	}
	name := aws.ToString(in.Name)
	p, ok := f.params[name]
	if ok && !aws.ToBool(in.Overwrite) {
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("exists")}
	}
	var version int64 = 1
	if ok {
		version = p.Version + 1
	}
	if f.dropPuts {
		return &ssm.PutParameterOutput{Version: version}, nil
	}
	f.params[name] = &ssmtypes.Parameter{Name: in.Name, Value: in.Value, Type: in.Type, DataType: in.DataType, Version: version}
	return &ssm.PutParameterOutput{Version: version}, nil
}

func (f *releaseFake) AddTagsToResource(_ context.Context, in *ssm.AddTagsToResourceInput, _ ...func(*ssm.Options)) (*ssm.AddTagsToResourceOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("AddTagsToResource")
	name := aws.ToString(in.ResourceId)
	if _, ok := f.params[name]; !ok {
		return nil, apiError("InvalidResourceId", "no such parameter")
	}
	if f.paramTags[name] == nil {
		f.paramTags[name] = map[string]string{}
	}
	for _, t := range in.Tags {
		f.paramTags[name][aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return &ssm.AddTagsToResourceOutput{}, nil
}

// DescribeLaunchTemplateVersions lists every version, paged, when asked
// for none in particular; otherwise it is fakeAWS's.
func (f *releaseFake) DescribeLaunchTemplateVersions(ctx context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, opts ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	if len(in.Versions) > 0 {
		return f.fakeAWS.DescribeLaunchTemplateVersions(ctx, in, opts...)
	}
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeLaunchTemplateVersions(all)")
	id := aws.ToString(in.LaunchTemplateId)
	vs, ok := f.versions[id]
	if !ok {
		return nil, apiError("InvalidLaunchTemplateId.NotFound", id)
	}
	numbers := slices.Sorted(maps.Keys(vs))
	start := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		start, _ = strconv.Atoi(tok)
	}
	size := int(aws.ToInt32(in.MaxResults))
	if size == 0 {
		size = 100
	}
	out := &ec2.DescribeLaunchTemplateVersionsOutput{}
	end := min(start+size, len(numbers))
	for _, n := range numbers[start:end] {
		out.LaunchTemplateVersions = append(out.LaunchTemplateVersions, ec2types.LaunchTemplateVersion{
			LaunchTemplateId: aws.String(id), LaunchTemplateName: aws.String("web"), VersionNumber: aws.Int64(n),
			DefaultVersion:     aws.Bool(f.defaults[id] == n),
			LaunchTemplateData: &ec2types.ResponseLaunchTemplateData{ImageId: aws.String(vs[n])},
		})
	}
	if end < len(numbers) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// DeleteLaunchTemplateVersions deletes as AWS does: at most 200 a call,
// never the default version.
func (f *releaseFake) DeleteLaunchTemplateVersions(_ context.Context, in *ec2.DeleteLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DeleteLaunchTemplateVersionsOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	if aws.ToBool(in.DryRun) {
		f.record("DeleteLaunchTemplateVersions(DryRun)")
		f.deleteDryRuns = append(f.deleteDryRuns, in.Versions)
		return nil, f.dryRun("DeleteLaunchTemplateVersions", aws.ToString(in.LaunchTemplateId))
	}
	f.record("DeleteLaunchTemplateVersions")
	f.deleteCalls = append(f.deleteCalls, in.Versions)
	if f.deleteErr != nil {
		return nil, f.deleteErr
	}
	if len(in.Versions) > maxDeleteVersions {
		return nil, apiError("InvalidParameterValue", "at most 200 versions")
	}
	id := aws.ToString(in.LaunchTemplateId)
	out := &ec2.DeleteLaunchTemplateVersionsOutput{}
	for _, s := range in.Versions {
		n, _ := strconv.ParseInt(s, 10, 64)
		_, exists := f.versions[id][n]
		switch {
		case !exists:
			out.UnsuccessfullyDeletedLaunchTemplateVersions = append(out.UnsuccessfullyDeletedLaunchTemplateVersions, ec2types.DeleteLaunchTemplateVersionsResponseErrorItem{
				LaunchTemplateId: aws.String(id), VersionNumber: aws.Int64(n),
				ResponseError: &ec2types.ResponseError{Code: ec2types.LaunchTemplateErrorCodeLaunchTemplateVersionDoesNotExist, Message: aws.String("no such version")},
			})
		case f.defaults[id] == n:
			out.UnsuccessfullyDeletedLaunchTemplateVersions = append(out.UnsuccessfullyDeletedLaunchTemplateVersions, ec2types.DeleteLaunchTemplateVersionsResponseErrorItem{
				LaunchTemplateId: aws.String(id), VersionNumber: aws.Int64(n),
				ResponseError: &ec2types.ResponseError{Code: ec2types.LaunchTemplateErrorCodeUnexpectedError, Message: aws.String("cannot delete the default version")},
			})
		default:
			delete(f.versions[id], n)
			out.SuccessfullyDeletedLaunchTemplateVersions = append(out.SuccessfullyDeletedLaunchTemplateVersions, ec2types.DeleteLaunchTemplateVersionsResponseSuccessItem{
				LaunchTemplateId: aws.String(id), VersionNumber: aws.Int64(n),
			})
		}
	}
	return out, nil
}

// addAMI registers an AMI of the build account, created at the given
// minute of 2026-01-01, tagged for deployment when it is not empty, with
// one snapshot named after it.
func (f *releaseFake) addAMI(id string, minute int, deployment string) *ec2types.Image {
	img := &ec2types.Image{
		ImageId:      aws.String(id),
		State:        ec2types.ImageStateAvailable,
		CreationDate: aws.String(time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC).Format(time.RFC3339)),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String("snap-" + strings.TrimPrefix(id, "ami-"))},
		}},
	}
	if deployment != "" {
		img.Tags = []ec2types.Tag{{Key: aws.String(deployedTag), Value: aws.String(deployment)}}
	}
	f.amis[id] = img
	f.snapshots["snap-"+strings.TrimPrefix(id, "ami-")] = true
	f.images[id] = ec2types.ImageStateAvailable
	return img
}

// DescribeImages answers the listing of the build account's AMIs by tag
// from amis; anything else is fakeAWS's.
func (f *releaseFake) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if len(in.Filters) == 0 {
		return f.fakeAWS.DescribeImages(ctx, in, opts...)
	}
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeImages(tagged)")
	out := &ec2.DescribeImagesOutput{}
	for _, id := range slices.Sorted(maps.Keys(f.amis)) {
		img := f.amis[id]
		match := true
		for _, flt := range in.Filters {
			key, _ := strings.CutPrefix(aws.ToString(flt.Name), "tag:")
			if !hasImageTag(*img, key, flt.Values[0]) {
				match = false
			}
		}
		if match {
			out.Images = append(out.Images, *img)
		}
	}
	return out, nil
}

func (f *releaseFake) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("CreateTags")
	for _, id := range in.Resources {
		img, ok := f.amis[id]
		if !ok {
			img = &ec2types.Image{ImageId: aws.String(id), State: ec2types.ImageStateAvailable, CreationDate: aws.String("2026-06-01T00:00:00Z")}
			f.amis[id] = img
		}
		for _, t := range in.Tags {
			img.Tags = slices.DeleteFunc(img.Tags, func(old ec2types.Tag) bool { return aws.ToString(old.Key) == aws.ToString(t.Key) })
			img.Tags = append(img.Tags, t)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

func (f *releaseFake) DescribeImageReferences(_ context.Context, in *ec2.DescribeImageReferencesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImageReferencesOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeImageReferences")
	f.refCalls = append(f.refCalls, in.ImageIds)
	if f.refsErr != nil {
		return nil, f.refsErr
	}
	if len(in.ImageIds) > maxImageReferenceIDs {
		return nil, apiError("InvalidParameterValue", "at most 10 image ids")
	}
	out := &ec2.DescribeImageReferencesOutput{}
	for _, ref := range f.imageRefs {
		if slices.Contains(in.ImageIds, aws.ToString(ref.ImageId)) {
			out.ImageReferences = append(out.ImageReferences, ref)
		}
	}
	return out, nil
}

func (f *releaseFake) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeInstances")
	var ids, states []string
	for _, flt := range in.Filters {
		switch aws.ToString(flt.Name) {
		case "image-id":
			ids = flt.Values
		case "instance-state-name":
			states = flt.Values
		}
	}
	res := ec2types.Reservation{}
	for _, i := range f.instances {
		if slices.Contains(ids, aws.ToString(i.ImageId)) && slices.Contains(states, string(i.State.Name)) {
			res.Instances = append(res.Instances, i)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{res}}, nil
}

func (f *releaseFake) DeregisterImage(_ context.Context, in *ec2.DeregisterImageInput, _ ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.ImageId)
	if aws.ToBool(in.DryRun) {
		f.record("DeregisterImage(DryRun)")
		return nil, f.dryRun("DeregisterImage", id)
	}
	f.record("DeregisterImage")
	img, ok := f.amis[id]
	if !ok {
		return nil, apiError("InvalidAMIID.NotFound", id)
	}
	if p := aws.ToString(img.DeregistrationProtection); p != "" && p != "disabled" {
		return nil, apiError("InvalidParameterValue", "deregistration protection is enabled")
	}
	delete(f.amis, id)
	delete(f.images, id)
	f.deregistered = append(f.deregistered, id)
	return &ec2.DeregisterImageOutput{Return: aws.Bool(true)}, nil
}

func (f *releaseFake) DeleteSnapshot(_ context.Context, in *ec2.DeleteSnapshotInput, _ ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DeleteSnapshot")
	id := aws.ToString(in.SnapshotId)
	if f.snapshotInUse[id] {
		return nil, apiError("InvalidSnapshot.InUse", "snapshot is in use by another AMI")
	}
	if !f.snapshots[id] {
		return nil, apiError("InvalidSnapshot.NotFound", id)
	}
	delete(f.snapshots, id)
	return &ec2.DeleteSnapshotOutput{}, nil
}

func (f *releaseFake) DescribeWarmPool(_ context.Context, in *autoscaling.DescribeWarmPoolInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeWarmPoolOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeWarmPool")
	return &autoscaling.DescribeWarmPoolOutput{Instances: f.pools[aws.ToString(in.AutoScalingGroupName)]}, nil
}

// param is a parameter's value and version, "" when it does not exist.
func (f *releaseFake) param(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.params[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s@%d", aws.ToString(p.Value), p.Version)
}

// versionNumbers are lt's versions, sorted.
func (f *releaseFake) versionNumbers(lt string) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.versions[lt]))
}

// DescribeInstanceRefreshes lists a group's refreshes only, newest first
// and at most MaxRecords, when asked for a group's rather than for ids;
// otherwise it is fakeAWS's.
func (f *releaseFake) DescribeInstanceRefreshes(ctx context.Context, in *autoscaling.DescribeInstanceRefreshesInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	out, err := f.fakeAWS.DescribeInstanceRefreshes(ctx, in, opts...)
	if err != nil || len(in.InstanceRefreshIds) > 0 {
		return out, err
	}
	var mine []astypes.InstanceRefresh
	for _, ir := range out.InstanceRefreshes {
		if aws.ToString(ir.AutoScalingGroupName) == aws.ToString(in.AutoScalingGroupName) {
			mine = append(mine, ir)
		}
	}
	if n := int(aws.ToInt32(in.MaxRecords)); n > 0 && len(mine) > n {
		mine = mine[:n]
	}
	out.InstanceRefreshes = mine
	return out, nil
}

// DescribeLaunchConfigurations lists every launch configuration when asked
// for none by name; otherwise it is fakeAWS's.
func (f *releaseFake) DescribeLaunchConfigurations(ctx context.Context, in *autoscaling.DescribeLaunchConfigurationsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
	if len(in.LaunchConfigurationNames) > 0 {
		return f.fakeAWS.DescribeLaunchConfigurations(ctx, in, opts...)
	}
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeLaunchConfigurations(all)")
	out := &autoscaling.DescribeLaunchConfigurationsOutput{}
	for _, n := range slices.Sorted(maps.Keys(f.lcs)) {
		out.LaunchConfigurations = append(out.LaunchConfigurations, f.lcs[n])
	}
	return out, nil
}

func (f *releaseFake) ListTagsForResource(_ context.Context, in *ssm.ListTagsForResourceInput, _ ...func(*ssm.Options)) (*ssm.ListTagsForResourceOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("ListTagsForResource")
	out := &ssm.ListTagsForResourceOutput{}
	tags := f.paramTags[aws.ToString(in.ResourceId)]
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out.TagList = append(out.TagList, ssmtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out, nil
}
