package awsemu

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// This file adds Auto Scaling actions moto 5.2.1 does not have, or has
// wrong, that a copy of a group's configuration needs:
//
//   - Notification configurations (PutNotificationConfiguration,
//     DescribeNotificationConfigurations, DeleteNotificationConfiguration,
//     DescribeAutoScalingNotificationTypes): moto has none of them. Kept per
//     group and topic; a put "overwrites any existing configuration" for
//     the topic (API Reference); the notification types are the five AWS
//     lists. No notification is ever sent.
//   - CreateAutoScalingGroup and CreateLaunchConfiguration with the name of
//     one that exists: moto replaces it (the group's instances are lost from
//     view); AWS answers AlreadyExists ("AutoScalingGroup by this name
//     already exists"), and so does the emulator.
//   - DescribeAccountLimits: moto has none. AWS's default quotas ("Quotas
//     for Amazon EC2 Auto Scaling": "Auto Scaling groups per region 500",
//     "Launch configurations per region 200") and the numbers in use; the
//     quotas can be lowered with SetAccountLimits, and CreateAutoScalingGroup
//     and CreateLaunchConfiguration refuse to go beyond them
//     (LimitExceeded).
//   - Lifecycle hooks: moto keeps PutLifecycleHook's name, transition,
//     heartbeat timeout and default result, but drops NotificationTargetARN,
//     RoleARN and NotificationMetadata and reports a made-up role and queue
//     for every hook. The emulator keeps the three and reports them as given
//     (none when none was given), with GlobalTimeout "100 times
//     HeartbeatTimeout, or 48 hours, whichever is smaller" (User Guide,
//     "Amazon EC2 Auto Scaling lifecycle hooks").

// Default quotas ("Quotas for Amazon EC2 Auto Scaling").
const (
	defaultMaxGroups               = 500
	defaultMaxLaunchConfigurations = 200
)

// accountLimits are the quotas DescribeAccountLimits reports.
type accountLimits struct{ MaxGroups, MaxLaunchConfigurations int }

// notificationTypes are the notification types AWS supports
// (DescribeAutoScalingNotificationTypes).
var notificationTypes = []string{
	"autoscaling:EC2_INSTANCE_LAUNCH",
	"autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
	"autoscaling:EC2_INSTANCE_TERMINATE",
	"autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
	"autoscaling:TEST_NOTIFICATION",
}

// SetAccountLimits sets the quotas DescribeAccountLimits reports and that
// group and launch configuration creation respect; 0 keeps AWS's default.
func (s *Server) SetAccountLimits(maxGroups, maxLaunchConfigurations int) {
	if maxGroups <= 0 {
		maxGroups = defaultMaxGroups
	}
	if maxLaunchConfigurations <= 0 {
		maxLaunchConfigurations = defaultMaxLaunchConfigurations
	}
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	s.groups.limits = accountLimits{MaxGroups: maxGroups, MaxLaunchConfigurations: maxLaunchConfigurations}
}

func (g *groupStore) getLimits() accountLimits {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limits
}

// counts returns the numbers of groups and launch configurations in use.
func counts(ctx context.Context, mc *motoClients) (groups, lcs int, err error) {
	gp := autoscaling.NewDescribeAutoScalingGroupsPaginator(mc.asg, &autoscaling.DescribeAutoScalingGroupsInput{})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return 0, 0, err
		}
		groups += len(page.AutoScalingGroups)
	}
	lp := autoscaling.NewDescribeLaunchConfigurationsPaginator(mc.asg, &autoscaling.DescribeLaunchConfigurationsInput{})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			return 0, 0, err
		}
		lcs += len(page.LaunchConfigurations)
	}
	return groups, lcs, nil
}

// checkLimits refuses a CreateAutoScalingGroup or CreateLaunchConfiguration
// that would exceed the account's quota.
func (s *Server) checkLimits(ctx context.Context, q *queryRequest) *apiError {
	limits := s.groups.getLimits()
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	groups, lcs, err := counts(ctx, mc)
	if err != nil {
		return toAPIError(err)
	}
	switch q.Action {
	case "CreateAutoScalingGroup":
		name := q.Form.Get("AutoScalingGroupName")
		g, err := mc.describeGroup(ctx, name)
		if err != nil {
			return toAPIError(err)
		}
		if g != nil {
			return senderError("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
		}
		if groups >= limits.MaxGroups {
			return senderError("LimitExceeded", "You have reached your quota of %d Auto Scaling groups in this Region.", limits.MaxGroups)
		}
	case "CreateLaunchConfiguration":
		name := q.Form.Get("LaunchConfigurationName")
		out, err := mc.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{name}})
		if err != nil {
			return toAPIError(err)
		}
		if len(out.LaunchConfigurations) > 0 {
			return senderError("AlreadyExists", "Launch Configuration by this name already exists - A launch configuration already exists with the name %s", name)
		}
		if lcs >= limits.MaxLaunchConfigurations {
			return senderError("LimitExceeded", "You have reached your quota of %d launch configurations in this Region.", limits.MaxLaunchConfigurations)
		}
	}
	return nil
}

