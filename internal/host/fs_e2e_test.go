//go:build linux

package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// testGuests are the Go guest programs under testdata/ that TestMain builds
// (GOOS=wasip1 GOARCH=wasm) once per test binary; guestWasm maps each name
// to its module's path.
var (
	testGuests = []string{"fsguest"}
	guestWasm  = map[string]string{}
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "host-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// "go" is the toolchain running this test: go test puts its own
	// GOROOT/bin first on the PATH of the test binary.
	for _, name := range testGuests {
		out := filepath.Join(dir, name+".wasm")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/"+name)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building guest %s: %v\n%s", name, err, b)
			return 1
		}
		guestWasm[name] = out
	}
	return m.Run()
}

// guestRuntime is one wazero runtime with airlock's host modules (its own
// WASI, as airlock run has them) and the compiled fsguest, made on first
// use and shared by the end-to-end tests.
var guestRuntime = sync.OnceValues(func() (*guestEnv, error) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	if err := Instantiate(ctx, r, nil, nil, nil); err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(guestWasm["fsguest"])
	if err != nil {
		return nil, err
	}
	mod, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	return &guestEnv{r: r, mod: mod}, nil
})

type guestEnv struct {
	r   wazero.Runtime
	mod wazero.CompiledModule
}

// runGuest runs fsguest with fsys mounted at /work and returns its output
// lines, one per action.
func runGuest(t *testing.T, fsys *FS, actions ...string) []string {
	t.Helper()
	return runGuestMounts(t, []WASIMount{{Guest: "/work", FS: fsys}}, actions...)
}

// runGuestMounts runs fsguest with these mounts through airlock's WASI
// layer and returns its output lines, one per action. Every descriptor the
// guest opened is closed when it returns.
func runGuestMounts(t *testing.T, mounts []WASIMount, actions ...string) []string {
	t.Helper()
	env, err := guestRuntime()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	w := NewWASI(mounts, nil, &stdout, &stderr)
	defer w.Close()
	run := &Run{WASI: w}
	SetProcess(run, append([]string{"fsguest"}, actions...), nil)
	ctx := WithRun(context.Background(), run)
	cfg := wazero.NewModuleConfig().WithName("")
	mod, err := env.r.InstantiateModule(ctx, env.mod, cfg)
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatalf("guest: %v\nstderr: %s", err, stderr.String())
	}
	if mod != nil {
		mod.Close(context.Background())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(actions) {
		t.Fatalf("guest printed %d lines for %d actions:\n%s\nstderr: %s", len(lines), len(actions), stdout.String(), stderr.String())
	}
	return lines
}

func TestGuestEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.file("ok.txt", "hello")
	w.file(".git/config", "[core]")
	w.file(".env", "TOKEN=hunter2")
	w.file("docs/readme.md", "docs")
	w.symlink(filepath.Join(w.outside, "secret.txt"), "abs")
	w.symlink("../outside", "reldir")
	w.symlink(".git", "a")
	if err := os.Link(filepath.Join(w.mount, ".git/config"), filepath.Join(w.mount, "alias")); err != nil {
		t.Fatal(err)
	}
	o := defaultOpts()
	o.limit = NewOpenFileLimit(8)
	f, g := w.fs(o)

	cases := []struct{ action, want string }{
		{"read:/work/ok.txt", `read ok "hello"`},
		{"write:/work/new.txt:made", "write ok"},
		{"read:/work/new.txt", `read ok "made"`},
		{"readdir:/work", "readdir ok .git,a,abs,alias,docs,new.txt,ok.txt,reldir"},
		{"read:/work/.env", "read err ENOENT perm=false notexist=true"},
		{"stat:/work/.env", "stat err ENOENT perm=false notexist=true"},
		{"link:/work/.env:/work/env-copy", "link err ENOENT perm=false notexist=true"},
		{"rename:/work/.env:/work/env-visible", "rename err ENOENT perm=false notexist=true"},
		{"write:/work/.git/config:pwned", "write err EACCES perm=true notexist=false"},
		{"append:/work/.git/config:pwned", "append err EACCES perm=true notexist=false"},
		{"truncate:/work/.git/config:0", "truncate err EACCES perm=true notexist=false"},
		{"write:/work/a/config:pwned", "write err EACCES perm=true notexist=false"},
		{"write:/work/alias:pwned", "write err EACCES perm=true notexist=false"},
		{"fchtimes:/work/.git/config", "fchtimes err EACCES perm=true notexist=false"},
		{"chtimes:/work/.git/config", "chtimes err EACCES perm=true notexist=false"},
		{"rename:/work/.git:/work/git-away", "rename err EACCES perm=true notexist=false"},
		{"link:/work/.git/config:/work/cfg", "link err EACCES perm=true notexist=false"},
		{"remove:/work/.git/config", "remove err EACCES perm=true notexist=false"},
		{"mkdir:/work/docs/.git", "mkdir err EACCES perm=true notexist=false"},
		{"read:/work/abs", "read err EPERM perm=true notexist=false"},
		{"read:/work/reldir/secret.txt", "read err EPERM perm=true notexist=false"},
		{"write:/work/reldir/planted.txt:x", "write err EPERM perm=true notexist=false"},
		{"symlink:/etc/passwd:/work/l", "symlink err EPERM perm=true notexist=false"},
		{"symlink:../outside/secret.txt:/work/l", "symlink err EPERM perm=true notexist=false"},
		{"symlink:ok.txt:/work/l", "symlink ok"},
		{"readlink:/work/l", "readlink ok ok.txt"},
		{"read:/work/l", `read ok "hello"`},
		{"open-many:/work/ok.txt:100", "open-many err EIO perm=false notexist=false"},
		{"open-many:/work/ok.txt:5", "open-many ok 5"},
		{"chtimes:/work/ok.txt", "chtimes ok"},
		{"rename:/work/new.txt:/work/docs/new.txt", "rename ok"},
		{"remove:/work/docs/new.txt", "remove ok"},
	}
	var actions []string
	for _, c := range cases {
		actions = append(actions, c.action)
	}
	got := runGuest(t, f, actions...)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.action, got[i], c.want)
		}
	}
	if w.content(".git/config") != "[core]" || w.content(".env") != "TOKEN=hunter2" || w.exists("env-copy") ||
		w.exists("env-visible") || w.exists("git-away") || w.exists("cfg") || w.exists("docs/.git") {
		t.Error("the guest changed a protected or hidden path")
	}
	if o.limit.Open() != 0 {
		t.Errorf("%d files still counted open after the guest exited", o.limit.Open())
	}
	wantDecision(t, g, decision.FSWrite, "open", "/work/.git/config", `protect ".git"`, "EACCES")
	wantDecision(t, g, decision.FSRead, "open", "/work/.env", `hide ".env"`, "ENOENT")
	wantDecision(t, g, decision.FSRead, "open", "/work/abs", `mount "/work" boundary`, "EPERM")
	w.checkOutside()
}

