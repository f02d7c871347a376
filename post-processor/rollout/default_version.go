package rollout

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// setDefaultVersions makes the new versions their templates' defaults, for
// the templates the group named as $Default, when set_default_version asks
// for it. It runs after success only, on a fresh context: the deploy is done
// and this is its last step.
func (r *roller) setDefaultVersions(ro *rollout) error {
	if !r.cfg.SetDefaultVersion {
		return nil
	}
	ctx, cancel := cleanupContext()
	defer cancel()
	for _, tu := range ro.templates() {
		if ref := aws.ToString(tu.spec.Version); ref != "$Default" && ref != "" {
			continue
		}
		_, err := ro.clients.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{
			LaunchTemplateId: aws.String(tu.templateID),
			DefaultVersion:   aws.String(strconv.FormatInt(tu.version, 10)),
		})
		if err != nil {
			return fmt.Errorf("the roll-out succeeded, but making version %d the default of launch template %s (set_default_version) failed: %w", tu.version, tu.templateID, err)
		}
		r.say(ro, "made version %d the default of launch template %s (set_default_version)", tu.version, tu.templateID)
	}
	return nil
}
