package rollout

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// copiedFromAmazonEBS is a post-processor block whose access options were
// copied from an amazon-ebs source block: every access option of the amazon
// plugin v1.8.2 but the two refused ones (mfa_code, vault_aws_engine).
const copiedFromAmazonEBS = `
access_key                    = "AKIAEXAMPLECOPIED"
secret_key                    = "copied-secret-key"
region                        = "us-east-1"
profile                       = "deploy"
shared_credentials_file       = "/tmp/credentials"
custom_endpoint_ec2           = "http://127.0.0.1:4566"
insecure_skip_tls_verify      = false
decode_authorization_messages = true
max_retries                   = 12
skip_metadata_api_check       = true
skip_credential_validation    = true
skip_region_validation        = true

assume_role {
  role_arn            = "arn:aws:iam::111122223333:role/packer"
  duration_seconds    = 3600
  external_id         = "copied-external-id"
  policy_arns         = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  session_name        = "packer-build"
  tags                = { team = "web" }
  transitive_tag_keys = ["team"]
}

aws_polling {
  delay_seconds = 30
  max_attempts  = 50
}

target {
  auto_scaling_group = "web"
  assume_role {
    role_arn = "arn:aws:iam::333344445555:role/rollout"
    tags     = { pipeline = "app" }
  }
}
`

// configureHCL decodes body through the post-processor's HCL2 spec, as
// Packer does, and configures a post-processor with it.
func configureHCL(t *testing.T, body string) (*PostProcessor, error) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(body), "rollout.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parsing: %s", diags)
	}
	p := &PostProcessor{}
	val, diags := hcldec.Decode(f.Body, p.ConfigSpec(), nil)
	if diags.HasErrors() {
		t.Fatalf("the post-processor's HCL2 spec refuses the block: %s", diags)
	}
	return p, p.Configure(val)
}

func TestAccessBlockCopiedFromAmazonEBS(t *testing.T) {
	p, err := configureHCL(t, copiedFromAmazonEBS)
	if err != nil {
		t.Fatalf("a block copied from amazon-ebs is refused: %v", err)
	}
	c := p.config.AccessConfig
	if c.MaxAttempts() != 13 || !c.DecodeAuthZMessages || !c.SkipMetadataApiCheck || c.AssumeRole.Tags["team"] != "web" || c.AssumeRole.TransitiveTagKeys[0] != "team" {
		t.Errorf("access options not decoded as given: %+v", c)
	}
	if len(c.Notes()) != 3 {
		t.Errorf("notes %q, want one for each of skip_credential_validation, skip_region_validation, aws_polling", c.Notes())
	}
	if got := p.config.Targets[0].AssumeRole.Tags["pipeline"]; got != "app" {
		t.Errorf("target assume_role tags %v", p.config.Targets[0].AssumeRole.Tags)
	}

	for _, refused := range []string{`mfa_code = "123456"`, "vault_aws_engine {\n  name = \"deploy\"\n}"} {
		_, err := configureHCL(t, refused+"\ntarget {\n  auto_scaling_group = \"web\"\n}\n")
		option, _, _ := strings.Cut(refused, " ")
		if err == nil || !strings.Contains(err.Error(), option+": not supported") {
			t.Errorf("%s: error %v, want one that names it", option, err)
		}
	}
}

// TestTargetRoleSendsSessionTags builds a target's clients as a roll-out
// does and checks that assuming its role sends the role's session tags,
// signed with the credentials of the post-processor's own role.
func TestTargetRoleSendsSessionTags(t *testing.T) {
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	var mu sync.Mutex
	var forms []url.Values
	var signers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm)
		signers = append(signers, r.Header.Get("Authorization"))
		n := len(forms)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE%d</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`, n)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)

	p, err := configureHCL(t, `
access_key = "AKIASTATIC"
secret_key = "static-secret"
assume_role {
  role_arn            = "arn:aws:iam::111122223333:role/packer"
  tags                = { team = "web" }
  transitive_tag_keys = ["team"]
}
target {
  auto_scaling_group = "web"
  assume_role {
    role_arn = "arn:aws:iam::333344445555:role/rollout"
    tags     = { pipeline = "app" }
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.awsClients(context.Background(), "us-east-1", p.config.Targets[0].AssumeRole)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.autoscaling.(*autoscaling.Client).Options().Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAROLE2" || len(forms) != 2 {
		t.Fatalf("credentials %s after %d AssumeRole calls, want the second role's", creds.AccessKeyID, len(forms))
	}
	own, target := forms[0], forms[1]
	if own.Get("RoleArn") != "arn:aws:iam::111122223333:role/packer" || own.Get("Tags.member.1.Key") != "team" || own.Get("TransitiveTagKeys.member.1") != "team" {
		t.Errorf("the post-processor's own role was assumed with %v", own)
	}
	if target.Get("RoleArn") != "arn:aws:iam::333344445555:role/rollout" || target.Get("Tags.member.1.Key") != "pipeline" || target.Get("Tags.member.1.Value") != "app" {
		t.Errorf("the target's role was assumed with %v", target)
	}
	if !strings.Contains(signers[0], "Credential=AKIASTATIC/") || !strings.Contains(signers[1], "Credential=ASIAROLE1/") {
		t.Errorf("signers %q: the target's role must be assumed with the post-processor's role", signers)
	}
}

func TestIgnoredAccessOptionsAreSaidInTheBuildOutput(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
		"skip_region_validation": true,
		"aws_polling":            map[string]interface{}{"delay_seconds": 30, "max_attempts": 60},
	})
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatal(err)
	}
	for _, option := range []string{"skip_region_validation", "aws_polling"} {
		found := false
		for _, m := range messages(ui) {
			if strings.HasPrefix(m, option+" is ignored") {
				found = true
			}
		}
		if !found {
			t.Errorf("no note that %s is ignored in the output: %v", option, messages(ui))
		}
	}
}
