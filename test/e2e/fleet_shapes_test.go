package e2e

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
)

// This file proves each fleet shape the post-processor supports end to end:
// groups in several regions, chosen by tags, on a mixed instances policy
// with an override template, on $Latest or $Default, on a launch
// configuration, and in waves. Each test checks what a user would: the exit
// code, the messages, the AMI each instance runs and the version each group
// names.

// unmaskedKey is a post-processor key that appears in no message: with the
// default "test", the plugin's secret filter turns "$Latest" into
// "$La<sensitive>".
const unmaskedKey = "AKIAFLEETSHAPES"

// versions reads a template's versions.
func (e *env) versions(region, templateID string) map[int64]ec2types.LaunchTemplateVersion {
	e.t.Helper()
	v, err := e.clients(region).Versions(context.Background(), templateID)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// defaultVersion reads the number of a template's default version.
func (e *env) defaultVersion(region, templateID string) int64 {
	e.t.Helper()
	n, err := e.clients(region).DefaultVersion(context.Background(), templateID)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// wantOutput checks that the build's output holds every want, compared with
// runs of white space collapsed: packer wraps long error lines.
func wantOutput(t *testing.T, output string, wants ...string) {
	t.Helper()
	flat := strings.Join(strings.Fields(output), " ")
	for _, want := range wants {
		if !strings.Contains(flat, strings.Join(strings.Fields(want), " ")) {
			t.Errorf("packer output misses %q", want)
		}
	}
}

// wantAllOn checks that the group's n in-service instances all run ami.
func wantAllOn(t *testing.T, st *fleet.State, ami string, n int) {
	t.Helper()
	if imgs := st.Images(); len(imgs) != 1 || imgs[ami] != n {
		t.Errorf("%s: in-service instances by AMI %v, want all %d on %s\n%s", st.Group, imgs, n, ami, st)
	}
}

// wantUntouched checks that a group is exactly as before: same instances,
// same AMIs, same launch template or configuration reference.
func wantUntouched(t *testing.T, before, after *fleet.State) {
	t.Helper()
	if before.String() != after.String() {
		t.Errorf("group %s changed although it must not have been touched:\nbefore:\n%s\nafter:\n%s", before.Group, before, after)
	}
}

// wantNoCalls checks that no call of the given actions named group in
// region (an empty group matches any).
func (e *env) wantNoCalls(region, group string, actions ...string) {
	e.t.Helper()
	for _, c := range e.emu.Calls() {
		if c.Region != region || isDryRun(c) { // a DryRun changes nothing
			continue
		}
		for _, a := range actions {
			if c.Action == a && (group == "" || c.Params["AutoScalingGroupName"] == group) {
				e.t.Errorf("%s was called in %s: %v", a, region, c.Params)
			}
		}
	}
}

// wantVersionImage checks that version n of a template carries ami.
func wantVersionImage(t *testing.T, versions map[int64]ec2types.LaunchTemplateVersion, templateID string, n int64, ami string) {
	t.Helper()
	v, ok := versions[n]
	if !ok {
		t.Errorf("launch template %s has no version %d (has %d versions)", templateID, n, len(versions))
		return
	}
	if got := aws.ToString(v.LaunchTemplateData.ImageId); got != ami {
		t.Errorf("launch template %s version %d has image %s, want %s", templateID, n, got, ami)
	}
}

// TestShapeThreeRegions: an artifact copied to two more regions rolls a
// group in each of the three, each onto its own region's copy.
func TestShapeThreeRegions(t *testing.T) {
	e := newEnv(t)
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	seeded := map[string]*fleet.Seeded{}
	var targets []target
	for _, r := range regions {
		seeded[r] = e.seed(r, fleet.Spec{Group: "web", Desired: 2})
		targets = append(targets, target{Group: "web", Region: r})
	}

	res := e.packerBuild(e.write(build{AMIRegions: regions[1:], Targets: targets}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	amis := map[string]bool{}
	for _, r := range regions {
		ami := e.newAMI(r, "app-testshapethreeregions")
		amis[ami] = true
		st := e.snapshot(r, "web")
		wantAllOn(t, st, ami, 2)
		if st.Version != "2" {
			t.Errorf("%s: group on version %q, want 2", r, st.Version)
		}
		wantVersionImage(t, e.versions(r, seeded[r].LaunchTemplateID), seeded[r].LaunchTemplateID, 2, ami)
		wantOutput(t, res.Output, "web ("+r+"): instance refresh", "Successful: the group runs version 2 of "+seeded[r].LaunchTemplateID+" with "+ami)
	}
	if len(amis) != 3 {
		t.Errorf("want three distinct regional AMIs, got %v", amis)
	}
}

// TestShapeTags: a tags target rolls exactly the groups that have all the
// tags; a group that shares only some of them is left alone.
func TestShapeTags(t *testing.T) {
	e := newEnv(t)
	prod := map[string]string{"app": "web", "env": "prod"}
	a := e.seed("us-east-1", fleet.Spec{Group: "web-a", Desired: 2, Tags: prod})
	b := e.seed("us-east-1", fleet.Spec{Group: "web-b", Desired: 2, Tags: prod})
	staging := e.seed("us-east-1", fleet.Spec{Group: "web-staging", Desired: 2, Tags: map[string]string{"app": "web", "env": "staging"}})
	stagingBefore := e.snapshot("us-east-1", "web-staging")

	res := e.packerBuild(e.write(build{Targets: []target{{Tags: prod}}}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", "app-testshapetags")
	for _, s := range []*fleet.Seeded{a, b} {
		st := e.snapshot("us-east-1", s.Group)
		wantAllOn(t, st, ami, 2)
		if st.Version != "2" {
			t.Errorf("%s: group on version %q, want 2", s.Group, st.Version)
		}
		wantOutput(t, res.Output, s.Group+" (us-east-1): instance refresh")
	}
	wantOutput(t, res.Output, "Rolling 2 Auto Scaling group(s)")

	wantUntouched(t, stagingBefore, e.snapshot("us-east-1", "web-staging"))
	if n := len(e.versions("us-east-1", staging.LaunchTemplateID)); n != 1 {
		t.Errorf("the staging group's template has %d versions, want 1", n)
	}
	if strings.Contains(res.Output, "web-staging (") {
		t.Error("the output mentions the staging group as a roll-out")
	}
	e.wantNoCalls("us-east-1", "web-staging", "StartInstanceRefresh")
}

// TestShapeTagsMatchingNothing: a tags target that matches no group fails
// the build with a message naming the tags and the region, before anything
// is changed.
func TestShapeTagsMatchingNothing(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "web-a", Desired: 2, Tags: map[string]string{"app": "web", "env": "prod"}})
	before := e.snapshot("us-east-1", "web-a")
	e.emu.ResetCalls()

	res := e.packerBuild(e.write(build{Targets: []target{{Tags: map[string]string{"app": "web", "env": "qa"}}}}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although no group has the tags")
	}
	wantOutput(t, res.Output, "no Auto Scaling group in us-east-1 has the tags {app=web, env=qa}; check the tags and the region")
	wantUntouched(t, before, e.snapshot("us-east-1", "web-a"))
	if n := len(e.versions("us-east-1", seeded.LaunchTemplateID)); n != 1 {
		t.Errorf("template has %d versions, want 1", n)
	}
	e.wantNoCalls("us-east-1", "", "CreateLaunchTemplateVersion", "StartInstanceRefresh")
}

// TestShapeMixedInstancesOverrideTemplate: a mixed instances policy whose
// second override names a launch template of its own. Both templates get a
// version with the AMI, and the group's policy ends on both new numbers.
func TestShapeMixedInstancesOverrideTemplate(t *testing.T) {
	e := newEnv(t)
	seeded := e.seed("us-east-1", fleet.Spec{Group: "mixed", Desired: 3, Overrides: []fleet.Override{
		{InstanceType: "t3.micro"},
		{InstanceType: "t3a.micro", OwnTemplate: true},
	}})
	mainLT, overrideLT := seeded.LaunchTemplateID, seeded.OverrideTemplateIDs["t3a.micro"]
	before := e.snapshot("us-east-1", "mixed")
	t.Logf("before:\n%s", before)

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "mixed"}}}))
	if res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", "app-testshapemixedinstancesoverridetemplate")
	wantOutput(t, res.Output,
		"created version 2 of launch template "+mainLT+" from version 1, with "+ami,
		"created version 2 of launch template "+overrideLT+" from version 1, with "+ami,
		"Successful: the group runs version 2 of "+mainLT)

	for _, id := range []string{mainLT, overrideLT} {
		v := e.versions("us-east-1", id)
		if len(v) != 2 {
			t.Errorf("template %s has %d versions, want 2", id, len(v))
		}
		wantVersionImage(t, v, id, 2, ami)
	}

	after := e.snapshot("us-east-1", "mixed")
	t.Logf("after:\n%s", after)
	wantAllOn(t, after, ami, 3)
	if after.LaunchTemplateID != mainLT || after.Version != "2" {
		t.Errorf("policy's template %s version %q, want %s version 2", after.LaunchTemplateID, after.Version, mainLT)
	}
	if len(after.Overrides) != 2 {
		t.Fatalf("policy has %d overrides, want 2: %+v", len(after.Overrides), after.Overrides)
	}
	if o := after.Overrides[0]; o.InstanceType != "t3.micro" || o.LaunchTemplateID != "" {
		t.Errorf("first override %+v, want t3.micro without a template of its own", o)
	}
	if o := after.Overrides[1]; o.InstanceType != "t3a.micro" || o.LaunchTemplateID != overrideLT || o.Version != "2" {
		t.Errorf("second override %+v, want t3a.micro on %s version 2", o, overrideLT)
	}
}

