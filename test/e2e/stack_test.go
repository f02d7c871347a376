package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// A stack fleet: a launch template (or launch configuration) whose ImageId
// is the stack parameter ImageId, and a group of Desired instances on it
// with the given update policy, created through CloudFormation as a user
// would.
type stackSpec struct {
	LaunchConfiguration bool
	Desired             int
	Policy              map[string]any
	// IAM adds a named role and an instance profile for the launch
	// template, so that the stack needs CAPABILITY_NAMED_IAM.
	IAM bool
}

// stackFleet is a stack the test created, and what it started on.
type stackFleet struct {
	name, group, oldAMI string
	cfn                 *cloudformation.Client
}

func (e *env) cloudFormation(region string) *cloudformation.Client {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.BaseEndpoint = aws.String(e.emu.URL()) })
}

// createStack creates the stack "web" of spec in us-east-1 on the stock
// AMI and waits until it is CREATE_COMPLETE.
func (e *env) createStack(spec stackSpec) *stackFleet {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.clients("us-east-1")
	ami, err := c.StockImage(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	subnets, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}})
	if err != nil || len(subnets.Subnets) == 0 {
		e.t.Fatalf("DescribeSubnets: %v", err)
	}
	group := map[string]any{
		"MinSize": "1", "MaxSize": "8", "DesiredCapacity": spec.Desired,
		"VPCZoneIdentifier": []any{aws.ToString(subnets.Subnets[0].SubnetId)},
	}
	resources := map[string]any{}
	if spec.LaunchConfiguration {
		resources["LC"] = map[string]any{"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": map[string]any{
			"ImageId": map[string]any{"Ref": "ImageId"}, "InstanceType": "t3.micro"}}
		group["LaunchConfigurationName"] = map[string]any{"Ref": "LC"}
	} else {
		resources["LT"] = map[string]any{"Type": "AWS::EC2::LaunchTemplate", "Properties": map[string]any{
			"LaunchTemplateData": map[string]any{"ImageId": map[string]any{"Ref": "ImageId"}, "InstanceType": "t3.micro"}}}
		group["LaunchTemplate"] = map[string]any{
			"LaunchTemplateId": map[string]any{"Ref": "LT"},
			"Version":          map[string]any{"Fn::GetAtt": []any{"LT", "LatestVersionNumber"}},
		}
	}
	var caps []cfntypes.Capability
	if spec.IAM && !spec.LaunchConfiguration {
		resources["Role"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
			"RoleName": "web-" + strings.ToLower(e.t.Name()),
			"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}}},
		}}
		resources["Profile"] = map[string]any{"Type": "AWS::IAM::InstanceProfile", "Properties": map[string]any{"Roles": []any{map[string]any{"Ref": "Role"}}}}
		data := resources["LT"].(map[string]any)["Properties"].(map[string]any)["LaunchTemplateData"].(map[string]any)
		data["IamInstanceProfile"] = map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{"Profile", "Arn"}}}
		caps = []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}
	}
	asg := map[string]any{"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": group}
	if spec.Policy != nil {
		asg["UpdatePolicy"] = spec.Policy
	}
	resources["ASG"] = asg
	body, err := json.Marshal(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Parameters": map[string]any{
			"ImageId":  map[string]any{"Type": "AWS::EC2::Image::Id"},
			"Team":     map[string]any{"Type": "String"},
			"Password": map[string]any{"Type": "String", "NoEcho": true},
		},
		"Resources": resources,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	cfn := e.cloudFormation("us-east-1")
	_, err = cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("web"), TemplateBody: aws.String(string(body)),
		Parameters: []cfntypes.Parameter{
			{ParameterKey: aws.String("ImageId"), ParameterValue: aws.String(ami)},
			{ParameterKey: aws.String("Team"), ParameterValue: aws.String("payments")},
			{ParameterKey: aws.String("Password"), ParameterValue: aws.String("s3cret-value")},
		},
		Capabilities: caps,
	})
	if err != nil {
		e.t.Fatalf("CreateStack: %v", err)
	}
	sf := &stackFleet{name: "web", oldAMI: ami, cfn: cfn}
	if st := e.waitStack(sf); st.StackStatus != cfntypes.StackStatusCreateComplete {
		e.t.Fatalf("stack %s, want CREATE_COMPLETE", st.StackStatus)
	}
	res, err := cfn.DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{StackName: aws.String("web"), LogicalResourceId: aws.String("ASG")})
	if err != nil {
		e.t.Fatal(err)
	}
	sf.group = aws.ToString(res.StackResourceDetail.PhysicalResourceId)
	if err := c.WaitInService(ctx, sf.group, spec.Desired); err != nil {
		e.t.Fatal(err)
	}
	return sf
}

