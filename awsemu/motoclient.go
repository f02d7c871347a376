package awsemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// motoAPI makes the emulator's own calls to moto: the real SDK clients for
// typed calls, and signed raw Query calls where parameters are passed through
// as the client sent them. These calls go straight to moto, so they are
// neither logged nor subject to faults.
type motoAPI struct {
	url    string
	http   *http.Client
	signer *v4.Signer

	mu      sync.Mutex
	clients map[string]*motoClients
}

func newMotoAPI(motoURL string, transport http.RoundTripper) *motoAPI {
	return &motoAPI{
		url:     motoURL,
		http:    &http.Client{Timeout: 60 * time.Second, Transport: transport},
		signer:  v4.NewSigner(),
		clients: map[string]*motoClients{},
	}
}

// motoClients calls moto in one region as one caller. The access key matters:
// moto derives the account from it, so the emulator acts with the key of the
// request it serves.
type motoClients struct {
	api    *motoAPI
	region string
	creds  aws.Credentials
	asg    *autoscaling.Client
	ec2    *ec2.Client
	ssm    *ssm.Client
}

func (m *motoAPI) clientsFor(region, accessKey string) *motoClients {
	if region == "" {
		region = "us-east-1"
	}
	if accessKey == "" {
		accessKey = "test"
	}
	key := region + "\x00" + accessKey
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[key]; ok {
		return c
	}
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: "test", Source: "awsemu"}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient:  m.http,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.RateLimiter = ratelimit.None
			})
		},
	}
	c := &motoClients{
		api:    m,
		region: region,
		creds:  creds,
		asg:    autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(m.url) }),
		ec2:    ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(m.url) }),
		ssm:    ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(m.url) }),
	}
	m.clients[key] = c
	return c
}

// raw sends a signed Query request to moto and returns the answer body, or
// the service error it reported as an *apiError.
func (c *motoClients) raw(ctx context.Context, service string, form url.Values) ([]byte, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api.url+"/", strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", form.Get("Action"), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := c.api.signer.SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), service, c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("signing %s request: %w", form.Get("Action"), err)
	}
	resp, err := c.api.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling moto %s: %w", form.Get("Action"), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading moto's %s answer: %w", form.Get("Action"), err)
	}
	if resp.StatusCode >= 300 {
		return nil, parseErrorBody(resp.StatusCode, data)
	}
	return data, nil
}

// parseErrorBody reads an error answer in either Query error format.
func parseErrorBody(status int, data []byte) *apiError {
	var doc struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
		Type    string `xml:"Error>Type"`
		EC2     struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		} `xml:"Errors"`
	}
	e := &apiError{Status: status, Sender: status < 500}
	if xml.Unmarshal(data, &doc) == nil {
		e.Code, e.Message = doc.Code, doc.Message
		if e.Code == "" {
			e.Code, e.Message = doc.EC2.Code, doc.EC2.Message
		}
	}
	if e.Code == "" {
		e.Code = "InternalFailure"
		e.Message = fmt.Sprintf("moto answered HTTP %d: %s", status, bytes.TrimSpace(data))
	}
	return e
}

// toAPIError turns an error from a call to moto into the answer for the
// client: moto's own service errors pass through, anything else is an
// internal failure of the emulator.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se smithy.APIError
	if errors.As(err, &se) {
		status := http.StatusBadRequest
		if se.ErrorFault() == smithy.FaultServer {
			status = http.StatusInternalServerError
		}
		return &apiError{Status: status, Code: se.ErrorCode(), Message: se.ErrorMessage(), Sender: status < 500}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: err.Error()}
}

// describeGroup returns the group, or nil if moto has no group of that name.
func (c *motoClients) describeGroup(ctx context.Context, name string) (*asgtypes.AutoScalingGroup, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", name, err)
	}
	for i := range out.AutoScalingGroups {
		if aws.ToString(out.AutoScalingGroups[i].AutoScalingGroupName) == name {
			return &out.AutoScalingGroups[i], nil
		}
	}
	return nil, nil
}

