package e2e

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// This file proves the release pointer of issue 13 end to end: an SSM
// parameter the post-processor writes with the new AMI once the roll-out
// succeeded, and never otherwise. Each test checks the parameter the way a
// user would, with GetParameterHistory.

// releaseParam is the parameter the tests publish to.
const releaseParam = "/app/ami"

// releaseBlock is a release_parameter block for name, tagged team = web.
func releaseBlock(name string) string {
	return `
    release_parameter {
      name = "` + name + `"
      tags = { team = "web" }
    }`
}

// ssmClient is an SSM client of the test's local AWS.
func (e *env) ssmClient(region string) *ssm.Client {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(e.emu.URL()) })
}

// paramHistory returns every version of a parameter, oldest first; none
// when it does not exist.
func (e *env) paramHistory(region, name string) []ssmtypes.ParameterHistory {
	e.t.Helper()
	var out []ssmtypes.ParameterHistory
	p := ssm.NewGetParameterHistoryPaginator(e.ssmClient(region), &ssm.GetParameterHistoryInput{Name: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		var notFound *ssmtypes.ParameterNotFound
		if errors.As(err, &notFound) {
			return nil
		}
		if err != nil {
			e.t.Fatalf("GetParameterHistory(%s): %v", name, err)
		}
		out = append(out, page.Parameters...)
	}
	return out
}

// putParam creates a parameter of data type aws:ec2:image holding ami, as
// a team would before adopting the plugin.
func (e *env) putParam(region, name, ami string) {
	e.t.Helper()
	if _, err := e.ssmClient(region).PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(ami), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image"),
	}); err != nil {
		e.t.Fatalf("PutParameter(%s): %v", name, err)
	}
	if h := e.paramHistory(region, name); len(h) != 1 {
		e.t.Fatalf("parameter %s has %d versions after creating it, want 1", name, len(h))
	}
}

// putCalls counts the PutParameter calls since the call log was last reset.
func (e *env) putCalls() int {
	n := 0
	for _, c := range e.emu.Calls() {
		if c.Action == "PutParameter" && !isDryRun(c) {
			n++
		}
	}
	return n
}

// wantHistory checks a parameter's values, oldest first.
func (e *env) wantHistory(region, name string, values ...string) []ssmtypes.ParameterHistory {
	e.t.Helper()
	h := e.paramHistory(region, name)
	var got []string
	for _, v := range h {
		got = append(got, aws.ToString(v.Value))
	}
	if strings.Join(got, " ") != strings.Join(values, " ") {
		e.t.Errorf("parameter %s in %s: versions %q, want %q", name, region, got, values)
	}
	return h
}

