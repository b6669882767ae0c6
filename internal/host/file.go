//go:build linux

package host

import (
	"io"
	"os"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// File is a file or directory opened through an FS. It works on the pinned
// descriptor only; the path it was opened by is never used again.
//
// A File not opened for writing refuses Write, Pwrite and Truncate (EBADF),
// and checks the mount's rules again before Utimens, which the kernel would
// allow on any descriptor of a file the host user owns. Once the run's gate
// is revoked every operation but Close fails with EBADF.
//
// Like wazero's own files, a File is not safe for concurrent use.
type File struct {
	fs       *FS
	f        *os.File // owns fd when set; else fd came from openat
	fd       int
	rel      string // where it really was when opened, relative to the mount root
	flag     experimentalsys.Oflag
	writable bool
	isDir    bool
	dev      uint64
	ino      uint64
	nonblock bool
	counted  bool // holds a place in the open-file limit
	closed   bool
	staged   *stagedFile // a provisional file in a read-only mount (fs_stage_linux.go)

	// directory reading state
	dirBuf       []byte
	dirOff, dirN int
}

var _ experimentalsys.PollableFile = (*File)(nil)

// bad reports the errno for an operation on a closed file or after Revoke.
func (f *File) bad() experimentalsys.Errno {
	if f.closed || f.fs.gate.Revoked() {
		return experimentalsys.EBADF
	}
	return 0
}

// Dev implements experimentalsys.File.
func (f *File) Dev() (uint64, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return 0, e
	}
	return f.dev, 0
}

// Ino implements experimentalsys.File.
func (f *File) Ino() (sysapi.Inode, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return 0, e
	}
	return f.ino, 0
}

// IsDir implements experimentalsys.File.
func (f *File) IsDir() (bool, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return false, e
	}
	return f.isDir, 0
}

// IsAppend implements experimentalsys.File.
func (f *File) IsAppend() bool { return f.flag&experimentalsys.O_APPEND != 0 }

// SetAppend implements experimentalsys.File. Linux changes O_APPEND with
// fcntl, so the file is not reopened by path.
func (f *File) SetAppend(enable bool) experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	if f.isDir {
		return experimentalsys.EISDIR
	}
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return errno(err)
	}
	if enable {
		fl |= unix.O_APPEND
	} else {
		fl &^= unix.O_APPEND
	}
	if _, err := unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, fl); err != nil {
		return errno(err)
	}
	if enable {
		f.flag |= experimentalsys.O_APPEND
	} else {
		f.flag &^= experimentalsys.O_APPEND
	}
	return 0
}

// IsNonblock implements experimentalsys.PollableFile.
func (f *File) IsNonblock() bool { return f.nonblock }

// SetNonblock implements experimentalsys.PollableFile.
func (f *File) SetNonblock(enable bool) experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	if err := unix.SetNonblock(f.fd, enable); err != nil {
		return errno(err)
	}
	f.nonblock = enable
	return 0
}

// Poll implements experimentalsys.Pollable.
func (f *File) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return false, e
	}
	var events int16
	if flag&experimentalsys.POLLIN != 0 {
		events |= unix.POLLIN
	}
	if flag&experimentalsys.POLLOUT != 0 {
		events |= unix.POLLOUT
	}
	if events == 0 {
		return false, experimentalsys.ENOTSUP
	}
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: events}}
	n, err := unix.Poll(fds, int(timeoutMillis))
	if err != nil {
		return false, errno(err)
	}
	return n > 0, 0
}

// Stat implements experimentalsys.File.
func (f *File) Stat() (sysapi.Stat_t, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return sysapi.Stat_t{}, e
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return sysapi.Stat_t{}, errno(err)
	}
	return toStat(&st), 0
}

// Read implements experimentalsys.File.
func (f *File) Read(buf []byte) (int, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return 0, e
	}
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if len(buf) == 0 {
		return 0, 0
	}
	for {
		n, err := unix.Read(f.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, errno(err)
	}
}

// Pread implements experimentalsys.File.
func (f *File) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return 0, e
	}
	if f.isDir {
		return 0, experimentalsys.EISDIR
	}
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if len(buf) == 0 {
		return 0, 0
	}
	for {
		n, err := unix.Pread(f.fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, errno(err)
	}
}

// seekOffset is int64. Seek is declared with it because go vet's
// stdmethods check takes any Seek(int64, int) for io.Seeker and wants an
// error result, while wazero's File interface returns an Errno.
type seekOffset = int64

// Seek implements experimentalsys.File. On a directory only a rewind
// (offset 0 from the start) is supported; it restarts Readdir.
func (f *File) Seek(offset seekOffset, whence int) (int64, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return 0, e
	}
	switch whence {
	case io.SeekStart, io.SeekCurrent, io.SeekEnd:
	default:
		return 0, experimentalsys.EINVAL
	}
	if f.isDir {
		if offset != 0 || whence != io.SeekStart {
			return 0, experimentalsys.EISDIR
		}
		f.dirOff, f.dirN = 0, 0
	}
	n, err := unix.Seek(f.fd, offset, whence)
	return n, errno(err)
}

