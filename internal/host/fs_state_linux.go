//go:build linux

package host

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/decision"
)

// This file keeps airlock's own state (State) out of a mount's reach. The
// state paths that lie inside the mount are rules on real locations, like
// anchored protect patterns that no policy can lift: nothing at or below
// one may be written, created, truncated, chmodded, touched, renamed,
// removed or linked (a secret one not even read), and no entry on the way
// to one (an anchor) may be renamed, removed or replaced, since airlock's
// next lookup would then land where the tool chose. Whatever reaches the
// state under another name (a hard link made earlier, a bind mount) is
// caught by device and inode: the objects a call opens or changes, and the
// directory a call creates, renames or removes in.

// fsState is a State as seen from one mount: paths relative to the real
// mount root.
type fsState struct {
	s       *State
	objs    []relObj    // state paths within the mount; "." is the whole mount
	anchors []relAnchor // anchors strictly within the mount
	root    *stateObj   // the state the mount root is in by device and inode, or nil
}

type relObj struct {
	rel string
	obj *stateObj
}

type relAnchor struct {
	rel string
	obj *stateObj
}

// GuardState makes the state paths of s unreachable through this mount.
// Call it once, before the FS is mounted; s may be shared by every mount
// of a run. A mount whose host directory lies inside secret state (the
// compile cache, a grants file) is refused.
func (f *FS) GuardState(s *State) error {
	if s == nil {
		return nil
	}
	s.index.build(s)
	root := *f.realRoot.Load()
	st := &fsState{s: s}
	for i := range s.objs {
		o := &s.objs[i]
		switch {
		case under(root, o.real):
			if o.secret {
				return fmt.Errorf("policy filesystem for %s: %s is inside airlock's %s (%s), which no tool may reach", f.guestName(), root, o.what, o.real)
			}
			st.objs = append(st.objs, relObj{".", o})
		case under(o.real, root):
			st.objs = append(st.objs, relObj{hostRel(root, o.real), o})
		}
	}
	// The paths as airlock names them, seen from the mount's host path as
	// the policy names it: a guest path that matches one is refused before
	// any lookup, so that nobody is asked about a write that cannot be
	// allowed. (Where it really leads is checked again after the lookup.)
	if host, err := filepath.Abs(f.mount.Host); err == nil {
		host = filepath.Clean(host)
		for i := range s.objs {
			o := &s.objs[i]
			if o.asked != host && under(o.asked, host) && (o.asked != o.real || host != root) {
				st.objs = append(st.objs, relObj{hostRel(host, o.asked), o})
			}
		}
	}
	for _, a := range s.anchors {
		if a.path != root && under(a.path, root) {
			st.anchors = append(st.anchors, relAnchor{hostRel(root, a.path), &s.objs[a.obj]})
		}
	}
	var rst unix.Stat_t
	if unix.Fstat(f.rootFd, &rst) == nil {
		if o := s.index.dir(&rst); o != nil {
			if o.secret {
				return fmt.Errorf("policy filesystem for %s: %s is airlock's %s (%s) under another name, which no tool may reach", f.guestName(), root, o.what, o.real)
			}
			st.root = o
		}
	}
	f.state = st
	return nil
}

func (f *FS) guestName() string {
	if f.guest == "" {
		return "/"
	}
	return f.guest
}

// hostRel is p relative to root (p beneath root), slash-separated.
func hostRel(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return "."
	}
	return filepath.ToSlash(rel)
}

// relAtOrBelow reports whether rel is at or below base (both clean relative
// paths; "." is the root).
func relAtOrBelow(rel, base string) bool {
	return base == "." || rel == base || strings.HasPrefix(rel, base+"/")
}

// covering returns the state path at or above rel, if any; with secret,
// only a secret one.
func (st *fsState) covering(rel string, secret bool) *stateObj {
	for _, o := range st.objs {
		if (!secret || o.obj.secret) && relAtOrBelow(rel, o.rel) {
			return o.obj
		}
	}
	return nil
}

// holding returns a state path or anchor at or below rel: moving or
// removing rel, or making something new there, would change where
// airlock's lookup of that state path lands.
func (st *fsState) holding(rel string) *stateObj {
	for _, o := range st.objs {
		if relAtOrBelow(o.rel, rel) {
			return o.obj
		}
	}
	for _, a := range st.anchors {
		if relAtOrBelow(a.rel, rel) {
			return a.obj
		}
	}
	return nil
}

