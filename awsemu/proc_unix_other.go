//go:build unix && !linux

package awsemu

import "syscall"

// setParentDeathSignal is Linux-only; elsewhere Close must be called.
func setParentDeathSignal(*syscall.SysProcAttr) {}