// TestShapeMovingVersionsRefuseAutoRollback: groups on $Latest and
// $Default cannot be rolled back by AWS, so with the default auto rollback
// the build fails for both, before a version is created.
func TestShapeMovingVersionsRefuseAutoRollback(t *testing.T) {
	e := newEnv(t)
	latest := e.seed("us-east-1", fleet.Spec{Group: "latest", Desired: 2, Version: "$Latest"})
	dflt := e.seed("us-east-1", fleet.Spec{Group: "default", Desired: 2, Version: "$Default"})
	beforeLatest, beforeDefault := e.snapshot("us-east-1", "latest"), e.snapshot("us-east-1", "default")
	e.emu.ResetCalls()

	res := e.packerBuild(e.write(build{Targets: []target{{Group: "latest"}, {Group: "default"}}, PostProcessorKey: unmaskedKey}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded with auto rollback on groups AWS cannot roll back")
	}
	wantOutput(t, res.Output,
		"nothing was changed",
		"Auto Scaling group (latest) launches from $Latest of launch template "+latest.LaunchTemplateID+", and AWS cannot roll back to $Latest",
		"Auto Scaling group (default) launches from $Default of launch template "+dflt.LaunchTemplateID+", and AWS cannot roll back to $Default",
		"or set instance_refresh.auto_rollback = false")
	for _, s := range []*fleet.Seeded{latest, dflt} {
		if n := len(e.versions("us-east-1", s.LaunchTemplateID)); n != 1 {
			t.Errorf("%s: template has %d versions, want 1", s.Group, n)
		}
	}
	wantUntouched(t, beforeLatest, e.snapshot("us-east-1", "latest"))
	wantUntouched(t, beforeDefault, e.snapshot("us-east-1", "default"))
	e.wantNoCalls("us-east-1", "", "CreateLaunchTemplateVersion", "StartInstanceRefresh", "ModifyLaunchTemplate")
}

// TestShapeMovingVersions: with auto_rollback = false, groups on $Latest and
// $Default roll; a successful refresh pins each to the new version number.
// set_default_version makes the new version the default of the $Default
// group's template, and only of that one.
func TestShapeMovingVersions(t *testing.T) {
	for _, set := range []bool{false, true} {
		name := "without set_default_version"
		if set {
			name = "with set_default_version"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			latest := e.seed("us-east-1", fleet.Spec{Group: "latest", Desired: 2, Version: "$Latest"})
			dflt := e.seed("us-east-1", fleet.Spec{Group: "default", Desired: 2, Version: "$Default"})

			b := build{
				Targets:          []target{{Group: "latest"}, {Group: "default"}},
				Refresh:          "      auto_rollback = false",
				PostProcessorKey: unmaskedKey,
				AMIName:          "app-moving-versions",
			}
			if set {
				b.Extra = "    set_default_version = true"
			}
			res := e.packerBuild(e.write(b))
			if res.ExitCode != 0 {
				t.Fatalf("packer build exited %d", res.ExitCode)
			}
			ami := e.newAMI("us-east-1", b.AMIName)
			wantOutput(t, res.Output, "latest (us-east-1): launches from $Latest of "+latest.LaunchTemplateID)

			for _, s := range []*fleet.Seeded{latest, dflt} {
				st := e.snapshot("us-east-1", s.Group)
				wantAllOn(t, st, ami, 2)
				if st.Version != "2" {
					t.Errorf("%s: group names version %q after the refresh, want it pinned to 2", s.Group, st.Version)
				}
				wantVersionImage(t, e.versions("us-east-1", s.LaunchTemplateID), s.LaunchTemplateID, 2, ami)
			}

			wantDefault := int64(1)
			if set {
				wantDefault = 2
				wantOutput(t, res.Output, "default (us-east-1): made version 2 the default of launch template "+dflt.LaunchTemplateID+" (set_default_version)")
			}
			if got := e.defaultVersion("us-east-1", dflt.LaunchTemplateID); got != wantDefault {
				t.Errorf("$Default group's template default version %d, want %d", got, wantDefault)
			}
			if got := e.defaultVersion("us-east-1", latest.LaunchTemplateID); got != 1 {
				t.Errorf("$Latest group's template default version %d, want 1 (set_default_version is for $Default groups)", got)
			}
			modified := 0
			for _, c := range e.emu.Calls() {
				if c.Action == "ModifyLaunchTemplate" {
					modified++
					if c.Params["LaunchTemplateId"] != dflt.LaunchTemplateID {
						t.Errorf("ModifyLaunchTemplate on %v, want only %s", c.Params, dflt.LaunchTemplateID)
					}
				}
			}
			if want := map[bool]int{false: 0, true: 1}[set]; modified != want {
				t.Errorf("%d ModifyLaunchTemplate calls, want %d", modified, want)
			}
		})
	}
}

