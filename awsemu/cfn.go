package awsemu

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the CloudFormation front: the stacks the emulator owns (see
// doc.go, "CloudFormation"), their records, and the API actions on them.
// Requests about other stacks go to moto unchanged.

const (
	serviceCloudFormation = "cloudformation"
	cfnNamespace          = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
)

// Stack and resource statuses, as the API names them.
const (
	stCreateInProgress          = "CREATE_IN_PROGRESS"
	stCreateComplete            = "CREATE_COMPLETE"
	stCreateFailed              = "CREATE_FAILED"
	stRollbackInProgress        = "ROLLBACK_IN_PROGRESS"
	stRollbackComplete          = "ROLLBACK_COMPLETE"
	stUpdateInProgress          = "UPDATE_IN_PROGRESS"
	stUpdateCompleteCleanup     = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	stUpdateComplete            = "UPDATE_COMPLETE"
	stUpdateFailed              = "UPDATE_FAILED"
	stUpdateRollbackInProgress  = "UPDATE_ROLLBACK_IN_PROGRESS"
	stUpdateRollbackCleanup     = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
	stUpdateRollbackComplete    = "UPDATE_ROLLBACK_COMPLETE"
	stUpdateRollbackFailed      = "UPDATE_ROLLBACK_FAILED"
	stDeleteInProgress          = "DELETE_IN_PROGRESS"
	stDeleteComplete            = "DELETE_COMPLETE"
	stDeleteFailed              = "DELETE_FAILED"
	stDeleteSkipped             = "DELETE_SKIPPED"
	cfnStepDelay                = 2 * time.Second // emulated time each resource operation takes
	cfnReplacingUpdateStabilize = 30 * time.Second
)

// updatableStatuses are the stack statuses UpdateStack accepts. A stack in
// UPDATE_ROLLBACK_FAILED needs ContinueUpdateRollback, which the emulator
// does not implement; one in ROLLBACK_COMPLETE can only be deleted.
var updatableStatuses = map[string]bool{stCreateComplete: true, stUpdateComplete: true, stUpdateRollbackComplete: true, stUpdateFailed: true}

// cfnStack is one stack the emulator owns. Guarded by cfnStacks.mu.
type cfnStack struct {
	ID, Name, Region, Account, AccessKey string
	Status, Reason                       string
	Created, Updated, Deleted            time.Time
	Body                                 string
	Template                             *cfnTemplate
	Params                               map[string]string // values as given (lists comma-joined)
	Capabilities                         []string
	Tags                                 [][2]string
	DisableRollback                      bool
	Resources                            map[string]*cfnResource
	Events                               []*cfnEvent         // oldest first
	Tokens                               map[string]cfnToken // ClientRequestToken -> the request it answered
	op                                   *cfnOperation       // the operation in progress, nil if none
	Outputs                              map[string]string
}

// cfnResource is a resource of a stack: what was last made of it.
type cfnResource struct {
	LogicalID, Type string
	PhysicalID      string
	Status, Reason  string
	Updated         time.Time
	Props           map[string]any    // resolved properties
	Attrs           map[string]string // Fn::GetAtt values
	// Extra keeps what the emulator needs to undo: for a group, the
	// instances an update launched.
	Extra map[string]string
}

func (r *cfnResource) clone() *cfnResource {
	c := *r
	c.Attrs = map[string]string{}
	for k, v := range r.Attrs {
		c.Attrs[k] = v
	}
	c.Extra = map[string]string{}
	for k, v := range r.Extra {
		c.Extra[k] = v
	}
	return &c
}

type cfnEvent struct {
	ID, LogicalID, PhysicalID, Type, Status, Reason, Token string
	Time                                                   time.Time
	Properties                                             string
}

type cfnToken struct{ Action, Fingerprint string }

// cfnOperation is a stack operation in progress.
type cfnOperation struct {
	Kind   string // "create", "update", "delete"
	Token  string
	cancel chan struct{} // closed by CancelUpdateStack
	once   sync.Once
}

func (o *cfnOperation) cancelled() bool {
	select {
	case <-o.cancel:
		return true
	default:
		return false
	}
}

// cfnStacks holds the emulator's stacks.
type cfnStacks struct {
	s  *Server
	mu sync.Mutex
	// stacks by account and region, oldest first; deleted stacks stay
	// (DescribeStacks answers them by id).
	stacks       map[string][]*cfnStack
	createTokens map[string]cfnToken // by account, region and token
	accounts     map[string]string   // account by access key
}

func newCFNStacks(s *Server) *cfnStacks {
	return &cfnStacks{s: s, stacks: map[string][]*cfnStack{}, createTokens: map[string]cfnToken{}, accounts: map[string]string{}}
}

var accountElement = regexp.MustCompile(`<Account>(\d{12})</Account>`)

// accountOf is the account moto derives from an access key (a role's
// account for assumed-role credentials), asked of moto's STS once per key.
func (c *cfnStacks) accountOf(ctx context.Context, q *queryRequest) string {
	c.mu.Lock()
	acct, ok := c.accounts[q.AccessKey]
	c.mu.Unlock()
	if ok {
		return acct
	}
	acct = "123456789012"
	body, err := c.s.api.clientsFor(regionOf(q), q.AccessKey).raw(ctx, "sts", url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if m := accountElement.FindSubmatch(body); err == nil && m != nil {
		acct = string(m[1])
	}
	c.mu.Lock()
	c.accounts[q.AccessKey] = acct
	c.mu.Unlock()
	return acct
}

func regionOf(q *queryRequest) string {
	if q.Region == "" {
		return "us-east-1"
	}
	return q.Region
}

// find returns the stack named or identified by nameOrID, or nil. A name
// finds only a live stack; an id also finds a deleted one, as in AWS.
// Caller holds mu.
func (c *cfnStacks) findLocked(account, region, nameOrID string) *cfnStack {
	list := c.stacks[account+"/"+region]
	for i := len(list) - 1; i >= 0; i-- {
		st := list[i]
		if st.ID == nameOrID || (st.Name == nameOrID && st.Status != stDeleteComplete) {
			return st
		}
	}
	return nil
}

// serve answers the CloudFormation actions on the emulator's stacks. It
// returns false when the request is for moto.
func (c *cfnStacks) serve(w http.ResponseWriter, r *http.Request, q *queryRequest) bool {
	account, region := c.accountOf(r.Context(), q), regionOf(q)
	name := q.Form.Get("StackName")
	c.mu.Lock()
	st := c.findLocked(account, region, name)
	c.mu.Unlock()

	var result *xmlNode
	var aerr *apiError
	switch q.Action {
	case "CreateStack":
		var handled bool
		result, aerr, handled = c.createStack(q, account, region)
		if !handled {
			return false
		}
	case "DescribeStacks":
		if name == "" {
			c.describeAllStacks(w, r, q, account, region)
			return true
		}
		if st == nil {
			return false
		}
		result = c.describeStacks(st)
	case "ListStacks":
		c.listStacks(w, r, q, account, region)
		return true
	default:
		if st == nil {
			return false
		}
		switch q.Action {
		case "UpdateStack":
			result, aerr = c.updateStack(st, q)
		case "CancelUpdateStack":
			aerr = c.cancelUpdate(st, q)
		case "DeleteStack":
			aerr = c.deleteStack(st, q)
		case "DescribeStackEvents":
			result, aerr = c.describeEvents(st, q)
		case "DescribeStackResources":
			result = c.describeResources(st, q.Form.Get("LogicalResourceId"))
		case "DescribeStackResource":
			result, aerr = c.describeResource(st, q.Form.Get("LogicalResourceId"))
		case "ListStackResources":
			result = c.listResources(st)
		case "GetTemplate":
			c.mu.Lock()
			result = elem("Result", leaf("TemplateBody", st.Body), elem("StagesAvailable", leaf("member", "Original"), leaf("member", "Processed")))
			c.mu.Unlock()
		case "GetTemplateSummary":
			c.mu.Lock()
			t := st.Template
			c.mu.Unlock()
			result = templateSummary(t)
		default:
			aerr = validationError("awsemu does not support %s on stack %s, which the emulator carries out itself (see awsemu/doc.go, CloudFormation).", q.Action, st.Name)
		}
	}
	if aerr != nil {
		writeQueryError(w, cfnNamespace, aerr)
		return true
	}
	writeQueryResult(w, cfnNamespace, q.Action, result)
	return true
}

// paramsIn reads Parameters.member.N from a request.
type cfnParamIn struct {
	Key, Value  string
	HasValue    bool
	UsePrevious bool
}

func paramsIn(form url.Values) []cfnParamIn {
	var out []cfnParamIn
	for n := 1; ; n++ {
		p := "Parameters.member." + strconv.Itoa(n) + "."
		if !hasPrefix(form, p) {
			return out
		}
		_, hasValue := form[p+"ParameterValue"]
		out = append(out, cfnParamIn{
			Key: form.Get(p + "ParameterKey"), Value: form.Get(p + "ParameterValue"), HasValue: hasValue,
			UsePrevious: strings.EqualFold(form.Get(p+"UsePreviousValue"), "true"),
		})
	}
}

// resolveParams computes a stack's parameter values from a request, the
// template and (for an update) the previous values, as AWS documents
// Parameter: UsePreviousValue "use the existing parameter value that the
// stack is using for a given parameter key. If you specify true, do not
// specify a parameter value."
func resolveParams(t *cfnTemplate, in []cfnParamIn, previous map[string]string) (map[string]string, *apiError) {
	out := map[string]string{}
	var unknown []string
	for _, p := range in {
		decl := t.Params[p.Key]
		if decl == nil {
			unknown = append(unknown, p.Key)
			continue
		}
		switch {
		case p.UsePrevious && p.HasValue && p.Value != "":
			return nil, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true and non empty value for a parameter", p.Key)
		case p.UsePrevious:
			v, ok := previous[p.Key]
			if !ok {
				return nil, validationError("Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", p.Key)
			}
			out[p.Key] = v
		default:
			out[p.Key] = p.Value
		}
	}
	if len(unknown) > 0 {
		return nil, validationError("Parameters: [%s] do not exist in the template", strings.Join(unknown, ", "))
	}
	var missing []string
	for _, k := range t.ParamOrder {
		decl := t.Params[k]
		if _, ok := out[k]; !ok {
			if decl.HasDefault {
				out[k] = decl.Default
			} else {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		return nil, validationError("Parameters: [%s] must have values", strings.Join(missing, ", "))
	}
	for _, k := range t.ParamOrder {
		decl, v := t.Params[k], out[k]
		if len(decl.Allowed) > 0 {
			ok := false
			for _, a := range decl.Allowed {
				ok = ok || a == v
			}
			if !ok {
				return nil, validationError("Parameter '%s' must be one of AllowedValues", k)
			}
		}
		if decl.Type == "Number" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, validationError("Parameter '%s' must be a number.", k)
			}
		}
	}
	return out, nil
}

// evalParams turns parameter values into what Ref returns: lists for list
// types.
func evalParams(t *cfnTemplate, values map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range values {
		if decl := t.Params[k]; decl != nil && isListParam(decl.Type) {
			var list []any
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					list = append(list, e)
				}
			}
			out[k] = list
			continue
		}
		out[k] = v
	}
	return out
}

