//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/internal/wall/walltest"
	"github.com/airlockhq/airlock/internal/wasmbuild"
)

// The second wall (wall.go, internal/wall), tested through the real airlock
// binary. To show that the kernel holds even where airlock's own
// filesystem layer and network policy would not, these tests use a build
// of airlock with -tags airlock_wallprobe (wallprobe_tagged.go), whose
// extra host functions open files and dial by host path and address with
// plain os and net calls, and the guest testdata/wallprobe that calls them.

var wallProbe = sync.OnceValues(func() ([2]string, error) {
	dir := filepath.Dir(cacheDir)
	bin := filepath.Join(dir, "airlock-wallprobe")
	cmd := exec.Command("go", "build", "-tags", "airlock_wallprobe", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return [2]string{}, fmt.Errorf("building airlock with -tags airlock_wallprobe: %v: %s", err, out)
	}
	wasm, err := wasmbuild.Build(filepath.Join("testdata", "wallprobe"), dir, "wallprobe")
	return [2]string{bin, wasm}, err
})

func needWall(t *testing.T, minABI int) {
	t.Helper()
	if abi, why := wall.Probe(); abi < minABI {
		t.Skipf("needs Landlock ABI %d: %s (ABI %d)", minABI, why, abi)
	}
}

// wallProject lays out a project with a write mount (the project), a read
// mount beside it, and a secret outside both; the policy allows TCP to one
// port of 127.0.0.1 and nothing else.
type wallProject struct {
	dir, ref, outside     string
	secret, refFile       string
	allowed, witness      *counter
	env                   []string
	refBytes, secretBytes []byte
}

