package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"gopkg.in/yaml.v3"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

// The tags CloudFormation puts on every resource it creates that takes
// tags, Auto Scaling groups included.
const (
	tagStackName = "aws:cloudformation:stack-name"
	tagStackID   = "aws:cloudformation:stack-id"
	tagLogicalID = "aws:cloudformation:logical-id"
)

// The update policies of AWS::AutoScaling::AutoScalingGroup that replace
// instances when the group's launch template or launch configuration
// changes.
const (
	policyRolling   = "AutoScalingRollingUpdate"
	policyReplacing = "AutoScalingReplacingUpdate"
	policyRefresh   = "AutoScalingInstanceRefresh"
)

const groupType = "AWS::AutoScaling::AutoScalingGroup"

// checkStackOwner refuses a direct roll-out of a group a CloudFormation
// stack owns, unless the target allows the drift: the stack would still
// hold the old AMI, and its next update would put it back.
func (r *roller) checkStackOwner(ctx context.Context, ro *rollout, g astypes.AutoScalingGroup) error {
	stack := tagValue(g.Tags, tagStackName)
	if stack == "" {
		return nil
	}
	logical := tagValue(g.Tags, tagLogicalID)
	if ro.allowStackDrift {
		ro.warnings = append(ro.warnings, fmt.Sprintf("the group belongs to CloudFormation stack %s (resource %s) and is rolled directly (allow_stack_drift = true): the stack still holds the old AMI, and its next update, for any reason, puts the old AMI back or fails", stack, logical))
		return nil
	}
	param := r.suggestParameter(ctx, ro, tagValue(g.Tags, tagStackID), stack)
	return fmt.Errorf(`Auto Scaling group (%s) belongs to CloudFormation stack %s (resource %s): rolling it directly would leave the stack holding the old AMI, and the stack's next update, for any reason, would put the old AMI back or fail. Roll it through the stack instead: replace this target with
  stack {
    stack_name      = %q
    region          = %q
    image_parameter = %q
  }
or set allow_stack_drift = true on the target to roll the group directly anyway`,
		ro.group, stack, logical, stack, ro.region, param)
}

// suggestParameter names the stack's parameter that most likely carries
// the AMI, for the refusal of a direct target: the one parameter of an AMI
// type, if there is exactly one. Best effort: without one, a placeholder.
func (r *roller) suggestParameter(ctx context.Context, ro *rollout, id, name string) string {
	const placeholder = "<the parameter that carries the AMI>"
	if ro.clients.cloudformation == nil {
		return placeholder
	}
	if id == "" {
		id = name
	}
	out, err := ro.clients.cloudformation.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{StackName: aws.String(id)})
	if err != nil {
		return placeholder
	}
	var images []string
	for _, p := range out.Parameters {
		if aws.ToString(p.ParameterType) == "AWS::EC2::Image::Id" {
			images = append(images, aws.ToString(p.ParameterKey))
		}
	}
	if len(images) != 1 {
		return placeholder
	}
	return images[0]
}

// updatableStack are the statuses UpdateStack accepts. UPDATE_FAILED is a
// stack whose last update failed with rollback disabled: it can be updated
// again, and resolve warns.
var updatableStack = []cfntypes.StackStatus{
	cfntypes.StackStatusCreateComplete,
	cfntypes.StackStatusUpdateComplete,
	cfntypes.StackStatusUpdateRollbackComplete,
	cfntypes.StackStatusImportComplete,
	cfntypes.StackStatusImportRollbackComplete,
	cfntypes.StackStatusUpdateFailed,
}

// stackInProgress reports whether an operation is running on a stack in
// status s.
func stackInProgress(s cfntypes.StackStatus) bool {
	return strings.HasSuffix(string(s), "_IN_PROGRESS")
}

// stuckFix says what to do with a stack in a status no update starts
// from.
func stuckFix(ro *rollout, s cfntypes.StackStatus) string {
	name, region := ro.stack.name, ro.region
	switch s {
	case cfntypes.StackStatusUpdateRollbackFailed:
		return fmt.Sprintf("its last update failed to roll back; finish the rollback first (aws cloudformation continue-update-rollback --region %s --stack-name %s)", region, name)
	case cfntypes.StackStatusRollbackComplete, cfntypes.StackStatusRollbackFailed, cfntypes.StackStatusCreateFailed:
		return "its creation failed, and CloudFormation can only delete such a stack: delete and create it again"
	case cfntypes.StackStatusDeleteComplete, cfntypes.StackStatusDeleteFailed:
		return "it is deleted or being deleted"
	case cfntypes.StackStatusImportRollbackFailed:
		return "its last import failed to roll back; fix the stack first"
	}
	return "this plugin does not know that status, so it does not update the stack"
}