// requiredCapabilities returns the capabilities a template needs, as AWS
// documents them for CreateStack and UpdateStack (see cfniam.go):
// CAPABILITY_NAMED_IAM for IAM resources with custom names, else
// CAPABILITY_IAM for any IAM resource.
func requiredCapabilities(t *cfnTemplate) []string {
	need := ""
	for _, id := range t.Order {
		switch iamCapability(t.Resources[id]) {
		case "CAPABILITY_NAMED_IAM":
			need = "CAPABILITY_NAMED_IAM"
		case "CAPABILITY_IAM":
			if need == "" {
				need = "CAPABILITY_IAM"
			}
		}
	}
	if need == "" {
		return nil
	}
	return []string{need}
}

func checkCapabilities(t *cfnTemplate, given []string) *apiError {
	for _, g := range given {
		switch g {
		case "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND":
		default:
			return validationError("1 validation error detected: Value '[%s]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]", g)
		}
	}
	for _, need := range requiredCapabilities(t) {
		ok := false
		for _, g := range given {
			// "If you have IAM resources, you can specify either capability."
			ok = ok || g == need || (need == "CAPABILITY_IAM" && g == "CAPABILITY_NAMED_IAM")
		}
		if !ok {
			return senderError("InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
		}
	}
	return nil
}

func tagsIn(form url.Values) [][2]string {
	var out [][2]string
	for n := 1; ; n++ {
		p := "Tags.member." + strconv.Itoa(n) + "."
		if !hasPrefix(form, p) {
			return out
		}
		out = append(out, [2]string{form.Get(p + "Key"), form.Get(p + "Value")})
	}
}

func newStackID(region, account, name string) string {
	return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", region, account, name, newUUID())
}

var stackNameRE = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)

