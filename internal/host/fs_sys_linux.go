//go:build linux

package host

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// This file holds the small system-level pieces of the policy filesystem:
// where a pinned descriptor really is, errno mapping, and conversions
// between wazero's types and Linux's.

// procFdPath writes "/proc/self/fd/N" followed by a NUL into buf and
// returns the path without the NUL.
func procFdPath(buf *[32]byte, fd int) []byte {
	b := append(buf[:0], "/proc/self/fd/"...)
	b = strconv.AppendInt(b, int64(fd), 10)
	return append(b, 0)[:len(b)]
}

// procPath is procFdPath as a string, for the calls that take one.
func procPath(fd int) string {
	var buf [32]byte
	return string(procFdPath(&buf, fd))
}

// readlinkFd reads where descriptor fd really is, from /proc/self/fd/N,
// into out, without allocating. The kernel answers from the descriptor, so
// the answer is about the pinned object, not about any path string.
func readlinkFd(fd int, out []byte) (int, error) {
	var pbuf [32]byte
	p := procFdPath(&pbuf, fd)
	atFdcwd := unix.AT_FDCWD
	for {
		n, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(atFdcwd),
			uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, e
		case int(n) >= len(out):
			return 0, unix.ENAMETOOLONG
		}
		return int(n), nil
	}
}

const deletedSuffix = " (deleted)"

// relUnder returns p relative to root when p is root or lies beneath it.
func relUnder(p []byte, root string) (string, bool) {
	if root == "/" {
		if len(p) == 0 || p[0] != '/' {
			return "", false
		}
		if len(p) == 1 {
			return ".", true
		}
		return string(p[1:]), true
	}
	if len(p) < len(root) || string(p[:len(root)]) != root {
		return "", false
	}
	if len(p) == len(root) {
		return ".", true
	}
	if p[len(root)] != '/' {
		return "", false
	}
	return string(p[len(root)+1:]), true
}

// errno turns an error from os, os.Root or x/sys/unix into wazero's Errno.
func errno(err error) experimentalsys.Errno {
	return experimentalsys.UnwrapOSError(err)
}

// isEscape reports whether err from os.Root is its refusal to leave the
// root ("path escapes from parent"), which has no errno of its own: any
// error that is neither a system errno nor one of io/fs's sentinels.
func isEscape(err error) bool {
	var inner error = err
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		inner = pe.Err
	case errors.As(err, &le):
		inner = le.Err
	}
	if _, ok := inner.(syscall.Errno); ok {
		return false
	}
	switch inner {
	case fs.ErrInvalid, fs.ErrPermission, fs.ErrExist, fs.ErrNotExist, fs.ErrClosed, io.EOF:
		return false
	}
	return true
}

// errnoName is the symbolic name of e, kept in decision records.
func errnoName(e experimentalsys.Errno) string {
	switch e {
	case experimentalsys.EACCES:
		return "EACCES"
	case experimentalsys.EBADF:
		return "EBADF"
	case experimentalsys.EEXIST:
		return "EEXIST"
	case experimentalsys.EIO:
		return "EIO"
	case experimentalsys.ELOOP:
		return "ELOOP"
	case experimentalsys.ENOENT:
		return "ENOENT"
	case experimentalsys.EPERM:
		return "EPERM"
	case experimentalsys.EROFS:
		return "EROFS"
	}
	return e.Error()
}

// unixFlags converts the access mode and the flags that pass straight to
// the kernel. O_CREAT, O_EXCL, O_TRUNC and O_NOFOLLOW are handled by the
// caller, because each changes how the file is reached.
func unixFlags(f experimentalsys.Oflag) int {
	var o int
	switch f & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = unix.O_RDWR
	case experimentalsys.O_WRONLY:
		o = unix.O_WRONLY
	}
	if f&experimentalsys.O_APPEND != 0 {
		o |= unix.O_APPEND
	}
	if f&experimentalsys.O_DIRECTORY != 0 {
		o |= unix.O_DIRECTORY
	}
	if f&experimentalsys.O_DSYNC != 0 {
		o |= unix.O_DSYNC
	}
	if f&experimentalsys.O_NONBLOCK != 0 {
		o |= unix.O_NONBLOCK
	}
	if f&experimentalsys.O_RSYNC != 0 {
		o |= unix.O_RSYNC
	}
	if f&experimentalsys.O_SYNC != 0 {
		o |= unix.O_SYNC
	}
	return o | unix.O_CLOEXEC
}

// unixMode converts permission bits (and setuid, setgid, sticky).
func unixMode(perm fs.FileMode) uint32 {
	m := uint32(perm.Perm())
	if perm&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if perm&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if perm&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// fileMode converts st_mode to an fs.FileMode.
func fileMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// direntType converts a getdents d_type.
func direntType(t uint8) (fs.FileMode, bool) {
	switch t {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	return 0, false
}

func toStat(st *unix.Stat_t) sysapi.Stat_t {
	return sysapi.Stat_t{
		Dev:   uint64(st.Dev),
		Ino:   st.Ino,
		Mode:  fileMode(st.Mode),
		Nlink: uint64(st.Nlink),
		Size:  st.Size,
		Atim:  st.Atim.Nano(),
		Mtim:  st.Mtim.Nano(),
		Ctim:  st.Ctim.Nano(),
	}
}

func isReg(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFREG }
func isDir(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
func isLink(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFLNK }

// special reports a FIFO, socket or device: airlock opens only files and
// folders inside a mount (docs/filesystem.md, "What it guarantees").
func special(st *unix.Stat_t) bool { return !isReg(st) && !isDir(st) && !isLink(st) }

// timespecs converts wazero's times (UTIME_OMIT kept) for utimensat.
func timespecs(atim, mtim int64) [2]unix.Timespec {
	conv := func(t int64) unix.Timespec {
		if t == experimentalsys.UTIME_OMIT {
			return unix.Timespec{Nsec: unix.UTIME_OMIT}
		}
		return unix.NsecToTimespec(t)
	}
	return [2]unix.Timespec{conv(atim), conv(mtim)}
}

// futimens sets the times of the object fd refers to (utimensat with a
// NULL path), which works on a descriptor opened for reading.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// dirent is one parsed linux_dirent64 record.
type dirent struct {
	ino  uint64
	typ  uint8
	name []byte
}

// nextDirent parses the record at the start of buf and returns it and its
// length, or a zero length when buf holds no whole record.
func nextDirent(buf []byte) (dirent, int) {
	const nameOff = 19 // d_ino(8) d_off(8) d_reclen(2) d_type(1)
	if len(buf) < nameOff {
		return dirent{}, 0
	}
	reclen := int(*(*uint16)(unsafe.Pointer(&buf[16])))
	if reclen < nameOff || reclen > len(buf) {
		return dirent{}, 0
	}
	d := dirent{ino: *(*uint64)(unsafe.Pointer(&buf[0])), typ: buf[18]}
	name := buf[nameOff:reclen]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	d.name = name
	return d, reclen
}

func isDots(name []byte) bool {
	return len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.'
}

// openBeneath opens rel relative to dirFd with openat2, resolving every
// name beneath dirFd: a symlink is followed only when it stays beneath
// (an absolute one, or ".." above dirFd, gives EXDEV), and /proc's magic
// links never. With O_PATH nothing on the way is opened.
func openBeneath(dirFd int, rel string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(dirFd, rel, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// retry runs a system call again while it is interrupted.
func retry(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}
