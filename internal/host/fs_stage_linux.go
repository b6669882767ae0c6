//go:build linux

package host

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Writes into a read-only mount are asked about where they really land,
// and a temporary file renamed into place is one question about its
// destination. docs/filesystem.md ("Writes into a read-only mount") and
// RATIONALE.md ("Why is a temporary file in a read-only mount
// provisional?") say why.
//
// A provisional file is what an exclusive create (O_CREAT|O_EXCL, as every
// temporary-file maker does) of a temporary-looking name becomes in a
// read-only mount whose writes are asked about: an unnamed file
// (O_TMPFILE) in the directory it was asked for, invisible on the host.
// The guest sees it under its name (open, stat, write, close, utimens,
// unlink); nothing of it reaches the host until it is renamed, and that
// rename is the question, about the destination. Allowed, the file is
// linked in and renamed over the destination; refused, the rename fails
// with EROFS and the file stays provisional. When the run ends, a
// provisional file never renamed is discarded and recorded as a denial.

const (
	// maxStaged bounds the provisional files of one mount at once; an
	// exclusive create beyond it is asked about at once, as any other.
	maxStaged = 64
	// stageBudget bounds the bytes all provisional files of one mount may
	// hold together: they take space on the mount's filesystem, invisibly,
	// until the run ends.
	stageBudget = 256 << 20
)

// stagedFile is one provisional file.
type stagedFile struct {
	fd      int    // O_TMPFILE|O_RDWR, owned by the stage until placed or discarded
	rel     string // the name the guest gave it: its real parent + its name
	refused bool   // its rename was refused: that decision is its record
	full    bool   // a write beyond stageBudget was refused (recorded once)
}

// stageSet holds a mount's provisional files by the real location of
// their names.
type stageSet struct {
	n     atomic.Int32 // len(files), read without the lock on every lookup
	mu    sync.Mutex
	files map[string]*stagedFile
	once  sync.Once // registers discardStaged with the gate
}

func (s *stageSet) get(rel string) *stagedFile {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[rel]
}

func (s *stageSet) add(sf *stagedFile) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) >= maxStaged || s.files[sf.rel] != nil {
		return false
	}
	if s.files == nil {
		s.files = map[string]*stagedFile{}
	}
	s.files[sf.rel] = sf
	s.n.Store(int32(len(s.files)))
	return true
}

// drop forgets sf and closes its descriptor (placed, or unlinked by the
// guest: nothing to record).
func (s *stageSet) drop(sf *stagedFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files[sf.rel] == sf {
		delete(s.files, sf.rel)
		s.n.Store(int32(len(s.files)))
		unix.Close(sf.fd)
	}
}

// take removes and returns every provisional file.
func (s *stageSet) take() []*stagedFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stagedFile
	for _, sf := range s.files {
		out = append(out, sf)
	}
	s.files = nil
	s.n.Store(0)
	return out
}

func (s *stageSet) closeAll() {
	for _, sf := range s.take() {
		unix.Close(sf.fd)
	}
}

// size is the bytes all provisional files hold now.
func (s *stageSet) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sf := range s.files {
		var st unix.Stat_t
		if unix.Fstat(sf.fd, &st) == nil {
			n += st.Size
		}
	}
	return n
}

// looksTemporary reports whether a name given to an exclusive create is a
// temporary file's: what os.CreateTemp, mkstemp, editors and atomic
// writers make (".x.123.tmp", "x.tmp", "tmp123", ".#x", "x~", ".x.swp",
// "x.new", "x.part"). A name that is not is asked about at create, as any
// other write.
func looksTemporary(name string) bool {
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(name, "."), strings.HasSuffix(name, "~"),
		strings.Contains(lower, "tmp"), strings.Contains(lower, "temp"),
		strings.HasSuffix(lower, ".new"), strings.HasSuffix(lower, ".part"):
		return true
	}
	return false
}

// stagedAt returns the provisional file the guest path rel names, or nil.
// It costs nothing while the mount has none.
func (f *FS) stagedAt(rel string) *stagedFile {
	if f.stage.n.Load() == 0 || escapes(rel) || rel == "." {
		return nil
	}
	dir, name := splitRel(rel)
	parent, e := f.pinDir(decision.FSRead, "lookup", dir)
	if e != 0 {
		return nil
	}
	defer parent.close()
	return f.stage.get(joinRel(parent.rel, name))
}

// makeStaged makes the provisional file for an exclusive create of name in the
// pinned directory parent, and opens it for the guest. ok is false when
// the file cannot be provisional (too many, or a filesystem without
// O_TMPFILE): the create is then asked about as any other.
func (f *FS) makeStaged(parent pin, name string, flag experimentalsys.Oflag, perm fs.FileMode) (file *File, ok bool, e experimentalsys.Errno) {
	fd, err := unix.Openat(parent.fd, ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, createMode(perm, 0o666))
	if err != nil {
		return nil, false, 0
	}
	sf := &stagedFile{fd: fd, rel: joinRel(parent.rel, name)}
	if !f.stage.add(sf) {
		unix.Close(fd)
		return nil, false, 0
	}
	f.stage.once.Do(func() { f.gate.OnEnd(f.discardStaged) })
	file, e = f.openStaged(sf, flag&^(experimentalsys.O_CREAT|experimentalsys.O_EXCL))
	if e != 0 {
		f.stage.drop(sf)
		return nil, true, e
	}
	return file, true, 0
}