// serveGroupExtras answers the actions of this file; it reports whether
// the action was one of them.
func (s *Server) serveGroupExtras(w http.ResponseWriter, r *http.Request, q *queryRequest) bool {
	ctx := r.Context()
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	var result *xmlNode
	var aerr *apiError
	switch q.Action {
	case "CreateLaunchConfiguration":
		if aerr := s.checkLimits(ctx, q); aerr != nil {
			writeASGError(w, aerr)
			return true
		}
		return false // moto creates it
	case "DescribeAccountLimits":
		groups, lcs, err := counts(ctx, mc)
		if err != nil {
			writeASGError(w, toAPIError(err))
			return true
		}
		l := s.groups.getLimits()
		result = elem("DescribeAccountLimitsResult",
			leafInt("MaxNumberOfAutoScalingGroups", int64(l.MaxGroups)), leafInt("MaxNumberOfLaunchConfigurations", int64(l.MaxLaunchConfigurations)),
			leafInt("NumberOfAutoScalingGroups", int64(groups)), leafInt("NumberOfLaunchConfigurations", int64(lcs)))
	case "DescribeAutoScalingNotificationTypes":
		list := elem("AutoScalingNotificationTypes")
		for _, t := range notificationTypes {
			list.add(leaf("member", t))
		}
		result = elem("DescribeAutoScalingNotificationTypesResult", list)
	case "PutNotificationConfiguration":
		aerr = s.groups.putNotification(ctx, mc, q)
	case "DeleteNotificationConfiguration":
		aerr = s.groups.deleteNotification(ctx, mc, q)
	case "DescribeNotificationConfigurations":
		result, aerr = s.groups.describeNotifications(ctx, mc, q)
	case "PutLifecycleHook":
		s.forwardNoting(w, r, q, s.groups.recordHook)
		return true
	case "DeleteLifecycleHook":
		s.forwardNoting(w, r, q, s.groups.forgetHook)
		return true
	case "DescribeLifecycleHooks":
		result, aerr = s.groups.describeHooks(ctx, mc, q)
	default:
		return false
	}
	if aerr != nil {
		writeASGError(w, aerr)
	} else {
		writeASGResult(w, q.Action, result)
	}
	return true
}

// forwardNoting forwards an Auto Scaling request to moto and, once moto
// has carried it out, has note record it.
func (s *Server) forwardNoting(w http.ResponseWriter, r *http.Request, q *queryRequest, note func(*queryRequest)) {
	answer, err := s.forward(r, q.Body)
	if err != nil {
		writeASGError(w, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK {
		note(q)
	}
	answer.write(w)
}

func (g *groupStore) putNotification(ctx context.Context, mc *motoClients, q *queryRequest) *apiError {
	group, topic := q.Form.Get("AutoScalingGroupName"), q.Form.Get("TopicARN")
	types := memberList(q.Form, "NotificationTypes")
	if topic == "" || len(types) == 0 {
		return validationError("PutNotificationConfiguration needs a TopicARN and at least one notification type.")
	}
	for _, t := range types {
		if !slicesContains(notificationTypes, t) {
			return validationError("%s is not a valid notification type; see DescribeAutoScalingNotificationTypes.", t)
		}
	}
	if _, aerr := groupARN(ctx, mc, group); aerr != nil {
		return aerr
	}
	key := groupKey{Region: q.Region, Name: group}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.notifications[key] == nil {
		g.notifications[key] = map[string][]string{}
	}
	sort.Strings(types)
	g.notifications[key][topic] = types
	return nil
}

func (g *groupStore) deleteNotification(ctx context.Context, mc *motoClients, q *queryRequest) *apiError {
	group := q.Form.Get("AutoScalingGroupName")
	if _, aerr := groupARN(ctx, mc, group); aerr != nil {
		return aerr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.notifications[groupKey{Region: q.Region, Name: group}], q.Form.Get("TopicARN"))
	return nil
}

func (g *groupStore) describeNotifications(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	groups := memberList(q.Form, "AutoScalingGroupNames")
	type entry struct{ group, topic, typ string }
	var list []entry
	g.mu.Lock()
	for key, topics := range g.notifications {
		if key.Region != q.Region || len(groups) > 0 && !slicesContains(groups, key.Name) {
			continue
		}
		for topic, types := range topics {
			for _, t := range types {
				list = append(list, entry{key.Name, topic, t})
			}
		}
	}
	g.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		return a.typ < b.typ
	})
	start, end, next, aerr := pageOf(q, len(list), 50)
	if aerr != nil {
		return nil, aerr
	}
	out := elem("NotificationConfigurations")
	for _, e := range list[start:end] {
		out.add(elem("member", leaf("AutoScalingGroupName", e.group), leaf("TopicARN", e.topic), leaf("NotificationType", e.typ)))
	}
	return elem("DescribeNotificationConfigurationsResult", out, optLeaf("NextToken", next)), nil
}

