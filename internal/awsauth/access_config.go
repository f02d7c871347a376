//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AccessConfig,AssumeRoleConfig,AWSPollingConfig,VaultAWSEngineOptions

// Package awsauth turns the post-processor's AWS access options into
// aws.Config values, one per region.
//
// AccessConfig accepts every access option of the amazon plugin's builders
// (v1.8.2), under the same names and types, so that a block copied from an
// amazon-ebs source works here. Each is either applied with the builder's
// meaning, accepted and ignored with a note (Notes) when it has no meaning
// for a post-processor, or refused with an error that says what to use
// instead when honouring it is impossible and ignoring it would change which
// credentials are used. Credentials come from the SDK's default chain unless
// given explicitly; an assume_role block wraps whatever the chain finds in an
// assume-role provider behind a credentials cache, so credentials are
// refreshed during waits that outlive them.
package awsauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/hashicorp/packer-plugin-sdk/packer"
)

const (
	// DefaultMaxAttempts is the number of attempts per API call (the first
	// and DefaultMaxAttempts-1 retries) when neither max_retries nor
	// AWS_MAX_ATTEMPTS says otherwise. A roll-out polls for hours; the SDK's
	// default of 3 turns one throttling burst into a failed deploy of a
	// healthy fleet.
	DefaultMaxAttempts = 20

	// maxBackoff caps the delay between two attempts of one call. Long enough
	// to let a throttled account recover, short enough not to stall progress.
	maxBackoff = 30 * time.Second

	// ResponseHeaderTimeout bounds the wait for an answer to begin once a
	// request is sent. EC2, Auto Scaling and STS answer in well under a
	// second; a connection that stays silent this long is dead (a NAT or
	// proxy dropped it without a reset) and, without a bound, would hold
	// its call, and the roll-out waiting on it, forever. The attempt fails
	// as a connection error, which the retryer retries on a fresh
	// connection.
	ResponseHeaderTimeout = 30 * time.Second

	// AttemptTimeout bounds one attempt of a call as a whole: connecting,
	// sending, and reading the entire answer, so that an answer whose body
	// stalls halfway cannot hang either. The largest answers this plugin
	// reads (a page of 100 instance refreshes, a group's launch template)
	// take milliseconds; two minutes leave room for a slow link. Like a
	// header timeout, it fails the attempt, not the call: the retryer tries
	// again.
	AttemptTimeout = 2 * time.Minute

	// minAssumeRoleDuration and maxAssumeRoleDuration are STS's bounds for
	// DurationSeconds.
	minAssumeRoleDuration = 15 * time.Minute
	maxAssumeRoleDuration = 12 * time.Hour

	// STS's limits on session tags: at most 50 tags (and 50 transitive
	// keys), keys of 1 to 128 characters, values of up to 256.
	maxSessionTags        = 50
	maxSessionTagKeyLen   = 128
	maxSessionTagValueLen = 256
)

