//go:build unix

package approvals

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive lock on a directory (flock), for writers of
// the files in it in several processes.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// lockFile takes an exclusive lock on an open file (flock), held until
// unlock: the audit log's writers in several processes take it around each
// record, so that one can roll back its own short write without cutting
// another's record.
func lockFile(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() { unix.Flock(fd, unix.LOCK_UN) }, nil
}

// auditOpenFlags keep the audit log from being opened through a symbolic
// link in its last component, and from blocking on a FIFO.
const auditOpenFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
