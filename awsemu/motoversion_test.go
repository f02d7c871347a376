package awsemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMoto writes a console script whose "#!" line names a stand-in Python
// that reports moto version, and returns the script's path.
func fakeMoto(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	python := filepath.Join(dir, "python3.11")
	if err := os.WriteFile(python, []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "moto_server")
	if err := os.WriteFile(script, []byte("#!"+python+"\nimport moto.server\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

func TestCheckMotoVersionRefusesAnotherVersion(t *testing.T) {
	err := checkMotoVersion(context.Background(), fakeMoto(t, "5.1.0"), nil)
	if err == nil {
		t.Fatal("moto 5.1.0 accepted; want a refusal")
	}
	for _, want := range []string{"moto 5.1.0 is installed", "moto " + MotoVersion, motoInstall} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestCheckMotoVersionAcceptsThePinnedVersion(t *testing.T) {
	if err := checkMotoVersion(context.Background(), fakeMoto(t, MotoVersion), nil); err != nil {
		t.Fatalf("moto %s refused: %v", MotoVersion, err)
	}
}

func TestCheckMotoVersionLetsAnUnknownVersionRun(t *testing.T) {
	var logged []string
	logf := func(f string, args ...any) { logged = append(logged, f) }
	// The command names a Python that does not exist.
	if err := checkMotoVersion(context.Background(), "python-missing -m moto.server", logf); err != nil {
		t.Fatalf("an unknown version refused: %v", err)
	}
	if len(logged) != 1 {
		t.Fatalf("logged %d lines, want 1 saying the version is unknown", len(logged))
	}
}
