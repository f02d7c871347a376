package rollout

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Since 2025-11 an override of a mixed instances policy may carry its own
// ImageId, which takes precedence over the AMI of the template it launches
// from. A new template version does not reach such an override: the group
// would keep launching the old AMI while the build reports success. So the
// desired configuration carries the new AMI on every override that has an
// ImageId, and everything that asks what a group runs looks at those
// ImageIds as well as at the templates.

// overrideLabel names an override as a reader of the group's policy finds
// it: by position (from 1) and, when it has one, by instance type.
func overrideLabel(i int, o astypes.LaunchTemplateOverrides) string {
	if t := aws.ToString(o.InstanceType); t != "" {
		return fmt.Sprintf("override %d (%s)", i+1, t)
	}
	return fmt.Sprintf("override %d", i+1)
}

// withOverrideImages sets ami on every override that carries an ImageId,
// in place, and leaves the others alone: they launch the AMI of their
// template, which gets its own new version.
func withOverrideImages(overrides []astypes.LaunchTemplateOverrides, ami string) {
	for i := range overrides {
		if aws.ToString(overrides[i].ImageId) != "" {
			overrides[i].ImageId = aws.String(ami)
		}
	}
}

// launchedImage is one AMI a group launches today, and what makes it
// launch it.
type launchedImage struct{ what, image string }

// launchedImages are the AMIs the group launches today, one entry per
// thing that decides one: its launch configuration; or, for each override
// of a mixed instances policy, the override's ImageId or else its
// template's AMI (the main template when there are no overrides, or when
// an override names no template of its own). A template whose every user
// carries an ImageId launches nothing, and is not listed.
func (ro *rollout) launchedImages() []launchedImage {
	if ro.lc != nil {
		return []launchedImage{{"launch configuration " + ro.lc.name, ro.lc.sourceImage}}
	}
	templateImage := func(tu *templateUse) launchedImage {
		return launchedImage{"launch template " + tu.templateID, tu.sourceImage}
	}
	if ro.mixed == nil || ro.mixed.LaunchTemplate == nil || len(ro.mixed.LaunchTemplate.Overrides) == 0 {
		return []launchedImage{templateImage(&ro.templateUse)}
	}
	byOverride := map[int]*templateUse{}
	for _, tu := range ro.overrides {
		byOverride[tu.override] = tu
	}
	var out []launchedImage
	seen := map[launchedImage]bool{}
	for i, o := range ro.mixed.LaunchTemplate.Overrides {
		li := templateImage(&ro.templateUse)
		switch {
		case aws.ToString(o.ImageId) != "":
			li = launchedImage{overrideLabel(i, o), aws.ToString(o.ImageId)}
		case byOverride[i] != nil:
			li = templateImage(byOverride[i])
		}
		if !seen[li] {
			seen[li] = true
			out = append(out, li)
		}
	}
	return out
}

// overrideImageSources are the overrides of the group's policy that carry
// an ImageId, as launchedImages names them.
func overrideImageSources(mixed *astypes.MixedInstancesPolicy) []launchedImage {
	if mixed == nil || mixed.LaunchTemplate == nil {
		return nil
	}
	var out []launchedImage
	for i, o := range mixed.LaunchTemplate.Overrides {
		if id := aws.ToString(o.ImageId); id != "" {
			out = append(out, launchedImage{overrideLabel(i, o), id})
		}
	}
	return out
}

// replaceRootVolumeProblems lists what the group and the new AMI lack for
// the ReplaceRootVolume strategy, which AWS would otherwise refuse only at
// StartInstanceRefresh, after the versions exist: a mixed instances policy,
// an ImageId on every override (the desired configuration must carry
// ImageId overrides, so a policy without overrides does not do either),
// and an AMI with a single root volume (one EBS block device mapping).
func replaceRootVolumeProblems(mixed *astypes.MixedInstancesPolicy, img *ec2types.Image) []string {
	var problems []string
	switch {
	case mixed == nil || mixed.LaunchTemplate == nil:
		problems = append(problems, "the group has no mixed instances policy (it names its launch template directly)")
	case len(mixed.LaunchTemplate.Overrides) == 0:
		problems = append(problems, "its mixed instances policy has no overrides, and the AMI to put on the root volumes comes from each override's ImageId")
	default:
		var missing []string
		for i, o := range mixed.LaunchTemplate.Overrides {
			if aws.ToString(o.ImageId) == "" {
				missing = append(missing, overrideLabel(i, o))
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s of its mixed instances policy %s no ImageId", strings.Join(missing, ", "), hasOrHave(len(missing))))
		}
	}
	if img != nil {
		var ebs []string
		for _, m := range img.BlockDeviceMappings {
			if m.Ebs != nil {
				ebs = append(ebs, aws.ToString(m.DeviceName))
			}
		}
		switch len(ebs) {
		case 1:
		case 0:
			problems = append(problems, fmt.Sprintf("AMI %s has no EBS root volume", aws.ToString(img.ImageId)))
		default:
			problems = append(problems, fmt.Sprintf("AMI %s has %d EBS volumes (%s), and only an AMI with a single root volume can replace one", aws.ToString(img.ImageId), len(ebs), strings.Join(ebs, ", ")))
		}
	}
	return problems
}

func hasOrHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}
