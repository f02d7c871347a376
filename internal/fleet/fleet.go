// Package fleet seeds and inspects Auto Scaling fleets on a local AWS, for
// the end-to-end tests and the demo. It answers the question a user asks
// after a roll-out: which AMI and which launch template version is each
// instance running?
package fleet

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Clients are the clients of one region of a local AWS.
type Clients struct {
	Region      string
	EC2         *ec2.Client
	AutoScaling *autoscaling.Client

	// For Elastic Load Balancing, which has no SDK among the project's
	// modules: signed Query calls to endpoint.
	endpoint string
	cfg      aws.Config
}

// NewClients returns clients for region at endpoint, with the local AWS's
// static test credentials.
func NewClients(endpoint, region string) *Clients {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	return &Clients{
		Region:      region,
		endpoint:    endpoint,
		cfg:         cfg,
		EC2:         ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		AutoScaling: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(endpoint) }),
	}
}

// Spec describes a fleet to seed.
type Spec struct {
	Group        string
	Desired      int32
	InstanceType string // default t3.micro
	ImageID      string // default: StockImage
	UserData     string // plain text; default a small script
	Warmup       int32  // the group's default instance warm-up, seconds; default 60
	// Version is how the group names its template version: "1" (default),
	// "$Latest" or "$Default".
	Version string
	// Tags are set on the group, for targets chosen by tags.
	Tags map[string]string
	// Overrides put the group on a mixed instances policy: its launch
	// template with these overrides, in order.
	Overrides []Override
	// LaunchConfiguration puts the group on a launch configuration named
	// <Group>-lc, with the AMI, instance type, security group and user data a
	// template would have had, instead of a launch template.
	LaunchConfiguration bool
	// TargetGroup attaches the group to a new target group (HTTP, port 80,
	// in the default VPC) at creation, so its first instances are registered.
	TargetGroup bool
	// ClassicLoadBalancer attaches the group to a new classic load balancer
	// (HTTP 80) at creation.
	ClassicLoadBalancer bool
	// SuspendedProcesses are suspended once the group's instances are in
	// service, e.g. "AddToLoadBalancer", "HealthCheck", "ReplaceUnhealthy".
	SuspendedProcesses []string
}

// Override is one override of a mixed instances policy.
type Override struct {
	InstanceType string
	// OwnTemplate gives the override a launch template of its own, named
	// <Group>-<InstanceType>, whose version 1 holds the same data as the
	// group's template; the override names it with the group's Version.
	OwnTemplate bool
	// ImageID is the override's own AMI, which takes precedence over the
	// template's for instances launched from it; "" for none.
	ImageID string
}

// Seeded is what Seed made.
type Seeded struct {
	Spec
	LaunchTemplateID string // "" on a launch configuration
	SecurityGroupID  string
	// OverrideTemplateIDs are the templates of the overrides with
	// OwnTemplate, by instance type.
	OverrideTemplateIDs     map[string]string
	LaunchConfigurationName string
	TargetGroupARN          string // with Spec.TargetGroup
	LoadBalancerName        string // with Spec.ClassicLoadBalancer
}

