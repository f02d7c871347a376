package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/instancerefresh"
)

const (
	// actionTimeout bounds each call made after the build's context is
	// gone (Ctrl-C, timeout): Packer waits for the plugin, but not forever.
	actionTimeout = 2 * time.Minute
	// followTimeout bounds how long a rollback or cancel started on
	// interruption or timeout is followed, so that the build's last line
	// says whether the fleet is back. It is a bound on the build, not on the
	// rollback, which goes on without it.
	followTimeout = 15 * time.Minute
)

// cleanupContext is the context of a call made after the build's own
// context may be gone: fresh, and bounded.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), actionTimeout)
}

// errNotListed means a refresh we started is not in Describe's answers
// yet, which AWS allows for a moment after the start.
var errNotListed = errors.New("not listed yet")

// act carries out action (on_interrupt or on_timeout) on ro's refresh,
// once, with fresh bounded contexts, then follows a rollback or cancel to
// its end, and returns what happened.
func (r *roller) act(ro *rollout, action string) string {
	if ro.action != "" {
		return ro.action
	}
	ctx, cancel := cleanupContext()
	ro.action = r.doAction(ctx, ro, action)
	cancel()
	r.say(ro, "%s", ro.action)
	if ro.acted || (ro.outcome() == outcomeMayBeRunning && !ro.detached) {
		ro.action += "\n" + r.followEnd(ro)
	}
	return ro.action
}

func (r *roller) doAction(ctx context.Context, ro *rollout, action string) string {
	if action == ActionDetach {
		ro.detached = true
		return r.detachMessage(ro)
	}
	id := ro.refreshID
	cur, err := r.lookUp(ctx, ro)
	switch {
	case errors.Is(err, errNotListed):
		// It was the group's one active refresh when AWS accepted it, and
		// no other can start while it is: Rollback and Cancel, which act on
		// the group's active refresh, reach it.
		r.say(ro, "instance refresh %s is not listed yet (AWS lists a new refresh after a moment): acting on it as the group's active refresh", id)
	case err != nil:
		return fmt.Sprintf("could not %s instance refresh %s: %v; it may still be running: check it with: %s", action, id, err, followCommand(ro))
	case !knownStatus(cur.Status):
		return fmt.Sprintf("instance refresh %s reports status %q, which this plugin does not know: left alone, and it may still be running; check it with: %s", id, cur.Status, followCommand(ro))
	case !instancerefresh.IsActive(cur.Status):
		return fmt.Sprintf("instance refresh %s had already ended %s: %s", id, cur.Status, endState(ro, cur.Status))
	case cur.Status == astypes.InstanceRefreshStatusRollbackInProgress:
		// Already on its way back (auto rollback): the safest place it can
		// be. Cancelling a rollback would leave the group half-way.
		return fmt.Sprintf("instance refresh %s is already rolling back: left to finish; follow it with: %s", id, followCommand(ro))
	case cur.Status == astypes.InstanceRefreshStatusCancelling:
		return fmt.Sprintf("instance refresh %s is already being cancelled; follow it with: %s", id, followCommand(ro))
	}

	if action == ActionRollback {
		out, err := ro.clients.autoscaling.RollbackInstanceRefresh(ctx, &autoscaling.RollbackInstanceRefreshInput{AutoScalingGroupName: aws.String(ro.group)})
		if err == nil {
			return r.acted(ro, aws.ToString(out.InstanceRefreshId), fmt.Sprintf("rollback of instance refresh %s started: replaced instances return to %s; follow it with: %s", id, ro.previous(), followCommand(ro)))
		}
		var irreversible *astypes.IrreversibleInstanceRefreshFault
		if !errors.As(err, &irreversible) {
			return r.confirm(ctx, ro, "rollback", err, astypes.InstanceRefreshStatusRollbackInProgress)
		}
		r.say(ro, "instance refresh %s cannot be rolled back (%s): cancelling it instead", id, irreversible.ErrorMessage())
	}
	out, err := ro.clients.autoscaling.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String(ro.group)})
	if err != nil {
		return r.confirm(ctx, ro, "cancel", err, astypes.InstanceRefreshStatusCancelling, astypes.InstanceRefreshStatusCancelled)
	}
	return r.acted(ro, aws.ToString(out.InstanceRefreshId), fmt.Sprintf("cancelled instance refresh %s: %s; follow it with: %s", id, stillLaunches(ro), followCommand(ro)))
}

