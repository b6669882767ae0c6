//go:build linux

package host

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"golang.org/x/sys/unix"
)

// ---- harness: airlock's WASI functions called as a guest would ----

// memModule is the smallest module with an exported memory: a guest whose
// memory the WASI functions read and write.
var memModule = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x05, 0x03, 0x01, 0x00, 0x02, // memory section: one memory, min 2 pages
	0x07, 0x0a, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export "memory"
}

// wasiGuest calls airlock's WASI functions directly, with a real guest
// memory, as a guest's imports would.
type wasiGuest struct {
	t    testing.TB
	w    *WASI
	mod  api.Module
	ctx  context.Context
	next uint32 // bump allocator in guest memory
}

func newWASIGuest(t testing.TB, mounts ...WASIMount) *wasiGuest {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	mod, err := r.Instantiate(ctx, memModule)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWASI(mounts, nil, nil, nil)
	t.Cleanup(w.Close)
	return &wasiGuest{t: t, w: w, mod: mod, ctx: WithRun(ctx, &Run{WASI: w}), next: 1024}
}

// call runs a WASI function of airlock's and returns its errno.
func (g *wasiGuest) call(name string, params ...uint64) wasiErrno {
	g.t.Helper()
	fn, ok := wasiFuncs[name]
	if !ok {
		g.t.Fatalf("airlock does not serve %s", name)
	}
	stack := make([]uint64, max(len(params), 1))
	copy(stack, params)
	fn.Call(g.ctx, g.mod, stack)
	return wasiErrno(stack[0])
}

// alloc reserves n bytes of guest memory.
func (g *wasiGuest) alloc(n uint32) uint32 {
	p := g.next
	g.next += (n + 7) &^ 7
	if g.next > 2*65536 {
		g.t.Fatal("guest memory of the harness exhausted")
	}
	return p
}

// str puts s in guest memory and returns its pointer and length.
func (g *wasiGuest) str(s string) (uint64, uint64) {
	p := g.alloc(uint32(len(s)))
	g.mod.Memory().WriteString(p, s)
	return uint64(p), uint64(len(s))
}

func (g *wasiGuest) u32(p uint32) uint32 {
	v, _ := g.mod.Memory().ReadUint32Le(p)
	return v
}

// open is path_open relative to dirfd, following symlinks.
func (g *wasiGuest) open(dirfd uint32, p string, oflags uint16, base uint64, fdflags uint16) (uint32, wasiErrno) {
	g.t.Helper()
	return g.openLookup(dirfd, lookupSymlinkFollow, p, oflags, base, fdflags)
}

func (g *wasiGuest) openLookup(dirfd, lookup uint32, p string, oflags uint16, base uint64, fdflags uint16) (uint32, wasiErrno) {
	g.t.Helper()
	ptr, n := g.str(p)
	out := g.alloc(4)
	e := g.call("path_open", uint64(dirfd), uint64(lookup), ptr, n, uint64(oflags), base, fileRights|dirRights, uint64(fdflags), uint64(out))
	return g.u32(out), e
}

// pathCall calls a path_* function that takes (fd, path, path_len).
func (g *wasiGuest) pathCall(name string, dirfd uint32, p string) wasiErrno {
	g.t.Helper()
	ptr, n := g.str(p)
	return g.call(name, uint64(dirfd), ptr, n)
}

func (g *wasiGuest) stat(dirfd uint32, p string, follow bool) wasiErrno {
	g.t.Helper()
	ptr, n := g.str(p)
	var flags uint64
	if follow {
		flags = lookupSymlinkFollow
	}
	return g.call("path_filestat_get", uint64(dirfd), flags, ptr, n, uint64(g.alloc(64)))
}

func (g *wasiGuest) setTimes(dirfd uint32, p string, follow bool) wasiErrno {
	g.t.Helper()
	ptr, n := g.str(p)
	var flags uint64
	if follow {
		flags = lookupSymlinkFollow
	}
	return g.call("path_filestat_set_times", uint64(dirfd), flags, ptr, n, 1e18, 1e18, fstAtim|fstMtim)
}

func (g *wasiGuest) readlink(dirfd uint32, p string) wasiErrno {
	g.t.Helper()
	ptr, n := g.str(p)
	return g.call("path_readlink", uint64(dirfd), ptr, n, uint64(g.alloc(256)), 256, uint64(g.alloc(4)))
}

func (g *wasiGuest) symlink(target string, dirfd uint32, p string) wasiErrno {
	g.t.Helper()
	tp, tn := g.str(target)
	ptr, n := g.str(p)
	return g.call("path_symlink", tp, tn, uint64(dirfd), ptr, n)
}

func (g *wasiGuest) rename(fd1 uint32, p1 string, fd2 uint32, p2 string) wasiErrno {
	g.t.Helper()
	a, an := g.str(p1)
	b, bn := g.str(p2)
	return g.call("path_rename", uint64(fd1), a, an, uint64(fd2), b, bn)
}

func (g *wasiGuest) link(fd1 uint32, p1 string, fd2 uint32, p2 string) wasiErrno {
	g.t.Helper()
	a, an := g.str(p1)
	b, bn := g.str(p2)
	return g.call("path_link", uint64(fd1), 0, a, an, uint64(fd2), b, bn)
}

