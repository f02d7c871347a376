package awsemu

import (
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Timing of the emulated instance refresh, in emulated time.
const (
	// pendingDelay is how long a new refresh stays Pending before it starts
	// replacing instances, as AWS takes a moment to pick a refresh up.
	pendingDelay = 5 * time.Second
	// stuckLimit is how long AWS keeps a refresh that cannot make progress
	// (instances protected from scale in or in Standby with the Wait
	// preference) before it fails it.
	stuckLimit = time.Hour
	// unhealthyRetryPeriod stands in for AWS's one hour of retrying
	// replacements that fail their health checks: after the first unhealthy
	// replacement the refresh waits this long (relaunching would only fail
	// again, the image being the same) and then fails. Shorter than an hour
	// so that tests and demos of failures stay short even at modest speeds.
	unhealthyRetryPeriod = 5 * time.Minute
	// blockedPollInterval is how often a waiting refresh looks at the group
	// again to see whether its blocked instances can be replaced now.
	blockedPollInterval = 30 * time.Second
	// alarmPollInterval is how often a refresh with an AlarmSpecification
	// looks at its alarms while it waits (warm-up, checkpoint, bake).
	alarmPollInterval = 30 * time.Second
)

// Instance refresh statuses, as the API names them.
const (
	statusPending            = "Pending"
	statusInProgress         = "InProgress"
	statusBaking             = "Baking"
	statusSuccessful         = "Successful"
	statusFailed             = "Failed"
	statusCancelling         = "Cancelling"
	statusCancelled          = "Cancelled"
	statusRollbackInProgress = "RollbackInProgress"
	statusRollbackFailed     = "RollbackFailed"
	statusRollbackSuccessful = "RollbackSuccessful"
)

// isActive reports whether a refresh in this status blocks another start
// and can be cancelled.
func isActive(status string) bool {
	switch status {
	case statusPending, statusInProgress, statusBaking, statusCancelling, statusRollbackInProgress:
		return true
	}
	return false
}

// groupKey identifies an Auto Scaling group: refreshes and activities are
// kept per region and group name.
type groupKey struct{ Region, Name string }

// refresh is one instance refresh. Fields below "mutable" change while it
// runs and are guarded by engine.mu; the others are fixed at start.
type refresh struct {
	ID       string
	Key      groupKey
	GroupARN string
	Strategy string
	Prefs    preferences
	Warmup   time.Duration // effective InstanceWarmup

	Desired     url.Values     // DesiredConfiguration parameters without their prefix; nil if none was given
	DesiredSpec *launchSpec    // resolved DesiredConfiguration; nil if none was given
	Original    launchSpec     // what the group launched from at start; the rollback target
	Tags        []ec2types.Tag // the group's tags that propagate to new instances

	poke chan struct{} // wakes the worker when Cancel or Rollback is requested
	// visibleFrom is when DescribeInstanceRefreshes starts listing the
	// refresh (eventual consistency; see SetDescribeLag).
	visibleFrom time.Time

	// mutable
	Status      string
	Reason      string
	StartTime   time.Time
	EndTime     time.Time
	Total       int // instances to replace, fixed once planned
	Done        int // instances replaced so far
	Rollback    *rollbackInfo
	cancelReq   bool
	rollbackReq bool
	committing  bool        // the worker is finishing; Cancel and Rollback no longer apply
	alarm       string      // the alarm of the AlarmSpecification that went into ALARM
	launched    []string    // instances this refresh put into the group (undone by a rollback)
	owed        []placement // capacity taken out whose replacement failed
}

// rollbackInfo is what RollbackDetails reports.
type rollbackInfo struct {
	Reason string
	Start  time.Time
	Total  int
	Done   int
}

// percent returns the completion percentage of done out of total.
func percent(done, total int) int {
	if total <= 0 {
		return 100
	}
	return done * 100 / total
}

// preferences are the StartInstanceRefresh Preferences, defaults filled in.
type preferences struct {
	MinHealthy       int
	minGiven         bool // MinHealthy was in the request
	MaxHealthy       int  // 0 when not given and the group has no policy
	InstanceWarmup   *int
	Checkpoints      []int
	CheckpointDelay  *int
	SkipMatching     bool
	AutoRollback     bool
	BakeTime         int
	ScaleInProtected string
	Standby          string
	Alarms           []string
	alarmsGiven      bool
}

// target is an instance a refresh will replace, or is waiting to replace.
type target struct {
	ID    string
	Where placement
	Block string // "" when replaceable, else why it must wait: blockProtected or blockStandby
}

const (
	blockProtected = "protected"
	blockStandby   = "standby"
)

// origin records which launch template version an instance launched by the
// emulator runs, which moto does not track per instance.
type origin struct {
	TemplateID   string
	TemplateName string
	Number       int64
	ImageID      string
	// FromOverride is set when the instance was launched with an override's
	// ImageId: AWS then reports the instance's ImageId in
	// DescribeAutoScalingGroups and DescribeAutoScalingInstances.
	FromOverride bool
}

// activity is a scaling activity, as DescribeScalingActivities reports it.
type activity struct {
	seq           int64 // recording order, to sort activities of the same instant
	ID            string
	Key           groupKey
	GroupARN      string
	Description   string
	Cause         string
	Details       string
	StatusCode    string
	StatusMessage string
	Start, End    time.Time
}

// engine runs instance refreshes and keeps the state moto lacks. All maps
// and the mutable fields of refreshes are guarded by mu; calls to moto are
// made without holding it.
type engine struct {
	clock *clock
	moto  *motoAPI
	logf  func(string, ...any)

	ctx    context.Context // cancelled by Close: stops every worker
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	refreshes  map[groupKey][]*refresh // oldest first
	activities map[groupKey][]*activity
	origins    map[string]origin              // by region + "/" + instance id
	unhealthy  map[string]bool                // AMI ids whose instances fail health checks
	badTag     [2]string                      // key and value of an AMI tag whose instances fail them; key "" = none
	closed     bool                           // set by stop: no new workers
	seq        int64                          // last activity sequence number
	warmups    map[groupKey]int               // DefaultInstanceWarmup per group, which moto drops
	policies   map[groupKey]maintenancePolicy // instance maintenance policies, which moto drops
	// describeLag keeps new refreshes out of DescribeInstanceRefreshes for
	// this long (emulated) after they start; see SetDescribeLag.
	describeLag time.Duration
	// reported replaces the status DescribeInstanceRefreshes reports for a
	// group's refreshes, by group name; see SetReportedStatus.
	reported map[string]reportedStatus
	// volumes counts the EBS volumes of AMIs registered through the
	// emulator, by region + "/" + image id: moto reports one root volume
	// for every AMI, whatever RegisterImage gave it.
	volumes map[string]int
}

// reportedStatus is a status DescribeInstanceRefreshes reports instead of
// the real one, until (emulated time; zero = until cleared).
type reportedStatus struct {
	Status string
	Until  time.Time
}

func newEngine(c *clock, m *motoAPI, logf func(string, ...any)) *engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &engine{
		clock: c, moto: m, logf: logf, ctx: ctx, cancel: cancel,
		refreshes:  map[groupKey][]*refresh{},
		activities: map[groupKey][]*activity{},
		origins:    map[string]origin{},
		unhealthy:  map[string]bool{},
		warmups:    map[groupKey]int{},
		policies:   map[groupKey]maintenancePolicy{},
		reported:   map[string]reportedStatus{},
		volumes:    map[string]int{},
	}
}