// maxNamesPerCall is how many groups one DescribeAutoScalingGroups call
// names (its MaxRecords allows 100; the API's default page is 50), and
// maxIDsPerCall how many instances one DescribeInstances call names.
const (
	maxNamesPerCall = 50
	maxIDsPerCall   = 200
)

// stackGroupResources lists the stack's Auto Scaling groups, every page:
// DescribeStackResources answers only a stack's first 100 resources.
func stackGroupResources(ctx context.Context, ro *rollout) ([]cfntypes.StackResourceSummary, error) {
	var out []cfntypes.StackResourceSummary
	in := &cloudformation.ListStackResourcesInput{StackName: aws.String(ro.stack.id)}
	seen := map[string]bool{}
	for page := 0; page < maxEventPages; page++ {
		res, err := ro.clients.cloudformation.ListStackResources(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, sr := range res.StackResourceSummaries {
			if aws.ToString(sr.ResourceType) == groupType && aws.ToString(sr.PhysicalResourceId) != "" {
				out = append(out, sr)
			}
		}
		next := aws.ToString(res.NextToken)
		if next == "" || seen[next] {
			return out, nil
		}
		seen[next] = true
		in.NextToken = res.NextToken
	}
	return out, nil
}

// describeGroupsByName describes the named groups, a few at a time.
func describeGroupsByName(ctx context.Context, as autoScalingAPI, names []string) ([]astypes.AutoScalingGroup, error) {
	var groups []astypes.AutoScalingGroup
	for chunk := range slices.Chunk(names, maxNamesPerCall) {
		out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: chunk, MaxRecords: aws.Int32(maxNamesPerCall)})
		if err != nil {
			return nil, err
		}
		groups = append(groups, out.AutoScalingGroups...)
	}
	return groups, nil
}

// describeStack reads ro's stack, by id once known.
func describeStack(ctx context.Context, ro *rollout) (*cfntypes.Stack, error) {
	name := ro.stack.name
	if ro.stack.id != "" {
		name = ro.stack.id
	}
	out, err := ro.clients.cloudformation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		// A missing stack is a ValidationError whose message says so
		// ("Stack with id NAME does not exist"): there is no code of its own.
		var apiErr interface{ ErrorMessage() string }
		if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
			return nil, fmt.Errorf("CloudFormation stack (%s) not found in %s; check stack.stack_name and the region", ro.stack.name, ro.region)
		}
		return nil, fmt.Errorf("describing CloudFormation stack (%s) in %s: %w", ro.stack.name, ro.region, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("CloudFormation stack (%s) not found in %s; check stack.stack_name and the region", ro.stack.name, ro.region)
	}
	return &out.Stacks[0], nil
}

