package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// preflightBuild is a template whose data source checks Group before the
// bake. The AMI is tagged with the AMI the group ran, read from the data
// source's output, so a test sees that output reach HCL.
type preflightBuild struct {
	Endpoint, SourceAMI, AMIName, Group string
	Policy                              string // on_refresh_in_progress, both blocks
}

var preflightTemplate = template.Must(template.New("preflight").Parse(`
data "asg-rollout-preflight" "web" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  custom_endpoint_ec2         = "{{.Endpoint}}"
  custom_endpoint_autoscaling = "{{.Endpoint}}"
  on_refresh_in_progress      = "{{.Policy}}"
  target {
    auto_scaling_group = "{{.Group}}"
  }
}

source "amazon-ebs" "app" {
  region                     = "us-east-1"
  source_ami                 = "{{.SourceAMI}}"
` + localBuilder + `  tags = {
    replaces = data.asg-rollout-preflight.web.groups[0].image_id
  }
}

build {
  sources = ["source.amazon-ebs.app"]

  post-processor "asg-rollout" {
    region                      = "us-east-1"
    access_key                  = "test"
    secret_key                  = "test"
    custom_endpoint_ec2         = "{{.Endpoint}}"
    custom_endpoint_autoscaling = "{{.Endpoint}}"
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
    on_refresh_in_progress      = "{{.Policy}}"
    target {
      auto_scaling_group = "{{.Group}}"
    }
  }
}
`))

func (e *env) writePreflight(b preflightBuild) string {
	e.t.Helper()
	b.Endpoint, b.AMIName = e.emu.URL(), e.amiName()
	if b.Policy == "" {
		b.Policy = "fail"
	}
	ami, err := e.clients("us-east-1").StockImage(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	b.SourceAMI = ami
	var buf bytes.Buffer
	if err := preflightTemplate.Execute(&buf, b); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, "preflight.pkr.hcl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// wantNothingBaked checks that the builder never started: no instance
// launched outside the seeded group (no RunInstances without DryRun in
// the call log) and no AMI of the build's name.
func (e *env) wantNothingBaked() {
	e.t.Helper()
	for _, c := range e.emu.Calls() {
		if c.Action == "RunInstances" && !strings.EqualFold(c.Params["DryRun"], "true") {
			e.t.Errorf("an instance was launched for the bake: RunInstances %v", c.Params)
		}
		if c.Action == "CreateImage" || c.Action == "CreateLaunchTemplateVersion" && !strings.EqualFold(c.Params["DryRun"], "true") {
			e.t.Errorf("%s was called after a failed pre-flight", c.Action)
		}
	}
	if id, err := e.clients("us-east-1").ImageByName(context.Background(), e.amiName()); err == nil {
		e.t.Errorf("AMI %s exists after a failed pre-flight", id)
	}
}

// TestPreflightStopsTheBuild: a missing group, and a group with someone
// else's refresh running under on_refresh_in_progress = "fail", stop
// packer build before the builder launches anything, with an error that
// names the group and the fix.
func TestPreflightStopsTheBuild(t *testing.T) {
	t.Run("missing group", func(t *testing.T) {
		e := newEnv(t)
		e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1})
		res := e.packerBuild(e.writePreflight(preflightBuild{Group: "wbe"}))
		if res.ExitCode == 0 {
			t.Fatal("packer build succeeded with a missing group")
		}
		out := strings.Join(strings.Fields(res.Output), " ")
		for _, want := range []string{"pre-flight: Auto Scaling group (wbe) not found in us-east-1", "check target.auto_scaling_group and the region"} {
			if !strings.Contains(out, want) {
				t.Errorf("output misses %q", want)
			}
		}
		e.wantNothingBaked()
	})
	t.Run("refresh running", func(t *testing.T) {
		e := newEnv(t)
		seeded := e.seed("us-east-1", fleet.Spec{Group: "worker", Desired: 2})
		id := e.startForeignRefresh("us-east-1", "worker")
		res := e.packerBuild(e.writePreflight(preflightBuild{Group: "worker"}))
		if res.ExitCode == 0 {
			t.Fatal("packer build succeeded over someone else's refresh")
		}
		out := strings.Join(strings.Fields(res.Output), " ")
		for _, want := range []string{"Auto Scaling group (worker) already has instance refresh (" + id + ")", `set on_refresh_in_progress = "wait" or "cancel"`} {
			if !strings.Contains(out, want) {
				t.Errorf("output misses %q", want)
			}
		}
		e.wantNothingBaked()
		if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 1 {
			t.Errorf("template has %d versions, want 1: the DryRun must not create one", n)
		}
	})
}

