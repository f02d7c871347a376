package instancerefresh

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// pages serves DescribeInstanceRefreshes from fixed pages keyed by token.
type pages map[string]*autoscaling.DescribeInstanceRefreshesOutput

func (p pages) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	out, ok := p[aws.ToString(in.NextToken)]
	if !ok {
		return nil, errors.New("unknown token")
	}
	return out, nil
}

func refresh(id string, s types.InstanceRefreshStatus) types.InstanceRefresh {
	return types.InstanceRefresh{InstanceRefreshId: aws.String(id), Status: s}
}

func TestFindActivePagesUntilActive(t *testing.T) {
	p := pages{
		"":   {InstanceRefreshes: []types.InstanceRefresh{refresh("a", "Successful"), refresh("b", "Failed")}, NextToken: aws.String("t1")},
		"t1": {InstanceRefreshes: []types.InstanceRefresh{refresh("c", "Baking")}},
	}
	got, err := FindActive(context.Background(), p, "web")
	if err != nil || got == nil || *got.InstanceRefreshId != "c" {
		t.Fatalf("FindActive = %v, %v; want refresh c from the second page", got, err)
	}
}

func TestFindActiveNone(t *testing.T) {
	p := pages{"": {InstanceRefreshes: []types.InstanceRefresh{refresh("a", "Successful")}}}
	got, err := FindActive(context.Background(), p, "web")
	if err != nil || got != nil {
		t.Fatalf("FindActive = %v, %v; want nil, nil", got, err)
	}
}

func TestFindActiveStopsOnRepeatedToken(t *testing.T) {
	p := pages{
		"":   {NextToken: aws.String("t1")},
		"t1": {NextToken: aws.String("t1")},
	}
	_, err := FindActive(context.Background(), p, "web")
	if err == nil || !strings.Contains(err.Error(), "repeated page token") {
		t.Fatalf("err = %v, want the loop guard to stop it", err)
	}
}

func TestFindNotFound(t *testing.T) {
	p := pages{"": {InstanceRefreshes: []types.InstanceRefresh{refresh("other", "InProgress")}}}
	_, err := Find(context.Background(), p, "web", "mine")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
