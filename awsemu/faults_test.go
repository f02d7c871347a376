package awsemu

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// templateExists reports whether a launch template of that name exists,
// asking moto directly so that no fault applies.
func templateExists(t *testing.T, s *Server, name string) bool {
	t.Helper()
	direct := newClients(s.MotoURL(), 0)
	out, err := direct.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if err != nil {
		return false
	}
	return len(out.LaunchTemplates) == 1
}

func createTemplateInput(name string) *ec2.CreateLaunchTemplateInput {
	return &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(oldAMI)},
	}
}

// The faults reproduce what AWS clients must survive. They run on an
// emulator of their own, since faults apply to every matching request.
func TestFaults(t *testing.T) {
	s := ownServer(t, testSpeed)
	c := newClients(s.URL(), 1) // no retries: every fault surfaces
	describeGroups := func() error {
		_, err := c.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{})
		return err
	}

	// AWS throttles Auto Scaling with HTTP 400 Throttling.
	t.Run("throttle autoscaling", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "autoscaling", Action: "DescribeAutoScalingGroups", Kind: FaultThrottle, Count: 1})
		err := describeGroups()
		if apiCode(err) != "Throttling" || httpStatus(err) != 400 {
			t.Errorf("got %v (HTTP %d), want Throttling with HTTP 400", err, httpStatus(err))
		}
		if err := describeGroups(); err != nil {
			t.Errorf("a Count 1 fault applied twice: %v", err)
		}
	})

	// A fault is meant for the call that acts: a DryRun of the same action
	// (a permission check) passes it by and gets EC2's DryRunOperation.
	t.Run("dry run passes a fault by", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "ec2", Action: "CreateLaunchTemplate", Kind: FaultThrottle, Count: 1})
		in := createTemplateInput("dry-run-fault")
		in.DryRun = aws.Bool(true)
		if _, err := c.ec2.CreateLaunchTemplate(ctxFor(t), in); apiCode(err) != "DryRunOperation" {
			t.Errorf("a DryRun got %v, want DryRunOperation", err)
		}
		in.DryRun = nil
		if _, err := c.ec2.CreateLaunchTemplate(ctxFor(t), in); apiCode(err) != "RequestLimitExceeded" {
			t.Errorf("the call that acts got %v, want the fault RequestLimitExceeded", err)
		}
	})

	// AWS throttles EC2 with RequestLimitExceeded (HTTP 503).
	t.Run("throttle ec2", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "ec2", Kind: FaultThrottle, Count: 1})
		_, err := c.ec2.DescribeLaunchTemplates(ctxFor(t), &ec2.DescribeLaunchTemplatesInput{})
		if apiCode(err) != "RequestLimitExceeded" || httpStatus(err) != 503 {
			t.Errorf("got %v (HTTP %d), want RequestLimitExceeded with HTTP 503", err, httpStatus(err))
		}
	})

	// Server faults alternate between 500 and 503 and perform nothing.
	t.Run("5xx", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "autoscaling", Kind: Fault5xx, Count: 2})
		err1, err2 := describeGroups(), describeGroups()
		if apiCode(err1) != "InternalFailure" || httpStatus(err1) != 500 {
			t.Errorf("first: got %v (HTTP %d), want InternalFailure with HTTP 500", err1, httpStatus(err1))
		}
		if apiCode(err2) != "ServiceUnavailable" || httpStatus(err2) != 503 {
			t.Errorf("second: got %v (HTTP %d), want ServiceUnavailable with HTTP 503", err2, httpStatus(err2))
		}
		s.AddFault(Fault{Service: "ec2", Action: "CreateLaunchTemplate", Kind: Fault5xx, Count: 1})
		name := uniqueName(t)
		if _, err := c.ec2.CreateLaunchTemplate(ctxFor(t), createTemplateInput(name)); httpStatus(err) != 500 {
			t.Errorf("ec2 5xx: got %v", err)
		}
		if templateExists(t, s, name) {
			t.Errorf("a request answered with a 5xx fault was performed")
		}
	})

	// A dropped connection gets no answer, and the request is not performed.
	t.Run("drop", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "ec2", Action: "CreateLaunchTemplate", Kind: FaultDrop, Count: 1})
		name := uniqueName(t)
		_, err := c.ec2.CreateLaunchTemplate(ctxFor(t), createTemplateInput(name))
		if err == nil || apiCode(err) != "" {
			t.Errorf("got %v, want a transport error", err)
		}
		if templateExists(t, s, name) {
			t.Errorf("a dropped request was performed")
		}
	})

	// A lost answer: the request is performed, the client cannot know.
	t.Run("lose-response", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "ec2", Action: "CreateLaunchTemplate", Kind: FaultLoseResponse, Count: 1})
		name := uniqueName(t)
		_, err := c.ec2.CreateLaunchTemplate(ctxFor(t), createTemplateInput(name))
		if err == nil || apiCode(err) != "" {
			t.Errorf("got %v, want a transport error", err)
		}
		if !templateExists(t, s, name) {
			t.Errorf("a request whose answer was lost was not performed")
		}
	})

	// A slow answer arrives after Delay, and the request is performed.
	t.Run("slow", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "autoscaling", Kind: FaultSlow, Delay: Duration(300 * time.Millisecond), Count: 1})
		start := time.Now()
		if err := describeGroups(); err != nil {
			t.Fatalf("slow call failed: %v", err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("slow call took %v, want at least 300ms", d)
		}
	})

	// Faults apply to the emulator's own actions too, before they act.
	t.Run("handled action", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Action: "StartInstanceRefresh", Kind: FaultThrottle})
		_, err := c.asg.StartInstanceRefresh(ctxFor(t), &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("any")})
		if apiCode(err) != "Throttling" {
			t.Errorf("got %v, want Throttling", err)
		}
	})

	// Rate applies a fault to a share of the matching requests.
	t.Run("rate", func(t *testing.T) {
		s.ClearFaults()
		s.AddFault(Fault{Service: "autoscaling", Action: "DescribeAutoScalingGroups", Kind: FaultThrottle, Rate: 0.5})
		failed := 0
		for range 40 {
			if describeGroups() != nil {
				failed++
			}
		}
		if failed == 0 || failed == 40 {
			t.Errorf("rate 0.5 failed %d of 40 calls", failed)
		}
	})

	// The SDK's retryer recovers from throttling; the call log shows each
	// attempt and the fault applied to it.
	t.Run("retried and logged", func(t *testing.T) {
		s.ClearFaults()
		s.ResetCalls()
		s.AddFault(Fault{Service: "autoscaling", Action: "DescribeAutoScalingGroups", Kind: FaultThrottle, Count: 2})
		retrying := newClients(s.URL(), 3)
		if _, err := retrying.asg.DescribeAutoScalingGroups(ctxFor(t), &autoscaling.DescribeAutoScalingGroupsInput{
			AutoScalingGroupNames: []string{"logged"},
		}); err != nil {
			t.Fatalf("retried call failed: %v", err)
		}
		calls := s.Calls()
		if len(calls) != 3 {
			t.Fatalf("logged %d calls, want 3: %+v", len(calls), calls)
		}
		for i, call := range calls {
			wantFault := ""
			if i < 2 {
				wantFault = FaultThrottle
			}
			if call.Service != "autoscaling" || call.Region != "us-east-1" || call.Action != "DescribeAutoScalingGroups" ||
				call.Params["AutoScalingGroupNames.member.1"] != "logged" || call.Fault != wantFault || call.Time.IsZero() {
				t.Errorf("call %d = %+v", i, call)
			}
		}
		s.ResetCalls()
		if n := len(s.Calls()); n != 0 {
			t.Errorf("%d calls after ResetCalls", n)
		}
	})
	s.ClearFaults()
}
