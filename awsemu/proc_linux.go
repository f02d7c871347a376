//go:build linux

package awsemu

import "syscall"

// setParentDeathSignal has the kernel kill moto if the emulator's process
// dies without calling Close (a test binary killed by a timeout, say).
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