// templateRef is a launch template version, resolved to its number.
type templateRef struct {
	ID, Name     string
	Version      string // as configured: a number, "$Latest" or "$Default"
	Number       int64  // the version it resolved to
	ImageID      string // of that version; may be "resolve:ssm:..."
	InstanceType string // of that version
}

// numbered reports whether the configured version is a fixed number rather
// than $Latest or $Default, as rollbacks require.
func (t templateRef) numbered() bool {
	_, err := strconv.ParseInt(t.Version, 10, 64)
	return err == nil
}

func (t templateRef) String() string {
	return fmt.Sprintf("launch template %s (%s) version %d", t.Name, t.ID, t.Number)
}

// resolveTemplate looks a template version up in moto. Missing templates and
// versions are ValidationErrors, as AWS answers them.
func (c *motoClients) resolveTemplate(ctx context.Context, id, name, version string) (templateRef, error) {
	if (id == "") == (name == "") {
		return templateRef{}, validationError("Valid requests must contain either launchTemplateId or LaunchTemplateName")
	}
	in := &ec2.DescribeLaunchTemplatesInput{}
	what := "ID " + id
	if id != "" {
		in.LaunchTemplateIds = []string{id}
	} else {
		in.LaunchTemplateNames = []string{name}
		what = "name " + name
	}
	out, err := c.ec2.DescribeLaunchTemplates(ctx, in)
	if err != nil || len(out.LaunchTemplates) == 0 {
		var se smithy.APIError
		if err == nil || errors.As(err, &se) {
			return templateRef{}, validationError("The specified launch template, with template %s, does not exist.", what)
		}
		return templateRef{}, fmt.Errorf("describing launch template %s: %w", what, err)
	}
	lt := out.LaunchTemplates[0]
	ref := templateRef{ID: aws.ToString(lt.LaunchTemplateId), Name: aws.ToString(lt.LaunchTemplateName), Version: version}
	switch version {
	case "", "$Default":
		ref.Number = aws.ToInt64(lt.DefaultVersionNumber)
	case "$Latest":
		ref.Number = aws.ToInt64(lt.LatestVersionNumber)
	default:
		n, err := strconv.ParseInt(version, 10, 64)
		if err != nil || n < 1 {
			return templateRef{}, validationError("The launch template version %q is not valid. Specify a version number, $Latest or $Default.", version)
		}
		ref.Number = n
	}
	vout, err := c.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: aws.String(ref.ID),
		Versions:         []string{strconv.FormatInt(ref.Number, 10)},
	})
	if err != nil || len(vout.LaunchTemplateVersions) == 0 {
		var se smithy.APIError
		if err == nil || errors.As(err, &se) {
			return templateRef{}, validationError("The specified launch template version %d does not exist for launch template %s.", ref.Number, ref.ID)
		}
		return templateRef{}, fmt.Errorf("describing version %d of launch template %s: %w", ref.Number, ref.ID, err)
	}
	if data := vout.LaunchTemplateVersions[0].LaunchTemplateData; data != nil {
		ref.ImageID = aws.ToString(data.ImageId)
		ref.InstanceType = string(data.InstanceType)
	}
	return ref, nil
}

// launchSpec is what a new instance is launched from: a launch template
// version (plain, or the one of a mixed instances policy) or a launch
// configuration.
type launchSpec struct {
	Template     *templateRef
	Mixed        bool   // from a MixedInstancesPolicy
	InstanceType string // a mixed policy's first override: the type AWS prefers under "prioritized"
	// OverrideImages are the ImageIds of a mixed policy's overrides, in
	// order, "" for an override without one. AWS: an override's ImageId is
	// "The ID of the Amazon Machine Image (AMI) to use for instances
	// launched with this override", so it takes precedence over the
	// template's AMI.
	OverrideImages []string
	LaunchConfig   *asgtypes.LaunchConfiguration
}

// overrideImage is the ImageId of the override replacements launch from
// (the first), or "".
func (s launchSpec) overrideImage() string {
	if len(s.OverrideImages) == 0 {
		return ""
	}
	return s.OverrideImages[0]
}