// read reads up to 4 KiB from fd.
func (g *wasiGuest) read(fd uint32) (string, wasiErrno) {
	g.t.Helper()
	buf := g.alloc(4096)
	iov := g.alloc(8)
	g.mod.Memory().WriteUint32Le(iov, buf)
	g.mod.Memory().WriteUint32Le(iov+4, 4096)
	out := g.alloc(4)
	e := g.call("fd_read", uint64(fd), uint64(iov), 1, uint64(out))
	if e != 0 {
		return "", e
	}
	b, _ := g.mod.Memory().Read(buf, g.u32(out))
	return string(b), 0
}

// write writes s to fd (at off with fd_pwrite when off >= 0).
func (g *wasiGuest) write(fd uint32, s string, off int64) wasiErrno {
	g.t.Helper()
	p, n := g.str(s)
	iov := g.alloc(8)
	g.mod.Memory().WriteUint32Le(iov, uint32(p))
	g.mod.Memory().WriteUint32Le(iov+4, uint32(n))
	if off >= 0 {
		return g.call("fd_pwrite", uint64(fd), uint64(iov), 1, uint64(off), uint64(g.alloc(4)))
	}
	return g.call("fd_write", uint64(fd), uint64(iov), 1, uint64(g.alloc(4)))
}

// readFile opens p relative to dirfd, reads it and closes it.
func (g *wasiGuest) readFile(dirfd uint32, p string) (string, wasiErrno) {
	g.t.Helper()
	fd, e := g.open(dirfd, p, 0, rightFdRead, 0)
	if e != 0 {
		return "", e
	}
	defer g.call("fd_close", uint64(fd))
	return g.read(fd)
}

// writeFile creates or truncates p relative to dirfd and writes s.
func (g *wasiGuest) writeFile(dirfd uint32, p, s string) wasiErrno {
	g.t.Helper()
	fd, e := g.open(dirfd, p, oflagCreat|oflagTrunc, rightFdWrite, 0)
	if e != 0 {
		return e
	}
	defer g.call("fd_close", uint64(fd))
	return g.write(fd, s, -1)
}

// readdir lists the directory fd (names, "." and ".." included).
func (g *wasiGuest) readdir(fd uint32) ([]string, wasiErrno) {
	g.t.Helper()
	buf := g.alloc(8192)
	used := g.alloc(4)
	if e := g.call("fd_readdir", uint64(fd), uint64(buf), 8192, 0, uint64(used)); e != 0 {
		return nil, e
	}
	b, _ := g.mod.Memory().Read(buf, g.u32(used))
	var names []string
	for len(b) >= direntSize {
		n := binary.LittleEndian.Uint32(b[16:])
		names = append(names, string(b[direntSize:direntSize+int(n)]))
		b = b[direntSize+int(n):]
	}
	return names, 0
}

func wantWASI(t *testing.T, what string, got wasiErrno, want ...wasiErrno) {
	t.Helper()
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("%s: errno %d, want one of %v", what, got, want)
}

// ---- the ABI ----

// TestWASIErrnoNumbers checks airlock's errno numbers against the order of
// the errno enum in WASI preview 1's witx, where each value is its index.
func TestWASIErrnoNumbers(t *testing.T) {
	witx := strings.Fields(`success 2big acces addrinuse addrnotavail afnosupport again already badf badmsg busy
		canceled child connaborted connrefused connreset deadlk destaddrreq dom dquot exist fault fbig hostunreach
		idrm ilseq inprogress intr inval io isconn isdir loop mfile mlink msgsize multihop nametoolong netdown
		netreset netunreach nfile nobufs nodev noent noexec nolck nolink nomem nomsg noprotoopt nospc nosys notconn
		notdir notempty notrecoverable notsock notsup notty nxio overflow ownerdead perm pipe proto protonosupport
		prototype range rofs spipe srch stale timedout txtbsy xdev notcapable`)
	index := map[string]wasiErrno{}
	for i, name := range witx {
		index[name] = wasiErrno(i)
	}
	for name, got := range map[string]wasiErrno{
		"success": errSUCCESS, "acces": errACCES, "again": errAGAIN, "badf": errBADF, "exist": errEXIST,
		"fault": errFAULT, "fbig": errFBIG, "intr": errINTR, "inval": errINVAL, "io": errIO, "isdir": errISDIR,
		"loop": errLOOP, "mfile": errMFILE, "nametoolong": errNAMETOOLONG, "noent": errNOENT, "nosys": errNOSYS,
		"notdir": errNOTDIR, "notempty": errNOTEMPTY, "notsock": errNOTSOCK, "notsup": errNOTSUP, "perm": errPERM,
		"range": errRANGE, "rofs": errROFS, "spipe": errSPIPE, "xdev": errXDEV, "notcapable": errNOTCAPABLE,
	} {
		if want, ok := index[name]; !ok || got != want {
			t.Errorf("errno %s = %d, want %d", name, got, want)
		}
	}
}