// Readdir implements experimentalsys.File. It returns the entries with
// their inode and type, without "." and "..", and leaves out every entry
// that a hide pattern covers where the directory really is now.
func (f *File) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if e := f.bad(); e != 0 {
		return nil, e
	}
	if !f.isDir {
		return nil, experimentalsys.EBADF
	}
	dirRel := f.rel
	if len(f.fs.hide) > 0 {
		// The directory may have moved since it was opened.
		rel, e := f.fs.realRel(f.fd)
		if e != 0 {
			return nil, e
		}
		dirRel = rel
	}
	if f.dirBuf == nil {
		f.dirBuf = make([]byte, 8<<10)
	}
	var out []experimentalsys.Dirent
	for n <= 0 || len(out) < n {
		if f.dirOff >= f.dirN {
			m, err := unix.ReadDirent(f.fd, f.dirBuf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return out, errno(err)
			}
			if m <= 0 {
				break
			}
			f.dirOff, f.dirN = 0, m
		}
		d, size := nextDirent(f.dirBuf[f.dirOff:f.dirN])
		if size == 0 {
			f.dirOff = f.dirN
			continue
		}
		f.dirOff += size
		if d.ino == 0 || isDots(d.name) {
			continue
		}
		name := string(d.name)
		if len(f.fs.hide) > 0 {
			if _, hidden := f.fs.hidden(joinRel(dirRel, name)); hidden {
				continue
			}
		}
		typ, ok := direntType(d.typ)
		if !ok {
			var st unix.Stat_t
			if err := unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // gone meanwhile
			}
			typ = fileMode(st.Mode).Type()
		}
		out = append(out, experimentalsys.Dirent{Ino: d.ino, Name: name, Type: typ})
	}
	return out, 0
}

// Write implements experimentalsys.File.
func (f *File) Write(buf []byte) (int, experimentalsys.Errno) {
	if e := f.mayWrite(); e != 0 {
		return 0, e
	}
	if len(buf) == 0 {
		return 0, 0
	}
	if f.staged != nil {
		if e := f.fs.stageRoom(f.staged, int64(len(buf))); e != 0 {
			return 0, e
		}
	}
	for {
		n, err := unix.Write(f.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, errno(err)
	}
}

// Pwrite implements experimentalsys.File.
func (f *File) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if e := f.mayWrite(); e != 0 {
		return 0, e
	}
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if len(buf) == 0 {
		return 0, 0
	}
	if f.staged != nil {
		if e := f.fs.stageRoom(f.staged, f.growth(off+int64(len(buf)))); e != 0 {
			return 0, e
		}
	}
	for {
		n, err := unix.Pwrite(f.fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, errno(err)
	}
}

// Truncate implements experimentalsys.File.
func (f *File) Truncate(size int64) experimentalsys.Errno {
	if e := f.mayWrite(); e != 0 {
		return e
	}
	if size < 0 {
		return experimentalsys.EINVAL
	}
	if f.staged != nil {
		if e := f.fs.stageRoom(f.staged, f.growth(size)); e != 0 {
			return e
		}
	}
	return errno(retry(func() error { return unix.Ftruncate(f.fd, size) }))
}

// growth is how many bytes the file grows by if its size becomes end.
func (f *File) growth(end int64) int64 {
	var st unix.Stat_t
	if unix.Fstat(f.fd, &st) != nil {
		return end
	}
	return end - st.Size
}

// mayWrite is the check before changing the file's content: it must have
// been opened for writing (which is when the rules were applied).
func (f *File) mayWrite() experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	if f.isDir {
		return experimentalsys.EISDIR
	}
	if !f.writable {
		return experimentalsys.EBADF
	}
	return 0
}

// Sync implements experimentalsys.File.
func (f *File) Sync() experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	return errno(retry(func() error { return unix.Fsync(f.fd) }))
}

// Datasync implements experimentalsys.File.
func (f *File) Datasync() experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	return errno(retry(func() error { return unix.Fdatasync(f.fd) }))
}

// Utimens implements experimentalsys.File. A file opened for writing
// passed the rules when it was opened; any other descriptor (a file opened
// for reading, a directory) is checked again where it really is now.
func (f *File) Utimens(atim, mtim int64) experimentalsys.Errno {
	if e := f.bad(); e != 0 {
		return e
	}
	if atim == experimentalsys.UTIME_OMIT && mtim == experimentalsys.UTIME_OMIT {
		return 0
	}
	if !f.writable {
		const op = "utimens"
		rel, e := f.fs.realRel(f.fd)
		if e != 0 {
			return e
		}
		var st unix.Stat_t
		if err := unix.Fstat(f.fd, &st); err != nil {
			return errno(err)
		}
		if e := f.fs.mayChange(op, rel, &st); e != 0 {
			return e
		}
		if !f.fs.writable { // asked only once the rules have passed
			if e := f.fs.readOnly(op, f.fs.target(rel)); e != 0 {
				return e
			}
		}
	}
	ts := timespecs(atim, mtim)
	return errno(retry(func() error { return futimens(f.fd, &ts) }))
}

// Close implements experimentalsys.File. It works after Revoke too, so the
// host gets its descriptors back.
func (f *File) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	if f.counted {
		f.fs.limit.release()
	}
	if f.f != nil {
		return errno(f.f.Close())
	}
	return errno(unix.Close(f.fd))
}
