//go:build linux

package host

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
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

func (f *FS) deny(kind decision.Kind, op, target, rule string, origin policy.Origin, e experimentalsys.Errno) experimentalsys.Errno {
	f.gate.Decide(decision.Request{Kind: kind, Op: op, Target: target, Policy: policy.Deny, Rule: rule, Origin: origin}, errnoName(e))
	return e
}

func (f *FS) denyHidden(kind decision.Kind, op, rel string, p policy.Pattern, e experimentalsys.Errno) experimentalsys.Errno {
	return f.deny(kind, op, f.target(rel), "hide "+strconv.Quote(p.Text), p.Origin, e)
}

func (f *FS) denyProtected(op, rel string, p policy.Pattern, how string) experimentalsys.Errno {
	return f.deny(decision.FSWrite, op, f.target(rel), "protect "+strconv.Quote(p.Text)+how, p.Origin, experimentalsys.EACCES)
}

// escape records an attempt to leave the mount and returns EPERM.
func (f *FS) escape(kind decision.Kind, op, target string) experimentalsys.Errno {
	return f.deny(kind, op, target, f.edgeRule, f.mount.Origin, experimentalsys.EPERM)
}

// readOnly asks the gate about a write into a read-only mount. It returns
// zero when the gate allows the write.
func (f *FS) readOnly(op, target string) experimentalsys.Errno {
	if f.gate.Decide(decision.Request{Kind: decision.FSWrite, Op: op, Target: target, Policy: f.ReadOnlyVerdict,
		Rule: f.roRule, Origin: f.mount.Origin}, "EROFS") {
		return 0
	}
	return experimentalsys.EROFS
}

// rootErr maps an error from os.Root, recording escapes.
func (f *FS) rootErr(kind decision.Kind, op, target string, err error) experimentalsys.Errno {
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
	if e := f.crossing(decision.FSRead, op, rel); e != 0 {
		return e
	}
	if p, ok := f.hidden(rel); ok {
		return f.denyHidden(decision.FSRead, op, rel, p, experimentalsys.ENOENT)
	}
	if st != nil && st.Nlink > 1 && isReg(st) && len(f.hide) > 0 {
		if p, ok := f.linkedTo(st, true); ok {
			return f.deny(decision.FSRead, op, f.target(rel), "hide "+strconv.Quote(p.Text)+" (hard link)", p.Origin, experimentalsys.ENOENT)
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
	if e := f.crossing(decision.FSWrite, op, rel); e != 0 {
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
	if e := f.crossing(decision.FSWrite, op, rel); e != 0 {
		return e
	}
	if p, ok := f.hidden(rel); ok {
		return f.denyHidden(decision.FSWrite, op, rel, p, experimentalsys.EACCES)
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
	if e := f.crossingBelow(decision.FSWrite, op, rel); e != 0 {
		return e
	}
	for i := range f.protect {
		if policy.CouldMatchBelow(f.protect[i:i+1], rel) {
			return f.denyProtected(op, rel, f.protect[i], " (below)")
		}
	}
	for i := range f.hide {
		if policy.CouldMatchBelow(f.hide[i:i+1], rel) {
			return f.deny(decision.FSWrite, op, f.target(rel), "hide "+strconv.Quote(f.hide[i].Text)+" (below)", f.hide[i].Origin, experimentalsys.EACCES)
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
