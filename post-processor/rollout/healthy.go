package rollout

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// AWS documents, for each of StartInstanceRefresh's MinHealthyPercentage
// and MaxHealthyPercentage: "If you do not specify this property, the
// default is 90 percent [100 percent for the maximum], or the percentage
// set in the instance maintenance policy for the Auto Scaling group, if
// defined." So for a group with a policy of its own, and neither bound set
// in the configuration, the bounds are left out of the request: the group's
// owner chose them, and they apply. Every other refresh sends both, as
// before: the plugin's defaults keep capacity up where AWS's would not.
//
// Setting one bound overrides the policy as a whole, the other taking the
// plugin's default: AWS keeps a policy's two bounds as a pair (both must be
// given, at most 100 apart), and half the user's with half the policy's
// could break that.

// healthySource says where a refresh's healthy bounds come from.
type healthySource int

const (
	// healthyDefaults: neither bound set, and the group has no policy.
	healthyDefaults healthySource = iota
	// healthyConfigured: at least one bound set in the configuration.
	healthyConfigured
	// healthyPolicy: the group's instance maintenance policy, not sent.
	healthyPolicy
)

// healthyBounds are the healthy percentages a group's refresh runs with,
// and where they come from.
type healthyBounds struct {
	min, max int
	source   healthySource
	// policy is the group's instance maintenance policy, when it has one,
	// also when the configuration overrides it.
	policy *[2]int
}

// send reports whether the bounds go into the request: all but the
// group's own policy, which AWS applies itself.
func (h healthyBounds) send() bool { return h.source != healthyPolicy }

// healthyFor works out the healthy bounds of a refresh of a group with
// instance maintenance policy p (nil when it has none). It needs Prepare to
// have run.
func (c *InstanceRefreshConfig) healthyFor(p *astypes.InstanceMaintenancePolicy) healthyBounds {
	h := healthyBounds{min: c.minHealthy, max: c.maxHealthy, policy: policyBounds(p)}
	switch {
	case c.MinHealthyPercentage != nil || c.MaxHealthyPercentage != nil:
		h.source = healthyConfigured
	case h.policy != nil:
		h.min, h.max, h.source = h.policy[0], h.policy[1], healthyPolicy
	}
	return h
}

// policyBounds is a group's instance maintenance policy as its two bounds,
// or nil when it has none. AWS reports a cleared bound as missing or -1,
// and sets both or neither.
func policyBounds(p *astypes.InstanceMaintenancePolicy) *[2]int {
	if p == nil || p.MinHealthyPercentage == nil || p.MaxHealthyPercentage == nil {
		return nil
	}
	minH, maxH := int(aws.ToInt32(p.MinHealthyPercentage)), int(aws.ToInt32(p.MaxHealthyPercentage))
	if minH < 0 || maxH < 0 {
		return nil
	}
	return &[2]int{minH, maxH}
}

// String says what the bounds are and where they come from, for the start
// line.
func (h healthyBounds) String() string {
	s := fmt.Sprintf("min healthy %d%% / max %d%%", h.min, h.max)
	switch h.source {
	case healthyPolicy:
		return s + " from the group's instance maintenance policy"
	case healthyConfigured:
		s += " as configured"
		if h.policy != nil {
			s += fmt.Sprintf(", overriding the group's instance maintenance policy (%d%% / %d%%)", h.policy[0], h.policy[1])
		}
		return s
	}
	return s + ", this plugin's defaults (the group has no instance maintenance policy)"
}

// fields names the bounds as a user would change them, for refusals.
func (h healthyBounds) fields() string {
	if h.source == healthyPolicy {
		return fmt.Sprintf("its instance maintenance policy has min healthy %d%% and max healthy %d%%", h.min, h.max)
	}
	return fmt.Sprintf("instance_refresh.max_healthy_percentage is %d with min_healthy_percentage %d", h.max, h.min)
}
