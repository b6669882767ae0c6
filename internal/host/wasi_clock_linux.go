//go:build linux

package host

import "golang.org/x/sys/unix"

// monotonicNow reads the clock wazero's clock_time_get gives the guest as
// CLOCK_MONOTONIC (Go's runtime nanotime, which is CLOCK_MONOTONIC on
// Linux), so that an absolute monotonic deadline in poll_oneoff means what
// the guest read.
func monotonicNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
