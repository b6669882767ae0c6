//go:build !unix

package runtime_test

import (
	"testing"
	"time"
)

// cpuTime skips the test: the CPU time is read with getrusage(2), which
// only Unix systems have.
func cpuTime(t *testing.T) time.Duration {
	t.Skip("the process's CPU time is read with getrusage(2): Unix only")
	return 0
}
