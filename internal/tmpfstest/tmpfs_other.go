//go:build !linux

package tmpfstest

import "testing"

// Mount skips the test: a tmpfs is mounted only on Linux.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	t.Skip("a tmpfs to fill is mounted only on Linux")
	return ""
}

// Fill is not reached: Mount skips.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	t.Skip("a tmpfs to fill is mounted only on Linux")
	return ""
}

// ReadOnly is not reached: Mount skips.
func ReadOnly(t testing.TB, dir string) {
	t.Helper()
	t.Skip("a tmpfs to fill is mounted only on Linux")
}
