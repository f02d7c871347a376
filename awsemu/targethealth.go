package awsemu

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// This file makes load balancer health follow time and AMIs. moto reports
// every registered target "healthy" (DescribeTargetHealth) and every
// registered running instance "InService" (DescribeInstanceHealth) the
// moment it is registered, and forgets a deregistered target at once. The
// emulator follows what AWS documents instead, on the emulated clock:
//
//   - ELBv2 target groups (TargetHealth, Elastic Load Balancing API
//     Reference): a newly registered target is "initial", first with reason
//     "Elb.RegistrationInProgress - The target is in the process of being
//     registered with the load balancer" (one HealthCheckIntervalSeconds),
//     then "Elb.InitialHealthChecking - The load balancer is still sending
//     the target the minimum number of health checks required to determine
//     its health status"; it becomes "healthy" once HealthyThresholdCount
//     checks passed ("The number of consecutive health check successes
//     required before considering a target healthy"), that is after
//     HealthyThresholdCount × HealthCheckIntervalSeconds. A target on an AMI
//     marked unhealthy (SetUnhealthyImages, SetUnhealthyImageTag) becomes
//     "unhealthy" with "Target.FailedHealthChecks" after
//     UnhealthyThresholdCount × HealthCheckIntervalSeconds ("The number of
//     consecutive health check failures required before considering a
//     target unhealthy"). With health checks disabled the state is
//     "unavailable", "Target.HealthCheckDisabled".
//   - Deregistration delay ("Elastic Load Balancing stops sending requests
//     to targets that are deregistering. By default, Elastic Load Balancing
//     waits 300 seconds before completing the deregistration process";
//     "The initial state of a deregistering target is draining. After the
//     deregistration delay elapses, the deregistration process completes and
//     the state of the target is unused"; "even though target deregistration
//     is complete, the status of the target is displayed as draining until
//     the deregistration delay timeout expires"): a target that leaves a
//     target group, however it leaves (DeregisterTargets, the group
//     detaching the target group, the group's deletion, the instance's
//     termination or detachment), is listed as "draining",
//     "Target.DeregistrationInProgress", for the target group's
//     deregistration_delay.timeout_seconds, then no longer listed; asked
//     for by id it is then "unused", "Target.NotRegistered".
//   - Classic Load Balancers (InstanceState, and "Configure health checks
//     for your Classic Load Balancer": Interval 30, HealthyThreshold 10,
//     UnhealthyThreshold 2 by default): a newly registered instance is
//     "OutOfService", reason code "ELB", "Instance registration is still in
//     progress." for one Interval, then reason code "Instance", "Instance
//     has not passed the configured HealthyThreshold number of health checks
//     consecutively.", and "InService" ("N/A") after HealthyThreshold ×
//     Interval; on an AMI marked unhealthy it is "OutOfService",
//     "Instance", "Instance has failed at least the UnhealthyThreshold
//     number of health checks consecutively." after UnhealthyThreshold ×
//     Interval. Connection draining ("Configure connection draining for your
//     Classic Load Balancer"): "While in-flight requests are being served,
//     the load balancer reports the state of a de-registering instance as
//     InService: Instance deregistration currently in progress. When ... the
//     maximum timeout limit is reached, the load balancer reports the
//     instance state as OutOfService: Instance is not currently registered
//     with the LoadBalancer." With connection draining disabled (the API's
//     default) a deregistered instance is gone at once.
//   - DetachInstances: "If there are target groups attached to the Auto
//     Scaling group, the instances are deregistered from the target
//     groups." moto deregisters them from Classic Load Balancers only; the
//     emulator deregisters them from the group's target groups too.
//
// Registration times are observed, not reported by moto: after every
// request that can change registrations (seen through the gate's after hook,
// whoever made it) and before every health answer, the emulator reads what
// moto has registered and notes what joined and what left since.

const (
	elbv2Namespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	elbNamespace   = "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"

	elbv2APIVersion = "2015-12-01"
	elbAPIVersion   = "2012-06-01"

	// maxDrain bounds how long a departed target is remembered: the
	// largest deregistration delay or draining timeout AWS allows.
	maxDrain = 3600 * time.Second
)

