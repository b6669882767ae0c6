//go:build !unix

package telemetry

// fileOpenFlags adds nothing where O_NOFOLLOW does not exist; the trace
// file is still checked to be a regular file once open.
const fileOpenFlags = 0
