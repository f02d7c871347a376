//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,Target,InstanceRefreshConfig

package rollout

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

const (
	// defaultTimeout bounds the whole wait. AWS fails a refresh that makes
	// no progress for an hour; two hours leaves room for a healthy refresh
	// of a large group with warm-ups.
	defaultTimeout = 2 * time.Hour

	// defaultMaxConcurrency bounds the API calls in flight at once when
	// many groups roll together, well below Auto Scaling's request rates.
	defaultMaxConcurrency = 10
	maxMaxConcurrency     = 100

	// minPollDelay keeps a mistyped poll delay from hammering the API.
	minPollDelay = 100 * time.Millisecond

	// maxVersionDescription is EC2's limit on a version description.
	maxVersionDescription = 255
)

// Policies for a refresh that is already running on a group.
const (
	InProgressFail   = "fail"
	InProgressWait   = "wait"
	InProgressCancel = "cancel"
)

// Actions on a failed refresh.
const (
	FailureReport   = "report"
	FailureRollback = "rollback"
)

// Actions on interruption (Ctrl-C) and timeout.
const (
	ActionRollback = "rollback"
	ActionCancel   = "cancel"
	ActionDetach   = "detach"
)

// Config is the asg-rollout post-processor's configuration.
type Config struct {
	common.PackerConfig  `mapstructure:",squash"`
	awsauth.AccessConfig `mapstructure:",squash"`

	// The Auto Scaling groups to roll onto the new AMI, one `target` block
	// each. Every group is checked before any is changed.
	Targets []Target `mapstructure:"target" required:"true"`

	// How instances are replaced: the instance refresh preferences. See
	// the `instance_refresh` block below for each preference and its default.
	InstanceRefresh InstanceRefreshConfig `mapstructure:"instance_refresh"`

	// How many groups are read, given a version or started at the same
	// time, 1 to 100. Defaults to `10`. Waiting is not limited: every
	// started refresh is followed at once.
	MaxConcurrency int `mapstructure:"max_concurrency"`

	// Whether to wait for the refreshes to end. Defaults to `true`: the
	// build fails if a roll-out fails. With `false` the post-processor
	// returns once every refresh has started.
	Wait *bool `mapstructure:"wait"`

	// The longest time the roll-out may take from the moment the
	// post-processor starts, waits for other refreshes included, as a Go
	// duration (`90m`, `3h`). Defaults to `2h`. What happens when it passes
	// is set by `on_timeout`.
	Timeout string `mapstructure:"timeout"`

	// What to do with a refresh that is already running on a group:
	// `fail` (default) stops before changing anything; `wait` waits for it
	// to end and then starts; `cancel` cancels it and starts. A running
	// refresh whose desired configuration is a numbered version of the
	// group's launch template carrying this AMI (typically one whose start
	// answer was lost) does what this one would: it is adopted and waited for
	// instead. A re-run of the build bakes a new AMI, so a refresh left by a
	// crashed run is someone else's here.
	OnRefreshInProgress string `mapstructure:"on_refresh_in_progress"`

	// What to do with running refreshes when the build is interrupted
	// (Ctrl-C): `rollback` (default) returns the replaced instances to the
	// previous launch template version; `cancel` stops replacing, leaving
	// replaced instances on the new AMI; `detach` leaves the refresh
	// running and prints how to follow it.
	OnInterrupt string `mapstructure:"on_interrupt"`

	// What to do with running refreshes when `timeout` passes: `rollback`
	// (default), `cancel` or `detach`, as for `on_interrupt`.
	OnTimeout string `mapstructure:"on_timeout"`

	// What to do when a refresh fails with `auto_rollback = false`:
	// `report` (default) fails the build and leaves replaced instances on
	// the new AMI; `rollback` first starts a refresh back onto the version
	// the group ran before, which replaces only the instances already on the
	// new AMI, and waits for it. Needs `instance_refresh.auto_rollback =
	// false` (with auto rollback AWS undoes a failed refresh itself). Packer's
	// `-on-error=abort` turns it off, to leave everything for inspection.
	OnFailure string `mapstructure:"on_failure"`

	// The first delay between two polls, and the delay around a refresh's
	// predicted end, as a Go duration. Defaults to `5s`; at least `100ms`.
	PollMinDelay string `mapstructure:"poll_min_delay"`
	// The longest delay between two polls. Defaults to `1m`. The delay
	// doubles from `poll_min_delay` up to it, and drops below it only around
	// the predicted end of a refresh (one warm-up after its last batch
	// began, or BakeTime after baking began), so the end is noticed within
	// seconds either way; a shorter delay shows progress sooner and costs
	// more calls.
	PollMaxDelay string `mapstructure:"poll_max_delay"`

	// Whether to roll groups that use a launch configuration (the legacy
	// alternative to launch templates). Off by default, because it is the one
	// case where the post-processor updates a group directly: it copies the
	// group's launch configuration with the new AMI (named after the original
	// and the AMI), sets the copy on the group and starts a refresh. AWS
	// cannot roll such a refresh back, so auto rollback is off for these
	// groups; on failure or interruption the post-processor puts the previous
	// launch configuration back on the group.
	CopyLaunchConfiguration bool `mapstructure:"copy_launch_configuration"`

	// Whether to make the new version the default of its launch template
	// after a successful refresh, for groups that name their template as
	// `$Default`. Off by default: it changes what every user of the template
	// launches, not just the target groups. The refresh itself pins the
	// group to the new version number either way.
	SetDefaultVersion bool `mapstructure:"set_default_version"`

	// The description of the launch template versions this post-processor
	// creates. Defaults to one naming the build and the AMI. It takes part
	// in the idempotency token, so keep it free of timestamps.
	VersionDescription string `mapstructure:"version_description"`

	timeout                    time.Duration
	pollMinDelay, pollMaxDelay time.Duration
	ctx                        interpolate.Context
}