// TestShapeLatestFailedRefresh: a refresh of a $Latest group that fails
// without auto rollback does not pin the group, which keeps naming $Latest:
// from now on it launches the new version. The failure message must not
// say otherwise.
func TestShapeLatestFailedRefresh(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	seeded := e.seed("us-east-1", fleet.Spec{Group: "edge", Desired: 2, Version: "$Latest"})

	res := e.packerBuild(e.write(build{
		Targets: []target{{Group: "edge"}}, Refresh: "      auto_rollback = false", PostProcessorKey: unmaskedKey,
		AMIName: "app-edge", AMITags: map[string]string{"health": "broken"},
	}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although every new instance failed its health check")
	}
	wantOutput(t, res.Output, "ended Failed")
	after := e.snapshot("us-east-1", "edge")
	if after.Version != "$Latest" {
		t.Fatalf("group names version %q after a failed refresh, want $Latest as before", after.Version)
	}
	if n := len(e.versions("us-east-1", seeded.LaunchTemplateID)); n != 2 {
		t.Fatalf("template has %d versions, want 2", n)
	}
	if strings.Contains(res.Output, "the group still launches version 1 of") {
		t.Error("the output says the group still launches version 1, but it names $Latest, now version 2 with the failed AMI")
	}
}

// TestShapeLaunchConfiguration: a group on a launch configuration is
// refused unless copy_launch_configuration is set, and then rolls onto a
// copy named after the original and the AMI, with only the AMI changed.
func TestShapeLaunchConfiguration(t *testing.T) {
	t.Run("without copy_launch_configuration", func(t *testing.T) {
		e := newEnv(t)
		e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 2, LaunchConfiguration: true})
		before := e.snapshot("us-east-1", "legacy")
		e.emu.ResetCalls()

		res := e.packerBuild(e.write(build{Targets: []target{{Group: "legacy"}}}))
		if res.ExitCode == 0 {
			t.Fatal("packer build rolled a launch configuration group without copy_launch_configuration")
		}
		wantOutput(t, res.Output, "nothing was changed",
			"Auto Scaling group (legacy) uses launch configuration legacy-lc (legacy): set copy_launch_configuration = true to roll it anyway")
		wantUntouched(t, before, e.snapshot("us-east-1", "legacy"))
		lcs, err := e.clients("us-east-1").LaunchConfigurations(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(lcs) != 1 {
			t.Errorf("%d launch configurations, want only the original", len(lcs))
		}
		e.wantNoCalls("us-east-1", "", "CreateLaunchConfiguration", "UpdateAutoScalingGroup", "StartInstanceRefresh")
	})

	t.Run("with copy_launch_configuration", func(t *testing.T) {
		e := newEnv(t)
		seeded := e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 2, LaunchConfiguration: true})
		before := e.snapshot("us-east-1", "legacy")

		b := build{Targets: []target{{Group: "legacy"}}, Extra: "    copy_launch_configuration = true", AMIName: "app-legacy"}
		res := e.packerBuild(e.write(b))
		if res.ExitCode != 0 {
			t.Fatalf("packer build exited %d", res.ExitCode)
		}
		ami := e.newAMI("us-east-1", b.AMIName)
		copyName := "legacy-lc-" + ami
		wantOutput(t, res.Output,
			"created launch configuration "+copyName+" from legacy-lc, with "+ami,
			"set launch configuration "+copyName+" on the group (copy_launch_configuration)",
			"Successful: the group runs launch configuration "+copyName)

		lcs, err := e.clients("us-east-1").LaunchConfigurations(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		orig, cp := lcs[seeded.LaunchConfigurationName], lcs[copyName]
		if len(lcs) != 2 || cp.LaunchConfigurationName == nil {
			t.Fatalf("launch configurations %v, want %s and its copy %s", slices.Sorted(maps.Keys(lcs)), seeded.LaunchConfigurationName, copyName)
		}
		if got := aws.ToString(cp.ImageId); got != ami {
			t.Errorf("copy has image %s, want %s", got, ami)
		}
		if aws.ToString(orig.ImageId) != seeded.ImageID {
			t.Errorf("the original now has image %s, want it unchanged (%s)", aws.ToString(orig.ImageId), seeded.ImageID)
		}
		if aws.ToString(cp.InstanceType) != aws.ToString(orig.InstanceType) ||
			strings.Join(cp.SecurityGroups, ",") != strings.Join(orig.SecurityGroups, ",") ||
			aws.ToString(cp.UserData) != aws.ToString(orig.UserData) ||
			aws.ToString(cp.KeyName) != aws.ToString(orig.KeyName) ||
			aws.ToString(cp.IamInstanceProfile) != aws.ToString(orig.IamInstanceProfile) {
			t.Errorf("the copy differs from the original in more than the AMI:\noriginal %+v\ncopy     %+v", orig, cp)
		}

		after := e.snapshot("us-east-1", "legacy")
		t.Logf("before:\n%s\nafter:\n%s", before, after)
		if after.LaunchConfigurationName != copyName {
			t.Errorf("group on launch configuration %s, want %s", after.LaunchConfigurationName, copyName)
		}
		wantAllOn(t, after, ami, 2)
		for _, i := range after.Instances {
			for _, old := range before.Instances {
				if i.ID == old.ID {
					t.Errorf("instance %s survived the roll-out", i.ID)
				}
			}
		}
	})
}

