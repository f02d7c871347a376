package e2e

// Safety tests: what a roll-out does when it is interrupted at each phase,
// when the API misbehaves, at every status a refresh can end in, and whether
// credentials ever reach Packer's output or log. Each runs the real packer
// and the real amazon-ebs builder against the local AWS, like the tests of
// rollout_test.go, and checks the fleet, the call log and the output.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	mathrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// warmup300 pins the warm-up of each replacement to 300 s (1.5 s of real
// time at the local AWS's default speed), whatever the group says, so that
// a test has time to act between two replacements.
const warmup300 = `      instance_warmup = "300s"`

// lineTimeout bounds each wait for a line of packer output: a build and a
// roll-out against the local AWS take seconds.
const lineTimeout = 90 * time.Second

// ---------------------------------------------------------------------------
// Running packer in the background and watching its output.

// packerRun is a `packer build` running in the background, its output read
// line by line as it comes.
type packerRun struct {
	t     *testing.T
	cmd   *exec.Cmd
	start time.Time

	mu             sync.Mutex
	lines          []outputLine
	changed        chan struct{} // closed (and replaced) when lines grow
	stdout, stderr bytes.Buffer

	done     chan struct{} // closed when packer has exited
	exitCode int
	elapsed  time.Duration

	// onOverrun, if set, runs when packer overruns wait's limit, to log
	// what the test knows.
	onOverrun func()
}

type outputLine struct {
	at   time.Time
	text string
}

// streamWriter splits one of packer's streams into lines.
type streamWriter struct {
	p    *packerRun
	buf  *bytes.Buffer
	part []byte
}

func (w *streamWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	w.buf.Write(b)
	w.part = append(w.part, b...)
	grew := false
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, outputLine{at: time.Now(), text: string(w.part[:i])})
		w.part = append([]byte(nil), w.part[i+1:]...)
		grew = true
	}
	if grew {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	return len(b), nil
}

// startBuild starts `packer build` on file with the local AWS's endpoints,
// as packerBuild does, but returns at once.
func (e *env) startBuild(file string, extraEnv ...string) *packerRun {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := packer.Command(ctx, e.dir, append(e.endpointEnv(), extraEnv...), "build", "-color=false", file)
	p := &packerRun{t: e.t, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = &streamWriter{p: p, buf: &p.stdout}
	cmd.Stderr = &streamWriter{p: p, buf: &p.stderr}
	cmd.WaitDelay = 10 * time.Second
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		e.t.Fatalf("starting packer: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.exitCode = -1
		if cmd.ProcessState != nil {
			p.exitCode = cmd.ProcessState.ExitCode()
		}
		p.elapsed = time.Since(p.start)
		p.mu.Unlock()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		cancel() // kills packer's process group if it is still running
		<-p.done
	})
	return p
}

// output is everything packer printed so far, stdout then stderr.
func (p *packerRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

// waitLine waits for a line of output that matches, and returns it. It fails
// the test if packer exits or lineTimeout passes first.
func (p *packerRun) waitLine(what string, match func(string) bool) outputLine {
	p.t.Helper()
	deadline := time.NewTimer(lineTimeout)
	defer deadline.Stop()
	next := 0
	exited := false
	for {
		p.mu.Lock()
		lines := p.lines[next:]
		changed := p.changed
		p.mu.Unlock()
		for _, l := range lines {
			next++
			if match(l.text) {
				return l
			}
		}
		if exited {
			p.t.Fatalf("packer exited %d before printing %s:\n%s", p.exitCode, what, p.output())
		}
		select {
		case <-changed:
		case <-p.done:
			exited = true
		case <-deadline.C:
			p.t.Fatalf("no %s within %s:\n%s", what, lineTimeout, p.output())
		}
	}
}

// waitContains waits for a line containing s.
func (p *packerRun) waitContains(s string) outputLine {
	p.t.Helper()
	return p.waitLine(fmt.Sprintf("line with %q", s), func(l string) bool { return strings.Contains(l, s) })
}

// interrupt does what a terminal's Ctrl-C does: SIGINT to the whole
// foreground process group, here packer's own (packerexec.Command starts it
// in one). A SIGINT to packer's pid alone does nothing: that process is
// panicwrap's parent, which ignores SIGINT (it forwards only SIGTERM) and
// counts on the terminal reaching the wrapped child directly. The child
// cancels the build's context, which the plugin sees; plugins ignore the
// signal itself.
func (p *packerRun) interrupt() time.Time {
	p.t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT); err != nil {
		p.t.Fatalf("interrupting packer: %v", err)
	}
	return time.Now()
}

// wait waits for packer to exit and returns its exit code and output.
func (p *packerRun) wait() (int, string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		if p.onOverrun != nil {
			p.onOverrun()
		}
		p.t.Fatalf("packer did not exit within 3 minutes:\n%s", p.output())
	}
	out := p.output()
	p.t.Logf("packer build exited %d after %s:\n%s", p.exitCode, p.elapsed.Round(time.Millisecond), out)
	return p.exitCode, out
}

// ---------------------------------------------------------------------------
// Reading the fleet, the refreshes and the call log.

var (
	rollingOnto   = regexp.MustCompile(`Rolling \d+ Auto Scaling group\(s\) onto [a-z0-9-]+:(ami-[0-9a-f]+)`)
	startedLine   = regexp.MustCompile(`started instance refresh ([0-9a-f-]{36}) onto`)
	progressMatch = regexp.MustCompile(`instance refresh ([0-9a-f-]{36}) (\w+), (\d+)% complete`)
)

// amiOf reads the AMI the build made from the post-processor's first line:
// after a failed build Packer deregisters it, so it cannot be looked up by
// name.
func amiOf(t *testing.T, out string) string {
	t.Helper()
	m := rollingOnto.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in the output", "Rolling ... onto")
	}
	return m[1]
}

// progressAtLeast matches a progress line of status with at least pct
// percent complete, below 100.
func progressAtLeast(status string, pct int) func(string) bool {
	return func(l string) bool {
		m := progressMatch.FindStringSubmatch(l)
		if m == nil || m[2] != status {
			return false
		}
		n, _ := strconv.Atoi(m[3])
		return n >= pct && n < 100
	}
}

// refreshes lists the group's refreshes, newest first.
func (e *env) refreshes(region, group string) []astypes.InstanceRefresh {
	e.t.Helper()
	out, err := e.clients(region).AutoScaling.DescribeInstanceRefreshes(context.Background(), &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: aws.String(group),
	})
	if err != nil {
		e.t.Fatalf("describing the refreshes of %s: %v", group, err)
	}
	return out.InstanceRefreshes
}

