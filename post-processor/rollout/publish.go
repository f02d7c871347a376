package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// After a roll-out succeeded, and only then, the post-processor points
// release parameters at the AMI (this file), deletes launch template
// versions no group needs (prune_versions.go) and deregisters AMIs it
// deployed before and nothing uses (prune_images.go). A failure, an
// interruption, a refresh left running or a dry run writes nothing: a
// release pointer moved before the fleet is known good makes every later
// scale-out launch an AMI that may be broken.

const (
	// imageDataType is SSM's data type for AMI ids: SSM checks that the
	// AMI exists, and Terraform and CloudFormation read it as one.
	imageDataType = "aws:ec2:image"
	// confirmFor bounds waiting for SSM to confirm a write: it validates
	// an aws:ec2:image value after PutParameter has answered, and leaves
	// the parameter as it was if the AMI is not valid.
	confirmFor = 2 * time.Minute
	// confirmEvery is the first delay between two reads of the parameter
	// while waiting; it doubles up to confirmMaxDelay.
	confirmEvery    = time.Second
	confirmMaxDelay = 15 * time.Second
)

// Release is one release parameter in one region (and account): what it
// held and what it holds now.
type Release struct {
	Name    string `mapstructure:"name" json:"name"`
	Region  string `mapstructure:"region" json:"region"`
	Account string `mapstructure:"account" json:"account,omitempty"` // the account of the role it was written with; empty: the build's own
	ImageID string `mapstructure:"image_id" json:"image_id"`
	// PreviousValue is the value before this build; empty when the
	// parameter did not exist.
	PreviousValue string `mapstructure:"previous_value" json:"previous_value"`
	// Version is the parameter's version now: the one this build wrote,
	// or the one that already held the AMI. In a dry run, the version it
	// has now.
	Version int64 `mapstructure:"version" json:"version"`
	// Written is false when the parameter already held the AMI, or when it
	// was not written at all (NotWritten says why). In a dry run: whether
	// it would be written.
	Written    bool   `mapstructure:"written" json:"written"`
	NotWritten string `mapstructure:"not_written" json:"not_written,omitempty"`
	// Error is why writing it failed, if it did.
	Error string `mapstructure:"error" json:"error,omitempty"`

	dryRun bool
}

// line is the release as the summary prints it.
func (rl Release) line() string {
	where := rl.Region
	if rl.Account != "" {
		where += ", " + rl.Account
	}
	head := fmt.Sprintf("Release parameter %s (%s): ", rl.Name, where)
	switch {
	case rl.dryRun && rl.Error != "":
		return head + "cannot be planned: " + rl.Error
	case rl.dryRun && !rl.Written:
		return head + fmt.Sprintf("already %s (version %d): a successful roll-out would write nothing", rl.ImageID, rl.Version)
	case rl.dryRun && rl.PreviousValue == "":
		return head + fmt.Sprintf("does not exist: a successful roll-out would create it with %s", rl.ImageID)
	case rl.dryRun:
		return head + fmt.Sprintf("a successful roll-out would write %s -> %s (now version %d)", rl.PreviousValue, rl.ImageID, rl.Version)
	case rl.Error != "":
		return head + "not written: " + rl.Error
	case rl.NotWritten != "":
		return head + "not written: " + rl.NotWritten
	case !rl.Written:
		return head + fmt.Sprintf("already %s (version %d), not written", rl.ImageID, rl.Version)
	case rl.PreviousValue == "":
		return head + fmt.Sprintf("first written: %s, version %d", rl.ImageID, rl.Version)
	}
	return head + fmt.Sprintf("%s -> %s, version %d", rl.PreviousValue, rl.ImageID, rl.Version)
}

// releaseRun is what happens after the roll-out: publishing and pruning.
// PostProcess makes one when any of them is configured.
type releaseRun struct {
	cfg        *Config
	newClients clientFactory
	access     accessChecks
	// regions are the region views read for pruning, shared by both
	// prunes: what the groups use does not change in between.
	regions views

	mu         sync.Mutex
	roleClient map[string]*clients // region + role ARN -> clients, made once
}

// clientsFor are the clients of region with role, made once.
func (rr *releaseRun) clientsFor(ctx context.Context, region string, role awsauth.AssumeRoleConfig) (*clients, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	key := region + "\x00" + role.RoleARN
	if c, ok := rr.roleClient[key]; ok {
		return c, nil
	}
	c, err := rr.newClients(ctx, region, role)
	if err != nil {
		return nil, err
	}
	if rr.roleClient == nil {
		rr.roleClient = map[string]*clients{}
	}
	rr.roleClient[key] = c
	return c, nil
}

