//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type ReleaseParameter,PruneConfig

package rollout

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// When a release parameter is written (ReleaseParameter.After).
const (
	AfterRegion = "region"
	AfterAll    = "all"
)

const (
	// maxParameterName is SSM's limit on a parameter name, in characters,
	// including the path.
	maxParameterName = 1011
	// maxParameterTags is SSM's limit on a parameter's tags.
	maxParameterTags = 50
	// maxKeep bounds prune_versions.keep and prune_images.keep: AWS allows
	// 10,000 versions per template, so keeping more prunes nothing.
	maxKeep = 10000
)

// parameterName is what SSM accepts as a parameter name: letters, digits
// and ._-/, a path starting with a slash, and no "aws" or "ssm" prefix.
var parameterName = regexp.MustCompile(`^/?[a-zA-Z0-9_.\-]+(/[a-zA-Z0-9_.\-]+)*$`)

// ReleaseParameter is an SSM parameter that points at the AMI the fleet
// runs, written only once the roll-out succeeded, for whatever else reads
// it (Terraform's aws_ssm_parameter, CloudFormation's resolve:ssm, other
// pipelines).
type ReleaseParameter struct {
	// The parameter's name, such as `/app/ami`. It is written as a `String`
	// parameter with data type `aws:ec2:image`, overwriting the value it
	// has, in every region of the artifact that has targets.
	Name string `mapstructure:"name" required:"true"`
	// When to write it: `region` (default) in each region once every group
	// of that region succeeded (or was up to date), even if another region
	// failed; `all` only once every group of the whole roll-out succeeded.
	// Never after a failure in its scope, an interruption or a detached
	// refresh, and not in a dry run, which shows what it would write.
	// (`wait = false`, which never sees an end, is refused with it.)
	After string `mapstructure:"after"`
	// Tags to put on the parameter, for example `{ team = "web" }`: at most
	// 50, keys of 1 to 128 characters, values up to 256.
	Tags map[string]string `mapstructure:"tags"`
	// A role to write the parameter with, typically in the account that
	// reads it. Defaults to the credentials of the region's targets: their
	// `assume_role` when they have one (once per account), else the
	// post-processor's own.
	AssumeRole awsauth.AssumeRoleConfig `mapstructure:"assume_role"`
}

// PruneConfig is how much of what earlier roll-outs made to keep.
type PruneConfig struct {
	// How many of the newest to keep, 1 or more. What a group or a running
	// refresh still uses is kept as well, whatever its age.
	Keep int `mapstructure:"keep" required:"true"`
}

// prepareRelease checks release_parameter, prune_versions and
// prune_images, defaulting what is left out.
func (c *Config) prepareRelease() []error {
	var errs []error
	seen := map[string]int{}
	for i := range c.ReleaseParameters {
		rp := &c.ReleaseParameters[i]
		field := fmt.Sprintf("release_parameter[%d]", i)
		switch n := utf8.RuneCountInString(rp.Name); {
		case rp.Name == "":
			errs = append(errs, fmt.Errorf(`%s.name: required, for example name = "/app/ami"`, field))
		case n > maxParameterName:
			errs = append(errs, fmt.Errorf("%s.name: an SSM parameter name has at most %d characters, got %d", field, maxParameterName, n))
		case !parameterName.MatchString(rp.Name):
			errs = append(errs, fmt.Errorf("%s.name: %q is not an SSM parameter name: use letters, digits and . _ - / (a path such as /app/ami)", field, rp.Name))
		case reservedParameterName(rp.Name):
			errs = append(errs, fmt.Errorf("%s.name: %q starts with aws or ssm, which SSM reserves", field, rp.Name))
		}
		if j, dup := seen[rp.Name+"\x00"+rp.AssumeRole.RoleARN]; dup && rp.Name != "" {
			errs = append(errs, fmt.Errorf("%s: the same parameter as release_parameter[%d] (%s); list each parameter once", field, j, rp.Name))
		} else {
			seen[rp.Name+"\x00"+rp.AssumeRole.RoleARN] = i
		}
		if err := oneOf(field+".after", &rp.After, AfterRegion, AfterAll); err != nil {
			errs = append(errs, err)
		}
		if len(rp.Tags) > maxParameterTags {
			errs = append(errs, fmt.Errorf("%s.tags: SSM allows at most %d tags on a parameter, got %d", field, maxParameterTags, len(rp.Tags)))
		}
		for _, k := range slices.Sorted(maps.Keys(rp.Tags)) {
			if err := checkParameterTag(k, rp.Tags[k]); err != nil {
				errs = append(errs, fmt.Errorf("%s.tags: %w", field, err))
			}
		}
		for _, err := range rp.AssumeRole.Prepare() {
			errs = append(errs, fmt.Errorf("%s.%w", field, err))
		}
		if arn := rp.AssumeRole.RoleARN; arn != "" && !roleARN.MatchString(arn) {
			errs = append(errs, fmt.Errorf("%s.assume_role.role_arn: %q is not an IAM role ARN such as arn:aws:iam::123456789012:role/release", field, arn))
		}
	}
	for _, p := range []struct {
		field string
		cfg   *PruneConfig
	}{{"prune_versions", c.PruneVersions}, {"prune_images", c.PruneImages}} {
		if p.cfg != nil && (p.cfg.Keep < 1 || p.cfg.Keep > maxKeep) {
			errs = append(errs, fmt.Errorf("%s.keep: must be from 1 to %d, got %d (leave the block out to prune nothing)", p.field, maxKeep, p.cfg.Keep))
		}
	}
	if c.Wait != nil && !*c.Wait && (len(c.ReleaseParameters) > 0 || c.PruneVersions != nil || c.PruneImages != nil) {
		errs = append(errs, fmt.Errorf("release_parameter, prune_versions and prune_images act only after a roll-out succeeded, which wait = false never sees; set wait = true, or remove them"))
	}
	return errs
}

func reservedParameterName(name string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	first = strings.ToLower(first)
	return strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")
}

// checkParameterTag checks a tag against SSM's limits.
func checkParameterTag(key, value string) error {
	switch kn, vn := utf8.RuneCountInString(key), utf8.RuneCountInString(value); {
	case key == "":
		return fmt.Errorf("a tag key must not be empty")
	case kn > maxTagKey:
		return fmt.Errorf("the key %.20q... has %d characters; SSM tag keys have at most %d", key, kn, maxTagKey)
	case vn > maxTagValue:
		return fmt.Errorf("the value of %q has %d characters; SSM tag values have at most %d", key, vn, maxTagValue)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return fmt.Errorf("the key %q starts with aws:, which AWS reserves", key)
	}
	return nil
}
