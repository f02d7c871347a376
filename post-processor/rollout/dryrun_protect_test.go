package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// A failed roll-out protects an AMI that a group already launches (see
// protect.go), but a dry run that fails does not: it changes nothing, not
// even the AMI's protection. The same failure without dry_run shows the
// case is one that protects.
func TestFailedDryRunProtectsNothing(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		f := newFakeAWS()
		lcGroup(f) // web runs a launch configuration already on the new AMI: up to date
		lc := f.lcs["web-lc"]
		lc.ImageId = aws.String("ami-new")
		f.lcs["web-lc"] = lc
		g := f.groups["web"]
		g.Instances = lcInstances("web-lc", "web-lc")
		f.groups["web"] = g
		p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, map[string]interface{}{
			"dry_run": dryRun, "copy_launch_configuration": true,
			"target": []map[string]interface{}{{"auto_scaling_group": "web"}, {"auto_scaling_group": "missing"}},
		})
		ui := &packersdk.MockUi{}
		art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("dry_run=%v: err = %v, want the missing group named", dryRun, err)
		}
		protected := f.count("EnableImageDeregistrationProtection")
		if dryRun && protected != 0 {
			t.Errorf("a failed dry run protected the AMI (%d calls)", protected)
		}
		if !dryRun && protected == 0 {
			t.Fatalf("without dry_run the AMI web launches was not protected: the case does not test protection")
		}
		if dryRun {
			a := art.(*Artifact)
			for _, r := range a.Results {
				if r.Status != "Planned" {
					t.Errorf("%s: status %q in a dry run, want Planned", r.AutoScalingGroup, r.Status)
				}
			}
			if !strings.HasPrefix(a.String(), "Dry run: planned 2 Auto Scaling group(s) onto us-east-1:ami-new, changed nothing") {
				t.Errorf("summary %q does not say it was a dry run", a.String())
			}
		}
	}
}
