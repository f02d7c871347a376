//go:generate go tool packer-sdc struct-markdown

package rollout

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Defaults and bounds of the instance refresh preferences. The bounds are
// AWS's; the defaults are chosen so that capacity never drops during a
// roll-out and a failed roll-out undoes itself.
const (
	// defaultMinHealthy keeps the whole desired capacity in service.
	defaultMinHealthy = 100
	// defaultMaxHealthy lets the refresh launch a replacement before it
	// terminates the instance it replaces (one at a time up to ten
	// instances, a tenth of the group above that). Below a minimum of 10 it
	// is lowered to min+100, AWS's widest range (see defaultMaxFor).
	defaultMaxHealthy = 110

	maxMaxHealthy         = 200
	maxHealthyRange       = 100
	maxAlarms             = 10
	maxAlarmName          = 255                  // CloudWatch's limit on an alarm name
	maxRefreshPhaseLength = 172800 * time.Second // CheckpointDelay and BakeTime
	defaultCheckpointWait = time.Hour            // AWS's own default
	// maxWarmup keeps the warm-up within the API's 32-bit seconds; AWS
	// documents no smaller bound, and a refresh runs at most 14 days.
	maxWarmup = 14 * 24 * time.Hour
)

// InstanceRefreshConfig holds the instance refresh preferences. Every
// preference is sent to AWS explicitly, because the API's defaults and the
// console's differ, except the healthy percentages of a group with an
// instance maintenance policy of its own when neither is set here: AWS then
// applies the group's policy, as it documents.
type InstanceRefreshConfig struct {
	// The percentage of the desired capacity that must stay in service and
	// healthy during the refresh, 0 to 100. When neither this nor
	// `max_healthy_percentage` is set, a group with an instance maintenance
	// policy is refreshed with the policy's percentages, and any other group
	// with `100`: capacity never drops (AWS's own default is 90). Setting
	// either overrides the group's policy for this refresh; the one not set
	// then takes its default here, not the policy's.
	MinHealthyPercentage *int `mapstructure:"min_healthy_percentage"`
	// The percentage of the desired capacity that may be in service or
	// pending during the refresh, 100 to 200, at most 100 above
	// `min_healthy_percentage`. When neither is set, a group's instance
	// maintenance policy applies, as for `min_healthy_percentage`. Otherwise
	// defaults to `110`: replacements launch before the instances they
	// replace terminate, which also spares a one-instance group an outage.
	// With a `min_healthy_percentage` below 10 the default is
	// `min_healthy_percentage` + 100 (`100` for a minimum of 0), the most AWS
	// allows: still room to launch before terminating wherever the minimum
	// leaves any.
	MaxHealthyPercentage *int `mapstructure:"max_healthy_percentage"`
	// How long a new instance warms up before it counts as healthy, as a Go
	// duration (`5m`). Defaults to the group's default instance warm-up, or
	// its health check grace period when that is unset.
	InstanceWarmup string `mapstructure:"instance_warmup"`
	// Percentages of replaced instances at which the refresh pauses for
	// `checkpoint_delay`, ascending and unique; the last must be 100. No
	// checkpoints by default.
	CheckpointPercentages []int `mapstructure:"checkpoint_percentages"`
	// How long to pause at each checkpoint, as a Go duration up to 48h.
	// Defaults to `1h` when `checkpoint_percentages` is set; needs it.
	CheckpointDelay string `mapstructure:"checkpoint_delay"`
	// Whether to leave alone instances already on the new launch template
	// version. Defaults to `true`, so a re-run does not replace instances
	// that are already up to date.
	SkipMatching *bool `mapstructure:"skip_matching"`
	// Whether AWS rolls the group back to its previous launch template
	// version when the refresh fails or an alarm fires. Defaults to `true`.
	AutoRollback *bool `mapstructure:"auto_rollback"`
	// Names of CloudWatch alarms (up to 10, each 1 to 255 characters) that
	// fail the refresh when they go into ALARM. None by default.
	Alarms []string `mapstructure:"alarms"`
	// How long to wait after the last replacement before the refresh counts
	// as successful (the refresh is `Baking` meanwhile), as a Go duration up
	// to 48h. With `alarms`, this is the time they have to catch a bad AMI.
	// Defaults to `0s`.
	BakeTime string `mapstructure:"bake_time"`
	// What to do with instances protected from scale in: `Wait` (default,
	// AWS's: wait up to an hour for the protection to be removed, then fail),
	// `Ignore` (leave them on the old AMI) or `Refresh` (replace them).
	ScaleInProtectedInstances string `mapstructure:"scale_in_protected_instances"`
	// What to do with instances in Standby: `Wait` (default, AWS's),
	// `Ignore` or `Terminate`.
	StandbyInstances string `mapstructure:"standby_instances"`
	// The refresh strategy: `Rolling` (default) or `ReplaceRootVolume`
	// (groups with a mixed instances policy only).
	Strategy string `mapstructure:"strategy"`

	// minHealthy and maxHealthy are the percentages used when the group's
	// instance maintenance policy does not apply: those set, the defaults
	// for the others.
	minHealthy, maxHealthy int
	instanceWarmup         *time.Duration
	checkpointDelay        time.Duration
	bakeTime               time.Duration
}

