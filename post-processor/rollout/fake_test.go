package rollout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// fakeAWS is one region of AWS, just deep enough for roll-out tests: groups,
// template versions with their AMIs, images, and refreshes whose statuses
// follow a script, one entry per Describe.
type fakeAWS struct {
	mu sync.Mutex

	groups   map[string]astypes.AutoScalingGroup
	lcs      map[string]astypes.LaunchConfiguration
	versions map[string]map[int64]string // template id -> version -> AMI
	defaults map[string]int64            // template id -> $Default
	images   map[string]ec2types.ImageState
	arch     map[string]ec2types.ArchitectureValues   // x86_64 when missing
	devices  map[string][]ec2types.BlockDeviceMapping // an image's block device mappings
	tokens   map[string]int64

	refreshes []*astypes.InstanceRefresh // newest first
	script    []astypes.InstanceRefreshStatus
	polls     int             // polls of watched refreshes, all together
	pollsOf   map[string]int  // polls by refresh id
	settled   map[string]bool // refreshes whose status no longer follows the script

	activities []astypes.Activity

	calls   []string
	created []*ec2.CreateLaunchTemplateVersionInput
	started []*autoscaling.StartInstanceRefreshInput
	// latency delays every call, like a network round trip; refreshTime,
	// when set, makes each refresh last that long in real time instead of
	// following script.
	latency     time.Duration
	refreshTime time.Duration
	startedAt   map[string]time.Time

	protected []string         // AMIs given deregistration protection
	createErr map[string]error // CreateLaunchTemplateVersion fails for these templates
	startErrs map[string]error // StartInstanceRefresh fails for these groups, starting nothing

	onStart   func(*astypes.InstanceRefresh) // adjusts a refresh as it starts
	startErr  error                          // returned by StartInstanceRefresh after it starts the refresh (a lost answer)
	startOnce bool                           // startErr is returned once only
	onPoll    func(n int)
	// stuckRollback keeps a rollback in RollbackInProgress; otherwise it
	// ends RollbackSuccessful at the next poll that asks for it.
	stuckRollback bool
	// hideNew hides each new refresh from that many Describe calls (AWS
	// lists a new refresh only after a moment).
	hideNew int
	hidden  map[string]int
	// startNoID answers StartInstanceRefresh without a refresh id;
	// startNothing then starts none either.
	startNoID, startNothing bool
	// rollbackErr is returned by RollbackInstanceRefresh after it acted
	// (a lost answer).
	rollbackErr error
	// onUpdate runs, under the lock, after each UpdateAutoScalingGroup.
	onUpdate func()
	// denied makes DryRun calls answer UnauthorizedOperation, by
	// "Action template-id" (CreateLaunchTemplateVersion lt-1, RunInstances
	// lt-1).
	denied map[string]bool
	// dryRuns and dryRunVersions are the DryRun requests of RunInstances
	// and CreateLaunchTemplateVersion.
	dryRuns        []*ec2.RunInstancesInput
	dryRunVersions []*ec2.CreateLaunchTemplateVersionInput
}

// dryRun is EC2's answer to a DryRun of action on a template: it never
// succeeds, it says whether the call would have been allowed.
func (f *fakeAWS) dryRun(action, templateID string) error {
	if f.denied[action+" "+templateID] {
		return &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation. Encoded authorization failure message: c2VjcmV0"}
	}
	return &smithy.GenericAPIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set."}
}

// RunInstances answers DryRun requests only: a roll-out never launches an
// instance itself.
func (f *fakeAWS) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	if !aws.ToBool(in.DryRun) {
		f.record("RunInstances")
		return nil, fmt.Errorf("fake: RunInstances without DryRun")
	}
	f.record("RunInstances(DryRun)")
	f.dryRuns = append(f.dryRuns, in)
	return nil, f.dryRun("RunInstances", aws.ToString(in.LaunchTemplate.LaunchTemplateId))
}

