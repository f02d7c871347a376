package awsemu

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// This file creates, updates and deletes the resources of the emulator's
// stacks, through moto's EC2 and Auto Scaling APIs.

// cfnProps lists the properties the emulator carries out for each type;
// any other is refused when the template is read.
var cfnProps = map[string]map[string]bool{
	cfnTypeLaunchTemplate: {"LaunchTemplateName": true, "LaunchTemplateData": true, "VersionDescription": true, "TagSpecifications": true},
	cfnTypeLaunchConfig: {"LaunchConfigurationName": true, "ImageId": true, "InstanceType": true, "KeyName": true, "SecurityGroups": true,
		"UserData": true, "IamInstanceProfile": true, "InstanceMonitoring": true, "AssociatePublicIpAddress": true, "EbsOptimized": true},
	cfnTypeGroup: {"AutoScalingGroupName": true, "MinSize": true, "MaxSize": true, "DesiredCapacity": true, "LaunchTemplate": true,
		"LaunchConfigurationName": true, "VPCZoneIdentifier": true, "AvailabilityZones": true, "HealthCheckType": true,
		"HealthCheckGracePeriod": true, "DefaultInstanceWarmup": true, "Tags": true, "TargetGroupARNs": true, "LoadBalancerNames": true,
		"Cooldown": true, "TerminationPolicies": true, "NewInstancesProtectedFromScaleIn": true},
}

// checkResourceProps refuses properties and update policies the emulator
// does not carry out, naming them.
func checkResourceProps(r *cfnResDecl) *apiError {
	allowed := cfnProps[r.Type]
	for k := range r.Props {
		if !allowed[k] {
			return templateError("awsemu does not support the property %s of %s (resource %s); it supports %s.", k, r.Type, r.LogicalID, strings.Join(sortedKeys(allowed), ", "))
		}
	}
	switch r.Type {
	case cfnTypeLaunchTemplate:
		if _, ok := r.Props["LaunchTemplateData"]; !ok {
			return templateError("Property LaunchTemplateData of resource %s is required.", r.LogicalID)
		}
	case cfnTypeLaunchConfig:
		for _, req := range []string{"ImageId", "InstanceType"} {
			if _, ok := r.Props[req]; !ok {
				return templateError("Property %s of resource %s is required.", req, r.LogicalID)
			}
		}
	case cfnTypeRole, cfnTypeInstanceProfile:
		req := map[string]string{cfnTypeRole: "AssumeRolePolicyDocument", cfnTypeInstanceProfile: "Roles"}[r.Type]
		if _, ok := r.Props[req]; !ok {
			return templateError("Property %s of resource %s is required.", req, r.LogicalID)
		}
	case cfnTypeGroup:
		for _, req := range []string{"MinSize", "MaxSize"} {
			if _, ok := r.Props[req]; !ok {
				return templateError("Property %s of resource %s is required.", req, r.LogicalID)
			}
		}
		_, hasLT := r.Props["LaunchTemplate"]
		_, hasLC := r.Props["LaunchConfigurationName"]
		if hasLT == hasLC {
			return templateError("Resource %s must have exactly one of LaunchTemplate and LaunchConfigurationName (awsemu does not support MixedInstancesPolicy or InstanceId in stacks).", r.LogicalID)
		}
		if lt, ok := r.Props["LaunchTemplate"].(map[string]any); ok {
			if _, ok := lt["Version"]; !ok {
				// AWS::AutoScaling::AutoScalingGroup LaunchTemplateSpecification
				// Version: "You must specify this property."
				return templateError("Property Version of LaunchTemplate of resource %s is required: use Fn::GetAtt with LatestVersionNumber or DefaultVersionNumber.", r.LogicalID)
			}
		}
		if _, err := parseUpdatePolicy(r.UpdatePolicy); err != nil {
			return templateError("UpdatePolicy of resource %s: %v", r.LogicalID, err)
		}
	}
	if r.Type != cfnTypeGroup && (r.UpdatePolicy != nil || r.CreationPolicy != nil) {
		return templateError("awsemu supports UpdatePolicy and CreationPolicy on %s only (resource %s).", cfnTypeGroup, r.LogicalID)
	}
	return nil
}