// resolveStack reads everything a stack roll-out needs and checks that it
// can proceed: the stack's status and parameters, the capabilities it
// needs, its groups and their update policies, suspended processes and
// running refreshes, and the AMIs. It changes nothing.
func (r *roller) resolveStack(ctx context.Context, ro *rollout) error {
	s := ro.stack
	st, err := describeStack(ctx, ro)
	if err != nil {
		return err
	}
	s.id, s.status = aws.ToString(st.StackId), st.StackStatus
	values := map[string]string{}
	for _, p := range st.Parameters {
		s.allParams = append(s.allParams, aws.ToString(p.ParameterKey))
		values[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, p := range s.params {
		v, ok := values[p.key]
		if !ok {
			return fmt.Errorf("CloudFormation stack (%s) has no parameter %s (it has: %s); set image_parameter to the parameter that carries the AMI", s.name, p.key, orNone(s.allParams))
		}
		p.previous = v
	}

	// The summary gives the parameters' types and the capabilities the
	// template needs. Without it (a policy that denies it, say), the
	// capabilities the stack was given are sent, which covers the
	// template they were given for.
	s.capabilities = slices.Clone(st.Capabilities)
	summary, err := ro.clients.cloudformation.GetTemplateSummary(ctx, &cloudformation.GetTemplateSummaryInput{StackName: aws.String(s.id)})
	if err != nil {
		ro.warnings = append(ro.warnings, fmt.Sprintf("could not read the stack's template summary (%v): the parameters' types are not checked, and the update sends the capabilities the stack has (%s)", err, orNone(capNames(s.capabilities))))
		summary = &cloudformation.GetTemplateSummaryOutput{}
	}
	for _, d := range summary.Parameters {
		p := s.param(aws.ToString(d.ParameterKey))
		if p == nil {
			continue
		}
		switch typ := aws.ToString(d.ParameterType); {
		case strings.HasPrefix(typ, "AWS::SSM::Parameter::"):
			return fmt.Errorf("parameter %s of CloudFormation stack (%s) has type %s: its value is the name of an SSM parameter, not an AMI; point that SSM parameter at the AMI instead (a release_parameter block) and update the stack, or give the stack a parameter of type AWS::EC2::Image::Id", p.key, s.name, typ)
		case strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList":
			return fmt.Errorf("parameter %s of CloudFormation stack (%s) has type %s, a list: it cannot carry one AMI; give the stack a parameter of type AWS::EC2::Image::Id", p.key, s.name, typ)
		}
	}
	for _, c := range summary.Capabilities {
		if !slices.Contains(s.capabilities, c) && !(c == cfntypes.CapabilityCapabilityIam && slices.Contains(s.capabilities, cfntypes.CapabilityCapabilityNamedIam)) {
			s.capabilities = append(s.capabilities, c)
		}
	}

	same := true
	for _, p := range s.params {
		same = same && p.previous == p.image && p.image != ""
	}
	switch {
	case stackInProgress(st.StackStatus):
		if err := r.stackBusy(ro, st, same); err != nil {
			return err
		}
	case slices.Contains(updatableStack, st.StackStatus):
		if same && st.StackStatus == cfntypes.StackStatusUpdateFailed {
			return fmt.Errorf("CloudFormation stack (%s) is UPDATE_FAILED with %s already set: its last update to this AMI failed and was not rolled back (%s); roll it back (aws cloudformation rollback-stack --region %s --stack-name %s) or fix what failed, then run the build again",
				s.name, s.paramList(false), aws.ToString(st.StackStatusReason), ro.region, s.name)
		}
		if st.StackStatus == cfntypes.StackStatusUpdateFailed {
			ro.warnings = append(ro.warnings, fmt.Sprintf("the stack's last update failed and was not rolled back (UPDATE_FAILED: %s): this update starts from there", aws.ToString(st.StackStatusReason)))
		}
		if same {
			s.upToDate = true
			ro.upToDate = fmt.Sprintf("the stack's %s already", s.paramList(false))
		}
	default:
		return fmt.Errorf("CloudFormation stack (%s) is %s and cannot be updated: %s", s.name, st.StackStatus, stuckFix(ro, st.StackStatus))
	}

	if err := r.readStackGroups(ctx, ro); err != nil {
		return err
	}
	for _, p := range s.params {
		if p.image == "" { // before the bake (Preflight)
			continue
		}
		if err := r.checkStackImage(ctx, ro, p); err != nil {
			return err
		}
	}
	return nil
}

// stackBusy decides about a stack with an operation running: an update to
// our values is ours, and followed; anything else is someone else's and
// goes by on_refresh_in_progress.
func (r *roller) stackBusy(ro *rollout, st *cfntypes.Stack, same bool) error {
	s := ro.stack
	status := st.StackStatus
	if same && (status == cfntypes.StackStatusUpdateInProgress || status == cfntypes.StackStatusUpdateCompleteCleanupInProgress) {
		s.adopted, s.started = true, true
		s.since = aws.ToTime(st.LastUpdatedTime)
		s.seen = map[string]bool{}
		r.say(ro, "an update to %s is already running (%s): following it, starting nothing", s.paramList(false), status)
		return nil
	}
	since := aws.ToTime(st.LastUpdatedTime)
	if since.IsZero() {
		since = aws.ToTime(st.CreationTime)
	}
	if status == cfntypes.StackStatusDeleteInProgress {
		return fmt.Errorf("CloudFormation stack (%s) is being deleted (DELETE_IN_PROGRESS)", s.name)
	}
	if r.cfg.OnRefreshInProgress == InProgressFail {
		return fmt.Errorf("CloudFormation stack (%s) is %s since %s, an operation not started by this build; wait for it to end, or set on_refresh_in_progress = \"wait\" (or \"cancel\", which cancels an update in progress)",
			s.name, status, since.UTC().Format("2006-01-02T15:04:05Z"))
	}
	s.foreign = status
	return nil
}

// paramList renders the roll-out's parameters: "ImageId = ami-1", or with
// from, "ImageId ami-0 → ami-1".
func (s *stackRollout) paramList(from bool) string {
	parts := make([]string, len(s.params))
	for i, p := range s.params {
		if from {
			parts[i] = fmt.Sprintf("%s %s → %s", p.key, orDash(p.previous), p.image)
		} else {
			parts[i] = fmt.Sprintf("%s = %s", p.key, p.image)
		}
	}
	return "parameter " + strings.Join(parts, ", ")
}

func capNames(caps []cfntypes.Capability) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = string(c)
	}
	return out
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// readStackGroups finds the stack's Auto Scaling groups and their update
// policies, and checks each as a direct target's group is checked where
// it matters to a stack update: suspended processes, and a refresh
// already running.
func (r *roller) readStackGroups(ctx context.Context, ro *rollout) error {
	s := ro.stack
	res, err := stackGroupResources(ctx, ro)
	if err != nil {
		return fmt.Errorf("listing the resources of CloudFormation stack (%s): %w", s.name, err)
	}
	// The template tells the groups' update policies, for warnings only:
	// without it the update goes ahead, unwarned.
	var policies, moving map[string]string
	tpl, err := ro.clients.cloudformation.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String(s.id), TemplateStage: cfntypes.TemplateStageProcessed})
	if err == nil {
		policies, moving, err = templateGroups(aws.ToString(tpl.TemplateBody))
	}
	known := err == nil
	s.policiesKnown = known
	if !known {
		ro.warnings = append(ro.warnings, fmt.Sprintf("could not read the stack's template (%v): whether its groups have an update policy that replaces instances is not known", err))
	}
	s.groups = nil
	var names []string
	for _, sr := range res {
		g := stackGroup{logicalID: aws.ToString(sr.LogicalResourceId), name: aws.ToString(sr.PhysicalResourceId)}
		g.policy = policies[g.logicalID]
		s.groups = append(s.groups, g)
		names = append(names, g.name)
	}
	if len(s.groups) == 0 {
		ro.warnings = append(ro.warnings, "the stack has no Auto Scaling group of its own (groups of nested stacks are not followed): the update is followed by its events only")
		return nil
	}
	for _, g := range s.groups {
		switch {
		case moving[g.logicalID] != "":
			ro.warnings = append(ro.warnings, fmt.Sprintf("group %s (%s) names its launch template version as %s, which does not change when the template does: CloudFormation will create the new launch template version but replace no instance, and only instances launched later run the new AMI; refer to the version with Fn::GetAtt LatestVersionNumber", g.name, g.logicalID, moving[g.logicalID]))
		case g.policy == "" && known:
			ro.warnings = append(ro.warnings, fmt.Sprintf("group %s (%s) has no update policy (AutoScalingRollingUpdate, AutoScalingReplacingUpdate or AutoScalingInstanceRefresh): the stack will update its launch template or launch configuration but replace no instance, and only instances launched later run the new AMI", g.name, g.logicalID))
		}
	}
	groups, err := describeGroupsByName(ctx, ro.clients.autoscaling, names)
	if err != nil {
		return fmt.Errorf("describing the Auto Scaling groups of CloudFormation stack (%s): %w", s.name, err)
	}
	for _, g := range groups {
		name := aws.ToString(g.AutoScalingGroupName)
		i := slices.IndexFunc(s.groups, func(sg stackGroup) bool { return sg.name == name })
		if i < 0 {
			continue
		}
		if s.groups[i].policy != policyRefresh {
			// Only an instance refresh pauses on InstanceRefresh.
			g.SuspendedProcesses = slices.DeleteFunc(slices.Clone(g.SuspendedProcesses), func(p astypes.SuspendedProcess) bool {
				return aws.ToString(p.ProcessName) == "InstanceRefresh"
			})
		}
		warnings, err := checkProcesses(g, ro.region)
		if err != nil {
			return fmt.Errorf("stack %s: %w", s.name, err)
		}
		ro.warnings = append(ro.warnings, warnings...)
		if s.adopted {
			continue // the update of ours may run that refresh
		}
		active, err := instancerefresh.FindActive(ctx, ro.clients.autoscaling, name)
		if err != nil {
			return fmt.Errorf("stack %s: %w", s.name, err)
		}
		if active != nil {
			return fmt.Errorf("Auto Scaling group (%s) of CloudFormation stack (%s) already has instance refresh (%s) %s, not started by this build: the stack's update would fail or replace instances twice; wait for it to end or cancel it",
				name, s.name, aws.ToString(active.InstanceRefreshId), active.Status)
		}
	}
	return nil
}

