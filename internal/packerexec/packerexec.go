// Package packerexec runs the real packer CLI with the real amazon plugin
// and this plugin, installed into a private plugin directory, for the
// end-to-end tests and the demo.
//
// packer and the amazon plugin are built from the Go module proxy by
// scripts/e2e-tools.sh and cached by version, so only the first run pays
// for the build. packer init cannot download plugins here, so both are
// installed with `packer plugins install --path`.
package packerexec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Versions of the tools driven end to end. scripts/e2e-tools.sh reads its
// defaults from these lines, so they are the one place each is set.
const (
	PackerVersion = "v1.16.0"
	// MinPackerVersion is the oldest Packer release the plugin supports,
	// and the oldest the end-to-end tests run. It is the first to speak
	// the plugin protocol of packer-plugin-sdk (API x5.0, whose handshake
	// line v1.6 misreads) and to know required_plugins and packer init.
	MinPackerVersion = "v1.7.0"
	AmazonVersion    = "v1.8.2"
)

// Env is a packer installation in a private directory.
type Env struct {
	Packer     string // the packer binary
	Dir        string // private root: plugins, config, cache
	PluginPath string
	Plugin     string // this plugin's binary
	Version    string // packer's version, such as v1.16.0
}

// Setup builds (or finds in the cache) packer PackerVersion and the amazon
// plugin, builds this plugin from repoRoot, and installs both plugins under
// a new private directory. Close removes it.
func Setup(ctx context.Context, repoRoot string) (*Env, error) {
	return SetupVersion(ctx, repoRoot, PackerVersion)
}

// BuildTools builds (or finds in the cache) packer at each of versions and
// the amazon plugin, all at once, and returns the directory holding them.
// Call it first with every version a run needs, so that a fresh machine
// builds them side by side rather than one after another.
func BuildTools(ctx context.Context, repoRoot string, versions ...string) (string, error) {
	script := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "e2e-tools.sh"))
	script.Env = append(os.Environ(), "PACKER_VERSIONS="+strings.Join(versions, " "), "AMAZON_VERSION="+AmazonVersion)
	var stderr bytes.Buffer
	script.Stderr = &stderr
	out, err := script.Output()
	if err != nil {
		return "", fmt.Errorf("building packer %s and the amazon plugin (scripts/e2e-tools.sh): %w\n%s", strings.Join(versions, ", "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// SetupVersion is Setup for packer at version (such as MinPackerVersion).
// Before v1.11.0 packer installs only release versions of a plugin with
// --path, so for those this plugin is built as a release is, without the
// "dev" marker.
func SetupVersion(ctx context.Context, repoRoot, version string) (*Env, error) {
	bin, err := BuildTools(ctx, repoRoot, version)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "asg-packer-")
	if err != nil {
		return nil, err
	}
	e := &Env{
		Packer:     filepath.Join(bin, "packer-"+version),
		Dir:        dir,
		PluginPath: filepath.Join(dir, "plugins"),
		Plugin:     filepath.Join(dir, "packer-plugin-asg"),
		Version:    version,
	}
	args := []string{"build", "-o", e.Plugin}
	if versionLess(version, "v1.11.0") {
		args = append(args, "-ldflags", "-X github.com/asg-rollout/packer-plugin-asg/version.VersionPrerelease=")
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		e.Close()
		return nil, fmt.Errorf("building the plugin: %w\n%s", err, out)
	}
	amazon := filepath.Join(bin, fmt.Sprintf("packer-plugin-amazon_%s_x5.0_%s_%s", AmazonVersion, runtime.GOOS, runtime.GOARCH))
	for _, p := range [][2]string{{e.Plugin, "github.com/asg-rollout/asg"}, {amazon, "github.com/hashicorp/amazon"}} {
		if err := e.install(ctx, p[0], p[1]); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// install installs the plugin binary at path as source (such as
// github.com/hashicorp/amazon): with `packer plugins install --path` from
// v1.10.0, the release that added it; before, by hand, the way those
// releases document, as packer-plugin-NAME in the plugin directory (a
// plugin there also overrides the amazon plugin v1.7 to v1.9 bundle).
func (e *Env) install(ctx context.Context, path, source string) error {
	if versionLess(e.Version, "v1.10.0") {
		if err := os.MkdirAll(e.PluginPath, 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(e.PluginPath, "packer-plugin-"+source[strings.LastIndex(source, "/")+1:]), data, 0o755)
	}
	res, err := e.Run(ctx, "", nil, "plugins", "install", "--path", path, source)
	if err != nil || res.ExitCode != 0 {
		return fmt.Errorf("installing %s into packer %s: %v\n%s", source, e.Version, err, res.Output)
	}
	return nil
}

// versionLess reports whether release a ("v1.10.0") comes before b.
func versionLess(a, b string) bool {
	pa, pb := releaseParts(a), releaseParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

// releaseParts is the major, minor and patch number of "vX.Y.Z"; what does
// not parse counts as 0.
func releaseParts(v string) [3]int {
	var p [3]int
	for i, f := range strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3) {
		p[i], _ = strconv.Atoi(f)
	}
	return p
}

// Close removes the private directory.
func (e *Env) Close() error { return os.RemoveAll(e.Dir) }

// Environ is the environment packer runs with: the private plugin and
// config directories, no telemetry, and the local AWS's test credentials
// for anything that reads the default chain.
func (e *Env) Environ(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.Dir,
		"PACKER_PLUGIN_PATH=" + e.PluginPath,
		"PACKER_CONFIG_DIR=" + filepath.Join(e.Dir, "config"),
		"PACKER_CACHE_DIR=" + filepath.Join(e.Dir, "cache"),
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"TMPDIR=" + os.TempDir(),
	}
	return append(env, extra...)
}

// EndpointEnv points every AWS SDK in packer's plugins at a local AWS at
// url. The amazon builder uses custom_endpoint_ec2 for most calls, but sends
// a few (the copies of ami_regions, tag lookups) to the regional endpoints.
func EndpointEnv(url string) []string {
	return []string{"AWS_ENDPOINT_URL=" + url, "AWS_ENDPOINT_URL_EC2=" + url}
}

// Result is how a packer run ended.
type Result struct {
	ExitCode int
	Output   string // stdout and stderr, interleaved
}

// Command returns the packer command, in its own process group so that a
// test can signal packer alone, like a terminal's Ctrl-C.
func (e *Env) Command(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Packer, args...)
	cmd.Dir = dir
	cmd.Env = e.Environ(env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Whatever happens to the test, packer and its plugins do not outlive it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// Run runs packer with args and returns its exit code and output. A
// non-nil error means packer could not be run at all.
func (e *Env) Run(ctx context.Context, dir string, env []string, args ...string) (Result, error) {
	cmd := e.Command(ctx, dir, env, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := Result{Output: out.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		res.ExitCode = exit.ExitCode()
		return res, nil
	}
	return res, err
}