// waitRefreshesEnded polls until no refresh of the group is active and
// returns them all, newest first.
func (e *env) waitRefreshesEnded(region, group string) []astypes.InstanceRefresh {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		irs := e.refreshes(region, group)
		active := false
		for _, ir := range irs {
			switch ir.Status {
			case astypes.InstanceRefreshStatusSuccessful, astypes.InstanceRefreshStatusFailed,
				astypes.InstanceRefreshStatusCancelled, astypes.InstanceRefreshStatusRollbackSuccessful,
				astypes.InstanceRefreshStatusRollbackFailed:
			default:
				active = true
			}
		}
		if !active {
			return irs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("refreshes of %s still running after 2 minutes: %s", group, describeRefreshes(irs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describeRefreshes(irs []astypes.InstanceRefresh) string {
	var parts []string
	for _, ir := range irs {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", aws.ToString(ir.InstanceRefreshId), ir.Status, aws.ToString(ir.StatusReason)))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// versionCount is the number of versions of a launch template.
func (e *env) versionCount(region, templateID string) int {
	e.t.Helper()
	versions, err := e.clients(region).Versions(context.Background(), templateID)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(versions)
}

// imageExists reports whether an AMI is still registered.
func (e *env) imageExists(region, ami string) bool {
	e.t.Helper()
	out, err := e.clients(region).EC2.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		return false // moto answers InvalidAMIID.NotFound for a deregistered AMI
	}
	return len(out.Images) == 1
}

// isDryRun reports whether c was a DryRun request: a permission check that
// acts on nothing.
func isDryRun(c awsemu.Call) bool { return strings.EqualFold(c.Params["DryRun"], "true") }

// countActions counts the calls of each action (DryRun requests aside), and those of them that a
// fault hit, by fault kind.
type actionCount struct {
	Attempts int
	Faults   map[string]int
	// LongestRun is the longest run of consecutive calls of the action
	// that a fault hit: for an action called one at a time, the most
	// retries one call needed.
	LongestRun int
}

func countActions(calls []awsemu.Call) map[string]*actionCount {
	m := map[string]*actionCount{}
	run := map[string]int{}
	for _, c := range calls {
		if c.Action == "" || isDryRun(c) {
			continue
		}
		a := m[c.Action]
		if a == nil {
			a = &actionCount{Faults: map[string]int{}}
			m[c.Action] = a
		}
		a.Attempts++
		if c.Fault != "" && c.Fault != awsemu.FaultSlow {
			a.Faults[c.Fault]++
			run[c.Action]++
			a.LongestRun = max(a.LongestRun, run[c.Action])
		} else {
			run[c.Action] = 0
		}
	}
	return m
}

// calls counts the calls of action that act: DryRun requests (permission
// checks) aside.
func (e *env) calls(action string) int {
	n := 0
	for _, c := range e.emu.Calls() {
		if c.Action == action && !isDryRun(c) {
			n++
		}
	}
	return n
}

// afterBuilder is the calls made after the amazon-ebs builder's last one
// (it deletes its temporary key pair last): the post-processor's, and the
// test's own from then on.
func afterBuilder(calls []awsemu.Call) []awsemu.Call {
	last := -1
	for i, c := range calls {
		if c.Action == "DeleteKeyPair" {
			last = i
		}
	}
	return calls[last+1:]
}

// logFigures logs, per action, the post-processor's attempts and the faults
// that hit them.
func logFigures(t *testing.T, calls []awsemu.Call) {
	t.Helper()
	counts := countActions(calls)
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	total, faulted := 0, 0
	for _, n := range names {
		a := counts[n]
		kinds := make([]string, 0, len(a.Faults))
		f := 0
		for k, v := range a.Faults {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
			f += v
		}
		sort.Strings(kinds)
		total += a.Attempts
		faulted += f
		fmt.Fprintf(&b, "  %-30s attempts %4d  faulted %4d  longest faulted run %2d  %s\n", n, a.Attempts, f, a.LongestRun, strings.Join(kinds, ", "))
	}
	fmt.Fprintf(&b, "  %-30s attempts %4d  faulted %4d\n", "all", total, faulted)
	if len(calls) > 0 {
		fmt.Fprintf(&b, "  from the first to the last call: %s\n", calls[len(calls)-1].Time.Sub(calls[0].Time).Round(time.Millisecond))
	}
	t.Logf("the post-processor's calls:\n%s", b.String())
}

// logTimeline logs every call with its time from the first and its fault.
func logTimeline(t *testing.T, calls []awsemu.Call) {
	t.Helper()
	if len(calls) == 0 {
		return
	}
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  +%7.3fs %-30s %s\n", c.Time.Sub(calls[0].Time).Seconds(), c.Action, c.Fault)
	}
	t.Logf("timeline:\n%s", b.String())
}

// ---------------------------------------------------------------------------
// Templates that build.write cannot express.

// sourceBlock is an amazon-ebs source like buildTemplate's, with the
// builder's own static credentials ("test"), which are not ours to police.
func (e *env) sourceBlock(amiName string, amiTags map[string]string) string {
	e.t.Helper()
	ami, err := e.clients("us-east-1").StockImage(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var tags strings.Builder
	if len(amiTags) > 0 {
		tags.WriteString("  tags = {\n")
		for _, k := range slices.Sorted(maps.Keys(amiTags)) {
			fmt.Fprintf(&tags, "    %q = %q\n", k, amiTags[k])
		}
		tags.WriteString("  }\n")
	}
	return fmt.Sprintf(`source "amazon-ebs" "app" {
  region                     = "us-east-1"
  source_ami                 = %q
  instance_type              = "t3.micro"
  ami_name                   = %q
  communicator               = "none"
  custom_endpoint_ec2        = %q
  skip_credential_validation = true
  skip_region_validation     = true
  skip_metadata_api_check    = true
  access_key                 = "test"
  secret_key                 = "test"
%s}
`, ami, amiName, e.emu.URL(), tags.String())
}

// writeHCL writes a template into the test's directory.
func (e *env) writeHCL(text string) string {
	e.t.Helper()
	path := filepath.Join(e.dir, "app.pkr.hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// amiName is the name build.write gives the test's AMI by default.
func amiName(t *testing.T) string {
	return "app-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
}

// ---------------------------------------------------------------------------
// Ctrl-C at each phase.

// interruptCase is the outcome expected of an interruption.
type interruptCase struct {
	onInterrupt string // "" for the default
	rollbacks   int    // RollbackInstanceRefresh calls expected
	cancels     int    // CancelInstanceRefresh calls expected
}

func (c interruptCase) extra() string {
	if c.onInterrupt == "" {
		return ""
	}
	return fmt.Sprintf("    on_interrupt = %q", c.onInterrupt)
}

func (e *env) checkActionCalls(c interruptCase) {
	e.t.Helper()
	if n := e.calls("RollbackInstanceRefresh"); n != c.rollbacks {
		e.t.Errorf("RollbackInstanceRefresh called %d times, want %d", n, c.rollbacks)
	}
	if n := e.calls("CancelInstanceRefresh"); n != c.cancels {
		e.t.Errorf("CancelInstanceRefresh called %d times, want %d", n, c.cancels)
	}
}

// checkBackOnOld checks that the group's refreshes have ended and that
// every instance runs the old AMI from version 1 again.
func (e *env) checkBackOnOld(group string, seeded *fleet.Seeded, want astypes.InstanceRefreshStatus) {
	e.t.Helper()
	irs := e.waitRefreshesEnded("us-east-1", group)
	if len(irs) != 1 || irs[0].Status != want {
		e.t.Errorf("refreshes %s, want one that ended %s", describeRefreshes(irs), want)
	}
	st := e.snapshot("us-east-1", group)
	e.t.Logf("fleet after:\n%s", st)
	if imgs := st.Images(); len(imgs) != 1 || imgs[seeded.ImageID] != int(seeded.Desired) {
		e.t.Errorf("instances by AMI %v, want all %d back on %s", imgs, seeded.Desired, seeded.ImageID)
	}
	if st.Version != "1" {
		e.t.Errorf("group on version %q, want 1", st.Version)
	}
}

// TestInterruptBeforeVersion: Ctrl-C while CreateLaunchTemplateVersion
// hangs. Nothing exists yet to roll back: no version, no refresh, and the
// output says that no refresh was started.
func TestInterruptBeforeVersion(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.emu.AddFault(awsemu.Fault{Service: "ec2", Action: "CreateLaunchTemplateVersion", Kind: awsemu.FaultSlow, Delay: awsemu.Duration(2 * time.Minute)})

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	run.waitContains("Rolling 1 Auto Scaling group(s)")
	e.waitCalls(run, "CreateLaunchTemplateVersion", 1)
	sent := run.interrupt()
	code, out := run.wait()
	t.Logf("exit %s after the interrupt", time.Since(sent).Round(time.Millisecond))

	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	for _, want := range []string{"Cancelling build after receiving interrupt", "creating launch template (" + seeded.LaunchTemplateID + ") version", "context canceled", "no refresh was started"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	if n := e.calls("StartInstanceRefresh"); n != 0 {
		t.Errorf("StartInstanceRefresh called %d times after an interruption before the version existed", n)
	}
	e.checkActionCalls(interruptCase{})
	if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 1 {
		t.Errorf("template has %d versions, want 1: the hanging request was abandoned", n)
	}
	if irs := e.refreshes("us-east-1", "web"); len(irs) != 0 {
		t.Errorf("refreshes %s, want none", describeRefreshes(irs))
	}
	st := e.snapshot("us-east-1", "web")
	if imgs := st.Images(); imgs[seeded.ImageID] != 2 || len(imgs) != 1 || st.Version != "1" {
		t.Errorf("fleet changed:\n%s", st)
	}
}

// TestInterruptStartAnswerLost: the first StartInstanceRefresh starts a
// refresh but its answer is lost, and the post-processor's look for that
// refresh hangs; Ctrl-C then. The post-processor must find the refresh it
// started without knowing its id, and roll it back.
func TestInterruptStartAnswerLost(t *testing.T) {
	e := newEnv(t)
	// Four replacements of 1.5 s: the refresh is still running when the
	// look for it hangs, whatever the backoff before it (under 2 s).
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Action: "StartInstanceRefresh", Kind: awsemu.FaultLoseResponse, Count: 1})

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
	e.hangLookupAfterLostStart(run)
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	irs := e.refreshes("us-east-1", "web")
	if len(irs) != 1 {
		t.Fatalf("refreshes %s, want exactly the one the lost start made", describeRefreshes(irs))
	}
	id := aws.ToString(irs[0].InstanceRefreshId)
	for _, want := range []string{"instance refresh (" + id + ") interrupted", "rollback of instance refresh " + id + " started"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	e.checkActionCalls(interruptCase{rollbacks: 1})
	e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
}

// waitCalls waits until the post-processor has sent action n times, and
// fails the test with packer's output if it does not in time.
func (e *env) waitCalls(run *packerRun, action string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for e.calls(action) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s was sent %d times, not %d:\n%s", action, e.calls(action), n, run.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hangLookupAfterLostStart makes the post-processor's look for the refresh
// of a start whose answer was lost hang, and returns once it hangs. The look
// is the second DescribeInstanceRefreshes (the first is the check for a
// running refresh, before any change); the post-processor sends no second
// StartInstanceRefresh.
func (e *env) hangLookupAfterLostStart(run *packerRun) {
	e.t.Helper()
	run.waitContains("created version 2")
	e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Action: "DescribeInstanceRefreshes", Kind: awsemu.FaultSlow, Count: 1, Delay: awsemu.Duration(2 * time.Minute)})
	e.waitCalls(run, "DescribeInstanceRefreshes", 2)
	if n := e.calls("StartInstanceRefresh"); n != 1 {
		e.t.Errorf("StartInstanceRefresh sent %d times, want once: the lost start is looked for, not retried", n)
	}
}

// TestInterruptDuringStart: Ctrl-C while StartInstanceRefresh hangs, so no
// refresh exists: nothing to undo, the fleet stays as it was, and the new
// version is left unused.
func TestInterruptDuringStart(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Action: "StartInstanceRefresh", Kind: awsemu.FaultSlow, Delay: awsemu.Duration(2 * time.Minute)})

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	run.waitContains("created version 2")
	e.waitCalls(run, "StartInstanceRefresh", 1)
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	if !strings.Contains(out, "starting Auto Scaling group (web) instance refresh") || !strings.Contains(out, "context canceled") {
		t.Errorf("output does not say the start was interrupted")
	}
	if !strings.Contains(out, "launch template versions created but not in use: lt-") || !strings.Contains(out, " version 2") {
		t.Errorf("the output does not name version 2 as created but not in use")
	}
	e.checkActionCalls(interruptCase{})
	if irs := e.refreshes("us-east-1", "web"); len(irs) != 0 {
		t.Errorf("refreshes %s, want none", describeRefreshes(irs))
	}
	if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 2 {
		t.Errorf("template has %d versions, want 2 (the new one, unused)", n)
	}
	st := e.snapshot("us-east-1", "web")
	if imgs := st.Images(); imgs[seeded.ImageID] != 2 || len(imgs) != 1 || st.Version != "1" {
		t.Errorf("fleet changed:\n%s", st)
	}
}

// TestInterruptStartAnswerLostRefreshEnded: the first StartInstanceRefresh
// starts a refresh with nothing to replace, which is Successful at once, but
// its answer is lost; the look for it hangs and Ctrl-C comes. The refresh
// wrote version 2 onto the group, so the build must say so, and the AMI that
// version 2 launches must survive Packer's clean-up.
func TestInterruptStartAnswerLostRefreshEnded(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 0})
	e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Action: "StartInstanceRefresh", Kind: awsemu.FaultLoseResponse, Count: 1})

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	e.hangLookupAfterLostStart(run)
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	irs := e.refreshes("us-east-1", "web")
	if len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful {
		t.Fatalf("refreshes %s, want the lost start's, Successful", describeRefreshes(irs))
	}
	id := aws.ToString(irs[0].InstanceRefreshId)
	if st := e.snapshot("us-east-1", "web"); st.Version != "2" {
		t.Fatalf("group on version %q, want 2: the refresh wrote it", st.Version)
	}
	want := "interrupted while starting; instance refresh " + id + " had started all the same and already ended Successful: the group runs version 2"
	if !strings.Contains(out, want) {
		t.Errorf("output misses %q", want)
	}
	if ami := amiOf(t, out); !e.imageExists("us-east-1", ami) {
		t.Errorf("AMI %s was deregistered although the group now launches it", ami)
	}
	e.checkActionCalls(interruptCase{})
}

