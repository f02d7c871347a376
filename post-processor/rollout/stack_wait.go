package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

const (
	// maxStackFailures is how many failed events a failure quotes.
	maxStackFailures = 3
	// maxEventPages bounds reading a stack's new events (100 a page) in
	// one poll, in case an endpoint repeats a page forever.
	maxEventPages = 50
)

// errStackDeadline means a stack was still in progress when the deadline
// passed.
var errStackDeadline = errors.New("deadline passed")

// prepareStack settles an operation of someone else's that resolve found
// (on_refresh_in_progress = "wait" or "cancel"), and reads the stack again
// where that is due: after such a wait, and in later waves.
func (r *roller) prepareStack(ctx context.Context, ro *rollout, reread bool) error {
	s := ro.stack
	if s.foreign != "" {
		if r.cfg.OnRefreshInProgress == InProgressCancel && s.foreign == cfntypes.StackStatusUpdateInProgress {
			cctx, cancel := cleanupContext()
			_, err := ro.clients.cloudformation.CancelUpdateStack(cctx, &cloudformation.CancelUpdateStackInput{StackName: aws.String(s.id)})
			cancel()
			if err != nil {
				return fmt.Errorf("cancelling the update in progress of CloudFormation stack (%s) (on_refresh_in_progress = \"cancel\"): %w", s.name, err)
			}
			r.say(ro, "cancelled the stack's update in progress, not started by this build (on_refresh_in_progress = \"cancel\"): waiting for CloudFormation to roll it back")
		} else {
			r.say(ro, "the stack is %s, an operation not started by this build: waiting for it to end (on_refresh_in_progress = %q)", s.foreign, r.cfg.OnRefreshInProgress)
		}
		s.since, s.seen = r.now(), map[string]bool{}
		status, err := r.pollStack(ctx, ro, r.deadline, false)
		if err != nil {
			return fmt.Errorf("waiting for the operation in progress on CloudFormation stack (%s) to end: %w; nothing was changed", s.name, err)
		}
		r.say(ro, "the other operation ended %s: reading the stack again", status)
		reread = true
	}
	if !reread {
		return nil
	}
	s.reset()
	ro.upToDate, ro.warnings = "", nil
	if err := r.resolveStack(ctx, ro); err != nil {
		return err
	}
	if s.foreign != "" {
		return fmt.Errorf("CloudFormation stack (%s) is %s again, another operation not started by this build; nothing was changed", s.name, s.foreign)
	}
	r.sayWarnings([]*rollout{ro})
	return nil
}

// stackToken is the update's ClientRequestToken: the same for the same
// stack, values and stack history, so that a retry of a request whose
// answer was lost never starts a second update, while a run after the
// stack moved on (its update rolled back, say) can update it again.
func stackToken(id string, params []*stackParam, lastEvent string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", id, lastEvent)
	for _, p := range params {
		fmt.Fprintf(h, "\x00%s=%s", p.key, p.image)
	}
	return "asg-rollout-" + hex.EncodeToString(h.Sum(nil))[:48]
}

// updateInput is the UpdateStack request: the previous template, the
// roll-out's parameters set, every other UsePreviousValue, and the
// capabilities the stack needs.
func (s *stackRollout) updateInput() *cloudformation.UpdateStackInput {
	in := &cloudformation.UpdateStackInput{
		StackName:           aws.String(s.id),
		UsePreviousTemplate: aws.Bool(true),
		Capabilities:        s.capabilities,
		ClientRequestToken:  aws.String(s.token),
	}
	for _, k := range s.allParams {
		if p := s.param(k); p != nil {
			in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(p.image)})
		} else {
			in.Parameters = append(in.Parameters, cfntypes.Parameter{ParameterKey: aws.String(k), UsePreviousValue: aws.Bool(true)})
		}
	}
	return in
}

// noUpdates reports CloudFormation's answer to an update that changes
// nothing. It has no error code of its own: a ValidationError whose
// message says so is the only sign.
func noUpdates(err error) bool {
	var apiErr interface {
		ErrorCode() string
		ErrorMessage() string
	}
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "No updates are to be performed")
}