func (s launchSpec) String() string {
	switch {
	case s.Template != nil:
		return s.Template.String()
	case s.LaunchConfig != nil:
		return "launch configuration " + aws.ToString(s.LaunchConfig.LaunchConfigurationName)
	}
	return "no launch configuration"
}

func (s launchSpec) imageID() string {
	switch {
	case s.overrideImage() != "":
		return s.overrideImage()
	case s.Template != nil:
		return s.Template.ImageID
	case s.LaunchConfig != nil:
		return aws.ToString(s.LaunchConfig.ImageId)
	}
	return ""
}

// specFromGroup resolves what the group currently launches from.
func (c *motoClients) specFromGroup(ctx context.Context, g *asgtypes.AutoScalingGroup) (launchSpec, error) {
	switch {
	case g.LaunchTemplate != nil:
		lt := g.LaunchTemplate
		ref, err := c.resolveTemplate(ctx, aws.ToString(lt.LaunchTemplateId), emptyIfSet(lt.LaunchTemplateName, lt.LaunchTemplateId), aws.ToString(lt.Version))
		return launchSpec{Template: &ref}, err
	case g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil:
		mlt := g.MixedInstancesPolicy.LaunchTemplate
		spec := launchSpec{Mixed: true}
		if s := mlt.LaunchTemplateSpecification; s != nil {
			ref, err := c.resolveTemplate(ctx, aws.ToString(s.LaunchTemplateId), emptyIfSet(s.LaunchTemplateName, s.LaunchTemplateId), aws.ToString(s.Version))
			if err != nil {
				return launchSpec{}, err
			}
			spec.Template = &ref
		}
		if len(mlt.Overrides) > 0 {
			spec.InstanceType = aws.ToString(mlt.Overrides[0].InstanceType)
		}
		for _, o := range mlt.Overrides {
			spec.OverrideImages = append(spec.OverrideImages, aws.ToString(o.ImageId))
		}
		return spec, nil
	case aws.ToString(g.LaunchConfigurationName) != "":
		out, err := c.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{
			LaunchConfigurationNames: []string{aws.ToString(g.LaunchConfigurationName)},
		})
		if err != nil {
			return launchSpec{}, fmt.Errorf("describing launch configuration %s: %w", aws.ToString(g.LaunchConfigurationName), err)
		}
		if len(out.LaunchConfigurations) == 0 {
			return launchSpec{}, validationError("Launch configuration name not found - %s", aws.ToString(g.LaunchConfigurationName))
		}
		return launchSpec{LaunchConfig: &out.LaunchConfigurations[0]}, nil
	}
	return launchSpec{}, validationError("The Auto Scaling group %s has no launch template, mixed instances policy or launch configuration.", aws.ToString(g.AutoScalingGroupName))
}

// emptyIfSet returns *name unless id is set: moto reports both, but a
// template must be named by exactly one of them.
func emptyIfSet(name, id *string) string {
	if aws.ToString(id) != "" {
		return ""
	}
	return aws.ToString(name)
}

// specFromDesired resolves a refresh's DesiredConfiguration (its Query
// parameters with the "DesiredConfiguration." prefix removed).
func (c *motoClients) specFromDesired(ctx context.Context, desired url.Values) (launchSpec, error) {
	if hasPrefix(desired, "LaunchTemplate.") {
		ref, err := c.resolveTemplate(ctx, desired.Get("LaunchTemplate.LaunchTemplateId"), desired.Get("LaunchTemplate.LaunchTemplateName"), desired.Get("LaunchTemplate.Version"))
		return launchSpec{Template: &ref}, err
	}
	const p = "MixedInstancesPolicy.LaunchTemplate."
	ref, err := c.resolveTemplate(ctx, desired.Get(p+"LaunchTemplateSpecification.LaunchTemplateId"),
		desired.Get(p+"LaunchTemplateSpecification.LaunchTemplateName"), desired.Get(p+"LaunchTemplateSpecification.Version"))
	if err != nil {
		return launchSpec{}, err
	}
	spec := launchSpec{Template: &ref, Mixed: true, InstanceType: desired.Get(p + "Overrides.member.1.InstanceType")}
	for n := 1; hasPrefix(desired, p+"Overrides.member."+strconv.Itoa(n)+"."); n++ {
		spec.OverrideImages = append(spec.OverrideImages, desired.Get(p+"Overrides.member."+strconv.Itoa(n)+".ImageId"))
	}
	return spec, nil
}