// createStack handles CreateStack. handled is false for a template with
// none of the emulator's resource types: moto creates that stack.
func (c *cfnStacks) createStack(q *queryRequest, account, region string) (*xmlNode, *apiError, bool) {
	form := q.Form
	body := form.Get("TemplateBody")
	if body == "" {
		if form.Get("TemplateURL") != "" {
			return nil, validationError("awsemu reads TemplateBody only; TemplateURL is not supported for the stacks it carries out."), false
		}
		return nil, validationError("Either Template URL or Template Body must be specified."), true
	}
	t, aerr := parseTemplate(body)
	if aerr == errNotOwned {
		return nil, nil, false
	}
	if aerr != nil {
		return nil, aerr, true
	}
	name := form.Get("StackName")
	if !stackNameRE.MatchString(name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name), true
	}
	params, aerr := resolveParams(t, paramsIn(form), nil)
	if aerr != nil {
		return nil, aerr, true
	}
	caps := memberList(form, "Capabilities")
	if aerr := checkCapabilities(t, caps); aerr != nil {
		return nil, aerr, true
	}
	token := form.Get("ClientRequestToken")
	fp := fingerprint(form, "ClientRequestToken")

	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" {
		if prev, ok := c.createTokens[account+"/"+region+"/"+token]; ok {
			if prev.Fingerprint != fp {
				return nil, senderError("TokenAlreadyExistsException", "A client request token already exists."), true
			}
			if st := c.findLocked(account, region, name); st != nil {
				return elem("Result", leaf("StackId", st.ID)), nil, true
			}
		}
	}
	if existing := c.findLocked(account, region, name); existing != nil {
		return nil, senderError("AlreadyExistsException", "Stack [%s] already exists", name), true
	}
	now := c.s.clock.Now()
	st := &cfnStack{
		ID: newStackID(region, account, name), Name: name, Region: region, Account: account, AccessKey: q.AccessKey,
		Status: stCreateInProgress, Created: now, Body: body, Template: t, Params: params, Capabilities: caps,
		Tags: tagsIn(form), DisableRollback: strings.EqualFold(form.Get("DisableRollback"), "true") || form.Get("OnFailure") == "DO_NOTHING",
		Resources: map[string]*cfnResource{}, Tokens: map[string]cfnToken{}, Outputs: map[string]string{},
	}
	if token != "" {
		c.createTokens[account+"/"+region+"/"+token] = cfnToken{Action: "CreateStack", Fingerprint: fp}
	}
	op := &cfnOperation{Kind: "create", Token: token, cancel: make(chan struct{})}
	st.op = op
	key := account + "/" + region
	c.stacks[key] = append(c.stacks[key], st)
	c.addEventLocked(st, st.Name, st.ID, "AWS::CloudFormation::Stack", stCreateInProgress, "User Initiated", token)
	if !c.s.engine.startWorker(func() { c.runCreate(st, op) }) {
		st.Status = stCreateFailed
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The emulator is shutting down."}, true
	}
	return elem("Result", leaf("StackId", st.ID)), nil, true
}

