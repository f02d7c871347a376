package rollout

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/asg-rollout/packer-plugin-asg/internal/awsauth"
)

func releaseConfig(extra map[string]interface{}) map[string]interface{} {
	raw := map[string]interface{}{
		"release_parameter": []map[string]interface{}{{"name": "/app/ami", "tags": map[string]string{"team": "web"}}},
	}
	for k, v := range extra {
		raw[k] = v
	}
	return raw
}

// imageParam is an existing AMI pointer.
func imageParam(value string, version int64) *ssmtypes.Parameter {
	return &ssmtypes.Parameter{Name: aws.String("/app/ami"), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, DataType: aws.String(imageDataType), Version: version}
}

func TestPublishAfterSuccess(t *testing.T) {
	f := newReleaseFake().deploys()
	f.params["/app/ami"] = imageParam("ami-old3", 3)
	p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(nil))
	ui := &packersdk.MockUi{}
	art, _, _, err := p.PostProcess(context.Background(), ui, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if got := f.param("/app/ami"); got != "ami-new@4" {
		t.Errorf("parameter = %s, want ami-new@4", got)
	}
	if len(f.puts) != 1 {
		t.Fatalf("%d PutParameter calls, want 1", len(f.puts))
	}
	put := f.puts[0]
	if put.Type != ssmtypes.ParameterTypeString || aws.ToString(put.DataType) != imageDataType || !aws.ToBool(put.Overwrite) || len(put.Tags) != 0 {
		t.Errorf("PutParameter sent Type %s, DataType %s, Overwrite %v, %d tags; want String, %s, true and tags added separately",
			put.Type, aws.ToString(put.DataType), aws.ToBool(put.Overwrite), len(put.Tags), imageDataType)
	}
	if f.paramTags["/app/ami"]["team"] != "web" {
		t.Errorf("parameter tags = %v, want team=web", f.paramTags["/app/ami"])
	}
	// The PutParameter comes after the refresh succeeded.
	last := -1
	for i, c := range f.calls {
		if c == "DescribeInstanceRefreshes" {
			last = i
		}
		if c == "PutParameter" && i < last {
			t.Errorf("PutParameter before the refresh ended: %v", f.calls)
		}
	}
	a := art.(*Artifact)
	want := Release{Name: "/app/ami", Region: "us-east-1", ImageID: "ami-new", PreviousValue: "ami-old3", Version: 4, Written: true}
	if len(a.after.Releases) != 1 || a.after.Releases[0] != want {
		t.Errorf("releases = %+v, want %+v", a.after.Releases, want)
	}
	if s := art.String(); !strings.Contains(s, "Release parameter /app/ami (us-east-1): ami-old3 -> ami-new, version 4") {
		t.Errorf("summary does not name the release:\n%s", s)
	}
	st := art.State(releasesKey).([]map[string]string)
	if len(st) != 1 || st[0]["previous_value"] != "ami-old3" || st[0]["version"] != "4" {
		t.Errorf("State(%s) = %v", releasesKey, st)
	}
	if gen := art.State(generatedDataKey).(map[string]interface{}); !strings.Contains(gen[GeneratedReleases].(string), `"previous_value":"ami-old3"`) {
		t.Errorf("generated data %s = %v", GeneratedReleases, gen[GeneratedReleases])
	}
}

func TestPublishCreatesAndReRunWritesNothing(t *testing.T) {
	f := newReleaseFake().deploys()
	p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(nil))
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if got := f.param("/app/ami"); got != "ami-new@1" {
		t.Fatalf("parameter = %s, want ami-new@1", got)
	}
	if s := art.String(); !strings.Contains(s, "first written: ami-new, version 1") {
		t.Errorf("summary:\n%s", s)
	}
	// The same AMI again: the group is up to date, the parameter holds it.
	art, _, _, err = p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	if n := f.count("PutParameter") + f.count("AddTagsToResource"); n != 2 {
		t.Errorf("%d writes in all, want the first build's two: %v", n, f.calls)
	}
	if got := f.param("/app/ami"); got != "ami-new@1" {
		t.Errorf("parameter = %s after the re-run, want ami-new@1 (no new version)", got)
	}
	rl := art.(*Artifact).after.Releases[0]
	if rl.Written || rl.Version != 1 || rl.PreviousValue != "ami-new" {
		t.Errorf("re-run release = %+v, want not written, version 1", rl)
	}
	if s := art.String(); !strings.Contains(s, "already ami-new (version 1), not written") {
		t.Errorf("summary:\n%s", s)
	}
}