// Defaults AWS documents for a Classic Load Balancer's health check and
// for a target group's deregistration delay.
const (
	clbDefaultInterval  = 30
	clbDefaultHealthy   = 10
	clbDefaultUnhealthy = 2
	defaultDeregDelay   = 300
)

// registration is one target of one load balancer as the emulator has seen
// it come and go.
type registration struct {
	Port  string
	Since time.Time // emulated time it was first seen registered; zero once it left
	Left  time.Time // emulated time it was last seen leaving
}

// lbRef names a target group (by ARN, which is unique across accounts) or
// a Classic Load Balancer (by name, for one caller in one region).
type lbRef struct {
	TargetGroup string
	Region      string
	AccessKey   string
	CLB         string
}

// healthTracker follows registrations and answers health.
type healthTracker struct {
	clock  *clock
	engine *engine
	api    *motoAPI
	hidden func(region, accessKey, id string) bool
	log    func(string, ...any)

	mu     sync.Mutex
	regs   map[lbRef]map[string]*registration
	images map[string]string // region/instance id -> AMI id
}

func newHealthTracker(c *clock, e *engine, api *motoAPI, hidden func(region, accessKey, id string) bool, log func(string, ...any)) *healthTracker {
	return &healthTracker{clock: c, engine: e, api: api, hidden: hidden, log: log,
		regs: map[lbRef]map[string]*registration{}, images: map[string]string{}}
}

// inHealthHook marks the context of the tracker's own calls to moto, so
// that they do not start another sweep.
type inHealthHook struct{}

// sweepActions are the actions that can change who is registered where.
var sweepActions = map[string]map[string]bool{
	serviceAutoScaling: {
		"CreateAutoScalingGroup": true, "UpdateAutoScalingGroup": true, "DeleteAutoScalingGroup": true,
		"SetDesiredCapacity": true, "AttachInstances": true, "DetachInstances": true,
		"TerminateInstanceInAutoScalingGroup": true, "AttachLoadBalancers": true, "DetachLoadBalancers": true,
		"AttachLoadBalancerTargetGroups": true, "DetachLoadBalancerTargetGroups": true,
		"EnterStandby": true, "ExitStandby": true, "ExecutePolicy": true,
	},
	serviceELB: {
		"RegisterTargets": true, "DeregisterTargets": true, "DeleteTargetGroup": true,
		"RegisterInstancesWithLoadBalancer": true, "DeregisterInstancesFromLoadBalancer": true,
		"DeleteLoadBalancer": true,
	},
	serviceEC2: {"TerminateInstances": true, "StopInstances": true, "StartInstances": true},
}

// after is called by the gate once moto has answered a request (see
// motoGate.after), holding the gate.
func (h *healthTracker) after(ctx context.Context, req *http.Request, form url.Values, status int) {
	if status != http.StatusOK || ctx.Value(inHealthHook{}) != nil {
		return
	}
	accessKey, region, service, ok := signedScope(req)
	if !ok {
		return
	}
	action := form.Get("Action")
	if !sweepActions[service][action] {
		return
	}
	ctx = context.WithValue(ctx, inHealthHook{}, true)
	mc := h.api.clientsFor(region, accessKey)
	switch {
	case service == serviceELB && action == "DeleteTargetGroup":
		h.forget(lbRef{TargetGroup: form.Get("TargetGroupArn")})
	case service == serviceELB && action == "DeleteLoadBalancer" && form.Get("LoadBalancerName") != "":
		h.forget(lbRef{Region: region, AccessKey: accessKey, CLB: form.Get("LoadBalancerName")})
	}
	if service == serviceAutoScaling && action == "DetachInstances" {
		h.deregisterDetached(ctx, mc, form.Get("AutoScalingGroupName"), memberList(form, "InstanceIds"))
	}
	h.sweep(ctx, mc, region, accessKey)
}

