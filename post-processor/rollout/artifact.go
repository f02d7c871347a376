package rollout

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
)

// BuilderID identifies this post-processor's artifacts.
const BuilderID = "asg-rollout.post-processor.rollout"

// State keys this artifact answers.
const (
	// rolloutsKey answers a list with a map of strings per group.
	rolloutsKey = "rollouts"
	// generatedDataKey is Packer's: a post-processor's HCL2 configuration
	// sees the generated data of the artifact it receives as build.*, and
	// the manifest post-processor renders custom_data with it.
	generatedDataKey = "generated_data"
	// GeneratedRollouts is the key this artifact adds to the builder's
	// generated data: State("rollouts") as a JSON array in one string,
	// which survives every hop (plugin RPC, HCL2 build variables, the
	// template engine) where lists and maps do not.
	GeneratedRollouts = "AsgRollouts"
)

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
	// Status is the refresh's last known status, NotStarted, Unknown
	// when a start was sent and whether it began a refresh is not known, or
	// Planned in a dry run.
	Status string `mapstructure:"status"`
	// Outcome is how the roll-out of the group ended: "succeeded", "up to
	// date", "rolled back", "failed in place", "may still be running" or
	// "not started".
	Outcome string `mapstructure:"outcome"`
	// The blue/green part (bluegreen_report.go), empty for a refresh:
	// Strategy "blue-green", the group serving now, the new and old groups,
	// and what became of the old one: "deleted", "scaled-to-zero", "kept",
	// "deletion-protected", "untouched" or "detached".
	Strategy      string `mapstructure:"strategy"`
	LiveGroup     string `mapstructure:"live_group"`
	NewGroup      string `mapstructure:"new_group"`
	OldGroup      string `mapstructure:"old_group"`
	OldGroupState string `mapstructure:"old_group_state"`
	Message       string `mapstructure:"message"`
}

// Artifact describes the roll-outs. Its Destroy deletes nothing: the
// launch template versions and refreshes it names are the fleet's live
// configuration, and the AMI belongs to the builder's artifact.
//
// To what comes after it in the chain it is the builder's artifact with the
// roll-out added: the same Id (region:ami pairs), the builder's generated
// data and HCP Packer images passed on, and each group's roll-out under
// the State keys documented on State.
type Artifact struct {
	Results []Result
	origin
	// dryRun says the roll-out was only planned: nothing was changed.
	dryRun bool
	// after is what was published and pruned after the roll-out.
	after *afterRollout
}

// origin is what the artifact passes on from the builder's.
type origin struct {
	// id is the builder artifact's Id, as it was.
	id string
	// generated is the builder artifact's generated data, and registry its
	// HCP Packer images, both passed on unread: they arrive as msgpack
	// generic types and leave as they came.
	generated map[string]interface{}
	registry  interface{}
}

// originOf reads what the artifact passes on from source. PostProcess reads
// it first, while the builder's plugin is sure to answer, not hours later.
func originOf(source packersdk.Artifact) origin {
	if source == nil {
		return origin{}
	}
	return origin{
		id:        source.Id(),
		generated: stringKeys(source.State(generatedDataKey)),
		registry:  source.State(registryimage.ArtifactStateURI),
	}
}

// newArtifact reports ros, rolled from the AMIs of the artifact from.
func newArtifact(ros []*rollout, from origin, dryRun bool) *Artifact {
	a := &Artifact{origin: from, dryRun: dryRun}
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
		if dryRun {
			res.Status = "Planned"
		}
		res.blueGreenResult(ro, dryRun)
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

// Id returns the builder artifact's Id unchanged: "region:ami-id" pairs
// joined by commas, so that whatever finds the AMI in the builder's
// artifact (splitting manifest's artifact_id, say) finds it here too.
func (a *Artifact) Id() string { return a.id }

// String is a line saying what was rolled onto what and how it went, then
// a table with a row per group, for Packer's summary.
func (a *Artifact) String() string {
	var b strings.Builder
	if a.dryRun {
		fmt.Fprintf(&b, "Dry run: planned %d Auto Scaling group(s) onto %s, changed nothing\n", len(a.Results), orDash(a.id))
	} else {
		fmt.Fprintf(&b, "Rolled %d Auto Scaling group(s) onto %s: %s\n", len(a.Results), orDash(a.id), a.tally())
	}
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
	return strings.TrimSuffix(b.String(), "\n") + a.blueGreenLines() + a.after.text()
}

// tally counts the groups by outcome, in the order outcomes first occur in
// the sorted results: "2 succeeded, 1 up to date".
func (a *Artifact) tally() string {
	var order []string
	n := map[string]int{}
	for _, r := range a.Results {
		if n[r.Outcome] == 0 {
			order = append(order, r.Outcome)
		}
		n[r.Outcome]++
	}
	if len(order) == 0 {
		return "no group"
	}
	parts := make([]string, len(order))
	for i, o := range order {
		parts[i] = fmt.Sprintf("%d %s", n[o], o)
	}
	return strings.Join(parts, ", ")
}

// State answers:
//   - "rollouts": a list with a map of strings per group (keys as in
//     Result's tags), for a post-processor of another plugin;
//   - "generated_data": the builder artifact's generated data with
//     GeneratedRollouts added. The builder's keys (SourceAMI, BuildRegion
//     and the rest) stay, so that build.* in a later post-processor's
//     configuration still holds them rather than placeholders;
//   - "release_parameters": a list with a map of strings per release
//     parameter and place (see Release), also in the generated data as
//     GeneratedReleases;
//   - registryimage.ArtifactStateURI ("par.artifact.metadata"): the builder
//     artifact's HCP Packer images, so that HCP Packer keeps the AMI
//     whichever artifact of the chain it reads.
//
// Anything else is nil.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case rolloutsKey:
		return a.rollouts()
	case generatedDataKey:
		out := make(map[string]interface{}, len(a.generated)+1)
		maps.Copy(out, a.generated)
		js, err := json.Marshal(a.rollouts())
		if err != nil {
			js = []byte("[]") // unreachable: maps of strings always marshal
		}
		out[GeneratedRollouts] = string(js)
		if a.after != nil && len(a.after.Releases) > 0 {
			out[GeneratedReleases] = a.after.releaseJSON()
		}
		return out
	case registryimage.ArtifactStateURI:
		return a.registry
	case releasesKey:
		return a.after.releaseState()
	}
	return nil
}

func (a *Artifact) rollouts() []map[string]string {
	out := make([]map[string]string, 0, len(a.Results))
	for _, r := range a.Results {
		out = append(out, r.state())
	}
	return out
}

func (r Result) state() map[string]string {
	return r.withBlueGreen(map[string]string{
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
	})
}

// stringKeys turns generated data into a map keyed by strings, whichever
// shape it arrives in: map[interface{}]interface{} from another plugin
// process, a map keyed by strings within one. Anything else is none.
func stringKeys(v interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	switch m := v.(type) {
	case map[interface{}]interface{}:
		for k, v := range m {
			if s, ok := k.(string); ok {
				out[s] = v
			}
		}
	case map[string]interface{}:
		maps.Copy(out, m)
	case map[string]string:
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Destroy does nothing, on purpose (see Artifact).
func (*Artifact) Destroy() error { return nil }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
