//go:build !unix

package approvals

import "os"

// lockDir does nothing where flock is missing: writers in several
// processes may then lose each other's grants.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }

// lockFile does nothing where flock is missing: a writer that rolls back a
// short write may then cut a record another process appended meanwhile.
func lockFile(f *os.File) (unlock func(), err error) { return func() {}, nil }

// auditOpenFlags adds nothing where O_NOFOLLOW does not exist; the audit
// log is still checked to be a regular file once open.
const auditOpenFlags = 0
