package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// maxGroupPages bounds paging through a region's groups when choosing them
// by tags (100 a page), in case an endpoint repeats a page forever.
const maxGroupPages = 1000

// plan turns the targets into roll-outs: one per group, each with its
// region, its AMI, its wave and the clients of its region and account.
// Groups chosen by tags are looked up here, when the build runs.
func (p *PostProcessor) plan(ctx context.Context, images sourceImages) ([]*rollout, error) {
	newClients := p.newClients
	if newClients == nil {
		newClients = p.awsClients
	}
	cache := map[string]*clients{}
	var ros []*rollout
	for i, t := range p.config.Targets {
		name := t.AutoScalingGroup
		if name == "" {
			name = fmt.Sprintf("tags %v", t.Tags)
		}
		region := t.Region
		if region == "" {
			region = p.config.RawRegion
		}
		if region == "" {
			regions := images.regions()
			if len(regions) != 1 {
				return nil, fmt.Errorf("target[%d] (%s): set region: the artifact has AMIs in %d regions (%v)", i, name, len(regions), regions)
			}
			region = regions[0]
		}
		ami, err := images.image(region)
		if err != nil {
			return nil, fmt.Errorf("target[%d] (%s): %w", i, name, err)
		}
		key := region + "\x00" + t.AssumeRole.RoleARN
		c, ok := cache[key]
		if !ok {
			if c, err = newClients(ctx, region, t.AssumeRole); err != nil {
				return nil, fmt.Errorf("target[%d] (%s): %w", i, name, err)
			}
			cache[key] = c
		}
		groups := []astypes.AutoScalingGroup{{AutoScalingGroupName: aws.String(t.AutoScalingGroup)}}
		if len(t.Tags) > 0 {
			if groups, err = groupsByTags(ctx, c.autoscaling, t.Tags); err != nil {
				return nil, fmt.Errorf("target[%d]: %w", i, err)
			}
			if len(groups) == 0 {
				return nil, fmt.Errorf("target[%d]: no Auto Scaling group in %s has the tags %s; check the tags and the region", i, region, tagList(t.Tags))
			}
		}
		if t.Strategy == StrategyBlueGreen {
			groups = blueGreenLines(groups, len(t.Tags) > 0)
		}
		for _, g := range groups {
			ro := &rollout{region: region, group: aws.ToString(g.AutoScalingGroupName), imageID: ami, wave: t.Wave, account: accountOf(t.AssumeRole.RoleARN), clients: c}
			if t.Strategy == StrategyBlueGreen {
				ro.bg = &blueGreen{}
			} else if len(t.Tags) > 0 {
				ro.described = &g // resolve need not describe it again
			}
			ros = append(ros, ro)
		}
	}
	sort.SliceStable(ros, func(i, j int) bool { return ros[i].label() < ros[j].label() })
	seen := map[string]bool{}
	for _, ro := range ros {
		if seen[ro.label()] {
			return nil, fmt.Errorf("Auto Scaling group %s is the target of two target blocks; list each group once", ro.label())
		}
		seen[ro.label()] = true
	}
	return ros, nil
}

// groupsByTags returns every group that has all of tags, by name.
func groupsByTags(ctx context.Context, as autoScalingAPI, tags map[string]string) ([]astypes.AutoScalingGroup, error) {
	in := &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100)}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Filters = append(in.Filters, astypes.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	var groups []astypes.AutoScalingGroup
	seen := map[string]bool{}
	for page := 0; page < maxGroupPages; page++ {
		out, err := as.DescribeAutoScalingGroups(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("finding Auto Scaling groups with tags %s: %w", tagList(tags), err)
		}
		for _, g := range out.AutoScalingGroups {
			if hasTags(g, tags) {
				groups = append(groups, g)
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			sort.Slice(groups, func(i, j int) bool {
				return aws.ToString(groups[i].AutoScalingGroupName) < aws.ToString(groups[j].AutoScalingGroupName)
			})
			return groups, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("finding Auto Scaling groups with tags %s: the API repeated page token %q", tagList(tags), next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	return nil, fmt.Errorf("finding Auto Scaling groups with tags %s: gave up after %d pages", tagList(tags), maxGroupPages)
}

// hasTags checks the tags again on our side: the filter is the server's
// business, the decision to change a group is ours.
func hasTags(g astypes.AutoScalingGroup, want map[string]string) bool {
	have := map[string]string{}
	for _, t := range g.Tags {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func tagList(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// accountOf is the account id in a role ARN, or "" without a role.
func accountOf(roleARN string) string {
	if parts := strings.Split(roleARN, ":"); len(parts) > 4 {
		return parts[4]
	}
	return ""
}

// awsClients makes real AWS clients for region, assuming role when set.
func (p *PostProcessor) awsClients(ctx context.Context, region string, role awsauth.AssumeRoleConfig) (*clients, error) {
	cfg, err := p.config.AccessConfig.Config(ctx, region)
	if err != nil {
		return nil, err
	}
	if role.RoleARN != "" {
		cfg = role.Apply(cfg)
	}
	as, ec := p.config.AccessConfig.NewAutoScalingClient(cfg), p.config.AccessConfig.NewEC2Client(cfg)
	return &clients{
		autoscaling: as,
		ec2:         ec,
		ssm:         p.config.AccessConfig.NewSSMClient(cfg),
		cleanup:     ec,
		pools:       as,
		blueGreen:   as,
		elbv2:       p.config.AccessConfig.NewELBv2Client(cfg),
		elb:         p.config.AccessConfig.NewELBClient(cfg),
		subnets:     ec,
	}, nil
}
