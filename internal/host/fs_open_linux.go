//go:build linux

package host

import (
	"io/fs"
	"os"

	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// preopen reports whether an open is wazero opening the mount root for its
// pre-opened descriptor (lazily, with perm 0; guests always pass 0o600). It
// is not counted against the open-file limit, and wazero panics on any
// error but ENOENT from it.
func preopen(p string, flag experimentalsys.Oflag, perm fs.FileMode) bool {
	return p == "." && flag == experimentalsys.O_RDONLY && perm == 0
}

// OpenFile implements experimentalsys.FS.
func (f *FS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (_ experimentalsys.File, ret experimentalsys.Errno) {
	pre := preopen(p, flag, perm)
	if f.gate.Revoked() {
		if pre {
			return nil, experimentalsys.ENOENT
		}
		return nil, experimentalsys.EBADF
	}
	rel, slash := cleanRel(p)
	if slash {
		flag |= experimentalsys.O_DIRECTORY
	}
	write := flag&(experimentalsys.O_RDWR|experimentalsys.O_WRONLY|experimentalsys.O_TRUNC|experimentalsys.O_CREAT) != 0
	kind := decision.FSRead
	if write {
		kind = decision.FSWrite
	}
	if !pre {
		defer f.noteDone(&ret, kind, "open", rel) // learn mode (fs_use.go)
	}
	if escapes(rel) {
		return nil, f.escape(kind, "open", f.target(rel))
	}
	if !pre && !f.limit.acquire() {
		f.deny(kind, "open", f.target(rel), f.limit.rule(), f.limit.Origin, experimentalsys.EIO)
		// wazero has no EMFILE; the decision says what happened.
		return nil, experimentalsys.EIO
	}
	file, e := f.open(kind, rel, flag, perm, write)
	if e != 0 {
		if !pre {
			f.limit.release()
		}
		return nil, e
	}
	file.counted = !pre
	return file, 0
}

func (f *FS) open(kind decision.Kind, rel string, flag experimentalsys.Oflag, perm fs.FileMode, write bool) (*File, experimentalsys.Errno) {
	creat := flag&experimentalsys.O_CREAT != 0
	// The path as asked: refusals here only add to those below, which are
	// made on the real location.
	if p, ok := f.hidden(rel); ok {
		if creat {
			return nil, f.denyHidden(decision.FSWrite, "open", rel, p, experimentalsys.EACCES)
		}
		return nil, f.denyHidden(decision.FSRead, "open", rel, p, experimentalsys.ENOENT)
	}
	if e := f.stateAsked(kind, "open", rel, creat); e != 0 {
		return nil, e
	}
	if sf := f.stagedAt(rel); sf != nil {
		return f.openStaged(sf, flag)
	}
	if write {
		if p, ok := f.protected(rel); ok {
			return nil, f.denyProtected("open", rel, p, "")
		}
		if !f.writable {
			// Asked about where the write really lands, once that is
			// pinned (fs_readonly_linux.go).
			return f.openReadOnly(kind, rel, flag, perm)
		}
	}

	// Never blocking in open(2): special files are refused before it
	// (notSpecial), and O_NONBLOCK is the backstop for an entry swapped
	// for a FIFO between that check and the open, which would otherwise
	// hold the tool until its time limit. What is opened is checked again
	// below; only files and folders are served.
	oflag := unixFlags(flag) | unix.O_NONBLOCK
	var o opened
	var e experimentalsys.Errno
	switch {
	case flag&experimentalsys.O_NOFOLLOW != 0 || (creat && flag&experimentalsys.O_EXCL != 0):
		// The final name itself, through its pinned parent.
		o, e = f.openInParent(kind, rel, oflag, flag, false, perm)
	case creat:
		for try := 0; ; try++ {
			if o, e = f.openExisting(kind, rel, oflag); e != experimentalsys.ENOENT || try > 0 {
				break
			}
			// Not there: create it, never through a symlink.
			if o, e = f.openInParent(kind, rel, oflag, flag|experimentalsys.O_EXCL, true, perm); e != experimentalsys.EEXIST {
				break
			}
			// Made by someone else meanwhile: open it as existing.
		}
	default:
		o, e = f.openExisting(kind, rel, oflag)
	}
	if e != 0 {
		return nil, e
	}
	fd, real := o.fd, o.real
	closeIt := func() {
		if o.file != nil {
			o.file.Close()
		} else {
			unix.Close(fd)
		}
	}

	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		closeIt()
		return nil, errno(err)
	}
	if special(&st) {
		closeIt()
		return nil, experimentalsys.ENOTSUP
	}
	if flag&experimentalsys.O_NONBLOCK == 0 {
		unix.SetNonblock(fd, false)
	}
	e = f.mayLook("open", real, &st)
	if e == 0 && write {
		e = f.mayChange("open", real, &st)
	}
	if e == 0 && flag&experimentalsys.O_TRUNC != 0 && isReg(&st) && st.Size > 0 {
		if flag&(experimentalsys.O_RDWR|experimentalsys.O_WRONLY) != 0 {
			e = errno(retry(func() error { return unix.Ftruncate(fd, 0) }))
		} else {
			e = errno(unix.Truncate(procPath(fd), 0))
		}
	}
	if e != 0 {
		closeIt()
		return nil, e
	}
	return &File{
		fs:       f,
		f:        o.file,
		fd:       fd,
		rel:      real,
		flag:     flag &^ (experimentalsys.O_CREAT | experimentalsys.O_EXCL | experimentalsys.O_TRUNC),
		writable: flag&(experimentalsys.O_RDWR|experimentalsys.O_WRONLY) != 0,
		isDir:    isDir(&st),
		dev:      uint64(st.Dev),
		ino:      st.Ino,
		nonblock: flag&experimentalsys.O_NONBLOCK != 0,
	}, 0
}

// opened is a descriptor just opened for the guest and where it really is.
type opened struct {
	fd   int
	file *os.File // owns fd when set
	real string
}

// openExisting opens the object rel names. The parent is pinned beneath the
// root and the final name opened from it with O_NOFOLLOW, so the object
// really is the parent's real location plus that name. Only when the final
// name is a symlink is it followed, by os.Root, and then where the object
// really is comes from /proc/self/fd.
func (f *FS) openExisting(kind decision.Kind, rel string, oflag int) (opened, experimentalsys.Errno) {
	dir, name := splitRel(rel)
	parent, e := f.pinDir(kind, "open", dir)
	if e != 0 {
		return opened{}, e
	}
	defer parent.close()
	if e := f.beforeOpen(kind, rel, parent, name); e != 0 {
		return opened{}, e
	}
	if e := notSpecial(parent.fd, name); e != 0 {
		return opened{}, e
	}
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(parent.fd, name, oflag|unix.O_NOFOLLOW, 0)
		return err
	})
	if err == nil {
		return opened{fd: fd, real: joinRel(parent.rel, name)}, 0
	}
	var st unix.Stat_t
	if (err != unix.ELOOP && err != unix.ENOTDIR) || unix.Fstatat(parent.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !isLink(&st) {
		return opened{}, errno(err)
	}
	// A final symlink, followed beneath the root. What it leads to is
	// pinned with O_PATH (nothing on the way is opened), refused if it is
	// special, and only then opened, through /proc/self/fd: the very
	// object that was checked.
	var o opened
	pfd, err := openBeneath(f.rootFd, rel, unix.O_PATH|unix.O_CLOEXEC)
	switch err {
	case nil:
		var st unix.Stat_t
		if err := unix.Fstat(pfd, &st); err != nil || special(&st) {
			unix.Close(pfd)
			if err != nil {
				return opened{}, errno(err)
			}
			return opened{}, experimentalsys.ENOTSUP
		}
		err = retry(func() (err error) {
			o.fd, err = unix.Open(procPath(pfd), oflag, 0)
			return err
		})
		unix.Close(pfd)
		if err != nil {
			return opened{}, errno(err)
		}
	case unix.EXDEV: // an absolute symlink, or ".." above the root
		return opened{}, f.escape(kind, "open", f.target(rel))
	case unix.ENOSYS, unix.EPERM, unix.EAGAIN, unix.E2BIG: // no openat2: os.Root
		if fi, err := f.root.Stat(rel); err == nil && fi.Mode()&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
			return opened{}, experimentalsys.ENOTSUP
		}
		file, err := f.root.OpenFile(rel, oflag, 0)
		if err != nil {
			return opened{}, f.rootErr(kind, "open", f.target(rel), err)
		}
		o = opened{fd: int(file.Fd()), file: file} // Fd makes the descriptor blocking
		if oflag&unix.O_NONBLOCK != 0 {
			unix.SetNonblock(o.fd, true)
		}
	default:
		return opened{}, errno(err)
	}
	if o.real, e = f.realRel(o.fd); e != 0 {
		if o.file != nil {
			o.file.Close()
		} else {
			unix.Close(o.fd)
		}
		if e == experimentalsys.EPERM {
			e = f.escape(kind, "open", f.target(rel))
		}
		return opened{}, e
	}
	return o, 0
}