// ownClients are the clients of region with the post-processor's own
// credentials: those of a target there without a role of its own, or new
// ones.
func (rr *releaseRun) ownClients(ctx context.Context, region string, ros []*rollout) (*clients, error) {
	for _, ro := range ros {
		if ro.region == region && ro.account == "" {
			return ro.clients, nil
		}
	}
	return rr.clientsFor(ctx, region, awsauth.AssumeRoleConfig{})
}

// afterRollout is what the post-processor does once the roll-out ended:
// every result of publishing and pruning, and the error that fails the
// build (only publishing does).
type afterRollout struct {
	Releases []Release      `json:"release_parameters,omitempty"`
	Versions []VersionPrune `json:"prune_versions,omitempty"`
	Images   []ImagePrune   `json:"prune_images,omitempty"`
	// pruneSkipped says why pruning, configured, did not run.
	pruneSkipped string
	err          error
}

// lines are the summary's lines about what came after the roll-out.
func (a *afterRollout) lines() []string {
	if a == nil {
		return nil
	}
	var out []string
	for _, rl := range a.Releases {
		out = append(out, rl.line())
	}
	for _, vp := range a.Versions {
		out = append(out, vp.line())
	}
	for _, ip := range a.Images {
		out = append(out, ip.line())
	}
	if a.pruneSkipped != "" {
		out = append(out, "Pruning skipped: "+a.pruneSkipped)
	}
	return out
}

// after publishes and prunes once the roll-out ended with runErr, as far
// as its outcome allows, and says so.
func (rr *releaseRun) after(ctx context.Context, r *roller, ros []*rollout, runErr error) *afterRollout {
	a := &afterRollout{}
	if rr == nil || rr.cfg.DryRun {
		return a
	}
	pruning := rr.cfg.PruneVersions != nil || rr.cfg.PruneImages != nil
	if ctx.Err() != nil {
		// Interrupted: the user asked to stop; nothing more is written.
		for _, rp := range rr.cfg.ReleaseParameters {
			for _, region := range regionsOf(ros) {
				a.Releases = append(a.Releases, Release{Name: rp.Name, Region: region, ImageID: imageOf(ros, region), NotWritten: "the build was interrupted"})
			}
		}
		if pruning {
			a.pruneSkipped = "the build was interrupted"
		}
		return a
	}
	a.Releases, a.err = rr.publish(ctx, r, ros, runErr)
	// Pruning needs the whole roll-out to have succeeded.
	switch {
	case !pruning:
		return a
	case runErr != nil || !allDeployed(ros):
		a.pruneSkipped = "the roll-out did not succeed everywhere"
		return a
	case a.err != nil:
		a.pruneSkipped = "a release parameter could not be written"
		return a
	}
	if rr.cfg.PruneVersions != nil {
		a.Versions = rr.pruneVersions(ctx, r, ros)
	}
	if rr.cfg.PruneImages != nil {
		a.Images = rr.pruneImages(ctx, r, ros)
	}
	return a
}

// allDeployed reports whether every group ends up on the new AMI.
func allDeployed(ros []*rollout) bool {
	return !slices.ContainsFunc(ros, func(ro *rollout) bool { return !ro.outcome().deployed() })
}

