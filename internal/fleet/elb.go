package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// This file speaks Elastic Load Balancing (v2) through signed Query calls:
// the project's modules have no ELB SDK, and the few calls the fleet needs
// do not justify one.

const elbv2Version = "2015-12-01"

// elbv2 sends one signed Elastic Load Balancing v2 Query call and returns
// the answer body.
func (c *Clients) elbv2(ctx context.Context, form url.Values) ([]byte, error) {
	if c.endpoint == "" || c.cfg.Credentials == nil {
		return nil, errors.New("load balancer calls need clients made by NewClients")
	}
	action := form.Get("Action")
	form.Set("Version", elbv2Version)
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.endpoint, "/")+"/", strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", action, err)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "elasticloadbalancing", c.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("signing %s: %w", action, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the %s answer: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered HTTP %d: %s", action, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// createTargetGroup creates an HTTP target group on port 80 in the
// default VPC, named after the group (target group names have at most 32
// characters).
func (c *Clients) createTargetGroup(ctx context.Context, group string) (string, error) {
	vpcs, err := c.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{
		Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}},
	})
	if err != nil {
		return "", fmt.Errorf("finding the default VPC for %s's target group: %w", group, err)
	}
	if len(vpcs.Vpcs) == 0 {
		return "", fmt.Errorf("finding the default VPC for %s's target group: there is none", group)
	}
	name := strings.Trim(nonTGName.Replace(group), "-")
	if len(name) > 29 {
		name = name[len(name)-29:]
	}
	body, err := c.elbv2(ctx, url.Values{"Action": {"CreateTargetGroup"}, "Name": {name + "-tg"},
		"Protocol": {"HTTP"}, "Port": {"80"}, "VpcId": {aws.ToString(vpcs.Vpcs[0].VpcId)}})
	if err != nil {
		return "", fmt.Errorf("creating the target group of %s: %w", group, err)
	}
	var doc struct {
		ARN string `xml:"CreateTargetGroupResult>TargetGroups>member>TargetGroupArn"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || doc.ARN == "" {
		return "", fmt.Errorf("reading the target group of %s: %v in %s", group, err, body)
	}
	return doc.ARN, nil
}

// nonTGName replaces characters a target group name cannot hold.
var nonTGName = strings.NewReplacer("_", "-", ".", "-", "/", "-", " ", "-")

// TargetHealth returns the instances registered in a target group.
func (c *Clients) TargetHealth(ctx context.Context, targetGroupARN string) ([]Target, error) {
	body, err := c.elbv2(ctx, url.Values{"Action": {"DescribeTargetHealth"}, "TargetGroupArn": {targetGroupARN}})
	if err != nil {
		return nil, fmt.Errorf("describing the health of %s: %w", targetGroupARN, err)
	}
	var doc struct {
		Members []struct {
			ID    string `xml:"Target>Id"`
			State string `xml:"TargetHealth>State"`
		} `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading the health of %s: %w", targetGroupARN, err)
	}
	out := make([]Target, 0, len(doc.Members))
	for _, m := range doc.Members {
		out = append(out, Target{TargetGroupARN: targetGroupARN, InstanceID: m.ID, State: m.State})
	}
	return out, nil
}
