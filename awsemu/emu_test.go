package awsemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Stock AMIs of moto in us-east-1. Every test agrees that badAMI is
// unhealthy on the shared emulator.
const (
	oldAMI = "ami-12c6146b"
	newAMI = "ami-1812c061"
	badAMI = "ami-1e749f67"

	// testSpeed makes an emulated minute last 0.1 s: a 300 s warm-up is half
	// a second, the 5-minute unhealthy retry period another half.
	testSpeed = 600
)

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the shared emulator:", err)
		}
	}
	os.Exit(code)
}

// requireMoto skips the test when moto_server is not installed.
func requireMoto(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server is not on PATH; install moto[server] to run the emulator tests")
	}
}

// sharedServer returns the emulator shared by the tests that neither change
// its speed nor add faults, so that they can run in parallel.
func sharedServer(t *testing.T) *Server {
	t.Helper()
	requireMoto(t)
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, sharedErr = Start(ctx, Options{Speed: testSpeed, Logf: debugLog()})
		if sharedErr == nil {
			shared.SetUnhealthyImages(badAMI)
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting the emulator: %v", sharedErr)
	}
	return shared
}

// ownServer starts an emulator for one test, closed when it ends.
func ownServer(t *testing.T, speed float64) *Server {
	t.Helper()
	requireMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Speed: speed, Logf: debugLog()})
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the emulator: %v", err)
		}
	})
	return s
}

// debugLog logs the emulator's actions when AWSEMU_DEBUG is set.
func debugLog() func(string, ...any) {
	if os.Getenv("AWSEMU_DEBUG") == "" {
		return nil
	}
	return func(format string, args ...any) { fmt.Fprintf(os.Stderr, "awsemu: "+format+"\n", args...) }
}

// clients are real SDK clients pointed at an emulator.
type clients struct {
	asg *autoscaling.Client
	ec2 *ec2.Client
}

// newClients returns SDK clients for url. attempts 0 keeps the SDK's
// retries; 1 disables them, so that fault tests see every fault; more uses a
// standard retryer with short backoffs, to keep tests fast.
func newClients(url string, attempts int) clients {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	if attempts > 1 {
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 50 * time.Millisecond
			})
		}
	}
	return clients{
		asg: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			o.BaseEndpoint = aws.String(url)
			if attempts == 1 {
				o.RetryMaxAttempts = 1
			}
		}),
		ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			o.BaseEndpoint = aws.String(url)
			if attempts == 1 {
				o.RetryMaxAttempts = 1
			}
		}),
	}
}

var nameSeq atomic.Int64

var nonName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// uniqueName derives a resource name from the test's name.
func uniqueName(t *testing.T) string {
	n := nonName.ReplaceAllString(t.Name(), "-")
	if len(n) > 80 {
		n = n[len(n)-80:]
	}
	return strings.Trim(n, "-") + "-" + strconv.FormatInt(nameSeq.Add(1), 10)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createTemplate creates a launch template whose version 1 uses ami.
func (c clients) createTemplate(t *testing.T, ami string) (id, name string) {
	t.Helper()
	name = uniqueName(t)
	out, err := c.ec2.CreateLaunchTemplate(ctxFor(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	return aws.ToString(out.LaunchTemplate.LaunchTemplateId), name
}

// createVersion adds a version with another AMI, inheriting the rest.
func (c clients) createVersion(t *testing.T, templateID, ami string) string {
	t.Helper()
	out, err := c.ec2.CreateLaunchTemplateVersion(ctxFor(t), &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(templateID),
		SourceVersion:      aws.String("1"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami)},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion: %v", err)
	}
	return strconv.FormatInt(aws.ToInt64(out.LaunchTemplateVersion.VersionNumber), 10)
}

// createGroup creates a group of desired instances on the given version,
// spread over the default subnets.
func (c clients) createGroup(t *testing.T, templateID, version string, desired int32) string {
	t.Helper()
	ctx := ctxFor(t)
	subnets, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}},
	})
	if err != nil || len(subnets.Subnets) < 2 {
		t.Fatalf("DescribeSubnets: %v (%d subnets)", err, len(subnets.Subnets))
	}
	name := uniqueName(t)
	_, err = c.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(templateID), Version: aws.String(version)},
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(desired + 2),
		DesiredCapacity:      aws.Int32(desired),
		VPCZoneIdentifier:    aws.String(aws.ToString(subnets.Subnets[0].SubnetId) + "," + aws.ToString(subnets.Subnets[1].SubnetId)),
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}
	return name
}

