//go:build linux

package host

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"golang.org/x/sys/unix"
)

// Attacks on airlock's WASI functions by a hostile guest, each proved from
// the host side. docs/filesystem.md ("Threat model") lists them.

// TestAttackRandomCallsNeverPanic calls every WASI function airlock serves
// with random arguments (descriptors near the real ones, pointers in,
// across and past the end of guest memory, huge lengths, offsets and
// flags) over random guest memory: no call may panic (a panic in a host
// function would end the run without its result), nothing outside the
// mount is touched, and once the run ends no descriptor is left open in
// airlock's process.
func TestAttackRandomCallsNeverPanic(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	w.file("d/b.txt", "b")
	w.file(".git/config", "[core]")
	w.file(".env", "TOKEN=x")
	fdsBefore := countFds(t)
	o := defaultOpts()
	o.limit = NewOpenFileLimit(64)
	f, _ := w.fs(o)
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	mem := g.mod.Memory()
	memSize := mem.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	names := make([]string, 0, len(wasiFuncs))
	for name := range wasiFuncs {
		names = append(names, name)
	}
	sort.Strings(names)
	value := func() uint64 {
		switch rng.IntN(8) {
		case 0:
			return uint64(rng.IntN(8)) // a descriptor, a small length
		case 1:
			return uint64(rng.Uint32N(memSize)) // inside memory
		case 2:
			return uint64(memSize - rng.Uint32N(16)) // across the end
		case 3:
			return uint64(rng.Uint32()) // anywhere
		case 4:
			return 1<<32 - 1 - uint64(rng.IntN(16)) // near the top
		case 5:
			return rng.Uint64() // a huge 64-bit offset or right set
		case 6:
			return 1<<63 - uint64(rng.IntN(4)) // around int64's end
		}
		return 0
	}
	const calls = 20000
	for i := range calls {
		if i%500 == 0 { // fresh random memory, with a few real paths in it
			b, _ := mem.Read(0, memSize)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			for _, p := range []string{"a.txt", "d", ".git/config", ".env", "../outside/secret.txt", "d/b.txt"} {
				copy(b[rng.IntN(int(memSize)-64):], p)
			}
		}
		name := names[rng.IntN(len(names))]
		stack := make([]uint64, 9)
		for j := range stack {
			stack[j] = value()
		}
		args := fmt.Sprint(stack)
		func() {
			ctx, cancel := context.WithTimeout(g.ctx, 5*time.Millisecond) // poll_oneoff may sleep
			defer cancel()
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s%v panicked: %v", name, args, r)
				}
			}()
			wasiFuncs[name].Call(ctx, g.mod, stack)
		}()
	}
	g.w.Close()
	if n := o.limit.Open(); n != 0 {
		t.Errorf("%d files still counted open after the run ended", n)
	}
	w.checkOutside()
	if w.content(".git/config") != "[core]" {
		t.Error(".git/config changed")
	}
	f.Close()
	if n := countFds(t); n > fdsBefore {
		t.Errorf("%d descriptors open in airlock's process after the run, %d before", n, fdsBefore)
	}
}

// TestAttackProcIsNotServed: a mount that holds the process filesystem
// (a mount of "/", as --mount /:/ makes) must not serve it. /proc/self is
// airlock's own process: its environment holds the credentials airlock
// adds to requests (which never enter the sandbox), its memory holds the
// compile cache's key and every secret airlock read, and writing
// /proc/self/mem would change airlock's own code. Other processes of the
// user (the shell that started airlock) hold the same environment. So
// nothing under /proc is opened, read, listed, stat-ed or written, by any
// path: directly, through /proc/self, through a symlink to it. A mount of
// /proc itself, or of a folder in it, is refused.
func TestAttackProcIsNotServed(t *testing.T) {
	const secret = "airlock-attack-secret-7f3a"
	t.Setenv("AIRLOCK_ATTACK_SECRET", secret)
	tmp := t.TempDir()
	// A symlink planted in the mount that leads to /proc/self, relative.
	up := strings.Repeat("../", strings.Count(strings.TrimPrefix(tmp, "/"), "/")+1)
	if err := os.Symlink(up+"proc/self", filepath.Join(tmp, "self")); err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(tmp, "/")
	procMounts, err := ProcessFSMounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, access := range []policy.Access{policy.Read, policy.Write} {
		gate := NewGate(context.Background(), nil, nil)
		f, err := NewFS(policy.Mount{Guest: "/", Host: "/", Access: access, Origin: testOrigin}, gate, nil, procMounts)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		g := newWASIGuest(t, WASIMount{Guest: "/", FS: f})
		for _, p := range []string{"proc/self/environ", "proc/thread-self/environ", "proc/" + strconv.Itoa(os.Getpid()) + "/environ",
			"proc/" + strconv.Itoa(os.Getppid()) + "/environ", "proc/self/cmdline", "proc/self/maps", rel + "/self/environ", "proc/self/fd/0"} {
			got, e := g.readFile(3, p)
			if e == 0 || strings.Contains(got, secret) {
				t.Errorf("%s mount /: read %s: errno %d, %d bytes", access, p, e, len(got))
			}
			wantWASI(t, "stat "+p, g.stat(3, p, true), errACCES, errPERM)
		}
		wantWASI(t, "stat /proc", g.stat(3, "proc", false), errACCES)
		_, e := g.open(3, "proc", oflagDirectory, rightFdReaddir, 0)
		wantWASI(t, "open /proc to list it", e, errACCES)
		_, e = g.open(3, "proc/self/mem", 0, rightFdRead|rightFdWrite|rightFdSeek, 0)
		wantWASI(t, "open /proc/self/mem for writing", e, errACCES, errROFS)
		_, e = g.open(3, "proc/self/mem", 0, rightFdRead|rightFdSeek, 0)
		wantWASI(t, "open /proc/self/mem for reading", e, errACCES)
		wantWASI(t, "readlink /proc/self/exe", g.readlink(3, "proc/self/exe"), errACCES)
		// The decision names where the path really led: /proc/PID.
		wantDecision(t, gate, "fs.read", "open", "/proc/"+strconv.Itoa(os.Getpid())+"/environ", StateRulePrefix+"process filesystem", "EACCES")
	}
	for _, host := range []string{"/proc", "/proc/self", "/proc/sys"} {
		f, err := NewFS(policy.Mount{Guest: "/p", Host: host, Access: policy.Read, Origin: testOrigin}, NewGate(context.Background(), nil, nil), nil, nil)
		if err == nil {
			f.Close()
			t.Errorf("a mount of %s was made", host)
		} else if !strings.Contains(err.Error(), "process filesystem") {
			t.Errorf("mount of %s: %v", host, err)
		}
	}
}

