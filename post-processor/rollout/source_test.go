package rollout

import (
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func packersdkFilter(s string) string { return packersdk.LogSecretFilter.FilterString(s) }

func TestImagesFromArtifact(t *testing.T) {
	for _, b := range amiBuilders {
		got, err := imagesFromArtifact(&packersdk.MockArtifact{BuilderIdValue: b, IdValue: "eu-west-1:ami-2,us-east-1:ami-1"})
		if err != nil || got["us-east-1"] != "ami-1" || got["eu-west-1"] != "ami-2" {
			t.Errorf("%s: %v, %v", b, got, err)
		}
	}
}

func TestImagesFromArtifactRefuses(t *testing.T) {
	cases := []struct {
		builder, id, want string
	}{
		{"mitchellh.amazon.ebsvolume", "us-east-1:vol-1", `builder "mitchellh.amazon.ebsvolume" does not make AMIs`},
		{"packer.file", "foo.txt", `builder "packer.file" does not make AMIs`},
		{"mitchellh.amazonebs", " ", "it has no AMI"},
		{"mitchellh.amazonebs", "us-east-1", `"us-east-1" is not region:ami-id`},
		{"mitchellh.amazonebs", "us-east-1:snap-1", "is not region:ami-id"},
		{"mitchellh.amazonebs", "us-east-1:ami-", "is not region:ami-id"},
		{"mitchellh.amazonebs", "us-east-1:ami-1,us-east-1:ami-2", "region us-east-1 has two AMIs"},
	}
	for _, c := range cases {
		_, err := imagesFromArtifact(&packersdk.MockArtifact{BuilderIdValue: c.builder, IdValue: c.id})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: err %v, want %q", c.builder, c.id, err, c.want)
		}
	}
}

func TestImageOfMissingRegionNamesTheOthers(t *testing.T) {
	imgs := sourceImages{"us-east-1": "ami-1", "eu-west-1": "ami-2"}
	_, err := imgs.image("ap-south-1")
	if err == nil || !strings.Contains(err.Error(), "no AMI in ap-south-1 (it has eu-west-1, us-east-1)") || !strings.Contains(err.Error(), "ami_regions") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseImageIDs(f *testing.F) {
	for _, s := range []string{"us-east-1:ami-1", "a:ami-1,b:ami-2", "", ":", "x:ami-,", "us-east-1:ami-1, us-east-1:ami-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		imgs, err := parseImageIDs(s)
		if err != nil {
			return
		}
		for region, ami := range imgs {
			if region == "" || !strings.HasPrefix(ami, "ami-") || len(ami) <= 4 {
				t.Fatalf("accepted %q as %s:%s", s, region, ami)
			}
		}
	})
}