// checkStackImage checks p's AMI as checkImage does a group's: it exists
// and is available in its region, and has the architecture of the AMI the
// parameter holds now.
func (r *roller) checkStackImage(ctx context.Context, ro *rollout, p *stackParam) error {
	at := &rollout{region: p.region, group: ro.group, imageID: p.image, clients: p.clients}
	img, err := r.image(ctx, at, p.image)
	if err != nil {
		return fmt.Errorf("describing AMI (%s) in %s: %w", p.image, p.region, err)
	}
	if img == nil {
		return fmt.Errorf("AMI (%s) not found in %s, for parameter %s of CloudFormation stack (%s); if the stack is in another account, share the AMI with it (the builder's ami_users)", p.image, p.region, p.key, ro.stack.name)
	}
	if s := img.State; s != ec2types.ImageStateAvailable {
		return fmt.Errorf("AMI (%s) in %s is %s, not available; instances cannot launch from it", p.image, p.region, s)
	}
	if strings.HasPrefix(p.previous, "ami-") && p.previous != p.image {
		if old, err := r.image(ctx, at, p.previous); err == nil && old != nil && old.Architecture != "" && img.Architecture != "" && old.Architecture != img.Architecture {
			return fmt.Errorf("parameter %s of CloudFormation stack (%s) holds %s AMI %s, and %s is %s: the stack's instances would fail to launch; roll this stack from a build of its architecture",
				p.key, ro.stack.name, old.Architecture, p.previous, p.image, img.Architecture)
		}
	}
	if prot := aws.ToString(img.DeregistrationProtection); prot == "" || prot == "disabled" {
		r.warnDeregistration(at)
	}
	return nil
}

