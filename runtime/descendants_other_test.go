//go:build !linux

package runtime_test

import (
	"os/exec"
	"time"
)

// runCounted runs c and returns its CPU time as wait4 reports it: without
// Linux's child subreaper, descendants c did not wait for are not counted.
func runCounted(c *exec.Cmd) (cpu time.Duration, out []byte, err error) {
	out, err = c.CombinedOutput()
	if c.ProcessState != nil {
		cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	return cpu, out, err
}