// TestPublishNeverAfterNonSuccess: every way a roll-out can end without
// the fleet on the new AMI leaves the parameter as it was.
func TestPublishNeverAfterNonSuccess(t *testing.T) {
	cases := []struct {
		name  string
		extra map[string]interface{}
		setup func(*releaseFake) context.Context
	}{
		{"failed in place", map[string]interface{}{"instance_refresh": map[string]interface{}{"auto_rollback": false}}, func(f *releaseFake) context.Context {
			f.script = []astypes.InstanceRefreshStatus{"InProgress", "Failed"}
			return context.Background()
		}},
		{"rolled back", nil, func(f *releaseFake) context.Context {
			f.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackInProgress", "RollbackSuccessful"}
			return context.Background()
		}},
		{"not started", nil, func(f *releaseFake) context.Context {
			f.startErrs = map[string]error{"web": apiError("ValidationError", "no")}
			return context.Background()
		}},
		{"interrupted, rolled back", nil, func(f *releaseFake) context.Context {
			f.script = []astypes.InstanceRefreshStatus{"InProgress"}
			return cancelAtPoll(t, f.fakeAWS, 2)
		}},
		{"interrupted, detached", map[string]interface{}{"on_interrupt": "detach"}, func(f *releaseFake) context.Context {
			f.script = []astypes.InstanceRefreshStatus{"InProgress"}
			return cancelAtPoll(t, f.fakeAWS, 2)
		}},
		{"timed out, detached", map[string]interface{}{"on_timeout": "detach", "timeout": "1ms"}, func(f *releaseFake) context.Context {
			f.script = []astypes.InstanceRefreshStatus{"InProgress"}
			return context.Background()
		}},
		{"dry run", map[string]interface{}{"dry_run": true}, func(f *releaseFake) context.Context {
			return context.Background()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newReleaseFake()
			f.params["/app/ami"] = imageParam("ami-old3", 3)
			ctx := c.setup(f)
			p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(c.extra))
			art, _, _, err := p.PostProcess(ctx, &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if c.name != "dry run" && err == nil {
				t.Fatalf("PostProcess succeeded; the case must not")
			}
			if n := f.count("PutParameter") + f.count("AddTagsToResource"); n != 0 {
				t.Errorf("%d SSM writes, want none: %v", n, f.calls)
			}
			if got := f.param("/app/ami"); got != "ami-old3@3" {
				t.Errorf("parameter = %s, want it untouched (ami-old3@3)", got)
			}
			if art != nil && c.name != "dry run" && !strings.Contains(art.String(), "Release parameter /app/ami (us-east-1): not written: ") {
				t.Errorf("summary does not say the parameter was not written:\n%s", art.String())
			}
		})
	}
}

func TestPublishWaitFalseRefused(t *testing.T) {
	var c Config
	err := c.Prepare(map[string]interface{}{
		"target":            []map[string]interface{}{{"auto_scaling_group": "web"}},
		"wait":              false,
		"release_parameter": []map[string]interface{}{{"name": "/app/ami"}},
	})
	if err == nil || !strings.Contains(err.Error(), "wait = false") {
		t.Fatalf("err = %v, want release_parameter refused with wait = false", err)
	}
}

// releaseTwoRegions is a roll-out of web in us-east-1 and us-west-2; west's
// refresh fails (rolled back).
func releaseTwoRegions(t *testing.T, after string) (east, west *releaseFake, p *PostProcessor) {
	east, west = newReleaseFake().deploys(), newReleaseFake().deploys()
	west.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
	for _, f := range []*releaseFake{east, west} {
		f.params["/app/ami"] = imageParam("ami-old3", 3)
	}
	p = newReleasePP(t, map[string]*releaseFake{"us-east-1": east, "us-west-2": west}, map[string]interface{}{
		"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1"},
			{"auto_scaling_group": "web", "region": "us-west-2"},
		},
		"release_parameter": []map[string]interface{}{{"name": "/app/ami", "after": after}},
	})
	return east, west, p
}

