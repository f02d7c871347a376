package rollout

import (
	"slices"

	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// outcome is how one group's roll-out ended. It is decided in one place,
// by decideOutcome, from what was observed; AMI protection, the artifact,
// the summary and the build's error all read it rather than inferring it
// again from fields and messages.
type outcome int

const (
	// outcomeNotStarted: no refresh began. The group is as it was, apart
	// from launch template versions created and not in use.
	outcomeNotStarted outcome = iota
	// outcomeUpToDate: nothing needed replacing; every instance already
	// runs the AMI.
	outcomeUpToDate
	// outcomeSucceeded: the refresh succeeded, and the group runs the new
	// version (or launch configuration) with the new AMI.
	outcomeSucceeded
	// outcomeRolledBack: the refresh did not deploy, and every replaced
	// instance is back on what the group ran before.
	outcomeRolledBack
	// outcomeFailedInPlace: the refresh ended without deploying and without
	// going back: the group's configuration is as before, but instances it
	// already replaced keep the new AMI.
	outcomeFailedInPlace
	// outcomeMayBeRunning: the refresh may still be running, so the group
	// may yet end up on the new AMI: it was detached, its status is one this
	// code does not know, it could not be read or acted on, or it was still
	// rolling back or cancelling when the post-processor stopped following it.
	outcomeMayBeRunning
)

func (o outcome) String() string {
	switch o {
	case outcomeNotStarted:
		return "not started"
	case outcomeUpToDate:
		return "up to date"
	case outcomeSucceeded:
		return "succeeded"
	case outcomeRolledBack:
		return "rolled back"
	case outcomeFailedInPlace:
		return "failed in place"
	default:
		return "may still be running"
	}
}

// deployed reports whether the group ends up on the new AMI.
func (o outcome) deployed() bool { return o == outcomeSucceeded || o == outcomeUpToDate }

// knownStatuses are the refresh statuses AWS documents. Anything else is a
// status added after this code was written, whose meaning is unknown.
var knownStatuses = []astypes.InstanceRefreshStatus{
	astypes.InstanceRefreshStatusPending,
	astypes.InstanceRefreshStatusInProgress,
	astypes.InstanceRefreshStatusBaking,
	astypes.InstanceRefreshStatusSuccessful,
	astypes.InstanceRefreshStatusFailed,
	astypes.InstanceRefreshStatusCancelling,
	astypes.InstanceRefreshStatusCancelled,
	astypes.InstanceRefreshStatusRollbackInProgress,
	astypes.InstanceRefreshStatusRollbackFailed,
	astypes.InstanceRefreshStatusRollbackSuccessful,
}

func knownStatus(s astypes.InstanceRefreshStatus) bool { return slices.Contains(knownStatuses, s) }

// observed is what a roll-out saw of its group's refresh: the facts
// decideOutcome decides from.
type observed struct {
	// upToDate: resolve found nothing to replace, and no refresh was sent.
	upToDate bool
	// started: a refresh id is known, or a start was sent whose answer
	// never came and that may have begun one.
	started bool
	// last is the refresh's status as last seen; empty if never seen.
	last astypes.InstanceRefreshStatus
	// back is the final status of the refresh that on_failure = rollback
	// started back onto the previous version; empty if none was started.
	back astypes.InstanceRefreshStatus
}

// decideOutcome says how a roll-out ended. It never calls a roll-out a
// success unless AWS said Successful, and treats everything it cannot be
// sure has stopped as possibly still running.
func decideOutcome(o observed) outcome {
	switch {
	case o.upToDate:
		return outcomeUpToDate
	case !o.started:
		return outcomeNotStarted
	}
	switch o.last {
	case astypes.InstanceRefreshStatusSuccessful:
		return outcomeSucceeded
	case astypes.InstanceRefreshStatusRollbackSuccessful:
		return outcomeRolledBack
	case astypes.InstanceRefreshStatusFailed, astypes.InstanceRefreshStatusCancelled:
		if o.back == astypes.InstanceRefreshStatusSuccessful {
			return outcomeRolledBack
		}
		// Otherwise the refresh back failed, or still runs: either way it
		// moves instances to the previous version, never to the new one.
		return outcomeFailedInPlace
	case astypes.InstanceRefreshStatusRollbackFailed:
		return outcomeFailedInPlace
	}
	// Never seen, still active, or a status nobody here knows.
	return outcomeMayBeRunning
}
