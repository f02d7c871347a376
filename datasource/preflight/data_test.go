package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/asg-rollout/packer-plugin-asg/post-processor/rollout"
)

func configure(t *testing.T, raw map[string]interface{}) *Datasource {
	t.Helper()
	d := &Datasource{}
	if err := d.Configure(raw); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return d
}

func TestExecuteGivesEachGroupToHCL(t *testing.T) {
	d := configure(t, map[string]interface{}{
		"region":                 "us-east-1",
		"target":                 []map[string]interface{}{{"auto_scaling_group": "web"}},
		"on_refresh_in_progress": "wait",
		"instance_refresh":       map[string]interface{}{"min_healthy_percentage": 50},
	})
	var seen *rollout.Config
	d.preflight = func(_ context.Context, cfg *rollout.Config) ([]rollout.Checked, error) {
		seen = cfg
		return []rollout.Checked{{Region: "us-east-1", Group: "web", LaunchTemplateID: "lt-1", CurrentVersion: 3, ImageID: "ami-old", InstanceCount: 2, DesiredCapacity: 2, Warnings: []string{"w"}}}, nil
	}
	v, err := d.Execute()
	if err != nil {
		t.Fatal(err)
	}
	// The checks run with the options as the post-processor reads them.
	if seen.OnRefreshInProgress != "wait" || len(seen.Targets) != 1 || seen.Targets[0].AutoScalingGroup != "web" || seen.RawRegion != "us-east-1" {
		t.Errorf("checks ran with %+v", seen)
	}
	g := v.GetAttr("groups").Index(cty.NumberIntVal(0))
	for attr, want := range map[string]cty.Value{
		"group": cty.StringVal("web"), "region": cty.StringVal("us-east-1"), "launch_template_id": cty.StringVal("lt-1"),
		"current_version": cty.NumberIntVal(3), "image_id": cty.StringVal("ami-old"), "instance_count": cty.NumberIntVal(2),
	} {
		if got := g.GetAttr(attr); !got.RawEquals(want) {
			t.Errorf("groups[0].%s = %#v, want %#v", attr, got, want)
		}
	}
	if w := g.GetAttr("warnings"); w.LengthInt() != 1 || w.Index(cty.NumberIntVal(0)).AsString() != "w" {
		t.Errorf("warnings = %#v", w)
	}
	// What Execute returns must fit OutputSpec, or Packer refuses it.
	if err := conforms(v, d); err != nil {
		t.Error(err)
	}
}

func conforms(v cty.Value, d *Datasource) error {
	if errs := v.Type().TestConformance(hcldec.ImpliedType(d.OutputSpec())); len(errs) > 0 {
		return fmt.Errorf("output %s does not conform to OutputSpec: %v", v.Type().GoString(), errs)
	}
	return nil
}

func TestExecuteFailsWithTheCheckError(t *testing.T) {
	d := configure(t, map[string]interface{}{"region": "us-east-1", "target": []map[string]interface{}{{"auto_scaling_group": "nope"}}})
	d.preflight = func(context.Context, *rollout.Config) ([]rollout.Checked, error) {
		return nil, errors.New("pre-flight: Auto Scaling group (nope) not found in us-east-1")
	}
	if _, err := d.Execute(); err == nil || !strings.Contains(err.Error(), "Auto Scaling group (nope) not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigureValidatesAsThePostProcessor(t *testing.T) {
	d := &Datasource{}
	err := d.Configure(map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "arn:aws:autoscaling:x"}}, "on_refresh_in_progress": "later"})
	if err == nil || !strings.Contains(err.Error(), "is an ARN") || !strings.Contains(err.Error(), "on_refresh_in_progress") {
		t.Fatalf("err = %v, want the post-processor's refusals", err)
	}
}
