//go:build linux

package host

import (
	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// Rename implements experimentalsys.FS.
func (f *FS) Rename(from, to string) (ret experimentalsys.Errno) {
	const op = "rename"
	defer f.noteDone(&ret, decision.FSWrite, op, from)
	defer f.noteDone(&ret, decision.FSWrite, op, to)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	frel, fslash := cleanRel(from)
	trel, tslash := cleanRel(to)
	what := func(a, b string) string { return f.target(a) + " -> " + f.target(b) }
	if escapes(frel) || escapes(trel) {
		return f.escape(decision.FSWrite, op, what(frel, trel))
	}
	if frel == "." || trel == "." {
		return experimentalsys.EINVAL
	}
	if e := f.stateMove(op, frel); e != 0 {
		return e
	}
	if e := f.stateMove(op, trel); e != 0 {
		return e
	}
	if sf := f.stagedAt(frel); sf != nil {
		// A provisional file renamed into place: the one question, about
		// where it lands (fs_stage_linux.go).
		return f.placeStaged(sf, trel, tslash)
	}
	// As asked, then again on the real locations.
	check := func(frel, trel string) experimentalsys.Errno {
		if p, ok := f.hidden(frel); ok {
			return f.denyHidden(decision.FSRead, op, frel, p, experimentalsys.ENOENT)
		}
		if p, ok := f.protected(frel); ok {
			return f.denyProtected(op, frel, p, "")
		}
		if e := f.mayMoveAway(op, frel); e != 0 {
			return e
		}
		if e := f.mayCreate(op, trel); e != 0 {
			return e
		}
		return f.mayMoveInto(op, trel)
	}
	if e := check(frel, trel); e != 0 {
		return e
	}
	fp, tp, fname, tname, e := f.pinParents(op, frel, trel, check)
	if e != 0 {
		return e
	}
	defer fp.close()
	defer tp.close()
	if e := f.stateEntry(op, fp, fname); e != 0 {
		return e
	}
	if e := f.stateEntry(op, tp, tname); e != 0 {
		return e
	}
	if !f.writable {
		if e := f.readOnly(op, what(joinRel(fp.rel, fname), joinRel(tp.rel, tname))); e != 0 {
			return e
		}
	}
	if fslash || tslash {
		var st unix.Stat_t
		if err := unix.Fstatat(fp.fd, fname, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return errno(err)
		} else if !isDir(&st) {
			return experimentalsys.ENOTDIR
		}
	}
	keepMode(fp.fd, fname, tp.fd, tname)
	return errno(retry(func() error { return unix.Renameat(fp.fd, fname, tp.fd, tname) }))
}

// keepMode gives a regular file that is about to replace another regular
// file the permission bits of the one it replaces. Guests cannot set
// permission bits (WASI preview 1 has no chmod), so without this an editor
// or tool that writes a temporary file and renames it over the original
// (the usual atomic write) would drop an executable bit on every edit.
func keepMode(fromDir int, from string, toDir int, to string) {
	var src, dst unix.Stat_t
	if unix.Fstatat(fromDir, from, &src, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		unix.Fstatat(toDir, to, &dst, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	if src.Nlink != 1 || src.Mode&unix.S_IFMT != unix.S_IFREG || dst.Mode&unix.S_IFMT != unix.S_IFREG || src.Mode&0o7777 == dst.Mode&0o7777 {
		return
	}
	// O_NOFOLLOW|O_PATH pins the very entry that was checked.
	fd, err := unix.Openat(fromDir, from, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_ = unix.Fchmodat(unix.AT_FDCWD, procPath(fd), dst.Mode&0o777, 0)
}

// Link implements experimentalsys.FS. The new name is a second name for the
// same file, so a protected or hidden file cannot be linked at all.
func (f *FS) Link(oldPath, newPath string) (ret experimentalsys.Errno) {
	const op = "link"
	defer f.noteDone(&ret, decision.FSRead, op, oldPath)
	defer f.noteDone(&ret, decision.FSWrite, op, newPath)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	orel, _ := cleanRel(oldPath)
	nrel, _ := cleanRel(newPath)
	what := f.target(orel) + " -> " + f.target(nrel)
	if escapes(orel) || escapes(nrel) {
		return f.escape(decision.FSWrite, op, what)
	}
	if e := f.stateAsked(decision.FSWrite, op, orel, false); e != 0 {
		return e
	}
	if e := f.stateCreate(op, nrel); e != 0 {
		return e
	}
	check := func(orel, nrel string) experimentalsys.Errno {
		if e := f.crossing(decision.FSWrite, op, orel); e != 0 {
			return e
		}
		if p, ok := f.hidden(orel); ok {
			return f.denyHidden(decision.FSRead, op, orel, p, experimentalsys.ENOENT)
		}
		if p, ok := f.protected(orel); ok {
			return f.denyProtected(op, orel, p, "")
		}
		if e := f.stateAsked(decision.FSWrite, op, orel, false); e != 0 {
			return e
		}
		return f.mayCreate(op, nrel)
	}
	if e := check(orel, nrel); e != 0 {
		return e
	}
	op1, np, oname, nname, e := f.pinParents(op, orel, nrel, check)
	if e != 0 {
		return e
	}
	defer op1.close()
	defer np.close()
	if !f.writable {
		if e := f.readOnly(op, f.target(joinRel(op1.rel, oname))+" -> "+f.target(joinRel(np.rel, nname))); e != 0 {
			return e
		}
	}
	// The source is the entry itself (no AT_SYMLINK_FOLLOW): a symlink is
	// linked as a symlink, never as what it points to.
	return errno(retry(func() error { return unix.Linkat(op1.fd, oname, np.fd, nname, 0) }))
}

// pinParents pins the folders that hold from and to, for an operation on
// two names (rename, link), and checks the two names again with check
// where those folders really are: a folder swapped for a link between the
// first check and the pin is caught here. It returns the pinned folders,
// which the caller closes, and the names in them; on an error nothing is
// left open.
func (f *FS) pinParents(op, from, to string, check func(from, to string) experimentalsys.Errno) (fp, tp pin, fname, tname string, e experimentalsys.Errno) {
	fdir, fname := splitRel(from)
	tdir, tname := splitRel(to)
	if fp, e = f.pinDir(decision.FSWrite, op, fdir); e != 0 {
		return pin{}, pin{}, "", "", e
	}
	if tp, e = f.pinDir(decision.FSWrite, op, tdir); e != 0 {
		fp.close()
		return pin{}, pin{}, "", "", e
	}
	if e = check(joinRel(fp.rel, fname), joinRel(tp.rel, tname)); e != 0 {
		fp.close()
		tp.close()
		return pin{}, pin{}, "", "", e
	}
	return fp, tp, fname, tname, 0
}
