//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,Target,InstanceRefreshConfig

package rollout

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
	// maxPollDelay bounds the poll delays where the waiter does: a longer
	// delay would notice a refresh's end (AWS fails a stuck one after an
	// hour) that much later.
	maxPollDelay = instancerefresh.MaxPollDelay

	// defaultPollsPerSecond is the waiters' shared budget unless
	// polls_per_second says otherwise (see instancerefresh.DefaultBudgetRate).
	defaultPollsPerSecond = instancerefresh.DefaultBudgetRate
	// minPollsPerSecond and maxPollsPerSecond bound polls_per_second: below
	// one poll every ten seconds a roll-out of many groups sees each only
	// every few minutes; above a hundred a second it would spend most of an
	// account's throttling budget on waiting, leaving other tools starved.
	minPollsPerSecond = 0.1
	maxPollsPerSecond = 100.0

	// maxGroupName, maxTagKey and maxTagValue are Auto Scaling's limits, in
	// characters.
	maxGroupName = 255
	maxTagKey    = 128
	maxTagValue  = 256

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

	// How groups are rolled: `instance-refresh` (default) replaces the
	// instances of each group in place; `blue-green` starts a new group
	// beside the old one, behind the same load balancers, and cuts over
	// once it is healthy (see the `blue_green` block). A target may choose
	// its own.
	Strategy string `mapstructure:"strategy"`
	// The blue/green options, for targets with `strategy = "blue-green"`.
	BlueGreen BlueGreenConfig `mapstructure:"blue_green"`

	// How instances are replaced: the instance refresh preferences. See
	// the `instance_refresh` block below for each preference and its default.
	InstanceRefresh InstanceRefreshConfig `mapstructure:"instance_refresh"`

	// How many groups are read, given a version or started at the same
	// time, 1 to 100. Defaults to `10`. Waiting is not limited: every
	// started refresh is followed at once.
	MaxConcurrency int `mapstructure:"max_concurrency"`

	// Whether to wait for the refreshes to end. Defaults to `true`: the
	// build fails if a roll-out fails. With `false` the post-processor
	// returns once every refresh has started, so targets must then all be
	// in one `wave` and `on_failure` cannot be `rollback`.
	Wait *bool `mapstructure:"wait"`

	// The longest time the roll-out may take from the moment the
	// post-processor starts, waits for other refreshes included, as a Go
	// duration (`90m`, `3h`). Defaults to `2h`. What happens when it passes
	// is set by `on_timeout`. It must be longer than what every refresh
	// pauses on purpose, in each wave in turn: `checkpoint_delay` at each
	// checkpoint but the last (AWS does not pause at the final 100) plus
	// `bake_time`; a shorter one is refused at validate.
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
	// running and prints how to follow it. After a rollback or cancel the
	// post-processor follows the refresh to its end, for at most 15 minutes,
	// and says where the group ended up. Packer's `-on-error=abort` does not
	// change this: a refresh left running unattended is not inspection.
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
	// predicted end, as a Go duration from `100ms` to `1h`. Defaults to `5s`.
	PollMinDelay string `mapstructure:"poll_min_delay"`
	// The longest delay between two polls, at most `1h`. Defaults to `1m`.
	// The delay doubles from `poll_min_delay` up to it, and drops below it
	// only around the predicted end of a refresh (one warm-up after its last
	// batch began, or BakeTime after baking began), so the end is noticed
	// within seconds either way; a shorter delay shows progress sooner and
	// costs more calls.
	PollMaxDelay string `mapstructure:"poll_max_delay"`
	// The most DescribeInstanceRefreshes calls per second that waiting may
	// make per account and region, shared by every group rolling there,
	// from `0.1` to `100`. Defaults to `5`. Auto Scaling throttles each
	// account and region with one shared budget, which every other tool in
	// the account also draws on, so a roll-out of many groups waits its turn
	// rather than starve them.
	PollsPerSecond float64 `mapstructure:"polls_per_second"`

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

	// Whether to stop after every check, before the first change, and print
	// per group a plan of what a roll-out would do: the launch template
	// version it would create, the preferences it would send, the batches
	// the refresh would replace instances in, how long that would take and
	// how many instances the group would have meanwhile. Nothing is created,
	// started or tagged, and the build succeeds. Off by default; set it from
	// a variable (`dry_run = var.dry_run`) to preview a roll-out in CI.
	DryRun bool `mapstructure:"dry_run"`
	// A file to write the dry run's plan to as JSON, for CI systems, in
	// addition to printing it. Only with `dry_run`; empty by default.
	PlanFile string `mapstructure:"plan_file"`

	// SSM parameters to point at the AMI once the roll-out succeeded, one
	// `release_parameter` block each; see the `release_parameter` block
	// below. None by default.
	ReleaseParameters []ReleaseParameter `mapstructure:"release_parameter"`
	// Delete older versions of each launch template the roll-out moved,
	// after it succeeded: `prune_versions { keep = 5 }` keeps the newest
	// five and every version still in use. Off by default.
	PruneVersions *PruneConfig `mapstructure:"prune_versions"`
	// Deregister older AMIs this post-processor deployed onto the same
	// launch templates, and delete their snapshots, after the roll-out
	// succeeded: `prune_images { keep = 3 }`. Off by default.
	PruneImages *PruneConfig `mapstructure:"prune_images"`

	timeout                    time.Duration
	pollMinDelay, pollMaxDelay time.Duration
	pollsPerSecond             float64
	ctx                        interpolate.Context
}