// updateStack handles UpdateStack.
func (c *cfnStacks) updateStack(st *cfnStack, q *queryRequest) (*xmlNode, *apiError) {
	form := q.Form
	token := form.Get("ClientRequestToken")
	fp := fingerprint(form, "ClientRequestToken")
	usePrevious := strings.EqualFold(form.Get("UsePreviousTemplate"), "true")
	body := form.Get("TemplateBody")
	if form.Get("TemplateURL") != "" {
		return nil, validationError("awsemu reads TemplateBody or UsePreviousTemplate only; TemplateURL is not supported for the stacks it carries out.")
	}
	if usePrevious && body != "" {
		return nil, validationError("You cannot specify both usePreviousTemplate and Template Body/Template URL.")
	}
	if !usePrevious && body == "" {
		return nil, validationError("Either Template URL or Template Body must be specified.")
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// A retry with the token of an earlier request answers as that request
	// did and starts nothing (UpdateStack, ClientRequestToken: "Specify
	// this token if you plan to retry requests so that CloudFormation knows
	// that you're not attempting to update a stack with the same name").
	if token != "" {
		if prev, ok := st.Tokens[token]; ok {
			if prev.Action != "UpdateStack" || prev.Fingerprint != fp {
				return nil, senderError("TokenAlreadyExistsException", "A client request token already exists.")
			}
			return elem("Result", leaf("StackId", st.ID)), nil
		}
	}
	if !updatableStatuses[st.Status] {
		return nil, validationError("Stack:%s is in %s state and can not be updated.", st.ID, st.Status)
	}
	t := st.Template
	if !usePrevious {
		nt, aerr := parseTemplate(body)
		if aerr == errNotOwned {
			return nil, templateError("the new template has none of the resource types awsemu carries out (%s); the emulator cannot hand stack %s over to moto.", strings.Join(cfnCoreTypes, ", "), st.Name)
		}
		if aerr != nil {
			return nil, aerr
		}
		t = nt
	} else {
		body = st.Body
	}
	params, aerr := resolveParams(t, paramsIn(form), st.Params)
	if aerr != nil {
		return nil, aerr
	}
	caps := memberList(form, "Capabilities")
	if aerr := checkCapabilities(t, caps); aerr != nil {
		return nil, aerr
	}
	tags := st.Tags
	if hasPrefix(form, "Tags.member.") {
		tags = tagsIn(form)
	}
	if t.canonical == st.Template.canonical && sameParams(params, st.Params) && canonicalJSON(tags) == canonicalJSON(st.Tags) {
		return nil, validationError("No updates are to be performed.")
	}
	if token != "" {
		st.Tokens[token] = cfnToken{Action: "UpdateStack", Fingerprint: fp}
	}
	plan := &cfnUpdatePlan{
		OldBody: st.Body, OldTemplate: st.Template, OldParams: st.Params, OldTags: st.Tags, OldOutputs: st.Outputs,
		OldResources: map[string]*cfnResource{},
		Body:         body, Template: t, Params: params, Tags: tags,
		DisableRollback: strings.EqualFold(form.Get("DisableRollback"), "true"),
	}
	for id, r := range st.Resources {
		plan.OldResources[id] = r.clone()
	}
	st.Body, st.Template, st.Params, st.Tags, st.Capabilities = body, t, params, tags, caps
	st.Status, st.Reason, st.Updated = stUpdateInProgress, "", c.s.clock.Now()
	op := &cfnOperation{Kind: "update", Token: token, cancel: make(chan struct{})}
	st.op = op
	c.addEventLocked(st, st.Name, st.ID, "AWS::CloudFormation::Stack", stUpdateInProgress, "User Initiated", token)
	if !c.s.engine.startWorker(func() { c.runUpdate(st, op, plan) }) {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The emulator is shutting down."}
	}
	return elem("Result", leaf("StackId", st.ID)), nil
}

func sameParams(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// cancelUpdate handles CancelUpdateStack: "You can cancel only stacks that
// are in the UPDATE_IN_PROGRESS state."
func (c *cfnStacks) cancelUpdate(st *cfnStack, q *queryRequest) *apiError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.Status != stUpdateInProgress || st.op == nil || st.op.Kind != "update" {
		return validationError("CancelUpdateStack cannot be called from current stack status %s.", st.Status)
	}
	st.op.once.Do(func() { close(st.op.cancel) })
	return nil
}

// deleteStack handles DeleteStack.
func (c *cfnStacks) deleteStack(st *cfnStack, q *queryRequest) *apiError {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st.Status {
	case stDeleteComplete, stDeleteInProgress:
		return nil
	}
	if st.op != nil {
		return validationError("Stack [%s] cannot be deleted while in status %s", st.Name, st.Status)
	}
	token := q.Form.Get("ClientRequestToken")
	op := &cfnOperation{Kind: "delete", Token: token, cancel: make(chan struct{})}
	st.op = op
	st.Status, st.Reason = stDeleteInProgress, ""
	c.addEventLocked(st, st.Name, st.ID, "AWS::CloudFormation::Stack", stDeleteInProgress, "User Initiated", token)
	if !c.s.engine.startWorker(func() { c.runDelete(st, op) }) {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "The emulator is shutting down."}
	}
	return nil
}