// Prepare validates the preferences against AWS's bounds and fills in the
// defaults. It returns every problem, each naming its field.
func (c *InstanceRefreshConfig) Prepare() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("instance_refresh."+format, args...))
	}

	// The fields stay nil when not set: a group's instance maintenance
	// policy applies only when neither is set.
	minH := defaultMinHealthy
	if c.MinHealthyPercentage != nil {
		minH = *c.MinHealthyPercentage
	}
	minOK := minH >= 0 && minH <= 100
	if !minOK {
		add("min_healthy_percentage: must be from 0 to 100, got %d", minH)
	}
	maxH := defaultMaxFor(minH)
	if c.MaxHealthyPercentage != nil {
		maxH = *c.MaxHealthyPercentage
	}
	c.minHealthy, c.maxHealthy = minH, maxH
	maxOK := maxH >= 100 && maxH <= maxMaxHealthy
	if !maxOK {
		add("max_healthy_percentage: must be from 100 to %d, got %d", maxMaxHealthy, maxH)
	}
	// Only a range of two valid bounds says anything more.
	if minOK && maxOK && maxH-minH > maxHealthyRange {
		add("max_healthy_percentage: at most %d above min_healthy_percentage (%d), got %d; set max_healthy_percentage = %d or raise min_healthy_percentage",
			maxHealthyRange, minH, maxH, minH+maxHealthyRange)
	}

	if c.InstanceWarmup != "" {
		if d, ok := parseDuration(c.InstanceWarmup); !ok {
			add("instance_warmup: %q is not a duration such as 90s or 5m", c.InstanceWarmup)
		} else if d < 0 || d > maxWarmup {
			add("instance_warmup: must be from 0s to %s, got %s", maxWarmup, c.InstanceWarmup)
		} else {
			c.instanceWarmup = &d
		}
	}

	for i, p := range c.CheckpointPercentages {
		if p < 1 || p > 100 {
			add("checkpoint_percentages: each must be from 1 to 100, got %d", p)
		}
		if i > 0 && p <= c.CheckpointPercentages[i-1] {
			add("checkpoint_percentages: must be ascending and unique, got %d after %d", p, c.CheckpointPercentages[i-1])
		}
	}
	if n := len(c.CheckpointPercentages); n > 0 && c.CheckpointPercentages[n-1] != 100 {
		add("checkpoint_percentages: the last must be 100 so that every instance is replaced, got %d", c.CheckpointPercentages[n-1])
	}
	if c.CheckpointDelay != "" && len(c.CheckpointPercentages) == 0 {
		add("checkpoint_delay: needs checkpoint_percentages")
	}
	c.checkpointDelay = defaultCheckpointWait
	c.parseBounded("checkpoint_delay", c.CheckpointDelay, &c.checkpointDelay, add)
	c.parseBounded("bake_time", c.BakeTime, &c.bakeTime, add)

	if c.SkipMatching == nil {
		c.SkipMatching = boolPtr(true)
	}
	if c.AutoRollback == nil {
		c.AutoRollback = boolPtr(true)
	}
	if len(c.Alarms) > maxAlarms {
		add("alarms: at most %d, got %d", maxAlarms, len(c.Alarms))
	}
	for i, a := range c.Alarms {
		switch n := utf8.RuneCountInString(a); {
		case a == "":
			add("alarms[%d]: must not be empty", i)
		case n > maxAlarmName:
			add("alarms[%d]: a CloudWatch alarm name has at most %d characters, got %d", i, maxAlarmName, n)
		case !utf8.ValidString(a) || strings.ContainsFunc(a, unicode.IsControl):
			add("alarms[%d]: %q has a character CloudWatch refuses in an alarm name (control characters and invalid UTF-8)", i, a)
		}
	}

	check := func(field string, v *string, allowed []string) {
		if err := oneOf(field, v, allowed...); err != nil {
			errs = append(errs, fmt.Errorf("instance_refresh.%w", err))
		}
	}
	check("scale_in_protected_instances", &c.ScaleInProtectedInstances, []string{"Wait", "Ignore", "Refresh"})
	check("standby_instances", &c.StandbyInstances, []string{"Wait", "Ignore", "Terminate"})
	check("strategy", &c.Strategy, []string{"Rolling", "ReplaceRootVolume"})
	return errs
}

