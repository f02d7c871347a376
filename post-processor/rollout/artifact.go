package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// BuilderID identifies this post-processor's artifacts.
const BuilderID = "asg-rollout.post-processor.rollout"

// Result is how one group's roll-out ended.
type Result struct {
	Region           string `mapstructure:"region"`
	AutoScalingGroup string `mapstructure:"auto_scaling_group"`
	ImageID          string `mapstructure:"image_id"`
	LaunchTemplateID string `mapstructure:"launch_template_id"`
	// LaunchConfiguration is set instead for a group on a launch
	// configuration: the copy it was rolled onto.
	LaunchConfiguration string `mapstructure:"launch_configuration"`
	SourceVersion       int64  `mapstructure:"source_version"`
	Version             int64  `mapstructure:"version"`
	InstanceRefreshID   string `mapstructure:"instance_refresh_id"`
	// Status is the refresh's last known status, NotStarted, or Unknown
	// when a start was sent and whether it began a refresh is not known.
	Status string `mapstructure:"status"`
	// Outcome is how the roll-out of the group ended: "succeeded", "up to
	// date", "rolled back", "failed in place", "may still be running" or
	// "not started".
	Outcome string `mapstructure:"outcome"`
}

// Artifact describes the roll-outs. Its Destroy deletes nothing: the
// launch template versions and refreshes it names are the fleet's live
// configuration, and the AMI belongs to the builder's artifact.
type Artifact struct {
	Results []Result
}

func newArtifact(ros []*rollout) *Artifact {
	a := &Artifact{}
	for _, ro := range ros {
		res := Result{
			Region:            ro.region,
			AutoScalingGroup:  ro.group,
			ImageID:           ro.imageID,
			LaunchTemplateID:  ro.templateID,
			SourceVersion:     ro.sourceVersion,
			Version:           ro.version,
			InstanceRefreshID: ro.refreshID,
			Status:            "NotStarted",
			Outcome:           ro.outcome().String(),
		}
		if ro.lc != nil {
			res.LaunchConfiguration = ro.lc.copyName
		}
		switch {
		case ro.refreshID != "":
			res.Status = "Pending"
		case ro.startInDoubt:
			res.Status = "Unknown" // a start was sent; whether it began a refresh is not known
		}
		if ro.final != nil {
			res.Status = string(ro.final.Status)
		}
		a.Results = append(a.Results, res)
	}
	sort.Slice(a.Results, func(i, j int) bool {
		if a.Results[i].Region != a.Results[j].Region {
			return a.Results[i].Region < a.Results[j].Region
		}
		return a.Results[i].AutoScalingGroup < a.Results[j].AutoScalingGroup
	})
	return a
}

// BuilderId returns BuilderID.
func (*Artifact) BuilderId() string { return BuilderID }

// Files returns nothing: a roll-out makes no files.
func (*Artifact) Files() []string { return nil }

// Id returns "region:group:refresh-id" for each group, joined by commas.
func (a *Artifact) Id() string {
	parts := make([]string, 0, len(a.Results))
	for _, r := range a.Results {
		parts = append(parts, r.Region+":"+r.AutoScalingGroup+":"+r.InstanceRefreshID)
	}
	return strings.Join(parts, ",")
}

// String is a table with a row per group, for Packer's summary.
func (a *Artifact) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "REGION\tGROUP\tTEMPLATE\tVERSION\tAMI\tREFRESH\tSTATUS\tOUTCOME")
	for _, r := range a.Results {
		version := "-"
		if r.Version != 0 {
			version = fmt.Sprintf("%d (from %d)", r.Version, r.SourceVersion)
		}
		launches := r.LaunchTemplateID
		if r.LaunchConfiguration != "" {
			launches, version = r.LaunchConfiguration, "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Region, r.AutoScalingGroup, orDash(launches), version, r.ImageID, orDash(r.InstanceRefreshID), r.Status, r.Outcome)
	}
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// State answers "rollouts" with a list of maps of strings (one per group,
// keys as in Result's tags) and "generated_data" with the first group's
// values. Only plain strings cross the plugin boundary intact.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "rollouts":
		out := make([]map[string]string, 0, len(a.Results))
		for _, r := range a.Results {
			out = append(out, r.state())
		}
		return out
	case "generated_data":
		if len(a.Results) == 0 {
			return map[string]string{}
		}
		return a.Results[0].state()
	}
	return nil
}

func (r Result) state() map[string]string {
	return map[string]string{
		"region":               r.Region,
		"auto_scaling_group":   r.AutoScalingGroup,
		"image_id":             r.ImageID,
		"launch_template_id":   r.LaunchTemplateID,
		"launch_configuration": r.LaunchConfiguration,
		"source_version":       strconv.FormatInt(r.SourceVersion, 10),
		"version":              strconv.FormatInt(r.Version, 10),
		"instance_refresh_id":  r.InstanceRefreshID,
		"status":               r.Status,
		"outcome":              r.Outcome,
	}
}

// Destroy does nothing, on purpose (see Artifact).
func (*Artifact) Destroy() error { return nil }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
