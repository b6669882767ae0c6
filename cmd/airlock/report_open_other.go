//go:build !unix

package main

// reportOpenFlags adds nothing where O_NOFOLLOW does not exist; the
// report file is still checked to be a regular file once open.
const reportOpenFlags = 0
