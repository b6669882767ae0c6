package main

import "syscall"

// childAttr makes a child process die with the test binary (the parent
// death signal), so that no airlock outlives a failed test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