func hasPrefix(form url.Values, prefix string) bool {
	for k := range form {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// placement is where a replacement goes: the subnet (or, without subnets,
// the Availability Zone) of the instance it replaces.
type placement struct {
	SubnetID string
	AZ       string
}

// runInstance launches one instance from spec, as the group would, and
// returns its id and image.
func (c *motoClients) runInstance(ctx context.Context, spec launchSpec, where placement, tags []ec2types.Tag) (string, string, error) {
	in := &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	switch {
	case spec.Template != nil:
		in.LaunchTemplate = &ec2types.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(spec.Template.ID),
			Version:          aws.String(strconv.FormatInt(spec.Template.Number, 10)),
		}
		if spec.InstanceType != "" {
			in.InstanceType = ec2types.InstanceType(spec.InstanceType)
		}
		if img := spec.overrideImage(); img != "" {
			in.ImageId = aws.String(img) // the override's AMI wins over the template's
		}
	case spec.LaunchConfig != nil:
		lc := spec.LaunchConfig
		in.ImageId = lc.ImageId
		in.InstanceType = ec2types.InstanceType(aws.ToString(lc.InstanceType))
		in.KeyName = lc.KeyName
		in.UserData = lc.UserData
		for _, sg := range lc.SecurityGroups {
			if strings.HasPrefix(sg, "sg-") {
				in.SecurityGroupIds = append(in.SecurityGroupIds, sg)
			} else {
				in.SecurityGroups = append(in.SecurityGroups, sg)
			}
		}
		if p := aws.ToString(lc.IamInstanceProfile); p != "" {
			if strings.HasPrefix(p, "arn:") {
				in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Arn: aws.String(p)}
			} else {
				in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(p)}
			}
		}
	default:
		return "", "", errors.New("nothing to launch instances from")
	}
	if where.SubnetID != "" {
		in.SubnetId = aws.String(where.SubnetID)
	} else if where.AZ != "" {
		in.Placement = &ec2types.Placement{AvailabilityZone: aws.String(where.AZ)}
	}
	if len(tags) > 0 {
		in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}
	}
	out, err := c.ec2.RunInstances(ctx, in)
	if err != nil {
		return "", "", fmt.Errorf("launching an instance from %s: %w", spec, err)
	}
	if len(out.Instances) == 0 {
		return "", "", fmt.Errorf("launching an instance from %s: moto returned no instance", spec)
	}
	inst := out.Instances[0]
	return aws.ToString(inst.InstanceId), aws.ToString(inst.ImageId), nil
}

// imageTags returns the tags of an AMI.
func (c *motoClients) imageTags(ctx context.Context, imageID string) (map[string]string, error) {
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
	if err != nil {
		return nil, fmt.Errorf("describing image %s: %w", imageID, err)
	}
	tags := map[string]string{}
	for _, img := range out.Images {
		for _, t := range img.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

// ebsVolumes returns how many EBS volumes an AMI's block device mappings
// hold, and whether the AMI exists.
func (c *motoClients) ebsVolumes(ctx context.Context, imageID string) (int, bool, error) {
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
	if err != nil {
		var se smithy.APIError
		if errors.As(err, &se) && strings.HasPrefix(se.ErrorCode(), "InvalidAMIID") {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("describing image %s: %w", imageID, err)
	}
	for _, img := range out.Images {
		if aws.ToString(img.ImageId) != imageID {
			continue
		}
		n := 0
		for _, m := range img.BlockDeviceMappings {
			if m.Ebs != nil {
				n++
			}
		}
		return n, true, nil
	}
	return 0, false, nil
}

// describeInstances returns the EC2 view of the given instances by id.
func (c *motoClients) describeInstances(ctx context.Context, ids []string) (map[string]ec2types.Instance, error) {
	out := map[string]ec2types.Instance{}
	if len(ids) == 0 {
		return out, nil
	}
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{InstanceIds: ids})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, inst := range r.Instances {
				out[aws.ToString(inst.InstanceId)] = inst
			}
		}
	}
	return out, nil
}

