//go:build linux

package host

import (
	"strconv"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/decision"
)

// Nested mounts (docs/filesystem.md, "Nested mounts"). When mounts nest, a
// part of an outer mount's tree is served by an inner one: the inner mount
// point ("work" in "/" when "/work" is mounted), and the inner mount's host
// directory where that lies inside the outer one's. The WASI layer hands
// paths that reach an inner mount point to the inner mount; what is left
// for FS is never to serve such a part itself, whatever way a path leads
// there (a symlink, a directory renamed by the host): every rule check on
// a real location first asks crossing, and a covered location is refused
// with EPERM and a boundary decision. So the inner mount's access, protect
// and hide rules are the only ones that apply below it, and a read-only
// inner mount stays read-only even inside a writable outer one.

// coverage is a part of the mount that another mount serves, or that no
// mount serves: the process filesystem (fs_proc_linux.go).
type coverage struct {
	rel  string // relative to the mount root, clean
	by   string // the guest path of the mount that serves it
	proc bool   // a procfs mount point: airlock's own process, refused as its state is
}

// cover marks rel (a clean path relative to the mount root) as served by
// the mount at guest path by. It is called before the mount is used.
func (f *FS) cover(rel, by string) {
	for _, c := range f.covered {
		if c.rel == rel {
			return
		}
	}
	f.covered = append(f.covered, coverage{rel: rel, by: by})
}

// hostRel reports where other's root really is inside f's root, if it is.
func (f *FS) hostRel(other *FS) (string, bool) {
	return relUnder([]byte(*other.realRoot.Load()), *f.realRoot.Load())
}

// coveredAt returns the coverage that rel lies in, if any.
func (f *FS) coveredAt(rel string) (coverage, bool) {
	for _, c := range f.covered {
		if rel == c.rel || strings.HasPrefix(rel, c.rel+"/") {
			return c, true
		}
	}
	return coverage{}, false
}

// crossing refuses an operation on the real location rel when another
// mount serves it, recording the refusal.
func (f *FS) crossing(kind decision.Kind, op, rel string) experimentalsys.Errno {
	if len(f.covered) == 0 {
		return 0
	}
	if c, ok := f.coveredAt(rel); ok {
		if c.proc {
			return f.deny(kind, op, f.target(rel), stateRule(procWhat, ""), stateOrigin, experimentalsys.EACCES)
		}
		return f.deny(kind, op, f.target(rel), f.edgeRule+" (served by mount "+strconv.Quote(c.by)+")", f.mount.Origin, experimentalsys.EPERM)
	}
	return 0
}

// beforeOpen refuses to open the name rel (whose parent is pinned) when
// another mount serves where it really is, before anything is opened: the
// open itself is an event on the other side (an inotify watch sees it; a
// FIFO would block). A final symlink is followed with O_PATH descriptors,
// which open nothing, to learn where it leads. Without nested mounts it
// does nothing.
func (f *FS) beforeOpen(kind decision.Kind, rel string, parent pin, name string) experimentalsys.Errno {
	if len(f.covered) == 0 {
		return 0
	}
	if e := f.crossing(kind, "open", joinRel(parent.rel, name)); e != 0 {
		return e
	}
	var st unix.Stat_t
	if unix.Fstatat(parent.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !isLink(&st) {
		return 0
	}
	p, e := f.pinFollow(kind, "open", rel, &st)
	if e != 0 {
		return e // what opening would have met: an escape (recorded), a loop, nothing there
	}
	defer p.close()
	return f.crossing(kind, "open", p.rel)
}

// crossingBelow refuses renaming or removing rel when a part another mount
// serves lies below it: moving it would carry that part along, out of
// where this mount knows it is covered.
func (f *FS) crossingBelow(kind decision.Kind, op, rel string) experimentalsys.Errno {
	if e := f.crossing(kind, op, rel); e != 0 {
		return e
	}
	for _, c := range f.covered {
		if rel == "." || strings.HasPrefix(c.rel, rel+"/") {
			if c.proc {
				return f.deny(kind, op, f.target(rel), stateRule(procWhat, " (below)"), stateOrigin, experimentalsys.EACCES)
			}
			return f.deny(kind, op, f.target(rel), f.edgeRule+" (holds mount "+strconv.Quote(c.by)+")", f.mount.Origin, experimentalsys.EPERM)
		}
	}
	return 0
}

// utimensNoFollow sets the times of the object rel names without following
// a final symlink (path_filestat_set_times without SYMLINK_FOLLOW). The
// parent is pinned and the rules are checked on its real location plus the
// name, and only then, in a read-only mount, is the change asked about,
// naming that real location; the change is made relative to the pinned
// parent.
func (f *FS) utimensNoFollow(p string, atim, mtim int64) (ret experimentalsys.Errno) {
	const op = "utimens"
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
	if pat, ok := f.protected(rel); ok {
		return f.denyProtected(op, rel, pat, "")
	}
	if rel == "." {
		return f.Utimens(".", atim, mtim)
	}
	dir, name := splitRel(rel)
	parent, e := f.pinDir(decision.FSWrite, op, dir)
	if e != 0 {
		return e
	}
	defer parent.close()
	real := joinRel(parent.rel, name)
	var st unix.Stat_t
	if err := unix.Fstatat(parent.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return errno(err)
	}
	if e := f.mayLook(op, real, &st); e != 0 {
		return e
	}
	if e := f.mayChange(op, real, &st); e != 0 {
		return e
	}
	if atim == experimentalsys.UTIME_OMIT && mtim == experimentalsys.UTIME_OMIT {
		return 0
	}
	// Asked about where the change lands, once every rule has passed.
	if !f.writable {
		if e := f.readOnly(op, f.target(real)); e != 0 {
			return e
		}
	}
	ts := timespecs(atim, mtim)
	return errno(retry(func() error { return unix.UtimesNanoAt(parent.fd, name, ts[:], unix.AT_SYMLINK_NOFOLLOW) }))
}

// mountRel is where the file really was when opened, relative to its
// mount's root: the WASI layer resolves paths given relative to an open
// directory from there.
func (f *File) mountRel() string { return f.rel }
