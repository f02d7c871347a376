package awsemu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// MotoVersion is the moto release the emulator is written and tested
// against. What moto does and lacks changes between releases (see the
// package documentation), so Start refuses another version unless
// Options.AnyMotoVersion is set. Install it with
//
//	pip install "moto[server]==5.2.1"
const MotoVersion = "5.2.1"

// motoInstall is the command that installs the pinned moto.
const motoInstall = `pip install "moto[server]==` + MotoVersion + `"`

// checkMotoVersion compares the moto that command runs with MotoVersion.
// It returns an error naming both versions and the fix on a mismatch, and
// nil (after logging why) when the version cannot be told: the check is a
// guard against a silent drift, not a requirement to run moto one way.
func checkMotoVersion(ctx context.Context, command string, logf func(string, ...any)) error {
	got, err := motoVersionOf(ctx, command)
	if err != nil {
		if logf != nil {
			logf("cannot tell which moto %q runs (%v); expecting %s", command, err, MotoVersion)
		}
		return nil
	}
	if got != MotoVersion {
		return fmt.Errorf("moto %s is installed, but the emulator is written for moto %s: run %s "+
			"(or set Options.AnyMotoVersion / -any-moto to run it anyway)", got, MotoVersion, motoInstall)
	}
	return nil
}

// motoVersionOf asks the Python interpreter behind command which moto it
// imports. A console script names its interpreter on its first line; a
// command that is not one (a pyenv shim, "python3 -m moto.server") is
// asked through the first word when it is a Python, else through python3.
func motoVersionOf(ctx context.Context, command string) (string, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return "", fmt.Errorf("empty moto command")
	}
	python := "python3"
	if strings.HasPrefix(filepath.Base(argv[0]), "python") {
		python = argv[0]
	} else if interp := scriptInterpreter(argv[0]); interp != "" {
		python = interp
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c",
		"import importlib.metadata as m; print(m.version('moto'))").Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", python, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// scriptInterpreter returns the Python interpreter named on the "#!" line of
// the program that name resolves to, or "" when it names no Python.
func scriptInterpreter(name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "#!") {
		return ""
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return ""
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		fields = fields[1:]
	}
	if !strings.HasPrefix(filepath.Base(fields[0]), "python") {
		return ""
	}
	return fields[0]
}
