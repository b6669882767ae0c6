package runtime

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/airlockhq/airlock/policy"
)

func fileIDOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return statID(st), true
}

func statID(st *syscall.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size,
		ctime: st.Ctim.Nano(), mtime: st.Mtim.Nano()}
}

// readModuleFile reads the module file at path through a descriptor that
// names one file, and returns that file's identity when it did not change
// while it was read (ok). Looking at the path before and after reading it
// is not enough: a tool that may rename the folders on the way swaps in a
// folder of its own between the looks and back, and the bytes read are
// then not the file's that both looks saw.
func readModuleFile(path string, size int64) (b []byte, id fileID, ok bool, err error) {
	fd, err := syscall.Open(path, oPath|syscall.O_CLOEXEC, 0) // opens no FIFO, reads nothing
	if err != nil {
		return nil, fileID{}, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var before, after syscall.Stat_t
	if err := syscall.Fstat(fd, &before); err != nil {
		return nil, fileID{}, false, err
	}
	max := int64(MaxModuleSize)
	if size > 0 {
		if before.Size != size {
			return nil, fileID{}, false, fmt.Errorf("%s has changed size since it last ran (%d bytes, not %d)", path, before.Size, size)
		}
		max = size
	}
	// The same file again, as ReadRegular reads any (a FIFO or device is
	// refused before it is opened).
	b, err = policy.ReadRegular("/proc/self/fd/"+strconv.Itoa(fd), max, "the module had when it last ran")
	if err != nil {
		return nil, fileID{}, false, err
	}
	if syscall.Fstat(fd, &after) != nil {
		return b, fileID{}, false, nil
	}
	id = statID(&before)
	return b, id, id == statID(&after), nil
}

const oPath = 0x200000 // O_PATH, which package syscall does not name
