//go:build linux

package wall_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/internal/wall/walltest"
)

// A restriction cannot be lifted, so every test of the wall runs in a child:
// this test binary, re-run with envChild holding a childSpec. The child
// raises the wall (or not, for the control runs), tries each probe with
// plain os and net calls (no airlock filesystem layer in between: the wall
// must hold by itself), and prints a childReport on stdout.
const envChild = "AIRLOCK_WALL_TEST_CHILD"

type childSpec struct {
	Plan    wall.Plan
	NoWall  bool    // the control: probe without raising the wall
	Threads int     // OS threads started before the wall, each probing Probes[0]
	Probes  []probe // tried in order after the wall
}

type probe struct {
	Op     string // read, list, write, create, truncate, mkdir, rename, symlink, link, mkfifo, exec, connect, bind
	Path   string
	Path2  string // rename and link target
	Addr   string // connect and bind
	Expect string // "ok" or an errno name: "EACCES", "EXDEV"
}

type childReport struct {
	Status  wall.Status
	Err     string
	Results []string // one per probe: "ok" or the errno name
	Threads []string // Probes[0] as tried from each pre-started thread
}

func TestMain(m *testing.M) {
	walltest.Main()
	if spec, ok := os.LookupEnv(envChild); ok {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

func child(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var rep childReport
	// Threads started before the wall, each locked to its own OS thread:
	// the wall must reach them too, not only the thread that raised it.
	start := make(chan struct{})
	results := make([]string, spec.Threads)
	var wg sync.WaitGroup
	for i := range spec.Threads {
		ready := make(chan struct{})
		wg.Go(func() {
			runtime.LockOSThread()
			close(ready)
			<-start
			results[i] = try(spec.Probes[0])
		})
		<-ready
	}
	if !spec.NoWall {
		st, err := wall.Restrict(&spec.Plan)
		rep.Status = st
		if err != nil {
			rep.Err = err.Error()
		}
	}
	close(start)
	wg.Wait()
	rep.Threads = results
	for _, p := range spec.Probes {
		rep.Results = append(rep.Results, try(p))
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// try does one probe with the plain standard library and returns "ok" or
// the errno's name.
func try(p probe) string {
	var err error
	switch p.Op {
	case "read":
		_, err = os.ReadFile(p.Path)
	case "list":
		_, err = os.ReadDir(p.Path)
	case "write":
		var f *os.File
		if f, err = os.OpenFile(p.Path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			_, err = f.WriteString("tampered")
			f.Close()
		}
	case "create":
		err = os.WriteFile(p.Path, []byte("made under the wall"), 0o644)
	case "truncate":
		err = os.Truncate(p.Path, 0)
	case "mkdir":
		err = os.Mkdir(p.Path, 0o755)
	case "rename":
		err = os.Rename(p.Path, p.Path2)
	case "symlink":
		err = os.Symlink(p.Path2, p.Path)
	case "link":
		err = os.Link(p.Path, p.Path2)
	case "mkfifo":
		err = unix.Mkfifo(p.Path, 0o644)
	case "exec":
		err = exec.Command(p.Path).Run()
	case "connect":
		var c net.Conn
		if c, err = net.DialTimeout("tcp", p.Addr, 2*time.Second); err == nil {
			c.Close()
		}
	case "bind":
		var l net.Listener
		// Plain TCP: Landlock does not cover Multipath TCP, which Go's
		// net.Listen prefers since Go 1.24.
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		if l, err = lc.Listen(context.Background(), "tcp", p.Addr); err == nil {
			l.Close()
		}
	default:
		return "unknown probe " + p.Op
	}
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func runChild(t *testing.T, spec childSpec, extraEnv ...string) childReport {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(b))
	cmd.Env = append(cmd.Env, extraEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child said %q: %v\n%s", out, err, stderr.String())
	}
	return rep
}

// witness is a TCP server on 127.0.0.1 that counts the connections it
// accepts: the host-side proof of whether a connect got through.
type witness struct {
	ln       net.Listener
	accepted atomic.Int64
}

func newWitness(t *testing.T) *witness {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &witness{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return w
}

func (w *witness) addr() string { return w.ln.Addr().String() }
func (w *witness) port() uint16 { return uint16(w.ln.Addr().(*net.TCPAddr).Port) }

// settle waits until the witness has counted want connections, or a while.
func (w *witness) settle(want int64) int64 {
	deadline := time.Now().Add(2 * time.Second)
	for w.accepted.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a late connection would show now
	return w.accepted.Load()
}

type fixture struct {
	ro, rw, outside      string
	secret, roFile       string
	secretBytes, roBytes []byte
	witness, allowed     *witness
	plan                 wall.Plan
	probes               []probe
}

func newFixture(t *testing.T) *fixture {
	base := t.TempDir()
	f := &fixture{
		ro: filepath.Join(base, "ro"), rw: filepath.Join(base, "rw"), outside: filepath.Join(base, "outside"),
		secretBytes: []byte("the host's secret\n"), roBytes: []byte("read-only mount's file\n"),
	}
	for _, d := range []string{f.ro, f.rw, f.outside, filepath.Join(f.rw, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.secret, f.roFile = filepath.Join(f.outside, "secret.txt"), filepath.Join(f.ro, "data.txt")
	if err := os.WriteFile(f.secret, f.secretBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.roFile, f.roBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	f.witness, f.allowed = newWitness(t), newWitness(t)
	f.plan.Add(f.ro, wall.Read, "mount /ro")
	f.plan.Add(f.rw, wall.Write, "mount /rw")
	f.plan.AddPort(int(f.allowed.port()))
	f.probes = []probe{
		// Outside every mount: neither readable nor listable.
		{Op: "read", Path: f.secret, Expect: "EACCES"},
		{Op: "list", Path: f.outside, Expect: "EACCES"},
		{Op: "create", Path: filepath.Join(f.outside, "planted"), Expect: "EACCES"},
		// A read-only mount: readable, never changed.
		{Op: "read", Path: f.roFile, Expect: "ok"},
		{Op: "list", Path: f.ro, Expect: "ok"},
		{Op: "write", Path: f.roFile, Expect: "EACCES"},
		{Op: "truncate", Path: f.roFile, Expect: "EACCES"},
		{Op: "create", Path: filepath.Join(f.ro, "new.txt"), Expect: "EACCES"},
		{Op: "mkdir", Path: filepath.Join(f.ro, "newdir"), Expect: "EACCES"},
		// A write mount: files are made, renamed across directories, linked.
		{Op: "create", Path: filepath.Join(f.rw, "new.txt"), Expect: "ok"},
		{Op: "rename", Path: filepath.Join(f.rw, "new.txt"), Path2: filepath.Join(f.rw, "sub", "moved.txt"), Expect: "ok"},
		{Op: "symlink", Path: filepath.Join(f.rw, "sub", "ln"), Path2: "moved.txt", Expect: "ok"},
		{Op: "truncate", Path: filepath.Join(f.rw, "sub", "moved.txt"), Expect: "ok"},
		// ... but a link or a rename never carries a file out of its mount
		// or gives a read-only file a writable name.
		{Op: "link", Path: f.roFile, Path2: filepath.Join(f.rw, "ro-link"), Expect: "EXDEV"},
		{Op: "rename", Path: filepath.Join(f.rw, "sub"), Path2: filepath.Join(f.outside, "sub"), Expect: "EACCES"},
		// No devices, pipes or programs, even in a write mount.
		{Op: "mkfifo", Path: filepath.Join(f.rw, "fifo"), Expect: "EACCES"},
		{Op: "exec", Path: "/bin/true", Expect: "EACCES"},
		// TCP: the port in the plan connects; any other does not, and
		// nothing may listen.
		{Op: "connect", Addr: f.allowed.addr(), Expect: "ok"},
		{Op: "connect", Addr: f.witness.addr(), Expect: "EACCES"},
		{Op: "bind", Addr: "127.0.0.1:0", Expect: "EACCES"},
	}
	return f
}

// The wall holds from the host side: with plain os and net calls (no
// airlock filesystem layer at all), a process behind the wall cannot read,
// list or plant anything outside its paths, cannot change a read-only
// mount, cannot exec, and cannot connect to a port not in its plan. The
// host sees the secret unread... (it cannot see reads, so the child's
// errors say it), the read-only file's bytes unchanged, nothing planted,
// and the witness server's accept count at zero.
func TestWallHoldsFromTheHostSide(t *testing.T) {
	if abi, why := wall.Probe(); abi < 4 {
		t.Skipf("needs Landlock ABI 4 or later (TCP rules): %s (ABI %d)", why, abi)
	}
	f := newFixture(t)
	rep := runChild(t, childSpec{Plan: f.plan, Threads: 4, Probes: f.probes})
	if rep.Err != "" || !rep.Status.Up {
		t.Fatalf("the wall is not up: %+v", rep)
	}
	for i, p := range f.probes {
		if got := rep.Results[i]; got != p.Expect {
			t.Errorf("%s %s%s: got %s, want %s", p.Op, p.Path, p.Addr, got, p.Expect)
		}
	}
	for i, got := range rep.Threads {
		if got != "EACCES" {
			t.Errorf("thread %d started before the wall read %s: %s, want EACCES", i, f.secret, got)
		}
	}
	if n := f.witness.settle(0); n != 0 {
		t.Errorf("the witness server accepted %d connections, want 0", n)
	}
	if n := f.allowed.settle(1); n != 1 {
		t.Errorf("the allowed server accepted %d connections, want 1", n)
	}
	if b, _ := os.ReadFile(f.roFile); string(b) != string(f.roBytes) {
		t.Errorf("the read-only file is now %q", b)
	}
	for _, p := range []string{filepath.Join(f.outside, "planted"), filepath.Join(f.ro, "new.txt"), filepath.Join(f.rw, "fifo"), filepath.Join(f.outside, "sub")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(f.rw, "sub", "ln")); err != nil || len(b) != 0 {
		t.Errorf("the write mount's file, through its symlink: %q, %v (want the truncated file)", b, err)
	}
	st := rep.Status
	if st.ABI < 4 || st.Used > wall.MaxABI || !strings.Contains(strings.Join(st.Covers, " "), "tcp.connect") {
		t.Errorf("status: %+v", st)
	}
}

// The control: the same probes without the wall mostly succeed, so the
// test above fails if Restrict ever stops restricting (and the witness does
// count a connection that gets through).
func TestWithoutTheWallTheProbesGetThrough(t *testing.T) {
	f := newFixture(t)
	rep := runChild(t, childSpec{Plan: f.plan, NoWall: true, Threads: 1, Probes: f.probes})
	for i, p := range f.probes {
		got := rep.Results[i]
		if p.Expect == "EACCES" && got == "EACCES" {
			t.Errorf("without the wall, %s %s%s still got EACCES", p.Op, p.Path, p.Addr)
		}
	}
	if n := f.witness.settle(1); n != 1 {
		t.Errorf("without the wall the witness accepted %d connections, want 1", n)
	}
}

// Where the kernel has no Landlock (here: a seccomp filter answers ENOSYS,
// as such a kernel does), Restrict says so and restricts nothing: airlock
// then runs as it did before the wall existed, or refuses when the policy
// requires the wall (cmd/airlock tests that).
func TestWithoutLandlockRestrictSaysWhy(t *testing.T) {
	f := newFixture(t)
	b, _ := json.Marshal(childSpec{Plan: f.plan, Probes: f.probes[:1]})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(b), walltest.Args(os.Args[0], "-test.run=^$"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if rep.Status.Up || rep.Status.ABI != 0 || !strings.Contains(rep.Status.Reason, "no Landlock") || rep.Err != "" {
		t.Errorf("status %+v, error %q", rep.Status, rep.Err)
	}
	if rep.Results[0] != "ok" {
		t.Errorf("without Landlock nothing is restricted, but reading %s: %s", f.secret, rep.Results[0])
	}
}

// With a plan that allows any port, TCP connections are not restricted
// (Landlock matches ports only) and the status says why; binding still is.
func TestAnyPortLeavesConnectOpen(t *testing.T) {
	if abi, why := wall.Probe(); abi < 4 {
		t.Skipf("needs Landlock ABI 4: %s", why)
	}
	w := newWitness(t)
	var plan wall.Plan
	plan.AllowAnyPort(`network.default = "allow"`)
	rep := runChild(t, childSpec{Plan: plan, Probes: []probe{
		{Op: "connect", Addr: w.addr()},
		{Op: "bind", Addr: "127.0.0.1:0"},
	}})
	if rep.Results[0] != "ok" || rep.Results[1] != "EACCES" {
		t.Errorf("connect %s, bind %s; want ok, EACCES", rep.Results[0], rep.Results[1])
	}
	if n := w.settle(1); n != 1 {
		t.Errorf("the server accepted %d, want 1", n)
	}
	if rep.Status.AnyPort != `network.default = "allow"` || strings.Contains(strings.Join(rep.Status.Covers, " "), "tcp.connect") {
		t.Errorf("status %+v", rep.Status)
	}
}