// updatePolicy is a group's UpdatePolicy, defaults filled in.
type updatePolicy struct {
	Kind string // "", "rolling", "replacing", "refresh"
	// AutoScalingRollingUpdate
	MaxBatchSize, MinInService, MinSuccessPercent int
	PauseTime                                     string // ISO 8601, as written
	pauseSeconds                                  int
	// AutoScalingInstanceRefresh: the StartInstanceRefresh parameters
	Refresh url.Values
}

// parseUpdatePolicy reads an UpdatePolicy attribute. Values may be strings
// or numbers, as CloudFormation accepts both.
func parseUpdatePolicy(m map[string]any) (updatePolicy, error) {
	p := updatePolicy{MaxBatchSize: 1, MinSuccessPercent: 100}
	n := 0
	waitOnSignals := false
	for k, v := range m {
		body, _ := v.(map[string]any)
		switch k {
		case "AutoScalingRollingUpdate":
			n++
			p.Kind = "rolling"
			for pk, pv := range body {
				s := scalarString(pv)
				switch pk {
				case "MaxBatchSize", "MinInstancesInService", "MinSuccessfulInstancesPercent":
					x, err := strconv.Atoi(s)
					if err != nil || x < 0 || (pk == "MaxBatchSize" && x < 1) || (pk == "MinSuccessfulInstancesPercent" && x > 100) {
						return p, fmt.Errorf("%s must be a whole number in range (got %q)", pk, s)
					}
					switch pk {
					case "MaxBatchSize":
						p.MaxBatchSize = x
					case "MinInstancesInService":
						p.MinInService = x
					default:
						p.MinSuccessPercent = x
					}
				case "PauseTime":
					secs, err := parseISODuration(s)
					if err != nil || secs > 3600 {
						return p, fmt.Errorf("PauseTime %q must be an ISO 8601 duration of at most PT1H", s)
					}
					p.PauseTime, p.pauseSeconds = s, secs
				case "WaitOnResourceSignals":
					waitOnSignals = strings.EqualFold(s, "true")
				case "SuspendProcesses":
					// Accepted; see doc.go: the emulator has no cfn-signal and
					// takes each new instance's health check as its signal,
					// and it does not suspend processes.
				default:
					return p, fmt.Errorf("unknown AutoScalingRollingUpdate property %s", pk)
				}
			}
			if waitOnSignals && p.PauseTime == "" {
				// PauseTime defaults to five minutes with signals, else 0
				// (AWS CDK RollingUpdateOptions, which states CloudFormation's
				// defaults: "Duration.minutes(5) if the waitOnResourceSignals
				// property is true, otherwise 0").
				p.PauseTime, p.pauseSeconds = "PT5M", 300
			}
		case "AutoScalingReplacingUpdate":
			if strings.EqualFold(scalarString(body["WillReplace"]), "true") {
				n++
				p.Kind = "replacing"
			}
		case "AutoScalingInstanceRefresh":
			n++
			p.Kind = "refresh"
			form, err := refreshPolicyParams(body)
			if err != nil {
				return p, err
			}
			p.Refresh = form
		case "AutoScalingScheduledAction":
			// accepted; the emulator's stacks have no scheduled actions
		default:
			return p, fmt.Errorf("awsemu does not support the update policy %s", k)
		}
	}
	if n > 1 {
		// AutoScalingInstanceRefresh: "This policy is mutually exclusive
		// with AutoScalingRollingUpdate"; a replacing update, when
		// WillReplace is true, takes precedence in AWS, but a template that
		// sets two is almost always a mistake, so the emulator refuses it.
		return p, fmt.Errorf("give one of AutoScalingRollingUpdate, AutoScalingReplacingUpdate (WillReplace true) and AutoScalingInstanceRefresh, not several")
	}
	return p, nil
}

