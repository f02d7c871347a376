package awsemu

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// This file emulates the suspended processes that moto stores (it keeps
// SuspendProcesses and ResumeProcesses and reports SuspendedProcesses in
// DescribeAutoScalingGroups) but does not act on. AWS, "How suspended
// processes affect other processes" (Amazon EC2 Auto Scaling User Guide):
//
//   - "AddToLoadBalancer is suspended: Amazon EC2 Auto Scaling launches the
//     instances but does not add them to the load balancer target group or
//     Classic Load Balancer. When you resume the AddToLoadBalancer process,
//     it resumes adding instances to the load balancer when they are
//     launched. However, it does not add the instances that were launched
//     while this process was suspended. You must register those instances
//     manually."
//     moto registers every group member with the group's target groups and
//     Classic Load Balancers whenever the group changes, so the emulator
//     remembers which members joined while the process was suspended and
//     leaves them out of DescribeTargetHealth and DescribeInstanceHealth
//     until they are registered by hand (RegisterTargets,
//     RegisterInstancesWithLoadBalancer). Filtering the answers rather than
//     deregistering in moto is deliberate: moto re-registers on every
//     capacity change, and its DeregisterInstancesFromLoadBalancer does not
//     remove instances that it registered for a group.
//   - "HealthCheck is suspended: Amazon EC2 Auto Scaling stops marking
//     instances unhealthy as a result of EC2 and Elastic Load Balancing
//     health checks." Refresh replacements from an AMI marked unhealthy
//     (SetUnhealthyImages, SetUnhealthyImageTag) pass, and the refresh can
//     succeed.
//   - "ReplaceUnhealthy is suspended: Amazon EC2 Auto Scaling stops
//     replacing instances that are marked as unhealthy. Instances that fail
//     EC2 or Elastic Load Balancing health checks are still marked as
//     unhealthy." A refresh replacement that fails its health check is
//     therefore neither terminated nor replaced: it joins the group marked
//     Unhealthy, in place of the instance it replaced. The refresh still
//     waits for its new instances to pass their health checks, which this
//     one never will, so it fails as a refresh with unhealthy replacements
//     does (after the retry period), with AutoRollback if asked for, and the
//     unhealthy instance stays in the group.

// serviceELB is the signing name of Elastic Load Balancing, both versions.
const serviceELB = "elasticloadbalancing"

// Process names, as SuspendProcesses takes them.
const (
	processAddToLoadBalancer = "AddToLoadBalancer"
	processHealthCheck       = "HealthCheck"
	processReplaceUnhealthy  = "ReplaceUnhealthy"
)

// suspendedSet returns the names of the group's suspended processes.
func suspendedSet(g *asgtypes.AutoScalingGroup) map[string]bool {
	out := map[string]bool{}
	for _, p := range g.SuspendedProcesses {
		out[aws.ToString(p.ProcessName)] = true
	}
	return out
}

// lbKey is a group as one caller sees it: moto derives the account from the
// access key.
type lbKey struct{ Region, AccessKey, Group string }

// lbWatch follows a group whose AddToLoadBalancer process has been
// suspended at some point.
type lbWatch struct {
	known  map[string]bool // members already seen
	hidden map[string]bool // members that joined while AddToLoadBalancer was suspended
}

// lbHider keeps instances launched while AddToLoadBalancer was suspended
// out of the load balancers' answers.
type lbHider struct {
	api *motoAPI
	log func(string, ...any)

	mu    sync.Mutex
	watch map[lbKey]*lbWatch
}

func newLBHider(api *motoAPI, log func(string, ...any)) *lbHider {
	return &lbHider{api: api, log: log, watch: map[lbKey]*lbWatch{}}
}

// after is the gate's hook (see motoGate): it runs once moto has answered a
// request, before any other request reaches moto, so it sees every change
// of group membership exactly when it happens, whoever made it (a client,
// the group itself, or a refresh worker).
func (h *lbHider) after(ctx context.Context, req *http.Request, form url.Values, status int) {
	if status != http.StatusOK {
		return
	}
	accessKey, region, service, ok := signedScope(req)
	if !ok {
		return
	}
	action := form.Get("Action")
	switch service {
	case serviceAutoScaling:
		if strings.HasPrefix(action, "Describe") {
			return
		}
		mc := h.api.clientsFor(region, accessKey)
		if action == "SuspendProcesses" {
			procs := memberList(form, "ScalingProcesses")
			if len(procs) == 0 || slices.Contains(procs, processAddToLoadBalancer) {
				h.startWatching(ctx, mc, lbKey{region, accessKey, form.Get("AutoScalingGroupName")})
			}
		}
		h.sweep(ctx, mc, region, accessKey)
	case serviceELB:
		var ids []string
		switch action {
		case "RegisterTargets":
			ids = listField(form, "Targets.member.", ".Id")
		case "RegisterInstancesWithLoadBalancer":
			ids = listField(form, "Instances.member.", ".InstanceId")
		}
		h.unhide(region, accessKey, ids)
	}
}

