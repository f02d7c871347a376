package preflight

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/asg-rollout/packer-plugin-asg/post-processor/rollout"
)

// executeTimeout bounds the checks: Execute gets no context from Packer,
// and a pre-flight that hangs would hold the build before it starts. The
// checks are a few reads and DryRuns per group.
const executeTimeout = 10 * time.Minute

// Datasource is the asg-rollout-preflight data source.
type Datasource struct {
	config Config
	// rollout is the post-processor configuration the checks run with,
	// decoded from the same raw values.
	rollout rollout.Config

	// preflight runs the checks; tests replace it.
	preflight func(context.Context, *rollout.Config) ([]rollout.Checked, error)
}

var _ packersdk.Datasource = (*Datasource)(nil)

// ConfigSpec returns the HCL2 schema of Config.
func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

// OutputSpec returns the HCL2 schema of DatasourceOutput.
func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

// Configure decodes and validates the configuration, with the
// post-processor's own validation of every option. It makes no network
// call.
func (d *Datasource) Configure(raws ...interface{}) error {
	if err := config.Decode(&d.config, nil, raws...); err != nil {
		return err
	}
	// Every option of Config is an option of the post-processor under the
	// same name, so the post-processor's Prepare validates them all and
	// fills in the same defaults.
	return d.rollout.Prepare(raws...)
}

// Execute runs the checks and returns one entry per group, or the first
// problem found in each group that has one.
func (d *Datasource) Execute() (cty.Value, error) {
	run := d.preflight
	if run == nil {
		run = rollout.Preflight
	}
	ctx, cancel := context.WithTimeout(context.Background(), executeTimeout)
	defer cancel()
	checked, err := run(ctx, &d.rollout)
	if err != nil {
		// Errors quote AWS answers; filter them as the post-processor does.
		return cty.NullVal(cty.EmptyObject), errors.New(packersdk.LogSecretFilter.FilterString(err.Error()))
	}
	out := DatasourceOutput{Groups: []Group{}}
	for _, c := range checked {
		g := Group{
			Group: c.Group, Region: c.Region, Account: c.Account,
			LaunchTemplateID: c.LaunchTemplateID, CurrentVersion: int(c.CurrentVersion),
			LaunchConfiguration: c.LaunchConfiguration, ImageID: c.ImageID,
			InstanceCount: c.InstanceCount, DesiredCapacity: c.DesiredCapacity,
			Warnings: c.Warnings,
		}
		if g.Warnings == nil {
			g.Warnings = []string{}
		}
		out.Groups = append(out.Groups, g)
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}