// refreshPolicyParams turns an AutoScalingInstanceRefresh policy into
// StartInstanceRefresh Query parameters. AutoRollback is refused: with this
// policy the stack's own rollback undoes a failed refresh.
func refreshPolicyParams(body map[string]any) (url.Values, error) {
	form := url.Values{}
	for k, v := range body {
		switch k {
		case "Strategy":
			form.Set("Strategy", scalarString(v))
		case "Preferences":
			prefs, _ := v.(map[string]any)
			for pk, pv := range prefs {
				switch pk {
				case "AutoRollback":
					return nil, fmt.Errorf("Preferences.AutoRollback is not available in the AutoScalingInstanceRefresh policy: the stack's rollback replaces it")
				case "CheckpointPercentages":
					list, _ := pv.([]any)
					for i, x := range list {
						form.Set("Preferences.CheckpointPercentages.member."+strconv.Itoa(i+1), scalarString(x))
					}
				case "AlarmSpecification":
					spec, _ := pv.(map[string]any)
					list, _ := spec["Alarms"].([]any)
					for i, x := range list {
						form.Set("Preferences.AlarmSpecification.Alarms.member."+strconv.Itoa(i+1), scalarString(x))
					}
				case "MinHealthyPercentage", "MaxHealthyPercentage", "InstanceWarmup", "CheckpointDelay", "SkipMatching",
					"ScaleInProtectedInstances", "StandbyInstances", "BakeTime":
					form.Set("Preferences."+pk, scalarString(pv))
				default:
					return nil, fmt.Errorf("unknown AutoScalingInstanceRefresh preference %s", pk)
				}
			}
		default:
			return nil, fmt.Errorf("unknown AutoScalingInstanceRefresh property %s", k)
		}
	}
	return form, nil
}

// parseISODuration reads PT#H#M#S.
func parseISODuration(s string) (int, error) {
	if !strings.HasPrefix(s, "PT") || len(s) < 3 {
		return 0, fmt.Errorf("not PT#H#M#S")
	}
	total, num := 0, ""
	for _, ch := range s[2:] {
		switch {
		case ch >= '0' && ch <= '9':
			num += string(ch)
		case ch == 'H' || ch == 'M' || ch == 'S':
			n, err := strconv.Atoi(num)
			if err != nil {
				return 0, fmt.Errorf("not PT#H#M#S")
			}
			total += n * map[rune]int{'H': 3600, 'M': 60, 'S': 1}[ch]
			num = ""
		default:
			return 0, fmt.Errorf("not PT#H#M#S")
		}
	}
	if num != "" {
		return 0, fmt.Errorf("not PT#H#M#S")
	}
	return total, nil
}

// physicalName generates a resource name as CloudFormation does for
// resources without one: stack name, logical id and a random suffix.
func physicalName(stack, logical string) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for i := 0; i < 12; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b.WriteByte(letters[n.Int64()])
	}
	return stack + "-" + logical + "-" + b.String()
}

func propString(props map[string]any, k string) string { return scalarString(props[k]) }

func propInt32(props map[string]any, k string) (*int32, error) {
	v, ok := props[k]
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(scalarString(v))
	if err != nil {
		return nil, fmt.Errorf("property %s must be a number, got %q", k, scalarString(v))
	}
	return aws.Int32(int32(n)), nil
}

func propBool(props map[string]any, k string) *bool {
	v, ok := props[k]
	if !ok {
		return nil
	}
	return aws.Bool(strings.EqualFold(scalarString(v), "true"))
}

func propList(props map[string]any, k string) []string {
	switch v := props[k].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, scalarString(x))
		}
		return out
	case string:
		return splitSubnets(v)
	}
	return nil
}

// stackTags are the tags CloudFormation puts on what a stack creates:
// "In addition to any tags you define, CloudFormation automatically
// creates the following stack-level tags with the aws: prefix:
// aws:cloudformation:logical-id, aws:cloudformation:stack-id,
// aws:cloudformation:stack-name", with the stack's own tags.
func stackTags(st *cfnStack, logical string) [][2]string {
	out := [][2]string{
		{"aws:cloudformation:logical-id", logical},
		{"aws:cloudformation:stack-id", st.ID},
		{"aws:cloudformation:stack-name", st.Name},
	}
	return append(out, st.Tags...)
}