// Target names the Auto Scaling groups to roll: one by name, or every
// group of a region whose tags match.
type Target struct {
	// The name of the Auto Scaling group (not its ARN), 1 to 255
	// characters. Set this or `tags`.
	AutoScalingGroup string `mapstructure:"auto_scaling_group"`
	// Roll every group in the region that has all these tags, for example
	// `{ app = "web", env = "prod" }`, as found when the build runs. A
	// target that matches no group is an error. Keys have 1 to 128
	// characters, values up to 256, as on any Auto Scaling tag. Set this or
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
	// How this target's groups are rolled: `instance-refresh` or
	// `blue-green`. Defaults to the post-processor's `strategy`.
	Strategy string `mapstructure:"strategy"`
}

// Prepare decodes raws into c and validates everything, returning every
// problem at once. It makes no network call: Packer runs it at parse time
// too, with placeholders for values known only during the build.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		// group_name is a template of its own, rendered at run time.
		InterpolateFilter: &interpolate.RenderFilter{Exclude: []string{"blue_green"}},
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
	add(c.prepareBlueGreen()...)

	if len(c.Targets) == 0 {
		add(errors.New(`target: at least one target block is required, for example target { auto_scaling_group = "web" }`))
	}
	seen := map[[3]string]int{}
	waves := map[int]bool{}
	for i := range c.Targets {
		t := &c.Targets[i]
		switch {
		case t.AutoScalingGroup == "" && len(t.Tags) == 0:
			add(fmt.Errorf("target[%d]: set auto_scaling_group or tags", i))
		case t.AutoScalingGroup != "" && len(t.Tags) > 0:
			add(fmt.Errorf("target[%d]: set auto_scaling_group or tags, not both", i))
		}
		if t.AutoScalingGroup != "" {
			add(checkGroupName(i, t.AutoScalingGroup))
		}
		for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
			add(checkTag(i, k, t.Tags[k]))
		}
		if t.Wave == 0 {
			t.Wave = 1
		} else if t.Wave < 0 {
			add(fmt.Errorf("target[%d].wave: must be 1 or more, got %d", i, t.Wave))
		}
		waves[t.Wave] = true
		for _, err := range t.AssumeRole.Prepare() {
			add(fmt.Errorf("target[%d].%w", i, err))
		}
		if arn := t.AssumeRole.RoleARN; arn != "" && !roleARN.MatchString(arn) {
			add(fmt.Errorf("target[%d].assume_role.role_arn: %q is not an IAM role ARN such as arn:aws:iam::123456789012:role/deploy", i, arn))
		}
		if t.AutoScalingGroup != "" {
			region, account := c.placeOf(t)
			key := [3]string{region, account, t.AutoScalingGroup}
			if j, dup := seen[key]; dup {
				add(fmt.Errorf("target[%d]: the same group as target[%d] (%s in %s of %s); list each group once", i, j, t.AutoScalingGroup, regionName(region), accountName(account)))
			} else {
				seen[key] = i
			}
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
	timeoutOK := true
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			add(fmt.Errorf("timeout: %q is not a duration such as 90m or 3h", c.Timeout))
			timeoutOK = false
		case d <= 0:
			add(fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
			timeoutOK = false
		default:
			c.timeout = d
		}
	}
	if !*c.Wait && len(waves) > 1 {
		add(fmt.Errorf("wave: targets are in %d waves, but with wait = false no wave waits for the one before it to succeed; set wait = true, or drop wave from the targets", len(waves)))
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
		if err != nil || v < minPollDelay || v > maxPollDelay {
			add(fmt.Errorf("%s: want a duration from %s to %s such as 5s, got %q", d.field, minPollDelay, shortDuration(maxPollDelay), d.raw))
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

	c.pollsPerSecond = defaultPollsPerSecond
	switch v := c.PollsPerSecond; {
	case v == 0:
	case math.IsNaN(v) || v < minPollsPerSecond || v > maxPollsPerSecond:
		add(fmt.Errorf("polls_per_second: must be from %g to %g, got %g", minPollsPerSecond, maxPollsPerSecond, v))
	default:
		c.pollsPerSecond = v
	}

	add(oneOf("on_refresh_in_progress", &c.OnRefreshInProgress, InProgressFail, InProgressWait, InProgressCancel))
	add(oneOf("on_interrupt", &c.OnInterrupt, ActionRollback, ActionCancel, ActionDetach))
	add(oneOf("on_timeout", &c.OnTimeout, ActionRollback, ActionCancel, ActionDetach))
	add(oneOf("on_failure", &c.OnFailure, FailureReport, FailureRollback))
	if c.OnFailure == FailureRollback && c.InstanceRefresh.AutoRollback != nil && *c.InstanceRefresh.AutoRollback {
		add(errors.New(`on_failure: "rollback" needs instance_refresh.auto_rollback = false; with auto rollback AWS already undoes a failed refresh`))
	}
	if timeoutOK && *c.Wait {
		add(c.checkTimeoutFits(len(waves)))
	}
	if c.OnFailure == FailureRollback && !*c.Wait {
		add(errors.New(`on_failure: "rollback" needs wait = true: with wait = false the post-processor returns before any refresh can fail`))
	}
	if c.PlanFile != "" && !c.DryRun {
		add(errors.New("plan_file: needs dry_run = true; a roll-out writes no plan"))
	}
	if len(c.VersionDescription) > maxVersionDescription {
		add(fmt.Errorf("version_description: at most %d characters, got %d", maxVersionDescription, len(c.VersionDescription)))
	}
	add(c.prepareRelease()...)

	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// roleARN is the shape of an IAM role ARN in any partition.
var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

// placeOf returns the region and account of t's groups, as far as
// Configure can know them: a group is its name, region and account, so two
// targets with the same name and place are the same group. The region
// defaults to the post-processor's, and the account of a target without a
// role to that of the post-processor's own role; the role's name does not
// matter, since two roles of one account see the same groups. An empty
// region is the artifact's AMI region and an empty account the build's own,
// both known only at run time, where the plan checks again.
func (c *Config) placeOf(t *Target) (region, account string) {
	region = t.Region
	if region == "" {
		region = c.RawRegion
	}
	switch {
	case t.AssumeRole.RoleARN != "":
		account = accountOf(t.AssumeRole.RoleARN)
	case c.AssumeRole.RoleARN != "":
		account = accountOf(c.AssumeRole.RoleARN)
	}
	return region, account
}

func regionName(region string) string {
	if region == "" {
		return "the artifact's region"
	}
	return region
}

func accountName(account string) string {
	if account == "" {
		return "the build's account"
	}
	return "account " + account
}

// checkGroupName checks name against what Auto Scaling accepts as a group
// name: 1 to 255 characters of the API's XML character range, and no
// colon, which CreateAutoScalingGroup refuses (so no group has one; an ARN
// has several).
func checkGroupName(i int, name string) error {
	field := fmt.Sprintf("target[%d].auto_scaling_group", i)
	switch n := utf8.RuneCountInString(name); {
	case n > maxGroupName:
		return fmt.Errorf("%s: a group name has at most %d characters, got %d", field, maxGroupName, n)
	case strings.HasPrefix(name, "arn:"):
		return fmt.Errorf("%s: %q is an ARN; give the group's name, the part after autoScalingGroupName/, and its region in region", field, name)
	case strings.Contains(name, ":"):
		return fmt.Errorf("%s: %q has a colon, which Auto Scaling group names never have", field, name)
	case !xmlChars(name):
		return fmt.Errorf("%s: %q has a character Auto Scaling refuses (control characters other than tab and newline, or invalid UTF-8)", field, name)
	}
	return nil
}

// checkTag checks a tag of target i against Auto Scaling's tag limits.
func checkTag(i int, key, value string) error {
	field := fmt.Sprintf("target[%d].tags", i)
	switch kn, vn := utf8.RuneCountInString(key), utf8.RuneCountInString(value); {
	case key == "":
		return fmt.Errorf("%s: a tag key must not be empty", field)
	case kn > maxTagKey:
		return fmt.Errorf("%s: the key %.20q... has %d characters; Auto Scaling tag keys have at most %d", field, key, kn, maxTagKey)
	case vn > maxTagValue:
		return fmt.Errorf("%s: the value of %q has %d characters; Auto Scaling tag values have at most %d", field, key, vn, maxTagValue)
	case !xmlChars(key) || !xmlChars(value):
		return fmt.Errorf("%s: %q = %q has a character Auto Scaling refuses (control characters other than tab and newline, or invalid UTF-8)", field, key, value)
	}
	return nil
}

// xmlChars reports whether s is valid UTF-8 made only of the characters the
// Auto Scaling API's string pattern allows:
// [\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*.
func xmlChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= utf8.MaxRune:
		default:
			return false
		}
	}
	return true
}

