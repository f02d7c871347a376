package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// prune_versions deletes launch template versions no one needs, after a
// roll-out succeeded: of each template the roll-out moved, it keeps the
// newest `keep` and, whatever their age, the default version, every
// version a group of the region launches from or still has instances of
// (directly, through a mixed instances policy or its override templates,
// or in a warm pool, retired groups at zero capacity included), every
// version named by a refresh that is running (and so could still be rolled
// back), and the version each group ran before (the way back).

const (
	// maxDeleteVersions is DeleteLaunchTemplateVersions' limit per call.
	maxDeleteVersions = 200
	// maxVersionPages bounds paging through a template's versions (200 a
	// page, 10,000 per template), in case an endpoint repeats pages.
	maxVersionPages = 100
)

// Reasons a version is kept, in the order they are told.
const (
	keptDefault  = "the default version"
	keptDeployed = "the version just deployed"
	keptPrevious = "the version just replaced (the way back)"
)

// VersionPrune is what pruning did to one launch template.
type VersionPrune struct {
	Region           string `mapstructure:"region" json:"region,omitempty"`
	Account          string `mapstructure:"account" json:"account,omitempty"`
	LaunchTemplateID string `mapstructure:"launch_template_id" json:"launch_template_id,omitempty"`
	// Deleted are the versions deleted (in a dry run: that would be).
	Deleted []int64 `mapstructure:"deleted" json:"deleted,omitempty"`
	// Kept are the versions kept, by the reason they were.
	Kept map[string][]int64 `mapstructure:"kept" json:"kept,omitempty"`
	// Failed are the versions AWS refused to delete, by its reason.
	Failed map[string][]int64 `mapstructure:"failed" json:"failed,omitempty"`
	// Error is why pruning this template stopped, if it did.
	Error string `mapstructure:"error" json:"error,omitempty"`

	// images are the AMIs of the versions kept (prune_images keeps them).
	images []string
	dryRun bool
}

// line is the prune as the summary prints it: one line per reason.
func (vp VersionPrune) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Launch template %s (%s): ", vp.LaunchTemplateID, placeName(vp.Region, vp.Account))
	verb := "deleted"
	if vp.dryRun {
		verb = "would delete"
	}
	switch {
	case vp.Error != "":
		fmt.Fprintf(&b, "pruning stopped: %s", vp.Error)
		if len(vp.Deleted) > 0 {
			fmt.Fprintf(&b, " (%s %d version(s) before: %s)", verb, len(vp.Deleted), numberRanges(vp.Deleted))
		}
	case len(vp.Deleted) == 0:
		fmt.Fprintf(&b, "no version to delete")
	default:
		fmt.Fprintf(&b, "%s %d version(s): %s", verb, len(vp.Deleted), numberRanges(vp.Deleted))
	}
	for _, why := range slices.Sorted(maps.Keys(vp.Failed)) {
		fmt.Fprintf(&b, "\n  not deleted, %s: %s", why, numberRanges(vp.Failed[why]))
	}
	for _, why := range keptOrder(vp.Kept) {
		fmt.Fprintf(&b, "\n  kept %s: %s", numberRanges(vp.Kept[why]), why)
	}
	return b.String()
}

