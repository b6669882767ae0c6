package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/manifest"
)

// The C tool tools/urlcheck: urlcheck.wasm is committed beside its source
// and rebuilt by `task urlcheck` with Debian's clang, lld and wasi-libc.

func urlcheckServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runURLCheck runs a urlcheck module against srv's / and /missing, with
// the server allowed by a flag or not.
func runURLCheck(t *testing.T, module string, srv *httptest.Server, allow bool) cliResult {
	dir, _ := project(t)
	args := []string{"run", "--headless"}
	if allow {
		args = append(args, "--allow-net", srv.URL)
	}
	args = append(args, module, "--", srv.URL+"/", srv.URL+"/missing")
	return runCLI(t, dir, "", nil, args...)
}

func TestCToolURLCheck(t *testing.T) {
	srv := urlcheckServer(t)
	tool := filepath.Join(repoRoot, "tools", "urlcheck")
	wasm := filepath.Join(tool, "urlcheck.wasm")

	r := runURLCheck(t, wasm, srv, true)
	if r.code != 1 || r.stdout != srv.URL+"/ 200\n"+srv.URL+"/missing 404\n" {
		t.Fatalf("allowed: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	r = runURLCheck(t, wasm, srv, false)
	if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "error: denied by airlock's network policy") != 2 {
		t.Fatalf("denied: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}

	// The manifest pins the committed module, and runs it.
	m, diags := manifest.Load(filepath.Join(tool, "tool.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, _ := os.ReadFile(wasm)
	sum := sha256.Sum256(b)
	if err := m.CheckDigest("sha256:" + hex.EncodeToString(sum[:])); err != nil {
		t.Fatalf("tools/urlcheck/tool.hcl does not pin urlcheck.wasm (run task urlcheck and pin the digest it prints): %v", err)
	}
	if r := runURLCheck(t, tool, srv, true); r.code != 1 || !strings.Contains(r.stdout, " 200\n") {
		t.Fatalf("through the manifest: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestCToolRebuildsFromSource rebuilds urlcheck.wasm from urlcheck.c the
// way the Taskfile does and checks the result behaves as the committed one.
// Without clang it is skipped, except under CI, where .ci/run installs it.
func TestCToolRebuildsFromSource(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("clang is missing under CI: .ci/run installs clang, lld, wasi-libc and libclang-rt-dev-wasm32")
		}
		t.Skip("clang not installed (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)")
	}
	tool := filepath.Join(repoRoot, "tools", "urlcheck")
	out := filepath.Join(t.TempDir(), "urlcheck.wasm")
	cmd := exec.Command("clang", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-Wl,--strip-all",
		"-I"+filepath.Join(repoRoot, "tools", "sdk", "c"), "-o", out, "urlcheck.c")
	cmd.Dir = tool
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	srv := urlcheckServer(t)
	for _, allow := range []bool{true, false} {
		committed := runURLCheck(t, filepath.Join(tool, "urlcheck.wasm"), srv, allow)
		rebuilt := runURLCheck(t, out, srv, allow)
		if committed.code != rebuilt.code || committed.stdout != rebuilt.stdout ||
			strings.Contains(committed.stderr, "denied") != strings.Contains(rebuilt.stderr, "denied") {
			t.Fatalf("allow=%v: committed %d %q %q; rebuilt %d %q %q", allow,
				committed.code, committed.stdout, committed.stderr, rebuilt.code, rebuilt.stdout, rebuilt.stderr)
		}
	}
}