// hookFields are the PutLifecycleHook parameters moto drops.
var hookFields = []string{"NotificationTargetARN", "RoleARN", "NotificationMetadata"}

func (g *groupStore) recordHook(q *queryRequest) {
	key := groupKey{Region: q.Region, Name: q.Form.Get("AutoScalingGroupName")}
	name := q.Form.Get("LifecycleHookName")
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hooks[key] == nil {
		g.hooks[key] = map[string]url.Values{}
	}
	old := g.hooks[key][name]
	kept := url.Values{}
	for _, f := range hookFields {
		if v, ok := q.Form[f]; ok {
			kept[f] = v
		} else if old != nil && old.Get(f) != "" {
			kept[f] = old[f] // an update leaves what it does not give
		}
	}
	g.hooks[key][name] = kept
}

func (g *groupStore) forgetHook(q *queryRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.hooks[groupKey{Region: q.Region, Name: q.Form.Get("AutoScalingGroupName")}], q.Form.Get("LifecycleHookName"))
}

// describeHooks answers DescribeLifecycleHooks from moto's hooks and the
// fields the emulator kept.
func (g *groupStore) describeHooks(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group := q.Form.Get("AutoScalingGroupName")
	if _, aerr := groupARN(ctx, mc, group); aerr != nil {
		return nil, aerr
	}
	out, err := mc.asg.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookNames: memberList(q.Form, "LifecycleHookNames"),
	})
	if err != nil {
		return nil, toAPIError(err)
	}
	key := groupKey{Region: q.Region, Name: group}
	list := elem("LifecycleHooks")
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, h := range out.LifecycleHooks {
		name := aws.ToString(h.LifecycleHookName)
		kept := g.hooks[key][name]
		heartbeat := int(aws.ToInt32(h.HeartbeatTimeout))
		list.add(elem("member",
			leaf("LifecycleHookName", name), leaf("AutoScalingGroupName", group),
			optLeaf("LifecycleTransition", aws.ToString(h.LifecycleTransition)),
			optLeaf("NotificationTargetARN", kept.Get("NotificationTargetARN")), optLeaf("RoleARN", kept.Get("RoleARN")),
			optLeaf("NotificationMetadata", kept.Get("NotificationMetadata")),
			leaf("HeartbeatTimeout", strconv.Itoa(heartbeat)), leaf("GlobalTimeout", strconv.Itoa(min(100*heartbeat, 172800))),
			optLeaf("DefaultResult", aws.ToString(h.DefaultResult))))
	}
	return elem("DescribeLifecycleHooksResult", list), nil
}

// createSpecifiedHooks puts the lifecycle hooks of a CreateAutoScalingGroup
// request's LifecycleHookSpecificationList, which moto ignores: AWS,
// "LifecycleHookSpecificationList: One or more lifecycle hooks to add to
// the Auto Scaling group before instances are launched."
func (s *Server) createSpecifiedHooks(ctx context.Context, q *queryRequest) {
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	group := q.Form.Get("AutoScalingGroupName")
	for n := 1; hasPrefix(q.Form, "LifecycleHookSpecificationList.member."+strconv.Itoa(n)+"."); n++ {
		spec := subValues(q.Form, "LifecycleHookSpecificationList.member."+strconv.Itoa(n)+".")
		form := url.Values{"Action": {"PutLifecycleHook"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {group}}
		for k, v := range spec {
			form[k] = v
		}
		if _, err := mc.raw(ctx, serviceAutoScaling, form); err != nil {
			s.logf("creating lifecycle hook %s of %s: %v", spec.Get("LifecycleHookName"), group, err)
			continue
		}
		s.groups.recordHook(&queryRequest{Region: q.Region, Form: form})
	}
}