// TestShapeLaunchConfigurationFailure: when the refresh of a launch
// configuration group fails (AWS cannot roll it back), the post-processor
// puts the original launch configuration back on the group, so new launches
// use the old AMI again.
func TestShapeLaunchConfigurationFailure(t *testing.T) {
	t.Run("on_failure = report", func(t *testing.T) {
		e := newEnv(t)
		e.emu.SetUnhealthyImageTag("health", "broken")
		seeded := e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 2, LaunchConfiguration: true})

		res := e.packerBuild(e.write(build{
			Targets: []target{{Group: "legacy"}}, Extra: "    copy_launch_configuration = true",
			AMIName: "app-legacy", AMITags: map[string]string{"health": "broken"},
		}))
		if res.ExitCode == 0 {
			t.Fatal("packer build succeeded although every new instance failed its health check")
		}
		wantOutput(t, res.Output, "Auto Scaling group (legacy) instance refresh (", "ended Failed",
			"put launch configuration legacy-lc back on the group: new instances launch with "+seeded.ImageID+" again")
		after := e.snapshot("us-east-1", "legacy")
		if after.LaunchConfigurationName != seeded.LaunchConfigurationName {
			t.Errorf("group left on launch configuration %s, want %s back", after.LaunchConfigurationName, seeded.LaunchConfigurationName)
		}
		wantAllOn(t, after, seeded.ImageID, 2)
	})

	t.Run("on_failure = rollback", func(t *testing.T) {
		e := newEnv(t)
		e.emu.SetUnhealthyImageTag("health", "broken")
		seeded := e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 2, LaunchConfiguration: true})
		e.emu.ResetCalls()

		res := e.packerBuild(e.write(build{
			Targets: []target{{Group: "legacy"}}, Refresh: "      auto_rollback = false",
			Extra:   "    copy_launch_configuration = true\n    on_failure = \"rollback\"",
			AMIName: "app-legacy", AMITags: map[string]string{"health": "broken"},
		}))
		if res.ExitCode == 0 {
			t.Fatal("packer build succeeded although every new instance failed its health check")
		}
		if strings.Contains(res.Output, "version 0") {
			t.Error("the output names a launch template version 0 for a launch configuration group")
		}
		// Whatever a rollback does, no refresh after the first may start while
		// the group launches from the copy, the AMI that just failed.
		current, starts := "", 0
		for _, c := range e.emu.Calls() {
			switch c.Action {
			case "UpdateAutoScalingGroup":
				current = c.Params["LaunchConfigurationName"]
			case "StartInstanceRefresh":
				if starts++; starts > 1 && current != seeded.LaunchConfigurationName {
					t.Errorf("refresh %d started while the group launches from %s, not %s", starts, current, seeded.LaunchConfigurationName)
				}
			}
		}
		after := e.snapshot("us-east-1", "legacy")
		if after.LaunchConfigurationName != seeded.LaunchConfigurationName {
			t.Errorf("group left on launch configuration %s, want %s back", after.LaunchConfigurationName, seeded.LaunchConfigurationName)
		}
		wantAllOn(t, after, seeded.ImageID, 2)
	})
}