// AccessConfig holds how the post-processor reaches AWS.
type AccessConfig struct {
	// The access key used to communicate with AWS. If not set, the SDK's
	// default credential chain is used (environment, shared files, SSO,
	// container and instance roles).
	AccessKey string `mapstructure:"access_key"`
	// The secret key used to communicate with AWS. Required with `access_key`.
	SecretKey string `mapstructure:"secret_key"`
	// The session token that goes with temporary `access_key` and `secret_key`.
	Token string `mapstructure:"token"`
	// The profile to use in the shared credentials file.
	Profile string `mapstructure:"profile"`
	// The path to the shared credentials file. Defaults to the SDK's
	// (`~/.aws/credentials`).
	CredsFilename string `mapstructure:"shared_credentials_file"`
	// The default region of the targets. A target without `region` uses this
	// one, and without it the region of the artifact's AMI when the artifact
	// has exactly one.
	RawRegion string `mapstructure:"region"`
	// A role to assume before making any call. Credentials obtained this way
	// are refreshed automatically during long waits.
	AssumeRole AssumeRoleConfig `mapstructure:"assume_role"`
	// The URL of the EC2 API, for a VPC endpoint or a local emulation of AWS.
	// `AWS_ENDPOINT_URL_EC2` works too.
	CustomEndpointEc2 string `mapstructure:"custom_endpoint_ec2"`
	// The URL of the Auto Scaling API, for a VPC endpoint or a local emulation
	// of AWS. `AWS_ENDPOINT_URL_AUTO_SCALING` works too.
	CustomEndpointAutoScaling string `mapstructure:"custom_endpoint_autoscaling"`
	// The number of times an API call is retried after its first attempt,
	// throttling included, as in the amazon plugin's documentation: a call is
	// attempted at most `max_retries` + 1 times. `0` or unset: 19 retries (20
	// attempts), or `AWS_MAX_ATTEMPTS` attempts when that is set. Retries
	// back off exponentially up to 30 seconds, with jitter at every step, and
	// the client-side retry quota is off so hours of polling cannot drain it.
	MaxRetries int `mapstructure:"max_retries"`
	// Whether to leave the EC2 instance metadata service out of the search
	// for credentials, as in the amazon plugin. Defaults to `false`: on an
	// EC2 instance, CodeBuild or similar, the instance's role is used when
	// nothing else gives credentials.
	SkipMetadataApiCheck bool `mapstructure:"skip_metadata_api_check"`
	// Whether to skip the verification of the TLS certificates of every AWS
	// endpoint the post-processor calls (EC2, Auto Scaling and STS, custom
	// endpoints included). Defaults to `false`. Only for a test endpoint with
	// a self-signed certificate: anyone on the path can then read and change
	// the calls.
	InsecureSkipTLSVerify bool `mapstructure:"insecure_skip_tls_verify"`
	// Whether to decode the encoded authorization failure message of a
	// refused EC2 or Auto Scaling call with `sts:DecodeAuthorizationMessage`,
	// so that the error says which policy refused what. Needs that
	// permission (on resource `*`). Defaults to `false`.
	DecodeAuthZMessages bool `mapstructure:"decode_authorization_messages"`
	// Accepted so that a builder's block can be copied, and ignored: the
	// post-processor makes no separate call to check credentials, so there
	// is nothing to skip. Wrong credentials fail its first read, before it
	// changes anything.
	SkipCredsValidation bool `mapstructure:"skip_credential_validation"`
	// Accepted so that a builder's block can be copied, and ignored: the
	// post-processor does not check regions against the account's list of
	// regions. A target in a region that does not exist or is not enabled
	// fails at its first read, before any group is changed.
	SkipRegionValidation bool `mapstructure:"skip_region_validation"`
	// Accepted so that a builder's block can be copied, and ignored: the
	// amazon plugin's waiters do not run here. Waiting for a refresh is paced
	// by `poll_min_delay`, `poll_max_delay` and `polls_per_second`, and
	// bounded by `timeout`.
	PollingConfig *AWSPollingConfig `mapstructure:"aws_polling"`
	// Refused: a TOTP code changes every 30 seconds, and the post-processor
	// runs only after the build, minutes after the code was read. Get MFA
	// session credentials before Packer starts (`aws sts get-session-token`,
	// or a profile with `mfa_serial`, whose session the SDK caches) and pass
	// them in the environment or with `profile`.
	MFACode string `mapstructure:"mfa_code"`
	// Refused: the post-processor has no Vault client. Without one it would
	// silently use other credentials. Give it Vault's AWS credentials through
	// a profile whose `credential_process` reads them from Vault (renewed
	// when they expire), or in the environment.
	VaultAWSEngine VaultAWSEngineOptions `mapstructure:"vault_aws_engine"`

	// notes are the options Prepare accepted and ignored, one sentence each.
	notes []string
}

// AWSPollingConfig is the amazon plugin's `aws_polling` block, accepted and
// ignored (see AccessConfig.PollingConfig).
type AWSPollingConfig struct {
	// The amazon plugin's number of attempts of its waiters. Ignored here.
	MaxAttempts int `mapstructure:"max_attempts"`
	// The amazon plugin's delay between two attempts of its waiters, in
	// seconds. Ignored here.
	DelaySeconds int `mapstructure:"delay_seconds"`
}

