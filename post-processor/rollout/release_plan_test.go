package rollout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// TestDryRunPlansReleaseAndPruning: the plan says what a successful
// roll-out would write and delete, in text and JSON, and nothing is
// written.
func TestDryRunPlansReleaseAndPruning(t *testing.T) {
	f := imageFleet()
	f.params["/app/ami"] = imageParam("ami-g", 7)
	// AWS names lt-1 for ami-a while version 1 exists; the plan counts
	// that version as deleted, so ami-a would go.
	f.imageRefs = append(f.imageRefs, ec2types.ImageReference{
		ImageId: aws.String("ami-a"), ResourceType: ec2types.ImageReferenceResourceTypeEc2LaunchTemplate,
		Arn: aws.String("arn:aws:ec2:us-east-1:123456789012:launch-template/lt-1"),
	})
	planFile := filepath.Join(t.TempDir(), "plan.json")
	p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(map[string]interface{}{
		"dry_run":        true,
		"plan_file":      planFile,
		"prune_versions": map[string]interface{}{"keep": 1},
		"prune_images":   map[string]interface{}{"keep": 2},
	}))
	ui := &packersdk.MockUi{}
	if _, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if c := changingCalls(f.calls); len(c) != 0 {
		t.Errorf("a dry run made changing calls: %v", c)
	}
	if got := f.param("/app/ami"); got != "ami-g@7" {
		t.Errorf("parameter = %s, want it untouched", got)
	}
	for _, want := range []string{
		"Dry run: Release parameter /app/ami (us-east-1): a successful roll-out would write ami-g -> ami-new (now version 7)",
		// Version 4 would be new and among the newest 1, 3 the way back, 2 the default.
		"Dry run: Launch template lt-1 (us-east-1): would delete 1 version(s): 1",
		"Dry run: AMIs of lt-1 (us-east-1): would deregister ami-a, ami-w, ami-y, ami-z (and delete snapshots snap-a, snap-w, snap-y, snap-z)",
	} {
		if !said(ui, want) {
			t.Errorf("the plan lacks %q: %v", want, messages(ui))
		}
	}
	js, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Releases []Release `json:"release_parameters"`
		Versions []struct {
			Deleted []int64            `json:"deleted"`
			Kept    map[string][]int64 `json:"kept"`
		} `json:"prune_versions"`
		Images []struct {
			Deregistered []string `json:"deregistered"`
			Snapshots    []string `json:"deleted_snapshots"`
		} `json:"prune_images"`
	}
	if err := json.Unmarshal(js, &plan); err != nil {
		t.Fatalf("plan file: %v\n%s", err, js)
	}
	if len(plan.Releases) != 1 || !plan.Releases[0].Written || plan.Releases[0].PreviousValue != "ami-g" {
		t.Errorf("plan release_parameters %+v", plan.Releases)
	}
	if len(plan.Versions) != 1 || !reflect.DeepEqual(plan.Versions[0].Deleted, []int64{1}) || !reflect.DeepEqual(plan.Versions[0].Kept[keptPrevious], []int64{3}) {
		t.Errorf("plan prune_versions %+v", plan.Versions)
	}
	if len(plan.Images) != 1 || len(plan.Images[0].Deregistered) != 4 || !strings.Contains(strings.Join(plan.Images[0].Snapshots, ","), "snap-a") {
		t.Errorf("plan prune_images %+v", plan.Images)
	}
}