// deregisterDetached deregisters instances detached from a group from the
// group's target groups, which moto leaves them in.
func (h *healthTracker) deregisterDetached(ctx context.Context, mc *motoClients, group string, ids []string) {
	if len(ids) == 0 {
		return
	}
	g, err := mc.describeGroup(ctx, group)
	if err != nil || g == nil {
		h.log("deregistering instances detached from %s: %v", group, err)
		return
	}
	for _, arn := range g.TargetGroupARNs {
		form := url.Values{"Action": {"DeregisterTargets"}, "Version": {elbv2APIVersion}, "TargetGroupArn": {arn}}
		for i, id := range ids {
			form.Set("Targets.member."+strconv.Itoa(i+1)+".Id", id)
		}
		if _, err := mc.raw(ctx, serviceELB, form); err != nil {
			h.log("deregistering %v from %s: %v", ids, arn, err) // not registered there: nothing to do
		}
	}
}

// sweep observes the registrations of every load balancer of the caller.
func (h *healthTracker) sweep(ctx context.Context, mc *motoClients, region, accessKey string) {
	tgs, err := mc.targetGroups(ctx, nil)
	if err != nil {
		h.log("health sweep: %v", err)
	}
	for _, tg := range tgs {
		members, err := mc.targetHealth(ctx, url.Values{"TargetGroupArn": {tg.ARN}})
		if err != nil {
			h.log("health sweep of %s: %v", tg.ARN, err)
			continue
		}
		h.observe(lbRef{TargetGroup: tg.ARN}, region, accessKey, registeredTargets(members))
	}
	clbs, err := mc.classicLBs(ctx, "")
	if err != nil {
		h.log("health sweep: %v", err)
	}
	if len(clbs) == 0 {
		return
	}
	members, err := mc.groupCLBMembers(ctx)
	if err != nil {
		h.log("health sweep: %v", err)
	}
	for _, lb := range clbs {
		states, err := mc.instanceHealth(ctx, url.Values{"LoadBalancerName": {lb.Name}})
		if err != nil {
			h.log("health sweep of %s: %v", lb.Name, err)
			continue
		}
		h.observe(lbRef{Region: region, AccessKey: accessKey, CLB: lb.Name}, region, accessKey, registeredInstances(states, members[lb.Name]))
	}
}

// groupCLBMembers returns, for each Classic Load Balancer attached to a
// group, the group's InService members. moto registers a group's members
// with its Classic Load Balancers, but each time a group changes it also
// deregisters from them every instance another group registered: with two
// groups behind one load balancer (a blue/green deploy), each change of one
// would take the other's instances out. AWS deregisters only the group's
// own instances, so the emulator counts the members of every attached group
// as registered, whatever moto's list says.
func (c *motoClients) groupCLBMembers(ctx context.Context) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, &autoscaling.DescribeAutoScalingGroupsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("describing groups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			for _, lb := range g.LoadBalancerNames {
				for _, in := range g.Instances {
					if in.LifecycleState != asgtypes.LifecycleStateInService {
						continue
					}
					if out[lb] == nil {
						out[lb] = map[string]bool{}
					}
					out[lb][aws.ToString(in.InstanceId)] = true
				}
			}
		}
	}
	return out, nil
}

// forget drops what is kept for a deleted load balancer or target group.
func (h *healthTracker) forget(ref lbRef) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.regs, ref)
}

// observe records who is registered now: newcomers start now, those no
// longer listed left now. Instances kept out of load balancers by a
// suspended AddToLoadBalancer process (suspended.go) do not count.
func (h *healthTracker) observe(ref lbRef, region, accessKey string, now map[string]string) {
	t := h.clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	regs := h.regs[ref]
	if regs == nil {
		regs = map[string]*registration{}
		h.regs[ref] = regs
	}
	for id, port := range now {
		if h.hidden != nil && h.hidden(region, accessKey, id) {
			delete(now, id)
			continue
		}
		r := regs[id]
		if r == nil {
			r = &registration{}
			regs[id] = r
		}
		if r.Since.IsZero() {
			r.Since, r.Port = t, port
		}
	}
	for id, r := range regs {
		if _, ok := now[id]; ok {
			continue
		}
		if !r.Since.IsZero() {
			r.Since, r.Left = time.Time{}, t
		}
		if t.Sub(r.Left) > maxDrain {
			delete(regs, id)
		}
	}
}

// snapshot returns a copy of what is known of ref's targets.
func (h *healthTracker) snapshot(ref lbRef) map[string]registration {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]registration{}
	for id, r := range h.regs[ref] {
		out[id] = *r
	}
	return out
}

