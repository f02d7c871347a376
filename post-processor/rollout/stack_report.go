package rollout

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// stackPlan is what a roll-out of one stack would do, in a dry run.
type stackPlan struct {
	StackName string `json:"stack_name"`
	StackID   string `json:"stack_id"`
	Status    string `json:"stack_status"`
	// Parameters are the parameters that would change; every other
	// parameter would keep its value (UsePreviousValue).
	Parameters   []parameterPlan  `json:"parameters"`
	Capabilities []string         `json:"capabilities"`
	Groups       []stackGroupPlan `json:"groups"`
	// Action says what would be done: update, follow, wait, nothing.
	Action string `json:"action"`
}

type parameterPlan struct {
	Key      string `json:"key"`
	Previous string `json:"previous_value"`
	Value    string `json:"value"`
	Region   string `json:"image_region"`
}

type stackGroupPlan struct {
	LogicalID    string `json:"logical_id"`
	Group        string `json:"auto_scaling_group"`
	UpdatePolicy string `json:"update_policy"`
	Instances    int    `json:"instances"`
	Desired      int    `json:"desired_capacity"`
}

// planStack works out what a roll-out of ro's stack would do, from what
// resolve found and one more read of its groups.
func (r *roller) planStack(ctx context.Context, ro *rollout) (groupPlan, error) {
	s := ro.stack
	gp := groupPlan{
		Region: ro.region, Account: ro.account, Wave: ro.wave, ImageID: ro.imageID,
		UpToDate: ro.upToDate, Warnings: append([]string{}, ro.warnings...),
		OnFailure: "CloudFormation would roll the stack back (UPDATE_ROLLBACK_COMPLETE) and the build would fail with the stack's reason",
	}
	sp := &stackPlan{StackName: s.name, StackID: s.id, Status: string(s.status), Capabilities: []string{}, Groups: []stackGroupPlan{}}
	for _, c := range s.capabilities {
		sp.Capabilities = append(sp.Capabilities, string(c))
	}
	for _, p := range s.params {
		sp.Parameters = append(sp.Parameters, parameterPlan{Key: p.key, Previous: p.previous, Value: p.image, Region: p.region})
	}
	switch {
	case s.upToDate:
		sp.Action = "nothing: " + ro.upToDate
	case s.adopted:
		sp.Action = "an update to these values is already running: it would be followed, nothing started"
	case s.foreign != "":
		sp.Action = fmt.Sprintf("the stack is %s (not this build's): the roll-out would wait for it to end (on_refresh_in_progress = %s), then update the stack", s.foreign, r.cfg.OnRefreshInProgress)
		gp.RefreshInProgress = sp.Action
	default:
		sp.Action = fmt.Sprintf("would update the stack with its previous template: %s, every other parameter as it was", s.paramList(true))
	}
	var names []string
	for _, g := range s.groups {
		names = append(names, g.name)
	}
	desc := map[string][2]int{}
	if len(names) > 0 {
		groups, err := describeGroupsByName(ctx, ro.clients.autoscaling, names)
		if err != nil {
			return gp, fmt.Errorf("describing the Auto Scaling groups of CloudFormation stack (%s): %w", s.name, err)
		}
		for _, g := range groups {
			desc[aws.ToString(g.AutoScalingGroupName)] = [2]int{len(g.Instances), int(aws.ToInt32(g.DesiredCapacity))}
		}
	}
	for _, g := range s.groups {
		policy := g.policy
		if policy == "" {
			policy = "none"
			if !s.policiesKnown {
				policy = "unknown (the template could not be read)"
			}
		}
		sp.Groups = append(sp.Groups, stackGroupPlan{LogicalID: g.logicalID, Group: g.name, UpdatePolicy: policy, Instances: desc[g.name][0], Desired: desc[g.name][1]})
	}
	gp.Stack = sp
	return gp, nil
}

