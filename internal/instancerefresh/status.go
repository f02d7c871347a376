package instancerefresh

import "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

// Outcome is what a refresh status means for someone deploying with it.
type Outcome int

const (
	// Running means the refresh has not ended: keep waiting.
	Running Outcome = iota
	// Succeeded means every instance was replaced and the desired
	// configuration is now the group's.
	Succeeded
	// Failed means the refresh ended without deploying: it failed, was
	// cancelled or was rolled back, or its status is unknown.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Running:
		return "running"
	case Succeeded:
		return "succeeded"
	default:
		return "failed"
	}
}

// Classify maps a refresh status to its Outcome. Rollback statuses are
// failures even when the rollback itself succeeded: the new AMI is not
// deployed. Unknown statuses are failures.
func Classify(s types.InstanceRefreshStatus) Outcome {
	switch s {
	case types.InstanceRefreshStatusPending,
		types.InstanceRefreshStatusInProgress,
		types.InstanceRefreshStatusBaking,
		types.InstanceRefreshStatusCancelling,
		types.InstanceRefreshStatusRollbackInProgress:
		return Running
	case types.InstanceRefreshStatusSuccessful:
		return Succeeded
	default:
		return Failed
	}
}

// IsActive reports whether AWS counts a refresh in status s as the group's
// one active refresh: the one that blocks another start and that Cancel and
// Rollback act on.
func IsActive(s types.InstanceRefreshStatus) bool {
	return Classify(s) == Running
}
