package packerexec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// Release is a release of this plugin built by GoReleaser with the
// project's own .goreleaser.yml, for the host platform only.
type Release struct {
	Version   string // as Packer sees it, such as 0.1.0 (the tag is v0.1.0)
	Dist      string // GoReleaser's output directory
	Checksums string // path of the SHA256SUMS file
	Archive   string // path of the host platform's zip
}

// Tag is the git tag the release would be published under.
func (r *Release) Tag() string { return "v" + r.Version }

// BuildRelease builds a snapshot release of the checkout at repoRoot, as
// version, into workDir: exactly what the release workflow publishes for
// the host platform, minus the signature. GoReleaser comes from
// scripts/goreleaser.sh, which builds it on first use.
//
// The configuration GoReleaser runs is .goreleaser.yml with three changes
// (see HostOnlyConfig): one target, the host's, instead of every platform
// (one build takes seconds, all of them about 17 minutes on two cores);
// a dist directory under workDir; and the snapshot named version, because
// GoReleaser's own snapshot names are pre-releases, which packer init
// never installs. Before-hooks (tests, plugin-check) and signing are
// skipped; a snapshot publishes nothing.
func BuildRelease(ctx context.Context, repoRoot, version, workDir string) (*Release, error) {
	script := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "goreleaser.sh"))
	var stderr bytes.Buffer
	script.Stderr = &stderr
	out, err := script.Output()
	if err != nil {
		return nil, fmt.Errorf("getting GoReleaser (scripts/goreleaser.sh): %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	goreleaser := lines[len(lines)-1]

	src, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yml"))
	if err != nil {
		return nil, err
	}
	dist := filepath.Join(workDir, "dist")
	cfg, err := HostOnlyConfig(src, runtime.GOOS+"_"+runtime.GOARCH, dist, version)
	if err != nil {
		return nil, fmt.Errorf("deriving a host-only configuration from .goreleaser.yml: %w", err)
	}
	cfgPath := filepath.Join(workDir, "goreleaser.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, goreleaser, "release", "--snapshot", "--clean", "--skip=before,sign,publish", "--config", cfgPath)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("running goreleaser release: %w\n%s", err, out)
	}
	return readDist(dist, version)
}

// readDist finds the archive and the checksums file in GoReleaser's list
// of what it made, and refuses a release of anything but one archive.
func readDist(dist, version string) (*Release, error) {
	data, err := os.ReadFile(filepath.Join(dist, "artifacts.json"))
	if err != nil {
		return nil, fmt.Errorf("reading GoReleaser's artifact list: %w", err)
	}
	var artifacts []struct {
		Name, Path, Type, Goos, Goarch string
	}
	if err := json.Unmarshal(data, &artifacts); err != nil {
		return nil, fmt.Errorf("reading GoReleaser's artifact list: %w", err)
	}
	r := &Release{Version: version, Dist: dist}
	var archives, checksums []string
	for _, a := range artifacts {
		switch a.Type {
		case "Archive":
			archives = append(archives, a.Name)
			r.Archive = a.Path
		case "Checksum":
			checksums = append(checksums, a.Name)
			r.Checksums = a.Path
		}
	}
	if len(archives) != 1 || len(checksums) != 1 {
		return nil, fmt.Errorf("GoReleaser made archives %q and checksum files %q, want one of each", archives, checksums)
	}
	return r, nil
}

// topLevelKey matches the line that opens a top-level entry of a YAML
// mapping, and captures its key.
var topLevelKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):`)

// HostOnlyConfig derives from a GoReleaser configuration one that builds
// target (such as linux_amd64) alone, writes into dist and names the
// snapshot version. It edits the text rather than the YAML tree, so the
// rest stays byte for byte what the project releases with: every item of
// builds gets a `targets` list (GoReleaser then ignores goos, goarch and
// ignore), and the top-level dist and snapshot entries are replaced.
func HostOnlyConfig(src []byte, target, dist, version string) ([]byte, error) {
	type block struct {
		key   string // "" for what precedes the first key
		lines []string
	}
	var blocks []block
	cur := block{}
	for _, line := range strings.Split(strings.TrimRight(string(src), "\n"), "\n") {
		if m := topLevelKey.FindStringSubmatch(line); m != nil {
			blocks = append(blocks, cur)
			cur = block{key: m[1]}
		}
		cur.lines = append(cur.lines, line)
	}
	blocks = append(blocks, cur)

	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var out []string
	builds := 0
	for _, b := range blocks {
		switch b.key {
		case "dist", "snapshot":
			continue
		case "builds":
			var n int
			b.lines, n = addTargets(b.lines, quote(target))
			builds += n
		}
		out = append(out, b.lines...)
	}
	if builds == 0 {
		return nil, fmt.Errorf("no item under builds: GoReleaser's default build would make every platform")
	}
	out = append(out,
		"",
		"dist: "+quote(dist),
		"snapshot:",
		"  version_template: "+quote(version),
		"")
	return []byte(strings.Join(out, "\n")), nil
}

// addTargets gives each item of a builds list (lines, its key first) the
// single target, and says how many items it found. Items are the lines
// that open with "-" at the list's own indentation.
func addTargets(lines []string, target string) ([]string, int) {
	isItem := func(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }
	indent := ""
	found := false
	var out []string
	n := 0
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		lead := line[:len(line)-len(trimmed)]
		if i > 0 && !found && isItem(trimmed) {
			indent, found = lead, true
		}
		if i == 0 || !found || lead != indent || !isItem(trimmed) {
			out = append(out, line)
			continue
		}
		n++
		out = append(out, indent+"- targets: ["+target+"]")
		if rest := strings.TrimPrefix(trimmed, "-"); strings.TrimSpace(rest) != "" {
			rest = strings.TrimPrefix(rest, " ")
			out = append(out, indent+"  "+rest)
		}
	}
	return out, n
}
