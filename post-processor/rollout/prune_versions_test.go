package rollout

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func ltSpec(version string) *astypes.LaunchTemplateSpecification {
	return &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String(version)}
}

// versionsUpTo gives lt-1 versions 1 to n, each with its own AMI.
func versionsUpTo(f *releaseFake, n int64) {
	f.versions["lt-1"] = map[int64]string{}
	for v := int64(1); v <= n; v++ {
		f.versions["lt-1"][v] = fmt.Sprintf("ami-v%d", v)
	}
}

func pruneBuild(t *testing.T, f *releaseFake, raw map[string]interface{}) (*Artifact, error) {
	t.Helper()
	p := newReleasePP(t, map[string]*releaseFake{"us-east-1": f}, raw)
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, amiArtifact("us-east-1:ami-new"))
	if art == nil {
		return nil, err
	}
	return art.(*Artifact), err
}

// TestPruneVersionsKeepsWhatIsUsed: of lt-1's versions 1 to 10 (default
// 2, web on 3), with keep = 2, only those nothing needs go.
func TestPruneVersionsKeepsWhatIsUsed(t *testing.T) {
	f := newReleaseFake().deploys()
	versionsUpTo(f, 10)
	f.groups["other"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("other"), LaunchTemplate: ltSpec("5")}
	f.groups["mixed"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("mixed"), MixedInstancesPolicy: &astypes.MixedInstancesPolicy{
		LaunchTemplate: &astypes.LaunchTemplate{
			LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-other"), Version: aws.String("1")},
			Overrides:                   []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("m7g.large"), LaunchTemplateSpecification: ltSpec("6")}},
		},
	}}
	// A retired group (blue/green) at zero capacity, named by version, and
	// one whose template is named by name as $Default.
	f.groups["retired"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("retired"), LaunchTemplate: ltSpec("7"), DesiredCapacity: aws.Int32(0)}
	f.groups["by-name"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("by-name"), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("$Default")}}
	f.groups["pooled"] = astypes.AutoScalingGroup{
		AutoScalingGroupName: aws.String("pooled"), LaunchTemplate: ltSpec("5"), WarmPoolConfiguration: &astypes.WarmPoolConfiguration{},
		Instances: []astypes.Instance{{InstanceId: aws.String("i-old"), LaunchTemplate: ltSpec("1")}},
	}
	f.pools["pooled"] = []astypes.Instance{{InstanceId: aws.String("i-warm"), LaunchTemplate: ltSpec("8")}}
	f.groups["refreshing"] = astypes.AutoScalingGroup{AutoScalingGroupName: aws.String("refreshing"), LaunchTemplate: ltSpec("5")}
	f.refreshes = []*astypes.InstanceRefresh{{
		AutoScalingGroupName: aws.String("refreshing"), InstanceRefreshId: aws.String("theirs"), Status: "Baking",
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: ltSpec("4")},
	}}

	art, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 2}})
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	// 11 is new (deployed, newest), 10 the other newest, 3 replaced, 2
	// default; 1 instances of pooled, 4 the running refresh, 5 other, 6 an
	// override, 7 retired, 8 warm pool. Only 9 goes.
	if got, want := f.versionNumbers("lt-1"), []int64{1, 2, 3, 4, 5, 6, 7, 8, 10, 11}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions left %v, want %v", got, want)
	}
	if len(art.after.Versions) != 1 {
		t.Fatalf("version prunes %+v, want one", art.after.Versions)
	}
	vp := art.after.Versions[0]
	wantKept := map[string][]int64{
		keptDefault:                              {2},
		keptDeployed:                             {11},
		keptPrevious:                             {3},
		"one of the newest 2":                    {10},
		"instances of Auto Scaling group pooled": {1},
		"named by instance refresh theirs (Baking) of Auto Scaling group refreshing": {4},
		"launched by Auto Scaling group other":                                       {5},
		"launched by Auto Scaling group mixed (an override)":                         {6},
		"launched by Auto Scaling group retired":                                     {7},
		"the warm pool of Auto Scaling group pooled":                                 {8},
	}
	if !reflect.DeepEqual(vp.Kept, wantKept) || !reflect.DeepEqual(vp.Deleted, []int64{9}) {
		t.Errorf("kept %v deleted %v,\nwant kept %v deleted [9]", vp.Kept, vp.Deleted, wantKept)
	}
	s := art.String()
	for _, want := range []string{"Launch template lt-1 (us-east-1): deleted 1 version(s): 9", "kept 2: the default version", "kept 3: the version just replaced (the way back)"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// TestPruneVersionsBatches: 450 versions to delete take three calls of at
// most 200, and the summary has a line per reason, not per version.
func TestPruneVersionsBatches(t *testing.T) {
	f := newReleaseFake().deploys()
	versionsUpTo(f, 452)
	f.defaults["lt-1"] = 1
	g := f.groups["web"]
	g.LaunchTemplate = ltSpec("452")
	f.groups["web"] = g
	art, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}})
	if err != nil {
		t.Fatalf("PostProcess: %v", err)
	}
	var sizes []int
	for _, c := range f.deleteCalls {
		sizes = append(sizes, len(c))
	}
	if !reflect.DeepEqual(sizes, []int{200, 200, 50}) {
		t.Errorf("DeleteLaunchTemplateVersions batch sizes %v, want [200 200 50]", sizes)
	}
	if got, want := f.versionNumbers("lt-1"), []int64{1, 452, 453}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions left %v, want %v", got, want)
	}
	s := art.String()
	if !strings.Contains(s, "deleted 450 version(s): 2-451") {
		t.Errorf("summary:\n%s", s)
	}
	if n := strings.Count(s, "\n  kept"); n != 3 {
		t.Errorf("%d kept lines, want 3 (default, deployed, replaced):\n%s", n, s)
	}

	// A re-run with the same AMI: nothing new to delete, nothing created.
	before := len(f.deleteCalls)
	if _, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if len(f.deleteCalls) != before {
		t.Errorf("the re-run deleted again: %v", f.deleteCalls[before:])
	}
	if got, want := f.versionNumbers("lt-1"), []int64{1, 452, 453}; !reflect.DeepEqual(got, want) {
		t.Errorf("versions after the re-run %v, want %v", got, want)
	}
}