// listField returns the values of keys prefix+N+suffix.
func listField(form url.Values, prefix, suffix string) []string {
	var out []string
	for k, v := range form {
		if strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// startWatching begins following a group: its current members were
// launched before the suspension and stay registered.
func (h *lbHider) startWatching(ctx context.Context, mc *motoClients, k lbKey) {
	h.mu.Lock()
	_, ok := h.watch[k]
	h.mu.Unlock()
	if ok {
		return
	}
	g, err := mc.describeGroup(ctx, k.Group)
	if err != nil || g == nil {
		h.log("AddToLoadBalancer: reading group %s: %v", k.Group, err)
		return
	}
	w := &lbWatch{known: map[string]bool{}, hidden: map[string]bool{}}
	for _, in := range g.Instances {
		w.known[aws.ToString(in.InstanceId)] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watch[k] = w
}

// sweep looks at every watched group of the caller: members that joined
// while AddToLoadBalancer is suspended are hidden for good.
func (h *lbHider) sweep(ctx context.Context, mc *motoClients, region, accessKey string) {
	h.mu.Lock()
	var keys []lbKey
	for k := range h.watch {
		if k.Region == region && k.AccessKey == accessKey {
			keys = append(keys, k)
		}
	}
	h.mu.Unlock()
	for _, k := range keys {
		g, err := mc.describeGroup(ctx, k.Group)
		if err != nil {
			h.log("AddToLoadBalancer: reading group %s: %v", k.Group, err)
			continue
		}
		h.mu.Lock()
		if g == nil {
			delete(h.watch, k) // the group is gone
			h.mu.Unlock()
			continue
		}
		w := h.watch[k]
		suspended := suspendedSet(g)[processAddToLoadBalancer]
		members := map[string]bool{}
		for _, in := range g.Instances {
			id := aws.ToString(in.InstanceId)
			members[id] = true
			if !w.known[id] {
				w.known[id] = true
				if suspended {
					w.hidden[id] = true
				}
			}
		}
		// An instance that leaves the group leaves its load balancers; one
		// attached again later is registered like any other.
		for id := range w.known {
			if !members[id] {
				delete(w.known, id)
				delete(w.hidden, id)
			}
		}
		h.mu.Unlock()
	}
}

// unhide forgets instances registered by hand.
func (h *lbHider) unhide(region, accessKey string, ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, w := range h.watch {
		if k.Region == region && k.AccessKey == accessKey {
			for _, id := range ids {
				delete(w.hidden, id)
			}
		}
	}
}

// isHidden reports whether an instance must not appear as registered.
func (h *lbHider) isHidden(region, accessKey, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, w := range h.watch {
		if k.Region == region && k.AccessKey == accessKey && w.hidden[id] {
			return true
		}
	}
	return false
}

// filter removes hidden instances from a DescribeTargetHealth or
// DescribeInstanceHealth answer.
func (h *lbHider) filter(q *queryRequest, body []byte) []byte {
	hide := func(id string) bool { return h.isHidden(q.Region, q.AccessKey, id) }
	switch q.Action {
	case "DescribeTargetHealth":
		return dropMembers(body, "TargetHealthDescriptions", []string{"Target", "Id"}, hide)
	case "DescribeInstanceHealth":
		return dropMembers(body, "InstanceStates", []string{"InstanceId"}, hide)
	}
	return body
}

// dropMembers removes each member of the list elements named list whose
// text at idPath (below the member) hide accepts. Everything else is kept
// byte for byte; a body that cannot be parsed is returned unchanged.
func dropMembers(body []byte, list string, idPath []string, hide func(id string) bool) []byte {
	var (
		member = -1 // depth of the member being read, -1 outside one
		start  int64
		drop   bool
	)
	return rewriteXML(body, func(x xmlToken) []splice {
		n := len(x.path)
		switch t := x.tok.(type) {
		case xml.StartElement:
			if member < 0 && n >= 2 && x.path[n-1] == "member" && x.path[n-2] == list {
				member, start, drop = n, x.start, false
			}
		case xml.CharData:
			if member >= 0 && n == member+len(idPath) && slices.Equal(x.path[member:], idPath) {
				drop = hide(string(bytes.TrimSpace(t)))
			}
		case xml.EndElement:
			if n == member {
				member = -1
				if drop {
					return []splice{{start: start, end: x.end}}
				}
			}
		}
		return nil
	})
}
