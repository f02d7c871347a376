package rollout

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// amiBuilders are the artifact builder ids whose artifacts are AMIs.
// mitchellh.amazon.ebsvolume is left out on purpose: it makes EBS volumes.
var amiBuilders = []string{
	"mitchellh.amazonebs",
	"mitchellh.amazon.ebssurrogate",
	"mitchellh.amazon.instance",
	"mitchellh.amazon.chroot",
	"packer.post-processor.amazon-import",
	// This post-processor's own: its Id is the builder's, so one roll-out
	// can follow another in a chain (staging, then production).
	BuilderID,
}

// sourceImages are the AMIs of a build artifact by region.
type sourceImages map[string]string

// imagesFromArtifact reads the AMIs of an amazon artifact. It parses Id()
// ("region:ami-id" pairs joined by commas) rather than State(): state values
// reach a post-processor in another plugin process as msgpack generic types.
func imagesFromArtifact(a packersdk.Artifact) (sourceImages, error) {
	if a == nil {
		return nil, fmt.Errorf("reading artifact: no artifact")
	}
	id := a.BuilderId()
	if !slices.Contains(amiBuilders, id) {
		return nil, fmt.Errorf("reading artifact: builder %q does not make AMIs; asg-rollout works with the artifacts of %s",
			id, strings.Join(amiBuilders, ", "))
	}
	return parseImageIDs(a.Id())
}

// parseImageIDs parses "us-east-1:ami-1,eu-west-1:ami-2".
func parseImageIDs(s string) (sourceImages, error) {
	images := sourceImages{}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("reading artifact: it has no AMI (empty id); did the build skip AMI creation?")
	}
	for _, part := range strings.Split(s, ",") {
		region, ami, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || region == "" || !strings.HasPrefix(ami, "ami-") || len(ami) <= len("ami-") || strings.ContainsAny(ami+region, ": \t") {
			return nil, fmt.Errorf("reading artifact: %q is not region:ami-id", part)
		}
		if prev, dup := images[region]; dup && prev != ami {
			return nil, fmt.Errorf("reading artifact: region %s has two AMIs (%s, %s)", region, prev, ami)
		}
		images[region] = ami
	}
	return images, nil
}

// regions lists the artifact's regions, sorted.
func (s sourceImages) regions() []string {
	return slices.Sorted(maps.Keys(s))
}

// image returns the AMI of region, or an error naming the regions the
// artifact does have.
func (s sourceImages) image(region string) (string, error) {
	if ami, ok := s[region]; ok {
		return ami, nil
	}
	return "", fmt.Errorf("the artifact has no AMI in %s (it has %s); copy it there with the builder's ami_regions or point the target at one of those regions",
		region, strings.Join(s.regions(), ", "))
}
