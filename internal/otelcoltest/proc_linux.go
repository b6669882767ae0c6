package otelcoltest

import "syscall"

// sysProcAttr has the kernel kill the collector if the test binary dies
// without running its cleanups (a panic, a -timeout), so no collector is
// left behind holding ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
