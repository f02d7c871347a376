package rollout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	smithytime "github.com/aws/smithy-go/time"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Checked is what Preflight found for one group that passed.
type Checked struct {
	Region string
	Group  string
	// Account is the target role's account, "" for the build's own.
	Account string
	// LaunchTemplateID and CurrentVersion are the template the group
	// launches from (a mixed instances policy's own) and the number its
	// version resolves to; empty and 0 for a group on a launch
	// configuration.
	LaunchTemplateID string
	CurrentVersion   int64
	// LaunchConfiguration is set for a group on a launch configuration.
	LaunchConfiguration string
	// ImageID is the AMI the group launches now.
	ImageID string
	// InstanceCount is the number of instances in the group, warm pool
	// aside; DesiredCapacity its desired capacity.
	InstanceCount   int
	DesiredCapacity int
	// Warnings are what the checks found worth telling but not refusing,
	// and what the post-processor will do about a refresh already running.
	Warnings []string
}

// Preflight runs, for every group cfg's targets name, the read-only checks
// the post-processor runs before its first write, and the DryRun
// permission checks, through the same code (plan and resolve). cfg must be
// prepared (Config.Prepare).
//
// There is no AMI before the bake, so the checks of the new AMI itself are
// left out (it exists and is available, its architecture matches the
// group's, its deregistration protection, ReplaceRootVolume's single root
// volume), and the DryRun of CreateLaunchTemplateVersion sends the group's
// current AMI. A refresh already running that is not ours fails with
// on_refresh_in_progress = "fail", as the post-processor would; with
// "wait" or "cancel" it is a warning saying what the post-processor will
// do.
func Preflight(ctx context.Context, cfg *Config) ([]Checked, error) {
	p := &PostProcessor{config: *cfg}
	return p.preflight(ctx)
}

// preflight is Preflight with p's client factory, which tests replace.
func (p *PostProcessor) preflight(ctx context.Context) ([]Checked, error) {
	// plan takes each target's AMI from the artifact; before the bake there
	// is none, so every target's region maps to no AMI.
	images := sourceImages{}
	for i, t := range p.config.Targets {
		region := t.Region
		if region == "" {
			region = p.config.RawRegion
		}
		if region == "" {
			return nil, fmt.Errorf("target[%d]: set region, on the target or for all: before the bake there is no AMI to take the region from", i)
		}
		images[region] = ""
	}
	ros, err := p.plan(ctx, images)
	if err != nil {
		return nil, err
	}

	out := &lineWriter{}
	r := &roller{
		cfg:     &p.config,
		retryer: p.config.AccessConfig.NewRetryer(),
		ui:      &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: out, ErrorWriter: out},
		now:     time.Now,
		sleep:   smithytime.SleepWithContext,
		multi:   len(ros) > 1,
	}
	if p.now != nil {
		r.now = p.now
	}
	r.deadline = r.now().Add(p.config.timeout)
	checked := make([]Checked, len(ros))
	index := map[*rollout]int{}
	for i, ro := range ros {
		index[ro] = i
	}
	r.forEach(ros, func(ro *rollout) {
		// Described here rather than in resolve, to count its instances.
		var g astypes.AutoScalingGroup
		if ro.bg == nil {
			var err error
			if g, err = r.describeGroup(ctx, ro); err != nil {
				ro.err = err
				return
			}
			ro.described = &g
		}
		if ro.err = r.resolve(ctx, ro); ro.err != nil {
			return
		}
		if ro.bg != nil { // resolve found the line's live group
			g = ro.bg.old
		}
		c := &checked[index[ro]]
		*c = Checked{
			Region: ro.region, Group: ro.group, Account: ro.account,
			InstanceCount: len(g.Instances), DesiredCapacity: int(aws.ToInt32(g.DesiredCapacity)),
		}
		if ro.bg != nil {
			c.Group = ro.bg.oldName // the line's live group
		}
		if ro.lc != nil {
			c.LaunchConfiguration, c.ImageID = ro.lc.name, ro.lc.sourceImage
		} else {
			c.LaunchTemplateID, c.CurrentVersion, c.ImageID = ro.templateID, ro.sourceVersion, ro.sourceImage
		}
		if f := ro.foreign; f != nil {
			c.Warnings = append(c.Warnings, foreignRefreshPlan(ro, p.config.OnRefreshInProgress))
		}
	})
	if errs := r.errorsOf(ros); len(errs) > 0 {
		return nil, fmt.Errorf("pre-flight: %w", errors.Join(errs...))
	}
	// What resolve said to the UI about a group is a warning of that group.
	said := out.lines()
	for i, ro := range ros {
		c := &checked[i]
		c.Warnings = append(ro.warnings, c.Warnings...)
		prefix := ro.label() + ": "
		for _, line := range said {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				c.Warnings = append(c.Warnings, rest)
			}
		}
	}
	for _, line := range said {
		log.Printf("[INFO] pre-flight: %s", line)
	}
	return checked, nil
}

// foreignRefreshPlan says what the post-processor will do about ro's
// running refresh under policy ("wait" or "cancel": "fail" refuses it
// during resolve).
func foreignRefreshPlan(ro *rollout, policy string) string {
	f := ro.foreign
	running := fmt.Sprintf("instance refresh %s is %s since %s, not started by this build", aws.ToString(f.InstanceRefreshId), f.Status, aws.ToTime(f.StartTime).UTC().Format(time.RFC3339))
	unwinding := f.Status == astypes.InstanceRefreshStatusRollbackInProgress || f.Status == astypes.InstanceRefreshStatusCancelling
	if policy == InProgressCancel && !unwinding {
		return running + `: the post-processor will cancel it, wait for the cancel, and then start its own (on_refresh_in_progress = "cancel")`
	}
	return running + fmt.Sprintf(`: the post-processor will wait for it to end and then start its own (on_refresh_in_progress = %q); the wait counts against timeout`, policy)
}

// lineWriter collects what is written to it, one entry per line.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	s := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}