// addEventLocked records a stack event. Caller holds mu.
func (c *cfnStacks) addEventLocked(st *cfnStack, logical, physical, typ, status, reason, token string) {
	st.Events = append(st.Events, &cfnEvent{ID: newUUID(), LogicalID: logical, PhysicalID: physical, Type: typ, Status: status, Reason: reason, Token: token, Time: c.s.clock.Now()})
}

func (st *cfnStack) xml() *xmlNode {
	n := elem("member", leaf("StackId", st.ID), leaf("StackName", st.Name), optLeaf("Description", st.Template.Description))
	ps := elem("Parameters")
	for _, k := range st.Template.ParamOrder {
		v := st.Params[k]
		if st.Template.Params[k].NoEcho {
			v = "****"
		}
		ps.add(elem("member", leaf("ParameterKey", k), leaf("ParameterValue", v)))
	}
	n.add(ps, leafTime("CreationTime", st.Created), optTime("LastUpdatedTime", st.Updated), optTime("DeletionTime", st.Deleted),
		leaf("StackStatus", st.Status), optLeaf("StackStatusReason", st.Reason), leafBool("DisableRollback", st.DisableRollback),
		elem("NotificationARNs"))
	caps := elem("Capabilities")
	for _, cp := range st.Capabilities {
		caps.add(leaf("member", cp))
	}
	n.add(caps)
	outs := elem("Outputs")
	for _, k := range st.Template.OutputOrder {
		if v, ok := st.Outputs[k]; ok {
			outs.add(elem("member", leaf("OutputKey", k), leaf("OutputValue", v), optLeaf("Description", st.Template.Outputs[k].Description)))
		}
	}
	n.add(outs)
	tags := elem("Tags")
	for _, t := range st.Tags {
		tags.add(elem("member", leaf("Key", t[0]), leaf("Value", t[1])))
	}
	n.add(tags, leafBool("EnableTerminationProtection", false),
		elem("DriftInformation", leaf("StackDriftStatus", "NOT_CHECKED")))
	return n
}