// updateStack starts the stack's update, unless it is up to date or an
// update of ours already runs.
func (r *roller) updateStack(ctx context.Context, ro *rollout) error {
	s := ro.stack
	if s.upToDate {
		r.say(ro, "up to date: %s", ro.upToDate)
		return nil
	}
	if s.adopted {
		return nil
	}
	last, err := r.markEvents(ctx, ro)
	if err != nil {
		return fmt.Errorf("reading the events of CloudFormation stack (%s): %w; nothing was changed", s.name, err)
	}
	s.token = stackToken(s.id, s.params, last)
	in := s.updateInput()
	_, err = ro.clients.cloudformation.UpdateStack(ctx, in)
	switch {
	case err == nil:
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		r.say(ro, "updating the stack: %s, every other parameter as it was (client request token %s)", s.paramList(true), s.token)
		return nil
	case noUpdates(err):
		s.mu.Lock()
		s.upToDate = true
		s.mu.Unlock()
		ro.upToDate = "CloudFormation: No updates are to be performed"
		r.say(ro, "up to date: CloudFormation says no updates are to be performed (%s already)", s.paramList(false))
		return nil
	}
	// The answer may have been lost after the update began: look.
	cctx, cancel := cleanupContext()
	defer cancel()
	if st, rerr := describeStack(cctx, ro); rerr == nil && st.StackStatus == cfntypes.StackStatusUpdateInProgress && s.carries(st) {
		s.mu.Lock()
		s.started = true
		s.mu.Unlock()
		r.say(ro, "the update began although its request failed (%v): following it", err)
		return nil
	}
	var caps *cfntypes.InsufficientCapabilitiesException
	if errors.As(err, &caps) {
		return fmt.Errorf("updating CloudFormation stack (%s): %w; the stack needs a capability it was not created with: update it once by hand with that capability; nothing was changed", s.name, err)
	}
	return fmt.Errorf("updating CloudFormation stack (%s): %w; nothing was changed", s.name, err)
}

// carries reports whether st's parameters hold the roll-out's values.
func (s *stackRollout) carries(st *cfntypes.Stack) bool {
	for _, p := range s.params {
		i := slices.IndexFunc(st.Parameters, func(sp cfntypes.Parameter) bool { return aws.ToString(sp.ParameterKey) == p.key })
		if i < 0 || aws.ToString(st.Parameters[i].ParameterValue) != p.image {
			return false
		}
	}
	return true
}

// markEvents notes the stack's newest event, before the update: progress
// prints only what comes after it. It returns that event's id.
func (r *roller) markEvents(ctx context.Context, ro *rollout) (string, error) {
	s := ro.stack
	out, err := ro.clients.cloudformation.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(s.id)})
	if err != nil {
		return "", err
	}
	s.seen = map[string]bool{}
	if len(out.StackEvents) == 0 {
		return "", nil
	}
	newest := out.StackEvents[0]
	s.seen[aws.ToString(newest.EventId)] = true
	s.since = aws.ToTime(newest.Timestamp)
	return aws.ToString(newest.EventId), nil
}

// waitStack follows the stack's update to its end, within the timeout, and
// says how it ended. On Ctrl-C or timeout it carries out on_interrupt or
// on_timeout, once.
func (r *roller) waitStack(ctx context.Context, ro *rollout) error {
	s := ro.stack
	status, err := r.pollStack(ctx, ro, r.deadline, true)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("CloudFormation stack (%s) update interrupted: %s", s.name, r.actStack(ro, r.cfg.OnInterrupt))
	case errors.Is(err, errStackDeadline):
		return fmt.Errorf("CloudFormation stack (%s) update did not end within timeout %s: %s", s.name, r.cfg.timeout, r.actStack(ro, r.cfg.OnTimeout))
	case err != nil:
		return fmt.Errorf("following CloudFormation stack (%s): %w; the update may still be running: %s", s.name, err, stackFollowCommand(ro))
	}
	return r.stackEnded(ro, status)
}

