package mcp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Built once per test binary by TestMain.
var (
	buildDir  string
	guestWasm string // testdata/guest
	askerWasm string // testdata/asker: needs the tests' engine (airlock_test.ask)
	grepWasm  string // tools/grep
	writeWasm string // tools/write
	engine    *runtime.Engine
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	if buildDir, err = os.MkdirTemp("", "airlock-mcp-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(buildDir)
	var wg sync.WaitGroup
	var errs [4]error
	for i, b := range []struct {
		src, name string
		out       *string
	}{{"testdata/guest", "guest", &guestWasm}, {"testdata/asker", "asker", &askerWasm},
		{"../tools/grep", "grep", &grepWasm}, {"../tools/write", "write", &writeWasm}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			*b.out, errs[i] = wasmbuild.Build(b.src, buildDir, b.name)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx := context.Background()
	engine, err = runtime.New(ctx, runtime.Config{
		CacheDir:  compileCache(),
		HostFuncs: []host.Func{askFunc},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer engine.Close(ctx)
	return m.Run()
}

// compileCache is a compile cache kept between test runs (compiling the
// test modules costs seconds; wazero keys its cache by module and version),
// shared with the airlock binary the tests run (AIRLOCK_CACHE_DIR).
func compileCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "airlock-test", "mcp-cache")
	}
	return filepath.Join(buildDir, "cache")
}

// askFunc is the test host function airlock_test.ask: it puts a question
// the policy leaves open ("ask") to the run's gate, as a network or
// filesystem host function does, and returns 1 when it is allowed.
var askFunc = host.Func{
	Module:  "airlock_test",
	Name:    "ask",
	Results: []api.ValueType{api.ValueTypeI32},
	Fn: api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		run := host.RunFrom(ctx)
		ok := run.Gate.Decide(decision.Request{Kind: "test.ask", Op: "ask", Target: "the-test-target",
			Policy: policy.Ask, Rule: "the test asks"}, "EPERM")
		stack[0] = 0
		if ok {
			stack[0] = 1
		}
	}),
}

func digestOf(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// manifest is a tool manifest for a test folder.
type manifest struct {
	name, module, digest string
	argv                 []string
	input, output        string
	schema               string // HCL expression, e.g. jsonencode({…})
	extra                string // more lines inside the tool block
}

func (m manifest) hcl() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tool %q {\n  description = \"test tool %s\"\n  module = %q\n", m.name, m.name, m.module)
	if m.digest != "" {
		fmt.Fprintf(&b, "  digest = %q\n", m.digest)
	}
	if len(m.argv) > 0 {
		var q []string
		for _, a := range m.argv {
			q = append(q, fmt.Sprintf("%q", a))
		}
		fmt.Fprintf(&b, "  argv = [%s]\n", strings.Join(q, ", "))
	}
	if m.input != "" {
		fmt.Fprintf(&b, "  input = %q\n", m.input)
	}
	if m.output != "" {
		fmt.Fprintf(&b, "  output = %q\n", m.output)
	}
	if m.schema != "" {
		fmt.Fprintf(&b, "  input_schema = %s\n", m.schema)
	}
	b.WriteString(m.extra)
	b.WriteString("}\n")
	return b.String()
}

func writeManifests(t testing.TB, dir string, ms ...manifest) {
	t.Helper()
	for _, m := range ms {
		writeWhole(t, filepath.Join(dir, m.name+".tool.hcl"), m.hcl())
	}
}

