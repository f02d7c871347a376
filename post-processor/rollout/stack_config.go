//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type StackTarget

package rollout

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// StackTarget names a CloudFormation stack whose Auto Scaling groups take
// the new AMI through one of the stack's parameters. The post-processor
// updates the stack with its previous template, only that parameter
// changed, and follows the update to its end: the stack's own update
// policy replaces the instances, and the stack's own rollback undoes a
// failure.
type StackTarget struct {
	// The stack's name (`StackName`), or its stack id (an ARN), as
	// `aws cloudformation describe-stacks` shows it. Required.
	StackName string `mapstructure:"stack_name" required:"true"`
	// The stack's region. Defaults to the post-processor's `region`, and
	// without it to the region of the artifact's AMI when the artifact has
	// exactly one.
	Region string `mapstructure:"region"`
	// The stack parameter (`ParameterKey`) that carries the AMI, typically
	// of type `AWS::EC2::Image::Id`: the post-processor sets it to the
	// artifact's AMI in the stack's region. Set this or `image_parameters`.
	ImageParameter string `mapstructure:"image_parameter"`
	// Several parameters that carry AMIs, each with the region whose AMI of
	// the artifact it takes, for a stack with several launch templates or
	// a template that takes AMIs of several regions, for example
	// `{ WebImageId = "us-east-1", ReplicaImageId = "eu-west-1" }` (the
	// builder's `ami_regions` copies the AMI there). Set this or
	// `image_parameter`.
	ImageParameters map[string]string `mapstructure:"image_parameters"`
	// The wave this stack rolls in, 1 or more, as for `target`. Defaults to
	// `1`.
	Wave int `mapstructure:"wave"`
	// A role to assume for this stack only, typically in another account,
	// as for `target`. Without `role_arn` in the stack's own `assume_role`
	// the stack update runs with the post-processor's credentials (or the
	// stack's service role, if it has one).
	AssumeRole awsauth.AssumeRoleConfig `mapstructure:"assume_role"`
}

// stackNameRE is CloudFormation's pattern for a stack name;
// stackIDRE the shape of a stack id.
var (
	stackNameRE = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)
	stackIDRE   = regexp.MustCompile(`^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:[0-9]{12}:stack/[a-zA-Z][-a-zA-Z0-9]*/[-a-zA-Z0-9]+$`)
	// parameterKeyRE: parameter names are logical ids, alphanumeric.
	parameterKeyRE = regexp.MustCompile(`^[a-zA-Z0-9]{1,255}$`)
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// prepareStacks validates the stack blocks and defaults their waves. It
// returns the waves the stacks use, for the checks that span targets and
// stacks.
func (c *Config) prepareStacks() (errs []error, waves map[int]bool) {
	waves = map[int]bool{}
	if len(c.Stacks) > 0 && c.PruneImages != nil {
		// A stack rolls back to the AMI its parameter held, and its launch
		// templates' older versions name older AMIs: which of them the
		// stack may still need is the stack's to know, not this plugin's.
		errs = append(errs, errors.New("prune_images: not available with stack blocks: a stack's rollback needs the AMI its parameter held before, and its launch templates keep older AMIs the plugin does not track; prune those AMIs another way, or roll the stacks in a build without prune_images"))
	}
	seen := map[[3]string]int{}
	for i := range c.Stacks {
		s := &c.Stacks[i]
		field := fmt.Sprintf("stack[%d]", i)
		switch {
		case s.StackName == "":
			errs = append(errs, fmt.Errorf(`%s.stack_name: required, for example stack_name = "web-prod"`, field))
		case stackIDRE.MatchString(s.StackName):
		case !stackNameRE.MatchString(s.StackName):
			errs = append(errs, fmt.Errorf("%s.stack_name: %q is neither a stack name (a letter, then letters, digits and hyphens, at most 128) nor a stack id (arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID)", field, s.StackName))
		}
		switch {
		case s.ImageParameter == "" && len(s.ImageParameters) == 0:
			errs = append(errs, fmt.Errorf(`%s: set image_parameter, the stack parameter that carries the AMI (for example image_parameter = "ImageId"), or image_parameters`, field))
		case s.ImageParameter != "" && len(s.ImageParameters) > 0:
			errs = append(errs, fmt.Errorf("%s: set image_parameter or image_parameters, not both", field))
		case s.ImageParameter != "" && !parameterKeyRE.MatchString(s.ImageParameter):
			errs = append(errs, fmt.Errorf("%s.image_parameter: %q is not a CloudFormation parameter name (letters and digits only)", field, s.ImageParameter))
		}
		for _, k := range slices.Sorted(maps.Keys(s.ImageParameters)) {
			if !parameterKeyRE.MatchString(k) {
				errs = append(errs, fmt.Errorf("%s.image_parameters: %q is not a CloudFormation parameter name (letters and digits only)", field, k))
			}
			if v := s.ImageParameters[k]; !regionRE.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s.image_parameters: %s = %q is not a region such as \"us-east-1\"; the value names the region whose AMI of the artifact the parameter takes", field, k, v))
			}
		}
		if s.Wave == 0 {
			s.Wave = 1
		} else if s.Wave < 0 {
			errs = append(errs, fmt.Errorf("%s.wave: must be 1 or more, got %d", field, s.Wave))
		}
		waves[s.Wave] = true
		for _, err := range s.AssumeRole.Prepare() {
			errs = append(errs, fmt.Errorf("%s.%w", field, err))
		}
		if arn := s.AssumeRole.RoleARN; arn != "" && !roleARN.MatchString(arn) {
			errs = append(errs, fmt.Errorf("%s.assume_role.role_arn: %q is not an IAM role ARN such as arn:aws:iam::123456789012:role/deploy", field, arn))
		}
		region, account := c.stackPlace(s)
		key := [3]string{region, account, s.StackName}
		if j, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: the same stack as stack[%d] (%s in %s of %s); list each stack once", field, j, s.StackName, regionName(region), accountName(account)))
		} else {
			seen[key] = i
		}
	}
	return errs, waves
}

// stackPlace is placeOf for a stack block.
func (c *Config) stackPlace(s *StackTarget) (region, account string) {
	return c.placeOf(&Target{Region: s.Region, AssumeRole: s.AssumeRole})
}
