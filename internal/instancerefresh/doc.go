// Package instancerefresh knows what an Auto Scaling instance refresh's
// statuses mean and waits for a refresh to end.
//
// The AWS SDK has no waiter for instance refreshes; InstanceRefreshCompleteWaiter
// has the SDK's waiter shape so that it reads like one. Status classification
// fails closed: a status this package does not know is a failure, never a
// success, so a new AWS status cannot make a broken deploy look green.
//
// A wait never outlasts its maximum, even while a Describe call hangs, and
// waiters that poll one account and region can share a Budget, because Auto
// Scaling throttles all of that account's calls in the region together.
package instancerefresh
