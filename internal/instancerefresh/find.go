package instancerefresh

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// ErrNotFound is returned when a refresh is not (yet) visible. A refresh id
// fresh from StartInstanceRefresh can be missing from Describe for a moment.
var ErrNotFound = errors.New("instance refresh not found")

// maxPages bounds paging through a group's refresh history (six weeks of it,
// 100 a page). The SDK paginator's duplicate-token guard is off by default;
// this bound stops a misbehaving endpoint from looping forever.
const maxPages = 100

// DescribeInstanceRefreshesAPIClient is the one call this package needs.
type DescribeInstanceRefreshesAPIClient interface {
	DescribeInstanceRefreshes(context.Context, *autoscaling.DescribeInstanceRefreshesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error)
}

var _ DescribeInstanceRefreshesAPIClient = (*autoscaling.Client)(nil)

// Find returns refresh id of group, or an error wrapping ErrNotFound.
func Find(ctx context.Context, client DescribeInstanceRefreshesAPIClient, group, id string, optFns ...func(*autoscaling.Options)) (*types.InstanceRefresh, error) {
	out, err := client.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group),
		InstanceRefreshIds:   []string{id},
	}, optFns...)
	if err != nil {
		return nil, fmt.Errorf("describing Auto Scaling group (%s) instance refresh (%s): %w", group, id, err)
	}
	for i := range out.InstanceRefreshes {
		if aws.ToString(out.InstanceRefreshes[i].InstanceRefreshId) == id {
			return &out.InstanceRefreshes[i], nil
		}
	}
	return nil, fmt.Errorf("Auto Scaling group (%s) instance refresh (%s): %w", group, id, ErrNotFound)
}

// FindActive returns the group's active refresh, or nil when there is none.
// Refreshes are listed newest first, and AWS allows one active refresh per
// group, so the search stops at the first active one.
func FindActive(ctx context.Context, client DescribeInstanceRefreshesAPIClient, group string) (*types.InstanceRefresh, error) {
	in := &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group),
		MaxRecords:           aws.Int32(100),
	}
	seen := map[string]bool{}
	for page := 0; page < maxPages; page++ {
		out, err := client.DescribeInstanceRefreshes(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing Auto Scaling group (%s) instance refreshes: %w", group, err)
		}
		for i := range out.InstanceRefreshes {
			if IsActive(out.InstanceRefreshes[i].Status) {
				return &out.InstanceRefreshes[i], nil
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return nil, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("listing Auto Scaling group (%s) instance refreshes: the API repeated page token %q", group, next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	return nil, fmt.Errorf("listing Auto Scaling group (%s) instance refreshes: gave up after %d pages", group, maxPages)
}