// testClock is a clock that moves only when slept on.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func newFakeAWS() *fakeAWS {
	return &fakeAWS{
		groups: map[string]astypes.AutoScalingGroup{
			"web": {
				AutoScalingGroupName:  aws.String("web"),
				LaunchTemplate:        &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), LaunchTemplateName: aws.String("web"), Version: aws.String("3")},
				DesiredCapacity:       aws.Int32(4),
				DefaultInstanceWarmup: aws.Int32(120),
			},
		},
		versions:  map[string]map[int64]string{"lt-1": {1: "ami-old1", 2: "ami-old2", 3: "ami-old3"}},
		defaults:  map[string]int64{"lt-1": 2},
		images:    map[string]ec2types.ImageState{"ami-new": ec2types.ImageStateAvailable},
		tokens:    map[string]int64{},
		lcs:       map[string]astypes.LaunchConfiguration{},
		pollsOf:   map[string]int{},
		settled:   map[string]bool{},
		startedAt: map[string]time.Time{},
		script:    []astypes.InstanceRefreshStatus{"Pending", "InProgress", "InProgress", "Successful"},
	}
}

// record logs a call; callers hold f.mu.
func (f *fakeAWS) record(call string) {
	f.calls = append(f.calls, call)
}

// lock takes f.mu after the simulated round trip.
func (f *fakeAWS) lock() {
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	f.mu.Lock()
}

func (f *fakeAWS) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeAutoScalingGroups")
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range in.AutoScalingGroupNames {
		if g, ok := f.groups[n]; ok {
			out.AutoScalingGroups = append(out.AutoScalingGroups, g)
		}
	}
	if len(in.AutoScalingGroupNames) == 0 {
		// Filters by tag:<key>; like the real API's, they are loose: the
		// fake ignores them, so the caller's own tag check is what counts.
		for _, n := range slices.Sorted(maps.Keys(f.groups)) {
			out.AutoScalingGroups = append(out.AutoScalingGroups, f.groups[n])
		}
	}
	return out, nil
}

func (f *fakeAWS) DescribeLaunchTemplateVersions(_ context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeLaunchTemplateVersions")
	id := aws.ToString(in.LaunchTemplateId)
	if aws.ToString(in.LaunchTemplateName) == "web" {
		id = "lt-1"
	}
	vs, ok := f.versions[id]
	if !ok {
		return nil, fmt.Errorf("InvalidLaunchTemplateId.NotFound: %s", id)
	}
	out := &ec2.DescribeLaunchTemplateVersionsOutput{}
	for _, ref := range in.Versions {
		var n int64
		switch ref {
		case "$Latest":
			for v := range vs {
				n = max(n, v)
			}
		case "$Default":
			n = f.defaults[id]
		default:
			n, _ = strconv.ParseInt(ref, 10, 64)
		}
		if ami, ok := vs[n]; ok {
			out.LaunchTemplateVersions = append(out.LaunchTemplateVersions, ec2types.LaunchTemplateVersion{
				LaunchTemplateId: aws.String(id), LaunchTemplateName: aws.String("web"), VersionNumber: aws.Int64(n),
				LaunchTemplateData: &ec2types.ResponseLaunchTemplateData{ImageId: aws.String(ami)},
			})
		}
	}
	return out, nil
}

func (f *fakeAWS) CreateLaunchTemplateVersion(_ context.Context, in *ec2.CreateLaunchTemplateVersionInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	if aws.ToBool(in.DryRun) {
		f.record("CreateLaunchTemplateVersion(DryRun)")
		f.dryRunVersions = append(f.dryRunVersions, in)
		return nil, f.dryRun("CreateLaunchTemplateVersion", aws.ToString(in.LaunchTemplateId))
	}
	f.record("CreateLaunchTemplateVersion")
	f.created = append(f.created, in)
	id := aws.ToString(in.LaunchTemplateId)
	if err := f.createErr[id]; err != nil {
		return nil, err
	}
	n, ok := f.tokens[aws.ToString(in.ClientToken)]
	if !ok {
		for v := range f.versions[id] {
			n = max(n, v)
		}
		n++
		f.versions[id][n] = aws.ToString(in.LaunchTemplateData.ImageId)
		f.tokens[aws.ToString(in.ClientToken)] = n
	}
	return &ec2.CreateLaunchTemplateVersionOutput{LaunchTemplateVersion: &ec2types.LaunchTemplateVersion{
		LaunchTemplateId: aws.String(id), VersionNumber: aws.Int64(n),
	}}, nil
}

func (f *fakeAWS) DescribeImages(_ context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeImages")
	out := &ec2.DescribeImagesOutput{}
	for _, id := range in.ImageIds {
		if s, ok := f.images[id]; ok {
			arch := f.arch[id]
			if arch == "" {
				arch = ec2types.ArchitectureValuesX8664
			}
			out.Images = append(out.Images, ec2types.Image{ImageId: aws.String(id), State: s, Architecture: arch, BlockDeviceMappings: f.devices[id]})
		}
	}
	return out, nil
}

