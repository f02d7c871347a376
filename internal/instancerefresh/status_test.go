package instancerefresh

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		status types.InstanceRefreshStatus
		want   Outcome
	}{
		{types.InstanceRefreshStatusPending, Running},
		{types.InstanceRefreshStatusInProgress, Running},
		{types.InstanceRefreshStatusBaking, Running},
		{types.InstanceRefreshStatusCancelling, Running},
		{types.InstanceRefreshStatusRollbackInProgress, Running},
		{types.InstanceRefreshStatusSuccessful, Succeeded},
		{types.InstanceRefreshStatusFailed, Failed},
		{types.InstanceRefreshStatusCancelled, Failed},
		{types.InstanceRefreshStatusRollbackSuccessful, Failed},
		{types.InstanceRefreshStatusRollbackFailed, Failed},
		{"", Failed},
		{"SomethingNew", Failed},
		{"successful", Failed}, // statuses are case-sensitive
	}
	for _, c := range cases {
		if got := Classify(c.status); got != c.want {
			t.Errorf("Classify(%q) = %v, want %v", c.status, got, c.want)
		}
	}
}

// TestClassifyCoversSDKStatuses fails when the SDK learns a status this
// package has not decided about: each must be listed in TestClassify.
func TestClassifyCoversSDKStatuses(t *testing.T) {
	decided := map[types.InstanceRefreshStatus]bool{
		"Pending": true, "InProgress": true, "Baking": true, "Cancelling": true, "RollbackInProgress": true,
		"Successful": true, "Failed": true, "Cancelled": true, "RollbackSuccessful": true, "RollbackFailed": true,
	}
	for _, s := range types.InstanceRefreshStatus("").Values() {
		if !decided[s] {
			t.Errorf("status %q from the SDK is not classified on purpose; decide what it means", s)
		}
	}
}

func TestIsActive(t *testing.T) {
	if !IsActive(types.InstanceRefreshStatusBaking) || IsActive(types.InstanceRefreshStatusCancelled) {
		t.Fatal("Baking must be active and Cancelled must not")
	}
}

// FuzzClassify checks that no status but Successful is ever a success, and
// that only the five in-flight statuses keep a caller waiting.
func FuzzClassify(f *testing.F) {
	for _, s := range types.InstanceRefreshStatus("").Values() {
		f.Add(string(s))
	}
	f.Add("successful")
	f.Add("Successful ")
	f.Fuzz(func(t *testing.T, s string) {
		got := Classify(types.InstanceRefreshStatus(s))
		if got == Succeeded && s != "Successful" {
			t.Fatalf("%q classified as success", s)
		}
		inFlight := s == "Pending" || s == "InProgress" || s == "Baking" || s == "Cancelling" || s == "RollbackInProgress"
		if (got == Running) != inFlight {
			t.Fatalf("%q classified %v", s, got)
		}
	})
}