// keptOrder sorts the reasons: the fixed ones first, then the rest by
// name.
func keptOrder(kept map[string][]int64) []string {
	rank := func(why string) int {
		switch {
		case why == keptDefault:
			return 0
		case why == keptDeployed:
			return 1
		case why == keptPrevious:
			return 2
		case strings.HasPrefix(why, "one of the newest"):
			return 3
		}
		return 4
	}
	return slices.SortedFunc(maps.Keys(kept), func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// numberRanges formats sorted or unsorted numbers as "1-3, 5, 7-9".
func numberRanges(ns []int64) string {
	s := slices.Clone(ns)
	slices.Sort(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.FormatInt(s[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// templateVersion is one version of a template as listed.
type templateVersion struct {
	number    int64
	isDefault bool
	image     string
}

// decideVersions splits versions into those to delete and those to keep
// with the reason for each. protect holds what must stay whatever its age
// (the first reason given for a version wins); the newest keep versions
// stay too, counting pending versions not created yet (a dry run's).
func decideVersions(versions []templateVersion, keep, pending int, protect map[int64]string) (del []int64, kept map[int64]string) {
	kept = map[int64]string{}
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, func(a, b templateVersion) int { return int(b.number - a.number) })
	newest := fmt.Sprintf("one of the newest %d", keep)
	for i, v := range sorted {
		switch {
		case v.isDefault:
			kept[v.number] = keptDefault
		case protect[v.number] != "":
			kept[v.number] = protect[v.number]
		case i < keep-pending:
			kept[v.number] = newest
		default:
			del = append(del, v.number)
		}
	}
	slices.Sort(del)
	return del, kept
}

// regionView is what a region's groups use, as read once per account and
// region for pruning: their launch template versions and AMIs.
type regionView struct {
	groups []astypes.AutoScalingGroup
	// refreshes are the running refreshes, by group.
	refreshes map[string]astypes.InstanceRefresh
	// pools are warm pool instances, by group.
	pools map[string][]astypes.Instance
}

// readRegion reads every group of c's region, its running refresh and its
// warm pool.
func readRegion(ctx context.Context, c *clients) (*regionView, error) {
	v := &regionView{refreshes: map[string]astypes.InstanceRefresh{}, pools: map[string][]astypes.Instance{}}
	in := &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(100)}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxGroupPages {
			return nil, fmt.Errorf("listing Auto Scaling groups: gave up after %d pages", maxGroupPages)
		}
		out, err := c.autoscaling.DescribeAutoScalingGroups(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing Auto Scaling groups: %w", err)
		}
		v.groups = append(v.groups, out.AutoScalingGroups...)
		next := aws.ToString(out.NextToken)
		if next == "" {
			break
		}
		if seen[next] {
			return nil, fmt.Errorf("listing Auto Scaling groups: the API repeated page token %q", next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	for _, g := range v.groups {
		name := aws.ToString(g.AutoScalingGroupName)
		// A group has at most one refresh that has not ended, and it is
		// the newest.
		out, err := c.autoscaling.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String(name), MaxRecords: aws.Int32(1)})
		if err != nil {
			return nil, fmt.Errorf("describing instance refreshes of Auto Scaling group (%s): %w", name, err)
		}
		for _, ir := range out.InstanceRefreshes {
			if refreshRunning(ir.Status) {
				v.refreshes[name] = ir
			}
		}
		if g.WarmPoolConfiguration == nil || c.pools == nil {
			continue
		}
		wp := &autoscaling.DescribeWarmPoolInput{AutoScalingGroupName: aws.String(name)}
		pages := map[string]bool{}
		for {
			out, err := c.pools.DescribeWarmPool(ctx, wp)
			if err != nil {
				return nil, fmt.Errorf("describing the warm pool of Auto Scaling group (%s): %w", name, err)
			}
			v.pools[name] = append(v.pools[name], out.Instances...)
			next := aws.ToString(out.NextToken)
			if next == "" || pages[next] {
				break
			}
			pages[next] = true
			wp.NextToken = out.NextToken
		}
	}
	return v, nil
}

// refreshRunning reports whether a refresh in status s has not ended: AWS
// can roll back only such a refresh, and it still launches from the
// versions it names. A status this code does not know counts as running.
func refreshRunning(s astypes.InstanceRefreshStatus) bool {
	switch s {
	case astypes.InstanceRefreshStatusSuccessful, astypes.InstanceRefreshStatusFailed, astypes.InstanceRefreshStatusCancelled,
		astypes.InstanceRefreshStatusRollbackSuccessful, astypes.InstanceRefreshStatusRollbackFailed:
		return false
	}
	return true
}

// templateRef is one place a group names a template version.
type templateRef struct {
	spec astypes.LaunchTemplateSpecification
	why  string
}

// templateRefs are every template version the region's groups name: the
// group's own template or its mixed instances policy's and overrides', its
// instances' and warm pool instances', and those of its running refresh.
func (v *regionView) templateRefs() []templateRef {
	var refs []templateRef
	add := func(spec *astypes.LaunchTemplateSpecification, why string) {
		if spec != nil {
			refs = append(refs, templateRef{*spec, why})
		}
	}
	for _, g := range v.groups {
		name := aws.ToString(g.AutoScalingGroupName)
		launched := "launched by Auto Scaling group " + name
		add(g.LaunchTemplate, launched)
		if mip := g.MixedInstancesPolicy; mip != nil && mip.LaunchTemplate != nil {
			add(mip.LaunchTemplate.LaunchTemplateSpecification, launched)
			for _, o := range mip.LaunchTemplate.Overrides {
				add(o.LaunchTemplateSpecification, launched+" (an override)")
			}
		}
		for _, in := range g.Instances {
			add(in.LaunchTemplate, "instances of Auto Scaling group "+name)
		}
		for _, in := range v.pools[name] {
			add(in.LaunchTemplate, "the warm pool of Auto Scaling group "+name)
		}
		if ir, ok := v.refreshes[name]; ok {
			why := fmt.Sprintf("named by instance refresh %s (%s) of Auto Scaling group %s", aws.ToString(ir.InstanceRefreshId), ir.Status, name)
			if dc := ir.DesiredConfiguration; dc != nil {
				add(dc.LaunchTemplate, why)
				if mip := dc.MixedInstancesPolicy; mip != nil && mip.LaunchTemplate != nil {
					add(mip.LaunchTemplate.LaunchTemplateSpecification, why)
					for _, o := range mip.LaunchTemplate.Overrides {
						add(o.LaunchTemplateSpecification, why)
					}
				}
			}
		}
	}
	return refs
}

// protectedVersions are the versions of template (id, name) that the
// region's groups name, with the reason; $Latest and $Default (or no
// version, which means $Default) are resolved against versions.
func (v *regionView) protectedVersions(id, name string, versions []templateVersion) map[int64]string {
	var latest, def int64
	for _, tv := range versions {
		latest = max(latest, tv.number)
		if tv.isDefault {
			def = tv.number
		}
	}
	out := map[int64]string{}
	for _, ref := range v.templateRefs() {
		refID, refName := aws.ToString(ref.spec.LaunchTemplateId), aws.ToString(ref.spec.LaunchTemplateName)
		if (refID == "" || refID != id) && (refID != "" || refName == "" || refName != name) {
			continue
		}
		var n int64
		switch ver := aws.ToString(ref.spec.Version); ver {
		case "$Latest":
			n = latest
		case "", "$Default":
			n = def
		default:
			var err error
			if n, err = strconv.ParseInt(ver, 10, 64); err != nil {
				continue
			}
		}
		if _, ok := out[n]; !ok {
			out[n] = ref.why
		}
	}
	return out
}

// listVersions lists every version of a template.
func listVersions(ctx context.Context, api cleanupAPI, id string) (versions []templateVersion, name string, err error) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), MaxResults: aws.Int32(200)}
	seen := map[string]bool{}
	for page := 0; page < maxVersionPages; page++ {
		out, err := api.DescribeLaunchTemplateVersions(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("listing the versions of launch template (%s): %w", id, err)
		}
		for _, lv := range out.LaunchTemplateVersions {
			tv := templateVersion{number: aws.ToInt64(lv.VersionNumber), isDefault: aws.ToBool(lv.DefaultVersion)}
			if lv.LaunchTemplateData != nil {
				tv.image = aws.ToString(lv.LaunchTemplateData.ImageId)
			}
			name = aws.ToString(lv.LaunchTemplateName)
			versions = append(versions, tv)
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return versions, name, nil
		}
		if seen[next] {
			return nil, "", fmt.Errorf("listing the versions of launch template (%s): the API repeated page token %q", id, next)
		}
		seen[next] = true
		in.NextToken = out.NextToken
	}
	return nil, "", fmt.Errorf("listing the versions of launch template (%s): gave up after %d pages", id, maxVersionPages)
}

// rolledTemplate is one template the roll-out moved, in one account and
// region, with the versions its groups ran and now run.
type rolledTemplate struct {
	region, account string
	clients         *clients
	id              string
	previous, now   []int64
	// asIs are live versions that already carried the AMI, so that the
	// roll-out replaced none (a re-run): their way back is found by AMI.
	asIs []int64
	// creates: a roll-out would create a version of it (a dry run's
	// pending version).
	creates bool
}

// rolledTemplates are the templates ros moved, sorted by region, account
// and id.
func rolledTemplates(ros []*rollout) []*rolledTemplate {
	m := map[string]*rolledTemplate{}
	for _, ro := range ros {
		for _, tu := range ro.templates() {
			if tu.templateID == "" {
				continue
			}
			key := ro.region + "\x00" + ro.account + "\x00" + tu.templateID
			rt, ok := m[key]
			if !ok {
				rt = &rolledTemplate{region: ro.region, account: ro.account, clients: ro.clients, id: tu.templateID}
				m[key] = rt
			}
			switch {
			case tu.sourceImage == ro.imageID:
				rt.asIs = append(rt.asIs, tu.sourceVersion)
			default:
				rt.previous = append(rt.previous, tu.sourceVersion)
				rt.creates = true
			}
			if tu.version != 0 {
				rt.now = append(rt.now, tu.version)
			}
		}
	}
	var out []*rolledTemplate
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// views are the region views read so far, by the clients of their
// account and region.
type views map[*clients]*regionView

// view reads c's account and region once.
func (rr *releaseRun) view(ctx context.Context, c *clients) (*regionView, error) {
	if v, ok := rr.regions[c]; ok {
		return v, nil
	}
	v, err := readRegion(ctx, c)
	if err != nil {
		return nil, err
	}
	if rr.regions == nil {
		rr.regions = views{}
	}
	rr.regions[c] = v
	return v, nil
}

// pruneVersions prunes each template the roll-out moved. Errors stop the
// template they happen in and are reported; they do not fail the build,
// whose fleet is deployed: a re-run prunes what is left.
func (rr *releaseRun) pruneVersions(ctx context.Context, r *roller, ros []*rollout) []VersionPrune {
	return rr.versionPrunes(ctx, r, ros, false)
}

// versionPrunes works out, and unless dryRun carries out, the pruning of
// every template ros moved. In a dry run the new versions do not exist
// yet: each counts among the newest, and the version a group runs now is
// the one it would replace.
func (rr *releaseRun) versionPrunes(ctx context.Context, r *roller, ros []*rollout, dryRun bool) []VersionPrune {
	keep := rr.cfg.PruneVersions.Keep
	var out []VersionPrune
	for _, rt := range rolledTemplates(ros) {
		vp := VersionPrune{Region: rt.region, Account: rt.account, LaunchTemplateID: rt.id, Kept: map[string][]int64{}, dryRun: dryRun}
		images, err := rr.pruneTemplate(ctx, rt, keep, dryRun, &vp)
		if err != nil {
			vp.Error = err.Error()
		}
		vp.images = images
		if !dryRun {
			r.ui.Say(vp.line())
		}
		out = append(out, vp)
	}
	return out
}

// pruneTemplate prunes one template and returns the AMIs of the versions
// it kept.
func (rr *releaseRun) pruneTemplate(ctx context.Context, rt *rolledTemplate, keep int, dryRun bool, vp *VersionPrune) ([]string, error) {
	if rt.clients.cleanup == nil {
		return nil, fmt.Errorf("no EC2 client for pruning")
	}
	// Groups first: a version created after this read is newer than any
	// listed below, so it is never a candidate.
	view, err := rr.view(ctx, rt.clients)
	if err != nil {
		return nil, err
	}
	versions, name, err := listVersions(ctx, rt.clients.cleanup, rt.id)
	if err != nil {
		return nil, err
	}
	protect := map[int64]string{}
	for _, n := range rt.now {
		protect[n] = keptDeployed
	}
	for _, n := range append(slices.Clone(rt.previous), wayBack(versions, rt.asIs)...) {
		if protect[n] == "" {
			protect[n] = keptPrevious
		}
	}
	for n, why := range view.protectedVersions(rt.id, name, versions) {
		if protect[n] == "" {
			protect[n] = why
		}
	}
	pending := 0
	if dryRun && rt.creates {
		pending = 1
	}
	del, kept := decideVersions(versions, keep, pending, protect)
	var images []string
	imageOf := map[int64]string{}
	for _, tv := range versions {
		imageOf[tv.number] = tv.image
	}
	for n, why := range kept {
		vp.Kept[why] = append(vp.Kept[why], n)
		images = append(images, imageOf[n])
	}
	for why := range vp.Kept {
		slices.Sort(vp.Kept[why])
	}
	if dryRun {
		vp.Deleted = del
		return images, nil
	}
	for start := 0; start < len(del); start += maxDeleteVersions {
		batch := del[start:min(start+maxDeleteVersions, len(del))]
		in := &ec2.DeleteLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(rt.id)}
		for _, n := range batch {
			in.Versions = append(in.Versions, strconv.FormatInt(n, 10))
		}
		out, err := rt.clients.cleanup.DeleteLaunchTemplateVersions(ctx, in)
		if err != nil {
			return images, fmt.Errorf("deleting versions %s: %w", numberRanges(batch), err)
		}
		for _, ok := range out.SuccessfullyDeletedLaunchTemplateVersions {
			vp.Deleted = append(vp.Deleted, aws.ToInt64(ok.VersionNumber))
		}
		for _, bad := range out.UnsuccessfullyDeletedLaunchTemplateVersions {
			why := "refused"
			if e := bad.ResponseError; e != nil {
				why = strings.TrimSpace(string(e.Code) + ": " + aws.ToString(e.Message))
			}
			if vp.Failed == nil {
				vp.Failed = map[string][]int64{}
			}
			vp.Failed[why] = append(vp.Failed[why], aws.ToInt64(bad.VersionNumber))
			// Not deleted: its AMI is still referenced.
			images = append(images, imageOf[aws.ToInt64(bad.VersionNumber)])
		}
	}
	slices.Sort(vp.Deleted)
	return images, nil
}

// wayBack finds, for each live version that a roll-out used as it was
// (it already carried the AMI, as on a re-run), the version it replaced:
// the newest older version with another AMI.
func wayBack(versions []templateVersion, live []int64) []int64 {
	image := map[int64]string{}
	for _, v := range versions {
		image[v.number] = v.image
	}
	var out []int64
	for _, n := range live {
		var best int64
		for _, v := range versions {
			if v.number < n && v.number > best && v.image != image[n] {
				best = v.number
			}
		}
		if best != 0 {
			out = append(out, best)
		}
	}
	return out
}