// defaultMaxFor is the default max_healthy_percentage for a minimum of
// minH: defaultMaxHealthy, lowered to stay within AWS's max-min <= 100.
// An invalid minimum keeps defaultMaxHealthy, so that only the minimum is
// reported.
func defaultMaxFor(minH int) int {
	if minH < 0 || minH > 100 {
		return defaultMaxHealthy
	}
	return min(defaultMaxHealthy, minH+maxHealthyRange)
}

// checkpointPauses is how many times a refresh pauses for checkpoint_delay:
// once at each checkpoint but the last, since the last is 100 and a refresh
// that reaches it is done (it bakes, then succeeds). A small group can skip
// checkpoints, and a group that scales out can reach one again, so this is
// what a refresh of a typical group waits, not a bound.
func (c *InstanceRefreshConfig) checkpointPauses() int {
	return max(len(c.CheckpointPercentages)-1, 0)
}

// pausedTime is how long a refresh waits on purpose after Prepare:
// checkpointPauses delays and the bake time. The replacements come on top.
func (c *InstanceRefreshConfig) pausedTime() time.Duration {
	return time.Duration(c.checkpointPauses())*c.checkpointDelay + c.bakeTime
}

// parseBounded parses an optional duration bounded by AWS's 48 hours.
func (c *InstanceRefreshConfig) parseBounded(field, raw string, dst *time.Duration, add func(string, ...any)) {
	if raw == "" {
		return
	}
	d, ok := parseDuration(raw)
	switch {
	case !ok:
		add("%s: %q is not a duration such as 30m or 2h", field, raw)
	case d < 0 || d > maxRefreshPhaseLength:
		add("%s: must be from 0s to 48h, got %s", field, raw)
	default:
		*dst = d
	}
}

// Preferences returns the preferences to send for a group with healthy
// bounds h (see healthyFor). warmup is used when instance_warmup is not set
// (the group's own warm-up), so that even this preference is explicit.
func (c *InstanceRefreshConfig) Preferences(warmup time.Duration, h healthyBounds) *astypes.RefreshPreferences {
	if c.instanceWarmup != nil {
		warmup = *c.instanceWarmup
	}
	p := &astypes.RefreshPreferences{
		InstanceWarmup:            aws.Int32(seconds(warmup)),
		SkipMatching:              aws.Bool(*c.SkipMatching),
		AutoRollback:              aws.Bool(*c.AutoRollback),
		BakeTime:                  aws.Int32(seconds(c.bakeTime)),
		ScaleInProtectedInstances: astypes.ScaleInProtectedInstances(c.ScaleInProtectedInstances),
		StandbyInstances:          astypes.StandbyInstances(c.StandbyInstances),
	}
	if h.send() {
		p.MinHealthyPercentage = aws.Int32(int32(h.min))
		p.MaxHealthyPercentage = aws.Int32(int32(h.max))
	}
	// An empty checkpoint list once left refreshes stuck in Pending: send
	// the list and its delay only when there are checkpoints.
	if len(c.CheckpointPercentages) > 0 {
		for _, v := range c.CheckpointPercentages {
			p.CheckpointPercentages = append(p.CheckpointPercentages, int32(v))
		}
		p.CheckpointDelay = aws.Int32(seconds(c.checkpointDelay))
	}
	if len(c.Alarms) > 0 {
		p.AlarmSpecification = &astypes.AlarmSpecification{Alarms: append([]string(nil), c.Alarms...)}
	}
	return p
}

// parseDuration parses a Go duration.
func parseDuration(s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	return d, err == nil
}

func seconds(d time.Duration) int32 { return int32(d.Round(time.Second) / time.Second) }