// TestShapeLaunchConfigurationWithSetDefaultVersion: one build rolls a
// $Default group with set_default_version and a launch configuration group.
// set_default_version concerns launch templates only; the launch
// configuration group must keep its copy.
func TestShapeLaunchConfigurationWithSetDefaultVersion(t *testing.T) {
	e := newEnv(t)
	dflt := e.seed("us-east-1", fleet.Spec{Group: "default", Desired: 2, Version: "$Default"})
	legacy := e.seed("us-east-1", fleet.Spec{Group: "legacy", Desired: 2, LaunchConfiguration: true})

	res := e.packerBuild(e.write(build{
		Targets: []target{{Group: "default"}, {Group: "legacy"}},
		Refresh: "      auto_rollback = false",
		Extra:   "    copy_launch_configuration = true\n    set_default_version = true",
	}))
	if res.ExitCode != 0 {
		t.Errorf("packer build exited %d", res.ExitCode)
	}
	// Read the AMI from the new version: Packer deregisters it when the build fails.
	v2, ok := e.versions("us-east-1", dflt.LaunchTemplateID)[2]
	if !ok {
		t.Fatal("the $Default group's template has no version 2")
	}
	ami := aws.ToString(v2.LaunchTemplateData.ImageId)
	if got := e.defaultVersion("us-east-1", dflt.LaunchTemplateID); got != 2 {
		t.Errorf("$Default group's template default version %d, want 2", got)
	}
	after := e.snapshot("us-east-1", "legacy")
	if want := legacy.LaunchConfigurationName + "-" + ami; after.LaunchConfigurationName != want {
		t.Errorf("group on launch configuration %s, want the copy %s", after.LaunchConfigurationName, want)
	}
	wantAllOn(t, after, ami, 2)
}

