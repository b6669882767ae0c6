//go:build linux

package host

import (
	"io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// openReadOnly opens rel for writing in a read-only mount. The question
// (FS.readOnly) names where the write really lands, once that is pinned:
//
//   - an existing object is pinned with O_PATH (following symlinks beneath
//     the root, unless O_NOFOLLOW), checked, asked about at its real
//     location, and only then opened for writing, through /proc/self/fd,
//     so the object opened is the one asked about, and opening it (a FIFO,
//     say) does nothing before the answer;
//   - a new name is asked about in its pinned parent, then created there
//     with O_EXCL|O_NOFOLLOW; an exclusive create of a temporary-looking
//     name is provisional instead, and asked about when it is renamed
//     (fs_stage_linux.go).
//
// Grants match what is asked, so asking about the real location is what
// lets a grant for a folder cover that folder and nothing a symlink in it
// leads to.
func (f *FS) openReadOnly(kind decision.Kind, rel string, flag experimentalsys.Oflag, perm fs.FileMode) (*File, experimentalsys.Errno) {
	const op = "open"
	creat := flag&experimentalsys.O_CREAT != 0
	excl := creat && flag&experimentalsys.O_EXCL != 0
	nofollow := flag&experimentalsys.O_NOFOLLOW != 0 || excl

	var st unix.Stat_t
	var pn pin
	var e experimentalsys.Errno
	if nofollow {
		pn, e = f.pinNoFollow(kind, op, rel, &st)
	} else {
		pn, e = f.pinFollow(kind, op, rel, &st)
	}
	switch {
	case e == 0:
		defer pn.close()
		return f.openExistingReadOnly(kind, pn, &st, flag)
	case e == experimentalsys.ENOENT && creat:
		return f.createReadOnly(kind, rel, flag, perm)
	}
	return nil, e
}

// openExistingReadOnly is openReadOnly for the object pinned by pn.
func (f *FS) openExistingReadOnly(kind decision.Kind, pn pin, st *unix.Stat_t, flag experimentalsys.Oflag) (*File, experimentalsys.Errno) {
	const op = "open"
	switch {
	case flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case isLink(st):
		return nil, experimentalsys.ELOOP // O_NOFOLLOW on a symlink
	case flag&experimentalsys.O_DIRECTORY != 0 && !isDir(st):
		return nil, experimentalsys.ENOTDIR
	case isDir(st):
		return nil, experimentalsys.EISDIR
	case special(st):
		return nil, experimentalsys.ENOTSUP
	}
	if e := f.mayLook(op, pn.rel, st); e != 0 {
		return nil, e
	}
	if e := f.mayChange(op, pn.rel, st); e != 0 {
		return nil, e
	}
	if e := f.readOnly(op, f.target(pn.rel)); e != 0 {
		return nil, e
	}
	oflag := unixFlags(flag &^ experimentalsys.O_DIRECTORY)
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Open(procPath(pn.fd), oflag, 0)
		return err
	})
	if err != nil {
		return nil, errno(err)
	}
	return f.finishOpen(fd, pn.rel, flag)
}

// createReadOnly is openReadOnly for a name that does not exist yet.
func (f *FS) createReadOnly(kind decision.Kind, rel string, flag experimentalsys.Oflag, perm fs.FileMode) (*File, experimentalsys.Errno) {
	const op = "open"
	dir, name := splitRel(rel)
	parent, e := f.pinDir(kind, op, dir)
	if e != 0 {
		return nil, e
	}
	defer parent.close()
	if e := f.stateEntry(op, parent, name); e != 0 {
		return nil, e
	}
	real := joinRel(parent.rel, name)
	if e := f.mayCreate(op, real); e != 0 {
		return nil, e
	}
	if flag&experimentalsys.O_EXCL != 0 && f.ReadOnlyVerdict == policy.Ask && looksTemporary(name) {
		if file, ok, e := f.makeStaged(parent, name, flag, perm); ok {
			return file, e
		}
	}
	if e := f.readOnly(op, f.target(real)); e != 0 {
		return nil, e
	}
	oflag := unixFlags(flag) | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Openat(parent.fd, name, oflag, createMode(perm, 0o666))
		return err
	})
	if err == unix.EEXIST && flag&experimentalsys.O_EXCL == 0 {
		// Made meanwhile (or a dangling symlink sits there): never created
		// through, nor opened without being asked about where it is.
		return nil, experimentalsys.ELOOP
	}
	if err != nil {
		return nil, errno(err)
	}
	return f.finishOpen(fd, real, flag)
}

// finishOpen truncates (O_TRUNC) and wraps a descriptor just opened for
// writing in a read-only mount.
func (f *FS) finishOpen(fd int, real string, flag experimentalsys.Oflag) (*File, experimentalsys.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, errno(err)
	}
	if flag&experimentalsys.O_TRUNC != 0 && isReg(&st) && st.Size > 0 {
		var err error
		if flag&(experimentalsys.O_RDWR|experimentalsys.O_WRONLY) != 0 {
			err = retry(func() error { return unix.Ftruncate(fd, 0) })
		} else {
			err = unix.Truncate(procPath(fd), 0)
		}
		if err != nil {
			unix.Close(fd)
			return nil, errno(err)
		}
	}
	return &File{
		fs:       f,
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
