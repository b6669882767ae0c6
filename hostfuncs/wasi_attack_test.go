//go:build linux

package hostfuncs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/airlockhq/airlock/policy"
	"golang.org/x/sys/unix"
)

// Attacks on airlock's WASI functions by a hostile guest, each proved from
// the host side. docs/filesystem.md ("Threat model") lists them.

// TestAttackRandomCallsNeverPanic calls every WASI function airlock serves
// with random arguments (descriptors near the real ones, pointers in,
// across and past the end of guest memory, huge lengths, offsets and
// flags) over random guest memory: no call may panic (a panic in a host
// function would end the run without its result), and nothing outside the
// mount is touched.
func TestAttackRandomCallsNeverPanic(t *testing.T) {
	w := newWorld(t)
	w.file("a.txt", "a")
	w.file("d/b.txt", "b")
	w.file(".git/config", "[core]")
	w.file(".env", "TOKEN=x")
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
	for _, access := range []policy.Access{policy.Read, policy.Write} {
		gate := NewGate(context.Background(), nil, nil)
		f, err := NewFS(policy.Mount{Guest: "/", Host: "/", Access: access, Origin: testOrigin}, gate, nil)
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
		f, err := NewFS(policy.Mount{Guest: "/p", Host: host, Access: policy.Read, Origin: testOrigin}, NewGate(context.Background(), nil, nil), nil)
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
	o.asker = askerFunc(func(_ context.Context, r Request) (bool, Source) {
		asked = append(asked, r.Op+" "+r.Target)
		return strings.HasPrefix(r.Target, "/work/granted/"), SourceGrant // a grant for the folder
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
	gate := NewGate(context.Background(), nil, func(Decision) error { recorded++; return nil })
	f, err := NewFS(newMount(t, "/work", w.mount, defaultOpts()), gate, nil)
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