// TestInterruptAfterStart: Ctrl-C on the "started instance refresh" line;
// the default on_interrupt rolls the refresh back and the fleet ends where
// it was.
func TestInterruptAfterStart(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})

	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	line := run.waitLine("started instance refresh line", startedLine.MatchString)
	id := startedLine.FindStringSubmatch(line.text)[1]
	run.interrupt()
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although it was interrupted")
	}
	for _, want := range []string{"instance refresh (" + id + ") interrupted", "rollback of instance refresh " + id + " started: replaced instances return to version 1", "--instance-refresh-ids " + id} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	e.checkActionCalls(interruptCase{rollbacks: 1})
	e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
}

// TestInterruptMidRefresh: Ctrl-C once a quarter of an eight-instance group
// is replaced, with each on_interrupt.
func TestInterruptMidRefresh(t *testing.T) {
	for _, c := range []interruptCase{
		{onInterrupt: "", rollbacks: 1},
		{onInterrupt: "cancel", cancels: 1},
		{onInterrupt: "detach"},
	} {
		name := c.onInterrupt
		if name == "" {
			name = "default-rollback"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 8})
			// A replacement warms up for 300 s: 3 s a replacement at this
			// speed, 24 s for the group.
			e.emu.SetSpeed(100)

			run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300, Extra: c.extra()}))
			line := run.waitLine("progress line at 25% or more", progressAtLeast("InProgress", 25))
			id := progressMatch.FindStringSubmatch(line.text)[1]
			sent := run.interrupt()
			code, out := run.wait()
			t.Logf("interrupted on %q; exit %s later", line.text, time.Since(sent).Round(time.Millisecond))
			if code == 0 {
				t.Fatal("packer build succeeded although it was interrupted")
			}
			ami := amiOf(t, out)
			want := map[string]string{
				"":       "rollback of instance refresh " + id + " started: replaced instances return to version 1",
				"cancel": "cancelled instance refresh " + id + ": the group still launches version 1 of " + seeded.LaunchTemplateID + ", and instances already replaced keep " + ami,
				"detach": "left instance refresh " + id + " running (on_interrupt/on_timeout = detach)",
			}[c.onInterrupt]
			for _, w := range []string{"instance refresh (" + id + ") interrupted: " + want, "--instance-refresh-ids " + id} {
				if !strings.Contains(out, w) {
					t.Errorf("output misses %q", w)
				}
			}
			e.checkActionCalls(c)
			// Packer deregisters the AMI of a failed build. Only a detached
			// refresh still launches it, so only then does the
			// post-processor protect it.
			kept := e.imageExists("us-east-1", ami)
			t.Logf("AMI %s registered after the build: %v", ami, kept)
			if c.onInterrupt == "detach" {
				if !kept || !strings.Contains(out, "Protected AMI "+ami) {
					t.Errorf("the detached refresh launches %s, but the AMI was not protected from Packer's deregistration", ami)
				}
			} else if kept {
				t.Errorf("AMI %s still registered: no group launches it, so nothing should have protected it", ami)
			}

			switch c.onInterrupt {
			case "":
				e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
			case "cancel":
				irs := e.waitRefreshesEnded("us-east-1", "web")
				if len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusCancelled {
					t.Errorf("refreshes %s, want one Cancelled", describeRefreshes(irs))
				}
				st := e.snapshot("us-east-1", "web")
				t.Logf("fleet after:\n%s", st)
				imgs := st.Images()
				if imgs[ami] < 2 || imgs[seeded.ImageID] < 1 || imgs[ami]+imgs[seeded.ImageID] != 8 {
					t.Errorf("instances by AMI %v, want the replaced ones (2 or more) on %s and the rest on %s", imgs, ami, seeded.ImageID)
				}
				if st.Version != "1" {
					t.Errorf("group on version %q, want 1 after a cancel", st.Version)
				}
			case "detach":
				irs := e.refreshes("us-east-1", "web")
				if len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusInProgress {
					t.Fatalf("refreshes %s right after packer exited, want ours still InProgress", describeRefreshes(irs))
				}
				e.emu.SetSpeed(1000)
				irs = e.waitRefreshesEnded("us-east-1", "web")
				t.Logf("the detached refresh ended: %s", describeRefreshes(irs))
			}
		})
	}
}

