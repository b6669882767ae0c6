//go:build linux

package hostfuncs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// FS is airlock's policy filesystem for one mount: a wazero
// experimental/sys.FS that keeps the guest beneath the mount's host
// directory and applies the mount's access, protect and hide rules.
//
// Every path is resolved beneath the mount root with os.Root, so symlinks
// (planted on the host or made by the guest, absolute or relative) and ".."
// never lead out. Every rule is checked against where the object really is:
// the object, or for operations that create, rename, link or remove, its
// parent directory, is first pinned by a file descriptor, its real location
// is read from /proc/self/fd/N, and only then does the operation act,
// relative to that descriptor. A path component swapped for a symlink in
// between cannot redirect a pinned descriptor. See docs/filesystem.md.
//
// FS works on Linux only (it needs /proc/self/fd and the *at system calls).
// It is safe for concurrent use.
type FS struct {
	// ReadOnlyVerdict is what a write into a read-only mount gets: by default
	// policy.Deny. Set it to policy.Ask before the FS is mounted to let the
	// gate's Asker decide such writes one by one. Hidden and protected paths
	// are always denied, whatever this says.
	ReadOnlyVerdict policy.Verdict

	mount    policy.Mount
	guest    string // mount.Guest without a trailing "/" ("" for "/")
	gate     *Gate
	limit    *OpenFileLimit
	writable bool
	protect  []policy.Pattern
	hide     []policy.Pattern

	root     *os.Root
	rootDir  *os.File // the root, pinned, for the *at calls
	rootFd   int
	realRoot atomic.Pointer[string] // where rootFd really is

	roRule, edgeRule string

	covered []coverage // parts another (nested) mount serves, and /proc: fs_cover_linux.go, fs_proc_linux.go

	linksOnce sync.Once
	links     *linkSet

	state *fsState // airlock's own state within reach (fs_state_linux.go), or nil
	stage stageSet // provisional files (fs_stage_linux.go)
}

var _ experimentalsys.FS = (*FS)(nil)

// NewFS opens the mount's host directory and returns its policy filesystem.
// The runtime mounts it with
//
//	wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(fsys, m.Guest)
//
// gate receives every denial; openFiles (shared by all mounts of a run, nil
// for no limit) bounds the files open at once. When ".git" is protected and
// the mount root's ".git" is a file ("gitdir: <path>") or a symlink, the git
// directory it names is protected too, if it lies inside the mount.
//
// procMounts is where procfs is mounted (ProcessFSMounts, read once by the
// caller: behind the Landlock wall the mount table cannot be read); each
// mount point below the mount root is a part this mount never serves.
//
// Call Close when the run is over.
func NewFS(m policy.Mount, gate *Gate, openFiles *OpenFileLimit, procMounts []string) (*FS, error) {
	if gate == nil {
		return nil, fmt.Errorf("policy filesystem for %s: no gate", m.Guest)
	}
	if m.Host == "" {
		return nil, fmt.Errorf("policy filesystem for %s: no host directory", m.Guest)
	}
	f := &FS{
		mount:    m,
		guest:    strings.TrimSuffix(path.Clean("/"+m.Guest), "/"),
		gate:     gate,
		limit:    openFiles,
		writable: m.Access == policy.Write,
	}
	var err error
	if f.protect, err = compiled(m.Protect); err != nil {
		return nil, fmt.Errorf("policy filesystem for %s: protect: %w", m.Guest, err)
	}
	if f.hide, err = compiled(m.Hide); err != nil {
		return nil, fmt.Errorf("policy filesystem for %s: hide: %w", m.Guest, err)
	}
	guestName := m.Guest
	if guestName == "" {
		guestName = "/"
	}
	f.roRule = "mount " + strconv.Quote(guestName) + ` access = "read"`
	f.edgeRule = "mount " + strconv.Quote(guestName) + " boundary"

	if f.root, err = os.OpenRoot(m.Host); err != nil {
		return nil, fmt.Errorf("policy filesystem for %s: opening %s: %w", m.Guest, m.Host, err)
	}
	if f.rootDir, err = f.root.OpenFile(".", unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		f.root.Close()
		return nil, fmt.Errorf("policy filesystem for %s: opening %s: %w", m.Guest, m.Host, err)
	}
	f.rootFd = int(f.rootDir.Fd())
	real, err := f.readRoot()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("policy filesystem for %s: finding where %s really is through /proc/self/fd (Linux with /proc is required): %w", m.Guest, m.Host, err)
	}
	// The policy's rules were placed for where the host directory was when
	// it was resolved (policy.Mount.Real); a path component swapped for a
	// symbolic link since then would put another directory under them.
	if m.Real != "" && real != m.Real {
		f.Close()
		return nil, fmt.Errorf("policy filesystem for %s: %s now leads to %s, not to %s where the policy's rules were placed; refusing to mount it",
			m.Guest, m.Host, real, m.Real)
	}
	f.realRoot.Store(&real)
	if err := f.refuseProc(); err != nil {
		f.Close()
		return nil, fmt.Errorf("policy filesystem for %s: %w", m.Guest, err)
	}
	f.coverProcessFS(procMounts)
	if err := f.protectGitDir(); err != nil {
		f.Close()
		return nil, fmt.Errorf("policy filesystem for %s: %w", m.Guest, err)
	}
	return f, nil
}