// terminateInGroup terminates a group member. Decrementing keeps moto from
// launching a replacement from the group's (old) configuration.
func (c *motoClients) terminateInGroup(ctx context.Context, id string, decrement bool) error {
	_, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId:                     aws.String(id),
		ShouldDecrementDesiredCapacity: aws.Bool(decrement),
	})
	if err != nil {
		return fmt.Errorf("terminating %s in its group: %w", id, err)
	}
	return nil
}

// terminateInstances terminates instances that are not (yet) in a group.
func (c *motoClients) terminateInstances(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return fmt.Errorf("terminating %s: %w", strings.Join(ids, ", "), err)
	}
	return nil
}

// attach adds instances to the group; moto raises its desired capacity by
// as many.
func (c *motoClients) attach(ctx context.Context, group string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := c.asg.AttachInstances(ctx, &autoscaling.AttachInstancesInput{AutoScalingGroupName: aws.String(group), InstanceIds: ids})
	if err != nil {
		return fmt.Errorf("attaching %s to %s: %w", strings.Join(ids, ", "), group, err)
	}
	return nil
}

// setUnhealthy marks a group member unhealthy, as a failed health check
// does.
func (c *motoClients) setUnhealthy(ctx context.Context, id string) error {
	_, err := c.asg.SetInstanceHealth(ctx, &autoscaling.SetInstanceHealthInput{
		InstanceId: aws.String(id), HealthStatus: aws.String("Unhealthy"), ShouldRespectGracePeriod: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("marking %s unhealthy: %w", id, err)
	}
	return nil
}

func (c *motoClients) setDesiredCapacity(ctx context.Context, group string, n int32) error {
	_, err := c.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(n)})
	if err != nil {
		return fmt.Errorf("setting the desired capacity of %s to %d: %w", group, n, err)
	}
	return nil
}

// applyDesiredConfiguration writes a refresh's DesiredConfiguration onto the
// group, passing the parameters through exactly as the client sent them
// (UpdateAutoScalingGroup names LaunchTemplate and MixedInstancesPolicy the
// same way DesiredConfiguration does).
func (c *motoClients) applyDesiredConfiguration(ctx context.Context, group string, desired url.Values) error {
	form := url.Values{"Action": {"UpdateAutoScalingGroup"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {group}}
	for k, v := range desired {
		form[k] = v
	}
	if _, err := c.raw(ctx, serviceAutoScaling, form); err != nil {
		return fmt.Errorf("applying the desired configuration to %s: %w", group, err)
	}
	return nil
}

// alarmStates returns the state (OK, ALARM, INSUFFICIENT_DATA) of each named
// CloudWatch alarm that exists, metric or composite. The CloudWatch SDK is
// not among the project's modules and moto still serves the Query protocol,
// so this is a raw call.
func (c *motoClients) alarmStates(ctx context.Context, names []string) (map[string]string, error) {
	form := url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}}
	for i, n := range names {
		form.Set("AlarmNames.member."+strconv.Itoa(i+1), n)
	}
	body, err := c.raw(ctx, "monitoring", form)
	if err != nil {
		return nil, fmt.Errorf("describing alarms: %w", err)
	}
	type alarm struct {
		Name  string `xml:"AlarmName"`
		State string `xml:"StateValue"`
	}
	var doc struct {
		Metric    []alarm `xml:"DescribeAlarmsResult>MetricAlarms>member"`
		Composite []alarm `xml:"DescribeAlarmsResult>CompositeAlarms>member"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading DescribeAlarms answer: %w", err)
	}
	out := map[string]string{}
	for _, a := range append(doc.Metric, doc.Composite...) {
		out[a.Name] = a.State
	}
	return out, nil
}