// TestInterruptDuringRollback: the new AMI turns unhealthy after half of
// the group is replaced, the refresh fails and AWS rolls it back; Ctrl-C
// while the status is RollbackInProgress. The rollback under way is the
// safest place the group can be: whatever on_interrupt says, it must be left
// to finish (rolling it back again is refused by AWS, and cancelling it
// would leave instances on the AMI that just failed), and the output must
// say so.
func TestInterruptDuringRollback(t *testing.T) {
	for _, c := range []interruptCase{
		{onInterrupt: ""},
		{onInterrupt: "cancel"},
	} {
		name := c.onInterrupt
		if name == "" {
			name = "default-rollback"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			// Half of eight instances replaced before the AMI turns bad:
			// the rollback has four instances to replace, 6 s.
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 8})

			run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300, Extra: c.extra()}))
			ami := amiOf(t, run.waitContains("Rolling 1 Auto Scaling group(s)").text)
			run.waitLine("progress line at 50% or more", progressAtLeast("InProgress", 50))
			e.emu.SetUnhealthyImages(ami)
			line := run.waitLine("RollbackInProgress line", func(l string) bool { return strings.Contains(l, "RollbackInProgress") })
			id := progressMatch.FindStringSubmatch(line.text)[1]
			run.interrupt()
			code, out := run.wait()
			if code == 0 {
				t.Fatal("packer build succeeded although it was interrupted")
			}
			want := "instance refresh (" + id + ") interrupted: instance refresh " + id + " is already rolling back: left to finish"
			if !strings.Contains(out, want) {
				t.Errorf("output misses %q", want)
			}
			e.checkActionCalls(c) // neither a second rollback nor a cancel
			e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
		})
	}
}

