package fleet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// This file reads what a blue/green roll-out changes: which groups of a
// line are live, which instances the load balancers send traffic to, and
// how healthy they are.

// Tags of the blue/green contract (see post-processor/rollout).
const (
	TagBaseName = "asg-rollout:base-name"
	TagRetired  = "asg-rollout:retired"
)

// ELBv2 returns an Elastic Load Balancing v2 client for the local AWS.
func (c *Clients) ELBv2() *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.NewFromConfig(c.cfg, func(o *elasticloadbalancingv2.Options) { o.BaseEndpoint = aws.String(c.endpoint) })
}

// ELB returns a classic Elastic Load Balancing client for the local AWS.
func (c *Clients) ELB() *elasticloadbalancing.Client {
	return elasticloadbalancing.NewFromConfig(c.cfg, func(o *elasticloadbalancing.Options) { o.BaseEndpoint = aws.String(c.endpoint) })
}

// createClassicLB creates a classic load balancer (HTTP 80 to 80) in the
// region's first Availability Zone, named after the group (at most 32
// characters).
func (c *Clients) createClassicLB(ctx context.Context, group string) (string, error) {
	name := strings.Trim(nonTGName.Replace(group), "-")
	if len(name) > 28 {
		name = name[len(name)-28:]
	}
	name += "-clb"
	_, err := c.ELB().CreateLoadBalancer(ctx, &elasticloadbalancing.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(name),
		AvailabilityZones: []string{c.Region + "a"},
		Listeners:         []elbtypes.Listener{{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstancePort: aws.Int32(80)}},
	})
	if err != nil {
		return "", fmt.Errorf("creating the classic load balancer of %s: %w", group, err)
	}
	return name, nil
}

// Healthy returns the instances healthy in a target group (by
// DescribeTargetHealth), sorted.
func (c *Clients) Healthy(ctx context.Context, targetGroupARN string) ([]string, error) {
	out, err := c.ELBv2().DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(targetGroupARN)})
	if err != nil {
		return nil, fmt.Errorf("describing the health of %s: %w", targetGroupARN, err)
	}
	var ids []string
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
			ids = append(ids, aws.ToString(d.Target.Id))
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// InService returns the instances InService in a classic load balancer,
// sorted.
func (c *Clients) InServiceIn(ctx context.Context, lb string) ([]string, error) {
	out, err := c.ELB().DescribeInstanceHealth(ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)})
	if err != nil {
		return nil, fmt.Errorf("describing the health of %s: %w", lb, err)
	}
	var ids []string
	for _, s := range out.InstanceStates {
		if aws.ToString(s.State) == "InService" {
			ids = append(ids, aws.ToString(s.InstanceId))
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Serving returns the instances the load balancer sends traffic to:
// healthy in target group targetGroupARN, or InService in classic load
// balancer lb (exactly one is set).
func (c *Clients) Serving(ctx context.Context, targetGroupARN, lb string) ([]string, error) {
	if targetGroupARN != "" {
		return c.Healthy(ctx, targetGroupARN)
	}
	return c.InServiceIn(ctx, lb)
}

// WaitServing waits until n instances are served by the target group or
// classic load balancer (see Serving): a seeded fleet in its steady state.
func (c *Clients) WaitServing(ctx context.Context, targetGroupARN, lb string, n int) error {
	for {
		ids, err := c.Serving(ctx, targetGroupARN, lb)
		if err == nil && len(ids) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d instances healthy in %s%s: %w (last %v, %v)", n, targetGroupARN, lb, ctx.Err(), ids, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Line returns the groups of a blue/green line: those tagged with the base
// name, and the group of that name, each with whether it is retired.
func (c *Clients) Line(ctx context.Context, base string) (map[string]astypes.AutoScalingGroup, error) {
	out := map[string]astypes.AutoScalingGroup{}
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.AutoScaling, &autoscaling.DescribeAutoScalingGroupsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing groups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			name := aws.ToString(g.AutoScalingGroupName)
			if name == base || TagOf(g, TagBaseName) == base {
				out[name] = g
			}
		}
	}
	return out, nil
}

// Live returns the names of a line's groups that are not retired, sorted.
func (c *Clients) Live(ctx context.Context, base string) ([]string, error) {
	line, err := c.Line(ctx, base)
	if err != nil {
		return nil, err
	}
	var live []string
	for name, g := range line {
		if TagOf(g, TagRetired) == "" {
			live = append(live, name)
		}
	}
	sort.Strings(live)
	return live, nil
}

// TagOf returns the value of a group's tag, or "".
func TagOf(g astypes.AutoScalingGroup, key string) string {
	for _, t := range g.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
