//go:build linux

package host

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/hashicorp/hcl/v2"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"golang.org/x/sys/unix"
)

// ---- fixtures ----

const sentinelText = "SENTINEL: must never be read or changed"

var sentinelTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// world is a temp directory holding a mount and, beside it, an outside
// directory with a sentinel file watched with inotify: any open, read,
// write, attribute change, creation or deletion there is seen.
type world struct {
	t       *testing.T
	base    string
	mount   string
	outside string
	watch   int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	base := t.TempDir()
	w := &world{t: t, base: base, mount: filepath.Join(base, "mount"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{w.mount, w.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sentinel := filepath.Join(w.outside, "secret.txt")
	if err := os.WriteFile(sentinel, []byte(sentinelText), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(sentinel, sentinelTime, sentinelTime); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	const events = unix.IN_OPEN | unix.IN_ACCESS | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CREATE |
		unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE
	if _, err := unix.InotifyAddWatch(fd, w.outside, events); err != nil {
		t.Fatal(err)
	}
	w.watch = fd
	t.Cleanup(func() { unix.Close(fd) })
	return w
}

// file writes a file under the mount.
func (w *world) file(rel, content string) {
	w.t.Helper()
	p := filepath.Join(w.mount, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) symlink(target, rel string) {
	w.t.Helper()
	if err := os.Symlink(target, filepath.Join(w.mount, rel)); err != nil {
		w.t.Fatal(err)
	}
}

// content returns a file's content under the mount ("<absent>" if none).
func (w *world) content(rel string) string {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.mount, rel))
	if os.IsNotExist(err) {
		return "<absent>"
	} else if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func (w *world) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(w.mount, rel))
	return err == nil
}

// checkOutside fails the test if anything outside the mount was touched:
// an inotify event, a changed sentinel, or a new entry.
func (w *world) checkOutside() {
	w.t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Read(w.watch, buf)
	if err != nil && err != unix.EAGAIN {
		w.t.Fatal(err)
	}
	if n > 0 {
		var names []string
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			names = append(names, name+":"+inotifyMask(ev.Mask))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		w.t.Errorf("outside the mount was touched: %v", names)
	}
	ents, err := os.ReadDir(w.outside)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "secret.txt" {
		w.t.Errorf("outside directory changed: %v", ents)
	}
	sentinel := filepath.Join(w.outside, "secret.txt")
	fi, err := os.Stat(sentinel)
	if err != nil {
		w.t.Fatal(err)
	}
	if !fi.ModTime().Equal(sentinelTime) {
		w.t.Errorf("sentinel mtime changed: %v", fi.ModTime())
	}
	if b, _ := os.ReadFile(sentinel); string(b) != sentinelText {
		w.t.Errorf("sentinel changed: %q", b)
	}
	// The reads just made are ours; drain them.
	for {
		if n, _ := unix.Read(w.watch, buf); n <= 0 {
			break
		}
	}
}

func inotifyMask(m uint32) string {
	var s []string
	for _, x := range []struct {
		bit  uint32
		name string
	}{{unix.IN_OPEN, "open"}, {unix.IN_ACCESS, "access"}, {unix.IN_MODIFY, "modify"}, {unix.IN_ATTRIB, "attrib"},
		{unix.IN_CREATE, "create"}, {unix.IN_DELETE, "delete"}, {unix.IN_MOVED_FROM, "moved_from"},
		{unix.IN_MOVED_TO, "moved_to"}, {unix.IN_CLOSE_WRITE, "close_write"}} {
		if m&x.bit != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, "|")
}

var testOrigin = policy.Origin{Layer: policy.LayerProject, Range: hcl.Range{Filename: "policy.hcl", Start: hcl.Pos{Line: 7, Column: 3}}}

func patterns(t testing.TB, texts ...string) []policy.Pattern {
	t.Helper()
	var ps []policy.Pattern
	for _, s := range texts {
		p, err := policy.NewPattern(s, testOrigin)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// mountOpts describes a mount for newFS.
type mountOpts struct {
	access  policy.Access
	protect []string
	hide    []string
	limit   *OpenFileLimit
	asker   decision.Asker
}

func defaultOpts() mountOpts {
	return mountOpts{access: policy.Write, protect: []string{".git", ".airlock"}, hide: []string{".env", "*.pem"}}
}

func (w *world) fs(o mountOpts) (*FS, *Gate) {
	w.t.Helper()
	gate := NewGate(context.Background(), o.asker, nil)
	m := policy.Mount{Guest: "/work", Host: w.mount, Access: o.access,
		Protect: patterns(w.t, o.protect...), Hide: patterns(w.t, o.hide...), Origin: testOrigin}
	f, err := NewFS(m, gate, o.limit, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { f.Close() })
	return f, gate
}

// ---- assertions ----

func wantErrno(t *testing.T, what string, got, want experimentalsys.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s: errno %v (%d), want %v (%d)", what, got, got, want, want)
	}
}

func wantFail(t *testing.T, what string, got experimentalsys.Errno) {
	t.Helper()
	if got == 0 {
		t.Errorf("%s: succeeded, want an error", what)
	}
}

func openErr(f *FS, p string, flag experimentalsys.Oflag) experimentalsys.Errno {
	file, e := f.OpenFile(p, flag, 0o644)
	if e == 0 {
		file.Close()
	}
	return e
}

func readAll(t *testing.T, f *FS, p string) (string, experimentalsys.Errno) {
	t.Helper()
	file, e := f.OpenFile(p, experimentalsys.O_RDONLY, 0)
	if e != 0 {
		return "", e
	}
	defer file.Close()
	var out []byte
	buf := make([]byte, 512)
	for {
		n, e := file.Read(buf)
		out = append(out, buf[:n]...)
		if e != 0 {
			return string(out), e
		}
		if n == 0 {
			return string(out), 0
		}
	}
}

func writeFile(f *FS, p string, flag experimentalsys.Oflag, data string) experimentalsys.Errno {
	file, e := f.OpenFile(p, flag, 0o644)
	if e != 0 {
		return e
	}
	defer file.Close()
	_, e = file.Write([]byte(data))
	return e
}

const (
	rdonly = experimentalsys.O_RDONLY
	wronly = experimentalsys.O_WRONLY
	rdwr   = experimentalsys.O_RDWR
	creat  = experimentalsys.O_CREAT
	trunc  = experimentalsys.O_TRUNC
	excl   = experimentalsys.O_EXCL
	nofol  = experimentalsys.O_NOFOLLOW
	dir    = experimentalsys.O_DIRECTORY
)

// findDecision returns the first recorded decision matching all given
// fields (empty ones ignored).
func findDecision(g *Gate, kind decision.Kind, op, target, rule, errno string) (decision.Decision, bool) {
	for _, d := range g.Decisions() {
		if (kind == "" || d.Kind == kind) && (op == "" || d.Op == op) && (target == "" || d.Target == target) &&
			(rule == "" || d.Rule == rule) && (errno == "" || d.Errno == errno) {
			return d, true
		}
	}
	return decision.Decision{}, false
}

func wantDecision(t *testing.T, g *Gate, kind decision.Kind, op, target, rule, errno string) {
	t.Helper()
	d, ok := findDecision(g, kind, op, target, rule, errno)
	if !ok {
		t.Errorf("no decision kind=%q op=%q target=%q rule=%q errno=%q; have:\n%s", kind, op, target, rule, errno, dumpDecisions(g))
		return
	}
	if d.Allowed {
		t.Errorf("decision %+v allowed, want denied", d)
	}
}

func dumpDecisions(g *Gate) string {
	var b strings.Builder
	for _, d := range g.Decisions() {
		b.WriteString("  " + string(d.Kind) + " " + d.Op + " " + d.Target + " [" + d.Rule + "] " + d.Errno + " " + d.Origin + "\n")
	}
	return b.String()
}

// ---- tests ----

// The attacks below succeed against wazero's own DirFS: the test fixtures
// are real escapes, so the tests of FS that follow can fail.
func TestDirFSFollowsSymlinksOut(t *testing.T) {
	w := newWorld(t)
	w.symlink(filepath.Join(w.outside, "secret.txt"), "abs")
	dirfs := sysfs.DirFS(w.mount)
	file, e := dirfs.OpenFile("abs", rdonly, 0)
	if e != 0 {
		t.Fatalf("DirFS refused the planted symlink (errno %v): the fixture proves nothing", e)
	}
	buf := make([]byte, 100)
	n, _ := file.Read(buf)
	file.Close()
	if string(buf[:n]) != sentinelText {
		t.Fatalf("read %q through DirFS", buf[:n])
	}
}

func TestHostSymlinksOutOfMount(t *testing.T) {
	w := newWorld(t)
	secret := filepath.Join(w.outside, "secret.txt")
	w.file("inside.txt", "inside")
	w.symlink(secret, "abs")                                                // absolute, to a file
	w.symlink("../outside/secret.txt", "rel")                               // relative, to a file
	w.symlink(w.outside, "absdir")                                          // absolute, to a directory
	w.symlink("../outside", "reldir")                                       // relative, to a directory
	w.symlink("../../"+filepath.Base(w.base)+"/outside/secret.txt", "deep") // climbing further
	f, g := w.fs(defaultOpts())

	for _, name := range []string{"abs", "rel", "deep", "absdir/secret.txt", "reldir/secret.txt"} {
		wantFail(t, "open "+name, openErr(f, name, rdonly))
		wantFail(t, "open for write "+name, openErr(f, name, wronly|trunc))
		wantFail(t, "open-create "+name, openErr(f, name, wronly|creat))
		_, e := f.Stat(name)
		wantFail(t, "stat "+name, e)
		wantFail(t, "utimens "+name, f.Utimens(name, 0, 0))
		wantFail(t, "chmod "+name, f.Chmod(name, 0o777))
		if strings.Contains(name, "/") {
			wantFail(t, "unlink "+name, f.Unlink(name))
			wantFail(t, "link from "+name, f.Link(name, "copy"))
			wantFail(t, "utimens without following "+name, f.utimensNoFollow(name, 0, 0))
		}
	}
	for _, d := range []string{"absdir", "reldir"} {
		wantFail(t, "open dir "+d, openErr(f, d, rdonly|dir))
		wantFail(t, "create in "+d, openErr(f, d+"/new.txt", wronly|creat|excl))
		wantFail(t, "mkdir in "+d, f.Mkdir(d+"/newdir", 0o755))
		wantFail(t, "rename into "+d, f.Rename("inside.txt", d+"/moved.txt"))
		wantFail(t, "link into "+d, f.Link("inside.txt", d+"/linked.txt"))
		wantFail(t, "symlink into "+d, f.Symlink("inside.txt", d+"/l"))
		_, e := f.Readlink(d + "/secret.txt")
		wantFail(t, "readlink in "+d, e)
	}
	// The link itself is inside and may be looked at.
	if st, e := f.Lstat("abs"); e != 0 || st.Mode&fs.ModeSymlink == 0 {
		t.Errorf("lstat abs: %v %v", st.Mode, e)
	}
	if got, e := f.Readlink("abs"); e != 0 || got != secret {
		t.Errorf("readlink abs: %q %v", got, e)
	}
	if w.content("inside.txt") != "inside" || w.exists("copy") {
		t.Error("an operation through an escaping link changed the mount")
	}
	wantErrno(t, "open abs", openErr(f, "abs", rdonly), experimentalsys.EPERM)
	wantDecision(t, g, decision.FSRead, "open", "/work/abs", `mount "/work" boundary`, "EPERM")
	w.checkOutside()
}

func TestDotDotStaysInside(t *testing.T) {
	w := newWorld(t)
	w.file("a/b.txt", "b")
	f, g := w.fs(defaultOpts())
	for _, p := range []string{"../outside/secret.txt", "a/../../outside/secret.txt", "../../", ".."} {
		wantErrno(t, "open "+p, openErr(f, p, rdonly), experimentalsys.EPERM)
		wantErrno(t, "create "+p, openErr(f, p+"/x", wronly|creat), experimentalsys.EPERM)
		_, e := f.Stat(p)
		wantErrno(t, "stat "+p, e, experimentalsys.EPERM)
		wantErrno(t, "mkdir "+p, f.Mkdir(p+"/d", 0o755), experimentalsys.EPERM)
		wantErrno(t, "rename to "+p, f.Rename("a/b.txt", p+"/b"), experimentalsys.EPERM)
		wantErrno(t, "symlink at "+p, f.Symlink("a", p+"/l"), experimentalsys.EPERM)
		wantErrno(t, "utimens without following "+p, f.utimensNoFollow(p, 0, 0), experimentalsys.EPERM)
	}
	// ".." that stays inside is fine.
	if got, e := readAll(t, f, "a/../a/b.txt"); e != 0 || got != "b" {
		t.Errorf("read a/../a/b.txt: %q %v", got, e)
	}
	wantDecision(t, g, decision.FSRead, "open", "", `mount "/work" boundary`, "EPERM")
	w.checkOutside()
}

func TestGuestSymlinks(t *testing.T) {
	w := newWorld(t)
	w.file("inside.txt", "inside")
	w.file("sub/x.txt", "x")
	f, g := w.fs(defaultOpts())

	// Links that could only lead out are refused when made...
	for _, target := range []string{filepath.Join(w.outside, "secret.txt"), "/etc/passwd", "../outside/secret.txt", "sub/../../outside"} {
		wantErrno(t, "symlink "+target, f.Symlink(target, "l"), experimentalsys.EPERM)
	}
	wantErrno(t, "symlink in sub", f.Symlink("../../outside/secret.txt", "sub/l"), experimentalsys.EPERM)
	wantDecision(t, g, decision.FSWrite, "symlink", "", `mount "/work" boundary`, "EPERM")
	if w.exists("l") || w.exists("sub/l") {
		t.Fatal("an escaping symlink was made")
	}
	// ...and a link inside works both ways.
	if e := f.Symlink("../inside.txt", "sub/in"); e != 0 {
		t.Fatalf("symlink inside: %v", e)
	}
	if got, e := readAll(t, f, "sub/in"); e != 0 || got != "inside" {
		t.Errorf("read through inside link: %q %v", got, e)
	}
	if e := writeFile(f, "sub/in", wronly|trunc, "changed"); e != 0 || w.content("inside.txt") != "changed" {
		t.Errorf("write through inside link: %v %q", e, w.content("inside.txt"))
	}

	// A link that leads out, however it got there (here: planted as if a
	// guest had made it before the rule), cannot be written through.
	w.symlink("../outside/secret.txt", "planted")
	w.symlink(w.outside, "planteddir")
	for _, p := range []string{"planted", "planteddir/secret.txt", "planteddir/new.txt"} {
		wantFail(t, "write through "+p, writeFile(f, p, wronly|creat|trunc, "pwned"))
		wantFail(t, "append through "+p, writeFile(f, p, wronly|experimentalsys.O_APPEND, "pwned"))
	}
	w.checkOutside()
}

func TestDanglingSymlinkIsNotCreatedThrough(t *testing.T) {
	w := newWorld(t)
	w.symlink("missing.txt", "dangling")
	w.symlink("../outside/new.txt", "danglingout")
	w.symlink(".git/config", "togit") // .git does not exist yet
	f, _ := w.fs(defaultOpts())
	wantErrno(t, "create through dangling link", openErr(f, "dangling", wronly|creat), experimentalsys.ELOOP)
	wantErrno(t, "create excl on dangling link", openErr(f, "dangling", wronly|creat|excl), experimentalsys.EEXIST)
	wantFail(t, "create through escaping dangling link", openErr(f, "danglingout", wronly|creat))
	wantFail(t, "create through link to missing .git", openErr(f, "togit", wronly|creat))
	if w.exists("missing.txt") || w.exists(".git") {
		t.Error("a file was made through a dangling symlink")
	}
	w.checkOutside()
}

func TestProtectedGit(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	w.file(".git/HEAD", "ref: refs/heads/main")
	w.file("work.txt", "work")
	f, g := w.fs(defaultOpts())
	acc := experimentalsys.EACCES

	wantErrno(t, "open for write", openErr(f, ".git/config", wronly), acc)
	wantErrno(t, "open rdwr", openErr(f, ".git/config", rdwr), acc)
	wantErrno(t, "open trunc", openErr(f, ".git/config", wronly|trunc), acc)
	wantErrno(t, "open rdonly|trunc", openErr(f, ".git/config", rdonly|trunc), acc)
	wantErrno(t, "open creat", openErr(f, ".git/config", wronly|creat), acc)
	wantErrno(t, "create new in .git", openErr(f, ".git/hooks-pre-commit", wronly|creat), acc)
	wantErrno(t, "unlink", f.Unlink(".git/config"), acc)
	wantErrno(t, "rmdir .git", f.Rmdir(".git"), acc)
	wantErrno(t, "rename .git away", f.Rename(".git", "git-away"), acc)
	wantErrno(t, "rename from .git", f.Rename(".git/config", "config"), acc)
	wantErrno(t, "rename onto .git file", f.Rename("work.txt", ".git/config"), acc)
	wantErrno(t, "link from .git", f.Link(".git/config", "alias"), acc)
	wantErrno(t, "link into .git", f.Link("work.txt", ".git/alias"), acc)
	wantErrno(t, "symlink into .git", f.Symlink("../work.txt", ".git/l"), acc)
	wantErrno(t, "mkdir in .git", f.Mkdir(".git/hooks", 0o755), acc)
	wantErrno(t, "chmod", f.Chmod(".git/config", 0o777), acc)
	wantErrno(t, "utimens", f.Utimens(".git/config", 1, 1), acc)
	wantErrno(t, "utimens dir", f.Utimens(".git", 1, 1), acc)
	wantErrno(t, "utimens without following", f.utimensNoFollow(".git/config", 1, 1), acc)
	wantErrno(t, "utimens dir without following", f.utimensNoFollow(".git", 1, 1), acc)

	// Reading is fine, but a descriptor opened for reading cannot change it.
	file, e := f.OpenFile(".git/config", rdonly, 0)
	if e != 0 {
		t.Fatalf("open for read: %v", e)
	}
	_, e = file.Write([]byte("x"))
	wantErrno(t, "write on read fd", e, experimentalsys.EBADF)
	_, e = file.Pwrite([]byte("x"), 0)
	wantErrno(t, "pwrite on read fd", e, experimentalsys.EBADF)
	wantErrno(t, "truncate on read fd", file.Truncate(0), experimentalsys.EBADF)
	wantErrno(t, "utimens on read fd", file.Utimens(1, 1), acc)
	file.Close()
	dirf, e := f.OpenFile(".git", rdonly|dir, 0)
	if e != 0 {
		t.Fatalf("open .git dir: %v", e)
	}
	wantErrno(t, "utimens on .git dir fd", dirf.Utimens(1, 1), acc)
	dirf.Close()

	if w.content(".git/config") != "[core]" || !w.exists(".git/HEAD") || w.exists("git-away") || w.exists("alias") ||
		w.exists(".git/hooks") || w.exists(".git/l") || w.exists(".git/hooks-pre-commit") {
		t.Error("the protected directory changed")
	}
	fi, _ := os.Stat(filepath.Join(w.mount, ".git/config"))
	if fi.Mode().Perm() != 0o644 || fi.ModTime().Unix() < 1000 {
		t.Errorf("protected file's mode or time changed: %v %v", fi.Mode(), fi.ModTime())
	}
	d, ok := findDecision(g, decision.FSWrite, "open", "/work/.git/config", `protect ".git"`, "EACCES")
	if !ok || d.Origin != "policy.hcl:7:3" || d.Source != decision.SourceRule {
		t.Errorf("decision: %+v (found %v)\n%s", d, ok, dumpDecisions(g))
	}
	wantDecision(t, g, decision.FSWrite, "rename", "", `protect ".git"`, "EACCES")
	w.checkOutside()
}

func TestProtectedBeforeItExists(t *testing.T) {
	w := newWorld(t)
	w.file("work.txt", "work")
	w.file("staging/config", "evil hook config")
	f, _ := w.fs(defaultOpts())
	acc := experimentalsys.EACCES
	wantErrno(t, "mkdir .git", f.Mkdir(".git", 0o755), acc)
	wantErrno(t, "mkdir sub/.git", f.Mkdir("staging/.git", 0o755), acc)
	wantErrno(t, "create .git file", openErr(f, ".git", wronly|creat), acc)
	wantErrno(t, "create .git/config", openErr(f, ".git/config", wronly|creat), acc)
	wantErrno(t, "symlink .git", f.Symlink("staging", ".git"), acc)
	wantErrno(t, "link .git", f.Link("work.txt", ".git"), acc)
	wantErrno(t, "rename dir to .git", f.Rename("staging", ".git"), acc)
	wantErrno(t, "mkdir .airlock", f.Mkdir(".airlock", 0o755), acc)
	if w.exists(".git") || w.exists("staging/.git") || w.exists(".airlock") {
		t.Error("a protected name was created")
	}
}

func TestProtectedThroughSymlink(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	w.symlink(".git", "a") // planted on the host
	f, g := w.fs(defaultOpts())
	wantErrno(t, "write a/config", openErr(f, "a/config", wronly|trunc), experimentalsys.EACCES)
	wantErrno(t, "create a/new", openErr(f, "a/new", wronly|creat), experimentalsys.EACCES)
	wantErrno(t, "mkdir a/hooks", f.Mkdir("a/hooks", 0o755), experimentalsys.EACCES)
	wantErrno(t, "unlink a/config", f.Unlink("a/config"), experimentalsys.EACCES)
	wantErrno(t, "rename onto a/config", f.Rename("a/config", "a/config2"), experimentalsys.EACCES)
	// The guest may make a link to .git (it is inside), but not write through it.
	if e := f.Symlink(".git", "b"); e != 0 {
		t.Fatalf("symlink b -> .git: %v", e)
	}
	wantErrno(t, "write b/config", writeFile(f, "b/config", wronly|trunc, "pwned"), experimentalsys.EACCES)
	wantErrno(t, "chmod b/config", f.Chmod("b/config", 0o777), experimentalsys.EACCES)
	if w.content(".git/config") != "[core]" || w.exists(".git/new") || w.exists(".git/hooks") {
		t.Error(".git changed through a symlink")
	}
	// The decision names where the write really went.
	wantDecision(t, g, decision.FSWrite, "open", "/work/.git/config", `protect ".git"`, "EACCES")
	// The link itself may go.
	if e := f.Unlink("b"); e != 0 {
		t.Errorf("unlink the link b: %v", e)
	}
}

func TestProtectedHardLinkFromHost(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	w.file("x.txt", "x")
	if err := os.Link(filepath.Join(w.mount, ".git/config"), filepath.Join(w.mount, "alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(w.mount, "x.txt"), filepath.Join(w.mount, "y.txt")); err != nil {
		t.Fatal(err)
	}
	f, g := w.fs(defaultOpts())
	acc := experimentalsys.EACCES
	wantErrno(t, "open alias for write", openErr(f, "alias", wronly), acc)
	wantErrno(t, "open alias trunc", openErr(f, "alias", rdwr|trunc), acc)
	wantErrno(t, "chmod alias", f.Chmod("alias", 0o777), acc)
	wantErrno(t, "utimens alias", f.Utimens("alias", 1, 1), acc)
	wantErrno(t, "utimens alias without following", f.utimensNoFollow("alias", 1, 1), acc)
	file, e := f.OpenFile("alias", rdonly, 0)
	if e != 0 {
		t.Fatalf("reading alias: %v", e)
	}
	wantErrno(t, "utimens on read fd of alias", file.Utimens(1, 1), acc)
	file.Close()
	if w.content(".git/config") != "[core]" {
		t.Error("protected file changed through a hard link")
	}
	wantDecision(t, g, decision.FSWrite, "open", "/work/alias", `protect ".git" (hard link)`, "EACCES")
	// Ordinary hard links stay writable.
	if e := writeFile(f, "y.txt", wronly|trunc, "y"); e != 0 || w.content("x.txt") != "y" {
		t.Errorf("write to an ordinary hard link: %v", e)
	}
	// Removing the extra name is fine: it changes nothing in .git.
	if e := f.Unlink("alias"); e != 0 {
		t.Errorf("unlink alias: %v", e)
	}
}

func TestGitdirFile(t *testing.T) {
	for _, form := range []string{"relative", "absolute"} {
		t.Run(form, func(t *testing.T) {
			w := newWorld(t)
			w.file("gitdirs/main/config", "[core]")
			w.file("gitdirs/main/commondir", "../common\n")
			w.file("gitdirs/common/hooks/pre-commit", "#!/bin/sh")
			target := "gitdirs/main"
			if form == "absolute" {
				target = filepath.Join(w.mount, target)
			}
			w.file(".git", "gitdir: "+target+"\n")
			w.file("gitdirs/other.txt", "other")
			f, g := w.fs(defaultOpts())
			wantErrno(t, "write gitdir config", openErr(f, "gitdirs/main/config", wronly), experimentalsys.EACCES)
			wantErrno(t, "write commondir hook", openErr(f, "gitdirs/common/hooks/pre-commit", wronly), experimentalsys.EACCES)
			wantErrno(t, "rename gitdirs away", f.Rename("gitdirs", "elsewhere"), experimentalsys.EACCES)
			wantErrno(t, "rewrite .git file", openErr(f, ".git", wronly|trunc), experimentalsys.EACCES)
			if e := writeFile(f, "gitdirs/other.txt", wronly|trunc, "ok"); e != 0 {
				t.Errorf("write beside the gitdir: %v", e)
			}
			wantDecision(t, g, decision.FSWrite, "open", "/work/gitdirs/main/config", `protect "./gitdirs/main"`, "EACCES")
		})
	}
	t.Run("outside", func(t *testing.T) {
		w := newWorld(t)
		w.file(".git", "gitdir: "+w.outside+"\n")
		f, _ := w.fs(defaultOpts())
		if got := len(f.Mount().Protect); got != 2 {
			t.Errorf("a gitdir outside the mount added a pattern: %d", got)
		}
		w.checkOutside()
	})
	t.Run("symlink", func(t *testing.T) {
		w := newWorld(t)
		w.file("realgit/config", "[core]")
		w.symlink("realgit", ".git")
		f, _ := w.fs(defaultOpts())
		wantErrno(t, "write through .git symlink's target", openErr(f, "realgit/config", wronly), experimentalsys.EACCES)
	})
}

func TestAnchoredProtectAndRename(t *testing.T) {
	w := newWorld(t)
	w.file("config/app.ini", "safe")
	w.file("staging/app.ini", "evil")
	w.file("other/file.txt", "f")
	if err := os.Mkdir(filepath.Join(w.mount, "emptycfg"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := defaultOpts()
	o.protect = append(o.protect, "config/app.ini", "emptycfg/x")
	f, _ := w.fs(o)
	acc := experimentalsys.EACCES
	wantErrno(t, "rename config away", f.Rename("config", "config-old"), acc)
	wantErrno(t, "rename staging onto config", f.Rename("staging", "config"), acc)
	wantErrno(t, "rmdir ancestor of anchored pattern", f.Rmdir("emptycfg"), acc)
	wantErrno(t, "write config/app.ini", openErr(f, "config/app.ini", wronly), acc)
	if e := f.Rename("other", "other2"); e != 0 {
		t.Errorf("rename an ordinary directory: %v", e)
	}
	if w.content("config/app.ini") != "safe" || !w.exists("emptycfg") {
		t.Error("anchored protected path changed")
	}
}

func TestHidden(t *testing.T) {
	w := newWorld(t)
	w.file(".env", "TOKEN=hunter2")
	w.file("keys/server.pem", "PRIVATE KEY")
	w.file("keys/readme.txt", "r")
	w.file("secrets/a.txt", "secret a")
	w.file("visible.txt", "v")
	w.symlink(".env", "envlink")
	w.symlink("secrets", "secretslink")
	if err := os.Link(filepath.Join(w.mount, ".env"), filepath.Join(w.mount, "env-hardlink")); err != nil {
		t.Fatal(err)
	}
	o := defaultOpts()
	o.hide = append(o.hide, "secrets")
	f, g := w.fs(o)
	noent := experimentalsys.ENOENT

	for _, p := range []string{".env", "keys/server.pem", "secrets/a.txt", "envlink", "secretslink/a.txt", "env-hardlink", "secrets"} {
		wantErrno(t, "open "+p, openErr(f, p, rdonly), noent)
		_, e := f.Stat(p)
		wantErrno(t, "stat "+p, e, noent)
	}
	for _, p := range []string{".env", "keys/server.pem", "secrets/a.txt"} {
		_, e := f.Lstat(p)
		wantErrno(t, "lstat "+p, e, noent)
		_, e = f.Readlink(p)
		wantErrno(t, "readlink "+p, e, noent)
		wantErrno(t, "chmod "+p, f.Chmod(p, 0o777), noent)
		wantErrno(t, "utimens without following "+p, f.utimensNoFollow(p, 1, 1), noent)
		wantErrno(t, "unlink "+p, f.Unlink(p), noent)
		wantErrno(t, "rename "+p, f.Rename(p, "exposed"), noent)
		wantErrno(t, "link "+p, f.Link(p, "exposed"), noent)
	}
	// The guest may make a symlink to .env; it leads nowhere.
	if e := f.Symlink(".env", "mylink"); e != 0 {
		t.Fatalf("symlink: %v", e)
	}
	wantErrno(t, "open guest link to .env", openErr(f, "mylink", rdonly), noent)
	// Creating or renaming onto a hidden name: EACCES.
	wantErrno(t, "create .env", openErr(f, "sub.env/../.env", wronly|creat), experimentalsys.EACCES)
	wantErrno(t, "create x.pem", openErr(f, "x.pem", wronly|creat), experimentalsys.EACCES)
	wantErrno(t, "rename onto .env", f.Rename("visible.txt", ".env"), experimentalsys.EACCES)
	wantErrno(t, "mkdir secrets/x", f.Mkdir("secrets/x", 0o755), experimentalsys.EACCES)
	wantErrno(t, "rename hidden dir's parent", f.Rename("keys", "keys2"), 0)

	// Listing leaves them out.
	root, e := f.OpenFile(".", rdonly|dir, 0)
	if e != 0 {
		t.Fatal(e)
	}
	ents, e := root.Readdir(-1)
	root.Close()
	if e != 0 {
		t.Fatal(e)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name)
		if d.Ino == 0 {
			t.Errorf("%s: no inode", d.Name)
		}
		if (d.Name == "keys2") != (d.Type == fs.ModeDir) && d.Name != "secretslink" && d.Name != "envlink" && d.Name != "mylink" {
			t.Errorf("%s: type %v", d.Name, d.Type)
		}
	}
	slices.Sort(names)
	want := []string{"env-hardlink", "envlink", "keys2", "mylink", "secretslink", "visible.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("readdir: %v, want %v", names, want)
	}
	keys, _ := f.OpenFile("keys2", rdonly|dir, 0)
	ents, _ = keys.Readdir(-1)
	keys.Close()
	if len(ents) != 1 || ents[0].Name != "readme.txt" {
		t.Errorf("readdir keys2: %v", ents)
	}
	if w.content(".env") != "TOKEN=hunter2" || w.exists("exposed") {
		t.Error("hidden file changed or exposed")
	}
	wantDecision(t, g, decision.FSRead, "open", "/work/.env", `hide ".env"`, "ENOENT")
	wantDecision(t, g, decision.FSRead, "open", "/work/env-hardlink", `hide ".env" (hard link)`, "ENOENT")
	wantDecision(t, g, decision.FSWrite, "open", "/work/x.pem", `hide "*.pem"`, "EACCES")
}

func TestReadOnlyMount(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	w.file("d/b.txt", "b")
	if err := os.Mkdir(filepath.Join(w.mount, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := defaultOpts()
	o.access = policy.Read
	f, g := w.fs(o)
	rofs := experimentalsys.EROFS

	wantErrno(t, "open wronly", openErr(f, "a.txt", wronly), rofs)
	wantErrno(t, "open rdwr", openErr(f, "a.txt", rdwr), rofs)
	wantErrno(t, "open trunc", openErr(f, "a.txt", rdonly|trunc), rofs)
	wantErrno(t, "create", openErr(f, "new.txt", wronly|creat), rofs)
	wantErrno(t, "create excl", openErr(f, "new.txt", wronly|creat|excl), rofs)
	wantErrno(t, "mkdir", f.Mkdir("newdir", 0o755), rofs)
	wantErrno(t, "chmod", f.Chmod("a.txt", 0o777), rofs)
	wantErrno(t, "utimens", f.Utimens("a.txt", 1, 1), rofs)
	wantErrno(t, "rename", f.Rename("a.txt", "c.txt"), rofs)
	wantErrno(t, "rmdir", f.Rmdir("empty"), rofs)
	wantErrno(t, "unlink", f.Unlink("a.txt"), rofs)
	wantErrno(t, "link", f.Link("a.txt", "l.txt"), rofs)
	wantErrno(t, "symlink", f.Symlink("a.txt", "s.txt"), rofs)
	file, e := f.OpenFile("a.txt", rdonly, 0)
	if e != 0 {
		t.Fatal(e)
	}
	wantErrno(t, "utimens on fd", file.Utimens(1, 1), rofs)
	_, e = file.Write([]byte("x"))
	wantErrno(t, "write on fd", e, experimentalsys.EBADF)
	file.Close()
	if got, e := readAll(t, f, "d/b.txt"); e != 0 || got != "b" {
		t.Errorf("read: %q %v", got, e)
	}
	if w.content("a.txt") != "a" || w.exists("new.txt") || w.exists("newdir") || !w.exists("empty") || w.exists("l.txt") || w.exists("s.txt") {
		t.Error("read-only mount changed")
	}
	fi, _ := os.Stat(filepath.Join(w.mount, "a.txt"))
	if fi.Mode().Perm() != 0o644 || fi.ModTime().Unix() < 1000 {
		t.Error("read-only mount's file attributes changed")
	}
	wantDecision(t, g, decision.FSWrite, "open", "/work/a.txt", `mount "/work" access = "read"`, "EROFS")
	if d, _ := findDecision(g, "", "mkdir", "", "", ""); d.Verdict != policy.Deny || d.Origin != "policy.hcl:7:3" {
		t.Errorf("mkdir decision: %+v", d)
	}
}

func TestReadOnlyVerdictAsk(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	w.file(".git/config", "[core]")
	var asked []decision.Request
	o := defaultOpts()
	o.access = policy.Read
	o.asker = askerFunc(func(_ context.Context, r decision.Request) (bool, decision.Source) {
		asked = append(asked, r)
		return r.Target == "/work/a.txt", decision.SourceUser
	})
	f, g := w.fs(o)
	wantErrno(t, "before Ask", openErr(f, "a.txt", wronly), experimentalsys.EROFS)
	f.ReadOnlyVerdict = policy.Ask
	if e := writeFile(f, "a.txt", wronly|trunc, "approved"); e != 0 || w.content("a.txt") != "approved" {
		t.Errorf("approved write: %v %q", e, w.content("a.txt"))
	}
	wantErrno(t, "refused by the person", f.Mkdir("b", 0o755), experimentalsys.EROFS)
	// An approved write into the mount still cannot touch protected paths,
	// and those are never asked about.
	n := len(asked)
	f.ReadOnlyVerdict = policy.Allow
	wantErrno(t, "protected stays protected", openErr(f, ".git/config", wronly), experimentalsys.EACCES)
	if len(asked) != n {
		t.Error("a protected path was put to the asker")
	}
	var approved bool
	for _, d := range g.Decisions() {
		approved = approved || d.Target == "/work/a.txt" && d.Allowed && d.Source == decision.SourceUser && d.Verdict == policy.Ask
	}
	if !approved {
		t.Errorf("no approved decision:\n%s", dumpDecisions(g))
	}
}

func TestOpenFileLimit(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	limit := NewOpenFileLimit(3)
	o := defaultOpts()
	o.limit = limit
	f1, _ := w.fs(o)
	f2, g := w.fs(o) // a second mount shares the limit
	var open []experimentalsys.File
	for i, f := range []*FS{f1, f2, f1} {
		file, e := f.OpenFile("a.txt", rdonly, 0)
		if e != 0 {
			t.Fatalf("open %d: %v", i, e)
		}
		open = append(open, file)
	}
	if limit.Open() != 3 {
		t.Errorf("Open() = %d", limit.Open())
	}
	// wazero has no EMFILE; the guest gets EIO, the record says EMFILE's cause.
	wantErrno(t, "open past the limit", openErr(f2, "a.txt", rdonly), experimentalsys.EIO)
	wantDecision(t, g, "", "open", "/work/a.txt", "limits open_files = 3", "EIO")
	// wazero's own opening of the mount root is not counted.
	root, e := f1.OpenFile(".", rdonly, 0)
	if e != 0 {
		t.Fatalf("preopen at the limit: %v", e)
	}
	root.Close()
	open[0].Close()
	open[0].Close() // twice: released once
	if limit.Open() != 2 {
		t.Errorf("after close, Open() = %d", limit.Open())
	}
	file, e := f2.OpenFile("a.txt", rdonly, 0)
	if e != 0 {
		t.Fatalf("open after close: %v", e)
	}
	file.Close()
	// A failed open gives its place back.
	wantErrno(t, "missing", openErr(f1, "missing", rdonly), experimentalsys.ENOENT)
	if limit.Open() != 2 {
		t.Errorf("after failed open, Open() = %d", limit.Open())
	}
	for _, f := range open[1:] {
		f.Close()
	}
	if limit.Open() != 0 {
		t.Errorf("at the end, Open() = %d", limit.Open())
	}
}

func TestRevoke(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	w.file("d/b.txt", "b")
	limit := NewOpenFileLimit(10)
	o := defaultOpts()
	o.limit = limit
	f, g := w.fs(o)
	file, e := f.OpenFile("a.txt", rdwr, 0)
	if e != 0 {
		t.Fatal(e)
	}
	dirf, e := f.OpenFile("d", rdonly|dir, 0)
	if e != 0 {
		t.Fatal(e)
	}
	before := len(g.Decisions())
	g.Revoke()

	bad := experimentalsys.EBADF
	buf := make([]byte, 10)
	_, e = file.Read(buf)
	wantErrno(t, "read", e, bad)
	_, e = file.Pread(buf, 0)
	wantErrno(t, "pread", e, bad)
	_, e = file.Write([]byte("x"))
	wantErrno(t, "write", e, bad)
	_, e = file.Pwrite([]byte("x"), 0)
	wantErrno(t, "pwrite", e, bad)
	wantErrno(t, "truncate", file.Truncate(0), bad)
	_, e = file.Seek(0, 0)
	wantErrno(t, "seek", e, bad)
	_, e = file.Stat()
	wantErrno(t, "fstat", e, bad)
	wantErrno(t, "futimens", file.Utimens(1, 1), bad)
	wantErrno(t, "sync", file.Sync(), bad)
	wantErrno(t, "setappend", file.SetAppend(true), bad)
	_, e = dirf.Readdir(-1)
	wantErrno(t, "readdir", e, bad)

	acc := experimentalsys.EACCES
	wantErrno(t, "open", openErr(f, "a.txt", rdonly), bad)
	wantErrno(t, "preopen", openErr(f, ".", rdonly), bad)
	if _, e := f.OpenFile(".", rdonly, 0); e != experimentalsys.ENOENT {
		t.Errorf("wazero's preopen after revoke: %v, want ENOENT (anything else panics in wazero)", e)
	}
	_, e = f.Stat("a.txt")
	wantErrno(t, "stat", e, acc)
	_, e = f.Lstat("a.txt")
	wantErrno(t, "lstat", e, acc)
	_, e = f.Readlink("a.txt")
	wantErrno(t, "readlink", e, acc)
	wantErrno(t, "mkdir", f.Mkdir("x", 0o755), acc)
	wantErrno(t, "chmod", f.Chmod("a.txt", 0o600), acc)
	wantErrno(t, "utimens", f.Utimens("a.txt", 1, 1), acc)
	wantErrno(t, "rename", f.Rename("a.txt", "b.txt"), acc)
	wantErrno(t, "rmdir", f.Rmdir("d"), acc)
	wantErrno(t, "unlink", f.Unlink("a.txt"), acc)
	wantErrno(t, "link", f.Link("a.txt", "c.txt"), acc)
	wantErrno(t, "symlink", f.Symlink("a.txt", "s"), acc)

	if w.content("a.txt") != "a" || w.exists("x") || w.exists("b.txt") || w.exists("c.txt") || w.exists("s") {
		t.Error("the mount changed after Revoke")
	}
	// Close still gives the descriptors back.
	wantErrno(t, "close", file.Close(), 0)
	wantErrno(t, "close dir", dirf.Close(), 0)
	if limit.Open() != 0 {
		t.Errorf("Open() = %d after closing", limit.Open())
	}
	if n := len(g.Decisions()); n != before {
		t.Errorf("%d decisions recorded after Revoke (a spinning guest would fill memory)", n-before)
	}
}

// Ordinary work succeeds and records nothing.
func TestOrdinaryOperations(t *testing.T) {
	w := newWorld(t)
	w.file("src/main.go", "package main")
	f, g := w.fs(defaultOpts())
	steps := []struct {
		name string
		do   func() experimentalsys.Errno
	}{
		{"mkdir", func() experimentalsys.Errno { return f.Mkdir("out", 0o755) }},
		{"create", func() experimentalsys.Errno { return writeFile(f, "out/a.txt", wronly|creat|excl, "hello") }},
		{"append", func() experimentalsys.Errno {
			return writeFile(f, "out/a.txt", wronly|experimentalsys.O_APPEND, " world")
		}},
		{"overwrite", func() experimentalsys.Errno { return writeFile(f, "src/main.go", wronly|trunc, "package x") }},
		{"create through nofollow", func() experimentalsys.Errno { return writeFile(f, "out/n.txt", wronly|creat|nofol, "n") }},
		{"link", func() experimentalsys.Errno { return f.Link("out/a.txt", "out/b.txt") }},
		{"symlink", func() experimentalsys.Errno { return f.Symlink("a.txt", "out/c.txt") }},
		{"rename", func() experimentalsys.Errno { return f.Rename("out/b.txt", "out/d.txt") }},
		{"chmod", func() experimentalsys.Errno { return f.Chmod("out/a.txt", 0o600) }},
		{"utimens", func() experimentalsys.Errno { return f.Utimens("out/c.txt", 1e9, 2e9) }},
		{"unlink", func() experimentalsys.Errno { return f.Unlink("out/n.txt") }},
		{"mkdir+rmdir", func() experimentalsys.Errno {
			if e := f.Mkdir("tmp", 0o700); e != 0 {
				return e
			}
			return f.Rmdir("tmp/")
		}},
	}
	for _, s := range steps {
		if e := s.do(); e != 0 {
			t.Fatalf("%s: %v", s.name, e)
		}
	}
	if got, e := readAll(t, f, "out/d.txt"); e != 0 || got != "hello world" {
		t.Errorf("read: %q %v", got, e)
	}
	if got, e := f.Readlink("out/c.txt"); e != 0 || got != "a.txt" {
		t.Errorf("readlink: %q %v", got, e)
	}
	st, e := f.Stat("out/c.txt")
	if e != 0 || st.Mode.Perm() != 0o600 || st.Mtim != 2e9 || st.Nlink != 2 || st.Size != 11 {
		t.Errorf("stat through link: %+v %v", st, e)
	}
	wantErrno(t, "open missing", openErr(f, "nope", rdonly), experimentalsys.ENOENT)
	wantErrno(t, "create existing excl", openErr(f, "out/a.txt", wronly|creat|excl), experimentalsys.EEXIST)
	wantErrno(t, "mkdir existing", f.Mkdir("out", 0o755), experimentalsys.EEXIST)
	wantErrno(t, "rmdir non-empty", f.Rmdir("out"), experimentalsys.ENOTEMPTY)
	wantErrno(t, "unlink dir", f.Unlink("out"), experimentalsys.EISDIR)
	wantErrno(t, "nofollow on a link", openErr(f, "out/c.txt", rdonly|nofol), experimentalsys.ELOOP)
	wantErrno(t, "dir flag on a file", openErr(f, "src/main.go/", rdonly), experimentalsys.ENOTDIR)
	_, e = f.Stat("src/main.go/")
	wantErrno(t, "stat file/", e, experimentalsys.ENOTDIR)
	if n := len(g.Decisions()); n != 0 {
		t.Errorf("ordinary operations recorded %d decisions:\n%s", n, dumpDecisions(g))
	}
}

func TestFileOperations(t *testing.T) {
	w := newWorld(t)
	w.file("f.txt", "0123456789")
	for i := 0; i < 40; i++ {
		w.file("many/"+strings.Repeat("n", 100)+string(rune('a'+i%26))+string(rune('a'+i/26)), "")
	}
	f, _ := w.fs(defaultOpts())
	file, e := f.OpenFile("f.txt", rdwr, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer file.Close()
	buf := make([]byte, 4)
	if n, e := file.Pread(buf, 3); e != 0 || string(buf[:n]) != "3456" {
		t.Errorf("pread: %q %v", buf[:n], e)
	}
	if off, e := file.Seek(-2, 2); e != 0 || off != 8 {
		t.Errorf("seek: %d %v", off, e)
	}
	if n, e := file.Read(buf); e != 0 || string(buf[:n]) != "89" {
		t.Errorf("read: %q %v", buf[:n], e)
	}
	if _, e := file.Pwrite([]byte("ab"), 0); e != 0 {
		t.Error(e)
	}
	if e := file.Truncate(5); e != 0 {
		t.Error(e)
	}
	if e := file.SetAppend(true); e != 0 || !file.IsAppend() {
		t.Errorf("setappend: %v", e)
	}
	if _, e := file.Write([]byte("Z")); e != 0 {
		t.Error(e)
	}
	if e := file.Utimens(experimentalsys.UTIME_OMIT, 5e9); e != 0 {
		t.Error(e)
	}
	st, e := file.Stat()
	if e != 0 || st.Size != 6 || st.Mtim != 5e9 {
		t.Errorf("fstat: %+v %v", st, e)
	}
	if w.content("f.txt") != "ab234Z" {
		t.Errorf("content %q", w.content("f.txt"))
	}
	if e := file.Sync(); e != 0 {
		t.Error(e)
	}
	if ready, e := file.(experimentalsys.PollableFile).Poll(experimentalsys.POLLIN, 0); e != 0 || !ready {
		t.Errorf("poll: %v %v", ready, e)
	}
	if ino, _ := file.Ino(); ino != st.Ino {
		t.Error("Ino differs from Stat")
	}

	// Readdir in batches, then rewound.
	d, e := f.OpenFile("many", rdonly|dir, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer d.Close()
	var total int
	for {
		ents, e := d.Readdir(7)
		if e != 0 {
			t.Fatal(e)
		}
		total += len(ents)
		if len(ents) < 7 {
			break
		}
	}
	if total != 40 {
		t.Errorf("read %d entries in batches, want 40", total)
	}
	if _, e := d.Seek(0, 0); e != 0 {
		t.Fatal(e)
	}
	w.file("many/late", "")
	if ents, _ := d.Readdir(-1); len(ents) != 41 {
		t.Errorf("after rewind: %d entries, want 41", len(ents))
	}
	if isDir, _ := d.IsDir(); !isDir {
		t.Error("IsDir false for a directory")
	}
	_, e = d.Read(buf)
	wantErrno(t, "read dir", e, experimentalsys.EISDIR)
}

// TestCoveredPartsAreRefused: a part of a mount that a nested mount serves
// (FS.cover) is refused by every operation, reached by its name, through a
// symlink planted on the host or made by the guest, or through a symlinked
// parent; a directory holding it cannot be renamed or removed; nothing in
// it is opened.
func TestCoveredPartsAreRefused(t *testing.T) {
	w := newWorld(t)
	w.file("a/inner/x.txt", "covered")
	w.file("ok.txt", "ok")
	w.symlink("a/inner", "l")
	w.symlink("a/inner/x.txt", "lx")
	w.symlink(".", "self")
	f, g := w.fs(defaultOpts())
	f.cover("a/inner", "/work/a/inner")
	check := watchDir(t, filepath.Join(w.mount, "a/inner"), false)
	perm := experimentalsys.EPERM
	// Through the symlink lx (itself outside the covered part, so it may be
	// renamed or read as a link), what it points to is refused.
	wantErrno(t, "open lx", openErr(f, "lx", rdonly), perm)
	wantErrno(t, "open lx for write", openErr(f, "lx", wronly|trunc), perm)
	_, e := f.Stat("lx")
	wantErrno(t, "stat lx", e, perm)
	wantErrno(t, "chmod lx", f.Chmod("lx", 0o777), perm)
	wantErrno(t, "utimens lx", f.Utimens("lx", 1, 1), perm)
	for _, p := range []string{"a/inner/x.txt", "l/x.txt", "self/a/inner/x.txt", "a/inner"} {
		wantErrno(t, "open "+p, openErr(f, p, rdonly), perm)
		wantErrno(t, "open for write "+p, openErr(f, p, wronly), perm)
		wantErrno(t, "open nofollow "+p, openErr(f, p, rdonly|nofol), perm)
		_, e := f.Stat(p)
		wantErrno(t, "stat "+p, e, perm)
		wantErrno(t, "chmod "+p, f.Chmod(p, 0o777), perm)
		wantErrno(t, "utimens "+p, f.Utimens(p, 1, 1), perm)
		wantErrno(t, "rename "+p, f.Rename(p, "moved"), perm)
	}
	for _, p := range []string{"a/inner/x.txt", "self/a/inner/x.txt"} {
		_, e := f.Lstat(p)
		wantErrno(t, "lstat "+p, e, perm)
		_, e = f.Readlink(p)
		wantErrno(t, "readlink "+p, e, perm)
		wantErrno(t, "utimens without following "+p, f.utimensNoFollow(p, 1, 1), perm)
		wantErrno(t, "unlink "+p, f.Unlink(p), perm)
		wantErrno(t, "link from "+p, f.Link(p, "copy"), perm)
	}
	for _, p := range []string{"a/inner/new", "l/new", "self/a/inner/new"} {
		wantErrno(t, "create "+p, openErr(f, p, wronly|creat), perm)
		wantErrno(t, "create excl "+p, openErr(f, p, wronly|creat|excl), perm)
		wantErrno(t, "mkdir "+p, f.Mkdir(p, 0o755), perm)
		wantErrno(t, "symlink "+p, f.Symlink("x", p), perm)
		wantErrno(t, "link to "+p, f.Link("ok.txt", p), perm)
		wantErrno(t, "rename to "+p, f.Rename("ok.txt", p), perm)
	}
	wantErrno(t, "rename the directory holding it", f.Rename("a", "b"), perm)
	wantErrno(t, "rmdir the directory holding it", f.Rmdir("a"), perm)
	wantErrno(t, "rmdir it", f.Rmdir("a/inner"), perm)
	// Beside it, everything works.
	if e := writeFile(f, "a/beside.txt", wronly|creat, "b"); e != 0 {
		t.Errorf("write beside the covered part: %v", e)
	}
	check()
	if w.content("a/inner/x.txt") != "covered" || w.exists("moved") || w.exists("copy") || w.exists("b") {
		t.Error("the covered part changed")
	}
	wantDecision(t, g, decision.FSRead, "open", "/work/a/inner/x.txt", `mount "/work" boundary (served by mount "/work/a/inner")`, "EPERM")
	wantDecision(t, g, decision.FSWrite, "rename", "/work/a", `mount "/work" boundary (holds mount "/work/a/inner")`, "EPERM")
	w.checkOutside()
}