func (c *cfnStacks) describeStacks(st *cfnStack) *xmlNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return elem("Result", elem("Stacks", st.xml()))
}

// describeAllStacks answers DescribeStacks without a StackName: moto's
// stacks, then the emulator's live ones.
func (c *cfnStacks) describeAllStacks(w http.ResponseWriter, r *http.Request, q *queryRequest, account, region string) {
	c.mu.Lock()
	var members []*xmlNode
	for _, st := range c.stacks[account+"/"+region] {
		if st.Status != stDeleteComplete {
			members = append(members, st.xml())
		}
	}
	c.mu.Unlock()
	c.mergeIntoMoto(w, r, q, "Stacks", members)
}

func (c *cfnStacks) listStacks(w http.ResponseWriter, r *http.Request, q *queryRequest, account, region string) {
	filter := map[string]bool{}
	for _, s := range memberList(q.Form, "StackStatusFilter") {
		filter[s] = true
	}
	c.mu.Lock()
	var members []*xmlNode
	for _, st := range c.stacks[account+"/"+region] {
		if len(filter) > 0 && !filter[st.Status] {
			continue
		}
		members = append(members, elem("member", leaf("StackId", st.ID), leaf("StackName", st.Name), optLeaf("TemplateDescription", st.Template.Description),
			leafTime("CreationTime", st.Created), optTime("LastUpdatedTime", st.Updated), optTime("DeletionTime", st.Deleted),
			leaf("StackStatus", st.Status), optLeaf("StackStatusReason", st.Reason)))
	}
	c.mu.Unlock()
	c.mergeIntoMoto(w, r, q, "StackSummaries", members)
}