func newWallProject(t *testing.T, extra string) *wallProject {
	t.Helper()
	root := t.TempDir()
	w := &wallProject{dir: filepath.Join(root, "proj"), ref: filepath.Join(root, "ref"), outside: filepath.Join(root, "outside"),
		refBytes: []byte("the read-only mount's file\n"), secretBytes: []byte("a secret outside every mount\n")}
	for _, d := range []string{w.dir, w.ref, w.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.secret, w.refFile = filepath.Join(w.outside, "secret.txt"), filepath.Join(w.ref, "file.txt")
	os.WriteFile(w.secret, w.secretBytes, 0o600)
	os.WriteFile(w.refFile, w.refBytes, 0o644)
	w.allowed, w.witness = newCounter(t), newCounter(t)
	pol := fmt.Sprintf(`mount "/work" {
  host   = "."
  access = "write"
}
mount "/ref" {
  host = "../ref"
}
network {
  allow = ["tcp://127.0.0.1:%d"]
}
%s`, w.allowed.port(), extra)
	if err := os.WriteFile(filepath.Join(w.dir, "policy.hcl"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	return w
}

// probes are the wallprobe guest's arguments, and what the kernel answers
// each with the wall up.
func (w *wallProject) probes() (args, want []string) {
	pairs := [][3]string{
		{"read", w.secret, "errno 13"},  // outside every mount
		{"list", w.outside, "errno 13"}, // not even listed
		{"append", filepath.Join(w.outside, "planted"), "errno 13"},
		{"read", w.refFile, "ok"},                          // a read mount reads
		{"append", w.refFile, "errno 13"},                  // and is never written
		{"append", filepath.Join(w.dir, "made.txt"), "ok"}, // the write mount is
		{"connect", fmt.Sprintf("127.0.0.1:%d", w.allowed.port()), "ok"},
		{"connect", fmt.Sprintf("127.0.0.1:%d", w.witness.port()), "errno 13"},
	}
	for _, p := range pairs {
		args = append(args, p[0], p[1])
		want = append(want, p[0]+" "+p[1]+": "+p[2])
	}
	return args, want
}

func runProbe(t *testing.T, bin, dir string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

func parseReport(t testing.TB, stderr string) report {
	t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(lastLine(stderr)), &rep); err != nil {
		t.Fatalf("the report: %v\n%s", err, stderr)
	}
	if rep.Landlock == nil {
		t.Fatalf("the report has no landlock object:\n%s", stderr)
	}
	return rep
}

// The wall holds past airlock's own filesystem layer: host functions that
// open files and dial by host path (a stand-in for a bug in that layer or
// in wazero) still cannot read or list outside the mounts, write into the
// read-only mount or connect to a port the network policy does not name.
// Seen from the host: the read-only file's bytes unchanged, nothing planted,
// the witness server's accept count at zero. The same run with
// sandbox.landlock = "off" gets through, which is what the probes are for.
func TestWallHoldsPastTheFilesystemLayer(t *testing.T) {
	needWall(t, 4)
	pb, err := wallProbe()
	if err != nil {
		t.Fatal(err)
	}
	bin, wasm := pb[0], pb[1]

	w := newWallProject(t, "")
	args, want := w.probes()
	r := runProbe(t, bin, w.dir, w.env, append([]string{"run", "--headless", "--policy", "policy.hcl", "--json", wasm, "--"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("the kernel answered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if b, _ := os.ReadFile(w.refFile); !bytes.Equal(b, w.refBytes) {
		t.Errorf("the read-only mount's file is now %q", b)
	}
	if _, err := os.Stat(filepath.Join(w.outside, "planted")); err == nil {
		t.Error("a file was planted outside every mount")
	}
	if b, _ := os.ReadFile(filepath.Join(w.dir, "made.txt")); len(b) == 0 {
		t.Error("the write mount was not written")
	}
	if n := w.witness.count(); n != 0 {
		t.Errorf("the witness server accepted %d connections, want 0", n)
	}
	if n := w.allowed.count(); n != 1 {
		t.Errorf("the allowed server accepted %d connections, want 1", n)
	}
	st := parseReport(t, r.stderr).Landlock
	wantPaths := []wall.Path{{Path: w.dir, Access: wall.Write, Why: "mount /work"}, {Path: w.ref, Access: wall.Read, Why: "mount /ref"}}
	// Then name lookups and the TLS roots, read-only: the policy allows a connection.
	if !st.Up || st.Mode != "auto" || st.ABI < 4 || len(st.Paths) < 2 || !slices.Equal(st.Paths[:2], wantPaths) ||
		slices.ContainsFunc(st.Paths[2:], func(p wall.Path) bool {
			return p.Why != "TLS roots" && p.Why != "name lookups" || p.Access != wall.Read
		}) ||
		!slices.Equal(st.Connect, []uint16{uint16(w.allowed.port()), 53}) || st.AnyPort != "" {
		t.Errorf("the report's landlock: %+v", st)
	}

	// The control: the wall off, the same probes get through.
	w = newWallProject(t, "sandbox {\n  landlock = \"off\"\n}\n")
	args, _ = w.probes()
	r = runProbe(t, bin, w.dir, w.env, append([]string{"run", "--headless", "--policy", "policy.hcl", "--json", wasm, "--"}, args...)...)
	if !strings.Contains(r.stdout, "read "+w.secret+": ok") || !strings.Contains(r.stdout, "append "+w.refFile+": ok") {
		t.Errorf("without the wall the probes did not get through:\n%s", r.stdout)
	}
	if n := w.witness.count(); n != 1 {
		t.Errorf("without the wall the witness accepted %d connections, want 1", n)
	}
	st = parseReport(t, r.stderr).Landlock
	if st.Up || st.Mode != "off" || st.Reason != `sandbox.landlock = "off" (policy.hcl:12:3)` {
		t.Errorf("the report's landlock with the wall off: %+v", st)
	}
}

// What airlock does after the guest runs still works behind the wall: the
// --json report goes to a file outside every mount (opened before the
// wall), the trace file is written, the audit log gets its records, and
// OTLP export reaches a collector named "localhost" (a name lookup, then
// the endpoint's port: the only ports the wall leaves open).
func TestWallLetsAirlockFinishItsWork(t *testing.T) {
	needWall(t, 4)
	dir, _ := project(t)
	out := t.TempDir() // outside every mount
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	reportFile, traceFile := filepath.Join(out, "report.json"), filepath.Join(out, "trace.jsonl")
	r := runCLI(t, dir, "", env, "run", "--headless", "--json="+reportFile, "--otel-file", traceFile,
		probeWasm, "--", "write", "/work/.git/config", "x")
	if r.code != 1 {
		t.Fatalf("exit %d (want 1: the write into .git is refused):\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	rep := parseReport(t, string(b))
	if st := rep.Landlock; !st.Up || len(st.Paths) != 1 || st.Paths[0].Path != dir || len(st.Connect) != 0 ||
		!slices.Contains(st.Covers, "tcp.connect") {
		t.Errorf("the report's landlock: %+v", st)
	}
	if rep.Denied != 1 {
		t.Errorf("the report: %d denials, want 1", rep.Denied)
	}
	if tb, err := os.ReadFile(traceFile); err != nil || !bytes.Contains(tb, []byte("airlock.decision")) {
		t.Errorf("the trace file (%v) has no decision:\n%.400s", err, tb)
	}
	recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
	if len(recs) != 1 || recs[0].Target != "/work/.git/config" {
		t.Errorf("audit records %+v", recs)
	}

	// OTLP over HTTP to "localhost".
	var posts atomic.Int64
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/v1/") {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	r = runCLI(t, dir, "", env, "run", "--headless", "--json", "--otel-endpoint", fmt.Sprintf("http://localhost:%d", port), probeWasm, "--", "exit", "0")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "telemetry") && strings.Contains(r.stderr, "fail") {
		t.Errorf("telemetry export failed:\n%s", r.stderr)
	}
	if posts.Load() == 0 {
		t.Errorf("the collector received nothing:\n%s", r.stderr)
	}
	st := parseReport(t, r.stderr).Landlock
	slices.Sort(st.Connect)
	if !st.Up || !slices.Equal(st.Connect, []uint16{53, uint16(port)}) ||
		!slices.ContainsFunc(st.Paths, func(p wall.Path) bool { return p.Path == "/etc/hosts" && p.Why == "name lookups" }) {
		t.Errorf("the report's landlock: %+v", st)
	}
}

// withoutLandlock runs airlock in dir on a kernel that appears to have no
// Landlock: this test binary execs it under a seccomp filter that answers
// Landlock's system calls with ENOSYS (walltest).
func withoutLandlock(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), walltest.Args(append([]string{airlockBin}, args...)...)), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// A policy that requires the wall refuses to run where the kernel has no
// Landlock: exit 125, one line naming the setting, and the tool never ran
// (the file it would write is absent). A managed policy's "require" holds
// over a project's "off".
func TestWallRequiredWithoutLandlockRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, project, managed, origin string
	}{
		{"project", "sandbox {\n  landlock = \"require\"\n}\n", "", "policy.hcl:6:3"},
		{"managed", "sandbox {\n  landlock = \"off\"\n}\n", "sandbox {\n  landlock = \"require\"\n}\n", "managed:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := project(t)
			os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte("mount \"/work\" {\n  host = \".\"\n  access = \"write\"\n}\n"+tc.project), 0o644)
			env := []string{"AIRLOCK_CACHE_DIR=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
			if tc.managed != "" {
				m := filepath.Join(t.TempDir(), "managed.hcl")
				os.WriteFile(m, []byte(tc.managed), 0o644)
				env[2] = "AIRLOCK_MANAGED_POLICY=" + m
			}
			r := withoutLandlock(t, dir, env, "run", "--headless", "--policy", "policy.hcl", probeWasm, "--", "write", "/work/ran.txt", "x")
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d:\n%s", r.code, ExitUsage, r.stderr)
			}
			var lines []string // the policy file's warning aside (it lies in the writable project)
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if !strings.HasPrefix(l, "airlock: warning: the policy file ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], `airlock: the policy requires the Landlock wall (sandbox.landlock = "require", `+tc.origin) ||
				!strings.Contains(lines[0], "this kernel has no Landlock") {
				t.Errorf("stderr, want one line naming the setting:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "ran.txt")); err == nil {
				t.Error("the tool ran")
			}
		})
	}
}

// Where the kernel has no Landlock and the policy leaves sandbox.landlock
// at "auto", airlock runs as before, says so on the first run only, and the
// report says why the wall is not up.
func TestWallMissingIsSaidOnce(t *testing.T) {
	dir, _ := project(t)
	env := []string{"AIRLOCK_CACHE_DIR=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	for i := range 2 {
		r := withoutLandlock(t, dir, env, "run", "--headless", "--json", probeWasm, "--", "write", "/work/ran.txt", "x")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", i, r.code, r.stderr)
		}
		notes := strings.Count(r.stderr, "airlock: running without the second wall: this kernel has no Landlock")
		if want := 1 - i; notes != want {
			t.Errorf("run %d: the note is shown %d times, want %d:\n%s", i, notes, want, r.stderr)
		}
		st := parseReport(t, r.stderr).Landlock
		if st.Up || st.ABI != 0 || st.Mode != "auto" || !strings.Contains(st.Reason, "no Landlock") {
			t.Errorf("run %d: the report's landlock: %+v", i, st)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ran.txt")); string(b) != "x" {
		t.Errorf("the tool did not run: ran.txt holds %q", b)
	}
}

// airlock mcp raises the wall once its tools are loaded, around the union
// of what their calls may reach: a call of the wallprobe tool cannot
// read outside the mounts, write the read-only mount or connect to a port
// no policy names, seen from the host as in TestWallHoldsPastTheFilesystemLayer.
func TestWallAroundTheMCPServer(t *testing.T) {
	needWall(t, 4)
	pb, err := wallProbe()
	if err != nil {
		t.Fatal(err)
	}
	bin, wasm := pb[0], pb[1]
	// Nobody is asked (mode never): a client's answer could otherwise make
	// the read-only mount writable, and the wall leaves room for that.
	w := newWallProject(t, "approvals {\n  mode = \"never\"\n}\n")
	tools := t.TempDir()
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tools, "wallprobe.wasm"), b, 0o644)
	os.WriteFile(filepath.Join(tools, "tool.hcl"), []byte(`tool "wallprobe" {
  description  = "probes the second wall"
  module       = "wallprobe.wasm"
  argv         = ["{ops}"]
  input_schema = jsonencode({
    type = "object"
    properties = { ops = { type = "array", items = { type = "string" } } }
  })
}
`), 0o644)

	cmd := exec.Command(bin, "mcp", "--tools", tools, "--policy", "policy.hcl", "--headless")
	cmd.Dir = w.dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), w.env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "wall-test", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connecting: %v\n%s", err, stderr.String())
	}
	defer cs.Close()
	args, want := w.probes()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "wallprobe", Arguments: map[string]any{"ops": args}})
	if err != nil {
		t.Fatalf("calling: %v\n%s", err, stderr.String())
	}
	var text string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			text += tc.Text
		}
	}
	for _, line := range want {
		if !strings.Contains(text, line) {
			t.Errorf("the result lacks %q:\n%s", line, text)
		}
	}
	if b, _ := os.ReadFile(w.refFile); !bytes.Equal(b, w.refBytes) {
		t.Errorf("the read-only mount's file is now %q", b)
	}
	if n := w.witness.count(); n != 0 {
		t.Errorf("the witness server accepted %d connections, want 0", n)
	}
	if !strings.Contains(stderr.String(), "mcp: second wall up (Landlock)") {
		t.Errorf("the server did not say the wall is up:\n%s", stderr.String())
	}
}