// launchTemplateData converts LaunchTemplateData as the template gives it
// (CloudFormation and EC2 name its members alike) into the API shape,
// refusing members the API does not have.
func launchTemplateData(v any) (*ec2types.RequestLaunchTemplateData, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var data ec2types.RequestLaunchTemplateData
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("property LaunchTemplateData: %v (numbers must be JSON numbers)", err)
	}
	return &data, nil
}

func (c *cfnStacks) mcFor(st *cfnStack) *motoClients {
	return c.s.api.clientsFor(st.Region, st.AccessKey)
}

// createLaunchTemplate creates an AWS::EC2::LaunchTemplate.
func (c *cfnStacks) createLaunchTemplate(ctx context.Context, st *cfnStack, id string, props map[string]any) (*cfnResource, error) {
	data, err := launchTemplateData(props["LaunchTemplateData"])
	if err != nil {
		return nil, err
	}
	name := propString(props, "LaunchTemplateName")
	if name == "" {
		name = physicalName(st.Name, id)
	}
	var tags []ec2types.Tag
	for _, t := range stackTags(st, id) {
		tags = append(tags, ec2types.Tag{Key: aws.String(t[0]), Value: aws.String(t[1])})
	}
	if specs, ok := props["TagSpecifications"].([]any); ok {
		for _, s := range specs {
			m, _ := s.(map[string]any)
			list, _ := m["Tags"].([]any)
			for _, t := range list {
				tm, _ := t.(map[string]any)
				tags = append(tags, ec2types.Tag{Key: aws.String(scalarString(tm["Key"])), Value: aws.String(scalarString(tm["Value"]))})
			}
		}
	}
	in := &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name), LaunchTemplateData: data,
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: tags}},
	}
	if d := propString(props, "VersionDescription"); d != "" {
		in.VersionDescription = aws.String(d)
	}
	out, err := c.mcFor(st).ec2.CreateLaunchTemplate(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("creating launch template %s: %w", name, err)
	}
	ltID := aws.ToString(out.LaunchTemplate.LaunchTemplateId)
	return &cfnResource{LogicalID: id, Type: cfnTypeLaunchTemplate, PhysicalID: ltID, Props: props,
		Attrs: map[string]string{"LaunchTemplateId": ltID, "LatestVersionNumber": "1", "DefaultVersionNumber": "1"}, Extra: map[string]string{"Name": name}}, nil
}

// updateLaunchTemplate carries out a change of an AWS::EC2::LaunchTemplate:
// a changed LaunchTemplateData becomes a new version, which also becomes
// the default version (see doc.go).
func (c *cfnStacks) updateLaunchTemplate(ctx context.Context, st *cfnStack, old *cfnResource, props map[string]any) (*cfnResource, error) {
	for _, k := range []string{"LaunchTemplateName", "TagSpecifications"} {
		if canonicalJSON(old.Props[k]) != canonicalJSON(props[k]) {
			return nil, fmt.Errorf("changing %s of a launch template requires replacing it, which awsemu does not do", k)
		}
	}
	res := old.clone()
	res.Props = props
	if canonicalJSON(old.Props["LaunchTemplateData"]) == canonicalJSON(props["LaunchTemplateData"]) {
		return res, nil // VersionDescription alone: no new version
	}
	data, err := launchTemplateData(props["LaunchTemplateData"])
	if err != nil {
		return nil, err
	}
	mc := c.mcFor(st)
	in := &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(old.PhysicalID), LaunchTemplateData: data}
	if d := propString(props, "VersionDescription"); d != "" {
		in.VersionDescription = aws.String(d)
	}
	out, err := mc.ec2.CreateLaunchTemplateVersion(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("creating a version of launch template %s: %w", old.PhysicalID, err)
	}
	n := strconv.FormatInt(aws.ToInt64(out.LaunchTemplateVersion.VersionNumber), 10)
	if _, err := mc.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(old.PhysicalID), DefaultVersion: aws.String(n)}); err != nil {
		return nil, fmt.Errorf("making version %s the default of launch template %s: %w", n, old.PhysicalID, err)
	}
	res.Attrs["LatestVersionNumber"], res.Attrs["DefaultVersionNumber"] = n, n
	return res, nil
}

