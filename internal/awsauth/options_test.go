package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// amazonEBSAccessBlock is the access part of an amazon-ebs source block that
// sets every access option of the amazon plugin v1.8.2 (common.AccessConfig,
// its assume_role, vault_aws_engine and aws_polling blocks, and AMIConfig's
// skip_region_validation), except mfa_code and vault_aws_engine, which are
// refused and tested apart.
const amazonEBSAccessBlock = `
access_key                    = "AKIAEXAMPLECOPIED"
secret_key                    = "copied-secret-key"
token                         = "copied-session-token"
profile                       = "deploy"
shared_credentials_file       = "/tmp/credentials"
region                        = "us-east-1"
custom_endpoint_ec2           = "http://127.0.0.1:4566"
insecure_skip_tls_verify      = true
decode_authorization_messages = true
max_retries                   = 12
skip_metadata_api_check       = true
skip_credential_validation    = true
skip_region_validation        = true

assume_role {
  role_arn            = "arn:aws:iam::111122223333:role/packer"
  duration_seconds    = 3600
  external_id         = "copied-external-id"
  policy              = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  policy_arns         = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  session_name        = "packer-build"
  tags                = { team = "web", env = "prod" }
  transitive_tag_keys = ["team"]
}

aws_polling {
  delay_seconds = 30
  max_attempts  = 50
}
`

// decodeHCL decodes body through AccessConfig's generated HCL2 spec and
// Prepares the result, as Packer does with a post-processor block.
func decodeHCL(t *testing.T, body string) (AccessConfig, []error) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(body), "access.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parsing: %s", diags)
	}
	val, diags := hcldec.Decode(f.Body, hcldec.ObjectSpec((*FlatAccessConfig)(nil).HCL2Spec()), nil)
	if diags.HasErrors() {
		t.Fatalf("the HCL2 spec refuses the block: %s", diags)
	}
	var c AccessConfig
	if err := config.Decode(&c, &config.DecodeOpts{}, val); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return c, c.Prepare()
}

// TestEveryAmazonAccessOptionIsAcceptedAppliedOrNoted decodes an access
// block as written for amazon-ebs and checks what became of each option.
func TestEveryAmazonAccessOptionIsAcceptedAppliedOrNoted(t *testing.T) {
	c, errs := decodeHCL(t, amazonEBSAccessBlock)
	if len(errs) != 0 {
		t.Fatalf("a block copied from amazon-ebs is refused: %v", errs)
	}
	ar := c.AssumeRole
	applied := []struct {
		option string
		ok     bool
	}{
		{"access_key", c.AccessKey == "AKIAEXAMPLECOPIED"},
		{"secret_key", c.SecretKey == "copied-secret-key"},
		{"token", c.Token == "copied-session-token"},
		{"profile", c.Profile == "deploy"},
		{"shared_credentials_file", c.CredsFilename == "/tmp/credentials"},
		{"region", c.RawRegion == "us-east-1"},
		{"custom_endpoint_ec2", c.CustomEndpointEc2 == "http://127.0.0.1:4566"},
		{"insecure_skip_tls_verify", c.InsecureSkipTLSVerify},
		{"decode_authorization_messages", c.DecodeAuthZMessages},
		{"max_retries (12 retries, 13 attempts)", c.MaxAttempts() == 13},
		{"skip_metadata_api_check", c.SkipMetadataApiCheck},
		{"assume_role.role_arn", ar.RoleARN == "arn:aws:iam::111122223333:role/packer"},
		{"assume_role.duration_seconds", ar.DurationSeconds == 3600},
		{"assume_role.external_id", ar.ExternalID == "copied-external-id"},
		{"assume_role.policy", strings.Contains(ar.Policy, "2012-10-17")},
		{"assume_role.policy_arns", len(ar.PolicyARNs) == 1 && ar.PolicyARNs[0] == "arn:aws:iam::aws:policy/ReadOnlyAccess"},
		{"assume_role.session_name", ar.SessionName == "packer-build"},
		{"assume_role.tags", len(ar.Tags) == 2 && ar.Tags["team"] == "web" && ar.Tags["env"] == "prod"},
		{"assume_role.transitive_tag_keys", len(ar.TransitiveTagKeys) == 1 && ar.TransitiveTagKeys[0] == "team"},
	}
	for _, a := range applied {
		if !a.ok {
			t.Errorf("%s: not decoded as given", a.option)
		}
	}
	notes := strings.Join(c.Notes(), "\n")
	for _, ignored := range []struct{ option, governedBy string }{
		{"skip_credential_validation", "no separate credentials check"},
		{"skip_region_validation", "does not check regions"},
		{"aws_polling", "poll_min_delay, poll_max_delay and polls_per_second"},
	} {
		if !strings.Contains(notes, ignored.option+" is ignored") || !strings.Contains(notes, ignored.governedBy) {
			t.Errorf("no note saying %s is ignored and why (%q) in:\n%s", ignored.option, ignored.governedBy, notes)
		}
	}
	if len(c.Notes()) != 3 {
		t.Errorf("%d notes, want one per ignored option:\n%s", len(c.Notes()), notes)
	}

	// A block without them has no notes.
	if plain, errs := decodeHCL(t, `region = "us-east-1"`); len(errs) != 0 || len(plain.Notes()) != 0 {
		t.Errorf("plain block: errors %v, notes %q", errs, plain.Notes())
	}
	// Without the ignored options there is nothing to note, and a second
	// Prepare (Packer prepares twice) does not keep old notes.
	c.SkipCredsValidation, c.SkipRegionValidation, c.PollingConfig = false, false, nil
	if errs := c.Prepare(); len(errs) != 0 || len(c.Notes()) != 0 {
		t.Errorf("errors %v, notes %q", errs, c.Notes())
	}
}