// waitStack waits until no operation runs on the stack and returns it.
func (e *env) waitStack(sf *stackFleet) cfntypes.Stack {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := sf.cfn.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(sf.name)})
		if err != nil || len(out.Stacks) != 1 {
			e.t.Fatalf("DescribeStacks: %v", err)
		}
		st := out.Stacks[0]
		if !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS") || time.Now().After(deadline) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stackParam(st cfntypes.Stack, key string) string {
	for _, p := range st.Parameters {
		if aws.ToString(p.ParameterKey) == key {
			return aws.ToString(p.ParameterValue)
		}
	}
	return ""
}

// stackBuild is a template that bakes an AMI and hands it to the stack
// "web" through its parameter ImageId, with PostProcessors asg-rollout
// post-processors in a row (a later one sees the AMI the first rolled),
// or a direct Target instead of the stack block.
type stackBuild struct {
	Endpoint, SourceAMI, AMIName string
	AMITags                      map[string]string
	PostProcessors               int
	Target                       string
	Extra                        string
}

var stackTemplate = template.Must(template.New("stack").Parse(`
source "amazon-ebs" "app" {
  region                     = "us-east-1"
  source_ami                 = "{{.SourceAMI}}"
` + localBuilder + `{{- if .AMITags}}
  tags = {
{{- range $k, $v := .AMITags}}
    "{{$k}}" = "{{$v}}"
{{- end}}
  }
{{- end}}
}

build {
  sources = ["source.amazon-ebs.app"]

  post-processors {
{{- range .Runs}}
    post-processor "asg-rollout" {
      access_key                  = "test"
      secret_key                  = "test"
      custom_endpoint_ec2         = "{{$.Endpoint}}"
      custom_endpoint_autoscaling = "{{$.Endpoint}}"
      poll_min_delay              = "100ms"
      poll_max_delay              = "300ms"
{{- if $.Target}}
      target {
        auto_scaling_group = "{{$.Target}}"
      }
{{- else}}
      stack {
        stack_name      = "web"
        image_parameter = "ImageId"
      }
{{- end}}
{{$.Extra}}
    }
{{- end}}
  }
}
`))

