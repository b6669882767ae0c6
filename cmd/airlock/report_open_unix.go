//go:build unix

package main

import "syscall"

// Flags for opening the --json report file: never through a symbolic
// link in its last component, and never blocking on a FIFO.
const reportOpenFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