// templateGroups reads a template (JSON or YAML) for its groups: the
// update policy of each that replaces instances (by logical id), and the
// groups that name their launch template version as a literal $Latest or
// $Default.
func templateGroups(body string) (policies, moving map[string]string, err error) {
	var doc any
	if jerr := json.Unmarshal([]byte(body), &doc); jerr != nil {
		var n yaml.Node
		if yerr := yaml.Unmarshal([]byte(body), &n); yerr != nil {
			return nil, nil, fmt.Errorf("neither JSON (%v) nor YAML (%v)", jerr, yerr)
		}
		doc = yamlValue(&n)
	}
	policies, moving = map[string]string{}, map[string]string{}
	top, _ := doc.(map[string]any)
	resources, _ := top["Resources"].(map[string]any)
	for id, v := range resources {
		res, _ := v.(map[string]any)
		if typ, _ := res["Type"].(string); typ != groupType {
			continue
		}
		up, _ := res["UpdatePolicy"].(map[string]any)
		switch {
		case up[policyRefresh] != nil:
			policies[id] = policyRefresh
		case up[policyRolling] != nil:
			policies[id] = policyRolling
		case up[policyReplacing] != nil && truthy(up[policyReplacing]):
			policies[id] = policyReplacing
		}
		props, _ := res["Properties"].(map[string]any)
		lt, _ := props["LaunchTemplate"].(map[string]any)
		if mip, ok := props["MixedInstancesPolicy"].(map[string]any); ok && lt == nil {
			ltOf, _ := mip["LaunchTemplate"].(map[string]any)
			lt, _ = ltOf["LaunchTemplateSpecification"].(map[string]any)
		}
		if v, ok := lt["Version"].(string); ok && (v == "$Latest" || v == "$Default") {
			moving[id] = v
		}
	}
	return policies, moving, nil
}

// truthy reads AutoScalingReplacingUpdate's WillReplace, which only
// replaces the group when true.
func truthy(v any) bool {
	m, _ := v.(map[string]any)
	switch w := m["WillReplace"].(type) {
	case bool:
		return w
	case string:
		return strings.EqualFold(w, "true")
	}
	return false
}

// yamlValue turns a YAML node into plain values; a node with a short-form
// function tag (!Ref, !GetAtt) becomes a map from the tag to its value, so
// that it is never taken for a literal.
func yamlValue(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return yamlValue(n.Content[0])
		}
		return nil
	case yaml.AliasNode:
		return yamlValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlValue(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, c := range n.Content {
			list[i] = yamlValue(c)
		}
		v = list
	default:
		switch n.Tag {
		case "!!bool":
			v = strings.EqualFold(n.Value, "true")
		default:
			v = n.Value
		}
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return map[string]any{n.Tag: v}
	}
	return v
}