// A tool's HTTPS request works behind the wall: the host looks the name
// up and verifies the server against the system's TLS roots (here
// $SSL_CERT_FILE, a file outside every mount), which the wall keeps
// readable; loading them lazily happens after the wall.
func TestWallLetsHTTPSThrough(t *testing.T) {
	needWall(t, 4)
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintln(w, "hello through the wall")
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	dir, _ := project(t)
	os.WriteFile(filepath.Join(dir, "policy.hcl"), fmt.Appendf(nil, `mount "/work" {
  host   = "."
  access = "write"
}
network {
  allow = ["https://127.0.0.1:%d"]
}
`, port), 0o644)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY=", "SSL_CERT_FILE=" + ca, "SSL_CERT_DIR="}
	r := runCLI(t, dir, "", env, "run", "--headless", "--policy", "policy.hcl", "--json",
		filepath.Join(repoRoot, "tools", "fetch"), "--", fmt.Sprintf("https://127.0.0.1:%d/", port))
	if r.code != 0 || !strings.Contains(r.stdout, "hello through the wall") || hits.Load() != 1 {
		t.Fatalf("exit %d, %d requests:\n%s\n%s", r.code, hits.Load(), r.stdout, r.stderr)
	}
	st := parseReport(t, r.stderr).Landlock
	if !st.Up || !slices.Equal(st.Connect, []uint16{uint16(port), 53}) ||
		!slices.ContainsFunc(st.Paths, func(p wall.Path) bool { return p.Path == ca && p.Why == "TLS roots" }) {
		t.Errorf("the report's landlock: %+v", st)
	}
}

