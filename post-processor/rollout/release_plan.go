package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// plan is what publishing and pruning would do if the roll-out
// succeeded, for a dry run: it reads and writes nothing. The new versions
// and the new AMI's tag do not exist yet; the plan counts them as if they
// did.
func (rr *releaseRun) plan(ctx context.Context, r *roller, ros []*rollout) (*afterRollout, error) {
	if rr == nil {
		return nil, nil
	}
	a := &afterRollout{}
	var errs []error
	for _, rp := range rr.cfg.ReleaseParameters {
		for _, region := range regionsOf(ros) {
			ds, err := rr.destinations(ctx, rp, region, ros)
			if err != nil {
				errs = append(errs, fmt.Errorf("release parameter %s (%s): %w", rp.Name, region, err))
				continue
			}
			for _, d := range ds {
				rl := Release{Name: rp.Name, Region: region, Account: d.account, ImageID: imageOf(ros, region), dryRun: true}
				if err := planParameter(ctx, d.clients.ssm, rp, &rl); err != nil {
					errs = append(errs, fmt.Errorf("release parameter %s (%s): %w", rp.Name, placeName(region, d.account), err))
					rl.Error = err.Error()
				}
				a.Releases = append(a.Releases, rl)
			}
		}
	}
	var keptImages map[string][]string
	if rr.cfg.PruneVersions != nil {
		a.Versions = rr.versionPrunes(ctx, r, ros, true)
		keptImages = map[string][]string{}
		for _, vp := range a.Versions {
			if vp.Error != "" {
				keptImages = nil // not known: count every version
				break
			}
			keptImages[vp.LaunchTemplateID] = append(keptImages[vp.LaunchTemplateID], vp.images...)
		}
	}
	if rr.cfg.PruneImages != nil {
		a.Images = rr.imagePrunes(ctx, r, ros, true, keptImages)
	}
	for _, vp := range a.Versions {
		if vp.Error != "" {
			errs = append(errs, fmt.Errorf("prune_versions: launch template %s (%s): %s", vp.LaunchTemplateID, placeName(vp.Region, vp.Account), vp.Error))
		}
	}
	for _, ip := range a.Images {
		if ip.Error != "" {
			errs = append(errs, fmt.Errorf("prune_images: %s: %s", ip.Region, ip.Error))
		}
	}
	return a, errors.Join(errs...)
}

// planParameter reads what rp holds and says what a successful roll-out
// would write.
func planParameter(ctx context.Context, api ssmAPI, rp ReleaseParameter, rl *Release) error {
	if api == nil {
		return errors.New("no SSM client")
	}
	cur, err := getParameter(ctx, api, rp.Name)
	if err != nil {
		return err
	}
	if cur != nil {
		rl.PreviousValue, rl.Version = aws.ToString(cur.Value), cur.Version
		if err := checkWritable(rp.Name, cur); err != nil {
			return err
		}
	}
	rl.Written = rl.PreviousValue != rl.ImageID
	return nil
}

// accessChecks are the permission checks made before the first write,
// once per template and per region.
type accessChecks struct {
	mu   sync.Mutex
	done map[string]error
}

// once runs check for key the first time and returns its answer every
// time.
func (ac *accessChecks) once(key string, check func() error) error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if err, ok := ac.done[key]; ok {
		return err
	}
	if ac.done == nil {
		ac.done = map[string]error{}
	}
	err := check()
	ac.done[key] = err
	return err
}

// checkAccess asks EC2, with DryRun, whether pruning may delete ro's
// template versions and deregister AMIs, before anything is written: a
// permission found missing only after the roll-out would leave the
// clean-up undone. Other answers than UnauthorizedOperation are left to
// the pruning itself.
func (rr *releaseRun) checkAccess(ctx context.Context, ro *rollout) error {
	if rr == nil || ro.imageID == "" {
		return nil
	}
	if rr.cfg.PruneVersions != nil && ro.lc == nil && ro.clients.cleanup != nil {
		for _, tu := range ro.templates() {
			err := rr.access.once(ro.region+"\x00"+ro.account+"\x00"+tu.templateID, func() error {
				// The request names the default version, which AWS never
				// deletes, DryRun or not.
				def, err := ro.clients.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
					LaunchTemplateId: aws.String(tu.templateID), Versions: []string{"$Default"},
				})
				if err != nil || len(def.LaunchTemplateVersions) == 0 {
					return nil // the deletion itself will say what is wrong
				}
				_, err = ro.clients.cleanup.DeleteLaunchTemplateVersions(ctx, &ec2.DeleteLaunchTemplateVersionsInput{
					DryRun:           aws.Bool(true),
					LaunchTemplateId: aws.String(tu.templateID),
					Versions:         []string{fmt.Sprint(aws.ToInt64(def.LaunchTemplateVersions[0].VersionNumber))},
				})
				if errorCode(err) == codeUnauthorizedOperation {
					return fmt.Errorf("prune_versions: the credentials of Auto Scaling group (%s) may not delete versions of launch template %s (ec2:DeleteLaunchTemplateVersions, checked with DryRun): %w; grant it, or remove prune_versions", ro.group, tu.templateID, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if rr.cfg.PruneImages != nil {
		return rr.access.once(ro.region+"\x00images", func() error {
			own, err := rr.ownClients(ctx, ro.region, []*rollout{ro})
			if err != nil || own.cleanup == nil {
				return err
			}
			_, err = own.cleanup.DeregisterImage(ctx, &ec2.DeregisterImageInput{DryRun: aws.Bool(true), ImageId: aws.String(ro.imageID)})
			if errorCode(err) == codeUnauthorizedOperation {
				return fmt.Errorf("prune_images: the build's credentials may not deregister AMIs in %s (ec2:DeregisterImage, checked with DryRun): %w; grant it, or remove prune_images", ro.region, err)
			}
			return nil
		})
	}
	return nil
}
