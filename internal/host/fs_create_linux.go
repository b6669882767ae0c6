//go:build linux

package host

import (
	"io/fs"
	"path"
	"strings"

	"github.com/airlockhq/airlock/decision"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// Mkdir implements experimentalsys.FS.
func (f *FS) Mkdir(p string, perm fs.FileMode) (ret experimentalsys.Errno) {
	const op = "mkdir"
	defer f.noteDone(&ret, decision.FSWrite, op, p)
	rel, _ := cleanRel(p)
	parent, name, e := f.beginCreate(op, rel)
	if e != 0 {
		return e
	}
	defer parent.close()
	return errno(retry(func() error { return unix.Mkdirat(parent.fd, name, createMode(perm, 0o777)) }))
}

// createMode is the mode a new file or directory gets. WASI preview 1 has
// no permission bits, and wazero asks for 0o600 files and 0o700 folders
// whatever the guest wanted, which leaves files in a shared repository
// unreadable by others; so airlock creates them as any program would,
// 0o666 or 0o777 narrowed by the process umask. A guest-chosen mode that is
// narrower (perm 0 aside) is kept.
func createMode(perm fs.FileMode, ordinary uint32) uint32 {
	if m := unixMode(perm); m != 0 && m != 0o600 && m != 0o700 {
		return m
	}
	return ordinary
}

// Symlink implements experimentalsys.FS. The link text is kept as given,
// but a link that would point outside the mount (absolute, or climbing
// above the root from where the link is) is refused with EPERM: nothing in
// the sandbox could follow it, and a tool run later on the host would.
func (f *FS) Symlink(oldPath, linkName string) (ret experimentalsys.Errno) {
	const op = "symlink"
	defer f.noteDone(&ret, decision.FSWrite, op, linkName)
	rel, _ := cleanRel(linkName)
	parent, name, e := f.beginCreate(op, rel)
	if e != 0 {
		return e
	}
	defer parent.close()
	if !linkStaysInside(parent.rel, oldPath) {
		return f.escape(decision.FSWrite, op, f.target(joinRel(parent.rel, name))+" -> "+oldPath)
	}
	return errno(retry(func() error { return unix.Symlinkat(oldPath, parent.fd, name) }))
}

// linkStaysInside reports whether a symlink whose text is target, made in
// the directory dir (its real location, relative to the mount root), points
// inside the mount whatever a program that follows it later resolves on the
// way. The text is judged as written, never cleaned: "x/../y" with x a
// symlink climbs from wherever x leads, so ".." may only lead the text
// (climbing from dir, which is real) and may not climb past the root.
func linkStaysInside(dir, target string) bool {
	if target == "" || path.IsAbs(target) {
		return false
	}
	depth := 0
	if dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	climbing := true
	for _, c := range strings.Split(target, "/") {
		switch {
		case c == "" || c == ".":
		case c == "..":
			if !climbing {
				return false
			}
			if depth--; depth < 0 {
				return false
			}
		default:
			climbing = false
		}
	}
	return true
}

// beginCreate makes the checks shared by operations that create the name
// rel, and pins its parent.
func (f *FS) beginCreate(op, rel string) (pin, string, experimentalsys.Errno) {
	if f.gate.Revoked() {
		return pin{}, "", experimentalsys.EACCES
	}
	if escapes(rel) {
		return pin{}, "", f.escape(decision.FSWrite, op, f.target(rel))
	}
	if rel == "." {
		return pin{}, "", experimentalsys.EEXIST
	}
	if e := f.stateCreate(op, rel); e != 0 {
		return pin{}, "", e
	}
	if e := f.mayCreate(op, rel); e != 0 {
		return pin{}, "", e
	}
	dir, name := splitRel(rel)
	parent, e := f.pinDir(decision.FSWrite, op, dir)
	if e != 0 {
		return pin{}, "", e
	}
	if e := f.mayCreate(op, joinRel(parent.rel, name)); e != 0 {
		parent.close()
		return pin{}, "", e
	}
	if !f.writable {
		if e := f.readOnly(op, f.target(joinRel(parent.rel, name))); e != 0 {
			parent.close()
			return pin{}, "", e
		}
	}
	return parent, name, 0
}
