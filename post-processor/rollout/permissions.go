package rollout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// EC2 answers a DryRun request with one of these error codes instead of
// acting: DryRunOperation when the caller may make the call, and
// UnauthorizedOperation when not.
const (
	codeDryRunOperation       = "DryRunOperation"
	codeUnauthorizedOperation = "UnauthorizedOperation"
)

// checkPermissions asks EC2, with DryRun, whether the build's credentials
// may make the writes the roll-out of ro will make, and launch from the
// group's current version, before anything is written: a missing
// permission otherwise shows only after the versions exist, or as
// launches that fail during the refresh.
//
// For every launch template the group launches from, it dry-runs
// CreateLaunchTemplateVersion exactly as createVersion sends it
// (SourceVersion the current version, only ImageId: the new AMI, or the
// current one before the bake), and RunInstances from the current version
// in one of the group's subnets. UnauthorizedOperation refuses the
// roll-out; any other answer to RunInstances is a warning, since a single
// launch outside Auto Scaling can fail for reasons the group's own
// launches do not meet. Groups on launch configurations are not checked:
// CreateLaunchConfiguration has no DryRun.
func (r *roller) checkPermissions(ctx context.Context, ro *rollout, g astypes.AutoScalingGroup) error {
	if ro.lc != nil {
		return nil
	}
	for _, tu := range ro.templates() {
		if ro.adopted == nil {
			if err := r.dryRunCreateVersion(ctx, ro, tu); err != nil {
				return err
			}
		}
		warning, err := dryRunLaunch(ctx, ro.clients.ec2, ro, tu, g)
		if err != nil {
			return err
		}
		if warning != "" {
			ro.warnings = append(ro.warnings, warning)
		}
	}
	return nil
}

// dryRunCreateVersion dry-runs the CreateLaunchTemplateVersion call that
// createVersion makes for tu.
func (r *roller) dryRunCreateVersion(ctx context.Context, ro *rollout, tu *templateUse) error {
	image := ro.imageID
	if image == "" {
		image = tu.sourceImage
	}
	if image == "" {
		return nil // nothing to send that createVersion would send
	}
	_, err := ro.clients.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		DryRun:             aws.Bool(true),
		LaunchTemplateId:   aws.String(tu.templateID),
		SourceVersion:      aws.String(strconv.FormatInt(tu.sourceVersion, 10)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(image)},
	})
	switch code := errorCode(err); code {
	case codeDryRunOperation:
		return nil
	case codeUnauthorizedOperation:
		return fmt.Errorf("Auto Scaling group (%s) cannot be given a new version of launch template (%s): EC2 answered UnauthorizedOperation to a DryRun of CreateLaunchTemplateVersion with the build's credentials; allow ec2:CreateLaunchTemplateVersion on %s (%w)",
			ro.group, tu.templateID, templateARN(ro, tu), err)
	case "":
		// A DryRun that succeeds is not a DryRun: nothing may have been
		// created, but say so rather than go on as if checked.
		return fmt.Errorf("checking permission to create a version of launch template (%s) for Auto Scaling group (%s): EC2 answered a DryRun without DryRunOperation", tu.templateID, ro.group)
	default:
		return fmt.Errorf("checking permission to create a version of launch template (%s) for Auto Scaling group (%s) with a DryRun: %w", tu.templateID, ro.group, err)
	}
}

// dryRunLaunch dry-runs a launch of one instance from tu's current
// version. It returns a warning for an answer other than DryRunOperation
// or UnauthorizedOperation, and an error for UnauthorizedOperation.
func dryRunLaunch(ctx context.Context, run ec2API, ro *rollout, tu *templateUse, g astypes.AutoScalingGroup) (string, error) {
	in := &ec2.RunInstancesInput{
		DryRun:   aws.Bool(true),
		MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(tu.templateID),
			Version:          aws.String(strconv.FormatInt(tu.sourceVersion, 10)),
		},
	}
	// Launch where the group launches: its first subnet, and with a mixed
	// instances policy the first instance type it names (the template may
	// have none).
	if subnet, _, _ := strings.Cut(aws.ToString(g.VPCZoneIdentifier), ","); strings.TrimSpace(subnet) != "" {
		in.SubnetId = aws.String(strings.TrimSpace(subnet))
	}
	if ro.mixed != nil && ro.mixed.LaunchTemplate != nil {
		for _, o := range ro.mixed.LaunchTemplate.Overrides {
			if t := aws.ToString(o.InstanceType); t != "" {
				in.InstanceType = ec2types.InstanceType(t)
				break
			}
		}
	}
	_, err := run.RunInstances(ctx, in)
	what := fmt.Sprintf("launch template (%s) version %d", tu.templateID, tu.sourceVersion)
	switch code := errorCode(err); code {
	case codeDryRunOperation:
		return "", nil
	case codeUnauthorizedOperation:
		return "", fmt.Errorf("Auto Scaling group (%s) launches from %s, and EC2 answered UnauthorizedOperation to a DryRun of RunInstances from it with the build's credentials: AWS checks that whoever starts a refresh onto a version may launch from it; allow ec2:RunInstances on the template, its AMI, subnets, security groups, network interfaces and volumes, iam:PassRole for its instance profile, and the KMS key use of its encrypted volumes (aws sts decode-authorization-message decodes the message below into the missing permission) (%w)",
			ro.group, what, err)
	case "":
		return "", fmt.Errorf("checking permission to launch from %s for Auto Scaling group (%s): EC2 answered a DryRun of RunInstances without DryRunOperation", what, ro.group)
	case "?":
		return "", fmt.Errorf("checking permission to launch from %s for Auto Scaling group (%s) with a DryRun: %w", what, ro.group, err)
	default:
		return fmt.Sprintf("a DryRun of RunInstances from %s was answered %s, not DryRunOperation: launches during the refresh may fail the same way (%v)", what, code, err), nil
	}
}

// errorCode is the API error code of err, "" when err is nil or carries
// none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	if err != nil {
		return "?"
	}
	return ""
}

// templateARN is tu's ARN as an IAM policy names it.
func templateARN(ro *rollout, tu *templateUse) string {
	account := ro.account
	if account == "" {
		account = "ACCOUNT"
	}
	return fmt.Sprintf("arn:aws:ec2:%s:%s:launch-template/%s", ro.region, account, tu.templateID)
}
