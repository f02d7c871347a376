//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type BlueGreenConfig

package rollout

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Roll-out strategies.
const (
	StrategyInstanceRefresh = "instance-refresh"
	StrategyBlueGreen       = "blue-green"
)

// What becomes of the old group after a blue/green cut-over.
const (
	OldGroupDelete      = "delete"
	OldGroupScaleToZero = "scale-to-zero"
	OldGroupKeep        = "keep"
)

const (
	// defaultGroupNameTemplate names the new group after the live group's
	// base name and the AMI, so that a re-run of the same build finds the
	// group it made, and a new build never collides with it.
	defaultGroupNameTemplate = "{{ .BaseName }}-{{ .ImageSuffix }}"
	// defaultHealthTimeout bounds the wait for the new group to be healthy
	// everywhere: long enough for launches, a health check grace period and
	// a few load balancer health checks, short enough that a broken AMI
	// does not hold double capacity for long.
	defaultHealthTimeout = 15 * time.Minute
)

// BlueGreenConfig holds the blue/green options, for targets with
// `strategy = "blue-green"`.
type BlueGreenConfig struct {
	// The name of the new group, as a template rendered when the roll-out
	// runs, with `{{ .BaseName }}` (the live group's `asg-rollout:base-name`
	// tag, or its name when it has none), `{{ .ImageId }}`,
	// `{{ .ImageSuffix }}` (the AMI id without `ami-`) and `{{ .Region }}`.
	// Defaults to `{{ .BaseName }}-{{ .ImageSuffix }}`. It must differ from
	// build to build (keep the AMI in it) and render the same name when the
	// same build runs again: a re-run after a crash finds the group it made
	// by this name and continues it.
	GroupName string `mapstructure:"group_name"`
	// The longest wait for every instance of the new group to be InService
	// and healthy in every target group and classic load balancer, as a Go
	// duration. Defaults to `15m`. It runs within `timeout`: whichever ends
	// first ends the wait, and the new group is then removed (or left, with
	// `on_timeout = "detach"`).
	HealthTimeout string `mapstructure:"health_timeout"`
	// What becomes of the old group once the new one serves: `delete`
	// (default) scales it to zero and deletes it; `scale-to-zero` leaves it
	// at zero instances, with its configuration, for a fast way back;
	// `keep` leaves it at full size, out of the load balancers, for an
	// instant way back. A kept group is tagged `asg-rollout:retired` and its
	// scheduled actions and alarm-driven scaling are suspended, so it never
	// scales itself back up. A group with deletion protection is left at
	// zero instances whatever this says.
	OldGroup string `mapstructure:"old_group"`

	healthTimeout time.Duration
	groupName     *template.Template
}

// prepareBlueGreen checks the strategy of the post-processor and of every
// target, and the blue_green block, returning every problem.
func (c *Config) prepareBlueGreen() []error {
	var errs []error
	if err := oneOf("strategy", &c.Strategy, StrategyInstanceRefresh, StrategyBlueGreen); err != nil {
		errs = append(errs, err)
	}
	any := false
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Strategy == "" {
			t.Strategy = c.Strategy
		}
		if err := oneOf(fmt.Sprintf("target[%d].strategy", i), &t.Strategy, StrategyInstanceRefresh, StrategyBlueGreen); err != nil {
			errs = append(errs, err)
		}
		any = any || t.Strategy == StrategyBlueGreen
	}
	bg := &c.BlueGreen
	if bg.GroupName == "" {
		bg.GroupName = defaultGroupNameTemplate
	}
	tmpl, err := template.New("group_name").Option("missingkey=error").Parse(bg.GroupName)
	if err != nil {
		errs = append(errs, fmt.Errorf("blue_green.group_name: %q is not a template such as %q: %v", bg.GroupName, defaultGroupNameTemplate, err))
	} else {
		bg.groupName = tmpl
		if _, err := renderGroupName(tmpl, groupNameData{BaseName: "web", ImageId: "ami-0123456789abcdef0", ImageSuffix: "0123456789abcdef0", Region: "us-east-1"}); err != nil {
			errs = append(errs, fmt.Errorf("blue_green.group_name: %v; the template may use only .BaseName, .ImageId, .ImageSuffix and .Region", err))
		} else if !strings.Contains(bg.GroupName, ".Image") {
			errs = append(errs, fmt.Errorf("blue_green.group_name: %q does not use .ImageId or .ImageSuffix: two builds would name their groups alike; add {{ .ImageSuffix }}", bg.GroupName))
		}
	}
	bg.healthTimeout = defaultHealthTimeout
	if bg.HealthTimeout != "" {
		d, err := time.ParseDuration(bg.HealthTimeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("blue_green.health_timeout: %q is not a duration such as 15m", bg.HealthTimeout))
		case d <= 0:
			errs = append(errs, fmt.Errorf("blue_green.health_timeout: must be positive, got %s", bg.HealthTimeout))
		default:
			bg.healthTimeout = d
		}
	}
	if err := oneOf("blue_green.old_group", &bg.OldGroup, OldGroupDelete, OldGroupScaleToZero, OldGroupKeep); err != nil {
		errs = append(errs, err)
	}
	if any && c.Wait != nil && !*c.Wait {
		errs = append(errs, errors.New(`wait: a blue/green roll-out cannot return before the new group is healthy: the cut-over is the roll-out; set wait = true or use strategy = "instance-refresh"`))
	}
	return errs
}