func (f *fakeAWS) StartInstanceRefresh(_ context.Context, in *autoscaling.StartInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("StartInstanceRefresh")
	if err := f.startErrs[aws.ToString(in.AutoScalingGroupName)]; err != nil {
		return nil, err
	}
	for _, r := range f.refreshes {
		if aws.ToString(r.AutoScalingGroupName) == aws.ToString(in.AutoScalingGroupName) && r.Status != "" && isActiveStatus(r.Status) {
			return nil, &astypes.InstanceRefreshInProgressFault{Message: aws.String("An Instance Refresh is already in progress")}
		}
	}
	f.started = append(f.started, in)
	if f.startNoID && f.startNothing {
		return &autoscaling.StartInstanceRefreshOutput{}, nil
	}
	id := fmt.Sprintf("refresh-%d", len(f.started))
	if f.hideNew > 0 {
		if f.hidden == nil {
			f.hidden = map[string]int{}
		}
		f.hidden[id] = f.hideNew
	}
	if f.refreshTime > 0 {
		f.startedAt[id] = time.Now()
	}
	f.refreshes = append([]*astypes.InstanceRefresh{{
		AutoScalingGroupName: in.AutoScalingGroupName, InstanceRefreshId: aws.String(id), Status: "Pending",
		DesiredConfiguration: in.DesiredConfiguration, Preferences: in.Preferences,
	}}, f.refreshes...)
	if f.onStart != nil {
		f.onStart(f.refreshes[0])
	}
	if err := f.startErr; err != nil {
		if f.startOnce {
			f.startErr = nil
		}
		return nil, err
	}
	if f.startNoID {
		return &autoscaling.StartInstanceRefreshOutput{}, nil
	}
	return &autoscaling.StartInstanceRefreshOutput{InstanceRefreshId: aws.String(id)}, nil
}

func isActiveStatus(s astypes.InstanceRefreshStatus) bool {
	switch s {
	case "Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress":
		return true
	}
	return false
}

func (f *fakeAWS) DescribeInstanceRefreshes(_ context.Context, in *autoscaling.DescribeInstanceRefreshesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeInstanceRefreshesOutput, error) {
	f.lock()
	f.record("DescribeInstanceRefreshes")
	out := &autoscaling.DescribeInstanceRefreshesOutput{}
	for _, r := range f.refreshes {
		id := aws.ToString(r.InstanceRefreshId)
		if len(in.InstanceRefreshIds) > 0 && in.InstanceRefreshIds[0] != id {
			continue
		}
		if f.hidden[id] > 0 {
			f.hidden[id]--
			continue
		}
		if f.settled[id] && r.Status == "RollbackInProgress" && len(in.InstanceRefreshIds) > 0 && !f.stuckRollback {
			r.Status = "RollbackSuccessful"
		} else if start, ok := f.startedAt[id]; ok && f.refreshTime > 0 {
			f.timed(r, time.Since(start))
		} else if len(in.InstanceRefreshIds) > 0 && !f.settled[id] {
			// A watched refresh advances one script step per poll.
			i := min(f.pollsOf[id], len(f.script)-1)
			r.Status = f.script[i]
			r.PercentageComplete = aws.Int32(int32(100 * i / max(1, len(f.script)-1)))
			r.StatusReason = aws.String("step " + strconv.Itoa(i))
			f.pollsOf[id]++
			f.polls++
		}
		out.InstanceRefreshes = append(out.InstanceRefreshes, *r)
	}
	n, hook := f.polls, f.onPoll
	f.mu.Unlock()
	if hook != nil && len(in.InstanceRefreshIds) > 0 {
		hook(n)
	}
	return out, nil
}

// timed sets a real-time refresh's state after elapsed: four instances
// replaced one by one over refreshTime.
func (f *fakeAWS) timed(r *astypes.InstanceRefresh, elapsed time.Duration) {
	if elapsed >= f.refreshTime {
		r.Status, r.PercentageComplete, r.InstancesToUpdate = "Successful", aws.Int32(100), aws.Int32(0)
		return
	}
	done := int32(4 * elapsed / f.refreshTime)
	r.Status, r.PercentageComplete, r.InstancesToUpdate = "InProgress", aws.Int32(25*done), aws.Int32(4-done)
}