// VaultAWSEngineOptions is the amazon plugin's `vault_aws_engine` block,
// refused (see AccessConfig.VaultAWSEngine).
type VaultAWSEngineOptions struct {
	// The Vault role to generate credentials for.
	Name string `mapstructure:"name"`
	// The ARN of the AWS role for an `assumed_role` Vault role.
	RoleARN string `mapstructure:"role_arn"`
	// The TTL of the STS credentials, such as `3600s`.
	TTL string `mapstructure:"ttl"`
	// The mount path of Vault's AWS secrets engine.
	EngineName string `mapstructure:"engine_name"`
}

func (v VaultAWSEngineOptions) empty() bool {
	return v == VaultAWSEngineOptions{}
}

// AssumeRoleConfig is the role to assume, with the amazon plugin's field names.
type AssumeRoleConfig struct {
	// The ARN of the role to assume.
	RoleARN string `mapstructure:"role_arn"`
	// The session name to use when assuming the role. Defaults to
	// `packer-plugin-asg`.
	SessionName string `mapstructure:"session_name"`
	// The external id that the role's trust policy requires, if any.
	ExternalID string `mapstructure:"external_id"`
	// The duration, in seconds, of the role session (900 to 43200). The
	// session is renewed before it expires, so this bounds exposure, not the
	// length of a roll-out.
	DurationSeconds int `mapstructure:"duration_seconds"`
	// An IAM policy, as JSON, that further restricts the assumed role.
	Policy string `mapstructure:"policy"`
	// ARNs of managed policies that further restrict the assumed role.
	PolicyARNs []string `mapstructure:"policy_arns"`
	// Session tags, for example `{ team = "web" }`: at most 50, keys of 1 to
	// 128 characters, values up to 256. The role's trust policy must allow
	// `sts:TagSession`.
	Tags map[string]string `mapstructure:"tags"`
	// Keys of `tags` that pass on to the sessions of roles assumed with this
	// one (role chaining), such as a target's `assume_role`.
	TransitiveTagKeys []string `mapstructure:"transitive_tag_keys"`
}

