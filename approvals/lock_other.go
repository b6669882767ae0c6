//go:build !unix

package approvals

import "os"

// lockDir does nothing where flock is missing: writers in several
// processes may then lose each other's grants.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }

// lockFile does nothing where flock is missing: a writer that rolls back a
// short write may then cut a record another process appended meanwhile.
func lockFile(f *os.File) (unlock func(), err error) { return func() {}, nil }
