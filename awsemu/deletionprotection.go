package awsemu

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// This file adds what moto 5.2.1 lacks for deleting Auto Scaling groups,
// and the per-group settings the emulator keeps in front of moto
// (groupStore; scaling.go and notifications.go use it too).
//
// Deletion protection (DeletionProtection on CreateAutoScalingGroup and
// UpdateAutoScalingGroup, reported by DescribeAutoScalingGroups), as the
// Amazon EC2 Auto Scaling User Guide documents it ("Configure deletion
// protection for your Amazon EC2 Auto Scaling resources"):
//
//   - "None (default): No deletion protection is enabled, meaning your Auto
//     Scaling group can be deleted with or without using the ForceDelete
//     option."
//   - "Prevent force deletion: Your Auto Scaling group can't be deleted when
//     using the ForceDelete option. This configuration allows deletion of
//     empty Auto Scaling groups (groups with no instances)."
//   - "Prevent all deletion: Your Auto Scaling group can't be deleted
//     regardless of whether the ForceDelete option is used."
//   - "If the configured deletion protection level blocks the deletion
//     attempt, then Amazon EC2 Auto Scaling returns a ValidationError", and
//     the group and its instances stay as they are.
//
// DeleteAutoScalingGroup itself (API Reference): "If the group has
// instances or scaling activities in progress, you must specify the option
// to force the deletion in order for it to succeed. The force delete
// operation will also terminate the EC2 instances." moto deletes any group
// at once; the emulator refuses a group with instances (ResourceInUse) or
// with an instance refresh in progress (ScalingActivityInProgress) unless
// ForceDelete is set. "If the group has scaling policies, deleting the
// group deletes the policies": the emulator deletes the group's scaling
// policies, scheduled actions, notification configurations and lifecycle
// hooks with it (moto keeps its lifecycle hooks, which a new group of the
// same name would inherit).

// Deletion protection levels.
const (
	protectionNone         = "none"
	protectionPreventForce = "prevent-force-deletion"
	protectionPreventAll   = "prevent-all-deletion"
)

// groupStore keeps, per group, what the emulator adds in front of moto.
type groupStore struct {
	mu            sync.Mutex
	protection    map[groupKey]string
	policies      map[groupKey]map[string]*scalingPolicy   // by policy name
	scheduled     map[groupKey]map[string]*scheduledAction // by action name
	notifications map[groupKey]map[string][]string         // topic ARN -> notification types
	hooks         map[groupKey]map[string]url.Values       // lifecycle hook fields moto drops, by hook name
	limits        accountLimits
}

func newGroupStore() *groupStore {
	return &groupStore{
		protection:    map[groupKey]string{},
		policies:      map[groupKey]map[string]*scalingPolicy{},
		scheduled:     map[groupKey]map[string]*scheduledAction{},
		notifications: map[groupKey]map[string][]string{},
		hooks:         map[groupKey]map[string]url.Values{},
		limits:        accountLimits{MaxGroups: defaultMaxGroups, MaxLaunchConfigurations: defaultMaxLaunchConfigurations},
	}
}

// checkProtection validates the DeletionProtection of a create or update
// request.
func checkProtection(form url.Values) *apiError {
	v, ok := form["DeletionProtection"]
	if !ok {
		return nil
	}
	switch strings.Join(v, "") {
	case protectionNone, protectionPreventForce, protectionPreventAll:
		return nil
	}
	return validationError("1 validation error detected: Value '%s' at 'deletionProtection' failed to satisfy constraint: Member must satisfy enum value set: [none, prevent-force-deletion, prevent-all-deletion]", strings.Join(v, ""))
}

// recordProtection keeps the DeletionProtection of a group created or
// updated through the emulator; a create without one leaves "none".
func (g *groupStore) recordProtection(region string, form url.Values) {
	name := form.Get("AutoScalingGroupName")
	v := form.Get("DeletionProtection")
	if name == "" {
		return
	}
	key := groupKey{Region: region, Name: name}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case v == "" && form.Get("Action") == "CreateAutoScalingGroup":
		delete(g.protection, key)
	case v == protectionNone:
		delete(g.protection, key)
	case v != "":
		g.protection[key] = v
	}
}

func (g *groupStore) protectionOf(key groupKey) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v, ok := g.protection[key]; ok {
		return v
	}
	return protectionNone
}

// addDeletionProtection reports each group's level (AWS's default "none"
// included) in a DescribeAutoScalingGroups answer.
func addDeletionProtection(body []byte, lookup func(group string) string) []byte {
	return addGroupElement(body, "DeletionProtection", func(group string) (string, bool) {
		return xmlEscape(lookup(group)), true
	})
}

// forget drops everything kept for a deleted group.
func (g *groupStore) forget(key groupKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.protection, key)
	delete(g.policies, key)
	delete(g.scheduled, key)
	delete(g.notifications, key)
	delete(g.hooks, key)
}

// deleteGroup answers DeleteAutoScalingGroup.
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	name := q.Form.Get("AutoScalingGroupName")
	key := groupKey{Region: q.Region, Name: name}
	force, _ := strconv.ParseBool(q.Form.Get("ForceDelete"))
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	ctx := r.Context()
	g, err := mc.describeGroup(ctx, name)
	if err != nil {
		writeASGError(w, toAPIError(err))
		return
	}
	if g != nil {
		switch level := s.groups.protectionOf(key); {
		case level == protectionPreventAll:
			writeASGError(w, validationError("Deletion protection (%s) is enabled for Auto Scaling group %s: it cannot be deleted, with or without ForceDelete. Update the group's DeletionProtection to a less restrictive level first.", level, name))
			return
		case level == protectionPreventForce && force:
			writeASGError(w, validationError("Deletion protection (%s) is enabled for Auto Scaling group %s: it cannot be deleted with ForceDelete. Delete it without ForceDelete once it has no instances, or update its DeletionProtection first.", level, name))
			return
		case !force && len(g.Instances) > 0:
			writeASGError(w, senderError("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group."))
			return
		case !force && s.engine.refreshActive(key):
			writeASGError(w, senderError("ScalingActivityInProgress", "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group."))
			return
		}
	}
	hooks := lifecycleHookNames(ctx, mc, name)
	answer, err := s.forward(r, q.Body)
	if err != nil {
		writeASGError(w, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK {
		s.engine.forgetGroup(q.Region, name)
		s.groups.forget(key)
		for _, h := range hooks {
			if _, err := mc.asg.DeleteLifecycleHook(ctx, &autoscaling.DeleteLifecycleHookInput{AutoScalingGroupName: aws.String(name), LifecycleHookName: aws.String(h)}); err != nil {
				s.logf("deleting lifecycle hook %s of deleted group %s: %v", h, name, err)
			}
		}
	}
	answer.write(w)
}

// lifecycleHookNames lists the group's lifecycle hooks in moto.
func lifecycleHookNames(ctx context.Context, mc *motoClients, group string) []string {
	out, err := mc.asg.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		return nil
	}
	var names []string
	for _, h := range out.LifecycleHooks {
		names = append(names, aws.ToString(h.LifecycleHookName))
	}
	sort.Strings(names)
	return names
}

// refreshActive reports whether the group has an instance refresh in
// progress, a scaling activity that blocks a deletion without ForceDelete.
func (e *engine) refreshActive(key groupKey) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.activeRefreshLocked(key) != nil
}
