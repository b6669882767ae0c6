//go:build unix

package telemetry

import "syscall"

// fileOpenFlags keep the trace file from being opened through a symbolic
// link in its last component, and from blocking on a FIFO.
const fileOpenFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