// stackEnded reports the end of the update: nil for UPDATE_COMPLETE, an
// error quoting the first failed events otherwise.
func (r *roller) stackEnded(ro *rollout, status cfntypes.StackStatus) error {
	s := ro.stack
	switch status {
	case cfntypes.StackStatusUpdateComplete:
		r.say(ro, "stack UPDATE_COMPLETE: %s", s.paramList(false))
		return nil
	case cfntypes.StackStatusUpdateRollbackComplete:
		return s.failure(fmt.Sprintf("CloudFormation stack (%s) update ended UPDATE_ROLLBACK_COMPLETE: CloudFormation rolled the stack back, and %s again", s.name, s.previousList()))
	case cfntypes.StackStatusUpdateRollbackFailed:
		return s.failure(fmt.Sprintf("CloudFormation stack (%s) update ended UPDATE_ROLLBACK_FAILED: the update failed and so did its rollback, so the stack's groups may run both AMIs: check them now, and finish the rollback (aws cloudformation continue-update-rollback --region %s --stack-name %s)", s.name, ro.region, s.name))
	case cfntypes.StackStatusUpdateFailed:
		return s.failure(fmt.Sprintf("CloudFormation stack (%s) update ended UPDATE_FAILED and was not rolled back (rollback is disabled for it): resources already updated keep the new AMI", s.name))
	}
	return s.failure(fmt.Sprintf("CloudFormation stack (%s) update ended %s, which is not UPDATE_COMPLETE", s.name, status))
}

// backTo says what a rollback returns the parameters to.
func (s *stackRollout) backTo() string {
	parts := make([]string, len(s.params))
	for i, p := range s.params {
		parts[i] = fmt.Sprintf("%s back to %s", p.key, orDash(p.previous))
	}
	return "parameter " + strings.Join(parts, ", ")
}

// previousList says what the roll-out's parameters were before it.
func (s *stackRollout) previousList() string {
	parts := make([]string, len(s.params))
	for i, p := range s.params {
		parts[i] = fmt.Sprintf("%s is %s", p.key, orDash(p.previous))
	}
	return "parameter " + strings.Join(parts, ", ")
}

// failure is msg with the stack's status reason and first failed events.
func (s *stackRollout) failure(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason != "" {
		msg += " (" + s.reason + ")"
	}
	if len(s.failures) > 0 {
		msg += "\nfirst failed events:\n  - " + strings.Join(s.failures, "\n  - ")
	}
	return errors.New(msg)
}

// pollStack reads the stack until no operation runs on it, ctx ends
// (ctx.Err()) or deadline passes (errStackDeadline), printing new events
// and, with counts, how many instances of each group run the new AMI. It
// returns the stack's last status.
func (r *roller) pollStack(ctx context.Context, ro *rollout, deadline time.Time, counts bool) (cfntypes.StackStatus, error) {
	s := ro.stack
	delay := r.cfg.pollMinDelay
	for {
		if err := ctx.Err(); err != nil {
			return s.last, err
		}
		st, err := describeStack(ctx, ro)
		if err != nil {
			if ctx.Err() != nil {
				return s.last, ctx.Err()
			}
			return s.last, err
		}
		changed := r.stackEvents(ctx, ro)
		if counts && r.stackCounts(ctx, ro) {
			changed = true
		}
		s.mu.Lock()
		if s.last != st.StackStatus {
			changed = true
		}
		s.last, s.reason = st.StackStatus, aws.ToString(st.StackStatusReason)
		s.mu.Unlock()
		if !stackInProgress(st.StackStatus) {
			return st.StackStatus, nil
		}
		now := r.now()
		if !now.Before(deadline) {
			return st.StackStatus, errStackDeadline
		}
		if changed {
			delay = r.cfg.pollMinDelay
		} else {
			delay = min(2*delay, r.cfg.pollMaxDelay)
		}
		if err := r.sleep(ctx, min(delay, max(deadline.Sub(now), time.Millisecond))); err != nil {
			return s.last, err
		}
	}
}

