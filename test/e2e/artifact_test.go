package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// manifestTemplate bakes, rolls group, then records the build with Packer's
// own manifest post-processor in the same chain, as a user who wants the
// result downstream would. custom_data shows the two ways to reach the
// artifact's generated data there: build.* for the builder's keys (passed
// on by the roll-out), and manifest's template engine for AsgRollouts,
// escaped once because manifest renders custom_data when it is configured
// too, before any artifact exists.
var manifestTemplate = template.Must(template.New("manifest").Parse(`
source "amazon-ebs" "app" {
  region                     = "us-east-1"
  source_ami                 = "{{.SourceAMI}}"
` + localBuilder + `}

build {
  sources = ["source.amazon-ebs.app"]

  post-processors {
    post-processor "asg-rollout" {
      access_key                  = "test"
      secret_key                  = "test"
      custom_endpoint_ec2         = "{{.Endpoint}}"
      custom_endpoint_autoscaling = "{{.Endpoint}}"
      poll_min_delay              = "100ms"
      poll_max_delay              = "500ms"
      target {
        auto_scaling_group = "{{.Group}}"
      }
    }
    post-processor "manifest" {
      output     = "manifest.json"
      strip_time = true
      custom_data = {
        rollouts   = "{{.RolloutsRef}}"
        source_ami = "${build.SourceAMI}"
      }
    }
  }
}
`))

// manifestFile is what the manifest post-processor writes.
type manifestFile struct {
	Builds []struct {
		Name        string            `json:"name"`
		BuilderType string            `json:"builder_type"`
		ArtifactID  string            `json:"artifact_id"`
		CustomData  map[string]string `json:"custom_data"`
	} `json:"builds"`
}

// TestManifestAfterRollout: a manifest placed after the roll-out records
// the builder's AMI where users look for it (split artifact_id on "," and
// ":"), the builder's generated data through build.*, and each group's
// roll-out (template, new and previous version, refresh, status, outcome)
// through custom_data.
func TestManifestAfterRollout(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	stock, err := e.clients("us-east-1").StockImage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := manifestTemplate.Execute(&buf, map[string]string{
		"Endpoint": e.emu.URL(), "SourceAMI": stock, "AMIName": e.amiName(), "Group": "web",
		// What a user writes: manifest renders it once when configured,
		// leaving {{ .AsgRollouts }} for when it has the artifact.
		"RolloutsRef": "{{`{{ .AsgRollouts }}`}}",
	}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(e.dir, "app.pkr.hcl")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res := e.packerBuild(file)
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())

	raw, err := os.ReadFile(filepath.Join(e.dir, "manifest.json"))
	if err != nil {
		t.Fatalf("the manifest post-processor wrote no manifest: %v", err)
	}
	t.Logf("manifest.json:\n%s", raw)
	var m manifestFile
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Builds) != 1 {
		t.Fatalf("%d builds in the manifest, want 1", len(m.Builds))
	}
	b := m.Builds[0]
	// The lookup users write: the AMI of the first (here the only) region.
	region, found, _ := strings.Cut(strings.Split(b.ArtifactID, ",")[0], ":")
	if region != "us-east-1" || found != ami {
		t.Errorf("artifact_id %q gives AMI %q in %q, want %s in us-east-1", b.ArtifactID, found, region, ami)
	}
	if b.BuilderType != "amazon-ebs" {
		t.Errorf("builder_type %q, want the build's amazon-ebs", b.BuilderType)
	}
	if b.CustomData["source_ami"] != stock {
		t.Errorf("custom_data.source_ami (build.SourceAMI after the roll-out) = %q, want the builder's %s", b.CustomData["source_ami"], stock)
	}
	var rollouts []map[string]string
	if err := json.Unmarshal([]byte(b.CustomData["rollouts"]), &rollouts); err != nil {
		t.Fatalf("custom_data.rollouts %q is not the roll-outs as JSON: %v", b.CustomData["rollouts"], err)
	}
	if len(rollouts) != 1 {
		t.Fatalf("%d roll-outs recorded, want 1", len(rollouts))
	}
	r := rollouts[0]
	for k, want := range map[string]string{
		"region": "us-east-1", "auto_scaling_group": "web", "image_id": ami, "launch_template_id": seeded.LaunchTemplateID,
		"version": "2", "source_version": "1", "status": "Successful", "outcome": "succeeded",
	} {
		if r[k] != want {
			t.Errorf("roll-out %s = %q, want %q", k, r[k], want)
		}
	}
	if !strings.Contains(res.Output, "started instance refresh "+r["instance_refresh_id"]) || r["instance_refresh_id"] == "" {
		t.Errorf("roll-out instance_refresh_id %q is not the refresh the build started", r["instance_refresh_id"])
	}
	if !strings.Contains(res.Output, "Rolled 1 Auto Scaling group(s) onto us-east-1:"+ami+": 1 succeeded") {
		t.Error("the build's summary of the roll-out's artifact misses its headline")
	}
}