func TestRefusedAmazonAccessOptions(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{`mfa_code = "123456"`, "mfa_code: not supported by asg-rollout"},
		{"vault_aws_engine {\n  name = \"deploy\"\n  engine_name = \"aws\"\n  role_arn = \"arn:aws:iam::1:role/x\"\n  ttl = \"3600s\"\n}", "vault_aws_engine: not supported by asg-rollout"},
	} {
		_, errs := decodeHCL(t, tc.block)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) || !strings.Contains(errs[0].Error(), "remove it here") {
			t.Errorf("%s: errors %v, want one with %q that says what to do", tc.block, errs, tc.want)
		}
	}
}

// stsServer answers AssumeRole with fixed credentials and records each
// request's form.
type stsServer struct {
	mu    sync.Mutex
	forms []url.Values
}

func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/packer/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
}

func TestAssumeRoleSendsSessionTags(t *testing.T) {
	isolateSharedConfig(t)
	fake := &stsServer{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret", AssumeRole: AssumeRoleConfig{
		RoleARN: "arn:aws:iam::111122223333:role/packer", Tags: map[string]string{"team": "web", "env": "prod"}, TransitiveTagKeys: []string{"team"},
	}}
	if errs := c.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	cfg, err := c.Config(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "ASIAASSUMED" {
		t.Fatalf("credentials %q, %v", creds.AccessKeyID, err)
	}
	if len(fake.forms) != 1 {
		t.Fatalf("%d STS requests, want 1", len(fake.forms))
	}
	got := fake.forms[0]
	want := map[string]string{
		"Action": "AssumeRole", "RoleArn": "arn:aws:iam::111122223333:role/packer",
		// Sorted by key, so the request is the same on every run.
		"Tags.member.1.Key": "env", "Tags.member.1.Value": "prod",
		"Tags.member.2.Key": "team", "Tags.member.2.Value": "web",
		"TransitiveTagKeys.member.1": "team",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q (request %v)", k, got.Get(k), v, got)
		}
	}
}

func TestSkipMetadataAPICheck(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			isolateSharedConfig(t)
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED"} {
				t.Setenv(k, "")
			}
			var requests atomic.Int32
			imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				http.NotFound(w, r)
			}))
			t.Cleanup(imds.Close)
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
			c := AccessConfig{SkipMetadataApiCheck: skip, MaxRetries: 1}
			cfg, err := c.Config(context.Background(), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.Credentials.Retrieve(context.Background()); err == nil {
				t.Fatal("credentials found where there are none")
			}
			if n := requests.Load(); skip && n != 0 {
				t.Errorf("the metadata service got %d requests with skip_metadata_api_check", n)
			} else if !skip && n == 0 {
				t.Error("the metadata service was never asked: the test does not reach it")
			}
		})
	}
}