// mergeIntoMoto forwards the request to moto and adds members to the list
// element named list of its answer.
func (c *cfnStacks) mergeIntoMoto(w http.ResponseWriter, r *http.Request, q *queryRequest, list string, members []*xmlNode) {
	answer, err := c.s.forward(r, q.Body)
	if err != nil {
		writeQueryError(w, cfnNamespace, toAPIError(err))
		return
	}
	if answer.Status == http.StatusOK && len(members) > 0 {
		var b strings.Builder
		for _, m := range members {
			m.write(&b)
		}
		body := string(answer.Body)
		switch {
		case strings.Contains(body, "</"+list+">"):
			body = strings.Replace(body, "</"+list+">", b.String()+"</"+list+">", 1)
		case strings.Contains(body, "<"+list+"/>"):
			body = strings.Replace(body, "<"+list+"/>", "<"+list+">"+b.String()+"</"+list+">", 1)
		default:
			body = strings.Replace(body, "<"+q.Action+"Result>", "<"+q.Action+"Result><"+list+">"+b.String()+"</"+list+">", 1)
		}
		answer.Body = []byte(body)
	}
	answer.write(w)
}

// maxEventsPage is how many events DescribeStackEvents answers at once.
const maxEventsPage = 100

// describeEvents answers DescribeStackEvents, newest first ("Returns all
// stack related events for a specified stack in reverse chronological
// order").
func (c *cfnStacks) describeEvents(st *cfnStack, q *queryRequest) (*xmlNode, *apiError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := 0
	if tok := q.Form.Get("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(st.Events) {
			return nil, validationError("Invalid NextToken %q.", tok)
		}
		from = n
	}
	evs := elem("StackEvents")
	n := len(st.Events)
	to := min(n, from+maxEventsPage)
	for i := from; i < to; i++ {
		e := st.Events[n-1-i]
		evs.add(elem("member", leaf("StackId", st.ID), leaf("EventId", e.ID), leaf("StackName", st.Name),
			leaf("LogicalResourceId", e.LogicalID), optLeaf("PhysicalResourceId", e.PhysicalID), leaf("ResourceType", e.Type),
			leafTime("Timestamp", e.Time), leaf("ResourceStatus", e.Status), optLeaf("ResourceStatusReason", e.Reason),
			optLeaf("ClientRequestToken", e.Token)))
	}
	res := elem("Result", evs)
	if to < n {
		res.add(leaf("NextToken", strconv.Itoa(to)))
	}
	return res, nil
}

func (c *cfnStacks) resourceXML(st *cfnStack, r *cfnResource, name string) *xmlNode {
	return elem(name, leaf("StackName", st.Name), leaf("StackId", st.ID), leaf("LogicalResourceId", r.LogicalID),
		optLeaf("PhysicalResourceId", r.PhysicalID), leaf("ResourceType", r.Type), leafTime("Timestamp", r.Updated),
		leafTime("LastUpdatedTimestamp", r.Updated), leaf("ResourceStatus", r.Status), optLeaf("ResourceStatusReason", r.Reason),
		elem("DriftInformation", leaf("StackResourceDriftStatus", "NOT_CHECKED")))
}