// Close releases the mount root. Files already opened stay usable until
// they are closed.
func (f *FS) Close() error {
	f.stage.closeAll()
	if f.rootDir != nil {
		f.rootDir.Close()
	}
	return f.root.Close()
}

// Mount returns the mount this filesystem serves, with the patterns it
// added (a gitdir target) in Protect.
func (f *FS) Mount() policy.Mount {
	m := f.mount
	m.Protect = append([]policy.Pattern(nil), f.protect...)
	m.Hide = append([]policy.Pattern(nil), f.hide...)
	return m
}

// compiled returns ps made by policy.NewPattern, so that matching them on
// every call does not compile them again.
func compiled(ps []policy.Pattern) ([]policy.Pattern, error) {
	out := make([]policy.Pattern, 0, len(ps))
	for _, p := range ps {
		c, err := policy.NewPattern(p.Text, p.Origin)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// readRoot reads where the pinned mount root really is.
func (f *FS) readRoot() (string, error) {
	var buf [unix.PathMax]byte
	n, err := readlinkFd(f.rootFd, buf[:])
	if err != nil {
		return "", err
	}
	p := bytes.TrimSuffix(buf[:n], []byte(deletedSuffix))
	if len(p) == 0 || p[0] != '/' {
		return "", fmt.Errorf("unexpected /proc/self/fd answer %q", p)
	}
	return string(p), nil
}

// realRel returns where the object pinned by fd really is, relative to the
// mount root. An object that is not beneath the root (which os.Root should
// make impossible) is an escape.
func (f *FS) realRel(fd int) (string, experimentalsys.Errno) {
	var buf [unix.PathMax]byte
	n, err := readlinkFd(fd, buf[:])
	if err != nil {
		return "", errno(err)
	}
	p := bytes.TrimSuffix(buf[:n], []byte(deletedSuffix))
	if rel, ok := relUnder(p, *f.realRoot.Load()); ok {
		return rel, 0
	}
	// The mount root itself may have been moved on the host: look again.
	if real, err := f.readRoot(); err == nil && real != *f.realRoot.Load() {
		f.realRoot.Store(&real)
		if rel, ok := relUnder(p, real); ok {
			return rel, 0
		}
	}
	return "", experimentalsys.EPERM
}

// target is the guest path of rel, for decision records.
func (f *FS) target(rel string) string {
	if rel == "." || rel == "" {
		if f.guest == "" {
			return "/"
		}
		return f.guest
	}
	return f.guest + "/" + rel
}

// cleanRel turns a path wazero hands over into a clean path relative to the
// mount root, and says whether it ended in "/".
func cleanRel(p string) (rel string, slash bool) {
	slash = len(p) > 1 && p[len(p)-1] == '/'
	rel = path.Clean(p)
	for len(rel) > 0 && rel[0] == '/' {
		rel = rel[1:]
	}
	if rel == "" {
		rel = "."
	}
	return rel, slash
}

// escapes reports whether a clean relative path climbs above the root.
func escapes(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, "../")
}

// splitRel returns the parent of rel and its last name.
func splitRel(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ".", rel
	}
	return rel[:i], rel[i+1:]
}

