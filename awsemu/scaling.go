package awsemu

import (
	"context"
	"encoding/xml"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// This file keeps scaling policies and scheduled actions per group. moto
// 5.2.1 stores both by name alone across all groups, so a policy or an
// action put on a second group under the same name (as a blue/green copy
// of a group does) silently moves off the first group, and deleting it
// from one group deletes the other's. AWS scopes both to their group
// (PutScalingPolicy: "PolicyName: The name of the policy"; the policy's ARN
// carries "autoScalingGroupName/…:policyName/…"; DeletePolicy and
// DeleteScheduledAction take the group's name). The emulator answers
// PutScalingPolicy, DescribePolicies, DeletePolicy, ExecutePolicy,
// PutScheduledUpdateGroupAction, BatchPutScheduledUpdateGroupAction,
// DescribeScheduledActions, DeleteScheduledAction and
// BatchDeleteScheduledAction itself. A policy or action is kept as the
// request's parameters and echoed back: request members and response
// elements share their names (see paramTree), so every field of a target
// tracking, step, simple or predictive policy survives, and a policy lists
// the CloudWatch alarms whose AlarmActions name its ARN. Neither policies
// (but for ExecutePolicy of a simple or step policy) nor scheduled actions
// run: CloudWatch alarms and schedules do not scale groups here.

// scalingPolicy is one scaling policy.
type scalingPolicy struct {
	Name, Type, ARN string
	Params          url.Values // the PutScalingPolicy parameters that describe it
}

// scheduledAction is one scheduled action.
type scheduledAction struct {
	Name, ARN string
	Params    url.Values
}

// policyTypes are the PolicyType values AWS accepts, and the parameter each
// requires.
var policyTypes = map[string]string{
	"SimpleScaling":         "ScalingAdjustment",
	"StepScaling":           "StepAdjustments.",
	"TargetTrackingScaling": "TargetTrackingConfiguration.",
	"PredictiveScaling":     "PredictiveScalingConfiguration.",
}

// describing drops the parameters that are not part of the description.
func describing(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		switch k {
		case "Action", "Version", "AutoScalingGroupName":
			continue
		}
		out[k] = v
	}
	return out
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// accountOf returns the account id in an Auto Scaling ARN.
func accountOf(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return "123456789012"
}

// groupARN returns the group's ARN, or a ValidationError as AWS answers
// for a group that does not exist.
func groupARN(ctx context.Context, mc *motoClients, name string) (string, *apiError) {
	g, err := mc.describeGroup(ctx, name)
	if err != nil {
		return "", toAPIError(err)
	}
	if g == nil {
		return "", validationError("Group %s not found", name)
	}
	return aws.ToString(g.AutoScalingGroupARN), nil
}

// serveScaling answers the scaling policy and scheduled action actions; it
// reports whether the action was one of them.
func (s *Server) serveScaling(w http.ResponseWriter, r *http.Request, q *queryRequest) bool {
	var result *xmlNode
	var aerr *apiError
	mc := s.api.clientsFor(q.Region, q.AccessKey)
	ctx := r.Context()
	switch q.Action {
	case "PutScalingPolicy":
		result, aerr = s.groups.putPolicy(ctx, mc, q)
	case "DescribePolicies":
		result, aerr = s.groups.describePolicies(ctx, mc, q)
	case "DeletePolicy":
		result, aerr = s.groups.deletePolicy(q)
	case "ExecutePolicy":
		result, aerr = s.groups.executePolicy(ctx, mc, q)
	case "PutScheduledUpdateGroupAction":
		result, aerr = s.groups.putScheduled(ctx, mc, q)
	case "BatchPutScheduledUpdateGroupAction":
		result, aerr = s.groups.batchPutScheduled(ctx, mc, q)
	case "DescribeScheduledActions":
		result, aerr = s.groups.describeScheduled(ctx, mc, q)
	case "DeleteScheduledAction":
		result, aerr = s.groups.deleteScheduled(q)
	case "BatchDeleteScheduledAction":
		result, aerr = s.groups.batchDeleteScheduled(q)
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

func (g *groupStore) putPolicy(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group, name := q.Form.Get("AutoScalingGroupName"), q.Form.Get("PolicyName")
	if group == "" || name == "" {
		return nil, validationError("PutScalingPolicy needs AutoScalingGroupName and PolicyName.")
	}
	typ := q.Form.Get("PolicyType")
	if typ == "" {
		typ = "SimpleScaling"
	}
	need, ok := policyTypes[typ]
	if !ok {
		return nil, validationError("1 validation error detected: Value '%s' at 'policyType' failed to satisfy constraint: Member must be one of SimpleScaling, StepScaling, TargetTrackingScaling, PredictiveScaling", typ)
	}
	if strings.HasSuffix(need, ".") && !hasPrefix(q.Form, need) || !strings.HasSuffix(need, ".") && q.Form.Get(need) == "" {
		return nil, validationError("%s is required for a policy of type %s.", strings.TrimSuffix(need, "."), typ)
	}
	arn, aerr := groupARN(ctx, mc, group)
	if aerr != nil {
		return nil, aerr
	}
	key := groupKey{Region: q.Region, Name: group}
	params := describing(q.Form)
	params.Set("PolicyType", typ)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.policies[key] == nil {
		g.policies[key] = map[string]*scalingPolicy{}
	}
	p := g.policies[key][name]
	if p == nil {
		p = &scalingPolicy{Name: name, ARN: "arn:aws:autoscaling:" + q.Region + ":" + accountOf(arn) + ":scalingPolicy:" + newUUID() + ":autoScalingGroupName/" + group + ":policyName/" + name}
		g.policies[key][name] = p
	}
	p.Type, p.Params = typ, params
	return elem("PutScalingPolicyResult", leaf("PolicyARN", p.ARN), elem("Alarms")), nil
}

// policyNode renders a policy as DescribePolicies lists it, with the
// CloudWatch alarms whose actions invoke it (AWS: Alarms, "The CloudWatch
// alarms related to the policy").
func policyNode(group string, p *scalingPolicy, alarms []alarmRef) *xmlNode {
	params := url.Values{}
	for k, v := range p.Params {
		params[k] = v
	}
	if params.Get("Enabled") == "" {
		params.Set("Enabled", "true")
	}
	params.Set("AutoScalingGroupName", group)
	params.Set("PolicyARN", p.ARN)
	n := paramTree("member", params)
	list := elem("Alarms")
	for _, a := range alarms {
		list.add(elem("member", leaf("AlarmName", a.Name), leaf("AlarmARN", a.ARN)))
	}
	return n.add(list)
}

// alarmRef is a CloudWatch alarm as a policy lists it.
type alarmRef struct{ Name, ARN string }

// alarmsByAction returns the metric alarms by the ARNs in their
// AlarmActions. A failure to read them leaves the policies without alarms.
func alarmsByAction(ctx context.Context, mc *motoClients) map[string][]alarmRef {
	out := map[string][]alarmRef{}
	token := ""
	for {
		form := url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}}
		if token != "" {
			form.Set("NextToken", token)
		}
		body, err := mc.raw(ctx, "monitoring", form)
		if err != nil {
			return out
		}
		var doc struct {
			Alarms []struct {
				Name    string   `xml:"AlarmName"`
				ARN     string   `xml:"AlarmArn"`
				Actions []string `xml:"AlarmActions>member"`
			} `xml:"DescribeAlarmsResult>MetricAlarms>member"`
			Next string `xml:"DescribeAlarmsResult>NextToken"`
		}
		if xml.Unmarshal(body, &doc) != nil {
			return out
		}
		for _, a := range doc.Alarms {
			for _, act := range a.Actions {
				out[act] = append(out[act], alarmRef{Name: a.Name, ARN: a.ARN})
			}
		}
		if doc.Next == "" || doc.Next == token {
			return out
		}
		token = doc.Next
	}
}

// pageOf cuts a listing by MaxRecords (default def, at most 100) and
// NextToken (an offset, as the emulator issues them).
func pageOf(q *queryRequest, total, def int) (start, end int, next string, aerr *apiError) {
	max := def
	if v := q.Form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, "", validationError("MaxRecords must be from 1 to 100, got %q.", v)
		}
		max = n
	}
	if v := q.Form.Get("NextToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > total {
			return 0, 0, "", senderError("InvalidNextToken", "The NextToken value is invalid.")
		}
		start = n
	}
	end = min(start+max, total)
	if end < total {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

// describedGroup returns the group a Describe action is limited to
// (AutoScalingGroupName), which must exist, or "" for all groups.
func describedGroup(ctx context.Context, mc *motoClients, q *queryRequest) (string, *apiError) {
	group := q.Form.Get("AutoScalingGroupName")
	if group != "" {
		if _, aerr := groupARN(ctx, mc, group); aerr != nil {
			return "", aerr
		}
	}
	return group, nil
}

// groupItem is a policy or scheduled action, with its name and the name
// of its group.
type groupItem[T any] struct {
	group, name string
	item        T
}

// listByGroup returns the items of byGroup (each group's items by name)
// in region that keep accepts, of group alone unless it is "", sorted by
// group and then by name. Caller holds mu.
func listByGroup[T any](byGroup map[groupKey]map[string]T, region, group string, keep func(T) bool) []groupItem[T] {
	var list []groupItem[T]
	for key, items := range byGroup {
		if key.Region != region || group != "" && key.Name != group {
			continue
		}
		for name, it := range items {
			if keep(it) {
				list = append(list, groupItem[T]{key.Name, name, it})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].group != list[j].group {
			return list[i].group < list[j].group
		}
		return list[i].name < list[j].name
	})
	return list
}

func (g *groupStore) describePolicies(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group, aerr := describedGroup(ctx, mc, q)
	if aerr != nil {
		return nil, aerr
	}
	names := memberList(q.Form, "PolicyNames")
	types := memberList(q.Form, "PolicyTypes")
	g.mu.Lock()
	list := listByGroup(g.policies, q.Region, group, func(p *scalingPolicy) bool {
		return (len(names) == 0 || slicesContains(names, p.Name) || slicesContains(names, p.ARN)) &&
			(len(types) == 0 || slicesContains(types, p.Type))
	})
	g.mu.Unlock()
	start, end, next, aerr := pageOf(q, len(list), 50)
	if aerr != nil {
		return nil, aerr
	}
	out := elem("ScalingPolicies")
	var alarms map[string][]alarmRef
	if end > start {
		alarms = alarmsByAction(ctx, mc)
	}
	for _, e := range list[start:end] {
		out.add(policyNode(e.group, e.item, alarms[e.item.ARN]))
	}
	return elem("DescribePoliciesResult", out, optLeaf("NextToken", next)), nil
}

// findPolicy returns the group and policy a PolicyName (a name with
// AutoScalingGroupName, or an ARN) names. Caller holds mu.
func (g *groupStore) findPolicyLocked(region, group, name string) (groupKey, *scalingPolicy) {
	for key, ps := range g.policies {
		if key.Region != region || group != "" && key.Name != group {
			continue
		}
		for _, p := range ps {
			if p.Name == name || p.ARN == name {
				return key, p
			}
		}
	}
	return groupKey{}, nil
}

func (g *groupStore) deletePolicy(q *queryRequest) (*xmlNode, *apiError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if key, p := g.findPolicyLocked(q.Region, q.Form.Get("AutoScalingGroupName"), q.Form.Get("PolicyName")); p != nil {
		delete(g.policies[key], p.Name)
	}
	return nil, nil // like moto, a policy that does not exist is no error
}

// executePolicy runs a simple or step scaling policy's adjustment once
// (for a step policy, the step whose interval holds MetricValue relative to
// BreachThreshold), as ExecutePolicy does; target tracking and predictive
// policies cannot be executed.
func (g *groupStore) executePolicy(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	g.mu.Lock()
	key, p := g.findPolicyLocked(q.Region, q.Form.Get("AutoScalingGroupName"), q.Form.Get("PolicyName"))
	var params url.Values
	if p != nil {
		params = p.Params
	}
	g.mu.Unlock()
	if p == nil {
		return nil, validationError("No such policy: %s", q.Form.Get("PolicyName"))
	}
	adjust := params.Get("ScalingAdjustment")
	switch p.Type {
	case "SimpleScaling":
	case "StepScaling":
		value, err1 := strconv.ParseFloat(q.Form.Get("MetricValue"), 64)
		threshold, err2 := strconv.ParseFloat(q.Form.Get("BreachThreshold"), 64)
		if err1 != nil || err2 != nil {
			return nil, validationError("MetricValue and BreachThreshold are required to execute a step scaling policy.")
		}
		adjust = ""
		for n := 1; hasPrefix(params, "StepAdjustments.member."+strconv.Itoa(n)+"."); n++ {
			pre := "StepAdjustments.member." + strconv.Itoa(n) + "."
			lo, hi := math.Inf(-1), math.Inf(1)
			if v, err := strconv.ParseFloat(params.Get(pre+"MetricIntervalLowerBound"), 64); err == nil {
				lo = v
			}
			if v, err := strconv.ParseFloat(params.Get(pre+"MetricIntervalUpperBound"), 64); err == nil {
				hi = v
			}
			if d := value - threshold; d >= lo && d < hi {
				adjust = params.Get(pre + "ScalingAdjustment")
				break
			}
		}
		if adjust == "" {
			return nil, nil // no step applies
		}
	default:
		return nil, validationError("Policy %s of type %s cannot be executed.", p.Name, p.Type)
	}
	grp, err := mc.describeGroup(ctx, key.Name)
	if err != nil || grp == nil {
		return nil, validationError("Group %s not found", key.Name)
	}
	n, err := strconv.Atoi(adjust)
	if err != nil {
		return nil, validationError("The policy's ScalingAdjustment %q is not a number.", adjust)
	}
	desired := int(aws.ToInt32(grp.DesiredCapacity))
	switch params.Get("AdjustmentType") {
	case "ExactCapacity":
		desired = n
	case "PercentChangeInCapacity":
		delta := float64(desired) * float64(n) / 100
		step := int(delta)
		if step == 0 && n != 0 {
			step = int(math.Copysign(1, delta))
		}
		desired += step
	default: // ChangeInCapacity
		desired += n
	}
	desired = max(int(aws.ToInt32(grp.MinSize)), min(int(aws.ToInt32(grp.MaxSize)), desired))
	if err := mc.setDesiredCapacity(ctx, key.Name, int32(desired)); err != nil {
		return nil, toAPIError(err)
	}
	return nil, nil
}

// scheduledFields are the parameters of one scheduled action.
var scheduledFields = []string{"StartTime", "EndTime", "Recurrence", "MinSize", "MaxSize", "DesiredCapacity", "TimeZone", "Time"}

// scheduledParams returns the parameters of one scheduled action, its name
// and the scheduledFields set, read from form.
func scheduledParams(form url.Values) url.Values {
	params := url.Values{"ScheduledActionName": {form.Get("ScheduledActionName")}}
	for _, f := range scheduledFields {
		if v := form.Get(f); v != "" {
			params.Set(f, v)
		}
	}
	return params
}

func (g *groupStore) putScheduledLocked(region, account, group string, params url.Values) *scheduledAction {
	key := groupKey{Region: region, Name: group}
	if g.scheduled[key] == nil {
		g.scheduled[key] = map[string]*scheduledAction{}
	}
	name := params.Get("ScheduledActionName")
	a := g.scheduled[key][name]
	if a == nil {
		a = &scheduledAction{Name: name, ARN: "arn:aws:autoscaling:" + region + ":" + account + ":scheduledUpdateGroupAction:" + newUUID() + ":autoScalingGroupName/" + group + ":scheduledActionName/" + name}
		g.scheduled[key][name] = a
	}
	a.Params = params
	return a
}

func (g *groupStore) putScheduled(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group := q.Form.Get("AutoScalingGroupName")
	if q.Form.Get("ScheduledActionName") == "" {
		return nil, validationError("ScheduledActionName is required.")
	}
	arn, aerr := groupARN(ctx, mc, group)
	if aerr != nil {
		return nil, aerr
	}
	params := scheduledParams(q.Form)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.putScheduledLocked(q.Region, accountOf(arn), group, params)
	return nil, nil
}

func (g *groupStore) batchPutScheduled(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group := q.Form.Get("AutoScalingGroupName")
	arn, aerr := groupARN(ctx, mc, group)
	if aerr != nil {
		return nil, aerr
	}
	failed := elem("FailedScheduledUpdateGroupActions")
	g.mu.Lock()
	defer g.mu.Unlock()
	for n := 1; hasPrefix(q.Form, "ScheduledUpdateGroupActions.member."+strconv.Itoa(n)+"."); n++ {
		sub := subValues(q.Form, "ScheduledUpdateGroupActions.member."+strconv.Itoa(n)+".")
		if sub.Get("ScheduledActionName") == "" {
			failed.add(elem("member", leaf("ScheduledActionName", ""), leaf("ErrorCode", "ValidationError"), leaf("ErrorMessage", "ScheduledActionName is required.")))
			continue
		}
		params := scheduledParams(sub)
		g.putScheduledLocked(q.Region, accountOf(arn), group, params)
	}
	return elem("BatchPutScheduledUpdateGroupActionResult", failed), nil
}

func (g *groupStore) describeScheduled(ctx context.Context, mc *motoClients, q *queryRequest) (*xmlNode, *apiError) {
	group, aerr := describedGroup(ctx, mc, q)
	if aerr != nil {
		return nil, aerr
	}
	names := memberList(q.Form, "ScheduledActionNames")
	g.mu.Lock()
	list := listByGroup(g.scheduled, q.Region, group, func(a *scheduledAction) bool {
		return len(names) == 0 || slicesContains(names, a.Name)
	})
	g.mu.Unlock()
	start, end, next, aerr := pageOf(q, len(list), 50)
	if aerr != nil {
		return nil, aerr
	}
	out := elem("ScheduledUpdateGroupActions")
	for _, e := range list[start:end] {
		params := url.Values{}
		for k, v := range e.item.Params {
			params[k] = v
		}
		params.Set("AutoScalingGroupName", e.group)
		params.Set("ScheduledActionARN", e.item.ARN)
		out.add(paramTree("member", params))
	}
	return elem("DescribeScheduledActionsResult", out, optLeaf("NextToken", next)), nil
}

func (g *groupStore) deleteScheduled(q *queryRequest) (*xmlNode, *apiError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.scheduled[groupKey{Region: q.Region, Name: q.Form.Get("AutoScalingGroupName")}], q.Form.Get("ScheduledActionName"))
	return nil, nil
}

func (g *groupStore) batchDeleteScheduled(q *queryRequest) (*xmlNode, *apiError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := groupKey{Region: q.Region, Name: q.Form.Get("AutoScalingGroupName")}
	for _, name := range memberList(q.Form, "ScheduledActionNames") {
		delete(g.scheduled[key], name)
	}
	return elem("BatchDeleteScheduledActionResult", elem("FailedScheduledActions")), nil
}