func (e *env) writeStack(b stackBuild, sf *stackFleet) string {
	e.t.Helper()
	b.Endpoint, b.SourceAMI, b.AMIName = e.emu.URL(), sf.oldAMI, e.amiName()
	if b.PostProcessors == 0 {
		b.PostProcessors = 1
	}
	var buf bytes.Buffer
	data := struct {
		stackBuild
		Runs []int
	}{b, make([]int, b.PostProcessors)}
	if err := stackTemplate.Execute(&buf, data); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "stack.pkr.hcl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// checkStackOn checks that the stack ended status with ImageId = ami and
// every instance of its group on ami.
func (e *env) checkStackOn(sf *stackFleet, status cfntypes.StackStatus, ami string, desired int) {
	e.t.Helper()
	st := e.waitStack(sf)
	if st.StackStatus != status {
		e.t.Errorf("stack %s (%s), want %s", st.StackStatus, aws.ToString(st.StackStatusReason), status)
	}
	if got := stackParam(st, "ImageId"); got != ami {
		e.t.Errorf("stack parameter ImageId = %s, want %s", got, ami)
	}
	if got := stackParam(st, "Team"); got != "payments" {
		e.t.Errorf("stack parameter Team = %q, want it kept (payments)", got)
	}
	after := e.snapshot("us-east-1", sf.group)
	if imgs := after.Images(); imgs[ami] != desired || len(imgs) != 1 {
		e.t.Errorf("instances by AMI %v, want all %d on %s\n%s", imgs, desired, ami, after)
	}
}

// TestStackRollingUpdate: a stack whose group has a rolling update policy
// is rolled through the stack: every instance on the new AMI, the stack
// UPDATE_COMPLETE with the parameter set and the others kept; a second
// roll-out of the same AMI (a post-processor after the first) is a no-op.
func TestStackRollingUpdate(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{Desired: 3, Policy: map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 2, "PauseTime": "PT30S"}}})
	res := e.packerBuild(e.writeStack(stackBuild{PostProcessors: 2}, sf))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	e.checkStackOn(sf, cfntypes.StackStatusUpdateComplete, ami, 3)
	for _, want := range []string{
		"updating the stack: parameter ImageId " + sf.oldAMI + " → " + ami,
		"ASG (AWS::AutoScaling::AutoScalingGroup) UPDATE_IN_PROGRESS",
		"3 of 3 instance(s) on " + ami,
		"stack UPDATE_COMPLETE: parameter ImageId = " + ami,
		"up to date",
	} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	if n := e.calls("UpdateStack"); n != 1 {
		t.Errorf("%d UpdateStack calls, want 1 (the second roll-out has nothing to do)", n)
	}
	// Never behind the stack's back.
	for _, a := range []string{"CreateLaunchTemplateVersion", "StartInstanceRefresh", "UpdateAutoScalingGroup", "CreateLaunchConfiguration"} {
		if n := e.calls(a); n != 0 {
			t.Errorf("the roll-out called %s %d time(s) itself", a, n)
		}
	}
}

// TestStackInstanceRefreshPolicy: the same with the instance refresh
// update policy, on a stack with a named IAM role, whose update needs
// CAPABILITY_NAMED_IAM.
func TestStackInstanceRefreshPolicy(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{Desired: 2, IAM: true, Policy: map[string]any{
		"AutoScalingInstanceRefresh": map[string]any{"Preferences": map[string]any{"MinHealthyPercentage": 50, "InstanceWarmup": 30}}}})
	res := e.packerBuild(e.writeStack(stackBuild{}, sf))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	e.checkStackOn(sf, cfntypes.StackStatusUpdateComplete, e.newAMI("us-east-1", e.amiName()), 2)
	if !strings.Contains(res.Output, "Instance refresh") {
		t.Errorf("the stack's instance refresh is not in the progress")
	}
}

// TestStackLaunchConfiguration: a stack of a launch configuration, which
// CloudFormation replaces, and a rolling update policy.
func TestStackLaunchConfiguration(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{LaunchConfiguration: true, Desired: 2, Policy: map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 1}}})
	res := e.packerBuild(e.writeStack(stackBuild{}, sf))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	e.checkStackOn(sf, cfntypes.StackStatusUpdateComplete, ami, 2)
	if !strings.Contains(res.Output, "LC (AWS::AutoScaling::LaunchConfiguration)") {
		t.Errorf("the launch configuration's replacement is not in the progress")
	}
}