func (f *FS) denyState(kind decision.Kind, op, target string, o *stateObj, how string) experimentalsys.Errno {
	return f.deny(kind, op, target, stateRule(o.what, how), stateOrigin, experimentalsys.EACCES)
}

// stateAsked checks the path as the guest asked for it, before any lookup
// (and before a read-only mount would ask anyone about a write that is
// refused anyway). kind fs.read refuses secret state; fs.write refuses
// state, and with holds also the entries on the way to it.
func (f *FS) stateAsked(kind decision.Kind, op, rel string, holds bool) experimentalsys.Errno {
	st := f.state
	if st == nil || len(st.objs)+len(st.anchors) == 0 {
		return 0
	}
	if kind == decision.FSRead {
		if o := st.covering(rel, true); o != nil {
			return f.denyState(kind, op, f.target(rel), o, "")
		}
		return 0
	}
	if o := st.covering(rel, false); o != nil {
		return f.denyState(kind, op, f.target(rel), o, "")
	}
	if holds {
		if o := st.holding(rel); o != nil {
			return f.denyState(kind, op, f.target(rel), o, " (below)")
		}
	}
	return 0
}

// stateLook checks that the object at rel (its real location), described
// by st, may be read: not secret state, under any name.
func (f *FS) stateLook(op, rel string, st *unix.Stat_t) experimentalsys.Errno {
	s := f.state
	if s == nil {
		return 0
	}
	if o := s.covering(rel, true); o != nil {
		return f.denyState(decision.FSRead, op, f.target(rel), o, "")
	}
	if st != nil {
		if o := s.s.index.object(st); o != nil && o.secret {
			return f.denyState(decision.FSRead, op, f.target(rel), o, " (another name)")
		}
	}
	return 0
}

// stateChange checks that the object at rel (its real location), described
// by st, may be changed: not state, under any name.
func (f *FS) stateChange(op, rel string, st *unix.Stat_t) experimentalsys.Errno {
	s := f.state
	if s == nil {
		return 0
	}
	if o := s.covering(rel, false); o != nil {
		return f.denyState(decision.FSWrite, op, f.target(rel), o, "")
	}
	if st != nil {
		if o := s.s.index.object(st); o != nil {
			return f.denyState(decision.FSWrite, op, f.target(rel), o, " (another name)")
		}
	}
	return 0
}

// stateCreate checks that the name rel (real parent plus new name) may be
// made: not inside state, and (but for a directory) not an entry on the
// way to it. An empty directory where airlock will make one changes
// nothing; a file or symlink there would.
func (f *FS) stateCreate(op, rel string) experimentalsys.Errno {
	return f.stateAsked(decision.FSWrite, op, rel, op != "mkdir")
}

// stateMove checks that rel (a real location) may be renamed, removed or
// replaced: not state, nothing on the way to it.
func (f *FS) stateMove(op, rel string) experimentalsys.Errno {
	return f.stateAsked(decision.FSWrite, op, rel, true)
}

// statePinned checks a directory just pinned for an operation of kind:
// nothing may be made, renamed or removed in a folder that is (under any
// name, a bind mount for one) inside airlock's state, and nothing read in
// one inside secret state.
func (f *FS) statePinned(kind decision.Kind, op string, p pin) experimentalsys.Errno {
	st := f.state
	if st == nil {
		return 0
	}
	var o *stateObj
	if p.rel == "." {
		o = st.root // the mount root, looked up once
	} else {
		var sb unix.Stat_t
		if unix.Fstat(p.fd, &sb) != nil {
			return 0
		}
		o = st.s.index.dir(&sb)
	}
	if o == nil || (kind == decision.FSRead && !o.secret) {
		return 0
	}
	return f.denyState(kind, op, f.target(p.rel), o, " (another name)")
}