func TestPruneVersionsOnlyAfterSuccess(t *testing.T) {
	f := newReleaseFake().deploys()
	versionsUpTo(f, 10)
	f.script = []astypes.InstanceRefreshStatus{"InProgress", "RollbackSuccessful"}
	art, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}})
	if err == nil {
		t.Fatal("PostProcess succeeded on a rolled-back refresh")
	}
	if n := f.count("DeleteLaunchTemplateVersions") + f.count("DescribeLaunchTemplateVersions(all)"); n != 0 {
		t.Errorf("pruning ran after a failed roll-out: %v", f.calls)
	}
	if s := art.String(); !strings.Contains(s, "Pruning skipped: the roll-out did not succeed everywhere") {
		t.Errorf("summary does not say pruning was skipped:\n%s", s)
	}
}

// TestPruneVersionsFailureReported: AWS refusing a version is reported
// per reason, and an error stops the template without failing the build.
func TestPruneVersionsFailureReported(t *testing.T) {
	f := newReleaseFake().deploys()
	versionsUpTo(f, 6)
	f.deleteErr = apiError("UnauthorizedOperation", "not allowed")
	art, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}})
	if err != nil {
		t.Fatalf("PostProcess: %v; a failed clean-up must not fail a deployed build", err)
	}
	if vp := art.after.Versions[0]; !strings.Contains(vp.Error, "deleting versions 1, 4-6") || !strings.Contains(vp.Error, "UnauthorizedOperation") {
		t.Errorf("error %q, want the versions and the cause", vp.Error)
	}
}

func TestPruneVersionsPermissionCheckedFirst(t *testing.T) {
	f := newReleaseFake().deploys()
	f.denied = map[string]bool{"DeleteLaunchTemplateVersions lt-1": true}
	_, err := pruneBuild(t, f, map[string]interface{}{"prune_versions": map[string]interface{}{"keep": 1}})
	if err == nil || !strings.Contains(err.Error(), "ec2:DeleteLaunchTemplateVersions") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v, want the missing permission refused before any change", err)
	}
	if n := f.count("CreateLaunchTemplateVersion") + f.count("StartInstanceRefresh"); n != 0 {
		t.Errorf("changes made despite the refusal: %v", f.calls)
	}
	// The check names the default version (2), which AWS never deletes,
	// not the version the group runs (3).
	if !reflect.DeepEqual(f.deleteDryRuns, [][]string{{"2"}}) {
		t.Errorf("DryRun deletions %v, want [[2]]", f.deleteDryRuns)
	}
}

func TestDecideVersions(t *testing.T) {
	vs := []templateVersion{{number: 1}, {number: 2, isDefault: true}, {number: 3}, {number: 4}, {number: 5}}
	cases := []struct {
		name          string
		keep, pending int
		protect       map[int64]string
		del           []int64
	}{
		{"keep 1", 1, 0, nil, []int64{1, 3, 4}},
		{"keep 2", 2, 0, nil, []int64{1, 3}},
		{"protected", 1, 0, map[int64]string{3: "x"}, []int64{1, 4}},
		{"pending counts among the newest", 2, 1, nil, []int64{1, 3, 4}},
		{"keep more than there are", 10, 0, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			del, kept := decideVersions(vs, c.keep, c.pending, c.protect)
			if !reflect.DeepEqual(del, c.del) {
				t.Errorf("deleted %v, want %v", del, c.del)
			}
			if kept[2] != keptDefault {
				t.Errorf("default version kept as %q", kept[2])
			}
			if len(del)+len(kept) != len(vs) {
				t.Errorf("%d deleted + %d kept of %d", len(del), len(kept), len(vs))
			}
		})
	}
}

func TestNumberRanges(t *testing.T) {
	if got := numberRanges([]int64{9, 1, 2, 3, 5, 7, 8}); got != "1-3, 5, 7-9" {
		t.Errorf("numberRanges = %q", got)
	}
}
