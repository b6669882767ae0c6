//go:build linux

package host

import (
	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// Rmdir implements experimentalsys.FS.
func (f *FS) Rmdir(p string) experimentalsys.Errno {
	return f.remove("rmdir", p, unix.AT_REMOVEDIR)
}

// Unlink implements experimentalsys.FS.
func (f *FS) Unlink(p string) experimentalsys.Errno {
	return f.remove("unlink", p, 0)
}

func (f *FS) remove(op, p string, flags int) (ret experimentalsys.Errno) {
	defer f.noteDone(&ret, decision.FSWrite, op, p)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	rel, slash := cleanRel(p)
	if escapes(rel) {
		return f.escape(decision.FSWrite, op, f.target(rel))
	}
	if rel == "." {
		if flags == 0 {
			return experimentalsys.EISDIR
		}
		return experimentalsys.EINVAL
	}
	if e := f.stateMove(op, rel); e != 0 {
		return e
	}
	if sf := f.stagedAt(rel); sf != nil {
		if flags != 0 || slash {
			return experimentalsys.ENOTDIR
		}
		f.stage.drop(sf) // the tool's own provisional file: nothing on the host
		return 0
	}
	check := func(rel string) experimentalsys.Errno {
		if p, ok := f.hidden(rel); ok {
			return f.denyHidden(decision.FSRead, op, rel, p, experimentalsys.ENOENT)
		}
		if p, ok := f.protected(rel); ok {
			return f.denyProtected(op, rel, p, "")
		}
		return f.mayMoveAway(op, rel)
	}
	if e := check(rel); e != 0 {
		return e
	}
	dir, name := splitRel(rel)
	parent, e := f.pinDir(decision.FSWrite, op, dir)
	if e != 0 {
		return e
	}
	defer parent.close()
	if e := check(joinRel(parent.rel, name)); e != 0 {
		return e
	}
	if e := f.stateEntry(op, parent, name); e != 0 {
		return e
	}
	if !f.writable {
		if e := f.readOnly(op, f.target(joinRel(parent.rel, name))); e != 0 {
			return e
		}
	}
	if slash && flags == 0 {
		var st unix.Stat_t
		if err := unix.Fstatat(parent.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return errno(err)
		} else if isDir(&st) {
			return experimentalsys.EISDIR
		}
		return experimentalsys.ENOTDIR
	}
	return errno(retry(func() error { return unix.Unlinkat(parent.fd, name, flags) }))
}
