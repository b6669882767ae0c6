package policy

import (
	"fmt"
	"io"
	"os"
)

// MaxFileSize bounds a policy or manifest file airlock reads: far above
// any policy a person writes, far below what would exhaust memory.
const MaxFileSize = 4 << 20

// ReadFile reads the policy (or manifest) file at path: a regular file of
// at most MaxFileSize bytes. Such a file may lie where a tool could write,
// and a tool can make a file of any size (a sparse one costs it nothing);
// reading one of 20 GB, or /dev/zero, whole took every byte of the
// machine's memory, and a FIFO blocked airlock for ever.
func ReadFile(path string) ([]byte, error) {
	return ReadRegular(path, MaxFileSize, "any policy")
}

// ReadRegular reads the file at path, which must be a regular file (after
// links) of at most max bytes; what names, in the error, what the bound is
// for ("any policy"). The file is looked at before it is opened, so that
// a FIFO (which would wait for a writer) or a device is never opened, and
// again once open, so that a swap in between is caught.
func ReadRegular(path string, max int64, what string) ([]byte, error) {
	// A path that cannot be looked at fails to open, with open's words.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	tooBig := fmt.Errorf("%s is larger than %d bytes, more than %s", path, max, what)
	if fi.Size() > max {
		return nil, tooBig
	}
	// Read into a buffer of the size looked at (one more byte tells a
	// file that grew since): a module of megabytes read through
	// io.ReadAll's doubling buffer cost a cold start about 3% of its CPU
	// clearing and copying memory.
	b := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			return nil, tooBig
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) { // it grew: read on, as far as max allows
			b = append(b, 0)[:len(b)]
		}
	}
}
