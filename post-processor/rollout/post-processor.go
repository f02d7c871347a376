// Package rollout is the asg-rollout post-processor: it takes the AMI a
// Packer amazon builder made, creates a launch template version with it for
// each target Auto Scaling group, and rolls the group onto that version with
// an instance refresh, waiting for the outcome.
//
// The flow (run, in roller.go) is: resolve targets (read only, every group
// checked before any is changed) → create versions → start refreshes →
// wait → report. Each step has its own file.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	smithytime "github.com/aws/smithy-go/time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// PostProcessor is the asg-rollout post-processor.
type PostProcessor struct {
	config Config

	// newClients makes the API clients of a region; tests replace it.
	newClients clientFactory
	// waitOptions tune the refresh waiter; tests use them to run hours of
	// refresh in milliseconds.
	waitOptions []func(*instancerefresh.InstanceRefreshCompleteWaiterOptions)
	// now and sleep are the roll-out's clock (time.Now and a context-aware
	// sleep when nil); tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// followFor replaces followTimeout when set; tests shorten it.
	followFor time.Duration
}

// ConfigSpec returns the HCL2 schema of Config.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and validates the configuration. It makes no network
// call.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	return p.config.Prepare(raws...)
}

// PostProcess rolls every target group onto the artifact's AMI.
//
// On success it returns an artifact of its own, whose Destroy does nothing,
// with keep and forceOverride set: Packer destroys a builder artifact that
// no post-processor keeps, which for an AMI means deregistering it while the
// fleet runs on it. On failure Packer ignores what a post-processor returns
// and destroys the builder artifact unless something earlier kept it; the
// warning printed during resolve says how to protect the AMI.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, source packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	images, err := imagesFromArtifact(source)
	if err != nil {
		return nil, false, false, err
	}
	// Options copied from the amazon builder that mean nothing here are
	// accepted; say so where the user looks, not only in the log.
	for _, note := range p.config.AccessConfig.Notes() {
		ui.Say(note)
	}
	from := originOf(source)
	ros, err := p.plan(ctx, images)
	if err != nil {
		return nil, false, false, err
	}
	waitOpt := append([]func(*instancerefresh.InstanceRefreshCompleteWaiterOptions){
		func(o *instancerefresh.InstanceRefreshCompleteWaiterOptions) {
			o.MinDelay, o.MaxDelay = p.config.pollMinDelay, p.config.pollMaxDelay
		},
	}, p.waitOptions...)
	budgets, err := instancerefresh.NewBudgets(p.config.pollsPerSecond, instancerefresh.DefaultBudgetBurst)
	if err != nil {
		return nil, false, false, fmt.Errorf("polls_per_second: %w", err)
	}
	r := &roller{budgets: budgets, cfg: &p.config, retryer: p.config.AccessConfig.NewRetryer(), ui: ui, waitOpt: waitOpt, now: p.now, sleep: p.sleep}
	if r.now == nil {
		r.now = time.Now
	}
	r.followFor = p.followFor
	if r.followFor == 0 {
		r.followFor = followTimeout
	}
	if r.sleep == nil {
		r.sleep = smithytime.SleepWithContext
	}
	verb := "Rolling"
	if p.config.DryRun {
		verb = "Dry run: planning the roll-out of"
	}
	ui.Say(fmt.Sprintf("%s %d Auto Scaling group(s) onto %s", verb, len(ros), source.Id()))
	r.release = p.releaseRun()
	err = r.run(ctx, ros)
	after := r.release.after(ctx, r, ros, err)
	if err == nil {
		err = after.err // a release parameter not written fails the build
	}
	// A dry run changes nothing, not even the AMI's protection.
	if err != nil && !p.config.DryRun {
		p.protectImages(r, ros)
	}
	art := newArtifact(ros, from, p.config.DryRun)
	art.after = after
	ui.Say("Roll-out summary:\n" + art.String())
	if err != nil {
		// Errors quote AWS answers; they reach Packer's UI and logs
		// unfiltered unless filtered here.
		return art, true, true, errors.New(packersdk.LogSecretFilter.FilterString(err.Error()))
	}
	return art, true, true, nil
}