// healthCheck is a load balancer's health check, as far as timing goes.
type healthCheck struct {
	Interval           time.Duration
	Healthy, Unhealthy int
	Enabled            bool
}

// phase is where a registered target stands in its health checks.
type phase int

const (
	phaseRegistering phase = iota // the first interval
	phaseChecking                 // checks running, threshold not reached
	phaseHealthy
	phaseUnhealthy
)

// phaseAt returns the phase of a target registered for elapsed, which
// fails its checks when bad.
func (c healthCheck) phaseAt(elapsed time.Duration, bad bool) phase {
	switch {
	case elapsed < c.Interval:
		return phaseRegistering
	case bad && elapsed >= time.Duration(c.Unhealthy)*c.Interval:
		return phaseUnhealthy
	case !bad && elapsed >= time.Duration(c.Healthy)*c.Interval:
		return phaseHealthy
	}
	return phaseChecking
}

// badInstances tells, for each instance, whether it runs an AMI marked
// unhealthy. Images are remembered per instance (they never change).
func (h *healthTracker) badInstances(ctx context.Context, mc *motoClients, ids []string) map[string]bool {
	var unknown []string
	images := map[string]string{}
	h.mu.Lock()
	for _, id := range ids {
		if img, ok := h.images[mc.region+"/"+id]; ok {
			images[id] = img
		} else {
			unknown = append(unknown, id)
		}
	}
	h.mu.Unlock()
	if len(unknown) > 0 {
		found, err := mc.describeInstances(ctx, unknown)
		if err != nil {
			h.log("reading the AMIs of %v: %v", unknown, err)
		}
		h.mu.Lock()
		for id, in := range found {
			if in.ImageId != nil {
				images[id] = *in.ImageId
				h.images[mc.region+"/"+id] = *in.ImageId
			}
		}
		h.mu.Unlock()
	}
	bad := map[string]bool{}
	verdict := map[string]bool{}
	for id, img := range images {
		v, ok := verdict[img]
		if !ok {
			v = h.engine.isUnhealthyCtx(ctx, mc, img)
			verdict[img] = v
		}
		bad[id] = v
	}
	return bad
}

// registrations returns what is known of ref's targets and, for those
// registered now, whether they run an AMI marked unhealthy.
func (h *healthTracker) registrations(ctx context.Context, mc *motoClients, ref lbRef) (map[string]registration, map[string]bool) {
	regs := h.snapshot(ref)
	var registered []string
	for id, r := range regs {
		if !r.Since.IsZero() {
			registered = append(registered, id)
		}
	}
	return regs, h.badInstances(ctx, mc, registered)
}

// healthMember is one entry of a health answer: a target of a target
// group (tgMember) or an instance of a Classic Load Balancer (clbMember).
type healthMember interface {
	memberID() string
}

func (m tgMember) memberID() string  { return m.ID }
func (m clbMember) memberID() string { return m.ID }

// listAsked returns the state of each member of moto's answer, and the ids
// it lists: asked for by id, every member; asked for all, only those
// registered now (one kept out by a suspended AddToLoadBalancer is hidden).
func listAsked[M healthMember](asked []M, explicit bool, regs map[string]registration, state func(M) M) ([]M, map[string]bool) {
	var out []M
	listed := map[string]bool{}
	for _, m := range asked {
		if !explicit {
			if r, ok := regs[m.memberID()]; !ok || r.Since.IsZero() {
				continue
			}
		}
		listed[m.memberID()] = true
		out = append(out, state(m))
	}
	return out, listed
}

// tgMember is one entry of a DescribeTargetHealth answer.
type tgMember struct {
	ID              string `xml:"Target>Id"`
	Port            string `xml:"Target>Port"`
	AZ              string `xml:"Target>AvailabilityZone"`
	HealthCheckPort string `xml:"HealthCheckPort"`
	State           string `xml:"TargetHealth>State"`
	Reason          string `xml:"TargetHealth>Reason"`
	Description     string `xml:"TargetHealth>Description"`
}

// registeredTargets returns the targets moto has registered (moto lists
// exactly those when asked for all), by id, with their ports.
func registeredTargets(members []tgMember) map[string]string {
	out := map[string]string{}
	for _, m := range members {
		out[m.ID] = m.Port
	}
	return out
}