// TestShapeWaves: the first wave's group gets an AMI whose instances fail
// their health checks; its refresh rolls back, the build fails, and the
// second wave's group, in another region, is never touched.
func TestShapeWaves(t *testing.T) {
	e := newEnv(t)
	e.emu.SetUnhealthyImageTag("health", "broken")
	east := e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	west := e.seed("us-west-2", fleet.Spec{Group: "web", Desired: 2})
	westBefore := e.snapshot("us-west-2", "web")
	e.emu.ResetCalls()

	res := e.packerBuild(e.write(build{
		AMIRegions: []string{"us-west-2"},
		AMITags:    map[string]string{"health": "broken"},
		Targets: []target{
			{Group: "web", Region: "us-east-1", Wave: 1},
			{Group: "web", Region: "us-west-2", Wave: 2},
		},
	}))
	if res.ExitCode == 0 {
		t.Fatal("packer build succeeded although the first wave failed")
	}
	wantOutput(t, res.Output,
		"Wave 1 of 2: web (us-east-1)",
		"web (us-east-1): instance refresh",
		"rolled back: the group is on version 1 of "+east.LaunchTemplateID+" again",
		"Wave 1 did not succeed: not starting web (us-west-2)",
		"not started, because wave 1 did not succeed: web (us-west-2)")
	if strings.Contains(res.Output, "Wave 2 of 2") {
		t.Error("the output says the second wave started")
	}

	eastAfter := e.snapshot("us-east-1", "web")
	wantAllOn(t, eastAfter, east.ImageID, 2)
	if eastAfter.Version != "1" {
		t.Errorf("us-east-1 group on version %q after the rollback, want 1", eastAfter.Version)
	}

	wantUntouched(t, westBefore, e.snapshot("us-west-2", "web"))
	if n := len(e.versions("us-west-2", west.LaunchTemplateID)); n != 1 {
		t.Errorf("us-west-2 template has %d versions, want 1 (the second wave must not start)", n)
	}
	e.wantNoCalls("us-west-2", "", "CreateLaunchTemplateVersion", "StartInstanceRefresh", "UpdateAutoScalingGroup", "ModifyLaunchTemplate")
	// Every group is read before any is changed, so the second wave's group
	// was read (which also shows the call log sees us-west-2).
	read := false
	for _, c := range e.emu.Calls() {
		read = read || (c.Region == "us-west-2" && c.Action == "DescribeAutoScalingGroups")
	}
	if !read {
		t.Error("the us-west-2 group was never read: the check above proves nothing")
	}
}