// ---------------------------------------------------------------------------
// API faults: each roll-out must complete with exactly one new version and
// one refresh.

// armed5xx make sure that the two calls that change something meet 5xx
// answers, however the bursts fall.
var armed5xx = []awsemu.Fault{
	{Action: "CreateLaunchTemplateVersion", Kind: awsemu.Fault5xx, Count: 3},
	{Action: "StartInstanceRefresh", Kind: awsemu.Fault5xx, Count: 3},
}

// clearFaultsKeeping clears every fault but what is left of keep: each
// keeps the part of its Count that the call log shows unused.
func (e *env) clearFaultsKeeping(keep ...awsemu.Fault) {
	e.emu.ClearFaults()
	calls := e.emu.Calls()
	for _, f := range keep {
		used := 0
		for _, c := range calls {
			if c.Action == f.Action && c.Fault == f.Kind {
				used++
			}
		}
		if left := f.Count - used; left > 0 {
			f.Count = left
			e.emu.AddFault(f)
		}
	}
}

// TestFaults rolls an eight-instance group through each kind of API
// failure and checks that exactly one version and one refresh came of it.
func TestFaults(t *testing.T) {
	type faultCase struct {
		name    string
		desired int32 // the group's instances; 8 when 0
		// before adds faults on actions only the post-processor calls, before
		// the build starts; during adds faults once the post-processor runs,
		// and returns a function that stops whatever it started.
		before func(e *env)
		during func(e *env) (stop func())
		check  func(t *testing.T, out string, counts map[string]*actionCount)
	}
	cases := []faultCase{
		{
			name: "throttling",
			during: func(e *env) func() {
				// Every Auto Scaling and EC2 call for 10 s, then 30% of them.
				e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.FaultThrottle})
				e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.FaultThrottle})
				timer := time.AfterFunc(10*time.Second, func() {
					e.emu.ClearFaults()
					e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.FaultThrottle, Rate: 0.3})
					e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.FaultThrottle, Rate: 0.3})
				})
				return func() { timer.Stop() }
			},
			check: func(t *testing.T, out string, counts map[string]*actionCount) {
				// The 30% is random: ask only that many polls were made and
				// that throttling met them (0 of 10 or more happens 3% of
				// the time at most; 20 or more polls are usual).
				total := 0
				for _, a := range counts {
					total += a.Faults[awsemu.FaultThrottle]
				}
				if a := counts["DescribeInstanceRefreshes"]; a == nil || a.Attempts < 10 || a.Faults[awsemu.FaultThrottle] == 0 || total < 5 {
					t.Errorf("too few polls or throttles to mean anything: polls %+v, %d throttled calls in all", a, total)
				}
			},
		},
		{
			name: "5xx-bursts",
			before: func(e *env) {
				for _, f := range armed5xx {
					e.emu.AddFault(f)
				}
			},
			during: func(e *env) func() {
				// Bursts of 1 s in which every call answers 500 or 503,
				// 1.5 to 3.5 s apart. The gaps are random: with a fixed
				// 3 s period, a call whose retries reached the SDK's flat
				// 30 s backoff (no jitter from the 5th attempt on) fell
				// into a burst at every attempt, in lock-step, until it
				// ran out of attempts.
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.Fault5xx})
						e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.Fault5xx})
						select {
						case <-stop:
							return
						case <-time.After(time.Second):
						}
						e.clearFaultsKeeping(armed5xx...)
						select {
						case <-stop:
							return
						case <-time.After(1500*time.Millisecond + mathrand.N(2*time.Second)):
						}
					}
				}()
				return func() { close(stop); <-done }
			},
			check: func(t *testing.T, out string, counts map[string]*actionCount) {
				for _, a := range []string{"CreateLaunchTemplateVersion", "StartInstanceRefresh"} {
					if c := counts[a]; c == nil || c.Faults[awsemu.Fault5xx] < 3 {
						t.Errorf("%s calls %+v, want 3 or more answered 5xx", a, c)
					}
				}
			},
		},
		{
			name: "dropped-connections",
			before: func(e *env) {
				e.emu.AddFault(awsemu.Fault{Action: "CreateLaunchTemplateVersion", Kind: awsemu.FaultDrop, Count: 2})
				e.emu.AddFault(awsemu.Fault{Action: "StartInstanceRefresh", Kind: awsemu.FaultDrop, Count: 2})
			},
			during: func(e *env) func() {
				e.emu.AddFault(awsemu.Fault{Service: "autoscaling", Kind: awsemu.FaultDrop, Rate: 0.3})
				e.emu.AddFault(awsemu.Fault{Service: "ec2", Kind: awsemu.FaultDrop, Rate: 0.3})
				return func() {}
			},
			check: func(t *testing.T, out string, counts map[string]*actionCount) {
				for _, a := range []string{"CreateLaunchTemplateVersion", "StartInstanceRefresh"} {
					if c := counts[a]; c == nil || c.Faults[awsemu.FaultDrop] < 2 {
						t.Errorf("%s calls %+v, want 2 or more dropped", a, c)
					}
				}
			},
		},
		{
			name: "lost-version-answer",
			before: func(e *env) {
				e.emu.AddFault(awsemu.Fault{Action: "CreateLaunchTemplateVersion", Kind: awsemu.FaultLoseResponse, Count: 1})
			},
			check: func(t *testing.T, out string, counts map[string]*actionCount) {
				if a := counts["CreateLaunchTemplateVersion"]; a == nil || a.Attempts != 2 || a.Faults[awsemu.FaultLoseResponse] != 1 {
					t.Errorf("CreateLaunchTemplateVersion calls %+v, want 2: the lost one and its retry", a)
				}
			},
		},
		{
			name: "lost-start-answer",
			before: func(e *env) {
				e.emu.AddFault(awsemu.Fault{Action: "StartInstanceRefresh", Kind: awsemu.FaultLoseResponse, Count: 1})
			},
			check: func(t *testing.T, out string, counts map[string]*actionCount) {
				// The post-processor retries the start itself and looks for
				// the lost attempt's refresh first, so it never sends another.
				if a := counts["StartInstanceRefresh"]; a == nil || a.Attempts != 1 || a.Faults[awsemu.FaultLoseResponse] != 1 {
					t.Errorf("StartInstanceRefresh calls %+v, want 1: the lost one, found again without a retry", a)
				}
				if !strings.Contains(out, "the answer to starting the instance refresh was lost, but refresh") {
					t.Errorf("output does not say the lost start's refresh was adopted")
				}
			},
		},
		{
			// A refresh with nothing to replace is Successful at once, so
			// the SDK's retry of the lost start finds no refresh in progress.
			name:    "lost-start-answer-nothing-to-replace",
			desired: -1,
			before: func(e *env) {
				e.emu.AddFault(awsemu.Fault{Action: "StartInstanceRefresh", Kind: awsemu.FaultLoseResponse, Count: 1})
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			desired := c.desired
			if desired == 0 {
				desired = 8
			}
			if desired < 0 {
				desired = 0
			}
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: desired})
			if c.before != nil {
				c.before(e)
			}
			run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
			run.onOverrun = func() { logTimeline(t, afterBuilder(e.emu.Calls())) }
			pp := run.waitContains("Running post-processor")
			stop := func() {}
			if c.during != nil {
				stop = c.during(e)
			}
			code, out := run.wait()
			stop()
			e.emu.ClearFaults()
			ppTime := run.elapsed - pp.at.Sub(run.start)
			t.Logf("post-processor ran %s", ppTime.Round(time.Millisecond))
			calls := afterBuilder(e.emu.Calls())
			logFigures(t, calls)
			if testing.Verbose() {
				logTimeline(t, calls)
			}
			if code != 0 {
				t.Fatalf("packer build exited %d under %s", code, c.name)
			}

			ami := e.newAMI("us-east-1", amiName(t))
			st := e.snapshot("us-east-1", "web")
			if imgs := st.Images(); imgs[ami] != int(desired) || len(imgs) > 1 {
				t.Errorf("instances by AMI %v, want all %d on %s\n%s", imgs, desired, ami, st)
			}
			if st.Version != "2" {
				t.Errorf("group on version %q, want 2", st.Version)
			}
			if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 2 {
				t.Errorf("template has %d versions, want 2: exactly one created", n)
			}
			if irs := e.refreshes("us-east-1", "web"); len(irs) != 1 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful {
				t.Errorf("refreshes %s, want exactly one, Successful", describeRefreshes(irs))
			}
			counts := countActions(calls)
			performed := 0
			if a := counts["StartInstanceRefresh"]; a != nil {
				performed = a.Attempts - a.Faults[awsemu.FaultThrottle] - a.Faults[awsemu.Fault5xx] - a.Faults[awsemu.FaultDrop]
			}
			t.Logf("StartInstanceRefresh requests that reached the refresh engine: %d", performed)
			if c.check != nil {
				c.check(t, out, counts)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Every way a refresh can end, end to end.

// TestStatusBaking: with bake_time the refresh is Baking after the last
// replacement, and then Successful.
func TestStatusBaking(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: `      bake_time = "600s"`}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	for _, want := range []string{", bake 600s", " Baking, 100% complete", "Waiting for the bake time of 600 seconds", " Successful: the group runs version 2"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	e.checkAllOnNew("web", 2)
}

// checkAllOnNew checks that every instance runs the build's AMI from the
// group's version 2.
func (e *env) checkAllOnNew(group string, n int) string {
	e.t.Helper()
	ami := e.newAMI("us-east-1", amiName(e.t))
	st := e.snapshot("us-east-1", group)
	if imgs := st.Images(); len(imgs) > 1 || imgs[ami] != n {
		e.t.Errorf("instances by AMI %v, want all %d on %s", imgs, n, ami)
	}
	if st.Version != "2" {
		e.t.Errorf("group on version %q, want 2", st.Version)
	}
	return ami
}

// TestStatusCheckpoints: the refresh pauses at its 50% checkpoint, and the
// output shows it.
func TestStatusCheckpoints(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: `      checkpoint_percentages = [50, 100]
      checkpoint_delay       = "600s"`}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	for _, want := range []string{"checkpoints [50 100] every 600s", "InProgress, 50% complete, 2 instance(s) left: Instance refresh is waiting at checkpoint 50%"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	e.checkAllOnNew("web", 4)
}

// TestStatusNothingToReplace: a group with no instances; the refresh is
// Successful before the first poll, and AWS writes the new version onto
// the group.
func TestStatusNothingToReplace(t *testing.T) {
	e := newEnv(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 0})
	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	if !strings.Contains(res.Output, " Successful, 100% complete") || strings.Contains(res.Output, " Pending,") || strings.Contains(res.Output, " InProgress,") {
		t.Errorf("output does not show a refresh that was Successful at the first poll")
	}
	e.checkAllOnNew("web", 0)
}