// stateEntry checks the entry name in the pinned directory dir before it
// is renamed or removed: not a state directory or an entry on the way to
// state under another name.
func (f *FS) stateEntry(op string, dir pin, name string) experimentalsys.Errno {
	if f.state == nil {
		return 0
	}
	var st unix.Stat_t
	if unix.Fstatat(dir.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return 0
	}
	if o := f.state.s.index.entry(&st); o != nil {
		return f.denyState(decision.FSWrite, op, f.target(joinRel(dir.rel, name)), o, " (another name)")
	}
	return 0
}

// ---- the index by device and inode ----

// maxStateEntries bounds each walk that builds the index.
const maxStateEntries = 100_000

// stateIndex finds state by device and inode. Directories at or below each
// state path, and every anchor, are indexed when the first mount is
// guarded: one walk that reads each folder's entries and looks closer
// only at subfolders. Files are indexed only when a call first meets a
// regular file with more than one link (a hard link made earlier): the
// only way a file of the state can have another name that no folder check
// catches.
type stateIndex struct {
	objs []stateObj

	once    sync.Once
	dirs    map[inodeKey]int // index into objs
	anchors map[inodeKey]int
	// What the index was built from, to tell whether it still holds
	// (unchanged): an inotify watch on every folder walked, and the inode
	// of every anchor.
	wmu       sync.Mutex // guards watch, watching and closed
	watch     int        // the inotify descriptor, when watching
	watching  bool
	closed    bool // given up (close): no descriptor is to be made
	anchorsAt []anchorSeen
	truncated bool // the walk stopped at maxStateEntries
	built     atomic.Bool

	filesOnce sync.Once
	files     map[inodeKey]int
}

// anchorSeen is an anchor as the index found it: its inode, or missing.
type anchorSeen struct {
	path    string
	key     inodeKey
	missing bool
}

// watchMask is what makes a watched folder's index stale: an entry made,
// removed, renamed in or out, or its attributes changed (a subfolder that
// could not be read may become readable), or the folder itself gone.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

func (x *stateIndex) build(s *State) {
	x.once.Do(func() {
		x.objs = s.objs
		x.dirs, x.anchors = map[inodeKey]int{}, map[inodeKey]int{}
		x.wmu.Lock()
		if !x.closed {
			if fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC); err == nil {
				x.watch, x.watching = fd, true
			}
		}
		x.wmu.Unlock()
		x.truncated = x.walkObjs(false)
		for _, a := range s.anchors {
			var st unix.Stat_t
			if unix.Lstat(a.path, &st) != nil {
				x.anchorsAt = append(x.anchorsAt, anchorSeen{path: a.path, missing: true})
				continue
			}
			k := inodeKey{uint64(st.Dev), st.Ino}
			x.anchorsAt = append(x.anchorsAt, anchorSeen{path: a.path, key: k})
			if _, ok := x.anchors[k]; !ok {
				x.anchors[k] = a.obj
			}
		}
		x.built.Store(true)
	})
}

// watchDir watches the folder open at fd, before its entries are read: a
// change after the watch is an event, one before it is in what is read.
func (x *stateIndex) watchDir(fd int) {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if !x.watching {
		return
	}
	if _, err := unix.InotifyAddWatch(x.watch, "/proc/self/fd/"+strconv.Itoa(fd), watchMask|unix.IN_ONLYDIR); err != nil {
		unix.Close(x.watch) // a folder unwatched: the index can never be trusted again
		x.watching = false
	}
}

// unchanged reports whether the index still describes the state: no
// watched folder gained, lost or renamed an entry or changed its
// attributes (one read of the inotify descriptor), and every anchor is the
// same inode, or still missing. The walk would find the same folders.
// Building the index walks every folder of the state, about five system
// calls each; this is one, and an lstat per anchor (see NewStateLike). An
// index not built yet holds nothing to check.
func (x *stateIndex) unchanged() bool {
	if !x.built.Load() {
		return true
	}
	if x.truncated {
		return false
	}
	x.wmu.Lock()
	var n int
	err := error(unix.EBADF)
	if x.watching {
		var buf [4096]byte
		n, err = unix.Read(x.watch, buf[:])
	}
	x.wmu.Unlock()
	if n > 0 || err != unix.EAGAIN {
		return false // an event, an overflow, no descriptor, or it failed
	}
	for _, a := range x.anchorsAt {
		var st unix.Stat_t
		err := unix.Lstat(a.path, &st)
		switch {
		case a.missing:
			if err == nil {
				return false
			}
		case err != nil, inodeKey{uint64(st.Dev), st.Ino} != a.key:
			return false
		}
	}
	return true
}

