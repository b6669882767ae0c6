//go:build linux

package host

import (
	"os"
	"path"
	"strings"

	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// pin is an object (or parent directory) held by a descriptor, with where
// it really is.
type pin struct {
	f   *os.File // owns fd when set
	fd  int
	own bool // fd is a raw descriptor to close
	rel string
}

func (p pin) close() {
	if p.f != nil {
		p.f.Close()
	} else if p.own {
		unix.Close(p.fd)
	}
}

// pinDir pins directory rel beneath the root, following symlinks inside the
// root, and learns where it really is.
//
// It walks rel one name at a time, each opened with O_NOFOLLOW from the
// descriptor of the one before, starting at the pinned root: when that
// succeeds, no symlink was crossed and the directory really is at rel (the
// walk itself tracks where it is). When a name on the way is a symlink (or
// not a directory), os.Root resolves the whole path instead and
// /proc/self/fd says where the directory really is.
func (f *FS) pinDir(kind decision.Kind, op, rel string) (pin, experimentalsys.Errno) {
	if rel == "." {
		return pin{fd: f.rootFd, rel: "."}, f.statePinned(kind, op, pin{fd: f.rootFd, rel: "."})
	}
	fd := f.rootFd
	for rest := rel; ; {
		name, tail, more := strings.Cut(rest, "/")
		var next int
		err := retry(func() (err error) {
			next, err = unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			return err
		})
		if fd != f.rootFd {
			unix.Close(fd)
		}
		switch err {
		case nil:
		case unix.ENOTDIR, unix.ELOOP:
			return f.pinDirRoot(kind, op, rel)
		default:
			return pin{}, errno(err)
		}
		if fd = next; !more {
			p := pin{fd: fd, own: true, rel: rel}
			if e := f.statePinned(kind, op, p); e != 0 {
				p.close()
				return pin{}, e
			}
			return p, 0
		}
		rest = tail
	}
}

// pinDirRoot is pinDir for paths with symlinks in them: the kernel
// resolves the whole path beneath the root (openat2 with RESOLVE_BENEATH)
// with O_PATH, which opens nothing on the way, or, where the kernel has
// no openat2, os.Root does, opening each folder on the way.
func (f *FS) pinDirRoot(kind decision.Kind, op, rel string) (pin, experimentalsys.Errno) {
	var p pin
	fd, err := openBeneath(f.rootFd, rel, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	switch err {
	case nil:
		p = pin{fd: fd, own: true}
	case unix.EXDEV: // an absolute symlink, or ".." above the root
		return pin{}, f.escape(kind, op, f.target(rel))
	case unix.ENOSYS, unix.EPERM, unix.EAGAIN, unix.E2BIG: // no openat2 (or a seccomp filter), or a rename raced it
		file, err := f.root.OpenFile(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return pin{}, f.rootErr(kind, op, f.target(rel), err)
		}
		p = pin{f: file, fd: int(file.Fd())}
	default:
		return pin{}, errno(err)
	}
	var e experimentalsys.Errno
	if p.rel, e = f.realRel(p.fd); e != 0 {
		p.close()
		if e == experimentalsys.EPERM {
			e = f.escape(kind, op, f.target(rel))
		}
		return pin{}, e
	}
	if e := f.statePinned(kind, op, p); e != 0 {
		p.close()
		return pin{}, e
	}
	return p, 0
}

// pinNoFollow pins the object at rel itself: its parent is pinned, and the
// final name opened from it with O_PATH|O_NOFOLLOW, so a final symlink is
// the symlink, and the object really is at the parent's place plus name.
func (f *FS) pinNoFollow(kind decision.Kind, op, rel string, st *unix.Stat_t) (pin, experimentalsys.Errno) {
	p := pin{fd: f.rootFd, rel: "."}
	if rel != "." {
		dir, name := splitRel(rel)
		parent, e := f.pinDir(kind, op, dir)
		if e != 0 {
			return pin{}, e
		}
		var fd int
		err := retry(func() (err error) {
			fd, err = unix.Openat(parent.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			return err
		})
		parent.close()
		if err != nil {
			return pin{}, errno(err)
		}
		p = pin{fd: fd, own: true, rel: joinRel(parent.rel, name)}
	}
	if err := unix.Fstat(p.fd, st); err != nil {
		p.close()
		return pin{}, errno(err)
	}
	return p, 0
}

// maxSymlinks bounds how many symlinks one lookup follows, as Linux does.
const maxSymlinks = 40

// pinFollow pins the object rel names, following a final symlink, each hop
// resolved beneath the root from where the link really is.
func (f *FS) pinFollow(kind decision.Kind, op, rel string, st *unix.Stat_t) (pin, experimentalsys.Errno) {
	for hops := 0; ; hops++ {
		p, e := f.pinNoFollow(kind, op, rel, st)
		if e != 0 || !isLink(st) {
			return p, e
		}
		var buf [unix.PathMax]byte
		n, err := unix.Readlinkat(p.fd, "", buf[:])
		linkRel := p.rel
		p.close()
		switch {
		case err != nil:
			return pin{}, errno(err)
		case hops >= maxSymlinks:
			return pin{}, experimentalsys.ELOOP
		}
		link := string(buf[:n])
		if path.IsAbs(link) {
			return pin{}, f.escape(kind, op, f.target(linkRel))
		}
		if rel = path.Join(path.Dir(linkRel), link); escapes(rel) {
			return pin{}, f.escape(kind, op, f.target(linkRel))
		}
	}
}
