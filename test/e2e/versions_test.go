package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/internal/packerexec"
)

// TestBakeAndRollOldestPacker runs the happy path with the oldest packer
// the plugin supports, packerexec.MinPackerVersion, with this plugin and the
// amazon plugin installed as that release takes them.
func TestBakeAndRollOldestPacker(t *testing.T) {
	e := newEnv(t)
	e.pk = packers[packerexec.MinPackerVersion]

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.pk.Run(ctx, e.dir, nil, "version")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("packer version: %v\n%s", err, res.Output)
	}
	if want := "Packer " + packerexec.MinPackerVersion; !strings.HasPrefix(strings.TrimSpace(res.Output), want) {
		t.Fatalf("packer version says %q, want %q", res.Output, want)
	}
	bakeAndRoll(e)
}
