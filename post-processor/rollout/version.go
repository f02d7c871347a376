package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// clientTokenPrefix marks the idempotency tokens of this plugin.
const clientTokenPrefix = "asg-rollout-"

// createVersion makes the launch template versions that carry the new AMI:
// for each template the group launches from, a copy of its numbered
// version with only ImageId changed. A version we already made (adopted
// refresh), or a source version that already carries the AMI, is used as
// it is.
func (r *roller) createVersion(ctx context.Context, ro *rollout) error {
	if ro.adopted != nil {
		r.say(ro, "refresh %s of this AMI is already running: adopting it", aws.ToString(ro.adopted.InstanceRefreshId))
		return nil
	}
	if ro.lc != nil {
		return r.createLaunchConfiguration(ctx, ro)
	}
	for _, tu := range ro.templates() {
		if err := r.createTemplateVersion(ctx, ro, tu); err != nil {
			return err
		}
	}
	return nil
}

func (r *roller) createTemplateVersion(ctx context.Context, ro *rollout, tu *templateUse) error {
	if tu.sourceImage == ro.imageID {
		tu.version = tu.sourceVersion
		r.say(ro, "version %d of %s already has %s: using it as it is", tu.version, tu.templateID, ro.imageID)
		return nil
	}
	description := r.versionDescription(ro, tu)
	out, err := ro.clients.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(tu.templateID),
		SourceVersion:      aws.String(strconv.FormatInt(tu.sourceVersion, 10)),
		VersionDescription: aws.String(description),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ro.imageID)},
		ClientToken:        aws.String(clientToken(tu.templateID, tu.sourceVersion, ro.imageID, description)),
	})
	if err != nil {
		return fmt.Errorf("creating launch template (%s) version from version %d with %s for Auto Scaling group (%s): %w",
			tu.templateID, tu.sourceVersion, ro.imageID, ro.group, err)
	}
	if out.LaunchTemplateVersion == nil || out.LaunchTemplateVersion.VersionNumber == nil {
		return fmt.Errorf("creating launch template (%s) version: the answer has no version number", tu.templateID)
	}
	tu.version = aws.ToInt64(out.LaunchTemplateVersion.VersionNumber)
	tu.versionCreated = true
	r.say(ro, "created version %d of launch template %s from version %d, with %s", tu.version, tu.templateID, tu.sourceVersion, ro.imageID)
	if out.Warning != nil {
		for _, w := range out.Warning.Errors {
			r.say(ro, "warning from EC2 about version %d of %s: %s: %s", tu.version, tu.templateID, aws.ToString(w.Code), aws.ToString(w.Message))
		}
	}
	return nil
}

// versionDescription says which build and AMI made a version. It has no
// timestamp: it is part of the idempotency token.
func (r *roller) versionDescription(ro *rollout, tu *templateUse) string {
	if r.cfg.VersionDescription != "" {
		return r.cfg.VersionDescription
	}
	d := fmt.Sprintf("packer-plugin-asg: %s from version %d", ro.imageID, tu.sourceVersion)
	if b := r.cfg.PackerBuildName; b != "" {
		d += " by build " + b
	}
	return truncate(d, maxVersionDescription)
}

// clientToken derives the CreateLaunchTemplateVersion idempotency token
// from everything the request says, so that a retry after a lost answer, or
// a re-run of the same build, gets the same version back instead of a
// duplicate, and a different request never collides with it.
func clientToken(templateID string, sourceVersion int64, imageID, description string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{templateID, strconv.FormatInt(sourceVersion, 10), imageID, description}, "\x00")))
	return clientTokenPrefix + hex.EncodeToString(h[:20])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
