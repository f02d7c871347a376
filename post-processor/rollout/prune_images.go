package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// prune_images deregisters AMIs this post-processor deployed before, and
// deletes their snapshots, after a roll-out succeeded. It knows its AMIs
// by a tag it puts on each AMI once every group of the region runs it,
// whose value names the launch templates (or groups, for launch
// configurations) it was deployed to: only AMIs with the same value are
// candidates, so AMIs of another application are never compared. Of
// those it keeps the newest `keep`, and any that a version kept of a
// rolled template, a version any group of the region launches from, a
// mixed instances override, a launch configuration, an instance (running
// or stopped) or an SSM parameter still references: DescribeImageReferences
// sees instances, template versions and parameters of the account, and
// the groups, overrides and launch configurations it does not see are read
// here, in the build's account and in each account with targets. An AMI
// with deregistration protection is skipped and named.

const (
	// deployedTag marks the AMIs this post-processor deployed; its value
	// names what to (deploymentValue).
	deployedTag = "asg-rollout:deployed"
	// maxImageReferenceIDs is DescribeImageReferences' limit of AMIs per
	// call.
	maxImageReferenceIDs = 10
	// maxImagePages bounds paging through AMIs, references, instances and
	// launch configurations, in case an endpoint repeats pages.
	maxImagePages = 1000
	// maxReferenceVersionDepth is the most launch template versions, from
	// the newest, DescribeImageReferences can check: 10,000, AWS's limit of
	// versions per template, so all of them.
	maxReferenceVersionDepth = "10000"
	// maxFilterValues bounds the values of one EC2 filter per call, well
	// within what EC2 accepts.
	maxFilterValues = 100
)

// liveInstanceStates are the instance states that keep an AMI: all but
// terminated.
var liveInstanceStates = []string{"pending", "running", "shutting-down", "stopping", "stopped"}

// Reasons an AMI is kept.
const (
	keptCurrentImage = "the AMI just deployed"
	keptProtection   = "deregistration protection is on (lift it to let pruning deregister it)"
)

// ImagePrune is what pruning did to the AMIs of one deployment in one
// region.
type ImagePrune struct {
	Region string `mapstructure:"region" json:"region,omitempty"`
	// Deployment is the deployedTag value the candidates share.
	Deployment   string   `mapstructure:"deployment" json:"deployment,omitempty"`
	ImageID      string   `mapstructure:"image_id" json:"image_id,omitempty"` // the AMI just deployed, tagged now
	Deregistered []string `mapstructure:"deregistered" json:"deregistered,omitempty"`
	// Snapshots are those deleted with the deregistered AMIs.
	Snapshots []string `mapstructure:"deleted_snapshots" json:"deleted_snapshots,omitempty"`
	// Kept are the candidate AMIs kept, by the reason they were.
	Kept map[string][]string `mapstructure:"kept" json:"kept,omitempty"`
	// Failed are AMIs or snapshots that could not be removed, by reason.
	Failed map[string][]string `mapstructure:"failed" json:"failed,omitempty"`
	Error  string              `mapstructure:"error" json:"error,omitempty"`

	dryRun bool
}

func (ip ImagePrune) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AMIs of %s (%s): ", ip.Deployment, ip.Region)
	verb, snaps := "deregistered", "deleted"
	if ip.dryRun {
		verb, snaps = "would deregister", "and delete"
	}
	switch {
	case ip.Error != "":
		fmt.Fprintf(&b, "pruning stopped: %s", ip.Error)
	case len(ip.Deregistered) == 0:
		b.WriteString("no AMI to deregister")
	default:
		fmt.Fprintf(&b, "%s %s", verb, strings.Join(ip.Deregistered, ", "))
		if len(ip.Snapshots) > 0 {
			fmt.Fprintf(&b, " (%s snapshots %s)", snaps, strings.Join(ip.Snapshots, ", "))
		}
	}
	for _, why := range slices.Sorted(maps.Keys(ip.Failed)) {
		fmt.Fprintf(&b, "\n  not removed, %s: %s", why, strings.Join(ip.Failed[why], ", "))
	}
	for _, why := range slices.Sorted(maps.Keys(ip.Kept)) {
		fmt.Fprintf(&b, "\n  kept %s: %s", strings.Join(ip.Kept[why], ", "), why)
	}
	return b.String()
}