// TestPreflightThenRollOut: the pre-flight passes, its output reaches the
// builder's HCL, and the roll-out that follows puts every instance on the
// new AMI. The pre-flight's DryRun of CreateLaunchTemplateVersion creates
// no version: the group ends on version 2, the one the roll-out made.
func TestPreflightThenRollOut(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 3})
	res := e.packerBuild(e.writePreflight(preflightBuild{Group: "web"}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	after := e.snapshot("us-east-1", "web")
	if imgs := after.Images(); len(imgs) != 1 || imgs[ami] != 3 {
		t.Errorf("instances by AMI %v, want all 3 on %s", imgs, ami)
	}
	if after.Version != "2" {
		t.Errorf("group on version %q, want 2", after.Version)
	}
	if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 2 {
		t.Errorf("template has %d versions, want 2: one from the roll-out, none from the DryRuns", n)
	}
	out, err := e.clients("us-east-1").EC2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("describing %s: %v", ami, err)
	}
	if got := tagValue(out.Images[0].Tags, "replaces"); got != seeded.ImageID {
		t.Errorf("AMI tag replaces = %q, want the group's AMI before the bake %s (from the data source's output)", got, seeded.ImageID)
	}
	// Both the data source and the post-processor dry-ran their writes
	// first: two DryRuns of each.
	dry := map[string]int{}
	for _, c := range e.emu.Calls() {
		if strings.EqualFold(c.Params["DryRun"], "true") {
			dry[c.Action]++
		}
	}
	if dry["CreateLaunchTemplateVersion"] != 2 || dry["RunInstances"] != 2 {
		t.Errorf("DryRun calls %v, want 2 CreateLaunchTemplateVersion and 2 RunInstances", dry)
	}
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// TestPreflightInValidate: packer validate -evaluate-datasources runs the
// pre-flight, and fails on a missing group; plain validate does not call
// AWS.
func TestPreflightInValidate(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1})
	file := e.writePreflight(preflightBuild{Group: "wbe"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := e.pk.Run(ctx, e.dir, e.endpointEnv(), "validate", "-evaluate-datasources", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packer validate -evaluate-datasources exited %d:\n%s", res.ExitCode, res.Output)
	out := strings.Join(strings.Fields(res.Output), " ")
	if res.ExitCode == 0 || !strings.Contains(out, "Auto Scaling group (wbe) not found in us-east-1") {
		t.Errorf("validate -evaluate-datasources exited %d without naming the missing group", res.ExitCode)
	}
	before := len(e.emu.Calls())
	if code, _ := e.packerValidate(file); code != 0 {
		t.Errorf("plain validate exited %d; it runs no data source", code)
	}
	if after := len(e.emu.Calls()); after != before {
		t.Errorf("plain validate made %d calls", after-before)
	}
}

// TestPreflightExample: the example of the data source's page,
// example/preflight.pkr.hcl, passes packer validate, and the page shows it
// as it is.
func TestPreflightExample(t *testing.T) {
	e := newEnv(t)
	src, err := os.ReadFile("../../example/preflight.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(e.dir, "preflight.pkr.hcl")
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := e.packerValidate(file); code != 0 {
		t.Errorf("packer validate of example/preflight.pkr.hcl exited %d", code)
	}
	page, err := os.ReadFile("../../docs/datasources/preflight.mdx")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, src) {
		t.Error("docs/datasources/preflight.mdx does not show example/preflight.pkr.hcl as it is")
	}
}
