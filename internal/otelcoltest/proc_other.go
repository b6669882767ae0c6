//go:build !linux

package otelcoltest

import "syscall"

// sysProcAttr: outside Linux there is no parent-death signal; a collector
// outlives a test binary that dies without running its cleanups.
func sysProcAttr() *syscall.SysProcAttr { return nil }