// deploymentValue is the deployedTag value for ros of one region: the
// launch templates they launch from, or "asg:NAME" for groups on launch
// configurations, sorted and joined by commas; hashed when longer than a
// tag value may be.
func deploymentValue(ros []*rollout) string {
	set := map[string]bool{}
	for _, ro := range ros {
		if ro.lc != nil {
			set["asg:"+ro.group] = true
			continue
		}
		for _, tu := range ro.templates() {
			set[tu.templateID] = true
		}
	}
	v := strings.Join(slices.Sorted(maps.Keys(set)), ",")
	if len(v) > maxTagValue {
		sum := sha256.Sum256([]byte(v))
		v = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return v
}

// byRegion groups ros by region, regions sorted.
func byRegion(ros []*rollout) [][]*rollout {
	var out [][]*rollout
	for _, region := range regionsOf(ros) {
		var in []*rollout
		for _, ro := range ros {
			if ro.region == region {
				in = append(in, ro)
			}
		}
		out = append(out, in)
	}
	return out
}

// pruneImages tags each region's new AMI and prunes the older ones of the
// same deployment. Errors stop the region they happen in and are
// reported; they do not fail the build.
func (rr *releaseRun) pruneImages(ctx context.Context, r *roller, ros []*rollout) []ImagePrune {
	return rr.imagePrunes(ctx, r, ros, false, nil)
}

// imagePrunes works out, and unless dryRun carries out, the pruning of
// each region's AMIs. keptImages, in a dry run, are the AMIs of the
// template versions prune_versions would keep (nil: every version stays).
func (rr *releaseRun) imagePrunes(ctx context.Context, r *roller, ros []*rollout, dryRun bool, keptImages map[string][]string) []ImagePrune {
	keep := rr.cfg.PruneImages.Keep
	var out []ImagePrune
	for _, in := range byRegion(ros) {
		ip := ImagePrune{Region: in[0].region, Deployment: deploymentValue(in), ImageID: in[0].imageID, Kept: map[string][]string{}, dryRun: dryRun}
		if err := rr.pruneRegionImages(ctx, in, keep, dryRun, keptImages, &ip); err != nil {
			ip.Error = err.Error()
		}
		if !dryRun {
			r.ui.Say(ip.line())
		}
		out = append(out, ip)
	}
	return out
}

// candidate is an AMI of the deployment.
type candidate struct {
	id        string
	created   time.Time
	protected bool
	snapshots []string
}

func (rr *releaseRun) pruneRegionImages(ctx context.Context, ros []*rollout, keep int, dryRun bool, keptImages map[string][]string, ip *ImagePrune) error {
	region := ip.Region
	own, err := rr.ownClients(ctx, region, ros)
	if err != nil {
		return err
	}
	if own.cleanup == nil {
		return errors.New("no EC2 client for pruning")
	}
	if !dryRun {
		_, err := own.cleanup.CreateTags(ctx, &ec2.CreateTagsInput{
			Resources: []string{ip.ImageID},
			Tags:      []ec2types.Tag{{Key: aws.String(deployedTag), Value: aws.String(ip.Deployment)}},
		})
		if err != nil {
			return fmt.Errorf("tagging AMI (%s) %s=%s: %w", ip.ImageID, deployedTag, ip.Deployment, err)
		}
	}
	cands, err := deploymentImages(ctx, own.cleanup, ip.Deployment)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cands, func(c candidate) bool { return c.id == ip.ImageID }) {
		// Tags show in Describe a moment after they are set (and in a dry
		// run not at all); the new AMI comes first either way.
		cands = append(cands, candidate{id: ip.ImageID})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if (a.id == ip.ImageID) != (b.id == ip.ImageID) {
			if a.id == ip.ImageID {
				return -1
			}
			return 1
		}
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	newest := fmt.Sprintf("one of the newest %d", keep)
	kept := map[string]string{}
	var rest []candidate
	for i, c := range cands {
		switch {
		case c.id == ip.ImageID:
			kept[c.id] = keptCurrentImage
		case i < keep:
			kept[c.id] = newest
		default:
			rest = append(rest, c)
		}
	}
	if len(rest) > 0 {
		ids := make([]string, len(rest))
		for i, c := range rest {
			ids[i] = c.id
		}
		refs, err := rr.imageReferences(ctx, ros, own, ids, keptImages)
		if err != nil {
			return fmt.Errorf("finding what still uses AMIs %s (nothing was deregistered): %w", strings.Join(ids, ", "), err)
		}
		var del []candidate
		for _, c := range rest {
			switch {
			case refs[c.id] != "":
				kept[c.id] = refs[c.id]
			case c.protected:
				kept[c.id] = keptProtection
			default:
				del = append(del, c)
			}
		}
		rest = del
	}
	for id, why := range kept {
		ip.Kept[why] = append(ip.Kept[why], id)
	}
	for why := range ip.Kept {
		slices.Sort(ip.Kept[why])
	}
	for _, c := range rest {
		if dryRun {
			ip.Deregistered = append(ip.Deregistered, c.id)
			ip.Snapshots = append(ip.Snapshots, c.snapshots...)
			continue
		}
		if _, err := own.cleanup.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(c.id)}); err != nil {
			ip.fail(fmt.Sprintf("deregistering failed (%s)", errorText(err)), c.id)
			continue
		}
		ip.Deregistered = append(ip.Deregistered, c.id)
		for _, snap := range c.snapshots {
			if _, err := own.cleanup.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil {
				ip.fail(fmt.Sprintf("snapshot of %s not deleted (%s)", c.id, errorText(err)), snap)
				continue
			}
			ip.Snapshots = append(ip.Snapshots, snap)
		}
	}
	slices.Sort(ip.Deregistered)
	slices.Sort(ip.Snapshots)
	return nil
}