// targetGroupInfo is what the emulator reads of a target group.
type targetGroupInfo struct {
	ARN             string      `xml:"TargetGroupArn"`
	Port            string      `xml:"Port"`
	HealthCheckPort string      `xml:"HealthCheckPort"`
	Enabled         string      `xml:"HealthCheckEnabled"`
	Interval        int         `xml:"HealthCheckIntervalSeconds"`
	Healthy         int         `xml:"HealthyThresholdCount"`
	Unhealthy       int         `xml:"UnhealthyThresholdCount"`
	check           healthCheck `xml:"-"`
}

// targetGroups lists the caller's target groups, or the one named by arn.
func (c *motoClients) targetGroups(ctx context.Context, arns []string) ([]targetGroupInfo, error) {
	var out []targetGroupInfo
	marker := ""
	for {
		form := url.Values{"Action": {"DescribeTargetGroups"}, "Version": {elbv2APIVersion}}
		for i, a := range arns {
			form.Set("TargetGroupArns.member."+strconv.Itoa(i+1), a)
		}
		if marker != "" {
			form.Set("Marker", marker)
		}
		body, err := c.raw(ctx, serviceELB, form)
		if err != nil {
			return out, fmt.Errorf("describing target groups: %w", err)
		}
		var doc struct {
			Groups []targetGroupInfo `xml:"DescribeTargetGroupsResult>TargetGroups>member"`
			Next   string            `xml:"DescribeTargetGroupsResult>NextMarker"`
		}
		if err := xml.Unmarshal(body, &doc); err != nil {
			return out, fmt.Errorf("reading DescribeTargetGroups: %w", err)
		}
		for _, g := range doc.Groups {
			g.check = healthCheck{Interval: time.Duration(g.Interval) * time.Second, Healthy: g.Healthy, Unhealthy: g.Unhealthy, Enabled: g.Enabled != "false"}
			if g.check.Interval <= 0 {
				g.check.Interval = 30 * time.Second
			}
			out = append(out, g)
		}
		if doc.Next == "" || doc.Next == marker {
			return out, nil
		}
		marker = doc.Next
	}
}

// deregistrationDelay reads a target group's deregistration_delay.timeout_seconds.
func (c *motoClients) deregistrationDelay(ctx context.Context, arn string) time.Duration {
	body, err := c.raw(ctx, serviceELB, url.Values{"Action": {"DescribeTargetGroupAttributes"}, "Version": {elbv2APIVersion}, "TargetGroupArn": {arn}})
	if err != nil {
		return defaultDeregDelay * time.Second
	}
	var doc struct {
		Attrs []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"DescribeTargetGroupAttributesResult>Attributes>member"`
	}
	if xml.Unmarshal(body, &doc) == nil {
		for _, a := range doc.Attrs {
			if a.Key == "deregistration_delay.timeout_seconds" {
				if n, err := strconv.Atoi(a.Value); err == nil && n >= 0 {
					return time.Duration(n) * time.Second
				}
			}
		}
	}
	return defaultDeregDelay * time.Second
}

// targetHealth calls moto's DescribeTargetHealth with the given parameters.
func (c *motoClients) targetHealth(ctx context.Context, params url.Values) ([]tgMember, error) {
	body, err := c.elbCall(ctx, "DescribeTargetHealth", elbv2APIVersion, params)
	if err != nil {
		return nil, err
	}
	return parseTargetHealth(body)
}

// elbCall calls moto's Elastic Load Balancing action, of API version
// version, with the given parameters, and returns its answer.
func (c *motoClients) elbCall(ctx context.Context, action, version string, params url.Values) ([]byte, error) {
	form := url.Values{"Action": {action}, "Version": {version}}
	for k, v := range params {
		form[k] = v
	}
	return c.raw(ctx, serviceELB, form)
}

func parseTargetHealth(body []byte) ([]tgMember, error) {
	var doc struct {
		Members []tgMember `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading DescribeTargetHealth: %w", err)
	}
	return doc.Members, nil
}