// TestWASIFuncsMatchWazerosSignatures checks that every function airlock
// serves exists in wazero's WASI, whose parameter and result types it is
// registered with, and reads its parameters at the positions WASI gives
// them (the count here is the witx signature's).
func TestWASIFuncsMatchWazerosSignatures(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	b := r.NewHostModuleBuilder(WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]int{
		"fd_advise": 4, "fd_allocate": 3, "fd_close": 1, "fd_datasync": 1, "fd_fdstat_get": 2,
		"fd_fdstat_set_flags": 2, "fd_fdstat_set_rights": 3, "fd_filestat_get": 2, "fd_filestat_set_size": 2,
		"fd_filestat_set_times": 4, "fd_pread": 5, "fd_prestat_get": 2, "fd_prestat_dir_name": 3, "fd_pwrite": 5,
		"fd_read": 4, "fd_readdir": 5, "fd_renumber": 2, "fd_seek": 4, "fd_sync": 1, "fd_tell": 2, "fd_write": 4,
		"path_create_directory": 3, "path_filestat_get": 5, "path_filestat_set_times": 7, "path_link": 7,
		"path_open": 9, "path_readlink": 6, "path_remove_directory": 3, "path_rename": 6, "path_symlink": 5,
		"path_unlink_file": 3, "poll_oneoff": 4, "sock_accept": 3, "sock_recv": 6, "sock_send": 5, "sock_shutdown": 2,
	}
	defs := cm.ExportedFunctions()
	for name := range wasiFuncs {
		def, ok := defs[name]
		switch {
		case !ok:
			t.Errorf("%s is not a WASI function of wazero's", name)
		case len(def.ParamTypes()) != params[name]:
			t.Errorf("%s: wazero has %d parameters, airlock reads %d", name, len(def.ParamTypes()), params[name])
		case len(def.ResultTypes()) != 1:
			t.Errorf("%s: %d results", name, len(def.ResultTypes()))
		}
	}
	if len(params) != len(wasiFuncs) {
		t.Errorf("%d functions served, %d listed here", len(wasiFuncs), len(params))
	}
}

// ---- the root mount ----

// TestWASIRootMountStaysInside: with the mount at "/", every path function
// refuses "..", absolute paths and symlinks that lead above it, from the
// preopen and from a directory opened below it; nothing outside is touched.
func TestWASIRootMountStaysInside(t *testing.T) {
	w := newWorld(t)
	w.file("sub/in.txt", "in")
	w.symlink("../outside", "out")                           // planted, relative
	w.symlink(filepath.Join(w.outside, "secret.txt"), "abs") // planted, absolute
	f, gate := w.fsAt("/", defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: f})
	const root = 3
	sub, e := g.open(root, "sub", oflagDirectory, dirRights, 0)
	if e != 0 {
		t.Fatalf("open sub: %d", e)
	}

	escapes := []struct {
		fd uint32
		p  string
	}{
		{root, ".."}, {root, "../outside/secret.txt"}, {root, "/etc/passwd"}, {root, "/outside/secret.txt"},
		{root, "sub/../../outside/secret.txt"}, {root, "out/secret.txt"}, {root, "abs"},
		{sub, ".."}, {sub, "../in.txt"}, {sub, "../../outside/secret.txt"}, {sub, "/in.txt"},
	}
	for _, c := range escapes {
		what := c.p
		wantWASI(t, "open "+what, func() wasiErrno { _, e := g.readFile(c.fd, c.p); return e }(), errPERM)
		wantWASI(t, "create "+what, g.writeFile(c.fd, c.p, "pwned"), errPERM, errISDIR)
		wantWASI(t, "stat "+what, g.stat(c.fd, c.p, true), errPERM)
		wantWASI(t, "set times "+what, g.setTimes(c.fd, c.p, true), errPERM)
		wantWASI(t, "mkdir "+what+"/d", g.pathCall("path_create_directory", c.fd, c.p+"/d"), errPERM)
		if c.p != "abs" { // the planted link itself may be read, and removed: it is inside
			wantWASI(t, "unlink "+what, g.pathCall("path_unlink_file", c.fd, c.p), errPERM, errISDIR)
			wantWASI(t, "rmdir "+what, g.pathCall("path_remove_directory", c.fd, c.p), errPERM, errNOTDIR)
			wantWASI(t, "readlink "+what, g.readlink(c.fd, c.p), errPERM)
			wantWASI(t, "lstat "+what, g.stat(c.fd, c.p, false), errPERM)
			wantWASI(t, "set times without following "+what, g.setTimes(c.fd, c.p, false), errPERM)
		}
		wantWASI(t, "rename to "+what, g.rename(root, "sub/in.txt", c.fd, c.p+"/x"), errPERM)
		wantWASI(t, "link to "+what, g.link(root, "sub/in.txt", c.fd, c.p+"/x"), errPERM)
		wantWASI(t, "symlink at "+what, g.symlink("in.txt", c.fd, c.p+"/l"), errPERM)
	}
	// Symlinks out are refused when made, from "/" as from below it.
	for _, target := range []string{"..", "../outside", "/outside/secret.txt", w.outside} {
		wantWASI(t, "symlink to "+target, g.symlink(target, root, "made"), errPERM)
	}
	wantWASI(t, "symlink to .. from sub", g.symlink("../..", sub, "up"), errPERM)
	if got, e := g.readFile(root, "sub/in.txt"); e != 0 || got != "in" {
		t.Errorf("read inside: %q %d", got, e)
	}
	if w.content("sub/in.txt") != "in" || w.exists("made") || w.exists("sub/up") {
		t.Error("the mount changed")
	}
	wantDecision(t, gate, decision.FSRead, "open", "/sub/..", `mount "/" boundary`, "EPERM")
	wantDecision(t, gate, decision.FSRead, "open", "/etc/passwd", `mount "/" boundary`, "EPERM")
	w.checkOutside()
}