// TestAttackSpecialFilesNeverOpened: a FIFO, socket or device file in a
// mount is refused (ENOTSUP) without open(2) on it at all, by every way
// of opening it: for reading, for writing, read-write, through a symlink,
// with O_NOFOLLOW, with O_CREAT. Opening has effects of its own on such
// files: a FIFO's open wakes a program on the host blocked opening the
// other end (which then reads an end of file, or gets SIGPIPE on its next
// write), a serial port's raises its modem lines (resetting a board
// attached to it), a terminal's may make it the controlling terminal.
// inotify sees every open of the FIFO; none may happen.
func TestAttackSpecialFilesNeverOpened(t *testing.T) {
	for _, access := range []policy.Access{policy.Write, policy.Read} {
		w := newWorld(t)
		w.file("fifos/x.txt", "x")
		fifo := filepath.Join(w.mount, "fifos", "pipe")
		if err := unix.Mkfifo(fifo, 0o666); err != nil {
			t.Fatal(err)
		}
		w.symlink("fifos/pipe", "lp")
		o := defaultOpts()
		o.access = access
		f, _ := w.fs(o)
		g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
		check := watchFile(t, fifo)
		for _, c := range []struct {
			p      string
			lookup uint32
			oflags uint16
			base   uint64
		}{
			{"fifos/pipe", lookupSymlinkFollow, 0, rightFdRead},
			{"fifos/pipe", lookupSymlinkFollow, 0, rightFdWrite},
			{"fifos/pipe", lookupSymlinkFollow, 0, rightFdRead | rightFdWrite},
			{"fifos/pipe", 0, 0, rightFdRead},
			{"fifos/pipe", 0, 0, rightFdWrite},
			{"fifos/pipe", lookupSymlinkFollow, oflagCreat, rightFdWrite},
			{"lp", lookupSymlinkFollow, 0, rightFdRead},
			{"lp", lookupSymlinkFollow, 0, rightFdWrite},
			{"lp", lookupSymlinkFollow, oflagCreat, rightFdRead},
		} {
			_, e := g.openLookup(3, c.lookup, c.p, c.oflags, c.base, 0)
			wantWASI(t, fmt.Sprintf("%s: open %s lookup=%d oflags=%d rights=%d", access, c.p, c.lookup, c.oflags, c.base), e, errNOTSUP)
		}
		check()
	}
}

// watchFile watches one file (a FIFO) with inotify; the returned function
// fails the test if it was opened, read, written or changed since.
func watchFile(t *testing.T, p string) func() {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, p, unix.IN_OPEN|unix.IN_ACCESS|unix.IN_MODIFY|unix.IN_ATTRIB|unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf)
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		var seen []string
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			seen = append(seen, inotifyMask(ev.Mask))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		if len(seen) > 0 {
			t.Errorf("%s was touched: %v", p, seen)
		}
	}
}