// regionsOf are the regions of ros, sorted.
func regionsOf(ros []*rollout) []string {
	set := map[string]bool{}
	for _, ro := range ros {
		set[ro.region] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// notPublishable says, per region, why a parameter written after `after`
// may not be written there: "" when it may. With "region", a region may
// once each of its groups ends up on the new AMI; with "all", every region
// may once every group does and the run returned no error.
func notPublishable(ros []*rollout, after string, runErr error) map[string]string {
	why := map[string]string{}
	var everywhere []string
	for _, ro := range ros {
		var not string
		switch o := ro.outcome(); {
		case !o.deployed():
			not = fmt.Sprintf("%s %s", ro.label(), o)
		case ro.err != nil:
			// Deployed, but a step after the refresh failed (such as
			// set_default_version): the region did not fully succeed.
			not = fmt.Sprintf("%s failed after its refresh", ro.label())
		}
		if not == "" {
			continue
		}
		if why[ro.region] == "" {
			why[ro.region] = not
		}
		everywhere = append(everywhere, not)
	}
	for _, region := range regionsOf(ros) {
		if after != AfterAll {
			continue
		}
		switch {
		case len(everywhere) > 0:
			why[region] = "after = \"all\" and " + everywhere[0]
		case runErr != nil:
			why[region] = "after = \"all\" and the roll-out failed"
		}
	}
	return why
}

// destination is where one release parameter is written: a region, with
// the clients of one account.
type destination struct {
	region, account string
	clients         *clients
}

// destinations are the places of rp in region: once per account of the
// region's targets, or once with rp's own role.
func (rr *releaseRun) destinations(ctx context.Context, rp ReleaseParameter, region string, ros []*rollout) ([]destination, error) {
	if rp.AssumeRole.RoleARN != "" {
		c, err := rr.clientsFor(ctx, region, rp.AssumeRole)
		if err != nil {
			return nil, err
		}
		return []destination{{region: region, account: accountOf(rp.AssumeRole.RoleARN), clients: c}}, nil
	}
	var ds []destination
	seen := map[*clients]bool{}
	for _, ro := range ros {
		if ro.region != region || seen[ro.clients] {
			continue
		}
		seen[ro.clients] = true
		ds = append(ds, destination{region: region, account: ro.account, clients: ro.clients})
	}
	slices.SortFunc(ds, func(a, b destination) int { return strings.Compare(a.account, b.account) })
	return ds, nil
}

// imageOf is the AMI ros roll in region.
func imageOf(ros []*rollout, region string) string {
	for _, ro := range ros {
		if ro.region == region {
			return ro.imageID
		}
	}
	return ""
}

// publish writes every release parameter where its scope succeeded. The
// error names each parameter that could not be written, and says that the
// fleet itself is deployed.
func (rr *releaseRun) publish(ctx context.Context, r *roller, ros []*rollout, runErr error) ([]Release, error) {
	var out []Release
	var errs []error
	for _, rp := range rr.cfg.ReleaseParameters {
		why := notPublishable(ros, rp.After, runErr)
		for _, region := range regionsOf(ros) {
			ami := imageOf(ros, region)
			if why[region] != "" {
				out = append(out, Release{Name: rp.Name, Region: region, ImageID: ami, NotWritten: why[region]})
				continue
			}
			ds, err := rr.destinations(ctx, rp, region, ros)
			if err != nil {
				out = append(out, Release{Name: rp.Name, Region: region, ImageID: ami, Error: err.Error()})
				errs = append(errs, fmt.Errorf("release parameter %s (%s): %w", rp.Name, region, err))
				continue
			}
			for _, d := range ds {
				rl := Release{Name: rp.Name, Region: region, Account: d.account, ImageID: ami}
				if err := r.writeParameter(ctx, d.clients.ssm, rp, &rl); err != nil {
					rl.Error = err.Error()
					errs = append(errs, fmt.Errorf("release parameter %s (%s): %w", rp.Name, placeName(region, d.account), err))
				}
				r.ui.Say(rl.line())
				out = append(out, rl)
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%w\nthe fleet itself is deployed as the summary shows; only publishing failed: fix the cause and run the build again (it rolls nothing that is up to date and writes only what is missing), or write the parameter(s) by hand with aws ssm put-parameter --overwrite --type String --data-type %s",
			errors.Join(errs...), imageDataType)
	}
	return out, nil
}

func placeName(region, account string) string {
	if account == "" {
		return region
	}
	return region + ", " + account
}

// writeParameter points rp at rl.ImageID, unless it already holds it, and
// waits for SSM to confirm the new version.
func (r *roller) writeParameter(ctx context.Context, api ssmAPI, rp ReleaseParameter, rl *Release) error {
	if api == nil {
		return errors.New("no SSM client")
	}
	cur, err := getParameter(ctx, api, rp.Name)
	if err != nil {
		return err
	}
	if cur != nil {
		rl.PreviousValue = aws.ToString(cur.Value)
		if err := checkWritable(rp.Name, cur); err != nil {
			return err
		}
		if rl.PreviousValue == rl.ImageID {
			// Already there: no new version. Tags that a failed earlier
			// run did not add are added; tags make no version.
			rl.Version = cur.Version
			return addMissingTags(ctx, api, rp)
		}
	}
	out, err := api.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      aws.String(rp.Name),
		Value:     aws.String(rl.ImageID),
		Type:      ssmtypes.ParameterTypeString,
		DataType:  aws.String(imageDataType),
		Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("writing SSM parameter: %w", err)
	}
	rl.Written, rl.Version = true, out.Version
	if err := r.confirmParameter(ctx, api, rp.Name, rl); err != nil {
		return err
	}
	if err := addTags(ctx, api, rp.Name, rp.Tags); err != nil {
		return fmt.Errorf("version %d holds %s, but %w", rl.Version, rl.ImageID, err)
	}
	return nil
}

// addTags puts tags on the parameter name; none is no call.
func addTags(ctx context.Context, api ssmAPI, name string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	in := &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name)}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, ssmtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	if _, err := api.AddTagsToResource(ctx, in); err != nil {
		return fmt.Errorf("tagging SSM parameter: %w", err)
	}
	return nil
}

