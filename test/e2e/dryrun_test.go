package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// dryRunVariable is a second file of the template: dry_run comes from a
// variable, as the docs show, so that one template serves both runs.
const dryRunVariable = `
variable "dry_run" {
  type    = bool
  default = true
}
`

// TestDryRunThenRoll bakes and dry-runs a roll-out of a group of four, then
// rolls it for real, and checks that the dry run changed nothing and that
// the plan's batches and duration are what the local AWS then did: with the
// defaults (one at a time, launched first), and with a wider range and a
// checkpoint (two at a time, a pause between).
func TestDryRunThenRoll(t *testing.T) {
	for _, tc := range []struct{ name, refresh string }{
		{"defaults", ""},
		{"checkpoint", `      min_healthy_percentage = 50
      max_healthy_percentage = 150
      checkpoint_percentages = [50, 100]
      checkpoint_delay       = "2m"`},
	} {
		t.Run(tc.name, func(t *testing.T) { dryRunThenRoll(newEnv(t), tc.refresh) })
	}
}

// dryRunThenRoll is TestDryRunThenRoll with the instance_refresh block body
// refresh.
func dryRunThenRoll(e *env, refresh string) {
	t := e.t
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	before := e.snapshot("us-east-1", "web")
	planFile := filepath.Join(e.dir, "plan.json")
	extra := "    dry_run   = var.dry_run\n    plan_file = var.dry_run ? \"" + planFile + "\" : \"\""
	e.write(build{Targets: []target{{Group: "web"}}, Extra: extra, Refresh: refresh})
	if err := os.WriteFile(filepath.Join(e.dir, "vars.pkr.hcl"), []byte(dryRunVariable), 0o644); err != nil {
		t.Fatal(err)
	}

	e.emu.ResetCalls() // the seeding's calls
	res := e.packerBuild(e.dir)
	if res.ExitCode != 0 {
		t.Fatalf("dry run: packer build exited %d", res.ExitCode)
	}
	if !strings.Contains(res.Output, "Dry run: nothing was changed") {
		t.Errorf("the output does not say it was a dry run")
	}

	// The post-processor's calls start with its first Auto Scaling call;
	// the builder's come before. Only reads and DryRun calls may follow.
	var from time.Time
	calls := e.emu.Calls()
	for _, c := range calls {
		if c.Service == "autoscaling" {
			from = c.Time
			break
		}
	}
	if from.IsZero() {
		t.Fatal("the post-processor made no Auto Scaling call")
	}
	var seen []string
	for _, c := range calls {
		if c.Time.Before(from) {
			continue
		}
		seen = append(seen, c.Action)
		read := strings.HasPrefix(c.Action, "Describe") || strings.HasPrefix(c.Action, "Get") || strings.HasPrefix(c.Action, "List")
		if !read && c.Params["DryRun"] != "true" {
			t.Errorf("dry run called %s %s (%v)", c.Service, c.Action, c.Params)
		}
	}
	t.Logf("the dry run's calls: %v", seen)
	after := e.snapshot("us-east-1", "web")
	if after.Version != before.Version {
		t.Errorf("group moved from version %q to %q", before.Version, after.Version)
	}
	versions, err := e.clients("us-east-1").Versions(context.Background(), seeded.LaunchTemplateID)
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 {
		t.Errorf("template has %d versions after the dry run, want 1", len(versions))
	}
	for _, i := range after.Instances {
		if i.ImageID != seeded.ImageID {
			t.Errorf("instance %s runs %s after the dry run, want %s", i.ID, i.ImageID, seeded.ImageID)
		}
	}

	js, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		DryRun bool `json:"dry_run"`
		Groups []struct {
			AutoScalingGroup string `json:"auto_scaling_group"`
			Refresh          struct {
				Batches          []struct{ Size int } `json:"batches"`
				EstimatedSeconds int64                `json:"estimated_seconds"`
			} `json:"refresh"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(js, &plan); err != nil {
		t.Fatalf("plan file: %v\n%s", err, js)
	}
	if !plan.DryRun || len(plan.Groups) != 1 || plan.Groups[0].AutoScalingGroup != "web" {
		t.Fatalf("plan %s", js)
	}
	planned := plan.Groups[0].Refresh

	// The real run of the same group, from the same template but for the
	// AMI's name (the first AMI has it).
	e.write(build{Targets: []target{{Group: "web"}}, Extra: extra, Refresh: refresh, AMIName: e.amiName() + "-2"})
	res = e.packerBuild(e.dir, "PKR_VAR_dry_run=false")
	if res.ExitCode != 0 {
		t.Fatalf("roll-out: packer build exited %d", res.ExitCode)
	}
	ctx := context.Background()
	as := e.clients("us-east-1").AutoScaling
	acts, err := as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	// Launches of one batch start together; the next batch a warm-up
	// later. The emulator stamps activities with its own clock.
	var launches []time.Time
	for _, a := range acts.Activities {
		if strings.HasPrefix(aws.ToString(a.Description), "Launching") && strings.Contains(aws.ToString(a.Cause), "instance refresh") {
			launches = append(launches, aws.ToTime(a.StartTime))
		}
	}
	sort.Slice(launches, func(i, j int) bool { return launches[i].Before(launches[j]) })
	var batches []int
	for i, at := range launches {
		// Half the group's warm-up (60s) apart: a new batch. Launches of
		// one batch follow each other within a few emulated seconds.
		if i == 0 || at.Sub(launches[i-1]) > 30*time.Second {
			batches = append(batches, 0)
		}
		batches[len(batches)-1]++
	}
	var want []int
	for _, b := range planned.Batches {
		want = append(want, b.Size)
	}
	if !equalInts(batches, want) {
		t.Errorf("the local AWS replaced in batches %v, the plan said %v", batches, want)
	}

	refreshes, err := as.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil || len(refreshes.InstanceRefreshes) == 0 {
		t.Fatalf("no refresh: %v", err)
	}
	r := refreshes.InstanceRefreshes[0]
	took := aws.ToTime(r.EndTime).Sub(aws.ToTime(r.StartTime))
	estimate := time.Duration(planned.EstimatedSeconds) * time.Second
	// One poll interval (poll_max_delay, 500ms real) per batch, in the
	// emulator's time.
	slack := time.Duration(len(want)) * 500 * time.Millisecond * speed
	t.Logf("refresh took %s (emulated), the plan estimated %s, slack %s", took, estimate, slack)
	if took < estimate || took > estimate+slack {
		t.Errorf("refresh took %s, the plan estimated %s (allowed up to %s more)", took, estimate, slack)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDryRunDocsExample: the dry run example in the post-processor's docs
// passes packer validate.
func TestDryRunDocsExample(t *testing.T) {
	e := newEnv(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "post-processors", "rollout.mdx"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Dry run\n")
	if !ok {
		t.Fatal("the docs have no Dry run section")
	}
	_, block, ok := strings.Cut(section, "```hcl\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("the Dry run section has no hcl example")
	}
	file := filepath.Join(e.dir, "dryrun.pkr.hcl")
	if err := os.WriteFile(file, []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := e.packerValidate(file); code != 0 {
		t.Errorf("packer validate exited %d on the docs' dry run example:\n%s", code, out)
	}
}