// An address rule lets a tool use a name that resolves to the address
// (docs/policy.md: "http://127.0.0.1:8080 or http://localhost:8080"): the
// host looks localhost up behind the wall, so the wall keeps the
// resolver's files readable whenever anything may connect.
func TestWallLetsANameReachAnAddressRule(t *testing.T) {
	needWall(t, 4)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintln(w, "hello, localhost")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	dir, _ := project(t)
	os.WriteFile(filepath.Join(dir, "policy.hcl"), fmt.Appendf(nil, `mount "/work" {
  host   = "."
  access = "write"
}
network {
  allow = ["http://127.0.0.1:%d"]
}
`, port), 0o644)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	r := runCLI(t, dir, "", env, "run", "--headless", "--policy", "policy.hcl", "--json",
		filepath.Join(repoRoot, "tools", "fetch"), "--", fmt.Sprintf("http://localhost:%d/", port))
	if r.code != 0 || !strings.Contains(r.stdout, "hello, localhost") || hits.Load() != 1 {
		t.Fatalf("exit %d, %d requests:\n%s\n%s", r.code, hits.Load(), r.stdout, r.stderr)
	}
	if st := parseReport(t, r.stderr).Landlock; !st.Up {
		t.Errorf("the wall was not up: %+v", st)
	}
}
