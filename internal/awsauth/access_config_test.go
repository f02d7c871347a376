package awsauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/hashicorp/packer-plugin-sdk/packer"
)

func TestPrepareErrors(t *testing.T) {
	cases := []struct {
		c    AccessConfig
		want string
	}{
		{AccessConfig{AccessKey: "AKIAONLY"}, "access_key and secret_key: set both or neither"},
		{AccessConfig{Token: "tok-only-token"}, "token: needs access_key and secret_key"},
		{AccessConfig{MaxRetries: -1}, "max_retries: must be 0 (default) or more"},
		{AccessConfig{AssumeRole: AssumeRoleConfig{ExternalID: "ext-id-only"}}, "assume_role.role_arn: required"},
		{AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", DurationSeconds: 100000}}, "assume_role.duration_seconds: must be from 900 to 43200"},
		{AccessConfig{AssumeRole: AssumeRoleConfig{Tags: map[string]string{"team": "web"}}}, "assume_role.role_arn: required"},
		{AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", Tags: map[string]string{"": "v"}}}, `assume_role.tags: key "" must have 1 to 128 characters`},
		{AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", Tags: map[string]string{"k": strings.Repeat("v", 257)}}}, `assume_role.tags: the value of "k" must have at most 256 characters, got 257`},
		{AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", Tags: manyTags(51)}}, "assume_role.tags: at most 50 session tags, got 51"},
		{AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", TransitiveTagKeys: make([]string, 51)}}, "assume_role.transitive_tag_keys: at most 50 keys, got 51"},
		{AccessConfig{MFACode: "123456"}, "mfa_code: not supported by asg-rollout"},
		{AccessConfig{VaultAWSEngine: VaultAWSEngineOptions{Name: "deploy"}}, "vault_aws_engine: not supported by asg-rollout"},
	}
	for _, c := range cases {
		errs := c.c.Prepare()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("%+v: errors %v, want one with %q", c.c, errs, c.want)
		}
	}
	ok := AccessConfig{AccessKey: "AKIAEXAMPLE1", SecretKey: "secret-example-1", AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", DurationSeconds: 3600,
		Tags: manyTags(50), TransitiveTagKeys: []string{"tag-0"}}}
	if errs := ok.Prepare(); len(errs) != 0 {
		t.Errorf("valid config: %v", errs)
	}
}

func manyTags(n int) map[string]string {
	tags := map[string]string{}
	for i := range n {
		tags[fmt.Sprintf("tag-%d", i)] = "v"
	}
	return tags
}

func TestPrepareRegistersSecrets(t *testing.T) {
	c := AccessConfig{AccessKey: "AKIACANARYAUTH", SecretKey: "secret-canary-auth", Token: "token-canary-auth",
		AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::1:role/x", ExternalID: "external-canary-auth"}}
	c.Prepare()
	for _, s := range []string{"AKIACANARYAUTH", "secret-canary-auth", "token-canary-auth", "external-canary-auth"} {
		if got := packer.LogSecretFilter.FilterString("value " + s); strings.Contains(got, s) {
			t.Errorf("%s is not filtered: %q", s, got)
		}
	}
}

func TestMaxAttempts(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	if got := (&AccessConfig{}).MaxAttempts(); got != DefaultMaxAttempts {
		t.Errorf("default %d, want %d", got, DefaultMaxAttempts)
	}
	t.Setenv("AWS_MAX_ATTEMPTS", "7")
	if got := (&AccessConfig{}).MaxAttempts(); got != 7 {
		t.Errorf("with AWS_MAX_ATTEMPTS=7: %d", got)
	}
	// max_retries counts retries, as in the amazon plugin's documentation:
	// one first attempt and max_retries more.
	if got := (&AccessConfig{MaxRetries: 40}).MaxAttempts(); got != 41 {
		t.Errorf("max_retries = 40 must give 41 attempts and win over the environment: %d", got)
	}
	if got := (&AccessConfig{MaxRetries: 40}).NewRetryer().MaxAttempts(); got != 41 {
		t.Errorf("retryer attempts %d, want 41", got)
	}
}

// failingServer answers every request with HTTP 500, counting them.
func failingServer(t *testing.T) (url string, requests *atomic.Int32) {
	t.Helper()
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

// TestMaxRetriesReachesTheClients counts the requests a client built from
// Config sends for a call that always fails: max_retries + 1, whatever
// AWS_MAX_ATTEMPTS says, and AWS_MAX_ATTEMPTS without max_retries.
func TestMaxRetriesReachesTheClients(t *testing.T) {
	isolateSharedConfig(t)
	for _, tc := range []struct {
		maxRetries int
		env        string
		want       int32
	}{{2, "", 3}, {2, "9", 3}, {0, "4", 4}} {
		t.Run(fmt.Sprintf("max_retries=%d,AWS_MAX_ATTEMPTS=%q", tc.maxRetries, tc.env), func(t *testing.T) {
			t.Setenv("AWS_MAX_ATTEMPTS", tc.env)
			url, requests := failingServer(t)
			c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret", CustomEndpointAutoScaling: url, CustomEndpointEc2: url, MaxRetries: tc.maxRetries}
			cfg, err := c.Config(context.Background(), "eu-west-1")
			if err != nil {
				t.Fatal(err)
			}
			fast := func(o *autoscaling.Options) { o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond) }
			_, err = c.NewAutoScalingClient(cfg).DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{}, fast)
			if err == nil {
				t.Fatal("a server that always fails returned no error")
			}
			if got := requests.Load(); got != tc.want {
				t.Errorf("Auto Scaling: %d requests, want %d", got, tc.want)
			}
			if got := c.NewEC2Client(cfg).Options().Retryer.MaxAttempts(); got != int(tc.want) {
				t.Errorf("EC2 client attempts %d, want %d", got, tc.want)
			}
		})
	}
}

func isolateSharedConfig(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
}

func TestConfigAndClients(t *testing.T) {
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret", CustomEndpointEc2: "http://127.0.0.1:1", CustomEndpointAutoScaling: "http://127.0.0.1:2", MaxRetries: 9}
	cfg, err := c.Config(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.Retryer().MaxAttempts() != 10 {
		t.Errorf("region %s, attempts %d", cfg.Region, cfg.Retryer().MaxAttempts())
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIASTATIC" {
		t.Errorf("credentials %v, %v", creds.AccessKeyID, err)
	}
	if got := aws.ToString(c.NewEC2Client(cfg).Options().BaseEndpoint); got != "http://127.0.0.1:1" {
		t.Errorf("EC2 endpoint %q", got)
	}
	if got := aws.ToString(c.NewAutoScalingClient(cfg).Options().BaseEndpoint); got != "http://127.0.0.1:2" {
		t.Errorf("Auto Scaling endpoint %q", got)
	}
	assumed := (AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/deploy"}).Apply(cfg)
	if _, ok := assumed.Credentials.(*aws.CredentialsCache); !ok {
		t.Errorf("assumed-role credentials are %T, want a cache that renews them", assumed.Credentials)
	}
}

func TestBackoffKeepsJitterAtTheCap(t *testing.T) {
	b := cappedJitter{max: 30 * time.Second}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d, _ := b.BackoffDelay(10, nil)
		if d < 15*time.Second || d > 30*time.Second {
			t.Fatalf("delay %s at the cap, want 15s to 30s", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays at the cap: retries would move in lock-step", len(seen))
	}
	if d, _ := b.BackoffDelay(1, nil); d < time.Second || d > 2*time.Second {
		t.Errorf("first backoff %s, want 1s to 2s", d)
	}
}

// silentServer accepts requests and never answers them (headersFirst: it
// sends the headers, then stalls the body), counting the attempts.
func silentServer(t *testing.T, headersFirst bool) (url string, attempts *atomic.Int32) {
	t.Helper()
	attempts = new(atomic.Int32)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if headersFirst {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<DescribeInstanceRefreshesResponse>"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL, attempts
}

func TestHTTPClientBoundsEveryAttemptAndTheRetryerRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		headersFirst bool
	}{{"no answer at all", false}, {"a body that stalls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			url, attempts := silentServer(t, tc.headersFirst)
			client := autoscaling.New(autoscaling.Options{
				Region:       "eu-west-1",
				BaseEndpoint: aws.String(url),
				Credentials:  credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""),
				HTTPClient:   newHTTPClient(50*time.Millisecond, 150*time.Millisecond),
				Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
					o.MaxAttempts = 3
					o.Backoff = noBackoff{}
					o.RateLimiter = ratelimit.None
				}),
			})
			// The safety net only: the bounds under test must end the call
			// long before it.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := client.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web")})
			if err == nil {
				t.Fatal("a server that never answers returned no error")
			}
			if ctx.Err() != nil {
				t.Fatalf("only the test's safety net ended the call: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("three bounded attempts took %s", took)
			}
			if n := attempts.Load(); n != 3 {
				t.Errorf("the server saw %d attempts, want 3: a timed-out attempt must be retried", n)
			}
		})
	}
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func TestConfigBoundsEveryAttempt(t *testing.T) {
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret"}
	cfg, err := c.Config(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for name, hc := range map[string]any{
		"config":       cfg.HTTPClient,
		"auto scaling": c.NewAutoScalingClient(cfg).Options().HTTPClient,
		"ec2":          c.NewEC2Client(cfg).Options().HTTPClient,
	} {
		b, ok := hc.(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("%s: HTTP client is %T, want the SDK's buildable client", name, hc)
		}
		if got := b.GetTransport().ResponseHeaderTimeout; got != ResponseHeaderTimeout {
			t.Errorf("%s: response header timeout %s, want %s", name, got, ResponseHeaderTimeout)
		}
		if got := b.GetTimeout(); got != AttemptTimeout {
			t.Errorf("%s: attempt timeout %s, want %s", name, got, AttemptTimeout)
		}
	}
}
