package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// witness is an HTTP server on 127.0.0.1 that counts the connections it
// accepts and answers every request 404: it stands in for a module proxy
// (GOPROXY) that would receive what a build asks for.
type witness struct {
	url     string
	accepts atomic.Int64
}

func newWitness(t *testing.T) *witness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &witness{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.NotFoundHandler(), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			w.accepts.Add(1)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return w
}

// hostileGoEnv is a host environment that would send any module a build
// needs to the witness, and let the build rewrite go.mod and skip the
// checksum database: the settings a build must not take from the host.
func hostileGoEnv(w *witness) []string {
	return []string{
		"GOPROXY=" + w.url, "GOFLAGS=-mod=mod", "GOSUMDB=off", "GONOSUMDB=*", "GOINSECURE=*",
		"GOPRIVATE=", "GONOPROXY=", "GOTOOLCHAIN=auto", "HTTP_PROXY=" + w.url, "HTTPS_PROXY=" + w.url,
	}
}

// evilToolFolder makes a project with a Go tool folder, evil/, inside
// the project (the default policy's writable /work): the hostile tool of
// testdata/evilgomod with a go.mod of its own.
func evilToolFolder(t *testing.T) (proj, evil string) {
	t.Helper()
	proj = t.TempDir()
	evil = filepath.Join(proj, "evil")
	if err := os.Mkdir(evil, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "evilgomod", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"main.go": string(src),
		"go.mod":  "module example.com/evil\n\ngo 1.22\n",
	} {
		if err := os.WriteFile(filepath.Join(evil, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proj, evil
}

// The attack of issue 10: a tool without network rewrites its own tool
// folder's go.mod in its writable mount so that the next build asks a
// module proxy for a path that carries data. The build asks nobody (the
// witness proxy, set in the host's GOPROXY, accepts no connection) and
// fails with one line saying what to run; the first run warned that the
// folder lies in a writable mount.
func TestBuildAttackGoModRewriteReachesNoProxy(t *testing.T) {
	w := newWitness(t)
	proj, evil := evilToolFolder(t)
	env := hostileGoEnv(w)

	r := runCLI(t, proj, "", env, "run", "--headless", "./evil")
	if r.code != 0 || !strings.Contains(r.stdout, "rewrote /work/evil") {
		t.Fatalf("the hostile tool did not run: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stderr, "airlock: warning: the tool folder "+evil+" is inside the writable mount /work ("+proj+")"); n != 1 {
		t.Errorf("want one warning about the writable tool folder, got %d; stderr:\n%s", n, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(evil, "go.mod")); !strings.Contains(string(b), "exfil.example/c2VjcmV0") {
		t.Fatalf("the tool did not rewrite go.mod (the fixture proves nothing): %s", b)
	}

	r = runCLI(t, proj, "", env, "run", "--headless", "./evil")
	if n := w.accepts.Load(); n != 0 {
		t.Fatalf("the witness proxy accepted %d connections during the build", n)
	}
	if r.code != ExitNoModule {
		t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, ExitNoModule, r.stderr)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !strings.HasPrefix(l, "airlock: warning: ") {
			errLines = append(errLines, l)
		}
	}
	want := `airlock: building ./evil: it needs "exfil.example/c2VjcmV0@v1.0.0", which is not on this machine, and airlock builds tools without network; check its go.mod, then run ` + "`cd ./evil && go mod download`" + ` yourself`
	if len(errLines) != 1 || errLines[0] != want {
		t.Fatalf("want the one line\n%s\ngot stderr:\n%s", want, r.stderr)
	}
}

// A tool folder outside every writable mount builds without a warning.
func TestBuildToolFolderOutsideMountsDoesNotWarn(t *testing.T) {
	_, evil := evilToolFolder(t)
	work := t.TempDir()
	r := runCLI(t, work, "", nil, "run", "--headless", evil, "--", "/work")
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// A Go toolchain that a writable mount reaches could have been replaced by
// a tool: airlock would run it natively, outside every sandbox. A build
// is refused, with one line naming the mount.
func TestBuildRefusesToolchainInWritableMount(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	goroot, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	_, evil := evilToolFolder(t)
	work := t.TempDir()
	r := runCLI(t, work, "", nil, "run", "--headless", "--mount", goroot+":/goroot", evil)
	if r.code != ExitNoModule || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
		!strings.Contains(r.stderr, "is inside the writable mount /goroot ("+goroot+")") || !strings.Contains(r.stderr, "compiler") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