// writeWhole writes a file that a running server may be watching: beside
// it first, then renamed into place, so that the server never reads it half
// written.
func writeWhole(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".part"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The tools most tests use.
func grepTool(t testing.TB) manifest {
	return manifest{name: "grep", module: grepWasm, digest: digestOf(t, grepWasm),
		argv: []string{"-n", "--", "{pattern}", "{paths}"},
		schema: `jsonencode({
    type = "object"
    properties = {
      pattern = { type = "string", description = "RE2 regular expression" }
      paths   = { type = "array", items = { type = "string" }, default = ["/work"] }
    }
    required = ["pattern"]
  })`}
}

func writeTool(t testing.TB) manifest {
	return manifest{name: "write", module: writeWasm, digest: digestOf(t, writeWasm),
		argv: []string{"{file}"}, input: "stdin",
		schema: `jsonencode({
    type = "object"
    properties = { file = { type = "string" }, text = { type = "string" } }
    required = ["file"]
  })`}
}

func guestTool(t testing.TB, name string, argv ...string) manifest {
	return manifest{name: name, module: guestWasm, digest: digestOf(t, guestWasm), argv: argv}
}

func askTool(t testing.TB) manifest {
	return manifest{name: "ask", module: askerWasm, digest: digestOf(t, askerWasm)}
}

// workDir makes the folder mounted at /work: a file with a match, and a
// .git folder the default policy protects.
func workDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("alpha\nTODO: beta\ngamma\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// env is a server over a folder of manifests and a work folder.
type env struct {
	srv   *mcp.Server
	tools string // the manifests folder
	work  string // mounted at /work
}

// newEnv starts a server over ms. change, if set, adjusts the options.
func newEnv(t testing.TB, change func(*mcp.Options), ms ...manifest) *env {
	t.Helper()
	e := &env{tools: t.TempDir(), work: workDir(t)}
	writeManifests(t, e.tools, ms...)
	pol := policy.Default(e.work)
	pol.Limits.Timeout = 20 * time.Second
	opts := mcp.Options{
		ToolsDir:     e.tools,
		Engine:       engine,
		Policy:       pol,
		PollInterval: -1,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	if change != nil {
		change(&opts)
	}
	srv, err := mcp.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv
	return e
}

// Transports the end-to-end tests run over.
const (
	inMemory = "in-memory"
	overHTTP = "http"
)

// connect connects a client to the server over kind.
func (e *env) connect(t testing.TB, kind string, copts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	ctx := context.Background()
	c := sdk.NewClient(&sdk.Implementation{Name: "airlock-test", Version: "v0"}, copts)
	var tr sdk.Transport
	switch kind {
	case inMemory:
		ct, st := sdk.NewInMemoryTransports()
		ss, err := e.srv.SDK().Connect(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ss.Close() })
		tr = ct
	case overHTTP:
		h, err := e.srv.Handler(mcp.HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(h)
		t.Cleanup(hs.Close)
		tr = &sdk.StreamableClientTransport{Endpoint: hs.URL + mcp.HTTPPath}
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connecting over %s: %v", kind, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// testWriter sends the server's log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// texts joins the text contents of a result.
func texts(r *sdk.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// deadline returns parent ended a little before the test binary's own
// deadline (go test -timeout): a call that hangs fails its test with a
// message, not the whole binary with a panic, however slow the machine
// (-race, two cores shared) makes the calls that do finish. Without a
// -timeout there is no deadline.
func deadline(t testing.TB, parent context.Context) (context.Context, context.CancelFunc) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if end, ok := d.Deadline(); ok {
			return context.WithDeadline(parent, end.Add(-time.Until(end)/10))
		}
	}
	return context.WithCancel(parent)
}

// expiry is closed a little before the test binary's deadline (see
// deadline): what a test waits for that must happen is waited for until
// then, not for a fixed time.
func expiry(t testing.TB) <-chan struct{} {
	ctx, cancel := deadline(t, context.Background())
	t.Cleanup(cancel)
	return ctx.Done()
}

// call calls a tool and fails the test on a protocol error. The call is
// not cancelled with the test's context, so that it may be made in a
// cleanup.
func call(t testing.TB, cs *sdk.ClientSession, name string, args map[string]any) *sdk.CallToolResult {
	t.Helper()
	ctx, cancel := deadline(t, context.Background())
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	return res
}

// binary builds cmd/airlock once, for the tests that run it.
var binary = sync.OnceValues(func() (string, error) {
	return wasmbuild.Binary("../cmd/airlock", buildDir, "airlock")
})

func airlockBinary(t testing.TB) string {
	t.Helper()
	p, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// slogTo is a logger writing text to b (not safe for concurrent tests of
// b; each test has its own).
func slogTo(b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: b}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