// stackText is the plan of one stack as printed.
func (gp groupPlan) stackText() string {
	sp := gp.Stack
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "\n  "+format, args...) }
	fmt.Fprintf(&b, "plan (wave %d)", gp.Wave)
	line("stack: %s (%s)", sp.StackName, sp.Status)
	line("action: %s", sp.Action)
	for _, p := range sp.Parameters {
		line("parameter %s: %s → %s (the artifact's AMI in %s)", p.Key, orDash(p.Previous), p.Value, p.Region)
	}
	if len(sp.Capabilities) > 0 {
		line("capabilities: %s", strings.Join(sp.Capabilities, ", "))
	}
	for _, g := range sp.Groups {
		line("group %s (%s): update policy %s, %d instance(s) of desired %d", g.Group, g.LogicalID, g.UpdatePolicy, g.Instances, g.Desired)
	}
	if gp.UpToDate == "" {
		line("on failure: %s", gp.OnFailure)
	}
	if len(gp.Warnings) == 0 {
		line("warnings: none")
	}
	for _, w := range gp.Warnings {
		line("warning: %s", w)
	}
	return b.String()
}

// stackResult fills in the stack part of res for ro.
func (res *Result) stackResult(ro *rollout, dryRun bool) {
	s := ro.stack
	if s == nil {
		return
	}
	res.AutoScalingGroup = ""
	res.Stack, res.StackID = s.name, s.id
	var keys, previous []string
	for _, p := range s.params {
		keys = append(keys, p.key)
		previous = append(previous, p.previous)
	}
	res.Parameter, res.PreviousValue = strings.Join(keys, ","), strings.Join(previous, ",")
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	switch {
	case dryRun:
		res.Status = "Planned"
	case last != "":
		res.Status = string(last)
	case s.upToDate:
		res.Status = string(s.status)
	default:
		res.Status = "NotStarted"
	}
	var groups []string
	for _, g := range s.groups {
		groups = append(groups, g.name)
	}
	res.AutoScalingGroup = strings.Join(groups, ",")
}

// stackLines is the stacks' table of the summary, "" without stacks.
func (a *Artifact) stackLines() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	n := 0
	for _, r := range a.Results {
		if r.Stack == "" {
			continue
		}
		if n == 0 {
			fmt.Fprintln(w, "REGION\tSTACK\tPARAMETER\tFROM\tTO\tSTATUS\tOUTCOME")
		}
		n++
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Region, r.Stack, r.Parameter, orDash(r.PreviousValue), r.ImageID, r.Status, r.Outcome)
	}
	w.Flush()
	if n == 0 {
		return ""
	}
	return "\n" + strings.TrimSuffix(b.String(), "\n")
}

// withStack adds the stack keys to a result's state, for a stack.
func (r Result) withStack(m map[string]string) map[string]string {
	if r.Stack == "" {
		return m
	}
	m["stack"], m["stack_id"], m["parameter"], m["previous_value"] = r.Stack, r.StackID, r.Parameter, r.PreviousValue
	return m
}

// hasGroups reports whether any result is a group's, not a stack's.
func (a *Artifact) hasGroups() bool {
	for _, r := range a.Results {
		if r.Stack == "" {
			return true
		}
	}
	return len(a.Results) == 0
}

// subjects counts what the artifact reports on: "2 Auto Scaling group(s)",
// "1 stack(s)", or both.
func (a *Artifact) subjects() string {
	stacks := 0
	for _, r := range a.Results {
		if r.Stack != "" {
			stacks++
		}
	}
	return countSubjects(len(a.Results)-stacks, stacks)
}

// rolloutSubjects is subjects for roll-outs not yet reported.
func rolloutSubjects(ros []*rollout) string {
	stacks, _ := splitStacks(ros)
	return countSubjects(len(ros)-len(stacks), len(stacks))
}

func countSubjects(groups, stacks int) string {
	switch {
	case stacks == 0:
		return fmt.Sprintf("%d Auto Scaling group(s)", groups)
	case groups == 0:
		return fmt.Sprintf("%d CloudFormation stack(s)", stacks)
	}
	return fmt.Sprintf("%d Auto Scaling group(s) and %d CloudFormation stack(s)", groups, stacks)
}