// revertLaunchTemplate puts the default version back; the version the
// update created stays (versions are immutable history).
func (c *cfnStacks) revertLaunchTemplate(ctx context.Context, st *cfnStack, old *cfnResource) error {
	_, err := c.mcFor(st).ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(old.PhysicalID), DefaultVersion: aws.String(old.Attrs["DefaultVersionNumber"])})
	return err
}

func (c *cfnStacks) deleteLaunchTemplate(ctx context.Context, st *cfnStack, r *cfnResource) error {
	_, err := c.mcFor(st).ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(r.PhysicalID)})
	return err
}

// createLaunchConfig creates an AWS::AutoScaling::LaunchConfiguration.
func (c *cfnStacks) createLaunchConfig(ctx context.Context, st *cfnStack, id string, props map[string]any) (*cfnResource, error) {
	name := propString(props, "LaunchConfigurationName")
	if name == "" {
		name = physicalName(st.Name, id)
	}
	in := &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String(name), ImageId: aws.String(propString(props, "ImageId")),
		InstanceType: aws.String(propString(props, "InstanceType")), SecurityGroups: propList(props, "SecurityGroups"),
		EbsOptimized: propBool(props, "EbsOptimized"), AssociatePublicIpAddress: propBool(props, "AssociatePublicIpAddress"),
	}
	if v := propString(props, "KeyName"); v != "" {
		in.KeyName = aws.String(v)
	}
	if v := propString(props, "UserData"); v != "" {
		in.UserData = aws.String(v)
	}
	if v := propString(props, "IamInstanceProfile"); v != "" {
		in.IamInstanceProfile = aws.String(v)
	}
	if b := propBool(props, "InstanceMonitoring"); b != nil {
		in.InstanceMonitoring = &asgtypes.InstanceMonitoring{Enabled: b}
	}
	if _, err := c.mcFor(st).asg.CreateLaunchConfiguration(ctx, in); err != nil {
		return nil, fmt.Errorf("creating launch configuration %s: %w", name, err)
	}
	return &cfnResource{LogicalID: id, Type: cfnTypeLaunchConfig, PhysicalID: name, Props: props, Attrs: map[string]string{}, Extra: map[string]string{}}, nil
}

func (c *cfnStacks) deleteLaunchConfig(ctx context.Context, st *cfnStack, name string) error {
	_, err := c.mcFor(st).asg.DeleteLaunchConfiguration(ctx, &autoscaling.DeleteLaunchConfigurationInput{LaunchConfigurationName: aws.String(name)})
	return err
}

// groupConfig is the part of a group's properties that UpdateAutoScalingGroup
// sets.
func groupUpdateInput(name string, props map[string]any, withLaunch bool) (*autoscaling.UpdateAutoScalingGroupInput, error) {
	in := &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name)}
	var err error
	if in.MinSize, err = propInt32(props, "MinSize"); err != nil {
		return nil, err
	}
	if in.MaxSize, err = propInt32(props, "MaxSize"); err != nil {
		return nil, err
	}
	if in.DesiredCapacity, err = propInt32(props, "DesiredCapacity"); err != nil {
		return nil, err
	}
	if in.HealthCheckGracePeriod, err = propInt32(props, "HealthCheckGracePeriod"); err != nil {
		return nil, err
	}
	if in.DefaultInstanceWarmup, err = propInt32(props, "DefaultInstanceWarmup"); err != nil {
		return nil, err
	}
	if in.DefaultCooldown, err = propInt32(props, "Cooldown"); err != nil {
		return nil, err
	}
	if v := propString(props, "HealthCheckType"); v != "" {
		in.HealthCheckType = aws.String(v)
	}
	if subnets := propList(props, "VPCZoneIdentifier"); len(subnets) > 0 {
		in.VPCZoneIdentifier = aws.String(strings.Join(subnets, ","))
	}
	if azs := propList(props, "AvailabilityZones"); len(azs) > 0 {
		in.AvailabilityZones = azs
	}
	in.NewInstancesProtectedFromScaleIn = propBool(props, "NewInstancesProtectedFromScaleIn")
	if tp := propList(props, "TerminationPolicies"); len(tp) > 0 {
		in.TerminationPolicies = tp
	}
	if withLaunch {
		in.LaunchTemplate, in.LaunchConfigurationName = launchOf(props)
	}
	return in, nil
}