// fsAt is w.fs with the mount at guest path guest.
func (w *world) fsAt(guest string, o mountOpts) (*FS, *Gate) {
	w.t.Helper()
	return w.fsOf(guest, w.mount, o)
}

// fsOf makes the policy filesystem of host directory host at guest path
// guest, with its own gate.
func (w *world) fsOf(guest, host string, o mountOpts) (*FS, *Gate) {
	w.t.Helper()
	gate := NewGate(context.Background(), o.asker, nil)
	m := newMount(w.t, guest, host, o)
	f, err := NewFS(m, gate, o.limit, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { f.Close() })
	return f, gate
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeHost(t *testing.T, p, s string) {
	t.Helper()
	mkdirs(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hostContent(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<absent>"
	}
	return string(b)
}

func newMount(t testing.TB, guest, host string, o mountOpts) policy.Mount {
	t.Helper()
	return policy.Mount{Guest: guest, Host: host, Access: o.access,
		Protect: patterns(t, o.protect...), Hide: patterns(t, o.hide...), Origin: testOrigin}
}

// watchDir watches dir with inotify; the returned function fails the test
// if anything in dir was changed, created or removed since, or, unless
// writesOnly, opened or read.
func watchDir(t *testing.T, dir string, writesOnly bool) func() {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var events uint32 = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM |
		unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if !writesOnly {
		events |= unix.IN_OPEN | unix.IN_ACCESS
	}
	if _, err := unix.InotifyAddWatch(fd, dir, events); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		buf := make([]byte, 64<<10)
		n, err := unix.Read(fd, buf)
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		var names []string
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			names = append(names, name+":"+inotifyMask(ev.Mask))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		if len(names) > 0 {
			t.Errorf("%s was touched: %v", dir, names)
		}
	}
}

// ---- nested mounts ----

// nestedWorld is "/" (outer) and "/work" (inner) from two host
// directories. The outer one has a directory of its own at the inner mount
// point, "work", holding shadow.txt: hidden under the inner mount, it must
// never be reached, however a path leads there.
type nestedWorld struct {
	*world
	outer, inner string
	shadow       string // outer/work/shadow.txt
}

func newNestedWorld(t *testing.T) *nestedWorld {
	w := newWorld(t)
	nw := &nestedWorld{world: w, outer: w.mount, inner: filepath.Join(w.base, "inner")}
	nw.shadow = filepath.Join(nw.outer, "work", "shadow.txt")
	writeHost(t, filepath.Join(nw.outer, "a.txt"), "a")
	writeHost(t, nw.shadow, "SHADOW")
	writeHost(t, filepath.Join(nw.inner, "in.txt"), "in")
	writeHost(t, filepath.Join(nw.inner, "key.pem"), "KEY")
	for target, name := range map[string]string{"work": "lnk", "work/shadow.txt": "lnk2", ".": "self"} {
		if err := os.Symlink(target, filepath.Join(nw.outer, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../mount", filepath.Join(nw.inner, "up")); err != nil {
		t.Fatal(err)
	}
	return nw
}

// TestWASINestedMounts: the inner mount serves every path below its mount
// point with its own rules, whichever descriptor the path starts from; the
// outer mount's own directory at that point is never reached; renames and
// links across the boundary are refused; ".." and symlinks in the inner
// mount do not reach the outer one.
func TestWASINestedMounts(t *testing.T) {
	nw := newNestedWorld(t)
	outerOpts := defaultOpts() // writable
	innerOpts := defaultOpts()
	innerOpts.access = policy.Read
	innerOpts.hide = []string{"*.pem"}
	fo, gateOuter := nw.fsOf("/", nw.outer, outerOpts)
	fi, gateInner := nw.fsOf("/work", nw.inner, innerOpts)
	checkShadow := watchDir(t, filepath.Join(nw.outer, "work"), false) // never opened
	checkInner := watchDir(t, nw.inner, true)                          // read, never changed
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/work", FS: fi})
	const outer, inner = 3, 4

	// The inner mount point, asked of "/", is the inner mount.
	if got, e := g.readFile(outer, "work/in.txt"); e != 0 || got != "in" {
		t.Errorf("read work/in.txt through /: %q %d", got, e)
	}
	wantWASI(t, "read work/shadow.txt through /", func() wasiErrno { _, e := g.readFile(outer, "work/shadow.txt"); return e }(), errNOENT)
	// Its rules hold there: read-only, *.pem hidden.
	wantWASI(t, "write work/new.txt through /", g.writeFile(outer, "work/new.txt", "x"), errROFS)
	wantWASI(t, "write work/in.txt through /", g.writeFile(outer, "work/in.txt", "x"), errROFS)
	wantWASI(t, "mkdir work/d through /", g.pathCall("path_create_directory", outer, "work/d"), errROFS)
	wantWASI(t, "set times of work/in.txt through /", g.setTimes(outer, "work/in.txt", false), errROFS)
	wantWASI(t, "read work/key.pem through /", func() wasiErrno { _, e := g.readFile(outer, "work/key.pem"); return e }(), errNOENT)
	wantWASI(t, "read key.pem", func() wasiErrno { _, e := g.readFile(inner, "key.pem"); return e }(), errNOENT)
	dirfd, e := g.open(outer, "work", oflagDirectory, dirRights, 0)
	if e != 0 {
		t.Fatalf("open work through /: %d", e)
	}
	if names, e := g.readdir(dirfd); e != 0 || strings.Join(sorted(names), ",") != ".,..,in.txt,up" {
		t.Errorf("list work through /: %q %d", names, e)
	}
	wantWASI(t, "write in a directory opened through /", g.writeFile(dirfd, "new.txt", "x"), errROFS)

	// The outer mount's own "work" is not reachable by any other way.
	for _, p := range []string{"lnk/shadow.txt", "lnk2", "self/work/shadow.txt", "self/./work/shadow.txt"} {
		wantWASI(t, "read "+p, func() wasiErrno { _, e := g.readFile(outer, p); return e }(), errPERM)
		wantWASI(t, "stat "+p, g.stat(outer, p, true), errPERM)
		wantWASI(t, "write "+p, g.writeFile(outer, p, "pwned"), errPERM)
		wantWASI(t, "set times "+p, g.setTimes(outer, p, true), errPERM)
	}
	for _, p := range []string{"lnk/new.txt", "self/work/new.txt"} {
		wantWASI(t, "create "+p, g.writeFile(outer, p, "x"), errPERM)
		wantWASI(t, "mkdir "+p, g.pathCall("path_create_directory", outer, p), errPERM)
		wantWASI(t, "symlink "+p, g.symlink("a.txt", outer, p), errPERM)
		wantWASI(t, "rename to "+p, g.rename(outer, "a.txt", outer, p), errPERM)
		wantWASI(t, "link to "+p, g.link(outer, "a.txt", outer, p), errPERM)
	}
	wantWASI(t, "unlink self/work/shadow.txt", g.pathCall("path_unlink_file", outer, "self/work/shadow.txt"), errPERM)
	wantWASI(t, "rename self/work away", g.rename(outer, "self/work", outer, "moved"), errPERM)
	wantWASI(t, "guest symlink into work, then read", func() wasiErrno {
		if e := g.symlink("work/shadow.txt", outer, "made"); e != 0 {
			return e
		}
		_, e := g.readFile(outer, "made")
		return e
	}(), errPERM)

	// Nothing crosses the boundary by name.
	wantWASI(t, "rename a.txt into work", g.rename(outer, "a.txt", outer, "work/a.txt"), errXDEV)
	wantWASI(t, "rename work/in.txt out", g.rename(outer, "work/in.txt", outer, "b.txt"), errXDEV)
	wantWASI(t, "rename in.txt to /", g.rename(inner, "in.txt", outer, "b.txt"), errXDEV)
	wantWASI(t, "rename the mount point", g.rename(outer, "work", outer, "w2"), errXDEV)
	wantWASI(t, "link a.txt into work", g.link(outer, "a.txt", inner, "l"), errXDEV)
	wantWASI(t, "link work/in.txt to /", g.link(outer, "work/in.txt", outer, "l"), errXDEV)
	wantWASI(t, "rmdir the mount point", g.pathCall("path_remove_directory", outer, "work"), errINVAL, errROFS)
	wantWASI(t, "unlink the mount point", g.pathCall("path_unlink_file", outer, "work"), errISDIR, errROFS)

	// ".." and symlinks in the inner mount stay in it.
	for _, p := range []string{"../a.txt", "up/a.txt", "../work/shadow.txt"} {
		wantWASI(t, "read "+p+" in /work", func() wasiErrno { _, e := g.readFile(inner, p); return e }(), errPERM)
	}
	wantWASI(t, "read ../a.txt from work opened through /", func() wasiErrno { _, e := g.readFile(dirfd, "../a.txt"); return e }(), errPERM)

	// The outer mount is itself, and writable.
	if e := g.writeFile(outer, "b.txt", "b"); e != 0 || hostContent(filepath.Join(nw.outer, "b.txt")) != "b" {
		t.Errorf("write b.txt in /: %d", e)
	}
	// Checked before the test's own reads of them below.
	checkShadow()
	checkInner()
	for p, want := range map[string]string{nw.shadow: "SHADOW", filepath.Join(nw.inner, "in.txt"): "in"} {
		if got := hostContent(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{filepath.Join(nw.inner, "new.txt"), filepath.Join(nw.inner, "a.txt"), filepath.Join(nw.inner, "l"),
		filepath.Join(nw.outer, "work", "new.txt"), filepath.Join(nw.outer, "moved"), filepath.Join(nw.outer, "w2")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made", p)
		}
	}
	wantDecision(t, gateOuter, decision.FSRead, "open", "/work/shadow.txt", `mount "/" boundary (served by mount "/work")`, "EPERM")
	wantDecision(t, gateInner, decision.FSWrite, "open", "/work/new.txt", `mount "/work" access = "read"`, "EROFS")
	wantDecision(t, gateInner, decision.FSRead, "open", "/work/../a.txt", `mount "/work" boundary`, "EPERM")
	nw.checkOutside()
}

// TestWASINestedWritableInReadOnly: an inner writable mount inside a
// read-only outer one is writable, however the path is written.
func TestWASINestedWritableInReadOnly(t *testing.T) {
	nw := newNestedWorld(t)
	outerOpts := defaultOpts()
	outerOpts.access = policy.Read
	fo, _ := nw.fsOf("/", nw.outer, outerOpts)
	fi, _ := nw.fsOf("/work", nw.inner, defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/work", FS: fi})
	const outer, inner = 3, 4
	if e := g.writeFile(outer, "work/new.txt", "through /"); e != 0 || hostContent(filepath.Join(nw.inner, "new.txt")) != "through /" {
		t.Errorf("write work/new.txt through /: %d", e)
	}
	if e := g.writeFile(inner, "new2.txt", "direct"); e != 0 || hostContent(filepath.Join(nw.inner, "new2.txt")) != "direct" {
		t.Errorf("write new2.txt in /work: %d", e)
	}
	wantWASI(t, "write a.txt in /", g.writeFile(outer, "a.txt", "x"), errROFS)
	wantWASI(t, "write through lnk", g.writeFile(outer, "lnk/shadow.txt", "x"), errPERM, errROFS)
	if hostContent(nw.shadow) != "SHADOW" || hostContent(filepath.Join(nw.outer, "a.txt")) != "a" {
		t.Error("the read-only outer mount changed")
	}
	nw.checkOutside()
}

// TestWASINestedByHostDirectory: a mount whose host directory lies inside
// another mount's is served by itself only: the outer mount refuses every
// way into it (read, write, rename of it or of a directory holding it), so
// its own rules (here: read-only) hold.
func TestWASINestedByHostDirectory(t *testing.T) {
	w := newWorld(t)
	docs := filepath.Join(w.mount, "p", "docs")
	writeHost(t, filepath.Join(docs, "readme.md"), "README")
	writeHost(t, filepath.Join(w.mount, "a.txt"), "a")
	roOpts := defaultOpts()
	roOpts.access = policy.Read
	fo, gate := w.fsOf("/", w.mount, defaultOpts())
	fd, _ := w.fsOf("/ro", docs, roOpts)
	checkDocs := watchDir(t, docs, false) // the outer mount opens nothing there
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/ro", FS: fd})
	const outer, ro = 3, 4
	for _, p := range []string{"p/docs/readme.md", "p/docs/new.txt"} {
		wantWASI(t, "write "+p, g.writeFile(outer, p, "pwned"), errPERM)
		wantWASI(t, "read "+p, func() wasiErrno { _, e := g.readFile(outer, p); return e }(), errPERM)
		wantWASI(t, "unlink "+p, g.pathCall("path_unlink_file", outer, p), errPERM)
	}
	wantWASI(t, "rename p/docs", g.rename(outer, "p/docs", outer, "d2"), errPERM)
	wantWASI(t, "rename p, which holds it", g.rename(outer, "p", outer, "p2"), errPERM)
	wantWASI(t, "rename into p/docs", g.rename(outer, "a.txt", outer, "p/docs/a.txt"), errPERM)
	wantWASI(t, "write in /ro", g.writeFile(ro, "new.txt", "x"), errROFS)
	checkDocs()
	if got, e := g.readFile(ro, "readme.md"); e != 0 || got != "README" {
		t.Errorf("read readme.md in /ro: %q %d", got, e)
	}
	if hostContent(filepath.Join(docs, "readme.md")) != "README" || hostContent(filepath.Join(w.mount, "a.txt")) != "a" {
		t.Error("files changed")
	}
	if _, err := os.Stat(filepath.Join(w.mount, "p2")); err == nil {
		t.Error("p was renamed away")
	}
	wantDecision(t, gate, decision.FSWrite, "rename", "/p", `mount "/" boundary (holds mount "/ro")`, "EPERM")
	w.checkOutside()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// ---- descriptors and rights ----

// TestWASIRightsOnlyNarrow: a descriptor can give rights up, never get
// them back; without a right its operation fails, and a path opened from a
// directory gets no right that directory does not pass on.
func TestWASIRightsOnlyNarrow(t *testing.T) {
	w := newWorld(t)
	w.file("f.txt", "hello")
	f, _ := w.fs(defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	fd, e := g.open(3, "f.txt", 0, rightFdRead|rightFdWrite|rightFdSeek, 0)
	if e != 0 {
		t.Fatal(e)
	}
	if got, e := g.read(fd); e != 0 || got != "hello" {
		t.Fatalf("read: %q %d", got, e)
	}
	wantWASI(t, "drop write", g.call("fd_fdstat_set_rights", uint64(fd), rightFdRead|rightFdSeek, 0), errSUCCESS)
	wantWASI(t, "write without the right", g.write(fd, "pwned", 0), errNOTCAPABLE)
	wantWASI(t, "take write back", g.call("fd_fdstat_set_rights", uint64(fd), rightFdRead|rightFdWrite|rightFdSeek, 0), errNOTCAPABLE)
	wantWASI(t, "write still refused", g.write(fd, "pwned", 0), errNOTCAPABLE)
	wantWASI(t, "tell without the right", g.call("fd_tell", uint64(fd), uint64(g.alloc(8))), errNOTCAPABLE)
	g.call("fd_close", uint64(fd))

	// A directory that no longer passes FD_WRITE on opens files without it.
	dir, e := g.open(3, ".", oflagDirectory, dirRights, 0)
	if e != 0 {
		t.Fatal(e)
	}
	wantWASI(t, "narrow the directory", g.call("fd_fdstat_set_rights", uint64(dir), dirRights&^rightPathUnlinkFile, fileRights&^rightFdWrite), errSUCCESS)
	fd, e = g.open(dir, "f.txt", 0, rightFdRead|rightFdWrite, 0)
	if e != 0 {
		t.Fatal(e)
	}
	stat := g.alloc(24)
	g.call("fd_fdstat_get", uint64(fd), uint64(stat))
	base, _ := g.mod.Memory().ReadUint64Le(stat + 8)
	if base&rightFdWrite != 0 {
		t.Errorf("a file opened from a directory without FD_WRITE to pass on has it: %#x", base)
	}
	wantWASI(t, "write", g.write(fd, "pwned", -1), errNOTCAPABLE)
	wantWASI(t, "unlink without the right", g.pathCall("path_unlink_file", dir, "f.txt"), errNOTCAPABLE)
	if w.content("f.txt") != "hello" {
		t.Error("the file changed")
	}
}

// TestWASIDescriptorTable: numbers are the lowest free; renumber moves a
// descriptor over another (a preopen included) and frees the old number;
// a closed preopen is gone for path operations too; closing the state
// closes every file (the open-file limit counts none).
func TestWASIDescriptorTable(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	o := defaultOpts()
	o.limit = NewOpenFileLimit(8)
	f, _ := w.fs(o)
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	a, e := g.open(3, "a.txt", 0, rightFdRead, 0)
	if e != 0 || a != 4 {
		t.Fatalf("first open: fd %d errno %d, want 4", a, e)
	}
	b, _ := g.open(3, "a.txt", 0, rightFdRead, 0)
	g.call("fd_close", uint64(a))
	if c, _ := g.open(3, "a.txt", 0, rightFdRead, 0); c != 4 {
		t.Errorf("reopened as %d, want the lowest free, 4", c)
	}
	wantWASI(t, "renumber over the preopen", g.call("fd_renumber", uint64(b), 3), errSUCCESS)
	if got, e := g.read(3); e != 0 || got != "a" {
		t.Errorf("read fd 3 after renumber: %q %d", got, e)
	}
	wantWASI(t, "old number", g.call("fd_close", uint64(b)), errBADF)
	wantWASI(t, "path_open on what is now a file", func() wasiErrno { _, e := g.open(3, "a.txt", 0, rightFdRead, 0); return e }(), errNOTDIR)
	wantWASI(t, "renumber to a closed number", g.call("fd_renumber", 3, 99), errBADF)
	wantWASI(t, "prestat of a file", g.call("fd_prestat_get", 3, uint64(g.alloc(8))), errBADF)
	if o.limit.Open() != 2 {
		t.Errorf("%d files counted open, want 2", o.limit.Open())
	}
	g.w.Close()
	if o.limit.Open() != 0 {
		t.Errorf("%d files counted open after Close", o.limit.Open())
	}
	wantWASI(t, "after Close", g.call("fd_fdstat_get", 0, uint64(g.alloc(24))), errBADF)
}

// TestWASIFdFunctionsKeepRules: a protected or hidden file stays so through
// every fd_* function: a descriptor opened for reading cannot write,
// truncate, allocate or change times, and readdir leaves hidden names out.
func TestWASIFdFunctionsKeepRules(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	w.file(".env", "TOKEN=x")
	w.file("ok.txt", "ok")
	f, _ := w.fs(defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	checkGit := watchDir(t, filepath.Join(w.mount, ".git"), true)
	_, e := g.open(3, ".git/config", 0, fileRights, 0) // every right asked; opened for reading and writing?
	wantWASI(t, "open .git/config with write rights", e, errACCES)
	fd, e := g.open(3, ".git/config", 0, fileRights&^rightFdWrite, 0)
	if e != 0 {
		t.Fatalf("open .git/config for reading: %d", e)
	}
	wantWASI(t, "fd_write", g.write(fd, "pwned", -1), errNOTCAPABLE)
	wantWASI(t, "fd_filestat_set_size", g.call("fd_filestat_set_size", uint64(fd), 0), errBADF)
	wantWASI(t, "fd_allocate", g.call("fd_allocate", uint64(fd), 0, 1<<20), errBADF)
	wantWASI(t, "fd_filestat_set_times", g.call("fd_filestat_set_times", uint64(fd), 1e18, 1e18, fstAtim|fstMtim), errACCES)
	wantWASI(t, "fd_fdstat_set_flags append", g.call("fd_fdstat_set_flags", uint64(fd), fdflagAppend), errSUCCESS)
	wantWASI(t, "fd_write after append", g.write(fd, "pwned", -1), errNOTCAPABLE)
	wantWASI(t, "path_filestat_set_times nofollow", g.setTimes(3, ".git/config", false), errACCES)
	wantWASI(t, "path_filestat_set_times", g.setTimes(3, ".git/config", true), errACCES)
	wantWASI(t, "path_filestat_set_times on .git", g.setTimes(3, ".git", false), errACCES)
	names, e := g.readdir(3)
	if e != 0 || strings.Join(sorted(names), ",") != ".,..,.git,ok.txt" {
		t.Errorf("list /work: %q %d (.env must not be listed)", names, e)
	}
	wantWASI(t, "stat .env", g.stat(3, ".env", false), errNOENT)
	checkGit()
	if w.content(".git/config") != "[core]" {
		t.Error(".git/config changed")
	}
	fi, _ := os.Stat(filepath.Join(w.mount, ".git/config"))
	if fi.ModTime().Year() > 3000 {
		t.Error(".git/config times changed")
	}
}

// TestWASIUtimensNoFollowStaysInside: path_filestat_set_times without
// following changes the link itself, never what it points to, and refuses
// the same paths as the following form.
func TestWASIUtimensNoFollowStaysInside(t *testing.T) {
	w := newWorld(t)
	w.symlink(filepath.Join(w.outside, "secret.txt"), "abs")
	w.symlink("../outside/secret.txt", "rel")
	w.symlink("../outside", "reldir")
	w.file("x.txt", "x")
	f, gate := w.fs(defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	wantWASI(t, "the link abs itself", g.setTimes(3, "abs", false), errSUCCESS)
	wantWASI(t, "through abs", g.setTimes(3, "abs", true), errPERM)
	wantWASI(t, "through rel", g.setTimes(3, "rel", true), errPERM)
	wantWASI(t, "inside reldir", g.setTimes(3, "reldir/secret.txt", false), errPERM)
	wantWASI(t, "..", g.setTimes(3, "../outside/secret.txt", false), errPERM)
	wantWASI(t, "x.txt", g.setTimes(3, "x.txt", false), errSUCCESS)
	fi, _ := os.Lstat(filepath.Join(w.mount, "abs"))
	if fi.ModTime().Unix() != 1e9 {
		t.Errorf("the link's own time is %v, want 1e9 s", fi.ModTime())
	}
	wantDecision(t, gate, decision.FSWrite, "utimens", "/work/reldir", `mount "/work" boundary`, "EPERM")
	w.checkOutside()
}

// TestWASIPollAndSockets: poll_oneoff reports the standard streams ready
// and sleeps for a clock; sock_* on anything is refused.
func TestWASIPollAndSockets(t *testing.T) {
	w := newWorld(t)
	f, _ := w.fs(defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	subs := g.alloc(3 * subscriptionSize)
	mem := g.mod.Memory()
	b, _ := mem.Read(subs, 3*subscriptionSize)
	put64(b[0:], 1) // userdata
	b[8] = eventFdRead
	put32(b[16:], 0) // stdin
	put64(b[48:], 2)
	b[56] = eventFdWrite
	put32(b[64:], 1) // stdout
	put64(b[96:], 3)
	b[104] = eventClock
	put32(b[112:], clockMonotonic)
	put64(b[120:], 50e6) // 50 ms
	out, nev := g.alloc(3*eventSize), g.alloc(4)
	if e := g.call("poll_oneoff", uint64(subs), uint64(out), 3, uint64(nev)); e != 0 || g.u32(nev) != 2 {
		t.Fatalf("poll streams: errno %d, %d events, want 2", e, g.u32(nev))
	}
	// The clock alone: it sleeps.
	start := time.Now()
	if e := g.call("poll_oneoff", uint64(subs+2*subscriptionSize), uint64(out), 1, uint64(nev)); e != 0 || g.u32(nev) != 1 {
		t.Fatalf("poll clock: errno %d, %d events", e, g.u32(nev))
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("poll_oneoff on a 50 ms clock returned after %v", d)
	}
	wantWASI(t, "sock_shutdown stdout", g.call("sock_shutdown", 1, 1), errNOTSOCK)
	wantWASI(t, "sock_accept preopen", g.call("sock_accept", 3, 0, uint64(g.alloc(4))), errBADF)
	wantWASI(t, "sock_recv closed", g.call("sock_recv", 77, 0, 0, 0, uint64(g.alloc(4)), uint64(g.alloc(4))), errBADF)
}

// TestWASIConcurrentUse: threads of one run share the descriptor table;
// opening, reading, narrowing rights and closing from many goroutines at
// once, with the run ending meanwhile, leaves nothing open (run with -race).
func TestWASIConcurrentUse(t *testing.T) {
	w := newWorld(t)
	w.file("f.txt", "shared")
	o := defaultOpts()
	o.limit = NewOpenFileLimit(1000)
	f, _ := w.fs(o)
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	const workers, rounds = 8, 100
	type region struct{ path, iov, buf, out, stat uint32 }
	regions := make([]region, workers)
	for i := range regions {
		r := region{path: g.alloc(8), iov: g.alloc(8), buf: g.alloc(64), out: g.alloc(8), stat: g.alloc(24)}
		g.mod.Memory().WriteString(r.path, "f.txt")
		g.mod.Memory().WriteUint32Le(r.iov, r.buf)
		g.mod.Memory().WriteUint32Le(r.iov+4, 64)
		regions[i] = r
	}
	call := func(name string, params ...uint64) wasiErrno {
		stack := make([]uint64, max(len(params), 1))
		copy(stack, params)
		wasiFuncs[name].Call(g.ctx, g.mod, stack)
		return wasiErrno(stack[0])
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(r region) {
			defer wg.Done()
			for range rounds {
				if call("path_open", 3, 1, uint64(r.path), 5, 0, rightFdRead|rightFdSeek, 0, 0, uint64(r.out)) != 0 {
					continue // the run ended
				}
				fd, _ := g.mod.Memory().ReadUint32Le(r.out)
				call("fd_read", uint64(fd), uint64(r.iov), 1, uint64(r.out+4))
				call("fd_fdstat_set_rights", uint64(fd), rightFdRead, 0)
				call("fd_fdstat_get", uint64(fd), uint64(r.stat))
				call("fd_close", uint64(fd))
			}
		}(regions[i])
	}
	time.Sleep(5 * time.Millisecond)
	g.w.Close() // the run ends while the workers are busy
	wg.Wait()
	if n := o.limit.Open(); n != 0 {
		t.Errorf("%d files still open after the run ended", n)
	}
}