// stackEvents prints the stack's new events, oldest first, and records
// the failed ones. It reports whether there were any. Best effort: the
// stack's status decides, not its events.
func (r *roller) stackEvents(ctx context.Context, ro *rollout) bool {
	s := ro.stack
	var fresh []cfntypes.StackEvent
	in := &cloudformation.DescribeStackEventsInput{StackName: aws.String(s.id)}
	tokens := map[string]bool{}
pages:
	for page := 0; page < maxEventPages; page++ {
		out, err := ro.clients.cloudformation.DescribeStackEvents(ctx, in)
		if err != nil {
			log.Printf("[DEBUG] %s: reading stack events: %v", ro.label(), err)
			break
		}
		for _, e := range out.StackEvents {
			if s.seen[aws.ToString(e.EventId)] || aws.ToTime(e.Timestamp).Before(s.since) {
				break pages
			}
			fresh = append(fresh, e)
		}
		next := aws.ToString(out.NextToken)
		if next == "" || tokens[next] {
			break
		}
		tokens[next] = true
		in.NextToken = out.NextToken
	}
	slices.Reverse(fresh)
	for _, e := range fresh {
		s.seen[aws.ToString(e.EventId)] = true
		line := fmt.Sprintf("%s (%s) %s", aws.ToString(e.LogicalResourceId), aws.ToString(e.ResourceType), e.ResourceStatus)
		if reason := aws.ToString(e.ResourceStatusReason); reason != "" {
			line += ": " + reason
		}
		r.say(ro, "%s", line)
		if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") && aws.ToString(e.ResourceType) != "AWS::CloudFormation::Stack" {
			s.mu.Lock()
			if len(s.failures) < maxStackFailures {
				s.failures = append(s.failures, line)
			}
			s.mu.Unlock()
		}
	}
	return len(fresh) > 0
}

// stackCounts prints, for each group of the stack whose count changed,
// how many of its instances run the new AMI. A replacing update makes a
// new group, so the stack's groups are listed each time. Best effort.
func (r *roller) stackCounts(ctx context.Context, ro *rollout) bool {
	s := ro.stack
	res, err := stackGroupResources(ctx, ro)
	if err != nil {
		log.Printf("[DEBUG] %s: listing stack resources: %v", ro.label(), err)
		return false
	}
	var names []string
	logical := map[string]string{}
	for _, sr := range res {
		names = append(names, aws.ToString(sr.PhysicalResourceId))
		logical[aws.ToString(sr.PhysicalResourceId)] = aws.ToString(sr.LogicalResourceId)
	}
	if len(names) == 0 {
		return false
	}
	groups, err := describeGroupsByName(ctx, ro.clients.autoscaling, names)
	if err != nil {
		log.Printf("[DEBUG] %s: describing stack groups: %v", ro.label(), err)
		return false
	}
	images := map[string]bool{}
	for _, p := range s.params {
		images[p.image] = true
	}
	changed := false
	for _, g := range groups {
		var ids []string
		for _, i := range g.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		onNew, err := countOnImages(ctx, ro.clients.instances, ids, images)
		if err != nil {
			log.Printf("[DEBUG] %s: describing instances: %v", ro.label(), err)
			continue
		}
		name := aws.ToString(g.AutoScalingGroupName)
		line := fmt.Sprintf("group %s (%s): %d of %d instance(s) on %s", name, logical[name], onNew, len(ids), ro.imageID)
		s.mu.Lock()
		if s.counts == nil {
			s.counts = map[string]string{}
		}
		if s.counts[name] != line {
			s.counts[name] = line
			changed = true
			s.mu.Unlock()
			r.say(ro, "%s", line)
			continue
		}
		s.mu.Unlock()
	}
	return changed
}

// countOnImages counts the instances of ids that run one of images.
func countOnImages(ctx context.Context, api instancesAPI, ids []string, images map[string]bool) (int, error) {
	n := 0
	if api == nil {
		return 0, nil
	}
	for chunk := range slices.Chunk(ids, maxIDsPerCall) {
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: chunk})
		if err != nil {
			return 0, err
		}
		for _, rv := range out.Reservations {
			for _, in := range rv.Instances {
				if images[aws.ToString(in.ImageId)] {
					n++
				}
			}
		}
	}
	return n, nil
}

