package e2e

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/internal/fleet"
	"github.com/asg-rollout/packer-plugin-asg/internal/githubstandin"
	"github.com/asg-rollout/packer-plugin-asg/internal/packerexec"
	"github.com/asg-rollout/packer-plugin-asg/version"
)

// repository is where the plugin's releases are published, as the
// required_plugins source github.com/asg-rollout/asg names it.
const repository = "asg-rollout/packer-plugin-asg"

// TestInstallFromRelease is a new user's first steps, with GitHub replaced
// by a loopback stand-in: a release of this checkout, built by GoReleaser
// with the project's .goreleaser.yml for the host platform, is published
// there; `packer init` installs the plugin from it exactly as from
// github.com; `packer validate` and `packer build` then use that plugin,
// and only that one, and the fleet ends up on the new AMI.
func TestInstallFromRelease(t *testing.T) {
	began := time.Now()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rel, err := packerexec.BuildRelease(ctx, root, version.Version, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GoReleaser built release %s in %s: %s, %s", rel.Tag(), time.Since(start).Round(time.Millisecond),
		filepath.Base(rel.Archive), filepath.Base(rel.Checksums))
	zipURL := releaseURL(rel, rel.Archive)
	sumsURL := releaseURL(rel, rel.Checksums)

	gh, err := githubstandin.Start(repository, githubstandin.Release{Tag: rel.Tag(), Files: map[string]string{
		filepath.Base(rel.Archive):   rel.Archive,
		filepath.Base(rel.Checksums): rel.Checksums,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gh.Close() })
	defer func() {
		if r := gh.Refused(); len(r) > 0 {
			t.Errorf("packer asked the GitHub stand-in for what a release does not have:\n%s", requestLines(r))
		}
	}()

	user := newUser(t)
	e.seed("us-east-1", fleet.Spec{Group: "web", Desired: 2})
	e.write(build{Targets: []target{{Group: "web"}}})
	writeRequiredPlugins(t, e.dir)

	// packer init installs the plugin from the release.
	start = time.Now()
	res := user.run(ctx, e.dir, gh.Environ(), "init", ".")
	t.Logf("packer init took %s", time.Since(start).Round(time.Millisecond))
	if res.ExitCode != 0 {
		t.Fatalf("packer init exited %d", res.ExitCode)
	}
	binName := strings.TrimSuffix(filepath.Base(rel.Archive), ".zip")
	installed := filepath.Join(user.PluginPath, "github.com", "asg-rollout", "asg", binName)
	if want := fmt.Sprintf("Installed plugin github.com/asg-rollout/asg %s in %q", rel.Tag(), installed); !strings.Contains(res.Output, want) {
		t.Errorf("packer init output misses %q", want)
	}
	t.Logf("the GitHub stand-in received:\n%s", requestLines(gh.Requests()))
	tagsURL := "https://api.github.com/repos/" + repository + "/git/matching-refs/tags"
	if n := countRequests(gh.Requests(), "GET "+tagsURL+" -> 200"); n != 1 {
		t.Errorf("packer init listed the repository's tags %d times, want once", n)
	}
	if n := countRequests(gh.Requests(), "GET "+zipURL+" -> 200"); n != 1 {
		t.Errorf("packer init downloaded the release's zip %d times, want once", n)
	}
	if n := countRequests(gh.Requests(), "GET "+sumsURL+" -> 200"); n != 1 {
		t.Errorf("packer init downloaded the release's checksums %d times, want once", n)
	}

	// What landed is the release's binary, under its name, with the
	// checksum file packer keeps beside it.
	sum := fileSHA256(t, installed)
	if want := zipMemberSHA256(t, rel.Archive, binName); sum != want {
		t.Errorf("installed binary has SHA-256 %s, the release's %s has %s", sum, binName, want)
	}
	// The licence ships with the release, as it is in the checkout.
	if got, want := zipMemberSHA256(t, rel.Archive, "LICENSE"), fileSHA256(t, "../../LICENSE"); got != want {
		t.Errorf("the release's LICENSE has SHA-256 %s, the checkout's %s", got, want)
	}
	if recorded, err := os.ReadFile(installed + "_SHA256SUM"); err != nil || string(recorded) != sum {
		t.Errorf("checksum file beside the plugin holds %q (%v), want %s", recorded, err, sum)
	}
	listed := user.run(ctx, e.dir, nil, "plugins", "installed")
	if got := strings.Split(strings.TrimSpace(listed.Output), "\n"); len(got) != 2 || !slices.Contains(got, installed) {
		t.Errorf("packer plugins installed lists %q, want the amazon plugin and %s alone", got, installed)
	}

	// A second packer init finds the plugin installed and downloads nothing.
	before, stat := len(gh.Requests()), modTime(t, installed)
	if res := user.run(ctx, e.dir, gh.Environ(), "init", "."); res.ExitCode != 0 {
		t.Fatalf("second packer init exited %d", res.ExitCode)
	}
	if again := gh.Requests()[before:]; len(again) > 0 {
		t.Errorf("second packer init asked GitHub again:\n%s", requestLines(again))
	}
	if modTime(t, installed) != stat {
		t.Error("second packer init rewrote the installed plugin")
	}

	if res := user.run(ctx, e.dir, nil, "validate", "."); res.ExitCode != 0 {
		t.Fatalf("packer validate exited %d", res.ExitCode)
	}
	if res := user.run(ctx, e.dir, e.endpointEnv(), "build", "-color=false", "."); res.ExitCode != 0 {
		t.Fatalf("packer build exited %d", res.ExitCode)
	}
	ami := e.newAMI("us-east-1", "app-testinstallfromrelease")
	after := e.snapshot("us-east-1", "web")
	t.Logf("after:\n%s", after)
	if imgs := after.Images(); len(imgs) != 1 || imgs[ami] != 2 {
		t.Errorf("in-service instances by AMI %v, want both on %s", imgs, ami)
	}
	t.Logf("the whole test took %s", time.Since(began).Round(time.Millisecond))
}

// user is a packer installation of its own, as on a new user's machine:
// its own HOME and plugin directory, holding the amazon plugin only (which
// packer init could not download here). This plugin gets there only
// through packer init.
type user struct {
	t *testing.T
	*packerexec.Env
}

func newUser(t *testing.T) *user {
	t.Helper()
	dir := t.TempDir()
	u := &user{t: t, Env: &packerexec.Env{Packer: packer.Packer, Dir: dir, PluginPath: filepath.Join(dir, "plugins")}}
	amazon, err := filepath.Glob(filepath.Join(packer.PluginPath, "github.com", "hashicorp", "amazon", "packer-plugin-amazon_*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range amazon {
		if !strings.HasSuffix(bin, "_SHA256SUM") {
			if res := u.run(context.Background(), "", nil, "plugins", "install", "--path", bin, "github.com/hashicorp/amazon"); res.ExitCode != 0 {
				t.Fatalf("installing the amazon plugin exited %d", res.ExitCode)
			}
		}
	}
	return u
}

// run runs packer, logs its output, and fails the test if packer could not
// be run at all.
func (u *user) run(ctx context.Context, dir string, env []string, args ...string) packerexec.Result {
	u.t.Helper()
	res, err := u.Run(ctx, dir, env, args...)
	if err != nil {
		u.t.Fatalf("running packer %s: %v", strings.Join(args, " "), err)
	}
	u.t.Logf("packer %s exited %d:\n%s", strings.Join(args, " "), res.ExitCode, res.Output)
	return res
}

// writeRequiredPlugins writes the packer block a user's template starts
// with, as the README shows it, beside the template in dir.
func writeRequiredPlugins(t *testing.T, dir string) {
	t.Helper()
	hcl := fmt.Sprintf(`packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= %s"
    }
    asg = {
      source  = "github.com/asg-rollout/asg"
      version = ">= %s"
    }
  }
}
`, strings.TrimPrefix(packerexec.AmazonVersion, "v"), version.Version)
	if err := os.WriteFile(filepath.Join(dir, "plugins.pkr.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
}

// releaseURL is where GitHub serves file of the release.
func releaseURL(rel *packerexec.Release, file string) string {
	return "https://github.com/" + repository + "/releases/download/" + rel.Tag() + "/" + filepath.Base(file)
}

// requestLines puts one request on a line.
func requestLines(reqs []githubstandin.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}

// countRequests counts the requests recorded as want.
func countRequests(reqs []githubstandin.Request, want string) int {
	n := 0
	for _, r := range reqs {
		if r.String() == want {
			n++
		}
	}
	return n
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func zipMemberSHA256(t *testing.T, archive, name string) string {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, archive, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}
