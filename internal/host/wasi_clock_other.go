//go:build !linux

package host

import "time"

// monoBase is when the process started reading the monotonic clock.
var monoBase = time.Now()

// monotonicNow approximates the guest's monotonic clock elsewhere than on
// Linux (where the policy filesystem, and so airlock's WASI, is at home).
func monotonicNow() int64 { return time.Since(monoBase).Nanoseconds() }