func TestPublishScopeRegion(t *testing.T) {
	east, west, p := releaseTwoRegions(t, "region")
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-new"))
	if err == nil {
		t.Fatal("PostProcess succeeded with a rolled-back region")
	}
	if got := east.param("/app/ami"); got != "ami-new@4" {
		t.Errorf("us-east-1 parameter = %s, want ami-new@4: every group there succeeded", got)
	}
	if got := west.param("/app/ami"); got != "ami-old3@3" {
		t.Errorf("us-west-2 parameter = %s, want it untouched", got)
	}
	if s := art.String(); !strings.Contains(s, "Release parameter /app/ami (us-west-2): not written: web (us-west-2) rolled back") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestPublishScopeAll(t *testing.T) {
	east, west, p := releaseTwoRegions(t, "all")
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new,us-west-2:ami-new")); err == nil {
		t.Fatal("PostProcess succeeded with a rolled-back region")
	}
	for name, f := range map[string]*releaseFake{"us-east-1": east, "us-west-2": west} {
		if n := f.count("PutParameter"); n != 0 {
			t.Errorf("%s: %d PutParameter calls; with after = \"all\" one failed region writes none", name, n)
		}
	}
}

// TestPublishFailureFailsBuild: the build fails, says the fleet is
// deployed, and protects the AMI the fleet runs from Packer's clean-up.
func TestPublishFailureFailsBuild(t *testing.T) {
	cases := map[string]func(*releaseFake){
		"refused":     func(f *releaseFake) { f.putErr = apiError("AccessDeniedException", "not allowed to ssm:PutParameter") },
		"not applied": func(f *releaseFake) { f.dropPuts = true },
		"text data type": func(f *releaseFake) {
			f.params["/app/ami"] = &ssmtypes.Parameter{Name: aws.String("/app/ami"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("text"), Version: 1}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			f := newReleaseFake().deploys()
			setup(f)
			p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(nil))
			art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err == nil || !strings.Contains(err.Error(), "release parameter /app/ami (us-east-1)") || !strings.Contains(err.Error(), "the fleet itself is deployed") {
				t.Fatalf("err = %v, want the parameter named and the fleet said deployed", err)
			}
			if r := art.(*Artifact).Results[0]; r.Outcome != "succeeded" {
				t.Errorf("outcome %q, want succeeded", r.Outcome)
			}
			if len(f.protected) != 1 || f.protected[0] != "ami-new" {
				t.Errorf("protected AMIs %v, want ami-new: the build fails and Packer would deregister the AMI the fleet runs", f.protected)
			}
		})
	}
}

func TestReleaseParameterValidation(t *testing.T) {
	cases := map[string]map[string]interface{}{
		"no name":        {"after": "region"},
		"bad name":       {"name": "app ami"},
		"reserved":       {"name": "/aws/ami"},
		"bad after":      {"name": "/app/ami", "after": "wave"},
		"aws tag":        {"name": "/app/ami", "tags": map[string]string{"aws:x": "y"}},
		"bad role":       {"name": "/app/ami", "assume_role": map[string]interface{}{"role_arn": "arn:aws:iam::1:user/x"}},
		"duplicate name": nil,
	}
	for name, rp := range cases {
		t.Run(name, func(t *testing.T) {
			rps := []map[string]interface{}{rp}
			if rp == nil {
				rps = []map[string]interface{}{{"name": "/app/ami"}, {"name": "/app/ami"}}
			}
			var c Config
			err := c.Prepare(map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web"}}, "release_parameter": rps})
			if err == nil || !strings.Contains(err.Error(), "release_parameter[") {
				t.Errorf("err = %v, want a release_parameter error", err)
			}
		})
	}
	for _, block := range []string{"prune_versions", "prune_images"} {
		var c Config
		err := c.Prepare(map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "web"}}, block: map[string]interface{}{"keep": 0}})
		if err == nil || !strings.Contains(err.Error(), block+".keep") {
			t.Errorf("%s keep = 0: err = %v", block, err)
		}
	}
}