func (c *cfnStacks) describeResources(st *cfnStack, logical string) *xmlNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := elem("StackResources")
	for _, id := range sortedKeys(st.Resources) {
		if logical != "" && id != logical {
			continue
		}
		list.add(c.resourceXML(st, st.Resources[id], "member"))
	}
	return elem("Result", list)
}

func (c *cfnStacks) describeResource(st *cfnStack, logical string) (*xmlNode, *apiError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := st.Resources[logical]
	if r == nil {
		return nil, validationError("Resource %s does not exist for stack %s", logical, st.Name)
	}
	return elem("Result", c.resourceXML(st, r, "StackResourceDetail")), nil
}

func (c *cfnStacks) listResources(st *cfnStack) *xmlNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := elem("StackResourceSummaries")
	for _, id := range sortedKeys(st.Resources) {
		r := st.Resources[id]
		list.add(elem("member", leaf("LogicalResourceId", r.LogicalID), optLeaf("PhysicalResourceId", r.PhysicalID),
			leaf("ResourceType", r.Type), leafTime("LastUpdatedTimestamp", r.Updated), leaf("ResourceStatus", r.Status),
			optLeaf("ResourceStatusReason", r.Reason)))
	}
	return elem("Result", list)
}

// templateSummary answers GetTemplateSummary for a stack.
func templateSummary(t *cfnTemplate) *xmlNode {
	ps := elem("Parameters")
	for _, k := range t.ParamOrder {
		p := t.Params[k]
		m := elem("member", leaf("ParameterKey", k), leaf("ParameterType", p.Type), leafBool("NoEcho", p.NoEcho), optLeaf("Description", p.Description))
		if p.HasDefault {
			m.add(leaf("DefaultValue", p.Default))
		}
		if len(p.Allowed) > 0 {
			av := elem("AllowedValues")
			for _, a := range p.Allowed {
				av.add(leaf("member", a))
			}
			m.add(elem("ParameterConstraints", av))
		}
		ps.add(m)
	}
	types := map[string]bool{}
	for _, r := range t.Resources {
		types[r.Type] = true
	}
	rt := elem("ResourceTypes")
	for _, k := range sortedKeys(types) {
		rt.add(leaf("member", k))
	}
	caps := elem("Capabilities")
	for _, cp := range requiredCapabilities(t) {
		caps.add(leaf("member", cp))
	}
	return elem("Result", ps, optLeaf("Description", t.Description), caps, rt, leaf("Version", "2010-09-09"))
}

// StackStatus returns the status and reason of a stack the emulator
// carries out (by name or id, in any account), for Go tests that would
// rather not poll DescribeStacks; ok is false when it has no such stack.
func (s *Server) StackStatus(region, nameOrID string) (status, reason string, ok bool) {
	c := s.cfn
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, list := range c.stacks {
		if !strings.HasSuffix(key, "/"+region) {
			continue
		}
		for i := len(list) - 1; i >= 0; i-- {
			if st := list[i]; st.ID == nameOrID || st.Name == nameOrID {
				return st.Status, st.Reason, true
			}
		}
	}
	return "", "", false
}

// StackInfo is a stack the emulator carries out, as Stacks reports it.
type StackInfo struct {
	Region string `json:"region"`
	Name   string `json:"name"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Stacks lists the stacks the emulator carries out, deleted ones included,
// oldest first within each account and region (GET /_emu/stacks).
func (s *Server) Stacks() []StackInfo {
	c := s.cfn
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []StackInfo
	for _, key := range sortedKeys(c.stacks) {
		for _, st := range c.stacks[key] {
			out = append(out, StackInfo{Region: st.Region, Name: st.Name, ID: st.ID, Status: st.Status, Reason: st.Reason})
		}
	}
	return out
}