// TestAttackTimesQuestionNamesWhereItLands: in a read-only mount whose
// writes are questions, changing a file's times is asked about where it
// really lands, never as written: a grant for /work/granted must not let
// "granted/link/x.txt" (link -> ../other) touch /work/other/x.txt. And a
// protected path is refused without a question, whichever function
// changes its times.
func TestAttackTimesQuestionNamesWhereItLands(t *testing.T) {
	w := newWorld(t)
	w.file("granted/a.txt", "a")
	w.file("other/x.txt", "x")
	w.file(".git/config", "[core]")
	w.symlink("../other", "granted/link")
	old := time.Date(2002, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{"other/x.txt", ".git/config"} {
		os.Chtimes(filepath.Join(w.mount, p), old, old)
	}
	var asked []string
	o := defaultOpts()
	o.access = policy.Read
	o.asker = askerFunc(func(_ context.Context, r decision.Request) (bool, decision.Source) {
		asked = append(asked, r.Op+" "+r.Target)
		return strings.HasPrefix(r.Target, "/work/granted/"), decision.SourceGrant // a grant for the folder
	})
	f, _ := w.fs(o)
	f.ReadOnlyVerdict = policy.Ask
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	wantWASI(t, "granted/a.txt", g.setTimes(3, "granted/a.txt", false), errSUCCESS)
	wantWASI(t, "granted/link/x.txt without following", g.setTimes(3, "granted/link/x.txt", false), errROFS)
	wantWASI(t, "granted/link/x.txt", g.setTimes(3, "granted/link/x.txt", true), errROFS)
	n := len(asked)
	wantWASI(t, ".git/config without following", g.setTimes(3, ".git/config", false), errACCES)
	wantWASI(t, ".git/config", g.setTimes(3, ".git/config", true), errACCES)
	fd, e := g.open(3, ".git/config", 0, rightFdRead|rightFdFilestatSetTimes, 0)
	if e != 0 {
		t.Fatalf("open .git/config for reading: %d", e)
	}
	wantWASI(t, "fd_filestat_set_times on .git/config", g.call("fd_filestat_set_times", uint64(fd), 1e18, 1e18, fstAtim|fstMtim), errACCES)
	if len(asked) != n {
		t.Errorf("a protected path was put to the asker: %q", asked[n:])
	}
	for _, q := range asked {
		if strings.Contains(q, "link") {
			t.Errorf("asked %q: not where the change lands", q)
		}
	}
	for _, p := range []string{"other/x.txt", ".git/config"} {
		if fi, _ := os.Stat(filepath.Join(w.mount, p)); !fi.ModTime().Equal(old) {
			t.Errorf("%s: times changed to %v", p, fi.ModTime())
		}
	}
}

// TestAttackDecisionFlood: every refusal is a decision, kept for the run's
// report and written to the audit log. A tool that asks for refused things
// in a loop (here, a hidden file under names that never repeat) would
// grow airlock's memory and the audit log without bound: 300,000 refusals
// took 8 s and 770 MB of airlock's memory, past the tool's own 256 MiB.
// A run keeps at most maxDecisions; the next one revokes every capability
// of the run, recorded once, and nothing after that is kept.
func TestAttackDecisionFlood(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	var recorded int
	gate := NewGate(context.Background(), nil, func(decision.Decision) error { recorded++; return nil })
	f, err := NewFS(newMount(t, "/work", w.mount, defaultOpts()), gate, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	var last wasiErrno
	mark := g.next
	for i := range maxDecisions + 1000 {
		_, last = g.open(3, "d"+strconv.Itoa(i)+"/.env", 0, rightFdRead, 0)
		g.next = mark // reuse the harness's guest memory
	}
	if n := len(gate.Decisions()); n != maxDecisions+1 || recorded != n {
		t.Errorf("%d decisions kept, %d recorded, want %d", n, recorded, maxDecisions+1)
	}
	d := gate.Decisions()[maxDecisions]
	if d.Allowed || d.Kind != "limits.decisions" || !strings.Contains(d.Rule, "every capability") {
		t.Errorf("last decision %+v", d)
	}
	if !gate.Revoked() || last == 0 {
		t.Errorf("revoked %t, last errno %d", gate.Revoked(), last)
	}
	if _, e := g.readFile(3, "a.txt"); e == 0 {
		t.Error("the run can still read after its decisions ran out")
	}
}

// TestAttackReaddirHoldsLittle: fd_readdir keeps, per directory
// descriptor, the entries read but not yet passed to the guest. A tool
// that fills one large buffer from a large directory, through as many
// descriptors as the open-file limit allows, and never asks again, must
// not make airlock hold the whole directory once per descriptor (a
// million files, which a tool can make in a writable mount in seconds,
// times 256 descriptors was some 10 GB of airlock's memory). What a
// descriptor holds after a call is at most one batch of entries.
func TestAttackReaddirHoldsLittle(t *testing.T) {
	w := newWorld(t)
	const files, fds = 5000, 20
	for i := range files {
		w.file("big/f"+strconv.Itoa(i), "")
	}
	f, _ := w.fs(defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
	if _, ok := g.mod.Memory().Grow(30); !ok {
		t.Fatal("cannot grow the harness's memory")
	}
	buf, used := uint32(2*65536), g.alloc(4)
	var names int
	for range fds {
		fd, e := g.open(3, "big", oflagDirectory, rightFdReaddir, 0)
		if e != 0 {
			t.Fatalf("open big: %d", e)
		}
		if e := g.call("fd_readdir", uint64(fd), uint64(buf), 30*65536, 0, uint64(used)); e != 0 {
			t.Fatalf("readdir: %d", e)
		}
		b, _ := g.mod.Memory().Read(buf, g.u32(used))
		for len(b) >= direntSize {
			n := int(le32(b[16:]))
			if direntSize+n > len(b) {
				break
			}
			names++
			b = b[direntSize+n:]
		}
	}
	if names != fds*(files+2) {
		t.Errorf("listed %d names, want %d", names, fds*(files+2))
	}
	held := 0
	g.w.mu.Lock()
	for _, e := range g.w.fds {
		if e.dir != nil {
			held += len(e.dir.ents)
		}
	}
	g.w.mu.Unlock()
	if held > fds*(readdirBatch+2) {
		t.Errorf("airlock holds %d directory entries for %d descriptors, want at most %d", held, fds, fds*(readdirBatch+2))
	}
}

// TestAttackTwoGuestsRace: two runs over the same project at once (two
// airlock processes, or two calls of one MCP server), each with its own
// descriptors and filesystem. One keeps swapping the name "d" between a
// real folder and a symlink to .git (a symlink inside the mount, which it
// may make); the other writes, truncates, touches, removes, renames and
// links "d/config" and makes things in "d" as fast as it can. Whatever the
// interleaving, .git stays as it was; both outcomes must be seen, or the
// race did not happen.
func TestAttackTwoGuestsRace(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	w.file("dreal/config", "mine")
	gitTime := time.Date(2003, 3, 3, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(w.mount, ".git/config"), gitTime, gitTime)
	fa, _ := w.fs(defaultOpts())
	fb, _ := w.fs(defaultOpts())
	a := newWASIGuest(t, WASIMount{Guest: "/work", FS: fa})
	b := newWASIGuest(t, WASIMount{Guest: "/work", FS: fb})
	wantWASI(t, "symlink lnk -> .git", a.symlink(".git", 3, "lnk"), errSUCCESS)

	var stop atomic.Bool
	var swaps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		mark := a.next
		for !stop.Load() {
			a.rename(3, "dreal", 3, "d")
			a.rename(3, "d", 3, "dreal")
			a.rename(3, "lnk", 3, "d")
			a.rename(3, "d", 3, "lnk")
			a.next = mark
			swaps.Add(1)
		}
	}()
	var ok, refused int
	count := func(e wasiErrno) {
		if e == 0 {
			ok++
		} else {
			refused++
		}
	}
	mark := b.next
	for range 300 {
		count(b.writeFile(3, "d/config", "pwned"))
		fd, e := b.open(3, "d/config", oflagTrunc, rightFdWrite, 0)
		if e == 0 {
			b.call("fd_close", uint64(fd))
		}
		count(e)
		count(b.setTimes(3, "d/config", false))
		count(b.setTimes(3, "d/config", true))
		count(b.link(3, "d/config", 3, "stolen"))
		b.pathCall("path_unlink_file", 3, "stolen")
		count(b.rename(3, "d/config", 3, "d/config2"))
		b.rename(3, "d/config2", 3, "d/config")
		count(b.pathCall("path_create_directory", 3, "d/new"))
		b.pathCall("path_remove_directory", 3, "d/new")
		count(b.symlink("x", 3, "d/sl"))
		b.pathCall("path_unlink_file", 3, "d/sl")
		b.next = mark
	}
	stop.Store(true)
	<-done
	t.Logf("%d swap rounds; %d operations succeeded, %d refused", swaps.Load(), ok, refused)
	if ok == 0 || refused == 0 || swaps.Load() < 50 {
		t.Fatalf("the race did not happen (%d ok, %d refused, %d swap rounds)", ok, refused, swaps.Load())
	}
	if got := w.content(".git/config"); got != "[core]" {
		t.Errorf(".git/config is %q", got)
	}
	ents, _ := os.ReadDir(filepath.Join(w.mount, ".git"))
	if len(ents) != 1 {
		t.Errorf(".git holds %d entries, want only config", len(ents))
	}
	if fi, _ := os.Stat(filepath.Join(w.mount, ".git/config")); !fi.ModTime().Equal(gitTime) {
		t.Errorf(".git/config times changed: %v", fi.ModTime())
	}
	w.checkOutside()
}

// ---- the attack table ----

// attackEnv is one attack's world: a mount at /work (preopen 3) with a
// protected .git/config, a hidden .env, loops and chains of symlinks, and
// a sentinel outside the mount.
type attackEnv struct {
	w     *world
	g     *wasiGuest
	f     *FS
	limit *OpenFileLimit
	asked []string // questions put to the asker
}

const (
	attackSecret = "TOKEN=attack-secret-value"
	memEnd       = 2 * 65536 // the harness's guest memory size
)

// iov puts one iovec (ptr, n) in guest memory and returns its address.
func (a *attackEnv) iov(ptr, n uint32) uint64 {
	p := a.g.alloc(8)
	a.g.mod.Memory().WriteUint32Le(p, ptr)
	a.g.mod.Memory().WriteUint32Le(p+4, n)
	return uint64(p)
}

// fd opens p with rights (0 oflags, following symlinks) or fails the test.
func (a *attackEnv) fd(p string, rights uint64) uint64 {
	a.g.t.Helper()
	fd, e := a.g.open(3, p, 0, rights, 0)
	if e != 0 {
		a.g.t.Fatalf("open %s: %d", p, e)
	}
	return uint64(fd)
}

func (a *attackEnv) out() uint64 { return uint64(a.g.alloc(8)) }

// TestAttackTable: attacks that hold, one row each. After every row, from
// the host side: nothing outside the mount was touched, the protected and
// hidden files are as they were, the hidden file's content never reached
// the guest, and once the run ends every file it opened is closed (the
// open-file count and this process's descriptors are back where they
// were). No call may panic.
func TestAttackTable(t *testing.T) {
	ro := func(o *mountOpts) { o.access = policy.Read }
	rows := []struct {
		name string
		opts func(*mountOpts) // changes to a writable mount with the default rules
		ask  bool             // read-only writes are questions (ReadOnlyVerdict = Ask); the asker refuses
		do   func(a *attackEnv) wasiErrno
		want []wasiErrno
		host func(a *attackEnv) string // what the host sees afterwards; "" when as it should be
	}{
		// Guest memory: every pointer and length is checked.
		{name: "fd_read: iovec array past the end of memory", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_read", a.fd("a.txt", rightFdRead), memEnd-4, 1, a.out())
			}},
		{name: "fd_read: buffer across the end of memory", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_read", a.fd("a.txt", rightFdRead), a.iov(memEnd-2, 100), 1, a.out())
			}},
		{name: "fd_read: 2^32-1 iovecs", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_read", a.fd("a.txt", rightFdRead), a.iov(0, 1), 1<<32-1, a.out())
			}},
		{name: "fd_read: an iovec of 4 GiB", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_read", a.fd("a.txt", rightFdRead), a.iov(0, 1<<32-1), 1, a.out())
			}},
		{name: "fd_read: result pointer past the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_read", a.fd("a.txt", rightFdRead), a.iov(uint32(a.out()), 8), 1, 1<<32-1)
			}},
		{name: "fd_write: from memory across the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_write", a.fd("a.txt", rightFdWrite), a.iov(memEnd-1, 2), 1, a.out())
			},
			host: func(a *attackEnv) string { return unless(a.w.content("a.txt") == "a", "a.txt changed") }},
		{name: "fd_write: 1024 iovecs over the same 4 bytes", want: []wasiErrno{errSUCCESS},
			do: func(a *attackEnv) wasiErrno {
				buf := a.g.alloc(4)
				a.g.mod.Memory().WriteString(buf, "abcd")
				iovs := a.g.alloc(1024 * 8)
				for i := range uint32(1024) {
					a.g.mod.Memory().WriteUint32Le(iovs+8*i, buf)
					a.g.mod.Memory().WriteUint32Le(iovs+8*i+4, 4)
				}
				return a.g.call("fd_write", a.fd("d/b.txt", rightFdWrite), uint64(iovs), 1024, a.out())
			},
			host: func(a *attackEnv) string {
				return unless(a.w.content("d/b.txt") == strings.Repeat("abcd", 1024), "d/b.txt is not 1024 copies")
			}},
		{name: "path_open: path across the end of memory", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("path_open", 3, 1, memEnd-2, 10, 0, rightFdRead, 0, 0, a.out())
			}},
		{name: "path_open: a path of 2^32-1 bytes", want: []wasiErrno{errNAMETOOLONG},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("path_open", 3, 1, 0, 1<<32-1, 0, rightFdRead, 0, 0, a.out())
			}},
		{name: "path_open: a path of 4097 bytes", want: []wasiErrno{errNAMETOOLONG},
			do: func(a *attackEnv) wasiErrno {
				_, e := a.g.open(3, strings.Repeat("a/", 2048)+"b", 0, rightFdRead, 0)
				return e
			}},
		{name: "path_open: creating, result pointer past the end (the descriptor is not leaked)", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				p, n := a.g.str("new.txt")
				return a.g.call("path_open", 3, 1, p, n, oflagCreat, rightFdWrite, 0, 0, 1<<32-2)
			}},
		{name: "path_open: result pointer past the end, 256 times (no place of the open-file limit is lost)", want: []wasiErrno{errSUCCESS},
			do: func(a *attackEnv) wasiErrno {
				p, n := a.g.str("a.txt")
				for range 300 {
					if e := a.g.call("path_open", 3, 1, p, n, 0, rightFdRead, 0, 0, 1<<32-2); e != errFAULT {
						return e
					}
				}
				_, e := a.g.open(3, "a.txt", 0, rightFdRead, 0)
				return e
			}},
		{name: "fd_readdir: buffer across the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_readdir", 3, memEnd-10, 100, 0, a.out())
			}},
		{name: "fd_readdir: cookie 2^64-1, past the end", want: []wasiErrno{errSUCCESS},
			do: func(a *attackEnv) wasiErrno {
				out := a.out()
				e := a.g.call("fd_readdir", 3, uint64(a.g.alloc(256)), 256, 1<<64-1, out)
				if e == 0 && a.g.u32(uint32(out)) != 0 {
					return errIO // entries past the end
				}
				return e
			}},
		{name: "fd_readdir: on a file", want: []wasiErrno{errNOTDIR, errNOTCAPABLE},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_readdir", a.fd("a.txt", rightFdRead), uint64(a.g.alloc(64)), 64, 0, a.out())
			}},
		{name: "poll_oneoff: 2^32-1 subscriptions", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno { return a.g.call("poll_oneoff", 0, 0, 1<<32-1, a.out()) }},
		{name: "poll_oneoff: events past the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("poll_oneoff", uint64(a.g.alloc(48)), memEnd-16, 1, a.out())
			}},
		{name: "fd_prestat_dir_name: into 0 bytes", want: []wasiErrno{errNAMETOOLONG},
			do: func(a *attackEnv) wasiErrno { return a.g.call("fd_prestat_dir_name", 3, a.out(), 0) }},
		{name: "fd_prestat_dir_name: past the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno { return a.g.call("fd_prestat_dir_name", 3, memEnd-2, 5) }},
		{name: "path_readlink: into a buffer past the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				p, n := a.g.str("loop1")
				return a.g.call("path_readlink", 3, p, n, memEnd-2, 64, a.out())
			}},
		{name: "path_filestat_get: result past the end", want: []wasiErrno{errFAULT},
			do: func(a *attackEnv) wasiErrno {
				p, n := a.g.str("a.txt")
				return a.g.call("path_filestat_get", 3, 1, p, n, memEnd-8)
			}},

		// Sizes and offsets that overflow.
		{name: "fd_pread: offset 2^63", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_pread", a.fd("a.txt", rightFdRead|rightFdSeek), a.iov(uint32(a.g.alloc(8)), 8), 1, 1<<63, a.out())
			}},
		{name: "fd_pwrite: offset 2^63-1", want: []wasiErrno{errFBIG, errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.write(uint32(a.fd("a.txt", rightFdWrite|rightFdSeek)), "x", 1<<63-1)
			},
			host: func(a *attackEnv) string { return unless(a.w.content("a.txt") == "a", "a.txt changed") }},
		{name: "fd_seek: to -2^63", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_seek", a.fd("a.txt", rightFdRead|rightFdSeek), 1<<63, 1, a.out())
			}},
		{name: "fd_seek: whence 3", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_seek", a.fd("a.txt", rightFdRead|rightFdSeek), 0, 3, a.out())
			}},
		{name: "fd_allocate: offset + length wraps", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_allocate", a.fd("a.txt", rightFdWrite|rightFdAllocate), 1<<63, 1<<63)
			},
			host: func(a *attackEnv) string { return unless(a.w.content("a.txt") == "a", "a.txt changed") }},
		{name: "fd_filestat_set_size: 2^63", want: []wasiErrno{errFBIG},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_filestat_set_size", a.fd("a.txt", rightFdWrite|rightFdFilestatSetSize), 1<<63)
			}},
		{name: "fd_advise: offset + length wraps", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_advise", a.fd("a.txt", rightFdRead|rightFdAdvise), 1<<62, 1<<62+1<<61, 0)
			}},
		{name: "fd_filestat_set_times: a time and now at once", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_filestat_set_times", a.fd("a.txt", rightFdWrite|rightFdFilestatSetTimes), 1, 1, fstAtim|fstAtimNow)
			}},

		// Path strings.
		{name: "a NUL byte in a path", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno {
				_, e := a.g.open(3, "a.txt\x00/../../outside/secret.txt", 0, rightFdRead, 0)
				return e
			}},
		{name: "a NUL byte in a symlink's text", want: []wasiErrno{errINVAL},
			do:   func(a *attackEnv) wasiErrno { return a.g.symlink("a.txt\x00../outside", 3, "nul") },
			host: func(a *attackEnv) string { return unless(!a.w.exists("nul"), "the link was made") }},
		{name: ".. above the preopen", want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "../outside/secret.txt"); return e }},
		{name: "climbing through a folder: d/../../outside", want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "d/../../outside/secret.txt"); return e }},
		{name: "an absolute path", want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "/etc/passwd"); return e }},
		{name: "a trailing slash on a file", want: []wasiErrno{errNOTDIR},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "a.txt/"); return e }},
		{name: "a symlink loop", want: []wasiErrno{errLOOP},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "loop1"); return e }},
		{name: "a symlink to itself, as a folder", want: []wasiErrno{errLOOP},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "self/a.txt"); return e }},
		{name: "a chain of 41 symlinks", want: []wasiErrno{errLOOP},
			do: func(a *attackEnv) wasiErrno { return a.g.stat(3, "c0", true) }},
		{name: "a symlink planted out of the mount", want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.readFile(3, "out/secret.txt"); return e }},
		{name: "a symlink made to lead out", want: []wasiErrno{errPERM},
			do:   func(a *attackEnv) wasiErrno { return a.g.symlink("d/../../outside", 3, "mine") },
			host: func(a *attackEnv) string { return unless(!a.w.exists("mine"), "the link was made") }},
		{name: "the hidden file through a directory descriptor", want: []wasiErrno{errNOENT},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, ".", oflagDirectory, dirRights, 0)
				_, e := a.g.readFile(dir, ".env")
				return e
			}},
		{name: "the hidden file renamed into view", want: []wasiErrno{errNOENT},
			do:   func(a *attackEnv) wasiErrno { return a.g.rename(3, ".env", 3, "visible") },
			host: func(a *attackEnv) string { return unless(!a.w.exists("visible"), "renamed") }},
		{name: "the protected file linked to a new name", want: []wasiErrno{errACCES},
			do:   func(a *attackEnv) wasiErrno { return a.g.link(3, ".git/config", 3, "x") },
			host: func(a *attackEnv) string { return unless(!a.w.exists("x"), "linked") }},
		{name: "the protected file truncated by an open for reading", want: []wasiErrno{errACCES},
			do: func(a *attackEnv) wasiErrno {
				_, e := a.g.open(3, ".git/config", oflagTrunc, rightFdRead, 0)
				return e
			}},
		{name: "the mount root removed", want: []wasiErrno{errINVAL, errISDIR},
			do: func(a *attackEnv) wasiErrno { return a.g.pathCall("path_remove_directory", 3, ".") }},
		{name: "the mount root renamed", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno { return a.g.rename(3, ".", 3, "x") }},
		{name: "unknown open flags", want: []wasiErrno{errINVAL},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.open(3, "a.txt", 0xfff0, rightFdRead, 0); return e }},
		{name: "a folder opened for writing", want: []wasiErrno{errISDIR},
			do: func(a *attackEnv) wasiErrno { _, e := a.g.open(3, "d", oflagDirectory, rightFdWrite, 0); return e }},

		// The descriptor table.
		{name: "descriptor 2^32-1", want: []wasiErrno{errBADF},
			do: func(a *attackEnv) wasiErrno { return a.g.call("fd_read", 1<<32-1, a.iov(0, 1), 1, a.out()) }},
		{name: "the preopen closed, then used", want: []wasiErrno{errBADF},
			do: func(a *attackEnv) wasiErrno {
				a.g.call("fd_close", 3)
				_, e := a.g.open(3, "a.txt", 0, rightFdRead, 0)
				return e
			}},
		{name: "the preopen closed, its number reused by a file, used for paths", want: []wasiErrno{errNOTDIR},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, "d", oflagDirectory, dirRights, 0)
				a.g.call("fd_close", 3)
				if fd, e := a.g.open(dir, "b.txt", 0, rightFdRead, 0); e != 0 || fd != 3 {
					return errIO
				}
				_, e := a.g.open(3, "b.txt", 0, rightFdRead, 0)
				return e
			}},
		{name: "the preopen renumbered over stdout, then written to", want: []wasiErrno{errNOTCAPABLE},
			do: func(a *attackEnv) wasiErrno {
				a.g.call("fd_renumber", 3, 1)
				return a.g.write(1, "x", -1)
			}},
		{name: "a directory descriptor closed, its number reused by a file", want: []wasiErrno{errNOTDIR},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, "d", oflagDirectory, dirRights, 0)
				a.g.call("fd_close", uint64(dir))
				if fd := a.fd("a.txt", rightFdRead); fd != uint64(dir) {
					return errIO
				}
				_, e := a.g.open(dir, "b.txt", 0, rightFdRead, 0)
				return e
			}},
		{name: "rights grown back", want: []wasiErrno{errNOTCAPABLE},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("fd_fdstat_set_rights", a.fd("a.txt", rightFdRead), rightFdRead|rightFdWrite, 0)
			}},
		{name: "append set on a descriptor opened for reading, then written", want: []wasiErrno{errNOTCAPABLE},
			do: func(a *attackEnv) wasiErrno {
				fd := a.fd("a.txt", rightFdRead|rightFdFdstatSetFlags)
				a.g.call("fd_fdstat_set_flags", fd, fdflagAppend)
				return a.g.write(uint32(fd), "x", -1)
			},
			host: func(a *attackEnv) string { return unless(a.w.content("a.txt") == "a", "a.txt changed") }},
		{name: "write through a folder that does not pass the write right", want: []wasiErrno{errNOTCAPABLE},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, "d", oflagDirectory, dirRights, 0)
				a.g.call("fd_fdstat_set_rights", uint64(dir), dirRights, rightFdRead)
				ptr, n := a.g.str("b.txt")
				out := a.g.alloc(4)
				if e := a.g.call("path_open", uint64(dir), 1, ptr, n, 0, rightFdWrite|rightFdRead, 0, 0, uint64(out)); e != 0 {
					return e
				}
				return a.g.write(a.g.u32(out), "x", -1)
			},
			host: func(a *attackEnv) string { return unless(a.w.content("d/b.txt") == "b", "d/b.txt changed") }},
		{name: "sock_recv on a file", want: []wasiErrno{errNOTSOCK},
			do: func(a *attackEnv) wasiErrno {
				return a.g.call("sock_recv", a.fd("a.txt", rightFdRead), a.iov(0, 1), 1, 0, a.out(), a.out())
			}},
		{name: "the open-file limit", want: []wasiErrno{errIO},
			do: func(a *attackEnv) wasiErrno {
				for range 300 {
					if _, e := a.g.open(3, "a.txt", 0, rightFdRead, 0); e != 0 {
						return e
					}
				}
				return 0
			}},

		// Descriptors that outlive what they named.
		{name: "a directory descriptor whose folder became a symlink to .git", want: []wasiErrno{errACCES},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, "d", oflagDirectory, dirRights, 0)
				a.g.rename(3, "d", 3, "d2")
				a.g.symlink(".git", 3, "d")
				_, e := a.g.open(dir, "config", oflagTrunc, rightFdWrite, 0)
				return e
			}},
		{name: "a directory descriptor whose folder the host swapped for a symlink out", want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno {
				dir, _ := a.g.open(3, "d", oflagDirectory, dirRights, 0)
				os.Rename(filepath.Join(a.w.mount, "d"), filepath.Join(a.w.mount, "d2"))
				os.Symlink("../outside", filepath.Join(a.w.mount, "d"))
				_, e := a.g.readFile(dir, "secret.txt")
				return e
			}},
		{name: "a file descriptor whose file was renamed into .git", want: []wasiErrno{errACCES},
			do: func(a *attackEnv) wasiErrno {
				fd := a.fd("a.txt", rightFdRead|rightFdFilestatSetTimes)
				os.Rename(filepath.Join(a.w.mount, "a.txt"), filepath.Join(a.w.mount, ".git", "a.txt"))
				return a.g.call("fd_filestat_set_times", fd, 1e18, 1e18, fstAtim|fstMtim)
			}},

		// Read-only mounts and provisional files.
		{name: "a write into a read-only mount with nobody to ask", opts: ro, want: []wasiErrno{errROFS},
			do:   func(a *attackEnv) wasiErrno { return a.g.writeFile(3, "a.txt", "pwned") },
			host: func(a *attackEnv) string { return unless(a.w.content("a.txt") == "a", "a.txt changed") }},
		{name: "a provisional file renamed onto .git/config", opts: ro, ask: true, want: []wasiErrno{errACCES},
			do: func(a *attackEnv) wasiErrno {
				fd, e := a.g.open(3, ".x.tmp", oflagCreat|oflagExcl, rightFdWrite, 0)
				if e != 0 {
					return e
				}
				a.g.write(fd, "pwned", -1)
				return a.g.rename(3, ".x.tmp", 3, ".git/config")
			},
			host: func(a *attackEnv) string { return unless(len(a.asked) == 0, "asked: "+strings.Join(a.asked, ", ")) }},
		{name: "a provisional file grown past its 256 MiB", opts: ro, ask: true, want: []wasiErrno{errIO},
			do: func(a *attackEnv) wasiErrno {
				fd, e := a.g.open(3, ".big.tmp", oflagCreat|oflagExcl, rightFdWrite|rightFdFilestatSetSize, 0)
				if e != 0 {
					return e
				}
				return a.g.call("fd_filestat_set_size", uint64(fd), 300<<20)
			}},
		{name: "a provisional file linked to a real name", opts: ro, ask: true, want: []wasiErrno{errROFS, errNOENT},
			do: func(a *attackEnv) wasiErrno {
				if _, e := a.g.open(3, ".x.tmp", oflagCreat|oflagExcl, rightFdWrite, 0); e != 0 {
					return e
				}
				return a.g.link(3, ".x.tmp", 3, "real")
			},
			host: func(a *attackEnv) string { return unless(!a.w.exists("real") && !a.w.exists(".x.tmp"), "on the host") }},
		{name: "a provisional file renamed out of the mount", opts: ro, ask: true, want: []wasiErrno{errPERM},
			do: func(a *attackEnv) wasiErrno {
				if _, e := a.g.open(3, ".x.tmp", oflagCreat|oflagExcl, rightFdWrite, 0); e != 0 {
					return e
				}
				return a.g.rename(3, ".x.tmp", 3, "../outside/x")
			}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			w := newWorld(t)
			fdsBefore := countFds(t)
			w.file("a.txt", "a")
			w.file("d/b.txt", "b")
			w.file(".git/config", "[core]")
			w.file(".env", attackSecret)
			w.symlink("loop2", "loop1")
			w.symlink("loop1", "loop2")
			w.symlink("self", "self")
			w.symlink("../outside", "out")
			for i := range 41 {
				w.symlink("c"+strconv.Itoa(i+1), "c"+strconv.Itoa(i))
			}
			w.file("c41", "end")
			o := defaultOpts()
			o.limit = NewOpenFileLimit(256)
			if row.opts != nil {
				row.opts(&o)
			}
			a := &attackEnv{w: w, limit: o.limit}
			o.asker = askerFunc(func(_ context.Context, r decision.Request) (bool, decision.Source) {
				a.asked = append(a.asked, r.Op+" "+r.Target)
				return false, decision.SourceUser
			})
			gate := NewGate(context.Background(), o.asker, nil)
			f, err := NewFS(newMount(t, "/work", w.mount, o), gate, o.limit, nil)
			if err != nil {
				t.Fatal(err)
			}
			if row.ask {
				f.ReadOnlyVerdict = policy.Ask
			}
			a.f, a.g = f, newWASIGuest(t, WASIMount{Guest: "/work", FS: f})
			got := row.do(a)
			wantWASI(t, row.name, got, row.want...)
			if row.host != nil {
				if msg := row.host(a); msg != "" {
					t.Error(msg)
				}
			}
			a.g.w.Close()
			gate.End(nil)
			if n := o.limit.Open(); n != 0 {
				t.Errorf("%d files still counted open after the run ended", n)
			}
			if w.content(".git/config") != "[core]" || w.content(".env") != attackSecret {
				t.Error("the protected or the hidden file changed")
			}
			mem, _ := a.g.mod.Memory().Read(0, a.g.mod.Memory().Size())
			if strings.Contains(string(mem), "attack-secret-value") {
				t.Error("the hidden file's content is in the guest's memory")
			}
			w.checkOutside()
			f.Close()
			if n := countFds(t); n > fdsBefore {
				t.Errorf("%d descriptors open in airlock's process, %d before", n, fdsBefore)
			}
		})
	}
}