// TestStatusAllMatching: two post-processor chains roll the same group onto
// the same AMI. The second finds the group's version already carrying it,
// creates nothing, and its refresh, with every instance already matching
// (skip_matching), is Successful before the first poll.
func TestStatusAllMatching(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	pp := fmt.Sprintf(`
  post-processor "asg-rollout" {
    access_key                  = "test"
    secret_key                  = "test"
    custom_endpoint_ec2         = %[1]q
    custom_endpoint_autoscaling = %[1]q
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
    target {
      auto_scaling_group = "web"
    }
  }
`, e.emu.URL())
	file := e.writeHCL(e.sourceBlock(amiName(t), nil) + `
build {
  sources = ["source.amazon-ebs.app"]
` + pp + pp + "}\n")
	res := e.packerBuild(file)
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.checkAllOnNew("web", 2)
	if !strings.Contains(res.Output, "version 2 of "+seeded.LaunchTemplateID+" already has "+ami+": using it as it is") {
		t.Errorf("the second roll-out did not reuse version 2")
	}
	if n := e.versionCount("us-east-1", seeded.LaunchTemplateID); n != 2 {
		t.Errorf("template has %d versions, want 2", n)
	}
	irs := e.refreshes("us-east-1", "web")
	if len(irs) != 2 {
		t.Fatalf("refreshes %s, want two", describeRefreshes(irs))
	}
	second := aws.ToString(irs[0].InstanceRefreshId)
	if strings.Contains(res.Output, second+" Pending") || strings.Contains(res.Output, second+" InProgress") || !strings.Contains(res.Output, second+" Successful, 100% complete") {
		t.Errorf("the second refresh %s was not Successful at its first poll", second)
	}
}