// Target names the Auto Scaling groups to roll: one by name, or every
// group of a region whose tags match.
type Target struct {
	// The name of the Auto Scaling group. Set this or `tags`.
	AutoScalingGroup string `mapstructure:"auto_scaling_group"`
	// Roll every group in the region that has all these tags, for example
	// `{ app = "web", env = "prod" }`, as found when the build runs. A
	// target that matches no group is an error. Set this or
	// `auto_scaling_group`.
	Tags map[string]string `mapstructure:"tags"`
	// The group's region. Defaults to the post-processor's `region`, and
	// without it to the region of the artifact's AMI when the artifact has
	// exactly one.
	Region string `mapstructure:"region"`
	// The wave this target rolls in, 1 or more. Defaults to `1`. Waves go in
	// ascending order, and a wave starts only when every group of the waves
	// before it succeeded: `wave = 2` on all but one region rolls that
	// region first and the others only if it went well.
	Wave int `mapstructure:"wave"`
	// A role to assume for this target only, typically in another account.
	// It is assumed with the post-processor's own credentials. The AMI must
	// be shared with that account (the builder's `ami_users`); the
	// post-processor checks it is visible there before changing anything.
	AssumeRole awsauth.AssumeRoleConfig `mapstructure:"assume_role"`
}

// Prepare decodes raws into c and validates everything, returning every
// problem at once. It makes no network call: Packer runs it at parse time
// too, with placeholders for values known only during the build.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...)
	if err != nil {
		return err
	}

	var errs *packersdk.MultiError
	add := func(es ...error) {
		for _, e := range es {
			if e != nil {
				errs = packersdk.MultiErrorAppend(errs, e)
			}
		}
	}
	add(c.AccessConfig.Prepare()...)
	add(c.InstanceRefresh.Prepare()...)

	if len(c.Targets) == 0 {
		add(errors.New(`target: at least one target block is required, for example target { auto_scaling_group = "web" }`))
	}
	seen := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		switch {
		case t.AutoScalingGroup == "" && len(t.Tags) == 0:
			add(fmt.Errorf("target[%d]: set auto_scaling_group or tags", i))
		case t.AutoScalingGroup != "" && len(t.Tags) > 0:
			add(fmt.Errorf("target[%d]: set auto_scaling_group or tags, not both", i))
		}
		for k := range t.Tags {
			if k == "" {
				add(fmt.Errorf("target[%d].tags: a tag key must not be empty", i))
			}
		}
		if t.Wave == 0 {
			t.Wave = 1
		} else if t.Wave < 0 {
			add(fmt.Errorf("target[%d].wave: must be 1 or more, got %d", i, t.Wave))
		}
		for _, err := range t.AssumeRole.Prepare() {
			add(fmt.Errorf("target[%d].%w", i, err))
		}
		if t.AutoScalingGroup != "" {
			key := t.Region + "/" + t.AutoScalingGroup + "/" + t.AssumeRole.RoleARN
			if j, dup := seen[key]; dup {
				add(fmt.Errorf("target[%d]: the same group as target[%d] (%s); list each group once", i, j, t.AutoScalingGroup))
			}
			seen[key] = i
		}
	}

	switch {
	case c.MaxConcurrency == 0:
		c.MaxConcurrency = defaultMaxConcurrency
	case c.MaxConcurrency < 0 || c.MaxConcurrency > maxMaxConcurrency:
		add(fmt.Errorf("max_concurrency: must be from 1 to %d, got %d", maxMaxConcurrency, c.MaxConcurrency))
		c.MaxConcurrency = defaultMaxConcurrency
	}
	if c.Wait == nil {
		c.Wait = boolPtr(true)
	}
	c.timeout = defaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			add(fmt.Errorf("timeout: %q is not a duration such as 90m or 3h", c.Timeout))
		case d <= 0:
			add(fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
		default:
			c.timeout = d
		}
	}

	c.pollMinDelay, c.pollMaxDelay = instancerefresh.DefaultMinDelay, instancerefresh.DefaultMaxDelay
	for _, d := range []struct {
		field, raw string
		dst        *time.Duration
	}{{"poll_min_delay", c.PollMinDelay, &c.pollMinDelay}, {"poll_max_delay", c.PollMaxDelay, &c.pollMaxDelay}} {
		if d.raw == "" {
			continue
		}
		v, err := time.ParseDuration(d.raw)
		if err != nil || v < minPollDelay {
			add(fmt.Errorf("%s: want a duration of at least %s such as 5s, got %q", d.field, minPollDelay, d.raw))
			continue
		}
		*d.dst = v
	}
	if c.pollMinDelay > c.pollMaxDelay {
		if c.PollMaxDelay == "" {
			c.pollMaxDelay = c.pollMinDelay
		} else {
			add(fmt.Errorf("poll_max_delay: must not be below poll_min_delay (%s), got %s", c.pollMinDelay, c.pollMaxDelay))
		}
	}

	add(oneOf("on_refresh_in_progress", &c.OnRefreshInProgress, InProgressFail, InProgressWait, InProgressCancel))
	add(oneOf("on_interrupt", &c.OnInterrupt, ActionRollback, ActionCancel, ActionDetach))
	add(oneOf("on_timeout", &c.OnTimeout, ActionRollback, ActionCancel, ActionDetach))
	add(oneOf("on_failure", &c.OnFailure, FailureReport, FailureRollback))
	if c.OnFailure == FailureRollback && c.InstanceRefresh.AutoRollback != nil && *c.InstanceRefresh.AutoRollback {
		add(errors.New(`on_failure: "rollback" needs instance_refresh.auto_rollback = false; with auto rollback AWS already undoes a failed refresh`))
	}
	if len(c.VersionDescription) > maxVersionDescription {
		add(fmt.Errorf("version_description: at most %d characters, got %d", maxVersionDescription, len(c.VersionDescription)))
	}

	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// oneOf checks that *v is one of allowed, defaulting an empty *v to the
// first. It returns nil when *v is valid.
func oneOf(field string, v *string, allowed ...string) error {
	if *v == "" {
		*v = allowed[0]
		return nil
	}
	for _, a := range allowed {
		if *v == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %q", field, *v, allowed)
}

func boolPtr(b bool) *bool { return &b }