// launchOf returns the group's launch template or launch configuration.
func launchOf(props map[string]any) (*asgtypes.LaunchTemplateSpecification, *string) {
	if lt, ok := props["LaunchTemplate"].(map[string]any); ok {
		spec := &asgtypes.LaunchTemplateSpecification{Version: aws.String(scalarString(lt["Version"]))}
		if id := scalarString(lt["LaunchTemplateId"]); id != "" {
			spec.LaunchTemplateId = aws.String(id)
		} else {
			spec.LaunchTemplateName = aws.String(scalarString(lt["LaunchTemplateName"]))
		}
		return spec, nil
	}
	return nil, aws.String(propString(props, "LaunchConfigurationName"))
}

func groupTagsIn(st *cfnStack, id, group string, props map[string]any) []asgtypes.Tag {
	var tags []asgtypes.Tag
	// Stack-level tags reach the instances "regardless of the
	// PropagateAtLaunch setting" (CloudFormation resource tagging).
	for _, t := range stackTags(st, id) {
		tags = append(tags, asgtypes.Tag{Key: aws.String(t[0]), Value: aws.String(t[1]), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group")})
	}
	list, _ := props["Tags"].([]any)
	for _, t := range list {
		m, _ := t.(map[string]any)
		tags = append(tags, asgtypes.Tag{Key: aws.String(scalarString(m["Key"])), Value: aws.String(scalarString(m["Value"])),
			PropagateAtLaunch: aws.Bool(strings.EqualFold(scalarString(m["PropagateAtLaunch"]), "true")),
			ResourceId:        aws.String(group), ResourceType: aws.String("auto-scaling-group")})
	}
	return tags
}

// createGroup creates an AWS::AutoScaling::AutoScalingGroup named name
// ("" generates one).
func (c *cfnStacks) createGroup(ctx context.Context, st *cfnStack, id, name string, props map[string]any) (*cfnResource, error) {
	if name == "" {
		name = propString(props, "AutoScalingGroupName")
	}
	if name == "" {
		name = physicalName(st.Name, id)
	}
	up, err := groupUpdateInput(name, props, true)
	if err != nil {
		return nil, err
	}
	if err := c.checkLaunch(ctx, st, up.LaunchTemplate, up.LaunchConfigurationName); err != nil {
		return nil, err
	}
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), MinSize: up.MinSize, MaxSize: up.MaxSize, DesiredCapacity: up.DesiredCapacity,
		LaunchTemplate: up.LaunchTemplate, LaunchConfigurationName: up.LaunchConfigurationName, VPCZoneIdentifier: up.VPCZoneIdentifier,
		AvailabilityZones: up.AvailabilityZones, HealthCheckType: up.HealthCheckType, HealthCheckGracePeriod: up.HealthCheckGracePeriod,
		DefaultInstanceWarmup: up.DefaultInstanceWarmup, DefaultCooldown: up.DefaultCooldown, TerminationPolicies: up.TerminationPolicies,
		NewInstancesProtectedFromScaleIn: up.NewInstancesProtectedFromScaleIn,
		TargetGroupARNs:                  propList(props, "TargetGroupARNs"), LoadBalancerNames: propList(props, "LoadBalancerNames"),
		Tags: groupTagsIn(st, id, name, props),
	}
	if _, err := c.mcFor(st).asg.CreateAutoScalingGroup(ctx, in); err != nil {
		return nil, fmt.Errorf("creating Auto Scaling group %s: %w", name, err)
	}
	c.recordGroupExtras(st, name, props)
	c.recordOrigins(ctx, st, name)
	return &cfnResource{LogicalID: id, Type: cfnTypeGroup, PhysicalID: name, Props: props, Attrs: map[string]string{}, Extra: map[string]string{}}, nil
}