// TestGroupMaintenancePolicyIsUsed: a group with an instance maintenance
// policy of its own (min 50 %, max 100 %), and a build that sets neither
// percentage, is refreshed with the policy: the start leaves both out, the
// start line says so, and the refresh replaces two of the four instances
// at a time, terminating them first, as the policy allows and the plugin's
// own defaults (100 % / 110 %) never would.
func TestGroupMaintenancePolicyIsUsed(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	c := e.clients("us-east-1")
	if _, err := c.AutoScaling.UpdateAutoScalingGroup(context.Background(), &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName:      aws.String("web"),
		InstanceMaintenancePolicy: &astypes.InstanceMaintenancePolicy{MinHealthyPercentage: aws.Int32(50), MaxHealthyPercentage: aws.Int32(100)},
	}); err != nil {
		t.Fatalf("setting the group's instance maintenance policy: %v", err)
	}

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	if imgs := e.snapshot("us-east-1", "web").Images(); len(imgs) != 1 || imgs[ami] != 4 {
		t.Errorf("in-service instances by AMI %v, want all 4 on %s", imgs, ami)
	}
	if !strings.Contains(res.Output, "(min healthy 50% / max 100% from the group's instance maintenance policy, warm-up") {
		t.Error("the start line does not say the group's policy applies")
	}
	var starts int
	for _, call := range e.emu.Calls() {
		if call.Action != "StartInstanceRefresh" {
			continue
		}
		starts++
		for k := range call.Params {
			if strings.Contains(k, "HealthyPercentage") {
				t.Errorf("the start sent %s = %s over the group's policy", k, call.Params[k])
			}
		}
	}
	if starts != 1 {
		t.Errorf("%d refresh starts, want 1", starts)
	}

	out, err := c.AutoScaling.DescribeInstanceRefreshes(context.Background(), &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil || len(out.InstanceRefreshes) != 1 {
		t.Fatalf("DescribeInstanceRefreshes: %v (%d refreshes)", err, len(out.InstanceRefreshes))
	}
	if p := out.InstanceRefreshes[0].Preferences; aws.ToInt32(p.MinHealthyPercentage) != 50 || aws.ToInt32(p.MaxHealthyPercentage) != 100 {
		t.Errorf("the refresh ran with healthy %d%%-%d%%, want the policy's 50%%-100%%", aws.ToInt32(p.MinHealthyPercentage), aws.ToInt32(p.MaxHealthyPercentage))
	}
	acts, err := c.AutoScaling.DescribeScalingActivities(context.Background(), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	var first int
	for _, a := range acts.Activities {
		if strings.Contains(aws.ToString(a.Cause), "terminated before its replacement launched") {
			first++
		}
	}
	if first != 4 {
		t.Errorf("%d instances terminated before their replacements launched, want all 4 (two batches of two, as min 50%% allows)", first)
	}
}