// unless returns msg when ok is false.
func unless(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

// countFds counts this process's open descriptors.
func countFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestAttackRandomSequences plays random sequences of well-formed calls
// (open with random flags and rights from random directory descriptors,
// read, write, rename, link, symlink, unlink, mkdir, rmdir, times,
// renumber, close) over paths chosen from a vocabulary of the places that
// matter: protected and hidden names, symlinks to them and out, "..", the
// point where a read-only mount is nested inside a writable one. After
// every read the buffer is searched for the hidden files' content; at the
// end, from the host: the read-only mount is exactly as it was, the outer
// mount's own folder under the inner mount point was never opened, the
// protected file is unchanged, nothing outside was touched, and no
// descriptor is left open.
//
// AIRLOCK_ATTACK_SEEDS=N plays N sequences instead of 20 (300 took 23 s).
func TestAttackRandomSequences(t *testing.T) {
	seeds := uint64(20)
	if n, err := strconv.ParseUint(os.Getenv("AIRLOCK_ATTACK_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { randomSequence(t, seed, 3000) })
	}
}

func randomSequence(t *testing.T, seed uint64, steps int) {
	nw := newNestedWorld(t) // outer "/" (writable), inner "/work" (read-only here)
	writeHost(t, filepath.Join(nw.outer, ".git/config"), "[core]")
	writeHost(t, filepath.Join(nw.outer, "key.pem"), "OUTER-PEM-SECRET")
	writeHost(t, filepath.Join(nw.inner, ".env"), "INNER-ENV-SECRET")
	os.WriteFile(filepath.Join(nw.inner, "key.pem"), []byte("INNER-PEM-SECRET"), 0o644)
	secrets := []string{"OUTER-PEM-SECRET", "INNER-PEM-SECRET", "INNER-ENV-SECRET", "SHADOW"}
	innerBefore := treeOf(t, nw.inner)
	outerOpts := defaultOpts()
	outerOpts.hide = []string{"*.pem"}
	innerOpts := defaultOpts()
	innerOpts.access = policy.Read
	innerOpts.hide = []string{"*.pem", ".env"}
	limit := NewOpenFileLimit(64)
	outerOpts.limit, innerOpts.limit = limit, limit
	fo, _ := nw.fsOf("/", nw.outer, outerOpts)
	fi, _ := nw.fsOf("/work", nw.inner, innerOpts)
	shadow := watchDir(t, filepath.Join(nw.outer, "work"), false)
	fdsBefore := countFds(t) - 4 // less the two mounts' roots (two each), closed below
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/work", FS: fi})
	rng := rand.New(rand.NewPCG(seed, 99))
	paths := []string{"a.txt", "new", "d", "d/x", "d/y/z", ".git", ".git/config", ".git/new", "key.pem", "work", "work/in.txt",
		"work/key.pem", "work/.env", "work/new", "work/up", "work/up/a.txt", "work/up/work/shadow.txt", "lnk", "lnk/shadow.txt",
		"lnk2", "self", "self/work/shadow.txt", "self/key.pem", "..", "../outside/secret.txt", "d/../..", "work/..",
		"work/../work/.env", "work/shadow.txt", "x/", "a.txt/", "d/", "sl", "sl/config", "work/sl", "."}
	targets := []string{".git", ".git/config", "key.pem", "work", "work/.env", "../outside", "..", "d", "a.txt", "self", "lnk", ".", "x"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	dirs := []uint32{3, 4}
	var open []uint32
	buf := g.alloc(4096)
	scratch := g.next
	for range steps {
		g.next = scratch
		dirfd := dirs[rng.IntN(len(dirs))]
		switch rng.IntN(12) {
		case 0, 1, 2: // open
			oflags := uint16(rng.IntN(16))
			rights := []uint64{rightFdRead, rightFdWrite, rightFdRead | rightFdWrite, rightFdReaddir, 0, fileRights, dirRights}[rng.IntN(7)]
			fdflags := uint16(rng.IntN(2)) * fdflagAppend
			fd, e := g.openLookup(dirfd, uint32(rng.IntN(2)), pick(paths), oflags, rights, fdflags)
			if e == 0 {
				open = append(open, fd)
				if oflags&oflagDirectory != 0 {
					dirs = append(dirs, fd)
				}
			}
		case 3: // read what is open
			if len(open) > 0 {
				fd := open[rng.IntN(len(open))]
				iov := g.alloc(8)
				g.mod.Memory().WriteUint32Le(iov, buf)
				g.mod.Memory().WriteUint32Le(iov+4, 4096)
				if g.call("fd_read", uint64(fd), uint64(iov), 1, uint64(g.alloc(4))) == 0 {
					b, _ := g.mod.Memory().Read(buf, 4096)
					for _, s := range secrets {
						if strings.Contains(string(b), s) {
							t.Fatalf("seed %d: read %s through fd %d", seed, s, fd)
						}
					}
				}
				g.call("fd_readdir", uint64(fd), uint64(buf), 4096, 0, uint64(g.alloc(4)))
			}
		case 4: // write what is open
			if len(open) > 0 {
				g.write(open[rng.IntN(len(open))], "pwned", int64(rng.IntN(2))*int64(rng.IntN(10))-1)
			}
		case 5:
			g.rename(dirfd, pick(paths), dirs[rng.IntN(len(dirs))], pick(paths))
		case 6:
			g.link(dirfd, pick(paths), dirs[rng.IntN(len(dirs))], pick(paths))
		case 7:
			g.symlink(pick(targets), dirfd, pick(paths))
		case 8:
			g.pathCall([]string{"path_unlink_file", "path_remove_directory", "path_create_directory"}[rng.IntN(3)], dirfd, pick(paths))
		case 9:
			g.setTimes(dirfd, pick(paths), rng.IntN(2) == 0)
			if len(open) > 0 {
				g.call("fd_filestat_set_times", uint64(open[rng.IntN(len(open))]), 1e18, 1e18, fstAtim|fstMtim)
				g.call("fd_filestat_set_size", uint64(open[rng.IntN(len(open))]), uint64(rng.IntN(3)))
			}
		case 10: // renumber or close
			if len(open) > 0 {
				i := rng.IntN(len(open))
				if rng.IntN(2) == 0 {
					g.call("fd_close", uint64(open[i]))
				} else {
					g.call("fd_renumber", uint64(open[i]), uint64(dirs[rng.IntN(len(dirs))]))
				}
				open = append(open[:i], open[i+1:]...)
			}
		case 11:
			g.stat(dirfd, pick(paths), rng.IntN(2) == 0)
			g.readlink(dirfd, pick(paths))
		}
	}
	g.w.Close()
	shadow()
	if n := limit.Open(); n != 0 {
		t.Errorf("seed %d: %d files still counted open", seed, n)
	}
	if after := treeOf(t, nw.inner); after != innerBefore {
		t.Errorf("seed %d: the read-only mount changed:\nbefore %s\nafter  %s", seed, innerBefore, after)
	}
	if hostContent(filepath.Join(nw.outer, ".git/config")) != "[core]" || hostContent(nw.shadow) != "SHADOW" {
		t.Errorf("seed %d: .git/config or the shadowed file changed", seed)
	}
	if ents, _ := os.ReadDir(filepath.Join(nw.outer, ".git")); len(ents) != 1 {
		t.Errorf("seed %d: .git holds %d entries", seed, len(ents))
	}
	nw.checkOutside()
	fo.Close()
	fi.Close()
	if n := countFds(t); n > fdsBefore {
		t.Errorf("seed %d: %d descriptors open, %d before", seed, n, fdsBefore)
	}
}

// treeOf describes a host directory: every entry's path, type, size,
// content hash and modification time.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %v %d %d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", c)
		}
		b.WriteString("; ")
		return nil
	})
	return b.String()
}