// stop cancels every worker and waits for them. No worker starts after it.
func (e *engine) stop() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

// startWorker runs f on a new worker goroutine unless the engine is
// stopping; it reports whether it did.
func (e *engine) startWorker(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

func (e *engine) log(format string, args ...any) {
	if e.logf != nil {
		e.logf(format, args...)
	}
}

func (e *engine) setUnhealthyImages(ids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unhealthy = map[string]bool{}
	for _, id := range ids {
		e.unhealthy[id] = true
	}
}

func (e *engine) setUnhealthyImageTag(key, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.badTag = [2]string{key, value}
}

// isUnhealthy tells whether instances launched from the image fail their
// health checks: the image was named by SetUnhealthyImages, or it carries
// the tag of SetUnhealthyImageTag (for AMIs whose id is not known in
// advance, such as the one a Packer build is about to make). Tags are read
// from moto at check time; if that fails the instance counts as healthy.
func (e *engine) isUnhealthy(mc *motoClients, imageID string) bool {
	return e.isUnhealthyCtx(e.ctx, mc, imageID)
}

// isUnhealthyCtx is isUnhealthy reading tags with ctx (which may hold the
// gate to moto).
func (e *engine) isUnhealthyCtx(ctx context.Context, mc *motoClients, imageID string) bool {
	e.mu.Lock()
	listed, tag := e.unhealthy[imageID], e.badTag
	e.mu.Unlock()
	if listed || tag[0] == "" || mc == nil {
		return listed
	}
	tags, err := mc.imageTags(ctx, imageID)
	if err != nil {
		e.log("reading the tags of %s: %v", imageID, err)
		return false
	}
	v, ok := tags[tag[0]]
	return ok && v == tag[1]
}

// activeRefresh returns the group's active refresh, if any. Caller holds mu.
func (e *engine) activeRefreshLocked(k groupKey) *refresh {
	for _, r := range e.refreshes[k] {
		if isActive(r.Status) {
			return r
		}
	}
	return nil
}

// update runs f on r's mutable state under the lock.
func (e *engine) update(r *refresh, f func(r *refresh)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(r)
}

func (e *engine) setReason(r *refresh, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.update(r, func(r *refresh) { r.Reason = msg })
}

// finish puts r into a final status.
func (e *engine) finish(r *refresh, status, reason string) {
	now := e.clock.Now()
	e.update(r, func(r *refresh) {
		r.Status, r.Reason, r.EndTime = status, reason, now
		if status == statusSuccessful {
			r.Done = r.Total
		}
	})
	e.log("refresh %s of %s: %s %s", r.ID, r.Key.Name, status, reason)
}

// requests returns the pending cancel and rollback requests.
func (e *engine) requests(r *refresh) (cancel, rollback bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return r.cancelReq, r.rollbackReq
}

// recordActivity records a scaling activity of r's group and returns it.
func (e *engine) recordActivity(r *refresh, description, cause, code, message string, where placement, start time.Time) *activity {
	details := fmt.Sprintf(`{"Subnet ID":%q,"Availability Zone":%q,"InstanceRefreshId":%q}`, where.SubnetID, where.AZ, r.ID)
	a := &activity{
		ID: newUUID(), Key: r.Key, GroupARN: r.GroupARN,
		Description: description, Cause: cause, Details: details,
		StatusCode: code, StatusMessage: message, Start: start, End: e.clock.Now(),
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	a.seq = e.seq
	e.activities[r.Key] = append(e.activities[r.Key], a)
	return a
}

// failActivity marks a recorded activity as failed.
func (e *engine) failActivity(a *activity, cause, message string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a.StatusCode, a.Cause, a.StatusMessage = "Failed", cause, message
	a.Description += ". Status Reason: Instance failed to pass health checks."
}

func (e *engine) recordOrigin(region, id string, spec launchSpec, imageID string) {
	if spec.Template == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.origins[region+"/"+id] = origin{TemplateID: spec.Template.ID, TemplateName: spec.Template.Name, Number: spec.Template.Number, ImageID: imageID,
		FromOverride: spec.overrideImage() != ""}
}

// originOf returns what the emulator knows about an instance it launched.
func (e *engine) originOf(region, id string) (origin, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.origins[region+"/"+id]
	return o, ok
}

// sleep waits d of emulated time for r's worker; it returns false early when
// Cancel or Rollback pokes the worker or the emulator closes.
func (e *engine) sleep(r *refresh, d time.Duration) bool {
	return e.clock.Sleep(e.ctx, d, r.poke)
}

// pause waits d of emulated time like sleep and, for a refresh with an
// AlarmSpecification, watches its alarms meanwhile: it returns false early
// when one of them is in ALARM (see interrupted).
func (e *engine) pause(r *refresh, mc *motoClients, d time.Duration) bool {
	if len(r.Prefs.Alarms) == 0 {
		return e.sleep(r, d)
	}
	deadline := e.clock.Now().Add(d)
	for {
		if e.alarmFired(r, mc) != "" {
			return false
		}
		remaining := deadline.Sub(e.clock.Now())
		if remaining <= 0 {
			return true
		}
		if !e.sleep(r, min(remaining, alarmPollInterval)) {
			return false
		}
	}
}

// alarmFired returns the first alarm of r's AlarmSpecification that is in
// ALARM, remembering it, or "". A failure to read the alarms is logged and
// taken as no alarm: AWS does not fail a refresh over a monitoring glitch.
func (e *engine) alarmFired(r *refresh, mc *motoClients) string {
	if len(r.Prefs.Alarms) == 0 {
		return ""
	}
	states, err := mc.alarmStates(e.ctx, r.Prefs.Alarms)
	if err != nil {
		e.log("refresh %s: %v", r.ID, err)
		return ""
	}
	for _, name := range r.Prefs.Alarms {
		if states[name] == "ALARM" {
			e.update(r, func(r *refresh) { r.alarm = name })
			return name
		}
	}
	return ""
}

func alarmReason(name string) string {
	return fmt.Sprintf("The instance refresh failed because CloudWatch alarm %s went into the ALARM state.", name)
}

// batchPlan splits a batch of replacements into those whose old instance is
// terminated before its replacement launches (capacity may drop to
// MinHealthyPercentage) and those launched first (capacity may rise to
// MaxHealthyPercentage).
type batchPlan struct {
	Size           int // instances replaced in this batch
	TerminateFirst int
}

// planBatch computes the batch size for a group of desired capacity desired,
// as AWS documents it:
//   - MinHealthyPercentage is "a percentage of the desired capacity of the
//     Auto Scaling group (rounded up to the nearest integer)": that many
//     stay in service;
//   - MaxHealthyPercentage is "the maximum percentage of the group that can
//     be in service and healthy, or pending": a cap, so the count it allows
//     rounds down;
//   - at least one instance is replaced at a time, and when neither bound
//     leaves room for it, a maximum that was given launches the replacement
//     first ("Explicitly setting MaxHealthyPercentage to 100 is not
//     equivalent to omitting it"); without one it is terminated first.
//
// maxHealthy is 0 when no maximum applies.
func planBatch(desired, minHealthy, maxHealthy, remaining int) batchPlan {
	keep := int(math.Ceil(float64(desired) * float64(minHealthy) / 100))
	down := max(desired-keep, 0)
	up := 0
	if maxHealthy > 100 {
		up = max(desired*maxHealthy/100-desired, 0)
	}
	if down+up == 0 {
		n := min(1, remaining)
		if maxHealthy >= 100 {
			return batchPlan{Size: n}
		}
		return batchPlan{Size: n, TerminateFirst: n}
	}
	size := min(down+up, remaining)
	return batchPlan{Size: size, TerminateFirst: size - min(up, size)}
}

// checkpointCount returns how many of total replacements reach a checkpoint
// at pct percent.
func checkpointCount(total, pct int) int {
	return int(math.Ceil(float64(total) * float64(pct) / 100))
}

// formatSeconds renders a duration the way StatusReason texts do.
func formatSeconds(d time.Duration) string {
	return fmt.Sprintf("%d seconds", int(d/time.Second))
}

// propagatedTags returns the group's tags that propagate to new instances.
func propagatedTags(tags map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		if strings.HasPrefix(k, "aws:") {
			continue // reserved; moto adds aws:autoscaling:groupName itself
		}
		k, v := k, tags[k]
		out = append(out, ec2types.Tag{Key: &k, Value: &v})
	}
	return out
}

func (e *engine) setDescribeLag(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.describeLag = max(d, 0)
}

func (e *engine) getDescribeLag() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.describeLag
}

func (e *engine) setReportedStatus(group, status string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if status == "" {
		delete(e.reported, group)
		return
	}
	rs := reportedStatus{Status: status}
	if d > 0 {
		rs.Until = e.clock.Now().Add(d)
	}
	e.reported[group] = rs
}

func (e *engine) clearReportedStatuses() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reported = map[string]reportedStatus{}
}

// recordImageVolumes keeps the number of EBS volumes a RegisterImage request
// gave the AMI it registered.
func (e *engine) recordImageVolumes(region string, form url.Values, answer []byte) {
	devices := map[string]bool{}
	for k := range form {
		if rest, ok := strings.CutPrefix(k, "BlockDeviceMapping."); ok {
			if n, field, ok := strings.Cut(rest, "."); ok && strings.HasPrefix(field, "Ebs") {
				devices[n] = true
			}
		}
	}
	var doc struct {
		ImageID string `xml:"imageId"`
	}
	if xml.Unmarshal(answer, &doc) != nil || doc.ImageID == "" || len(devices) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.volumes[region+"/"+doc.ImageID] = len(devices)
}

// imageVolumes returns the recorded number of EBS volumes of an AMI.
func (e *engine) imageVolumes(region, imageID string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.volumes[region+"/"+imageID]
	return n, ok
}