// addMissingTags adds those of rp's tags the parameter lacks or has with
// another value.
func addMissingTags(ctx context.Context, api ssmAPI, rp ReleaseParameter) error {
	if len(rp.Tags) == 0 {
		return nil
	}
	out, err := api.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(rp.Name)})
	if err != nil {
		return fmt.Errorf("reading the tags of SSM parameter: %w", err)
	}
	have := map[string]string{}
	for _, t := range out.TagList {
		have[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	missing := map[string]string{}
	for k, v := range rp.Tags {
		if got, ok := have[k]; !ok || got != v {
			missing[k] = v
		}
	}
	return addTags(ctx, api, rp.Name, missing)
}

// confirmParameter waits until the parameter holds rl's value at rl's
// version or later: SSM validates an aws:ec2:image value after
// PutParameter answered, and on failure leaves the parameter as it was.
func (r *roller) confirmParameter(ctx context.Context, api ssmAPI, name string, rl *Release) error {
	deadline := r.now().Add(confirmFor)
	delay := confirmEvery
	for {
		cur, err := getParameter(ctx, api, name)
		if err != nil {
			return err
		}
		if cur != nil && cur.Version >= rl.Version && aws.ToString(cur.Value) == rl.ImageID {
			return nil
		}
		if cur != nil && cur.Version > rl.Version {
			return fmt.Errorf("version %d was written, and someone wrote version %d (%s) since", rl.Version, cur.Version, aws.ToString(cur.Value))
		}
		if !r.now().Before(deadline) {
			return fmt.Errorf("SSM accepted version %d but has not shown it after %s: it validates aws:ec2:image values after answering and drops a write whose AMI it cannot find; check the AMI is available in this account and region, and the parameter's history", rl.Version, shortDuration(confirmFor))
		}
		if err := r.sleep(ctx, delay); err != nil {
			return fmt.Errorf("waiting for SSM to confirm version %d: %w", rl.Version, err)
		}
		delay = min(2*delay, confirmMaxDelay)
	}
}

// getParameter reads a parameter; nil when it does not exist.
func getParameter(ctx context.Context, api ssmAPI, name string) (*ssmtypes.Parameter, error) {
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading SSM parameter: %w", err)
	}
	return out.Parameter, nil
}

// checkWritable refuses to overwrite a parameter that is not an AMI
// pointer: SSM cannot change a parameter to data type aws:ec2:image, and a
// SecureString or StringList holds something else.
func checkWritable(name string, cur *ssmtypes.Parameter) error {
	if cur.Type != ssmtypes.ParameterTypeString {
		return fmt.Errorf("SSM parameter %s is a %s; a release parameter is a String of data type %s: choose another name, or delete it (aws ssm delete-parameter --name %s) if nothing else reads it", name, cur.Type, imageDataType, name)
	}
	if dt := aws.ToString(cur.DataType); dt != "" && dt != imageDataType {
		return fmt.Errorf("SSM parameter %s has data type %s, and SSM cannot change a parameter to %s: choose another name, or delete it (aws ssm delete-parameter --name %s) and run the build again", name, dt, imageDataType, name)
	}
	return nil
}

// State keys for releases (see Artifact.State).
const (
	// releasesKey answers a list with a map of strings per release
	// parameter and place.
	releasesKey = "release_parameters"
	// GeneratedReleases is the key this artifact adds to the builder's
	// generated data: State("release_parameters") as a JSON array.
	GeneratedReleases = "AsgReleaseParameters"
)

// releaseRun is nil when nothing is to happen after the roll-out.
func (p *PostProcessor) releaseRun() *releaseRun {
	c := &p.config
	if len(c.ReleaseParameters) == 0 && c.PruneVersions == nil && c.PruneImages == nil {
		return nil
	}
	newClients := p.newClients
	if newClients == nil {
		newClients = p.awsClients
	}
	return &releaseRun{cfg: c, newClients: newClients}
}

// text is the summary's lines after the roll-out table, each after a
// newline.
func (a *afterRollout) text() string {
	var b strings.Builder
	for _, l := range a.lines() {
		b.WriteString("\n" + l)
	}
	return b.String()
}

func (a *afterRollout) releaseState() []map[string]string {
	out := []map[string]string{}
	if a == nil {
		return out
	}
	for _, rl := range a.Releases {
		out = append(out, map[string]string{
			"name":           rl.Name,
			"region":         rl.Region,
			"account":        rl.Account,
			"image_id":       rl.ImageID,
			"previous_value": rl.PreviousValue,
			"version":        strconv.FormatInt(rl.Version, 10),
			"written":        strconv.FormatBool(rl.Written),
			"not_written":    rl.NotWritten,
			"error":          rl.Error,
		})
	}
	return out
}

func (a *afterRollout) releaseJSON() string {
	js, err := json.Marshal(a.releaseState())
	if err != nil {
		return "[]" // unreachable: maps of strings always marshal
	}
	return string(js)
}