// TestStackReplacingUpdate: with AutoScalingReplacingUpdate the stack
// makes a new group and deletes the old one; the build follows the stack
// onto the new group.
func TestStackReplacingUpdate(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{Desired: 2, Policy: map[string]any{
		"AutoScalingReplacingUpdate": map[string]any{"WillReplace": true}}})
	old := sf.group
	res := e.packerBuild(e.writeStack(stackBuild{}, sf))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	out, err := sf.cfn.DescribeStackResource(context.Background(), &cloudformation.DescribeStackResourceInput{StackName: aws.String(sf.name), LogicalResourceId: aws.String("ASG")})
	if err != nil {
		t.Fatal(err)
	}
	if sf.group = aws.ToString(out.StackResourceDetail.PhysicalResourceId); sf.group == old {
		t.Fatalf("the stack kept group %s; a replacing update makes a new one", old)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	e.checkStackOn(sf, cfntypes.StackStatusUpdateComplete, ami, 2)
	if want := "group " + sf.group + " (ASG): 2 of 2 instance(s) on " + ami; !strings.Contains(res.Output, want) {
		t.Errorf("output misses %q", want)
	}
}

// TestStackUnhealthyAMIRollsBack: the new instances fail their health
// checks; the stack rolls back, the instances run the old AMI, and the
// build fails with the stack's reason.
func TestStackUnhealthyAMIRollsBack(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	sf := e.createStack(stackSpec{Desired: 2, Policy: map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 1}}})
	res := e.packerBuild(e.writeStack(stackBuild{AMITags: map[string]string{"health": "broken"}}, sf))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although every new instance failed its health check")
	}
	for _, want := range []string{"CloudFormation stack (web) update ended UPDATE_ROLLBACK_COMPLETE", "parameter ImageId is " + sf.oldAMI + " again", "first failed events:", "ASG (AWS::AutoScaling::AutoScalingGroup) UPDATE_FAILED: "} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("failure output misses %q", want)
		}
	}
	e.checkStackOn(sf, cfntypes.StackStatusUpdateRollbackComplete, sf.oldAMI, 2)
}

// TestStackInterrupt: Ctrl-C during the update cancels it exactly once,
// CloudFormation rolls the stack back, and the build follows it there.
func TestStackInterrupt(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{Desired: 3, Policy: map[string]any{
		"AutoScalingRollingUpdate": map[string]any{"MaxBatchSize": 1, "MinInstancesInService": 2, "PauseTime": "PT10M"}}})
	run := e.startBuild(e.writeStack(stackBuild{}, sf))
	run.waitContains("UPDATE_IN_PROGRESS: Rolling update")
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("an interrupted build succeeded")
	}
	for _, want := range []string{"update interrupted", "cancelled the stack update (CancelUpdateStack, on_interrupt/on_timeout = rollback)", "the stack ended UPDATE_ROLLBACK_COMPLETE"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	if n := e.calls("CancelUpdateStack"); n != 1 {
		t.Errorf("CancelUpdateStack called %d times, want exactly once", n)
	}
	e.checkStackOn(sf, cfntypes.StackStatusUpdateRollbackComplete, sf.oldAMI, 3)
}

// TestStackOwnedGroupRefused: a direct target on a group the stack owns is
// refused before anything changes, naming the stack block to use.
func TestStackOwnedGroupRefused(t *testing.T) {
	e := newEnv(t)
	sf := e.createStack(stackSpec{Desired: 1})
	res := e.packerBuild(e.writeStack(stackBuild{Target: sf.group}, sf))
	if res.ExitCode == 0 {
		t.Fatal("packer build rolled a stack's group directly")
	}
	out := strings.Join(strings.Fields(res.Output), " ")
	for _, want := range []string{"belongs to CloudFormation stack web (resource ASG)", `stack_name = "web"`, `image_parameter = "ImageId"`, "allow_stack_drift = true", "nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	for _, a := range []string{"CreateLaunchTemplateVersion", "StartInstanceRefresh", "UpdateStack", "UpdateAutoScalingGroup"} {
		if n := e.calls(a); n != 0 {
			t.Errorf("the refused build called %s %d time(s)", a, n)
		}
	}
	e.checkStackOn(sf, cfntypes.StackStatusCreateComplete, sf.oldAMI, 1)
}