// actStack carries out action (on_interrupt or on_timeout) on the stack's
// update, once, with fresh bounded contexts: detach leaves it running;
// rollback and cancel both cancel it (CancelUpdateStack), after which
// CloudFormation rolls the stack back, and follow that to its end for at
// most followTimeout.
func (r *roller) actStack(ro *rollout, action string) string {
	s := ro.stack
	s.mu.Lock()
	if s.action != "" {
		s.mu.Unlock()
		return s.action
	}
	s.action = "acting" // claimed: a second caller gets the first's answer once it is set
	s.mu.Unlock()
	msg := r.doStackAction(ro, action)
	s.mu.Lock()
	s.action = msg
	s.mu.Unlock()
	return msg
}

func (r *roller) doStackAction(ro *rollout, action string) string {
	s := ro.stack
	if action == ActionDetach {
		s.mu.Lock()
		s.detached = true
		s.mu.Unlock()
		msg := fmt.Sprintf("left the stack update running (on_interrupt/on_timeout = detach); follow it with: %s", stackFollowCommand(ro))
		r.say(ro, "%s", msg)
		return msg
	}
	in := &cloudformation.CancelUpdateStackInput{StackName: aws.String(s.id)}
	if s.token != "" { // none for an update this build adopted
		in.ClientRequestToken = aws.String(strings.Replace(s.token, "asg-rollout-", "asg-rollout-cancel-", 1))
	}
	ctx, cancel := cleanupContext()
	_, err := ro.clients.cloudformation.CancelUpdateStack(ctx, in)
	cancel()
	var msg string
	if err == nil {
		s.mu.Lock()
		s.acted = true
		s.mu.Unlock()
		msg = fmt.Sprintf("cancelled the stack update (CancelUpdateStack, on_interrupt/on_timeout = %s): CloudFormation rolls the stack back, %s", action, s.backTo())
	} else {
		// CancelUpdateStack works only in UPDATE_IN_PROGRESS: the update
		// may have ended or begun its rollback meanwhile.
		ctx, cancel := cleanupContext()
		st, rerr := describeStack(ctx, ro)
		cancel()
		switch {
		case rerr != nil:
			msg = fmt.Sprintf("could not cancel the stack update: %v; it may still be running: %s", err, stackFollowCommand(ro))
			r.say(ro, "%s", msg)
			return msg
		case st.StackStatus == cfntypes.StackStatusUpdateCompleteCleanupInProgress || st.StackStatus == cfntypes.StackStatusUpdateComplete:
			s.mu.Lock()
			s.last = st.StackStatus
			s.mu.Unlock()
			if st.StackStatus == cfntypes.StackStatusUpdateComplete {
				msg = "the stack update had already succeeded (UPDATE_COMPLETE): nothing to cancel"
				r.say(ro, "%s", msg)
				return msg
			}
			msg = fmt.Sprintf("the stack update had already succeeded (%s): it cannot be cancelled", st.StackStatus)
		case stackInProgress(st.StackStatus):
			msg = fmt.Sprintf("could not cancel the stack update (%v): the stack is %s", err, st.StackStatus)
		default:
			s.mu.Lock()
			s.last = st.StackStatus
			s.mu.Unlock()
			msg = fmt.Sprintf("the stack update had already ended %s", st.StackStatus)
			r.say(ro, "%s", msg)
			return msg
		}
	}
	r.say(ro, "%s", msg)
	end := r.followStack(ro)
	r.say(ro, "%s", end)
	return msg + "\n" + end
}

// followStack follows the stack after a cancel until no operation runs on
// it, for at most followTimeout, and says where it ended.
func (r *roller) followStack(ro *rollout) string {
	ctx, cancel := context.WithTimeout(context.Background(), r.followFor)
	defer cancel()
	r.say(ro, "following the stack to the end of its update (at most %s; it goes on regardless)", r.followFor)
	status, err := r.pollStack(ctx, ro, r.now().Add(r.followFor), true)
	switch {
	case err == nil:
		return fmt.Sprintf("the stack ended %s", status)
	case errors.Is(err, errStackDeadline) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the stack is still %s after %s: it goes on without this build; follow it with: %s", status, r.followFor, stackFollowCommand(ro))
	}
	return fmt.Sprintf("could not follow the stack (%v): it may still be running; follow it with: %s", err, stackFollowCommand(ro))
}