// groupWithVersion is the setting most refresh tests start from: a
// template on oldAMI, its version 2 with ami, and a group of desired
// instances on version 1.
func (c clients) groupWithVersion(t *testing.T, ami string, desired int32) (templateID, v2, group string) {
	t.Helper()
	templateID, _ = c.createTemplate(t, oldAMI)
	v2 = c.createVersion(t, templateID, ami)
	return templateID, v2, c.createGroup(t, templateID, "1", desired)
}

func (c clients) group(t *testing.T, name string) asgtypes.AutoScalingGroup {
	t.Helper()
	out, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("DescribeAutoScalingGroups(%s): %v", name, err)
	}
	return out.AutoScalingGroups[0]
}

// images returns the AMI of each instance in the group, by instance id.
func (c clients) images(t *testing.T, group string) map[string]string {
	t.Helper()
	g := c.group(t, group)
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	out := map[string]string{}
	if len(ids) == 0 {
		return out
	}
	res, err := c.ec2.DescribeInstances(ctxFor(t), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	for _, r := range res.Reservations {
		for _, in := range r.Instances {
			out[aws.ToString(in.InstanceId)] = aws.ToString(in.ImageId)
		}
	}
	return out
}

func (c clients) start(t *testing.T, in *autoscaling.StartInstanceRefreshInput) string {
	t.Helper()
	out, err := c.asg.StartInstanceRefresh(ctxFor(t), in)
	if err != nil {
		t.Fatalf("StartInstanceRefresh: %v", err)
	}
	return aws.ToString(out.InstanceRefreshId)
}

func (c clients) refresh(t *testing.T, group, id string) asgtypes.InstanceRefresh {
	t.Helper()
	out, err := c.asg.DescribeInstanceRefreshes(ctxFor(t), &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group), InstanceRefreshIds: []string{id},
	})
	if err != nil {
		t.Fatalf("DescribeInstanceRefreshes: %v", err)
	}
	if len(out.InstanceRefreshes) != 1 {
		t.Fatalf("DescribeInstanceRefreshes returned %d refreshes for id %s", len(out.InstanceRefreshes), id)
	}
	return out.InstanceRefreshes[0]
}

// waitFor polls the refresh until cond holds, failing after real timeout.
func (c clients) waitFor(t *testing.T, group, id string, timeout time.Duration, what string, cond func(asgtypes.InstanceRefresh) bool) asgtypes.InstanceRefresh {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last asgtypes.InstanceRefresh
	for time.Now().Before(deadline) {
		last = c.refresh(t, group, id)
		if cond(last) {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("refresh %s never got %s; last status %s (%d%%): %s", id, what, last.Status, aws.ToInt32(last.PercentageComplete), aws.ToString(last.StatusReason))
	return last
}

// waitStatus waits until the refresh is in a final status and checks it.
func (c clients) waitStatus(t *testing.T, group, id string, want asgtypes.InstanceRefreshStatus) asgtypes.InstanceRefresh {
	t.Helper()
	r := c.waitFor(t, group, id, 30*time.Second, "a final status", func(r asgtypes.InstanceRefresh) bool {
		return !isActive(string(r.Status))
	})
	if r.Status != want {
		t.Fatalf("refresh %s ended %s (%s), want %s", id, r.Status, aws.ToString(r.StatusReason), want)
	}
	return r
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func ltDesired(id, version string) *asgtypes.DesiredConfiguration {
	return &asgtypes.DesiredConfiguration{LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id), Version: aws.String(version)}}
}

func instanceIDs(g asgtypes.AutoScalingGroup) []string {
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	return ids
}