// Prepare validates the options, registers every secret with Packer's log
// filter, and records a note for each option it ignores (see Notes), which
// it also logs. It makes no network call.
func (c *AccessConfig) Prepare() []error {
	var errs []error
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, fmt.Errorf("access_key and secret_key: set both or neither"))
	}
	if c.Token != "" && c.AccessKey == "" {
		errs = append(errs, fmt.Errorf("token: needs access_key and secret_key"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max_retries: must be 0 (default) or more, got %d", c.MaxRetries))
	}
	if c.MFACode != "" {
		errs = append(errs, errors.New("mfa_code: not supported by asg-rollout: a TOTP code changes every 30 seconds and the post-processor runs after the build, minutes later; "+
			"remove it here and get MFA session credentials before Packer starts (aws sts get-session-token, or a profile with mfa_serial), "+
			"then pass them in the environment or with profile"))
	}
	if !c.VaultAWSEngine.empty() {
		errs = append(errs, errors.New("vault_aws_engine: not supported by asg-rollout, which has no Vault client and would otherwise use other credentials; "+
			"remove it here and give the post-processor Vault's AWS credentials through a profile whose credential_process reads them from Vault, or in the environment"))
	}
	errs = append(errs, c.AssumeRole.Prepare()...)
	packer.LogSecretFilter.Set(c.AccessKey, c.SecretKey, c.Token, c.MFACode)

	c.notes = nil
	if c.SkipCredsValidation {
		c.notes = append(c.notes, "skip_credential_validation is ignored: asg-rollout makes no separate credentials check; wrong credentials fail its first read, before anything is changed")
	}
	if c.SkipRegionValidation {
		c.notes = append(c.notes, "skip_region_validation is ignored: asg-rollout does not check regions against the account's list; a region that does not exist fails its first read, before any group is changed")
	}
	if c.PollingConfig != nil {
		c.notes = append(c.notes, "aws_polling is ignored: it sets the amazon builder's waiters; waiting for a refresh is paced by poll_min_delay, poll_max_delay and polls_per_second, and bounded by timeout")
	}
	for _, n := range c.notes {
		log.Printf("[WARN] %s", n)
	}
	return errs
}

// Notes returns a sentence for each option that the last Prepare accepted
// and ignored, for the caller to show to the user.
func (c *AccessConfig) Notes() []string { return c.notes }

// Prepare validates the role options and registers the external id with
// Packer's log filter.
func (ar *AssumeRoleConfig) Prepare() []error {
	var errs []error
	if ar.RoleARN == "" && (ar.ExternalID != "" || ar.SessionName != "" || ar.DurationSeconds != 0 || ar.Policy != "" || len(ar.PolicyARNs) > 0 || len(ar.Tags) > 0 || len(ar.TransitiveTagKeys) > 0) {
		errs = append(errs, fmt.Errorf("assume_role.role_arn: required when assume_role is set"))
	}
	if len(ar.Tags) > maxSessionTags {
		errs = append(errs, fmt.Errorf("assume_role.tags: at most %d session tags, got %d", maxSessionTags, len(ar.Tags)))
	}
	for _, k := range slices.Sorted(maps.Keys(ar.Tags)) {
		if len(k) == 0 || len(k) > maxSessionTagKeyLen {
			errs = append(errs, fmt.Errorf("assume_role.tags: key %q must have 1 to %d characters", k, maxSessionTagKeyLen))
		}
		if len(ar.Tags[k]) > maxSessionTagValueLen {
			errs = append(errs, fmt.Errorf("assume_role.tags: the value of %q must have at most %d characters, got %d", k, maxSessionTagValueLen, len(ar.Tags[k])))
		}
	}
	if len(ar.TransitiveTagKeys) > maxSessionTags {
		errs = append(errs, fmt.Errorf("assume_role.transitive_tag_keys: at most %d keys, got %d", maxSessionTags, len(ar.TransitiveTagKeys)))
	}
	if d := time.Duration(ar.DurationSeconds) * time.Second; ar.DurationSeconds != 0 && (d < minAssumeRoleDuration || d > maxAssumeRoleDuration) {
		errs = append(errs, fmt.Errorf("assume_role.duration_seconds: must be from %d to %d, got %d",
			int(minAssumeRoleDuration.Seconds()), int(maxAssumeRoleDuration.Seconds()), ar.DurationSeconds))
	}
	packer.LogSecretFilter.Set(ar.ExternalID)
	return errs
}

// MaxAttempts is the retryer's attempt count: max_retries + 1, else
// AWS_MAX_ATTEMPTS, else DefaultMaxAttempts.
func (c *AccessConfig) MaxAttempts() int {
	if c.MaxRetries > 0 {
		return c.MaxRetries + 1
	}
	if v, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && v > 0 {
		return v
	}
	return DefaultMaxAttempts
}

// NewRetryer returns the standard retryer configured for long waits: more
// attempts, a higher backoff cap with jitter at the cap too, and no
// client-side retry quota (a quota drained by a throttling burst fails every
// later call at once).
func (c *AccessConfig) NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = c.MaxAttempts()
		o.MaxBackoff = maxBackoff
		o.Backoff = cappedJitter{max: maxBackoff}
		o.RateLimiter = ratelimit.None
	})
}

// cappedJitter backs off exponentially from one second up to max, always
// with jitter: between half and all of the exponential delay. The SDK's own
// backoff stops jittering at its cap, so retries of many calls that failed
// together stay in lock-step and can meet every burst of a periodic fault.
type cappedJitter struct{ max time.Duration }

// BackoffDelay returns the delay before attempt+1.
func (b cappedJitter) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := b.max
	if attempt < 30 {
		d = min(b.max, time.Second<<attempt)
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1)), nil
}