func TestGuestEndToEndFreshMount(t *testing.T) {
	w := newWorld(t)
	w.file("ok.txt", "hello")
	f, _ := w.fs(defaultOpts())
	got := runGuest(t, f, "mkdir:/work/.git", "write:/work/.git:x", "create-excl:/work/.airlock", "mkdir:/work/src", "write:/work/src/a.go:package a")
	want := []string{
		"mkdir err EACCES perm=true notexist=false",
		"write err EACCES perm=true notexist=false",
		"create-excl err EACCES perm=true notexist=false",
		"mkdir ok",
		"write ok",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %s, want %s", got[i], want[i])
		}
	}
	if w.exists(".git") || w.exists(".airlock") || w.content("src/a.go") != "package a" {
		t.Error("wrong mount state")
	}
}

func TestGuestEndToEndReadOnly(t *testing.T) {
	w := newWorld(t)
	w.file("ok.txt", "hello")
	o := defaultOpts()
	o.access = policy.Read
	f, g := w.fs(o)
	got := runGuest(t, f, "read:/work/ok.txt", "write:/work/ok.txt:x", "write:/work/new.txt:x", "mkdir:/work/d",
		"remove:/work/ok.txt", "rename:/work/ok.txt:/work/x", "symlink:ok.txt:/work/l", "chtimes:/work/ok.txt")
	want := []string{`read ok "hello"`}
	for _, op := range []string{"write", "write", "mkdir", "remove", "rename", "symlink", "chtimes"} {
		want = append(want, op+" err EROFS perm=false notexist=false")
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %s, want %s", got[i], want[i])
		}
	}
	if w.content("ok.txt") != "hello" || w.exists("new.txt") || w.exists("d") || w.exists("l") {
		t.Error("read-only mount changed")
	}
	wantDecision(t, g, decision.FSWrite, "open", "/work/ok.txt", `mount "/work" access = "read"`, "EROFS")
}

// TestGuestEndToEndNestedMounts: a Go guest with "/" (writable) and
// "/work" (read-only, *.pem hidden) mounted from two host directories sees
// the inner mount below /work with its rules, cannot reach the outer
// directory's own work/ by a symlink, and cannot rename or link across.
func TestGuestEndToEndNestedMounts(t *testing.T) {
	nw := newNestedWorld(t)
	innerOpts := defaultOpts()
	innerOpts.access = policy.Read
	innerOpts.hide = []string{"*.pem"}
	fo, _ := nw.fsOf("/", nw.outer, defaultOpts())
	fi, _ := nw.fsOf("/work", nw.inner, innerOpts)
	checkShadow := watchDir(t, filepath.Join(nw.outer, "work"), false)
	checkInner := watchDir(t, nw.inner, true)
	cases := []struct{ action, want string }{
		{"read:/work/in.txt", `read ok "in"`},
		{"read:/work/shadow.txt", "read err ENOENT perm=false notexist=true"},
		{"write:/work/new.txt:x", "write err EROFS perm=false notexist=false"},
		{"read:/work/key.pem", "read err ENOENT perm=false notexist=true"},
		{"readdir:/work", "readdir ok in.txt,up"},
		{"read:/lnk/shadow.txt", "read err EPERM perm=true notexist=false"},
		{"read:/lnk2", "read err EPERM perm=true notexist=false"},
		{"write:/self/work/shadow.txt:pwned", "write err EPERM perm=true notexist=false"},
		{"rename:/a.txt:/work/a.txt", "rename err EXDEV perm=false notexist=false"},
		{"rename:/work/in.txt:/in.txt", "rename err EXDEV perm=false notexist=false"},
		{"link:/a.txt:/work/l", "link err EXDEV perm=false notexist=false"},
		{"symlink:work/shadow.txt:/made", "symlink ok"},
		{"read:/made", "read err EPERM perm=true notexist=false"},
		{"read:/work/up/a.txt", "read err EPERM perm=true notexist=false"},
		{"write:/b.txt:b", "write ok"},
		{"read:/work/../a.txt", `read ok "a"`},
	}
	var actions []string
	for _, c := range cases {
		actions = append(actions, c.action)
	}
	got := runGuestMounts(t, []WASIMount{{Guest: "/", FS: fo}, {Guest: "/work", FS: fi}}, actions...)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.action, got[i], c.want)
		}
	}
	checkShadow()
	checkInner()
	if hostContent(nw.shadow) != "SHADOW" || hostContent(filepath.Join(nw.outer, "b.txt")) != "b" {
		t.Error("wrong content on the host")
	}
	nw.checkOutside()
}
