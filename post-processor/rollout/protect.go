package rollout

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

// When a post-processor fails, Packer destroys the builder's artifact
// unless an earlier post-processor kept it: for an AMI, it deregisters it.
// A failed roll-out can still leave groups launching the new AMI: one group
// succeeded while another failed, a refresh was left running, a $Latest
// group's template now points at it, or a launch configuration could not be
// put back. Deregistering the AMI then breaks every later launch of those
// groups. So before returning such a failure the post-processor enables the
// AMI's deregistration protection, which makes Packer's destroy fail and
// keeps the AMI, and says how to lift it.

// launchesNewImage reports whether ro's group may launch the new AMI after
// the roll-out, and why.
func launchesNewImage(ro *rollout) (bool, string) {
	switch ro.outcome() {
	case outcomeSucceeded:
		return true, "its refresh succeeded"
	case outcomeUpToDate:
		return true, "it already runs it"
	case outcomeMayBeRunning:
		return true, "its refresh may still be running"
	}
	switch {
	case ro.lc != nil && ro.lc.applied:
		return true, "its launch configuration copy is still set"
	case ro.lc == nil && ro.versionCreated && aws.ToString(ro.spec.Version) == "$Latest":
		return true, "it launches $Latest, now the new version"
	}
	return false, ""
}

// protectImages enables deregistration protection on each AMI that a group
// may launch after a failed roll-out, once per region, with the
// post-processor's own credentials (the AMI belongs to the build's
// account, not to a target's).
func (p *PostProcessor) protectImages(r *roller, ros []*rollout) {
	users := map[string][]string{} // region:ami -> groups that launch it
	for _, ro := range ros {
		if ok, why := launchesNewImage(ro); ok {
			key := ro.region + ":" + ro.imageID
			users[key] = append(users[key], ro.label()+" ("+why+")")
		}
	}
	keys := make([]string, 0, len(users))
	for k := range users {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	newClients := p.newClients
	if newClients == nil {
		newClients = p.awsClients
	}
	for _, key := range keys {
		region, ami, _ := strings.Cut(key, ":")
		groups := strings.Join(users[key], ", ")
		if img := r.cachedImage(ami); img != nil && aws.ToString(img.DeregistrationProtection) != "" && aws.ToString(img.DeregistrationProtection) != "disabled" {
			continue // the builder protected it already
		}
		ctx, cancel := cleanupContext()
		c, err := newClients(ctx, region, awsauth.AssumeRoleConfig{})
		if err == nil {
			_, err = c.ec2.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ami)})
		}
		cancel()
		if err != nil {
			r.ui.Error(fmt.Sprintf("Could not protect AMI %s (%s) from deregistration (%v). This build failed, so Packer is about to deregister it while groups launch it: %s. Rebuild it, or point those groups at another AMI, before they launch again.", ami, region, err, groups))
			continue
		}
		r.ui.Say(fmt.Sprintf("Protected AMI %s (%s) from deregistration: this build failed, and Packer would deregister it while groups launch it: %s. Packer's attempt to destroy it will fail. Lift the protection once no group uses it: aws ec2 disable-image-deregistration-protection --region %s --image-id %s",
			ami, region, groups, region, ami))
	}
}