// checkTimeoutFits refuses a timeout shorter than what every refresh waits
// on purpose (the checkpoint pauses and the bake time), in each of waves
// waves in turn: such a timeout would end every healthy roll-out.
func (c *Config) checkTimeoutFits(waves int) error {
	ir := &c.InstanceRefresh
	per := ir.pausedTime()
	if per == 0 {
		return nil
	}
	need := time.Duration(max(waves, 1)) * per
	if need < c.timeout {
		return nil
	}
	var parts []string
	if n := ir.checkpointPauses(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d pause(s) of checkpoint_delay %s (one at each of checkpoint_percentages %v but the final 100)", n, shortDuration(ir.checkpointDelay), ir.CheckpointPercentages))
	}
	if ir.bakeTime > 0 {
		parts = append(parts, "bake_time "+shortDuration(ir.bakeTime))
	}
	waited := strings.Join(parts, " plus ")
	if waves > 1 {
		waited = fmt.Sprintf("(%s) in each of %d waves, one after the other", waited, waves)
	}
	timeout := "the default timeout of " + shortDuration(c.timeout)
	if c.Timeout != "" {
		timeout = "timeout " + shortDuration(c.timeout)
	}
	return fmt.Errorf("timeout: every refresh waits instance_refresh %s, %s in all, which %s does not leave room for: every healthy roll-out would end at the timeout (on_timeout = %q); set timeout = %q or more, or shorten those pauses",
		waited, shortDuration(need), timeout, c.OnTimeout, shortDuration((need + defaultTimeout).Round(time.Minute)))
}

// shortDuration formats d as a user would write it: 5h, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
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
