//go:build linux

package host

import (
	"io/fs"

	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// Lstat implements experimentalsys.FS.
func (f *FS) Lstat(p string) (sysapi.Stat_t, experimentalsys.Errno) {
	rel, slash := cleanRel(p)
	if slash {
		return f.Stat(p) // "link/" names what link points to
	}
	return f.stat("lstat", rel, false)
}

// Stat implements experimentalsys.FS.
func (f *FS) Stat(p string) (sysapi.Stat_t, experimentalsys.Errno) {
	rel, slash := cleanRel(p)
	st, e := f.stat("stat", rel, true)
	if e == 0 && slash && st.Mode&fs.ModeDir == 0 {
		return sysapi.Stat_t{}, experimentalsys.ENOTDIR
	}
	return st, e
}

func (f *FS) stat(op, rel string, follow bool) (_ sysapi.Stat_t, ret experimentalsys.Errno) {
	defer f.noteDone(&ret, decision.FSRead, op, rel)
	if f.gate.Revoked() {
		return sysapi.Stat_t{}, experimentalsys.EACCES
	}
	if escapes(rel) {
		return sysapi.Stat_t{}, f.escape(decision.FSRead, op, f.target(rel))
	}
	if p, ok := f.hidden(rel); ok {
		return sysapi.Stat_t{}, f.denyHidden(decision.FSRead, op, rel, p, experimentalsys.ENOENT)
	}
	if sf := f.stagedAt(rel); sf != nil {
		return sf.stat()
	}
	var st unix.Stat_t
	var p pin
	var e experimentalsys.Errno
	if follow {
		p, e = f.pinFollow(decision.FSRead, op, rel, &st)
	} else {
		p, e = f.pinNoFollow(decision.FSRead, op, rel, &st)
	}
	if e != 0 {
		return sysapi.Stat_t{}, e
	}
	defer p.close()
	if e := f.mayLook(op, p.rel, &st); e != 0 {
		return sysapi.Stat_t{}, e
	}
	return toStat(&st), 0
}

// Readlink implements experimentalsys.FS.
func (f *FS) Readlink(p string) (_ string, ret experimentalsys.Errno) {
	defer f.noteDone(&ret, decision.FSRead, "readlink", p)
	if f.gate.Revoked() {
		return "", experimentalsys.EACCES
	}
	rel, _ := cleanRel(p)
	if escapes(rel) {
		return "", f.escape(decision.FSRead, "readlink", f.target(rel))
	}
	if pat, ok := f.hidden(rel); ok {
		return "", f.denyHidden(decision.FSRead, "readlink", rel, pat, experimentalsys.ENOENT)
	}
	var st unix.Stat_t
	pn, e := f.pinNoFollow(decision.FSRead, "readlink", rel, &st)
	if e != 0 {
		return "", e
	}
	defer pn.close()
	if e := f.mayLook("readlink", pn.rel, &st); e != 0 {
		return "", e
	}
	if !isLink(&st) {
		return "", experimentalsys.EINVAL
	}
	var buf [unix.PathMax]byte
	n, err := unix.Readlinkat(pn.fd, "", buf[:])
	if err != nil {
		return "", errno(err)
	}
	return string(buf[:n]), 0
}

// Chmod implements experimentalsys.FS.
func (f *FS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	return f.changeAttr("chmod", p, func(proc string) error {
		return unix.Fchmodat(unix.AT_FDCWD, proc, unixMode(perm), 0)
	})
}

// Utimens implements experimentalsys.FS.
func (f *FS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	if atim == experimentalsys.UTIME_OMIT && mtim == experimentalsys.UTIME_OMIT {
		_, e := f.Stat(p) // nothing to change; the path must still be there
		return e
	}
	ts := timespecs(atim, mtim)
	return f.changeAttr("utimens", p, func(proc string) error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, proc, ts[:], 0)
	})
}

// changeAttr pins the object p names (following symlinks), checks it, and
// changes it through /proc/self/fd/N, which names the pinned object.
func (f *FS) changeAttr(op, p string, change func(proc string) error) (ret experimentalsys.Errno) {
	defer f.noteDone(&ret, decision.FSWrite, op, p)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	rel, _ := cleanRel(p)
	if escapes(rel) {
		return f.escape(decision.FSWrite, op, f.target(rel))
	}
	if pat, ok := f.hidden(rel); ok {
		return f.denyHidden(decision.FSRead, op, rel, pat, experimentalsys.ENOENT)
	}
	if e := f.stateAsked(decision.FSWrite, op, rel, false); e != 0 {
		return e
	}
	if sf := f.stagedAt(rel); sf != nil {
		return errno(retry(func() error { return change(procPath(sf.fd)) }))
	}
	if pat, ok := f.protected(rel); ok {
		return f.denyProtected(op, rel, pat, "")
	}
	var st unix.Stat_t
	pn, e := f.pinFollow(decision.FSWrite, op, rel, &st)
	if e != 0 {
		return e
	}
	defer pn.close()
	if e := f.mayLook(op, pn.rel, &st); e != 0 {
		return e
	}
	if e := f.mayChange(op, pn.rel, &st); e != 0 {
		return e
	}
	if !f.writable {
		if e := f.readOnly(op, f.target(pn.rel)); e != 0 {
			return e
		}
	}
	return errno(retry(func() error { return change(procPath(pn.fd)) }))
}