// recordOrigins notes the launch template version of the instances moto
// launched into a new group: moto reports every instance as running the
// default version of the group's template, which a later update of the
// template changes (see asgview.go).
func (c *cfnStacks) recordOrigins(ctx context.Context, st *cfnStack, name string) {
	mc := c.mcFor(st)
	g, err := mc.describeGroup(ctx, name)
	if err != nil || g == nil {
		return
	}
	spec, err := mc.specFromGroup(ctx, g)
	if err != nil || spec.Template == nil {
		return
	}
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	insts, err := mc.describeInstances(ctx, ids)
	if err != nil {
		return
	}
	for _, id := range ids {
		c.s.engine.recordOrigin(st.Region, id, spec, aws.ToString(insts[id].ImageId))
	}
}

// recordGroupExtras keeps the DefaultInstanceWarmup moto drops, as the
// front server does for CreateAutoScalingGroup.
func (c *cfnStacks) recordGroupExtras(st *cfnStack, name string, props map[string]any) {
	if w := propString(props, "DefaultInstanceWarmup"); w != "" {
		c.s.engine.recordDefaultWarmup(st.Region, url.Values{"AutoScalingGroupName": {name}, "DefaultInstanceWarmup": {w}})
	}
}

// updateGroupConfig applies the group's properties (the launch template or
// configuration only when withLaunch) and its tags.
func (c *cfnStacks) updateGroupConfig(ctx context.Context, st *cfnStack, id, name string, old, props map[string]any, withLaunch bool) error {
	in, err := groupUpdateInput(name, props, withLaunch)
	if err != nil {
		return err
	}
	mc := c.mcFor(st)
	if err := c.checkLaunch(ctx, st, in.LaunchTemplate, in.LaunchConfigurationName); err != nil {
		return err
	}
	if _, err := mc.asg.UpdateAutoScalingGroup(ctx, in); err != nil {
		return fmt.Errorf("updating Auto Scaling group %s: %w", name, err)
	}
	c.recordGroupExtras(st, name, props)
	if canonicalJSON(old["Tags"]) != canonicalJSON(props["Tags"]) {
		want := groupTagsIn(st, id, name, props)
		keep := map[string]bool{}
		for _, t := range want {
			keep[aws.ToString(t.Key)] = true
		}
		var gone []asgtypes.Tag
		for _, t := range groupTagsIn(st, id, name, old) {
			if !keep[aws.ToString(t.Key)] {
				gone = append(gone, t)
			}
		}
		if len(gone) > 0 {
			if _, err := mc.asg.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: gone}); err != nil {
				return fmt.Errorf("removing tags of %s: %w", name, err)
			}
		}
		if _, err := mc.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: want}); err != nil {
			return fmt.Errorf("tagging %s: %w", name, err)
		}
	}
	return nil
}

// checkLaunch checks that the launch template version or launch
// configuration a group is to use exists, answering as Auto Scaling does
// (moto fails a missing launch configuration with an internal error).
func (c *cfnStacks) checkLaunch(ctx context.Context, st *cfnStack, lt *asgtypes.LaunchTemplateSpecification, lc *string) error {
	mc := c.mcFor(st)
	if lt != nil {
		_, err := mc.resolveTemplate(ctx, aws.ToString(lt.LaunchTemplateId), aws.ToString(lt.LaunchTemplateName), aws.ToString(lt.Version))
		return err
	}
	if name := aws.ToString(lc); name != "" {
		out, err := mc.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{name}})
		if err != nil {
			return err
		}
		if len(out.LaunchConfigurations) == 0 {
			return validationError("Launch configuration name not found - Launch configuration %s not found", name)
		}
	}
	return nil
}

func (c *cfnStacks) deleteGroup(ctx context.Context, st *cfnStack, name string) error {
	_, err := c.mcFor(st).asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), ForceDelete: aws.Bool(true)})
	if err == nil {
		c.s.engine.forgetGroup(st.Region, name)
	}
	return err
}