func (ip *ImagePrune) fail(why, id string) {
	if ip.Failed == nil {
		ip.Failed = map[string][]string{}
	}
	ip.Failed[why] = append(ip.Failed[why], id)
}

// errorText is an AWS error's code and message, or the error.
func errorText(err error) string {
	var apiErr interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return err.Error()
}

// deploymentImages are the build account's AMIs tagged for deployment.
func deploymentImages(ctx context.Context, api cleanupAPI, deployment string) ([]candidate, error) {
	in := &ec2.DescribeImagesInput{
		Owners:     []string{"self"},
		Filters:    []ec2types.Filter{{Name: aws.String("tag:" + deployedTag), Values: []string{deployment}}},
		MaxResults: aws.Int32(1000),
	}
	var out []candidate
	seen := map[string]bool{}
	for page := 0; page < maxImagePages; page++ {
		res, err := api.DescribeImages(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing AMIs tagged %s=%s: %w", deployedTag, deployment, err)
		}
		for _, img := range res.Images {
			if !hasImageTag(img, deployedTag, deployment) {
				continue // the filter is the server's business; the decision is ours
			}
			c := candidate{id: aws.ToString(img.ImageId)}
			c.created, _ = time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
			if p := aws.ToString(img.DeregistrationProtection); p != "" && p != "disabled" {
				c.protected = true
			}
			for _, bdm := range img.BlockDeviceMappings {
				if bdm.Ebs != nil && aws.ToString(bdm.Ebs.SnapshotId) != "" {
					c.snapshots = append(c.snapshots, aws.ToString(bdm.Ebs.SnapshotId))
				}
			}
			out = append(out, c)
		}
		next := aws.ToString(res.NextToken)
		if next == "" {
			return out, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("listing AMIs: the API repeated page token %q", next)
		}
		seen[next] = true
		in.NextToken = res.NextToken
	}
	return nil, fmt.Errorf("listing AMIs: gave up after %d pages", maxImagePages)
}

func hasImageTag(img ec2types.Image, key, value string) bool {
	return slices.ContainsFunc(img.Tags, func(t ec2types.Tag) bool {
		return aws.ToString(t.Key) == key && aws.ToString(t.Value) == value
	})
}