// TestStatusFailed: with auto_rollback = false a refresh whose instances
// fail their health checks ends Failed; the output says where that leaves
// the group and quotes the failed scaling activities.
func TestStatusFailed(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, AMITags: map[string]string{"health": "broken"}, Refresh: `      auto_rollback = false`}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded with unhealthy instances")
	}
	ami := amiOf(t, res.Output)
	for _, want := range []string{
		"ended Failed: The instance refresh failed because new instances did not pass health checks",
		"the group still launches version 1 of " + seeded.LaunchTemplateID + ", and instances already replaced keep " + ami,
		"recent failed scaling activities:",
	} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("output misses %q", want)
		}
	}
	st := e.snapshot("us-east-1", "web")
	if st.Version != "1" {
		t.Errorf("group on version %q, want 1", st.Version)
	}
}

// TestStatusFailedOnFailureRollback: auto_rollback = false and on_failure =
// rollback; the AMI turns unhealthy after some instances are replaced, the
// refresh fails, and the post-processor refreshes the group back onto
// version 1.
func TestStatusFailedOnFailureRollback(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300 + "\n      auto_rollback = false", Extra: `    on_failure = "rollback"`}))
	ami := amiOf(t, run.waitContains("Rolling 1 Auto Scaling group(s)").text)
	run.waitLine("progress line at 25% or more", progressAtLeast("InProgress", 25))
	e.emu.SetUnhealthyImages(ami)
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although the refresh failed")
	}
	for _, want := range []string{"ended Failed", "on_failure = rollback: started instance refresh", "returned every instance to version 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	irs := e.waitRefreshesEnded("us-east-1", "web")
	if len(irs) != 2 || irs[0].Status != astypes.InstanceRefreshStatusSuccessful || irs[1].Status != astypes.InstanceRefreshStatusFailed {
		t.Errorf("refreshes %s, want ours Failed and the one back Successful", describeRefreshes(irs))
	}
	st := e.snapshot("us-east-1", "web")
	t.Logf("fleet after:\n%s", st)
	if imgs := st.Images(); len(imgs) != 1 || imgs[seeded.ImageID] != 4 || st.Version != "1" {
		t.Errorf("instances by AMI %v on version %s, want all 4 on %s, version 1", imgs, st.Version, seeded.ImageID)
	}
}

// TestStatusCancelledByOther: someone cancels our refresh halfway; the
// build fails with Cancelled and says the group is mixed.
func TestStatusCancelledByOther(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
	run.waitLine("progress line at 25% or more", progressAtLeast("InProgress", 25))
	if _, err := e.clients("us-east-1").AutoScaling.CancelInstanceRefresh(context.Background(), &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although its refresh was cancelled")
	}
	ami := amiOf(t, out)
	for _, want := range []string{"ended Cancelled", "the group still launches version 1 of " + seeded.LaunchTemplateID + ", and instances already replaced keep " + ami} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
	if n := e.calls("CancelInstanceRefresh"); n != 1 {
		t.Errorf("CancelInstanceRefresh called %d times, want only ours", n)
	}
}

// TestStatusRollbackFailed: the AMI turns unhealthy after some instances are
// replaced, and so does the old one, so AWS's rollback fails too.
func TestStatusRollbackFailed(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	run := e.startBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300}))
	ami := amiOf(t, run.waitContains("Rolling 1 Auto Scaling group(s)").text)
	run.waitLine("progress line at 25% or more", progressAtLeast("InProgress", 25))
	e.emu.SetUnhealthyImages(ami, seeded.ImageID)
	code, out := run.wait()
	if code == 0 {
		t.Fatal("packer build succeeded although the refresh and its rollback failed")
	}
	for _, want := range []string{"ended RollbackFailed", "the rollback failed too, so the group may run both AMIs: check it now"} {
		if !strings.Contains(out, want) {
			t.Errorf("output misses %q", want)
		}
	}
}

// TestStatusTimeout: timeout passes mid-refresh; on_timeout's default rolls
// back and the fleet ends where it was.
func TestStatusTimeout(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 4})
	e.emu.SetSpeed(100)
	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Refresh: warmup300, Extra: `    timeout = "4s"`}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded past its timeout")
	}
	if !regexp.MustCompile(`instance refresh \([0-9a-f-]+\) did not end within timeout 4s: rollback of instance refresh [0-9a-f-]+ started`).MatchString(res.Output) {
		t.Errorf("output does not report the timeout and the rollback")
	}
	e.checkActionCalls(interruptCase{rollbacks: 1})
	e.checkBackOnOld("web", seeded, astypes.InstanceRefreshStatusRollbackSuccessful)
}

// ---------------------------------------------------------------------------
// Secrets.

// canaries are credentials that must never show in Packer's output or log.
type canaries struct {
	AccessKey, SecretKey, Token, ExternalID string
}