// close releases the inotify descriptor, now or, if the index is being
// built, as soon as it would be made. The index itself stays usable.
func (x *stateIndex) close() {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.closed = true
	if x.watching {
		unix.Close(x.watch)
		x.watching = false
	}
}

// walkObjs walks every state path: with files, recording regular files;
// without, only directories. It reports whether it stopped at
// maxStateEntries.
func (x *stateIndex) walkObjs(files bool) (truncated bool) {
	budget := maxStateEntries
	buf := make([]byte, 16<<10)
	for i, o := range x.objs {
		fd, err := unix.Open(o.real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			var st unix.Stat_t
			if files && unix.Lstat(o.real, &st) == nil && isReg(&st) {
				x.addFile(&st, i)
			}
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			unix.Close(fd)
			continue
		}
		if !files {
			x.addDir(&st, i)
			x.watchDir(fd)
		}
		x.walk(fd, i, files, &budget, buf)
	}
	return budget <= 0
}

func (x *stateIndex) addDir(st *unix.Stat_t, i int) {
	k := inodeKey{uint64(st.Dev), st.Ino}
	if _, ok := x.dirs[k]; !ok {
		x.dirs[k] = i
	}
}

func (x *stateIndex) addFile(st *unix.Stat_t, i int) {
	k := inodeKey{uint64(st.Dev), st.Ino}
	if _, ok := x.files[k]; !ok {
		x.files[k] = i
	}
}

// walk records what is below the directory fd; it closes fd.
func (x *stateIndex) walk(fd, i int, files bool, budget *int, buf []byte) {
	var subdirs []string
	for *budget > 0 {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0 && *budget > 0; {
			d, size := nextDirent(b)
			if size == 0 {
				break
			}
			b = b[size:]
			if d.ino == 0 || isDots(d.name) {
				continue
			}
			*budget--
			switch d.typ {
			case unix.DT_DIR:
				subdirs = append(subdirs, string(d.name))
				continue
			case unix.DT_REG:
				if !files {
					continue
				}
			case unix.DT_UNKNOWN:
			default:
				continue
			}
			var st unix.Stat_t
			if unix.Fstatat(fd, string(d.name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				continue
			}
			switch {
			case isDir(&st):
				subdirs = append(subdirs, string(d.name))
			case isReg(&st) && files:
				x.addFile(&st, i)
			}
		}
	}
	for _, name := range subdirs {
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			// Not walked (unreadable, or gone): if that changes, the
			// parent's watch says so (IN_ATTRIB, IN_DELETE).
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(sub, &st) == nil && !files {
			x.addDir(&st, i)
			x.watchDir(sub)
		}
		x.walk(sub, i, files, budget, buf)
	}
	unix.Close(fd)
}

// object returns the state path a file or directory belongs to. A regular
// file is looked up only when it has another name (nlink > 1); reaching
// one with a single name means reaching its folder, which is checked.
func (x *stateIndex) object(st *unix.Stat_t) *stateObj {
	switch {
	case isDir(st):
		return x.dir(st)
	case !isReg(st) || st.Nlink < 2 || len(x.objs) == 0:
		return nil
	}
	x.filesOnce.Do(func() {
		x.files = map[inodeKey]int{}
		x.walkObjs(true)
	})
	if i, ok := x.files[inodeKey{uint64(st.Dev), st.Ino}]; ok {
		return &x.objs[i]
	}
	return nil
}

// dir returns the state path a directory is at or below.
func (x *stateIndex) dir(st *unix.Stat_t) *stateObj {
	if i, ok := x.dirs[inodeKey{uint64(st.Dev), st.Ino}]; ok {
		return &x.objs[i]
	}
	return nil
}

// entry returns the state path an entry about to be renamed or removed
// belongs to or leads to: a state directory, or an anchor.
func (x *stateIndex) entry(st *unix.Stat_t) *stateObj {
	if o := x.dir(st); o != nil {
		return o
	}
	if i, ok := x.anchors[inodeKey{uint64(st.Dev), st.Ino}]; ok {
		return &x.objs[i]
	}
	return nil
}