// NewHTTPClient returns the SDK's HTTP client with every attempt bounded:
// ResponseHeaderTimeout for the answer to begin, AttemptTimeout for the
// whole of it. The SDK's own client has neither, so one silent connection
// can hang a call forever. Config uses it; it is exported for clients built
// without Config.
func NewHTTPClient() *awshttp.BuildableClient {
	return newHTTPClient(ResponseHeaderTimeout, AttemptTimeout)
}

func newHTTPClient(header, attempt time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = header }).
		WithTimeout(attempt)
}

// httpClient is NewHTTPClient with insecure_skip_tls_verify applied.
func (c *AccessConfig) httpClient() *awshttp.BuildableClient {
	hc := NewHTTPClient()
	if c.InsecureSkipTLSVerify {
		hc = hc.WithTransportOptions(func(t *http.Transport) {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true
		})
	}
	return hc
}

// Config loads an aws.Config for region. Build clients from it with
// NewEC2Client and NewAutoScalingClient, which apply the custom endpoints.
func (c *AccessConfig) Config(ctx context.Context, region string) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithRetryer(c.NewRetryer),
		awsconfig.WithHTTPClient(c.httpClient()),
	}
	if c.SkipMetadataApiCheck {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if c.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(c.Profile))
	}
	if c.CredsFilename != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{c.CredsFilename}))
	}
	if c.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration for region %s: %w", region, err)
	}
	if c.AssumeRole.RoleARN != "" {
		cfg = c.AssumeRole.Apply(cfg)
	}
	return cfg, nil
}

// Apply returns cfg with credentials that assume the role with cfg's own
// credentials, cached and renewed before they expire.
func (ar AssumeRoleConfig) Apply(cfg aws.Config) aws.Config {
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), ar.RoleARN, ar.options))
	return cfg
}

func (ar AssumeRoleConfig) options(o *stscreds.AssumeRoleOptions) {
	o.RoleSessionName = "packer-plugin-asg"
	if ar.SessionName != "" {
		o.RoleSessionName = ar.SessionName
	}
	if ar.ExternalID != "" {
		o.ExternalID = aws.String(ar.ExternalID)
	}
	if ar.DurationSeconds != 0 {
		o.Duration = time.Duration(ar.DurationSeconds) * time.Second
	}
	if ar.Policy != "" {
		o.Policy = aws.String(ar.Policy)
	}
	for _, arn := range ar.PolicyARNs {
		o.PolicyARNs = append(o.PolicyARNs, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
	}
	for _, k := range slices.Sorted(maps.Keys(ar.Tags)) {
		o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(ar.Tags[k])})
	}
	o.TransitiveTagKeys = ar.TransitiveTagKeys
}

// NewEC2Client returns an EC2 client for cfg that honours custom_endpoint_ec2
// and decode_authorization_messages.
func (c *AccessConfig) NewEC2Client(cfg aws.Config) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if c.CustomEndpointEc2 != "" {
			o.BaseEndpoint = aws.String(c.CustomEndpointEc2)
		}
		if c.DecodeAuthZMessages {
			o.APIOptions = append(o.APIOptions, addAuthzDecoder(sts.NewFromConfig(cfg)))
		}
	})
}

// NewAutoScalingClient returns an Auto Scaling client for cfg that honours
// custom_endpoint_autoscaling and decode_authorization_messages.
func (c *AccessConfig) NewAutoScalingClient(cfg aws.Config) *autoscaling.Client {
	return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		if c.CustomEndpointAutoScaling != "" {
			o.BaseEndpoint = aws.String(c.CustomEndpointAutoScaling)
		}
		if c.DecodeAuthZMessages {
			o.APIOptions = append(o.APIOptions, addAuthzDecoder(sts.NewFromConfig(cfg)))
		}
	})
}

// NewSSMClient returns an SSM client for cfg. SSM has no custom_endpoint
// option: AWS_ENDPOINT_URL_SSM points it elsewhere.
func (c *AccessConfig) NewSSMClient(cfg aws.Config) *ssm.Client {
	return ssm.NewFromConfig(cfg)
}