// describeTargetHealth answers DescribeTargetHealth: moto's answer (so that
// its errors and its view of unregistered or stopped targets stay), with
// the state of each registered target computed from when it registered and
// what it runs, and the draining targets added.
func (s *Server) describeTargetHealth(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	s.describeHealth(w, r, q, elbv2Namespace, s.health.targetHealthAnswer)
}

// describeHealth forwards a health request to moto and, if moto answers
// it, answers what rewrite makes of moto's answer instead, all under the
// gate, so that no registration changes in between; errors are written in
// the awsquery format of namespace.
func (s *Server) describeHealth(w http.ResponseWriter, r *http.Request, q *queryRequest, namespace string,
	rewrite func(ctx context.Context, mc *motoClients, q *queryRequest, motoBody []byte) ([]byte, error)) {
	var answer *capturedResponse
	err := s.gate.exclusive(r.Context(), func(ctx context.Context) error {
		var err error
		answer, err = s.forward(r.WithContext(ctx), q.Body)
		if err != nil || answer.Status != http.StatusOK {
			return err
		}
		body, err := rewrite(ctx, s.api.clientsFor(q.Region, q.AccessKey), q, answer.Body)
		if err != nil {
			return err
		}
		answer.Body = body
		return nil
	})
	if err != nil {
		writeQueryError(w, namespace, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK {
		answer.Body = s.lb.filter(q, answer.Body)
	}
	answer.write(w)
}

func (h *healthTracker) targetHealthAnswer(ctx context.Context, mc *motoClients, q *queryRequest, motoBody []byte) ([]byte, error) {
	ctx = context.WithValue(ctx, inHealthHook{}, true)
	arn := q.Form.Get("TargetGroupArn")
	asked, err := parseTargetHealth(motoBody)
	if err != nil {
		return nil, err
	}
	explicit := len(listField(q.Form, "Targets.member.", ".Id")) > 0
	all := asked
	if explicit {
		if all, err = mc.targetHealth(ctx, url.Values{"TargetGroupArn": {arn}}); err != nil {
			return nil, err
		}
	}
	ref := lbRef{TargetGroup: arn}
	h.observe(ref, q.Region, q.AccessKey, registeredTargets(all))
	tgs, err := mc.targetGroups(ctx, []string{arn})
	if err != nil || len(tgs) != 1 {
		return nil, fmt.Errorf("describing target group %s: %v", arn, err)
	}
	tg := tgs[0]
	delay := mc.deregistrationDelay(ctx, arn)
	regs, bad := h.registrations(ctx, mc, ref)
	now := h.clock.Now()

	state := func(m tgMember) tgMember {
		r, ok := regs[m.ID]
		switch {
		case ok && !r.Since.IsZero():
			if !tg.check.Enabled {
				m.State, m.Reason, m.Description = "unavailable", "Target.HealthCheckDisabled", "Health checks disabled"
				return m
			}
			switch tg.check.phaseAt(now.Sub(r.Since), bad[m.ID]) {
			case phaseRegistering:
				m.State, m.Reason, m.Description = "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
			case phaseChecking:
				m.State, m.Reason, m.Description = "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
			case phaseHealthy:
				m.State, m.Reason, m.Description = "healthy", "", ""
			case phaseUnhealthy:
				m.State, m.Reason, m.Description = "unhealthy", "Target.FailedHealthChecks", "Health checks failed"
			}
		case ok && now.Before(r.Left.Add(delay)):
			m.State, m.Reason, m.Description = "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
			if m.Port == "" {
				m.Port = r.Port
			}
		case m.State == "draining":
			// moto reports a terminated target as draining for ever.
			m.State, m.Reason, m.Description = "unused", "Target.NotRegistered", "Target is not registered to the target group"
		}
		return m
	}
	out, listed := listAsked(asked, explicit, regs, state)
	if !explicit {
		for id, r := range regs {
			if listed[id] || !r.Since.IsZero() || !now.Before(r.Left.Add(delay)) {
				continue
			}
			port := r.Port
			if port == "" {
				port = tg.Port
			}
			hcPort := tg.HealthCheckPort
			if hcPort == "traffic-port" || hcPort == "" {
				hcPort = port
			}
			out = append(out, state(tgMember{ID: id, Port: port, HealthCheckPort: hcPort}))
		}
	}
	list := elem("TargetHealthDescriptions")
	for _, m := range out {
		target := elem("Target", leaf("Id", m.ID), optLeaf("Port", m.Port), optLeaf("AvailabilityZone", m.AZ))
		health := elem("TargetHealth", leaf("State", m.State), optLeaf("Reason", m.Reason), optLeaf("Description", m.Description))
		list.add(elem("member", target, optLeaf("HealthCheckPort", m.HealthCheckPort), health))
	}
	return []byte(queryResponse(elbv2Namespace, "DescribeTargetHealth", elem("DescribeTargetHealthResult", list)).String()), nil
}

// clbInfo is what the emulator reads of a Classic Load Balancer.
type clbInfo struct {
	Name      string `xml:"LoadBalancerName"`
	Interval  int    `xml:"HealthCheck>Interval"`
	Healthy   int    `xml:"HealthCheck>HealthyThreshold"`
	Unhealthy int    `xml:"HealthCheck>UnhealthyThreshold"`
}

func (l clbInfo) check() healthCheck {
	c := healthCheck{Interval: time.Duration(l.Interval) * time.Second, Healthy: l.Healthy, Unhealthy: l.Unhealthy, Enabled: true}
	if c.Interval <= 0 {
		c.Interval = clbDefaultInterval * time.Second
	}
	if c.Healthy <= 0 {
		c.Healthy = clbDefaultHealthy
	}
	if c.Unhealthy <= 0 {
		c.Unhealthy = clbDefaultUnhealthy
	}
	return c
}

// classicLBs lists the caller's Classic Load Balancers, or the one named.
func (c *motoClients) classicLBs(ctx context.Context, name string) ([]clbInfo, error) {
	form := url.Values{"Action": {"DescribeLoadBalancers"}, "Version": {elbAPIVersion}}
	if name != "" {
		form.Set("LoadBalancerNames.member.1", name)
	}
	body, err := c.raw(ctx, serviceELB, form)
	if err != nil {
		return nil, fmt.Errorf("describing classic load balancers: %w", err)
	}
	var doc struct {
		LBs []clbInfo `xml:"DescribeLoadBalancersResult>LoadBalancerDescriptions>member"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading DescribeLoadBalancers: %w", err)
	}
	return doc.LBs, nil
}

// connectionDraining reads a Classic Load Balancer's connection draining
// timeout; 0 when draining is disabled.
func (c *motoClients) connectionDraining(ctx context.Context, name string) time.Duration {
	body, err := c.raw(ctx, serviceELB, url.Values{"Action": {"DescribeLoadBalancerAttributes"}, "Version": {elbAPIVersion}, "LoadBalancerName": {name}})
	if err != nil {
		return 0
	}
	var doc struct {
		Enabled string `xml:"DescribeLoadBalancerAttributesResult>LoadBalancerAttributes>ConnectionDraining>Enabled"`
		Timeout int    `xml:"DescribeLoadBalancerAttributesResult>LoadBalancerAttributes>ConnectionDraining>Timeout"`
	}
	if xml.Unmarshal(body, &doc) != nil || doc.Enabled != "true" {
		return 0
	}
	if doc.Timeout <= 0 {
		return defaultDeregDelay * time.Second
	}
	return time.Duration(doc.Timeout) * time.Second
}

// clbMember is one entry of a DescribeInstanceHealth answer.
type clbMember struct {
	ID          string `xml:"InstanceId"`
	State       string `xml:"State"`
	ReasonCode  string `xml:"ReasonCode"`
	Description string `xml:"Description"`
}

// instanceHealth calls moto's DescribeInstanceHealth with the given
// parameters.
func (c *motoClients) instanceHealth(ctx context.Context, params url.Values) ([]clbMember, error) {
	body, err := c.elbCall(ctx, "DescribeInstanceHealth", elbAPIVersion, params)
	if err != nil {
		return nil, err
	}
	return parseInstanceHealth(body)
}

func parseInstanceHealth(body []byte) ([]clbMember, error) {
	var doc struct {
		Members []clbMember `xml:"DescribeInstanceHealthResult>InstanceStates>member"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("reading DescribeInstanceHealth: %w", err)
	}
	return doc.Members, nil
}

// registeredInstances returns the instances moto lists as registered
// (asked for all, it lists exactly those) and the members of the groups
// attached (see groupCLBMembers).
func registeredInstances(members []clbMember, groups map[string]bool) map[string]string {
	out := map[string]string{}
	for _, m := range members {
		if m.State != "Unknown" {
			out[m.ID] = ""
		}
	}
	for id := range groups {
		out[id] = ""
	}
	return out
}

// describeInstanceHealth answers DescribeInstanceHealth like
// describeTargetHealth does DescribeTargetHealth.
func (s *Server) describeInstanceHealth(w http.ResponseWriter, r *http.Request, q *queryRequest) {
	s.describeHealth(w, r, q, elbNamespace, s.health.instanceHealthAnswer)
}

func (h *healthTracker) instanceHealthAnswer(ctx context.Context, mc *motoClients, q *queryRequest, motoBody []byte) ([]byte, error) {
	ctx = context.WithValue(ctx, inHealthHook{}, true)
	name := q.Form.Get("LoadBalancerName")
	asked, err := parseInstanceHealth(motoBody)
	if err != nil {
		return nil, err
	}
	explicit := len(listField(q.Form, "Instances.member.", ".InstanceId")) > 0
	all := asked
	if explicit {
		if all, err = mc.instanceHealth(ctx, url.Values{"LoadBalancerName": {name}}); err != nil {
			return nil, err
		}
	}
	groups, err := mc.groupCLBMembers(ctx)
	if err != nil {
		return nil, err
	}
	ref := lbRef{Region: q.Region, AccessKey: q.AccessKey, CLB: name}
	h.observe(ref, q.Region, q.AccessKey, registeredInstances(all, groups[name]))
	lbs, err := mc.classicLBs(ctx, name)
	if err != nil || len(lbs) != 1 {
		return nil, fmt.Errorf("describing load balancer %s: %v", name, err)
	}
	check := lbs[0].check()
	drain := mc.connectionDraining(ctx, name)
	regs, bad := h.registrations(ctx, mc, ref)
	now := h.clock.Now()

	state := func(m clbMember) clbMember {
		r, ok := regs[m.ID]
		switch {
		case ok && !r.Since.IsZero() && (m.State == "InService" || groups[name][m.ID]):
			switch check.phaseAt(now.Sub(r.Since), bad[m.ID]) {
			case phaseRegistering:
				m.State, m.ReasonCode, m.Description = "OutOfService", "ELB", "Instance registration is still in progress."
			case phaseChecking:
				m.State, m.ReasonCode, m.Description = "OutOfService", "Instance", "Instance has not passed the configured HealthyThreshold number of health checks consecutively."
			case phaseHealthy:
				m.State, m.ReasonCode, m.Description = "InService", "N/A", "N/A"
			case phaseUnhealthy:
				m.State, m.ReasonCode, m.Description = "OutOfService", "Instance", "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
			}
		case ok && !r.Since.IsZero():
			m.ReasonCode, m.Description = "Instance", "Instance is not running."
		case ok && now.Before(r.Left.Add(drain)):
			m.State, m.ReasonCode, m.Description = "InService", "N/A", "Instance deregistration currently in progress."
		default:
			m.State, m.ReasonCode, m.Description = "OutOfService", "N/A", "Instance is not currently registered with the LoadBalancer."
		}
		return m
	}
	out, listed := listAsked(asked, explicit, regs, state)
	if !explicit {
		for id, r := range regs {
			if !listed[id] && (!r.Since.IsZero() || now.Before(r.Left.Add(drain))) {
				out = append(out, state(clbMember{ID: id}))
			}
		}
	}
	list := elem("InstanceStates")
	for _, m := range out {
		list.add(elem("member", leaf("Description", m.Description), leaf("InstanceId", m.ID), leaf("State", m.State), leaf("ReasonCode", m.ReasonCode)))
	}
	return []byte(queryResponse(elbNamespace, "DescribeInstanceHealth", elem("DescribeInstanceHealthResult", list)).String()), nil
}

// queryResponse wraps a result in a Query protocol answer.
func queryResponse(namespace, action string, result *xmlNode) *xmlNode {
	return elem(action+"Response", result, elem("ResponseMetadata", leaf("RequestId", newUUID()))).attr("xmlns", namespace)
}
