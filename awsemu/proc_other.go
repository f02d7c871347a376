//go:build !unix

package awsemu

import "os/exec"

// setProcessGroup has no process groups to set up outside Unix.
func setProcessGroup(*exec.Cmd) {}

// terminateGroup can only kill the child itself outside Unix.
func terminateGroup(cmd *exec.Cmd, _ bool) { _ = cmd.Process.Kill() }