// Seed creates a security group, a launch template (version 1) and an Auto
// Scaling group on it, and waits until the group's instances are in
// service. Spec's Overrides and LaunchConfiguration change what the group
// launches from.
func (c *Clients) Seed(ctx context.Context, s Spec) (*Seeded, error) {
	if s.InstanceType == "" {
		s.InstanceType = "t3.micro"
	}
	if s.UserData == "" {
		s.UserData = "#!/bin/sh\necho serving " + s.Group + "\n"
	}
	if s.Warmup == 0 {
		s.Warmup = 60
	}
	if s.Version == "" {
		s.Version = "1"
	}
	if s.ImageID == "" {
		img, err := c.StockImage(ctx)
		if err != nil {
			return nil, err
		}
		s.ImageID = img
	}
	sg, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(s.Group + "-sg"), Description: aws.String("instances of " + s.Group),
	})
	if err != nil {
		return nil, fmt.Errorf("creating security group for %s: %w", s.Group, err)
	}
	seeded := &Seeded{Spec: s, SecurityGroupID: aws.ToString(sg.GroupId), OverrideTemplateIDs: map[string]string{}}
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName:  aws.String(s.Group),
		MinSize:               aws.Int32(0),
		MaxSize:               aws.Int32(max(2*s.Desired, 2)),
		DesiredCapacity:       aws.Int32(s.Desired),
		AvailabilityZones:     []string{c.Region + "a"},
		DefaultInstanceWarmup: aws.Int32(s.Warmup),
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, astypes.Tag{
			Key: aws.String(k), Value: aws.String(s.Tags[k]),
			ResourceId: aws.String(s.Group), ResourceType: aws.String("auto-scaling-group"), PropagateAtLaunch: aws.Bool(false),
		})
	}
	if err := c.launchSource(ctx, seeded, in); err != nil {
		return nil, err
	}
	if s.TargetGroup {
		arn, err := c.createTargetGroup(ctx, s.Group)
		if err != nil {
			return nil, err
		}
		seeded.TargetGroupARN = arn
		in.TargetGroupARNs = []string{arn}
	}
	if s.ClassicLoadBalancer {
		name, err := c.createClassicLB(ctx, s.Group)
		if err != nil {
			return nil, err
		}
		seeded.LoadBalancerName = name
		in.LoadBalancerNames = []string{name}
	}
	if _, err := c.AutoScaling.CreateAutoScalingGroup(ctx, in); err != nil {
		return nil, fmt.Errorf("creating Auto Scaling group %s: %w", s.Group, err)
	}
	if err := c.WaitInService(ctx, s.Group, int(s.Desired)); err != nil {
		return nil, err
	}
	if len(s.SuspendedProcesses) > 0 {
		if _, err := c.AutoScaling.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
			AutoScalingGroupName: aws.String(s.Group), ScalingProcesses: s.SuspendedProcesses,
		}); err != nil {
			return nil, fmt.Errorf("suspending %s of %s: %w", strings.Join(s.SuspendedProcesses, ", "), s.Group, err)
		}
	}
	return seeded, nil
}

// launchSource creates what the group launches from (a launch template,
// possibly with override templates, or a launch configuration) and names it
// in the group's request.
func (c *Clients) launchSource(ctx context.Context, s *Seeded, in *autoscaling.CreateAutoScalingGroupInput) error {
	userData := aws.String(base64.StdEncoding.EncodeToString([]byte(s.UserData)))
	if s.LaunchConfiguration {
		s.LaunchConfigurationName = s.Group + "-lc"
		_, err := c.AutoScaling.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
			LaunchConfigurationName: aws.String(s.LaunchConfigurationName),
			ImageId:                 aws.String(s.ImageID),
			InstanceType:            aws.String(s.InstanceType),
			SecurityGroups:          []string{s.SecurityGroupID},
			UserData:                userData,
		})
		if err != nil {
			return fmt.Errorf("creating launch configuration %s: %w", s.LaunchConfigurationName, err)
		}
		in.LaunchConfigurationName = aws.String(s.LaunchConfigurationName)
		return nil
	}
	data := &ec2types.RequestLaunchTemplateData{
		ImageId:          aws.String(s.ImageID),
		InstanceType:     ec2types.InstanceType(s.InstanceType),
		SecurityGroupIds: []string{s.SecurityGroupID},
		UserData:         userData,
	}
	var err error
	if s.LaunchTemplateID, err = c.createTemplate(ctx, s.Group, data); err != nil {
		return err
	}
	spec := &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(s.LaunchTemplateID), Version: aws.String(s.Version)}
	if len(s.Overrides) == 0 {
		in.LaunchTemplate = spec
		return nil
	}
	lt := &astypes.LaunchTemplate{LaunchTemplateSpecification: spec}
	for _, o := range s.Overrides {
		ov := astypes.LaunchTemplateOverrides{InstanceType: aws.String(o.InstanceType)}
		if o.ImageID != "" {
			ov.ImageId = aws.String(o.ImageID)
		}
		if o.OwnTemplate {
			id, err := c.createTemplate(ctx, s.Group+"-"+o.InstanceType, data)
			if err != nil {
				return err
			}
			s.OverrideTemplateIDs[o.InstanceType] = id
			ov.LaunchTemplateSpecification = &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String(s.Version)}
		}
		lt.Overrides = append(lt.Overrides, ov)
	}
	in.MixedInstancesPolicy = &astypes.MixedInstancesPolicy{LaunchTemplate: lt}
	return nil
}