// chained rewrites the build file at path so that its post-processor runs
// twice in a row, the second time on the first one's artifact (the same
// AMI): a re-run of the roll-out and of everything after it.
func (e *env) chained(path string) string {
	e.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, `  post-processor "asg-rollout" {`)
	end := strings.LastIndex(text, "}") // the build block's end
	if start < 0 || end < start {
		e.t.Fatalf("no post-processor block in %s", path)
	}
	block := text[start:end]
	text = text[:start] + "  post-processors {\n" + block + block + "  }\n" + text[end:]
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// TestReleaseParameterNotWrittenOnFailure: the new instances fail their
// health checks and the roll-out rolls back; the parameter keeps its value
// and gains no version, and nothing tried to write it.
func TestReleaseParameterNotWrittenOnFailure(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.putParam("us-east-1", releaseParam, seeded.ImageID)
	e.emu.ResetCalls() // the seeding's calls

	res := e.packerBuild(e.write(build{
		Targets: []target{{Group: "web"}}, AMITags: map[string]string{"health": "broken"},
		Extra: releaseBlock(releaseParam),
	}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although every new instance failed its health check")
	}
	e.wantHistory("us-east-1", releaseParam, seeded.ImageID)
	if n := e.putCalls(); n != 0 {
		t.Errorf("%d PutParameter calls in a failed roll-out, want none", n)
	}
	wantOutput(t, res.Output, "Release parameter "+releaseParam+" (us-east-1): not written: web (us-east-1) rolled back")
	if st := e.snapshot("us-east-1", "web"); st.Images()[seeded.ImageID] != 2 {
		t.Errorf("the group is not back on %s:\n%s", seeded.ImageID, st)
	}
}

// TestReleaseParameterWrittenOnce: a successful roll-out writes the new
// AMI once, as a new version of the existing parameter, tagged, and waits
// until the write shows; the same roll-out run again on the same artifact
// finds the parameter up to date and writes no second version.
func TestReleaseParameterWrittenOnce(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.putParam("us-east-1", releaseParam, seeded.ImageID)
	e.emu.ResetCalls() // the seeding's calls
	// SSM validates an aws:ec2:image write asynchronously: the write shows
	// two minutes after its answer, so the re-run only finds the parameter
	// up to date if the first run waited for its write to show.
	e.emu.SetParameterValidationDelay(2 * time.Minute)

	res := e.packerBuild(e.chained(e.write(build{Targets: []target{{Group: "web"}}, Extra: releaseBlock(releaseParam)})))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", e.amiName())
	wantAllOn(t, e.snapshot("us-east-1", "web"), ami, 2)

	h := e.wantHistory("us-east-1", releaseParam, seeded.ImageID, ami)
	if len(h) == 2 {
		if dt := aws.ToString(h[1].DataType); dt != "aws:ec2:image" {
			t.Errorf("version 2 has data type %q, want aws:ec2:image", dt)
		}
		if h[1].Type != ssmtypes.ParameterTypeString {
			t.Errorf("version 2 has type %s, want String", h[1].Type)
		}
	}
	tags, err := e.ssmClient("us-east-1").ListTagsForResource(context.Background(), &ssm.ListTagsForResourceInput{
		ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(releaseParam),
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tag := range tags.TagList {
		found = found || (aws.ToString(tag.Key) == "team" && aws.ToString(tag.Value) == "web")
	}
	if !found {
		t.Errorf("parameter tags %+v, want team = web", tags.TagList)
	}
	if puts := e.putCalls(); puts != 1 {
		t.Errorf("%d PutParameter calls, want 1 (the re-run finds the parameter up to date)", puts)
	}
	wantOutput(t, res.Output,
		"Release parameter "+releaseParam+" (us-east-1): "+seeded.ImageID+" -> "+ami+", version 2",
		"Release parameter "+releaseParam+" (us-east-1): already "+ami+" (version 2), not written")
}

// TestReleaseParameterCreated: a parameter that does not exist yet is
// created with the new AMI, as version 1, in every region of the artifact
// that has targets.
func TestReleaseParameterCreated(t *testing.T) {
	e := newEnv(t)
	regions := []string{"us-east-1", "us-west-2"}
	var targets []target
	for _, r := range regions {
		e.seed(r, fleet.Spec{Group: "web", Desired: 1})
		targets = append(targets, target{Group: "web", Region: r})
	}
	res := e.packerBuild(e.write(build{AMIRegions: regions[1:], Targets: targets, Extra: releaseBlock(releaseParam)}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	for _, r := range regions {
		ami := e.newAMI(r, e.amiName())
		e.wantHistory(r, releaseParam, ami)
		wantOutput(t, res.Output, "Release parameter "+releaseParam+" ("+r+"): first written: "+ami+", version 1")
	}
}

// TestReleaseParameterAfterRegionOrAll: us-east-1 rolls in the first wave
// and succeeds, us-west-2 in the second and fails. A parameter published
// after = "region" is written in us-east-1 only; one published after =
// "all" is written nowhere.
func TestReleaseParameterAfterRegionOrAll(t *testing.T) {
	e := newEnv(t)
	east := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1})
	west := e.seed("us-west-2", fleet.Spec{Group: "api", Desired: 1})
	for r, ami := range map[string]string{"us-east-1": east.ImageID, "us-west-2": west.ImageID} {
		e.putParam(r, "/app/region", ami)
		e.putParam(r, "/app/all", ami)
	}
	// The us-west-2 copy of the new AMI never becomes healthy: mark it as
	// soon as the builder has copied it, long before wave 2 launches from it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	marked := make(chan string, 1)
	go func() {
		c := e.clients("us-west-2")
		for ctx.Err() == nil {
			if id, err := c.ImageByName(ctx, e.amiName()); err == nil {
				e.emu.SetUnhealthyImages(id)
				marked <- id
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	res := e.packerBuild(e.write(build{
		AMIRegions: []string{"us-west-2"},
		Targets:    []target{{Group: "web", Region: "us-east-1", Wave: 1}, {Group: "api", Region: "us-west-2", Wave: 2}},
		Extra: `
    release_parameter {
      name  = "/app/region"
      after = "region"
    }
    release_parameter {
      name  = "/app/all"
      after = "all"
    }`,
	}))
	cancel()
	select {
	case <-marked:
	default:
		t.Fatal("the us-west-2 copy of the AMI was never found")
	}
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although us-west-2's new instances failed their health checks")
	}
	// Packer deregisters the AMI of a failed build, so read the new one off
	// the group that rolled onto it.
	var ami string
	for id := range e.snapshot("us-east-1", "web").Images() {
		ami = id
	}
	if ami == "" || ami == east.ImageID {
		t.Fatalf("us-east-1's group is on %q, not on a new AMI", ami)
	}
	wantAllOn(t, e.snapshot("us-west-2", "api"), west.ImageID, 1)
	e.wantHistory("us-east-1", "/app/region", east.ImageID, ami)
	e.wantHistory("us-east-1", "/app/all", east.ImageID)
	e.wantHistory("us-west-2", "/app/region", west.ImageID)
	e.wantHistory("us-west-2", "/app/all", west.ImageID)
}

// TestReleaseAndPruneDryRun: a dry run with a release parameter and both
// prunings writes nothing and deletes nothing, and its plan names the
// parameter.
func TestReleaseAndPruneDryRun(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 1})
	e.putParam("us-east-1", releaseParam, seeded.ImageID)
	c := e.clients("us-east-1")
	for range 3 { // versions 2-4, which keep = 1 would delete
		if _, err := c.EC2.CreateLaunchTemplateVersion(context.Background(), &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId: aws.String(seeded.LaunchTemplateID), SourceVersion: aws.String("1"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(seeded.ImageID)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.snapshot("us-east-1", "web")
	e.emu.ResetCalls()

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "web"}}, Extra: releaseBlock(releaseParam) + `
    prune_versions { keep = 1 }
    prune_images   { keep = 1 }
    dry_run        = true`}))
	if res.ExitCode != 0 {
		t.Fatalf("dry run: packer build exited %d", res.ExitCode)
	}
	wantOutput(t, res.Output, "Dry run: nothing was changed", releaseParam)
	e.wantHistory("us-east-1", releaseParam, seeded.ImageID)
	if got := e.versionNumbers("us-east-1", seeded.LaunchTemplateID); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Errorf("versions after a dry run: %v, want [1 2 3 4]", got)
	}
	wantUntouched(t, before, e.snapshot("us-east-1", "web"))
	for _, call := range e.emu.Calls() {
		switch call.Action {
		case "PutParameter", "AddTagsToResource", "DeleteLaunchTemplateVersions", "DeregisterImage", "DeleteSnapshot", "CreateLaunchTemplateVersion", "StartInstanceRefresh":
			if !isDryRun(call) {
				t.Errorf("a dry run called %s: %v", call.Action, call.Params)
			}
		}
	}
}
