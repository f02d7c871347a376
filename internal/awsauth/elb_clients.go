package awsauth

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// NewELBv2Client returns an Elastic Load Balancing (v2: target groups)
// client for cfg that honours decode_authorization_messages. Its endpoint
// is AWS's, or AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 / AWS_ENDPOINT_URL.
func (c *AccessConfig) NewELBv2Client(cfg aws.Config) *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.NewFromConfig(cfg, func(o *elasticloadbalancingv2.Options) {
		if c.DecodeAuthZMessages {
			o.APIOptions = append(o.APIOptions, addAuthzDecoder(sts.NewFromConfig(cfg)))
		}
	})
}

// NewELBClient returns a classic Elastic Load Balancing client for cfg that
// honours decode_authorization_messages. Its endpoint is AWS's, or
// AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING / AWS_ENDPOINT_URL.
func (c *AccessConfig) NewELBClient(cfg aws.Config) *elasticloadbalancing.Client {
	return elasticloadbalancing.NewFromConfig(cfg, func(o *elasticloadbalancing.Options) {
		if c.DecodeAuthZMessages {
			o.APIOptions = append(o.APIOptions, addAuthzDecoder(sts.NewFromConfig(cfg)))
		}
	})
}