// createTemplate creates launch template name with data as version 1.
func (c *Clients) createTemplate(ctx context.Context, name string, data *ec2types.RequestLaunchTemplateData) (string, error) {
	lt, err := c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		VersionDescription: aws.String("seeded"),
		LaunchTemplateData: data,
	})
	if err != nil {
		return "", fmt.Errorf("creating launch template %s: %w", name, err)
	}
	return aws.ToString(lt.LaunchTemplate.LaunchTemplateId), nil
}

// StockImage returns an available AMI that the local AWS ships in the
// region, the same on every call.
func (c *Clients) StockImage(ctx context.Context) (string, error) {
	out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil {
		return "", fmt.Errorf("listing stock AMIs in %s: %w", c.Region, err)
	}
	var ids []string
	for _, img := range out.Images {
		if img.State == ec2types.ImageStateAvailable && img.Architecture == ec2types.ArchitectureValuesX8664 {
			ids = append(ids, aws.ToString(img.ImageId))
		}
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("no stock AMI in %s", c.Region)
	}
	sort.Strings(ids)
	return ids[0], nil
}

// WaitInService waits until the group has n instances in service.
func (c *Clients) WaitInService(ctx context.Context, group string, n int) error {
	for {
		st, err := c.Snapshot(ctx, group)
		if err == nil && st.InService() == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d instances of %s in service: %w (last error %v)", n, group, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Instance is one instance of a group as a user would check it.
type Instance struct {
	ID             string
	ImageID        string
	LifecycleState string
}

// State is a group as a user would check it after a roll-out.
type State struct {
	Group            string
	LaunchTemplateID string
	Version          string // as the group names it
	// Overrides are the overrides of a mixed instances policy.
	Overrides               []OverrideState
	LaunchConfigurationName string
	Instances               []Instance
	// SuspendedProcesses are the group's suspended processes, sorted.
	SuspendedProcesses []string
	// Targets are the instances registered in the group's target groups,
	// as DescribeTargetHealth reports them.
	Targets []Target
}

// OverrideState is one override of a group's mixed instances policy; the
// template fields are empty when it names no template of its own.
type OverrideState struct {
	InstanceType     string
	LaunchTemplateID string
	Version          string
	ImageID          string // the override's AMI; "" for none
}

// Target is an instance registered in a target group.
type Target struct {
	TargetGroupARN string
	InstanceID     string
	State          string // healthy, unhealthy, initial, draining, unused, ...
}

// Registered returns the state of each instance registered in the group's
// target groups, by instance id: an instance missing from it is not
// registered.
func (s *State) Registered() map[string]string {
	m := map[string]string{}
	for _, t := range s.Targets {
		m[t.InstanceID] = t.State
	}
	return m
}

// InService counts the instances in service.
func (s *State) InService() int {
	n := 0
	for _, i := range s.Instances {
		if i.LifecycleState == string(astypes.LifecycleStateInService) {
			n++
		}
	}
	return n
}

// Images counts the in-service instances by AMI.
func (s *State) Images() map[string]int {
	m := map[string]int{}
	for _, i := range s.Instances {
		if i.LifecycleState == string(astypes.LifecycleStateInService) {
			m[i.ImageID]++
		}
	}
	return m
}

// String renders the state as a small table.
func (s *State) String() string {
	var b strings.Builder
	if s.LaunchConfigurationName != "" {
		fmt.Fprintf(&b, "group %s on launch configuration %s\n", s.Group, s.LaunchConfigurationName)
	} else {
		fmt.Fprintf(&b, "group %s on launch template %s version %s\n", s.Group, s.LaunchTemplateID, s.Version)
	}
	for _, o := range s.Overrides {
		if o.LaunchTemplateID != "" {
			fmt.Fprintf(&b, "  override %s on launch template %s version %s\n", o.InstanceType, o.LaunchTemplateID, o.Version)
		}
	}
	fmt.Fprintf(&b, "  %-22s %-24s %s\n", "INSTANCE", "AMI", "STATE")
	for _, i := range s.Instances {
		fmt.Fprintf(&b, "  %-22s %-24s %s\n", i.ID, i.ImageID, i.LifecycleState)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Snapshot reads the group, its template reference, and the AMI each of
// its instances really runs (from EC2, not from the group's records).
func (c *Clients) Snapshot(ctx context.Context, group string) (*State, error) {
	out, err := c.AutoScaling.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", group, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return nil, fmt.Errorf("group %s not found", group)
	}
	g := out.AutoScalingGroups[0]
	st := &State{Group: group, LaunchConfigurationName: aws.ToString(g.LaunchConfigurationName)}
	spec := g.LaunchTemplate
	if spec == nil && g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil {
		spec = g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
		for _, o := range g.MixedInstancesPolicy.LaunchTemplate.Overrides {
			ov := OverrideState{InstanceType: aws.ToString(o.InstanceType), ImageID: aws.ToString(o.ImageId)}
			if ls := o.LaunchTemplateSpecification; ls != nil {
				ov.LaunchTemplateID, ov.Version = aws.ToString(ls.LaunchTemplateId), aws.ToString(ls.Version)
			}
			st.Overrides = append(st.Overrides, ov)
		}
	}
	if spec != nil {
		st.LaunchTemplateID, st.Version = aws.ToString(spec.LaunchTemplateId), aws.ToString(spec.Version)
	}
	for _, p := range g.SuspendedProcesses {
		st.SuspendedProcesses = append(st.SuspendedProcesses, aws.ToString(p.ProcessName))
	}
	sort.Strings(st.SuspendedProcesses)
	for _, arn := range g.TargetGroupARNs {
		targets, err := c.TargetHealth(ctx, arn)
		if err != nil {
			return nil, err
		}
		st.Targets = append(st.Targets, targets...)
	}
	var ids []string
	states := map[string]string{}
	for _, i := range g.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
		states[aws.ToString(i.InstanceId)] = string(i.LifecycleState)
	}
	if len(ids) == 0 {
		return st, nil
	}
	di, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return nil, fmt.Errorf("describing instances of %s: %w", group, err)
	}
	for _, r := range di.Reservations {
		for _, i := range r.Instances {
			id := aws.ToString(i.InstanceId)
			st.Instances = append(st.Instances, Instance{ID: id, ImageID: aws.ToString(i.ImageId), LifecycleState: states[id]})
		}
	}
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].ID < st.Instances[j].ID })
	return st, nil
}