// openInParent opens the final name of rel with openat(O_NOFOLLOW) on its
// pinned parent. With O_CREAT in flag, the new name is checked first. When
// refuseLink is set and a symlink sits where the file would be made (a
// dangling one, since the caller found nothing to open), it returns ELOOP
// rather than create whatever the link names.
func (f *FS) openInParent(kind decision.Kind, rel string, oflag int, flag experimentalsys.Oflag, refuseLink bool, perm fs.FileMode) (opened, experimentalsys.Errno) {
	oflag |= unix.O_NOFOLLOW
	dir, name := splitRel(rel)
	parent, e := f.pinDir(kind, "open", dir)
	if e != 0 {
		return opened{}, e
	}
	defer parent.close()
	real := joinRel(parent.rel, name)
	if e := f.crossing(kind, "open", real); e != 0 {
		return opened{}, e
	}
	creat := flag&experimentalsys.O_CREAT != 0
	if flag&experimentalsys.O_EXCL == 0 {
		if e := notSpecial(parent.fd, name); e != 0 {
			return opened{}, e
		}
	}
	if creat {
		if e := f.mayCreate("open", real); e != 0 {
			return opened{}, e
		}
		oflag |= unix.O_CREAT
		if flag&experimentalsys.O_EXCL != 0 {
			oflag |= unix.O_EXCL
		}
	}
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(parent.fd, name, oflag, createMode(perm, 0o666))
		return err
	})
	if err == unix.EEXIST && refuseLink {
		var st unix.Stat_t
		if unix.Fstatat(parent.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && isLink(&st) {
			return opened{}, experimentalsys.ELOOP
		}
	}
	if err != nil {
		return opened{}, errno(err)
	}
	return opened{fd: fd, real: real}, 0
}
