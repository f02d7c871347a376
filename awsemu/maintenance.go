package awsemu

import (
	"net/url"
	"strconv"
)

// This file adds the instance maintenance policy, which moto 5.2.1 does not
// know: CreateAutoScalingGroup and UpdateAutoScalingGroup accept it and drop
// it, and DescribeAutoScalingGroups never reports one. The emulator checks
// and keeps it, reports it, and applies it to instance refreshes as AWS
// documents for StartInstanceRefresh's MinHealthyPercentage: "If you do not
// specify this property, the default is 90 percent, or the percentage set in
// the instance maintenance policy for the Auto Scaling group, if defined"
// (and for MaxHealthyPercentage: "the default is 100 percent, or the
// percentage set in the instance maintenance policy").

// maintenancePolicy is a group's instance maintenance policy.
type maintenancePolicy struct{ Min, Max int }

// checkMaintenancePolicy validates the InstanceMaintenancePolicy of a
// create or update request as AWS documents it: both bounds given, -1 for
// both to clear the policy, the minimum 0 to 100, the maximum 100 to 200,
// at most 100 apart. It returns the policy to keep (nil to clear it) and
// whether the request sets one at all.
func checkMaintenancePolicy(form url.Values) (p *maintenancePolicy, given bool, aerr *apiError) {
	rawMin := form.Get("InstanceMaintenancePolicy.MinHealthyPercentage")
	rawMax := form.Get("InstanceMaintenancePolicy.MaxHealthyPercentage")
	if rawMin == "" && rawMax == "" {
		return nil, false, nil
	}
	minH, err1 := strconv.Atoi(rawMin)
	maxH, err2 := strconv.Atoi(rawMax)
	switch {
	case rawMin == "" || rawMax == "":
		return nil, true, validationError("The request isn't valid. You must specify both MinHealthyPercentage and MaxHealthyPercentage in an instance maintenance policy.")
	case err1 != nil || err2 != nil:
		return nil, true, validationError("1 validation error detected: the instance maintenance policy's healthy percentages must be integers")
	case minH == -1 && maxH == -1:
		return nil, true, nil
	case minH < 0 || minH > 100:
		return nil, true, validationError("The request isn't valid. MinHealthyPercentage in an instance maintenance policy must be from 0 to 100, or -1 to clear it; got %d.", minH)
	case maxH < 100 || maxH > 200:
		return nil, true, validationError("The request isn't valid. MaxHealthyPercentage in an instance maintenance policy must be from 100 to 200, or -1 to clear it; got %d.", maxH)
	case maxH-minH > 100:
		return nil, true, validationError("The request isn't valid. The difference between MaxHealthyPercentage (%d) and MinHealthyPercentage (%d) can't be more than 100.", maxH, minH)
	}
	return &maintenancePolicy{Min: minH, Max: maxH}, true, nil
}

// recordMaintenancePolicy keeps the policy of a group created or updated
// through the emulator (the request was checked before it reached moto).
// A create without one leaves the group without; an update without one
// leaves the policy as it was.
func (e *engine) recordMaintenancePolicy(region string, form url.Values) {
	name := form.Get("AutoScalingGroupName")
	p, given, aerr := checkMaintenancePolicy(form)
	if name == "" || aerr != nil || !given {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := groupKey{Region: region, Name: name}
	if p == nil {
		delete(e.policies, key)
		return
	}
	e.policies[key] = *p
}

// policyOf is the instance maintenance policy recorded for a group.
func (e *engine) policyOf(key groupKey) (maintenancePolicy, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.policies[key]
	return p, ok
}

// withMaintenancePolicy fills in the healthy percentages that a refresh's
// preferences leave out from the group's policy, if it has one.
func (e *engine) withMaintenancePolicy(key groupKey, p preferences) preferences {
	policy, ok := e.policyOf(key)
	if !ok {
		return p
	}
	if !p.minGiven {
		p.MinHealthy = policy.Min
	}
	if p.MaxHealthy == 0 {
		p.MaxHealthy = policy.Max
	}
	return p
}

// addMaintenancePolicies reports each group's policy in a
// DescribeAutoScalingGroups answer (see addGroupElement).
func addMaintenancePolicies(body []byte, lookup func(group string) (maintenancePolicy, bool)) []byte {
	return addGroupElement(body, "InstanceMaintenancePolicy", func(group string) (string, bool) {
		p, ok := lookup(group)
		return "<MinHealthyPercentage>" + strconv.Itoa(p.Min) + "</MinHealthyPercentage><MaxHealthyPercentage>" + strconv.Itoa(p.Max) + "</MaxHealthyPercentage>", ok
	})
}

// forgetGroup drops what the emulator keeps for a deleted group that moto
// drops, so that a group created again under its name starts without it.
func (e *engine) forgetGroup(region, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := groupKey{Region: region, Name: name}
	delete(e.warmups, key)
	delete(e.policies, key)
}