// openStaged opens the provisional file sf for the guest: a descriptor of
// its own (its own offset), reopened from sf's through /proc/self/fd.
func (f *FS) openStaged(sf *stagedFile, flag experimentalsys.Oflag) (*File, experimentalsys.Errno) {
	switch {
	case flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case flag&experimentalsys.O_DIRECTORY != 0:
		return nil, experimentalsys.ENOTDIR
	}
	oflag := unixFlags(flag &^ experimentalsys.O_DIRECTORY)
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Open(procPath(sf.fd), oflag, 0)
		return err
	})
	if err != nil {
		return nil, errno(err)
	}
	writable := flag&(experimentalsys.O_RDWR|experimentalsys.O_WRONLY) != 0
	if flag&experimentalsys.O_TRUNC != 0 {
		if err := retry(func() error { return unix.Ftruncate(sf.fd, 0) }); err != nil {
			unix.Close(fd)
			return nil, errno(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, errno(err)
	}
	return &File{
		fs: f, fd: fd, rel: sf.rel,
		flag:     flag &^ (experimentalsys.O_CREAT | experimentalsys.O_EXCL | experimentalsys.O_TRUNC),
		writable: writable,
		dev:      uint64(st.Dev), ino: st.Ino,
		nonblock: flag&experimentalsys.O_NONBLOCK != 0,
		staged:   sf,
	}, 0
}

func (sf *stagedFile) stat() (sysapi.Stat_t, experimentalsys.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(sf.fd, &st); err != nil {
		return sysapi.Stat_t{}, errno(err)
	}
	st.Nlink = 1 // it has the name the guest gave it
	return toStat(&st), 0
}

// stageRoom refuses a write to a provisional file that would take the
// mount's provisional files past stageBudget: grow is how many bytes the
// write may add. The first refusal of each file is recorded.
func (f *FS) stageRoom(sf *stagedFile, grow int64) experimentalsys.Errno {
	if grow <= 0 || f.stage.size()+grow <= stageBudget {
		return 0
	}
	if !sf.full {
		sf.full = true
		f.gate.Note(decision.Request{Kind: decision.FSWrite, Op: "write", Target: f.target(sf.rel), Policy: policy.Deny,
			Rule: "provisional files in a read-only mount hold at most 256 MiB", Origin: f.mount.Origin}, false, "EIO")
	}
	return experimentalsys.EIO // wazero has no ENOSPC
}

// placeStaged is the rename of the provisional file sf to the guest path
// trel: the one question about the write, naming where it really lands.
// Allowed, the file is linked into the destination's directory under a
// fresh name and renamed over the destination, atomically.
func (f *FS) placeStaged(sf *stagedFile, trel string, tslash bool) experimentalsys.Errno {
	const op = "rename"
	if escapes(trel) {
		return f.escape(decision.FSWrite, op, f.target(trel))
	}
	if tslash {
		return experimentalsys.ENOTDIR
	}
	if e := f.mayCreate(op, trel); e != 0 {
		return e
	}
	if e := f.mayMoveInto(op, trel); e != 0 {
		return e
	}
	tdir, tname := splitRel(trel)
	tp, e := f.pinDir(decision.FSWrite, op, tdir)
	if e != 0 {
		return e
	}
	defer tp.close()
	if e := f.stateEntry(op, tp, tname); e != 0 {
		return e
	}
	real := joinRel(tp.rel, tname)
	if e := f.mayCreate(op, real); e != 0 {
		return e
	}
	if e := f.mayMoveInto(op, real); e != 0 {
		return e
	}
	var st unix.Stat_t
	if err := unix.Fstatat(tp.fd, tname, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && isDir(&st) {
		return experimentalsys.EISDIR
	}
	if real == sf.rel {
		return 0 // renamed to itself
	}
	if e := f.readOnly(op, f.target(real)); e != 0 {
		sf.refused = true
		return e
	}
	var b [8]byte
	rand.Read(b[:])
	tmp := ".airlock-" + hex.EncodeToString(b[:])
	if err := retry(func() error {
		return unix.Linkat(unix.AT_FDCWD, procPath(sf.fd), tp.fd, tmp, unix.AT_SYMLINK_FOLLOW)
	}); err != nil {
		return errno(err) // another filesystem below the mount: EXDEV, as EIO
	}
	keepMode(tp.fd, tmp, tp.fd, tname)
	if err := retry(func() error { return unix.Renameat(tp.fd, tmp, tp.fd, tname) }); err != nil {
		unix.Unlinkat(tp.fd, tmp, 0)
		return errno(err)
	}
	f.stage.drop(sf)
	return 0
}

// discardStaged runs when the run ends: each provisional file never renamed
// into place is dropped, and recorded as a denial unless its rename was
// refused (that refusal is its record).
func (f *FS) discardStaged() {
	for _, sf := range f.stage.take() {
		unix.Close(sf.fd)
		if sf.refused {
			continue
		}
		f.gate.Note(decision.Request{Kind: decision.FSWrite, Op: "open", Target: f.target(sf.rel), Policy: policy.Deny,
			Rule: "a provisional file in a read-only mount, never renamed into place: discarded", Origin: f.mount.Origin}, false, "")
	}
}