// TestPublishPerAccount: without a role of its own, a parameter is written
// with the credentials of each account that has targets in the region;
// with one, once with it.
func TestPublishPerAccount(t *testing.T) {
	role := "arn:aws:iam::111122223333:role/deploy"
	targets := []map[string]interface{}{
		{"auto_scaling_group": "web"},
		{"auto_scaling_group": "web", "assume_role": map[string]interface{}{"role_arn": role}},
	}
	cases := []struct {
		name     string
		rp       map[string]interface{}
		accounts []string
	}{
		{"targets' credentials", map[string]interface{}{"name": "/app/ami"}, []string{"", "111122223333"}},
		{"own role", map[string]interface{}{"name": "/app/ami", "assume_role": map[string]interface{}{"role_arn": "arn:aws:iam::444455556666:role/release"}}, []string{"444455556666"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newReleaseFake().deploys()
			var roles []string
			p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, map[string]interface{}{"target": targets, "release_parameter": []map[string]interface{}{c.rp}})
			inner := p.newClients
			p.newClients = func(ctx context.Context, region string, r awsauth.AssumeRoleConfig) (*clients, error) {
				roles = append(roles, r.RoleARN)
				return inner(ctx, region, r)
			}
			art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
			if err != nil {
				t.Fatalf("PostProcess: %v", err)
			}
			var accounts []string
			for _, rl := range art.(*Artifact).after.Releases {
				accounts = append(accounts, rl.Account)
			}
			if !reflect.DeepEqual(accounts, c.accounts) {
				t.Errorf("written in accounts %q, want %q (clients made for roles %q)", accounts, c.accounts, roles)
			}
			if got := f.param("/app/ami"); got != "ami-new@1" {
				t.Errorf("parameter = %s, want ami-new@1: the second account's write finds it there", got)
			}
		})
	}
}

// TestPublishReRunAddsMissingTags: a parameter that already holds the AMI
// gets no new version, only the tags it lacks.
func TestPublishReRunAddsMissingTags(t *testing.T) {
	f := newReleaseFake().deploys()
	f.params["/app/ami"] = imageParam("ami-new", 5)
	f.paramTags["/app/ami"] = map[string]string{"team": "old", "keep": "me"}
	p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, releaseConfig(nil))
	if _, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new")); err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	if n := f.count("PutParameter"); n != 0 {
		t.Errorf("%d PutParameter calls, want none", n)
	}
	if got := f.param("/app/ami"); got != "ami-new@5" {
		t.Errorf("parameter = %s, want ami-new@5", got)
	}
	if want := map[string]string{"team": "web", "keep": "me"}; !reflect.DeepEqual(f.paramTags["/app/ami"], want) {
		t.Errorf("tags %v, want %v", f.paramTags["/app/ami"], want)
	}
}

func TestNotPublishable(t *testing.T) {
	ok := func(region string) *rollout {
		return &rollout{region: region, group: "web", refreshID: "r", final: &astypes.InstanceRefresh{Status: "Successful"}}
	}
	bad := func(region string) *rollout {
		return &rollout{region: region, group: "web", refreshID: "r", final: &astypes.InstanceRefresh{Status: "RollbackSuccessful"}}
	}
	afterDefault := ok("eu-west-1")
	afterDefault.err = apiError("UnauthorizedOperation", "ModifyLaunchTemplate")
	cases := []struct {
		name   string
		ros    []*rollout
		after  string
		runErr error
		want   map[string]bool // region -> may be written
	}{
		{"region: each on its own", []*rollout{ok("us-east-1"), bad("us-west-2")}, AfterRegion, apiError("x", "y"), map[string]bool{"us-east-1": true, "us-west-2": false}},
		{"all: one failure stops every region", []*rollout{ok("us-east-1"), bad("us-west-2")}, AfterAll, apiError("x", "y"), map[string]bool{"us-east-1": false, "us-west-2": false}},
		{"all: every group succeeded", []*rollout{ok("us-east-1"), ok("us-west-2")}, AfterAll, nil, map[string]bool{"us-east-1": true, "us-west-2": true}},
		{"all: an error of the run", []*rollout{ok("us-east-1")}, AfterAll, apiError("x", "y"), map[string]bool{"us-east-1": false}},
		{"up to date counts", []*rollout{{region: "us-east-1", group: "web", upToDate: "already"}}, AfterRegion, nil, map[string]bool{"us-east-1": true}},
		{"not started", []*rollout{{region: "us-east-1", group: "web"}}, AfterRegion, nil, map[string]bool{"us-east-1": false}},
		{"detached", []*rollout{{region: "us-east-1", group: "web", refreshID: "r", detached: true}}, AfterRegion, nil, map[string]bool{"us-east-1": false}},
		{"a step after the refresh failed", []*rollout{afterDefault}, AfterRegion, nil, map[string]bool{"eu-west-1": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			why := notPublishable(c.ros, c.after, c.runErr)
			for region, may := range c.want {
				if (why[region] == "") != may {
					t.Errorf("%s: reason %q, want may be written = %t", region, why[region], may)
				}
			}
		})
	}
}