func newCanaries(t *testing.T) canaries {
	r := func(n int) string {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	return canaries{
		AccessKey: "AKIACANARY" + strings.ToUpper(r(5)),
		// Characters that JSON, URL and base64 encodings each change.
		SecretKey:  "canary/Secret+" + r(8) + "<&>=",
		Token:      "CanaryToken/" + r(12) + "+x=",
		ExternalID: "canary-external-" + r(6) + "+=,.@:/-",
	}
}

func (c canaries) all() map[string]string {
	return map[string]string{"access_key": c.AccessKey, "secret_key": c.SecretKey, "token": c.Token, "external_id": c.ExternalID}
}

// encodings returns the forms in which secret could leak: plain, escaped
// for JSON (Go's HTML-safe escaping and with escaped slashes), escaped for
// URLs, and base64 (standard and URL alphabets) at each of the three
// alignments a secret can have inside a longer encoded text.
func encodings(secret string) map[string]string {
	forms := map[string]string{"plain": secret}
	j, _ := json.Marshal(secret)
	forms["json"] = strings.Trim(string(j), `"`)
	forms["json-slash"] = strings.ReplaceAll(forms["json"], "/", `\/`)
	forms["query"] = url.QueryEscape(secret)
	forms["path"] = url.PathEscape(secret)
	for align := 0; align < 3; align++ {
		in := strings.Repeat("\x00", align) + secret
		n := len(in)
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
			s := enc.EncodeToString([]byte(in))
			// Keep only the characters made of the secret's bits alone.
			from, to := (align*8+5)/6, n*8/6
			forms[fmt.Sprintf("%s@%d", name, align)] = s[from:to]
		}
	}
	return forms
}

// checkDetector makes sure that encodings finds secret embedded, at every
// offset, in the texts a leak would produce.
func checkDetector(t *testing.T, secret string) {
	t.Helper()
	found := func(text string) bool {
		for _, form := range encodings(secret) {
			if strings.Contains(text, form) {
				return true
			}
		}
		return false
	}
	j, _ := json.Marshal(map[string]string{"k": secret})
	texts := []string{"x" + secret + "y", string(j), "a=" + url.QueryEscape(secret) + "&b=1"}
	for pre := 0; pre < 3; pre++ {
		blob := []byte(strings.Repeat("p", pre) + "user:" + secret + ":tail")
		texts = append(texts, base64.StdEncoding.EncodeToString(blob), base64.URLEncoding.EncodeToString(blob))
	}
	for _, text := range texts {
		if !found(text) {
			t.Fatalf("the detector misses the secret in %q", text)
		}
	}
}

// TestSecretCanary runs a successful and a failing roll-out with canary
// credentials in the post-processor and an assume_role whose external id is
// a canary, with PACKER_LOG on, and looks for every canary in every
// encoding in stdout, stderr and the log file.
func TestSecretCanary(t *testing.T) {
	for _, name := range []string{"success", "rollout-fails", "assume-role-fails"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
			c := newCanaries(t)
			failing := name != "success"
			var tags map[string]string
			extra := ""
			switch name {
			case "rollout-fails":
				e.emu.SetUnhealthyImageTag("health", "broken")
				tags = map[string]string{"health": "broken"}
			case "assume-role-fails":
				// STS answers 503 to every AssumeRole: the roll-out fails
				// on its first call, with an error about credentials.
				e.emu.AddFault(awsemu.Fault{Service: "sts", Action: "AssumeRole", Kind: awsemu.Fault5xx})
				extra = "    max_retries = 2\n"
			}
			file := e.writeHCL(e.sourceBlock(amiName(t), tags) + fmt.Sprintf(`
build {
  sources = ["source.amazon-ebs.app"]

  post-processor "asg-rollout" {
    access_key                  = %q
    secret_key                  = %q
    token                       = %q
    custom_endpoint_ec2         = %q
    custom_endpoint_autoscaling = %q
    poll_min_delay              = "100ms"
    poll_max_delay              = "500ms"
    assume_role {
      role_arn    = "arn:aws:iam::123456789012:role/x"
      external_id = %q
    }
    target {
      auto_scaling_group = "web"
    }
%s  }
}
`, c.AccessKey, c.SecretKey, c.Token, e.emu.URL(), e.emu.URL(), c.ExternalID, extra))
			logPath := filepath.Join(e.dir, "packer.log")
			run := e.startBuild(file, "PACKER_LOG=1", "PACKER_LOG_PATH="+logPath)
			code, _ := run.wait()
			if failing && code == 0 {
				t.Fatal("packer build succeeded with unhealthy instances")
			}
			if !failing && code != 0 {
				t.Fatalf("packer build exited %d", code)
			}
			if !failing {
				st := e.snapshot("us-east-1", "web")
				if imgs := st.Images(); imgs[seeded.ImageID] != 0 {
					t.Errorf("instances by AMI %v: the roll-out did not replace the fleet", imgs)
				}
			}

			// The canaries were really used: the role was assumed with the
			// external id, signed with the canary access key.
			assumed := false
			for _, call := range e.emu.Calls() {
				if call.Action == "AssumeRole" && call.Params["ExternalId"] == c.ExternalID && call.Params["RoleArn"] == "arn:aws:iam::123456789012:role/x" {
					assumed = true
				}
			}
			if !assumed {
				t.Errorf("no AssumeRole call with the canary external id: the test does not exercise the canaries")
			}

			logData, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatalf("reading the packer log: %v", err)
			}
			if len(logData) == 0 {
				t.Fatal("the packer log is empty: PACKER_LOG did not take effect")
			}
			run.mu.Lock()
			streams := map[string]string{"stdout": run.stdout.String(), "stderr": run.stderr.String(), "log": string(logData)}
			run.mu.Unlock()
			pluginLines := 0
			for _, l := range strings.Split(streams["log"], "\n") {
				if strings.Contains(l, "packer-plugin-asg") {
					pluginLines++
				}
			}
			t.Logf("searched stdout %d bytes, stderr %d bytes, log %d bytes (%d lines from the asg plugin's process)", len(streams["stdout"]), len(streams["stderr"]), len(streams["log"]), pluginLines)
			if pluginLines == 0 {
				t.Errorf("the log has no line from the asg plugin: its log output was not captured")
			}
			checked := 0
			for _, secret := range c.all() {
				checkDetector(t, secret)
			}
			for field, secret := range c.all() {
				for form, text := range encodings(secret) {
					for stream, data := range streams {
						checked++
						if i := strings.Index(data, text); i >= 0 {
							lo, hi := max(i-120, 0), min(i+len(text)+120, len(data))
							t.Errorf("%s canary (%s form %q) found in %s: ...%s...", field, form, text, stream, data[lo:hi])
						}
					}
				}
			}
			t.Logf("%d searches, canaries %v", checked, c.all())
		})
	}
}
