package awsemu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// moto's threaded server answers a DescribeInstances made while instances
// are terminated with HTTP 500 and a broken XML body. The emulator must not
// pass such an answer on: with no fault injected, readers racing a refresh
// that terminates and launches instances see no error at all. The clients
// do not retry, so a single 5xx fails the test.
func TestConcurrentReadsDuringARefreshNeverSee5xx(t *testing.T) {
	t.Parallel()
	s := ownServer(t, testSpeed) // its readers must not slow the shared emulator down
	c := newClients(s.URL(), 1)
	lt, v2, group := c.groupWithVersion(t, newAMI, 6)
	id := c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		DesiredConfiguration: ltDesired(lt, v2),
		Preferences:          &asgtypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(0), InstanceWarmup: aws.Int32(0)},
	})

	ctx, stop := context.WithCancel(ctxFor(t))
	var calls, failures atomic.Int64
	var mu sync.Mutex
	var firstErr error
	record := func(err error) {
		calls.Add(1)
		if err == nil || ctx.Err() != nil {
			return
		}
		failures.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for ctx.Err() == nil {
				if i%2 == 0 {
					_, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
					record(err)
				} else {
					_, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
					record(err)
				}
			}
		}(i)
	}
	c.waitStatus(t, group, id, asgtypes.InstanceRefreshStatusSuccessful)
	stop()
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d reads during the refresh failed; first: %v (HTTP %s)", n, calls.Load(), firstErr, statusOf(firstErr))
	}
	if calls.Load() < 8 {
		t.Fatalf("only %d reads ran during the refresh: the test proves nothing", calls.Load())
	}
}

func statusOf(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprint(re.HTTPStatusCode())
	}
	return "none"
}