// settle fixes a refresh's status: Cancel and Rollback take it off script.
func (f *fakeAWS) settle(r *astypes.InstanceRefresh, s astypes.InstanceRefreshStatus) {
	r.Status = s
	f.settled[aws.ToString(r.InstanceRefreshId)] = true
}

func (f *fakeAWS) CancelInstanceRefresh(_ context.Context, in *autoscaling.CancelInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.CancelInstanceRefreshOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("CancelInstanceRefresh")
	for _, r := range f.refreshes {
		if isActiveStatus(r.Status) {
			f.settle(r, "Cancelled")
			return &autoscaling.CancelInstanceRefreshOutput{InstanceRefreshId: r.InstanceRefreshId}, nil
		}
	}
	return nil, &astypes.ActiveInstanceRefreshNotFoundFault{Message: aws.String("no active refresh")}
}

func (f *fakeAWS) RollbackInstanceRefresh(_ context.Context, in *autoscaling.RollbackInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.RollbackInstanceRefreshOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("RollbackInstanceRefresh")
	for _, r := range f.refreshes {
		if isActiveStatus(r.Status) {
			f.settle(r, "RollbackInProgress")
			if f.rollbackErr != nil {
				return nil, f.rollbackErr
			}
			return &autoscaling.RollbackInstanceRefreshOutput{InstanceRefreshId: r.InstanceRefreshId}, nil
		}
	}
	return nil, &astypes.ActiveInstanceRefreshNotFoundFault{Message: aws.String("no active refresh")}
}

func (f *fakeAWS) DescribeScalingActivities(context.Context, *autoscaling.DescribeScalingActivitiesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeScalingActivitiesOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeScalingActivities")
	return &autoscaling.DescribeScalingActivitiesOutput{Activities: f.activities}, nil
}

// count is how many times call was made.
func (f *fakeAWS) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeAWS) ModifyLaunchTemplate(_ context.Context, in *ec2.ModifyLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("ModifyLaunchTemplate")
	n, _ := strconv.ParseInt(aws.ToString(in.DefaultVersion), 10, 64)
	f.defaults[aws.ToString(in.LaunchTemplateId)] = n
	return &ec2.ModifyLaunchTemplateOutput{}, nil
}

func (f *fakeAWS) DescribeLaunchConfigurations(_ context.Context, in *autoscaling.DescribeLaunchConfigurationsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLaunchConfigurationsOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("DescribeLaunchConfigurations")
	out := &autoscaling.DescribeLaunchConfigurationsOutput{}
	for _, n := range in.LaunchConfigurationNames {
		if lc, ok := f.lcs[n]; ok {
			out.LaunchConfigurations = append(out.LaunchConfigurations, lc)
		}
	}
	return out, nil
}

func (f *fakeAWS) CreateLaunchConfiguration(_ context.Context, in *autoscaling.CreateLaunchConfigurationInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateLaunchConfigurationOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("CreateLaunchConfiguration")
	name := aws.ToString(in.LaunchConfigurationName)
	if _, ok := f.lcs[name]; ok {
		return nil, &astypes.AlreadyExistsFault{Message: aws.String("exists")}
	}
	f.lcs[name] = astypes.LaunchConfiguration{
		LaunchConfigurationName: in.LaunchConfigurationName, ImageId: in.ImageId, InstanceType: in.InstanceType,
		SecurityGroups: in.SecurityGroups, UserData: in.UserData, KeyName: in.KeyName,
	}
	return &autoscaling.CreateLaunchConfigurationOutput{}, nil
}

func (f *fakeAWS) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("UpdateAutoScalingGroup")
	g := f.groups[aws.ToString(in.AutoScalingGroupName)]
	g.LaunchConfigurationName = in.LaunchConfigurationName
	f.groups[aws.ToString(in.AutoScalingGroupName)] = g
	if f.onUpdate != nil {
		f.onUpdate()
	}
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (f *fakeAWS) EnableImageDeregistrationProtection(_ context.Context, in *ec2.EnableImageDeregistrationProtectionInput, _ ...func(*ec2.Options)) (*ec2.EnableImageDeregistrationProtectionOutput, error) {
	f.lock()
	defer f.mu.Unlock()
	f.record("EnableImageDeregistrationProtection")
	f.protected = append(f.protected, aws.ToString(in.ImageId))
	return &ec2.EnableImageDeregistrationProtectionOutput{Return: aws.String("enabled")}, nil
}
