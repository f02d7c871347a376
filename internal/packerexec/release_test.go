package packerexec

import (
	"os"
	"strings"
	"testing"
)

func TestHostOnlyConfig(t *testing.T) {
	src := `# a release
version: 2

dist: elsewhere

builds:
  - id: plugin
    flags:
      - -trimpath
    goos: [linux, darwin]
  -
    id: other
    goos: [windows]

snapshot:
  version_template: "{{ .Version }}-SNAPSHOT"

archives:
  - formats: [zip]
`
	got, err := HostOnlyConfig([]byte(src), "linux_arm64", "/tmp/a b/dist", "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := `# a release
version: 2

builds:
  - targets: ["linux_arm64"]
    id: plugin
    flags:
      - -trimpath
    goos: [linux, darwin]
  - targets: ["linux_arm64"]
    id: other
    goos: [windows]

archives:
  - formats: [zip]

dist: "/tmp/a b/dist"
snapshot:
  version_template: "1.2.3"
`
	if string(got) != want {
		t.Errorf("derived configuration:\n%s\nwant:\n%s", got, want)
	}
}

// TestHostOnlyConfigOfTheProject: the project's own configuration keeps
// everything but gets one target per build, so a release test never starts
// the 17-minute build of every platform.
func TestHostOnlyConfigOfTheProject(t *testing.T) {
	src, err := os.ReadFile("../../.goreleaser.yml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := HostOnlyConfig(src, "linux_amd64", "/d", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	builds := strings.Count(string(src), "\n  - id: ")
	if builds == 0 || strings.Count(string(got), `- targets: ["linux_amd64"]`) != builds {
		t.Errorf("want one targets line for each of the %d builds in:\n%s", builds, got)
	}
	key := ""
	for _, line := range strings.Split(string(src), "\n") {
		if m := topLevelKey.FindStringSubmatch(line); m != nil {
			key = m[1]
		}
		if key == "dist" || key == "snapshot" {
			continue // replaced
		}
		if !strings.Contains(string(got), strings.TrimPrefix(line, "  - ")) {
			t.Errorf("derived configuration lost %q", line)
		}
	}
}

func TestHostOnlyConfigWithoutBuilds(t *testing.T) {
	if _, err := HostOnlyConfig([]byte("version: 2\nbuilds: []\n"), "linux_amd64", "/d", "0.1.0"); err == nil {
		t.Error("no error for a configuration whose builds list has no item")
	}
}
