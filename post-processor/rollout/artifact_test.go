package rollout

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
)

// builderArtifact is an amazon-ebs artifact as it reaches a post-processor
// from another plugin process: generated data and HCP Packer images as
// msgpack generic types.
func builderArtifact(id string) *packersdk.MockArtifact {
	return &packersdk.MockArtifact{
		BuilderIdValue: "mitchellh.amazonebs",
		IdValue:        id,
		StateValues: map[string]interface{}{
			"generated_data": map[interface{}]interface{}{"SourceAMI": "ami-src", "BuildRegion": "us-east-1"},
			registryimage.ArtifactStateURI: []interface{}{
				map[interface{}]interface{}{"ImageID": "ami-new", "ProviderName": "aws", "ProviderRegion": "us-east-1", "SourceImageID": "ami-src"},
			},
		},
	}
}

// TestArtifactKeepsTheBuildersAMI: after the roll-out the artifact still
// says which AMI was built where, exactly as the builder's did, passes on
// the builder's generated data and HCP Packer images, and adds each group's
// roll-out.
func TestArtifactKeepsTheBuildersAMI(t *testing.T) {
	f := newFakeAWS()
	p := newTestPP(t, map[string]*fakeAWS{"us-east-1": f}, nil)
	source := builderArtifact("us-east-1:ami-new")
	art, _, _, err := p.PostProcess(context.Background(), &packersdk.MockUi{}, source)
	if err != nil {
		t.Fatal(err)
	}
	if art.Id() != source.Id() || art.BuilderId() != BuilderID {
		t.Errorf("Id %q BuilderId %q, want the builder's Id %q and this plugin's id", art.Id(), art.BuilderId(), source.Id())
	}
	// How users find the AMI in a manifest's artifact_id.
	if _, ami, _ := strings.Cut(strings.Split(art.Id(), ",")[0], ":"); ami != "ami-new" {
		t.Errorf("the AMI split from Id %q is %q", art.Id(), ami)
	}

	gen, ok := art.State("generated_data").(map[string]interface{})
	if !ok {
		t.Fatalf("generated_data is %T", art.State("generated_data"))
	}
	if gen["SourceAMI"] != "ami-src" || gen["BuildRegion"] != "us-east-1" {
		t.Errorf("the builder's generated data was not passed on: %v", gen)
	}
	var rollouts []map[string]string
	if err := json.Unmarshal([]byte(gen[GeneratedRollouts].(string)), &rollouts); err != nil {
		t.Fatalf("%s is not a JSON list of groups: %v", GeneratedRollouts, err)
	}
	want := map[string]string{
		"region": "us-east-1", "auto_scaling_group": "web", "image_id": "ami-new", "launch_template_id": "lt-1", "launch_configuration": "",
		"source_version": "3", "version": "4", "instance_refresh_id": "refresh-1", "status": "Successful", "outcome": "succeeded",
	}
	if len(rollouts) != 1 || !reflect.DeepEqual(rollouts[0], want) {
		t.Errorf("%s = %v, want [%v]", GeneratedRollouts, rollouts, want)
	}
	if got := art.State("rollouts"); !reflect.DeepEqual(got, []map[string]string{want}) {
		t.Errorf("rollouts = %v", got)
	}
	if got := art.State(registryimage.ArtifactStateURI); !reflect.DeepEqual(got, source.State(registryimage.ArtifactStateURI)) {
		t.Errorf("HCP Packer images %v, want the builder's passed on", got)
	}
	if first := strings.SplitN(art.String(), "\n", 2)[0]; first != "Rolled 1 Auto Scaling group(s) onto us-east-1:ami-new: 1 succeeded" {
		t.Errorf("String starts %q", first)
	}
}

// TestArtifactStateShapes: generated data keyed by strings (a builder in
// the same process) is passed on as well, and a builder without generated
// data or HCP Packer images gets only the roll-outs, and no images.
func TestArtifactStateShapes(t *testing.T) {
	cases := []struct {
		name      string
		generated interface{}
		want      map[string]interface{}
	}{
		{"interface keys", map[interface{}]interface{}{"SourceAMI": "ami-src", 7: "dropped"}, map[string]interface{}{"SourceAMI": "ami-src"}},
		{"string keys", map[string]interface{}{"SourceAMI": "ami-src"}, map[string]interface{}{"SourceAMI": "ami-src"}},
		{"strings", map[string]string{"SourceAMI": "ami-src"}, map[string]interface{}{"SourceAMI": "ami-src"}},
		{"none", nil, map[string]interface{}{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := &packersdk.MockArtifact{BuilderIdValue: "mitchellh.amazonebs", IdValue: "us-east-1:ami-new", StateValues: map[string]interface{}{}}
			if c.generated != nil {
				src.StateValues["generated_data"] = c.generated
			}
			a := newArtifact(nil, originOf(src), false)
			gen := a.State("generated_data").(map[string]interface{})
			if gen[GeneratedRollouts] != "[]" {
				t.Errorf("%s = %v with no group, want []", GeneratedRollouts, gen[GeneratedRollouts])
			}
			delete(gen, GeneratedRollouts)
			if !reflect.DeepEqual(gen, c.want) {
				t.Errorf("generated data %v, want %v", gen, c.want)
			}
			if got := a.State(registryimage.ArtifactStateURI); got != nil {
				t.Errorf("HCP Packer images %v from a builder that had none", got)
			}
			if a.State("nonsense") != nil {
				t.Error("an unknown key answered")
			}
		})
	}
}

// TestRolloutAfterRollout: the artifact is a valid source for another
// asg-rollout in the same chain, which rolls its groups onto the same AMI.
func TestRolloutAfterRollout(t *testing.T) {
	staging, prod := newFakeAWS(), newFakeAWS()
	first, _, _, err := newTestPP(t, map[string]*fakeAWS{"us-east-1": staging}, nil).PostProcess(context.Background(), &packersdk.MockUi{}, builderArtifact("us-east-1:ami-new"))
	if err != nil {
		t.Fatal(err)
	}
	second, _, _, err := newTestPP(t, map[string]*fakeAWS{"us-east-1": prod}, nil).PostProcess(context.Background(), &packersdk.MockUi{}, first)
	if err != nil {
		t.Fatalf("a roll-out after a roll-out: %v", err)
	}
	if len(prod.created) != 1 || *prod.created[0].LaunchTemplateData.ImageId != "ami-new" {
		t.Errorf("the second roll-out did not roll the builder's AMI: %+v", prod.created)
	}
	if second.Id() != "us-east-1:ami-new" || second.State("generated_data").(map[string]interface{})["SourceAMI"] != "ami-src" ||
		!reflect.DeepEqual(second.State(registryimage.ArtifactStateURI), first.State(registryimage.ArtifactStateURI)) {
		t.Errorf("the second artifact lost what the builder's said: id %q, state %v", second.Id(), second.State("generated_data"))
	}
}

// TestArtifactTally: the summary line counts groups by outcome.
func TestArtifactTally(t *testing.T) {
	a := &Artifact{origin: origin{id: "us-east-1:ami-1"}, Results: []Result{{Outcome: "succeeded"}, {Outcome: "not started"}, {Outcome: "succeeded"}}}
	if got := a.tally(); got != "2 succeeded, 1 not started" {
		t.Errorf("tally %q", got)
	}
	if got := (&Artifact{}).tally(); got != "no group" {
		t.Errorf("tally of nothing %q", got)
	}
}