// Versions lists a template's versions by number.
func (c *Clients) Versions(ctx context.Context, templateID string) (map[int64]ec2types.LaunchTemplateVersion, error) {
	out, err := c.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(templateID)})
	if err != nil {
		return nil, fmt.Errorf("describing versions of %s: %w", templateID, err)
	}
	m := map[int64]ec2types.LaunchTemplateVersion{}
	for _, v := range out.LaunchTemplateVersions {
		m[aws.ToInt64(v.VersionNumber)] = v
	}
	return m, nil
}

// DefaultVersion returns the number of a template's default version.
func (c *Clients) DefaultVersion(ctx context.Context, templateID string) (int64, error) {
	out, err := c.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{templateID}})
	if err != nil {
		return 0, fmt.Errorf("describing launch template %s: %w", templateID, err)
	}
	if len(out.LaunchTemplates) != 1 {
		return 0, fmt.Errorf("describing launch template %s: %d found", templateID, len(out.LaunchTemplates))
	}
	return aws.ToInt64(out.LaunchTemplates[0].DefaultVersionNumber), nil
}

// LaunchConfigurations lists the region's launch configurations by name.
func (c *Clients) LaunchConfigurations(ctx context.Context) (map[string]astypes.LaunchConfiguration, error) {
	m := map[string]astypes.LaunchConfiguration{}
	p := autoscaling.NewDescribeLaunchConfigurationsPaginator(c.AutoScaling, &autoscaling.DescribeLaunchConfigurationsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing launch configurations in %s: %w", c.Region, err)
		}
		for _, lc := range page.LaunchConfigurations {
			m[aws.ToString(lc.LaunchConfigurationName)] = lc
		}
	}
	return m, nil
}

// VersionNumber parses a group's numbered version reference.
func VersionNumber(ref string) (int64, error) { return strconv.ParseInt(ref, 10, 64) }

// ImageByName returns the id of the AMI called name that this account owns.
func (c *Clients) ImageByName(ctx context.Context, name string) (string, error) {
	out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		return "", fmt.Errorf("finding AMI %s in %s: %w", name, c.Region, err)
	}
	if len(out.Images) != 1 {
		return "", fmt.Errorf("finding AMI %s in %s: %d images have that name", name, c.Region, len(out.Images))
	}
	return aws.ToString(out.Images[0].ImageId), nil
}