func TestInsecureSkipTLSVerify(t *testing.T) {
	isolateSharedConfig(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>`)
	}))
	t.Cleanup(srv.Close)
	for _, insecure := range []bool{false, true} {
		c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret", CustomEndpointAutoScaling: srv.URL, InsecureSkipTLSVerify: insecure}
		cfg, err := c.Config(context.Background(), "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.NewAutoScalingClient(cfg).DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{},
			func(o *autoscaling.Options) { o.RetryMaxAttempts = 1 })
		switch {
		case insecure && err != nil:
			t.Errorf("insecure_skip_tls_verify: %v", err)
		case !insecure && (err == nil || !strings.Contains(err.Error(), "certificate")):
			t.Errorf("a self-signed certificate was accepted by default: %v", err)
		}
	}
}

// authzServer is EC2 refusing every call with an encoded authorization
// failure message, and STS decoding it.
func authzServer(t *testing.T, decodes *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		if r.PostForm.Get("Action") == "DecodeAuthorizationMessage" {
			decodes.Add(1)
			if r.PostForm.Get("EncodedMessage") != "AbC-123_x" {
				http.Error(w, "unexpected message "+r.PostForm.Get("EncodedMessage"), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `<DecodeAuthorizationMessageResponse><DecodeAuthorizationMessageResult><DecodedMessage>{"allowed":false,"explicitDeny":true}</DecodedMessage></DecodeAuthorizationMessageResult></DecodeAuthorizationMessageResponse>`)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation. Encoded authorization failure message: AbC-123_x</Message></Error></Errors><RequestID>r1</RequestID></Response>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDecodeAuthorizationMessages(t *testing.T) {
	isolateSharedConfig(t)
	for _, decode := range []bool{false, true} {
		t.Run(fmt.Sprintf("decode=%v", decode), func(t *testing.T) {
			var decodes atomic.Int32
			url := authzServer(t, &decodes)
			t.Setenv("AWS_ENDPOINT_URL_STS", url)
			c := AccessConfig{AccessKey: "AKIASTATIC", SecretKey: "static-secret", CustomEndpointEc2: url, DecodeAuthZMessages: decode}
			cfg, err := c.Config(context.Background(), "us-east-1")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.NewEC2Client(cfg).DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{"ami-1"}})
			if err == nil {
				t.Fatal("no error from a refused call")
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnauthorizedOperation" {
				t.Errorf("the API error is no longer found in %v", err)
			}
			if decode {
				if !strings.Contains(err.Error(), `decoded authorization failure message: {"allowed":false,"explicitDeny":true}`) || strings.Contains(err.Error(), "AbC-123_x") {
					t.Errorf("message not decoded: %v", err)
				}
				if n := decodes.Load(); n != 1 {
					t.Errorf("%d decode calls, want 1", n)
				}
			} else {
				if !strings.Contains(err.Error(), "Encoded authorization failure message: AbC-123_x") || decodes.Load() != 0 {
					t.Errorf("decoded without decode_authorization_messages (%d calls): %v", decodes.Load(), err)
				}
			}
		})
	}
}

func TestDecodeAuthzErrorKeepsAnUndecodableMessage(t *testing.T) {
	orig := errors.New("api error UnauthorizedOperation: Encoded authorization failure message: xyz")
	got := decodeAuthzError(context.Background(), failingDecoder{}, orig)
	if got != orig {
		t.Errorf("got %v, want the original error", got)
	}
	if got := decodeAuthzError(context.Background(), failingDecoder{}, errors.New("Throttling")); got.Error() != "Throttling" {
		t.Errorf("an error without a message changed: %v", got)
	}
}

type failingDecoder struct{}

func (failingDecoder) DecodeAuthorizationMessage(context.Context, *sts.DecodeAuthorizationMessageInput, ...func(*sts.Options)) (*sts.DecodeAuthorizationMessageOutput, error) {
	return nil, errors.New("AccessDenied")
}
