//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput,Group

// Package preflight is the asg-rollout-preflight data source: at the start
// of packer build, before the builder launches anything, it runs the checks
// the asg-rollout post-processor runs before its first write, on the same
// targets, and fails the build when one fails.
package preflight

import (
	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
	"github.com/asg-rollout/packer-plugin-asg/post-processor/rollout"
)

// Config is the data source's configuration: the post-processor's options
// that decide what its checks find, under the same names, so that a
// post-processor's targets, instance_refresh block and access options can
// be copied here as they are.
type Config struct {
	awsauth.AccessConfig `mapstructure:",squash"`

	// The Auto Scaling groups to check, one `target` block each, as for the
	// post-processor. A target without `region` takes the data source's
	// `region`; one of the two is needed, since there is no AMI yet to take
	// it from.
	Targets []rollout.Target `mapstructure:"target" required:"true"`

	// The instance refresh preferences the post-processor will use: the
	// checks of standby and protected instances, healthy percentages and
	// auto rollback read them.
	InstanceRefresh rollout.InstanceRefreshConfig `mapstructure:"instance_refresh"`

	// The post-processor's policy for a refresh already running on a group:
	// `fail` (default) fails the pre-flight with the post-processor's
	// message; with `wait` or `cancel` the group passes with a warning that
	// says what the post-processor will do.
	OnRefreshInProgress string `mapstructure:"on_refresh_in_progress"`

	// Whether the post-processor rolls groups on launch configurations
	// (`copy_launch_configuration`). Without it such a group fails the
	// pre-flight, as it would fail the roll-out.
	CopyLaunchConfiguration bool `mapstructure:"copy_launch_configuration"`

	// How many groups are checked at the same time, 1 to 100. Defaults to
	// `10`.
	MaxConcurrency int `mapstructure:"max_concurrency"`
}

// DatasourceOutput is what the data source gives HCL, for example
// `data.asg-rollout-preflight.web.groups[0].image_id`.
type DatasourceOutput struct {
	// One entry per group that the targets name, sorted by group, region
	// and account; a target chosen by tags gives one entry per group found.
	Groups []Group `mapstructure:"groups"`
}

// Group is one checked group.
type Group struct {
	// The group's name.
	Group string `mapstructure:"group"`
	// The group's region.
	Region string `mapstructure:"region"`
	// The account of the target's role, or empty for the build's own.
	Account string `mapstructure:"account"`
	// The id of the launch template the group launches from (a mixed
	// instances policy's own); empty for a group on a launch configuration.
	LaunchTemplateID string `mapstructure:"launch_template_id"`
	// The launch template version the group runs now, as a number (a group
	// on `$Latest` or `$Default` gives the number it stands for); 0 for a
	// launch configuration.
	CurrentVersion int `mapstructure:"current_version"`
	// The launch configuration, for a group on one.
	LaunchConfiguration string `mapstructure:"launch_configuration"`
	// The AMI of the current version (or launch configuration).
	ImageID string `mapstructure:"image_id"`
	// The number of instances in the group, warm pool aside.
	InstanceCount int `mapstructure:"instance_count"`
	// The group's desired capacity.
	DesiredCapacity int `mapstructure:"desired_capacity"`
	// What the checks found worth telling but not refusing.
	Warnings []string `mapstructure:"warnings"`
}