func joinRel(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// ---- decisions ----

func (f *FS) deny(kind, op, target, rule string, origin policy.Origin, e experimentalsys.Errno) experimentalsys.Errno {
	f.gate.Decide(Request{Kind: kind, Op: op, Target: target, Policy: policy.Deny, Rule: rule, Origin: origin}, errnoName(e))
	return e
}

func (f *FS) denyHidden(kind, op, rel string, p policy.Pattern, e experimentalsys.Errno) experimentalsys.Errno {
	return f.deny(kind, op, f.target(rel), "hide "+strconv.Quote(p.Text), p.Origin, e)
}

func (f *FS) denyProtected(op, rel string, p policy.Pattern, how string) experimentalsys.Errno {
	return f.deny("fs.write", op, f.target(rel), "protect "+strconv.Quote(p.Text)+how, p.Origin, experimentalsys.EACCES)
}

// escape records an attempt to leave the mount and returns EPERM.
func (f *FS) escape(kind, op, target string) experimentalsys.Errno {
	return f.deny(kind, op, target, f.edgeRule, f.mount.Origin, experimentalsys.EPERM)
}

// readOnly asks the gate about a write into a read-only mount. It returns
// zero when the gate allows the write.
func (f *FS) readOnly(op, target string) experimentalsys.Errno {
	if f.gate.Decide(Request{Kind: "fs.write", Op: op, Target: target, Policy: f.ReadOnlyVerdict,
		Rule: f.roRule, Origin: f.mount.Origin}, "EROFS") {
		return 0
	}
	return experimentalsys.EROFS
}

// rootErr maps an error from os.Root, recording escapes.
func (f *FS) rootErr(kind, op, target string, err error) experimentalsys.Errno {
	if isEscape(err) {
		return f.escape(kind, op, target)
	}
	return errno(err)
}

// ---- rules ----

func (f *FS) hidden(rel string) (policy.Pattern, bool) {
	if len(f.hide) == 0 {
		return policy.Pattern{}, false
	}
	return policy.MatchAny(f.hide, rel)
}

func (f *FS) protected(rel string) (policy.Pattern, bool) {
	if len(f.protect) == 0 {
		return policy.Pattern{}, false
	}
	return policy.MatchAny(f.protect, rel)
}

// mayLook checks that an existing object at rel (its real location) may be
// seen at all: hidden paths, and files hard-linked to a hidden file, are
// not there for the guest.
func (f *FS) mayLook(op, rel string, st *unix.Stat_t) experimentalsys.Errno {
	if e := f.stateLook(op, rel, st); e != 0 {
		return e
	}
	if e := f.crossing("fs.read", op, rel); e != 0 {
		return e
	}
	if p, ok := f.hidden(rel); ok {
		return f.denyHidden("fs.read", op, rel, p, experimentalsys.ENOENT)
	}
	if st != nil && st.Nlink > 1 && isReg(st) && len(f.hide) > 0 {
		if p, ok := f.linkedTo(st, true); ok {
			return f.deny("fs.read", op, f.target(rel), "hide "+strconv.Quote(p.Text)+" (hard link)", p.Origin, experimentalsys.ENOENT)
		}
	}
	return 0
}

// mayChange checks that an existing object at rel (its real location) may
// be changed: not protected, and not a file hard-linked to a protected file.
// The read-only mount check is made once per operation by the caller.
func (f *FS) mayChange(op, rel string, st *unix.Stat_t) experimentalsys.Errno {
	if e := f.stateChange(op, rel, st); e != 0 {
		return e
	}
	if e := f.crossing("fs.write", op, rel); e != 0 {
		return e
	}
	if p, ok := f.protected(rel); ok {
		return f.denyProtected(op, rel, p, "")
	}
	if st != nil && st.Nlink > 1 && isReg(st) && len(f.protect) > 0 {
		if p, ok := f.linkedTo(st, false); ok {
			return f.denyProtected(op, rel, p, " (hard link)")
		}
	}
	return 0
}

// mayCreate checks that the name rel (real parent + new name) may be made.
func (f *FS) mayCreate(op, rel string) experimentalsys.Errno {
	if e := f.stateCreate(op, rel); e != 0 {
		return e
	}
	if e := f.crossing("fs.write", op, rel); e != 0 {
		return e
	}
	if p, ok := f.hidden(rel); ok {
		return f.denyHidden("fs.write", op, rel, p, experimentalsys.EACCES)
	}
	if p, ok := f.protected(rel); ok {
		return f.denyProtected(op, rel, p, "")
	}
	return 0
}

// mayMoveAway checks that the directory (or file) at rel may be renamed or
// removed without taking with it a path that an anchored pattern covers
// because of where it is.
func (f *FS) mayMoveAway(op, rel string) experimentalsys.Errno {
	if e := f.stateMove(op, rel); e != 0 {
		return e
	}
	if e := f.crossingBelow("fs.write", op, rel); e != 0 {
		return e
	}
	for i := range f.protect {
		if policy.CouldMatchBelow(f.protect[i:i+1], rel) {
			return f.denyProtected(op, rel, f.protect[i], " (below)")
		}
	}
	for i := range f.hide {
		if policy.CouldMatchBelow(f.hide[i:i+1], rel) {
			return f.deny("fs.write", op, f.target(rel), "hide "+strconv.Quote(f.hide[i].Text)+" (below)", f.hide[i].Origin, experimentalsys.EACCES)
		}
	}
	return 0
}

// mayMoveInto checks that something may be renamed to rel without a
// protected path appearing below it.
func (f *FS) mayMoveInto(op, rel string) experimentalsys.Errno {
	if e := f.stateMove(op, rel); e != 0 {
		return e
	}
	for i := range f.protect {
		if policy.CouldMatchBelow(f.protect[i:i+1], rel) {
			return f.denyProtected(op, rel, f.protect[i], " (below)")
		}
	}
	return 0
}

// ---- pinning ----

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
func (f *FS) pinDir(kind, op, rel string) (pin, experimentalsys.Errno) {
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
func (f *FS) pinDirRoot(kind, op, rel string) (pin, experimentalsys.Errno) {
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
func (f *FS) pinNoFollow(kind, op, rel string, st *unix.Stat_t) (pin, experimentalsys.Errno) {
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
func (f *FS) pinFollow(kind, op, rel string, st *unix.Stat_t) (pin, experimentalsys.Errno) {
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

// ---- experimentalsys.FS ----

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
	kind := "fs.read"
	if write {
		kind = "fs.write"
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

func (f *FS) open(kind, rel string, flag experimentalsys.Oflag, perm fs.FileMode, write bool) (*File, experimentalsys.Errno) {
	creat := flag&experimentalsys.O_CREAT != 0
	// The path as asked: refusals here only add to those below, which are
	// made on the real location.
	if p, ok := f.hidden(rel); ok {
		if creat {
			return nil, f.denyHidden("fs.write", "open", rel, p, experimentalsys.EACCES)
		}
		return nil, f.denyHidden("fs.read", "open", rel, p, experimentalsys.ENOENT)
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
func (f *FS) openExisting(kind, rel string, oflag int) (opened, experimentalsys.Errno) {
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

// notSpecial refuses (ENOTSUP) to open the entry name of the directory
// dirFd when it is a FIFO, socket or device, before open(2) is made:
// opening one has effects of its own (a FIFO's wakes a program blocked
// opening the other end; a serial port's raises its modem lines). What is
// opened is checked again afterwards; only another process swapping the
// entry in between gets past this check, and that one still fails.
func notSpecial(dirFd int, name string) experimentalsys.Errno {
	var st unix.Stat_t
	if unix.Fstatat(dirFd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && special(&st) {
		return experimentalsys.ENOTSUP
	}
	return 0
}

// openInParent opens the final name of rel with openat(O_NOFOLLOW) on its
// pinned parent. With O_CREAT in flag, the new name is checked first. When
// refuseLink is set and a symlink sits where the file would be made (a
// dangling one, since the caller found nothing to open), it returns ELOOP
// rather than create whatever the link names.
func (f *FS) openInParent(kind, rel string, oflag int, flag experimentalsys.Oflag, refuseLink bool, perm fs.FileMode) (opened, experimentalsys.Errno) {
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
	defer f.noteDone(&ret, "fs.read", op, rel)
	if f.gate.Revoked() {
		return sysapi.Stat_t{}, experimentalsys.EACCES
	}
	if escapes(rel) {
		return sysapi.Stat_t{}, f.escape("fs.read", op, f.target(rel))
	}
	if p, ok := f.hidden(rel); ok {
		return sysapi.Stat_t{}, f.denyHidden("fs.read", op, rel, p, experimentalsys.ENOENT)
	}
	if sf := f.stagedAt(rel); sf != nil {
		return sf.stat()
	}
	var st unix.Stat_t
	var p pin
	var e experimentalsys.Errno
	if follow {
		p, e = f.pinFollow("fs.read", op, rel, &st)
	} else {
		p, e = f.pinNoFollow("fs.read", op, rel, &st)
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
	defer f.noteDone(&ret, "fs.read", "readlink", p)
	if f.gate.Revoked() {
		return "", experimentalsys.EACCES
	}
	rel, _ := cleanRel(p)
	if escapes(rel) {
		return "", f.escape("fs.read", "readlink", f.target(rel))
	}
	if pat, ok := f.hidden(rel); ok {
		return "", f.denyHidden("fs.read", "readlink", rel, pat, experimentalsys.ENOENT)
	}
	var st unix.Stat_t
	pn, e := f.pinNoFollow("fs.read", "readlink", rel, &st)
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

// Mkdir implements experimentalsys.FS.
func (f *FS) Mkdir(p string, perm fs.FileMode) (ret experimentalsys.Errno) {
	const op = "mkdir"
	defer f.noteDone(&ret, "fs.write", op, p)
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
	defer f.noteDone(&ret, "fs.write", op, linkName)
	rel, _ := cleanRel(linkName)
	parent, name, e := f.beginCreate(op, rel)
	if e != 0 {
		return e
	}
	defer parent.close()
	if !linkStaysInside(parent.rel, oldPath) {
		return f.escape("fs.write", op, f.target(joinRel(parent.rel, name))+" -> "+oldPath)
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
		return pin{}, "", f.escape("fs.write", op, f.target(rel))
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
	parent, e := f.pinDir("fs.write", op, dir)
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
	defer f.noteDone(&ret, "fs.write", op, p)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	rel, _ := cleanRel(p)
	if escapes(rel) {
		return f.escape("fs.write", op, f.target(rel))
	}
	if pat, ok := f.hidden(rel); ok {
		return f.denyHidden("fs.read", op, rel, pat, experimentalsys.ENOENT)
	}
	if e := f.stateAsked("fs.write", op, rel, false); e != 0 {
		return e
	}
	if sf := f.stagedAt(rel); sf != nil {
		return errno(retry(func() error { return change(procPath(sf.fd)) }))
	}
	if pat, ok := f.protected(rel); ok {
		return f.denyProtected(op, rel, pat, "")
	}
	var st unix.Stat_t
	pn, e := f.pinFollow("fs.write", op, rel, &st)
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

// Rename implements experimentalsys.FS.
func (f *FS) Rename(from, to string) (ret experimentalsys.Errno) {
	const op = "rename"
	defer f.noteDone(&ret, "fs.write", op, from)
	defer f.noteDone(&ret, "fs.write", op, to)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	frel, fslash := cleanRel(from)
	trel, tslash := cleanRel(to)
	what := func(a, b string) string { return f.target(a) + " -> " + f.target(b) }
	if escapes(frel) || escapes(trel) {
		return f.escape("fs.write", op, what(frel, trel))
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
			return f.denyHidden("fs.read", op, frel, p, experimentalsys.ENOENT)
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
	fdir, fname := splitRel(frel)
	tdir, tname := splitRel(trel)
	fp, e := f.pinDir("fs.write", op, fdir)
	if e != 0 {
		return e
	}
	defer fp.close()
	tp, e := f.pinDir("fs.write", op, tdir)
	if e != 0 {
		return e
	}
	defer tp.close()
	if e := check(joinRel(fp.rel, fname), joinRel(tp.rel, tname)); e != 0 {
		return e
	}
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

// Rmdir implements experimentalsys.FS.
func (f *FS) Rmdir(p string) experimentalsys.Errno {
	return f.remove("rmdir", p, unix.AT_REMOVEDIR)
}

// Unlink implements experimentalsys.FS.
func (f *FS) Unlink(p string) experimentalsys.Errno {
	return f.remove("unlink", p, 0)
}

func (f *FS) remove(op, p string, flags int) (ret experimentalsys.Errno) {
	defer f.noteDone(&ret, "fs.write", op, p)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	rel, slash := cleanRel(p)
	if escapes(rel) {
		return f.escape("fs.write", op, f.target(rel))
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
			return f.denyHidden("fs.read", op, rel, p, experimentalsys.ENOENT)
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
	parent, e := f.pinDir("fs.write", op, dir)
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

// Link implements experimentalsys.FS. The new name is a second name for the
// same file, so a protected or hidden file cannot be linked at all.
func (f *FS) Link(oldPath, newPath string) (ret experimentalsys.Errno) {
	const op = "link"
	defer f.noteDone(&ret, "fs.read", op, oldPath)
	defer f.noteDone(&ret, "fs.write", op, newPath)
	if f.gate.Revoked() {
		return experimentalsys.EACCES
	}
	orel, _ := cleanRel(oldPath)
	nrel, _ := cleanRel(newPath)
	what := f.target(orel) + " -> " + f.target(nrel)
	if escapes(orel) || escapes(nrel) {
		return f.escape("fs.write", op, what)
	}
	if e := f.stateAsked("fs.write", op, orel, false); e != 0 {
		return e
	}
	if e := f.stateCreate(op, nrel); e != 0 {
		return e
	}
	check := func(orel, nrel string) experimentalsys.Errno {
		if e := f.crossing("fs.write", op, orel); e != 0 {
			return e
		}
		if p, ok := f.hidden(orel); ok {
			return f.denyHidden("fs.read", op, orel, p, experimentalsys.ENOENT)
		}
		if p, ok := f.protected(orel); ok {
			return f.denyProtected(op, orel, p, "")
		}
		if e := f.stateAsked("fs.write", op, orel, false); e != 0 {
			return e
		}
		return f.mayCreate(op, nrel)
	}
	if e := check(orel, nrel); e != 0 {
		return e
	}
	odir, oname := splitRel(orel)
	ndir, nname := splitRel(nrel)
	op1, e := f.pinDir("fs.write", op, odir)
	if e != 0 {
		return e
	}
	defer op1.close()
	np, e := f.pinDir("fs.write", op, ndir)
	if e != 0 {
		return e
	}
	defer np.close()
	if e := check(joinRel(op1.rel, oname), joinRel(np.rel, nname)); e != 0 {
		return e
	}
	if !f.writable {
		if e := f.readOnly(op, f.target(joinRel(op1.rel, oname))+" -> "+f.target(joinRel(np.rel, nname))); e != 0 {
			return e
		}
	}
	// The source is the entry itself (no AT_SYMLINK_FOLLOW): a symlink is
	// linked as a symlink, never as what it points to.
	return errno(retry(func() error { return unix.Linkat(op1.fd, oname, np.fd, nname, 0) }))
}

// ---- .git files ----

// maxGitFile bounds how much of a ".git" file is read.
const maxGitFile = 4096

// protectGitDir protects the git directory a ".git" file or symlink at the
// mount root names, when ".git" is protected and that directory (and the
// common directory of a worktree) lies inside the mount.
func (f *FS) protectGitDir() error {
	if _, ok := f.protected(".git"); !ok {
		return nil
	}
	real := *f.realRoot.Load()
	fi, err := f.root.Lstat(".git")
	if err != nil {
		return nil // no .git yet: the name itself is protected
	}
	var gitDir string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if gitDir, err = filepath.EvalSymlinks(filepath.Join(real, ".git")); err != nil {
			return nil
		}
	case fi.Mode().IsRegular():
		file, err := f.root.Open(".git")
		if err != nil {
			return fmt.Errorf("reading .git: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(file, maxGitFile))
		file.Close()
		if err != nil {
			return fmt.Errorf("reading .git: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
		if !ok {
			return nil
		}
		gitDir = resolveHost(real, strings.TrimSpace(dir))
	default:
		return nil
	}
	if err := f.protectInside(real, gitDir); err != nil {
		return err
	}
	// A worktree's gitdir names its common directory in "commondir".
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil && len(b) < maxGitFile {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitDir, common)
		}
		return f.protectInside(real, resolveHost(real, common))
	}
	return nil
}

// resolveHost makes p absolute (relative to dir) and resolves symlinks in
// it as far as it exists.
func resolveHost(dir, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// protectInside adds an anchored protect pattern for host path p when it is
// inside the mount root real.
func (f *FS) protectInside(real, p string) error {
	rel, err := filepath.Rel(real, p)
	if err != nil || rel == "." || escapes(filepath.ToSlash(rel)) {
		return nil
	}
	if _, ok := f.protected(rel); ok {
		return nil
	}
	pat, err := policy.NewPattern("./"+globEscape(filepath.ToSlash(rel)), policy.Origin{Layer: policy.LayerBuiltin})
	if err != nil {
		return fmt.Errorf("protecting git directory %s: %w", rel, err)
	}
	f.protect = append(f.protect, pat)
	return nil
}

// globEscape quotes the characters path.Match treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