// imageReferences says, of each AMI of ids that something still uses,
// what: in the build's account (own) and in each account of the region's
// targets.
func (rr *releaseRun) imageReferences(ctx context.Context, ros []*rollout, own *clients, ids []string, keptImages map[string][]string) (map[string]string, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	refs := map[string]string{}
	note := func(id, why string) {
		if want[id] && refs[id] == "" {
			refs[id] = why
		}
	}
	// The versions of the rolled templates, after version pruning.
	for _, rt := range rolledTemplates(ros) {
		if keptImages != nil {
			for _, img := range keptImages[rt.id] {
				note(img, "in a version of launch template "+rt.id)
			}
			continue
		}
		versions, _, err := listVersions(ctx, rt.clients.cleanup, rt.id)
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			note(v.image, fmt.Sprintf("in version %d of launch template %s", v.number, rt.id))
		}
	}
	// Each account: its groups, launch configurations, instances, and
	// what DescribeImageReferences finds.
	accounts := []*clients{own}
	for _, ro := range ros {
		if !slices.Contains(accounts, ro.clients) {
			accounts = append(accounts, ro.clients)
		}
	}
	for _, c := range accounts {
		if c.cleanup == nil {
			return nil, errors.New("no EC2 client for pruning")
		}
		view, err := rr.view(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := groupImageRefs(ctx, c, view, note); err != nil {
			return nil, err
		}
		if err := launchConfigurationRefs(ctx, c, note); err != nil {
			return nil, err
		}
		if err := instanceRefs(ctx, c, ids, note); err != nil {
			return nil, err
		}
		// In a dry run the versions prune_versions would delete still
		// exist, and DescribeImageReferences would name their templates:
		// those templates' versions are counted above instead.
		var counted []string
		if keptImages != nil {
			for id := range keptImages {
				counted = append(counted, id)
			}
		}
		if err := describedRefs(ctx, c, ids, counted, note); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// groupImageRefs notes the AMIs the region's groups use: override
// ImageIds (their own and their running refresh's), their instances' and
// warm pool instances' AMIs, and those of the template versions they name.
func groupImageRefs(ctx context.Context, c *clients, view *regionView, note func(id, why string)) error {
	for _, g := range view.groups {
		name := aws.ToString(g.AutoScalingGroupName)
		overrides := func(mip *astypes.MixedInstancesPolicy, why string) {
			if mip != nil && mip.LaunchTemplate != nil {
				for _, o := range mip.LaunchTemplate.Overrides {
					note(aws.ToString(o.ImageId), why)
				}
			}
		}
		overrides(g.MixedInstancesPolicy, "an override ImageId of Auto Scaling group "+name)
		if ir, ok := view.refreshes[name]; ok && ir.DesiredConfiguration != nil {
			overrides(ir.DesiredConfiguration.MixedInstancesPolicy, "an override ImageId of the running refresh of Auto Scaling group "+name)
		}
		for _, in := range g.Instances {
			note(aws.ToString(in.ImageId), "instance "+aws.ToString(in.InstanceId)+" of Auto Scaling group "+name)
		}
		for _, in := range view.pools[name] {
			note(aws.ToString(in.ImageId), "warm pool instance "+aws.ToString(in.InstanceId)+" of Auto Scaling group "+name)
		}
	}
	// The versions the groups name, each read once.
	done := map[string]bool{}
	for _, ref := range view.templateRefs() {
		id, tname, ver := aws.ToString(ref.spec.LaunchTemplateId), aws.ToString(ref.spec.LaunchTemplateName), aws.ToString(ref.spec.Version)
		if ver == "" {
			ver = "$Default"
		}
		key := id + "\x00" + tname + "\x00" + ver
		if done[key] || (id == "" && tname == "") {
			continue
		}
		done[key] = true
		in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{ver}}
		if id != "" {
			in.LaunchTemplateId = aws.String(id)
		} else {
			in.LaunchTemplateName = aws.String(tname)
		}
		out, err := c.cleanup.DescribeLaunchTemplateVersions(ctx, in)
		if err != nil {
			if strings.HasPrefix(errorCode(err), "InvalidLaunchTemplate") {
				continue // a group naming a template that is gone launches nothing from it
			}
			return fmt.Errorf("describing launch template (%s) version %s: %w", id+tname, ver, err)
		}
		for _, v := range out.LaunchTemplateVersions {
			if v.LaunchTemplateData != nil {
				note(aws.ToString(v.LaunchTemplateData.ImageId), fmt.Sprintf("in version %d of launch template %s, %s", aws.ToInt64(v.VersionNumber), aws.ToString(v.LaunchTemplateId), ref.why))
			}
		}
	}
	return nil
}

// launchConfigurationRefs notes the AMIs of every launch configuration.
func launchConfigurationRefs(ctx context.Context, c *clients, note func(id, why string)) error {
	in := &autoscaling.DescribeLaunchConfigurationsInput{MaxRecords: aws.Int32(100)}
	seen := map[string]bool{}
	for page := 0; page < maxImagePages; page++ {
		out, err := c.autoscaling.DescribeLaunchConfigurations(ctx, in)
		if err != nil {
			return fmt.Errorf("listing launch configurations: %w", err)
		}
		for _, lc := range out.LaunchConfigurations {
			note(aws.ToString(lc.ImageId), "launch configuration "+aws.ToString(lc.LaunchConfigurationName))
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("listing launch configurations: the API repeated page token %q", next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	return fmt.Errorf("listing launch configurations: gave up after %d pages", maxImagePages)
}

// instanceRefs notes the AMIs of instances that are not terminated: a
// stopped instance starts again from its volumes, but AWS needs the AMI for
// some of its operations, and the owner may want it back.
func instanceRefs(ctx context.Context, c *clients, ids []string, note func(id, why string)) error {
	for start := 0; start < len(ids); start += maxFilterValues {
		if err := instanceRefsOf(ctx, c, ids[start:min(start+maxFilterValues, len(ids))], note); err != nil {
			return err
		}
	}
	return nil
}

func instanceRefsOf(ctx context.Context, c *clients, ids []string, note func(id, why string)) error {
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("image-id"), Values: ids},
		{Name: aws.String("instance-state-name"), Values: liveInstanceStates},
	}}
	seen := map[string]bool{}
	for page := 0; page < maxImagePages; page++ {
		out, err := c.cleanup.DescribeInstances(ctx, in)
		if err != nil {
			return fmt.Errorf("listing instances of the AMIs: %w", err)
		}
		for _, res := range out.Reservations {
			for _, i := range res.Instances {
				state := ""
				if i.State != nil {
					state = string(i.State.Name)
				}
				if state == "terminated" {
					continue
				}
				note(aws.ToString(i.ImageId), fmt.Sprintf("instance %s (%s)", aws.ToString(i.InstanceId), state))
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("listing instances: the API repeated page token %q", next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	return fmt.Errorf("listing instances: gave up after %d pages", maxImagePages)
}

// describedRefs notes what DescribeImageReferences finds: instances,
// launch template versions, SSM parameters and Image Builder recipes of
// the account.
func describedRefs(ctx context.Context, c *clients, ids, counted []string, note func(id, why string)) error {
	for start := 0; start < len(ids); start += maxImageReferenceIDs {
		in := &ec2.DescribeImageReferencesInput{
			ImageIds:                ids[start:min(start+maxImageReferenceIDs, len(ids))],
			IncludeAllResourceTypes: aws.Bool(true),
			// Overriding two defaults: every instance state (terminated
			// instances need no AMI), and only the newest 10 versions of a
			// template (every version can still be launched).
			ResourceTypes: []ec2types.ResourceTypeRequest{
				{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance, ResourceTypeOptions: []ec2types.ResourceTypeOption{{
					OptionName: ec2types.ImageReferenceOptionNameStateName, OptionValues: liveInstanceStates,
				}}},
				{ResourceType: ec2types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: []ec2types.ResourceTypeOption{{
					OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{maxReferenceVersionDepth},
				}}},
			},
		}
		seen := map[string]bool{}
		for page := 0; ; page++ {
			if page == maxImagePages {
				return fmt.Errorf("describing image references: gave up after %d pages", maxImagePages)
			}
			out, err := c.cleanup.DescribeImageReferences(ctx, in)
			if err != nil {
				return fmt.Errorf("describing image references: %w", err)
			}
			for _, ref := range out.ImageReferences {
				arn := aws.ToString(ref.Arn)
				if ref.ResourceType == ec2types.ImageReferenceResourceTypeEc2LaunchTemplate && slices.ContainsFunc(counted, func(id string) bool { return strings.HasSuffix(arn, ":launch-template/"+id) }) {
					continue
				}
				note(aws.ToString(ref.ImageId), fmt.Sprintf("referenced by %s %s", ref.ResourceType, arn))
			}
			next := aws.ToString(out.NextToken)
			if next == "" {
				break
			}
			if seen[next] {
				return fmt.Errorf("describing image references: the API repeated page token %q", next)
			}
			seen[next] = true
			in.NextToken = out.NextToken
		}
	}
	return nil
}