// acted reports an action AWS accepted, checking that it reached our
// refresh: Rollback and Cancel name no refresh, only the group.
func (r *roller) acted(ro *rollout, actedOn, msg string) string {
	if actedOn != "" && actedOn != ro.refreshID {
		return fmt.Sprintf("%s; but AWS acted on instance refresh %s, not on %s: check the group now: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s", msg, actedOn, ro.refreshID, ro.region, ro.group)
	}
	ro.acted = true
	// Until it is read again, it is a refresh on its way back: running.
	ro.final = &astypes.InstanceRefresh{InstanceRefreshId: aws.String(ro.refreshID), Status: astypes.InstanceRefreshStatusPending}
	ctx, cancel := cleanupContext()
	defer cancel()
	r.lookUp(ctx, ro) //nolint:errcheck // best effort: followEnd reads it again
	return msg
}

// confirm looks at the refresh after an action call failed: a retry of a
// call whose answer was lost fails because the first attempt worked, and
// the refresh may have ended meanwhile.
func (r *roller) confirm(ctx context.Context, ro *rollout, action string, callErr error, done ...astypes.InstanceRefreshStatus) string {
	cur, err := r.lookUp(ctx, ro)
	switch {
	case err != nil:
	case slices.Contains(done, cur.Status):
		ro.acted = true
		return fmt.Sprintf("%s of instance refresh %s under way (%s; the answer to the request was lost, but the refresh is %s)", action, ro.refreshID, callErr, cur.Status)
	case knownStatus(cur.Status) && !instancerefresh.IsActive(cur.Status):
		return fmt.Sprintf("instance refresh %s had already ended %s: %s", ro.refreshID, cur.Status, endState(ro, cur.Status))
	}
	return fmt.Sprintf("%s of instance refresh %s failed: %v; it may still be running: check it with: %s", action, ro.refreshID, callErr, followCommand(ro))
}

// lookUp reads ro's refresh by id and records it as last seen. A refresh
// started moments ago may be missing from the answer (errNotListed) for
// up to the waiter's not-found grace.
func (r *roller) lookUp(ctx context.Context, ro *rollout) (*astypes.InstanceRefresh, error) {
	cur, err := instancerefresh.Find(ctx, ro.clients.autoscaling, ro.group, ro.refreshID)
	switch {
	case err == nil:
		ro.final = cur
		return cur, nil
	case errors.Is(err, instancerefresh.ErrNotFound) && r.now().Sub(ro.startAttemptAt) < instancerefresh.DefaultNotFoundTimeout:
		return nil, errNotListed
	}
	return nil, err
}

// followEnd follows ro's refresh after a rollback or cancel until it ends,
// for at most followTimeout, and says where it left the group.
func (r *roller) followEnd(ro *rollout) string {
	ctx, cancel := context.WithTimeout(context.Background(), r.followFor)
	defer cancel()
	r.say(ro, "following instance refresh %s to its end (at most %s; it goes on regardless)", ro.refreshID, r.followFor)
	last, err := r.waitRefresh(ctx, ro, ro.refreshID, r.followFor, anyEnd)
	if last != nil {
		ro.final = last
	}
	var msg string
	switch {
	case err == nil && last != nil && knownStatus(last.Status):
		msg = fmt.Sprintf("instance refresh %s ended %s: %s", ro.refreshID, last.Status, endState(ro, last.Status))
	case err == nil && last != nil:
		msg = fmt.Sprintf("instance refresh %s reports status %q, which this plugin does not know: it may still be running; check it with: %s", ro.refreshID, last.Status, followCommand(ro))
	case last != nil:
		msg = fmt.Sprintf("instance refresh %s is still %s after %s: it goes on without this build; follow it with: %s", ro.refreshID, last.Status, r.followFor, followCommand(ro))
	default:
		msg = fmt.Sprintf("could not follow instance refresh %s (%v): it may still be running; check it with: %s", ro.refreshID, err, followCommand(ro))
	}
	r.say(ro, "%s", msg)
	return msg
}

// previous says what the group ran before the roll-out.
func (ro *rollout) previous() string {
	if ro.lc != nil {
		return "launch configuration " + ro.lc.name
	}
	return fmt.Sprintf("version %d of %s", ro.sourceVersion, ro.templateID)
}

func (r *roller) detachMessage(ro *rollout) string {
	return fmt.Sprintf("left instance refresh %s running (on_interrupt/on_timeout = detach); follow it with: %s", ro.refreshID, followCommand(ro))
}