// TestAttackLinkWalkSkipsCoveredParts: the first file with a second name
// that an operation meets makes the filesystem walk its mount once, to
// find protected and hidden files with twins. A tool can cause that walk
// whenever it likes (a hard link of its own, then a stat). The walk must
// not go where the mount never serves: the outer mount's own folder under
// an inner mount point, /proc. Nothing there is opened, not even listed.
func TestAttackLinkWalkSkipsCoveredParts(t *testing.T) {
	nw := newNestedWorld(t)
	fo, _ := nw.fsOf("/", nw.outer, defaultOpts())
	fi, _ := nw.fsOf("/work", nw.inner, defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/work", FS: fi})
	shadow := watchDir(t, filepath.Join(nw.outer, "work"), false)
	wantWASI(t, "link a.txt", g.link(3, "a.txt", 3, "twin"), errSUCCESS)
	wantWASI(t, "stat the twin", g.stat(3, "twin", false), errSUCCESS)
	if fo.links == nil {
		t.Fatal("the walk did not happen")
	}
	shadow()
}

// TestAttackSymlinkIntoCoveredPartNeverOpens: a symlink in the outer mount
// that leads into the inner mount point's own folder ("d -> work"), used
// as a folder on the way ("d/y/z"), is refused without that folder being
// opened (inotify sees any open, even of a folder): each name is resolved
// with O_PATH, which opens nothing, not by opening every folder on the
// way as os.Root does.
func TestAttackSymlinkIntoCoveredPartNeverOpens(t *testing.T) {
	nw := newNestedWorld(t)
	fo, _ := nw.fsOf("/", nw.outer, defaultOpts())
	fi, _ := nw.fsOf("/work", nw.inner, defaultOpts())
	g := newWASIGuest(t, WASIMount{Guest: "/", FS: fo}, WASIMount{Guest: "/work", FS: fi})
	wantWASI(t, "symlink d -> work", g.symlink("work", 3, "d"), errSUCCESS)
	shadow := watchDir(t, filepath.Join(nw.outer, "work"), false)
	for _, p := range []string{"d/y/z", "d/shadow.txt", "lnk/y/z", "self/work/y/z"} {
		_, e := g.readFile(3, p)
		wantWASI(t, "open "+p, e, errPERM, errNOENT)
		wantWASI(t, "create "+p, g.writeFile(3, p, "x"), errPERM, errNOENT)
		g.stat(3, p, true)
		g.pathCall("path_create_directory", 3, p)
		g.setTimes(3, p, false)
	}
	shadow()
	if hostContent(nw.shadow) != "SHADOW" {
		t.Error("the shadowed file changed")
	}
}
