package mcp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/tmpfstest"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// logBuf is a server log the test reads while the server writes it.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// resources is what the server holds: goroutines, open file descriptors
// (/proc/self/fd) and live heap after a collection. A compiled module
// holds one descriptor of its own, its memory image (runtime's
// dataimage_linux.go), for as long as the engine lives; those are counted
// apart, as images.
type resources struct {
	goroutines, fds, images int
	heap                    uint64
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, %d fds (and %d memory images), heap %.1f MiB", r.goroutines, r.fds, r.images, float64(r.heap)/(1<<20))
}

func measure(t testing.TB) resources {
	t.Helper()
	goruntime.GC()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	r := resources{goroutines: goruntime.NumGoroutine(), heap: ms.HeapAlloc}
	for _, f := range fds {
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", f.Name())); strings.HasPrefix(l, "/memfd:airlock-memory-image") {
			r.images++
		} else {
			r.fds++
		}
	}
	return r
}

// heapSlack is how far the live heap may stay above its baseline: a few
// buffers the runtime and the SDK keep for reuse. A leak of what a fault
// handled (256 MiB of stderr, a session's buffers per call) is far above.
const heapSlack = 16 << 20

// settles waits until the server is back at base: no more goroutines and
// open files than before the fault, and the heap within heapSlack.
func settles(t *testing.T, after string, base resources) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := measure(t)
		if now.goroutines <= base.goroutines && now.fds <= base.fds && now.heap <= base.heap+heapSlack {
			t.Logf("after %s: %s (baseline %s)", after, now, base)
			return
		}
		if time.Now().After(deadline) {
			var dump strings.Builder
			pprof.Lookup("goroutine").WriteTo(&dump, 1)
			fds, _ := os.ReadDir("/proc/self/fd")
			var links []string
			for _, f := range fds {
				l, _ := os.Readlink(filepath.Join("/proc/self/fd", f.Name()))
				links = append(links, l)
			}
			t.Fatalf("after %s the server holds %s, baseline %s\nfds: %v\n%s", after, now, base, links, dump.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServesThroughFaults injects faults into a serving server, from
// outside, one after the other: a manifest made malformed, then removed;
// the whole tools folder removed and put back; the compile cache's folder
// deleted; a guest flooding stderr; clients that send a call and vanish,
// over stdio pipes and over HTTP. After each, the other tools keep
// working, each problem is reported once, and goroutines, file descriptors
// and heap return to their baseline. It does not run in parallel with
// other tests: it counts the process's goroutines and files.
func TestServesThroughFaults(t *testing.T) {
	ctx := t.Context()
	cache := t.TempDir()
	// An engine of its own: its compile cache is deleted below.
	eng, err := runtime.New(ctx, runtime.Config{CacheDir: cache, HostFuncs: []host.Func{askFunc}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	tools, work := t.TempDir(), workDir(t)
	victim := guestTool(t, "victim", "json", "victim")
	writeManifests(t, tools, guestTool(t, "json", "json"), guestTool(t, "flood", "flood", "268435456"),
		guestTool(t, "spin", "spin"), victim)
	pol := policy.Default(work)
	pol.Limits.Timeout = 60 * time.Second
	log := &logBuf{}
	srv, err := mcp.New(ctx, mcp.Options{ToolsDir: tools, Engine: eng, Policy: pol, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go srv.Watch(wctx)
	if err := srv.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, tools: tools, work: work}
	cs := e.connect(t, inMemory, nil)
	works := func(t *testing.T, after string) {
		t.Helper()
		if res := call(t, cs, "json", map[string]any{}); res.IsError || !strings.Contains(texts(res), `"ok":true`) {
			t.Fatalf("after %s, json: %s", after, texts(res))
		}
	}
	listed := func(t *testing.T, name string, want bool) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%s listed = %v", name, want), func() bool { return slices.Contains(srv.Tools(), name) == want })
	}
	reportedOnce := func(t *testing.T, what, line string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // fifteen polls
		if n := strings.Count(log.String(), line); n != 1 {
			t.Errorf("%s was reported %d times, want once; log:\n%s", what, n, log.String())
		}
	}
	works(t, "start")
	call(t, cs, "victim", map[string]any{})
	// Measured in a subtest, as each fault is: a subtest has a goroutine
	// of its own.
	var base resources
	t.Run("baseline", func(t *testing.T) { base = measure(t) })
	t.Logf("baseline: %s", base)

	t.Run("malformed manifest", func(t *testing.T) {
		victimFile := filepath.Join(tools, "victim.tool.hcl")
		os.WriteFile(victimFile, []byte(`tool "victim" {`+"\n  module = \n"), 0o644)
		listed(t, "victim", false)
		works(t, "a malformed manifest")
		// Another change reloads the folder: the problem is not news.
		writeManifests(t, tools, guestTool(t, "json", "json"))
		works(t, "a reload")
		reportedOnce(t, "the malformed manifest", "victim.tool.hcl:2:")
		writeManifests(t, tools, victim)
		listed(t, "victim", true)
		settles(t, "a malformed manifest", base)
	})

	t.Run("manifest removed", func(t *testing.T) {
		os.Remove(filepath.Join(tools, "victim.tool.hcl"))
		listed(t, "victim", false)
		works(t, "a manifest removed")
		if slices.Contains(toolNames(t, cs), "victim") {
			t.Error("the client still sees the removed tool")
		}
		writeManifests(t, tools, victim)
		listed(t, "victim", true)
		settles(t, "a manifest removed", base)
	})

	t.Run("tools folder removed", func(t *testing.T) {
		if err := os.RemoveAll(tools); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every tool to be withdrawn", func() bool { return len(srv.Tools()) == 0 })
		reportedOnce(t, "the missing folder", "the tools folder cannot be read")
		if res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "json"}); err == nil && !res.IsError {
			t.Errorf("a withdrawn tool ran: %s", texts(res))
		}
		os.Mkdir(tools, 0o755)
		writeManifests(t, tools, guestTool(t, "json", "json"), guestTool(t, "flood", "flood", "268435456"),
			guestTool(t, "spin", "spin"), victim)
		listed(t, "json", true)
		if err := srv.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		works(t, "the folder came back")
		if p := srv.Problems(); len(p) != 0 {
			t.Errorf("problems after the folder came back: %q", p)
		}
		settles(t, "the tools folder removed", base)
	})

	t.Run("cache folder deleted", func(t *testing.T) {
		if err := os.RemoveAll(cache); err != nil {
			t.Fatal(err)
		}
		works(t, "the cache deleted") // compiled in memory
		// A tool whose module was never compiled must compile now.
		writeManifests(t, tools, grepTool(t))
		waitFor(t, "grep to be listed", func() bool { return slices.Contains(srv.Tools(), "grep") })
		if err := srv.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(srv.Tools(), "grep") {
			t.Fatalf("grep was not loaded after the cache folder was deleted: %q", srv.Problems())
		}
		res := call(t, cs, "grep", map[string]any{"pattern": "TODO"})
		if res.IsError || !strings.Contains(texts(res), "TODO: beta") {
			t.Logf("log:\n%s", log.String())
			t.Fatalf("grep after the cache was deleted: %s; problems %q", texts(res), srv.Problems())
		}
		settles(t, "the cache folder deleted", base)
		// The new tool's module stays: the next faults are measured with it.
		base = measure(t)
	})

	t.Run("stderr flood", func(t *testing.T) {
		start := time.Now()
		res := call(t, cs, "flood", map[string]any{})
		if !strings.Contains(texts(res), "flooded") {
			t.Errorf("flood: %.300s", texts(res))
		}
		if m := runMeta(t, res); m == nil || m.Stderr.Bytes != mcp.DefaultMaxOutput || !m.Stderr.Truncated {
			t.Errorf("flood: the run's stderr was %+v, want it cut at %d bytes", m, mcp.DefaultMaxOutput)
		}
		t.Logf("a tool writing 256 MiB to stderr took %v", time.Since(start).Round(time.Millisecond))
		works(t, "a stderr flood")
		settles(t, "a stderr flood", base)
	})

	// vanish starts the spin tool on cs and, once it runs, calls hangUp:
	// the client goes away without cancelling; the run must stop. (A tool
	// that spins, not one that sleeps: a guest asleep in poll_oneoff is not
	// woken by a cancellation on wazero's own nanosleep.)
	vanish := func(t *testing.T, cs *sdk.ClientSession, hangUp func()) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "spin"})
			done <- err
		}()
		waitFor(t, "the call to run", func() bool { return srv.Stats().Running == 1 })
		hangUp()
		waitFor(t, "the run to stop", func() bool { return srv.Stats() == mcp.Stats{} })
		select {
		case <-done:
		case <-expiry(t):
			t.Error("the vanished client's call never returned")
		}
	}

	t.Run("client vanishes over stdio", func(t *testing.T) {
		sr, cw, _ := os.Pipe() // client to server
		cr, sw, _ := os.Pipe() // server to client
		served := make(chan error, 1)
		go func() { served <- srv.ServeStdio(ctx, sr, sw) }()
		c := sdk.NewClient(&sdk.Implementation{Name: "vanishing", Version: "v0"}, nil)
		vcs, err := c.Connect(ctx, &sdk.IOTransport{Reader: cr, Writer: cw}, nil)
		if err != nil {
			t.Fatal(err)
		}
		vanish(t, vcs, func() { cw.Close(); cr.Close() })
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("ServeStdio: %v", err)
			}
		case <-expiry(t):
			t.Fatal("the session did not end when its client vanished")
		}
		sr.Close()
		sw.Close()
		vcs.Close()
		works(t, "a client vanished")
		settles(t, "a client vanished over stdio", base)
	})

	t.Run("client vanishes over HTTP", func(t *testing.T) {
		h, err := srv.Handler(mcp.HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(h)
		var mu sync.Mutex
		var conns []net.Conn
		gone := false
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			if gone {
				return nil, fmt.Errorf("the client's host is gone")
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conns = append(conns, c)
			}
			return c, err
		}
		hc := &http.Client{Transport: &http.Transport{DialContext: dial}}
		c := sdk.NewClient(&sdk.Implementation{Name: "vanishing", Version: "v0"}, nil)
		vcs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: hs.URL + mcp.HTTPPath, HTTPClient: hc}, nil)
		if err != nil {
			t.Fatal(err)
		}
		vanish(t, vcs, func() {
			mu.Lock()
			gone = true
			for _, c := range conns {
				c.Close() // the client's host went away: no cancel, no DELETE
			}
			mu.Unlock()
		})
		vcs.Close() // the vanished client's own goroutines live in this process too
		hc.CloseIdleConnections()
		hs.Close()
		works(t, "a client vanished")
		settles(t, "a client vanished over HTTP", base)
	})
}

// TestStdioClientClosesStdout runs the airlock binary as an MCP server
// over stdio and closes the pipe it answers on while a call runs: the
// answer meets a closed pipe (EPIPE, SIGPIPE). The server must not die of
// the signal nor report an error: the client has hung up, and the server
// ends cleanly, with status 0 (calls stopped, the audit log closed).
func TestStdioClientClosesStdout(t *testing.T) {
	t.Parallel()
	b := newBinEnv(t, guestTool(t, "sleep", "sleep", "500"))
	cmd := b.command(t)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// The client speaks JSON-RPC by hand: an SDK client whose reading end
	// fails closes its writing end as well, and the server would then see
	// EOF before it has anything to write.
	io.WriteString(stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`+"\n")
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.Contains(line, `"id":1`) {
		t.Fatalf("initialize: %q %v", line, err)
	}
	io.WriteString(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	io.WriteString(stdin, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{}}}`+"\n")
	stdout.Close() // the answer, in 500ms, meets a closed pipe
	select {
	case <-exited:
	case <-expiry(t):
		t.Fatal("the server did not end after its client stopped reading")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d (%v), want 0", code, cmd.ProcessState)
	}
	stdin.Close()
}

// TestAuditFullDiskStopsTheCall: with the audit log on a full filesystem
// (a 64 KiB tmpfs, filled), a decision the headless rule would allow is
// denied because it cannot be recorded, the call ends as a tool error
// saying why, the log holds no torn line, and the server goes on serving.
func TestAuditFullDiskStopsTheCall(t *testing.T) {
	dir := tmpfstest.Mount(t, 64<<10)
	path := filepath.Join(dir, "audit.jsonl")
	audit, err := approvals.OpenAudit(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	tmpfstest.Fill(t, dir)
	e := newEnv(t, func(o *mcp.Options) {
		o.Approvals = approvals.Config{Audit: audit, Headless: policy.Allow}
	}, askTool(t), guestTool(t, "json", "json"))
	cs := e.connect(t, inMemory, nil)
	res := call(t, cs, "ask", nil)
	if !res.IsError || strings.Contains(texts(res), "allowed") || !strings.Contains(texts(res), "could not be recorded") ||
		!strings.Contains(texts(res), "no space left on device") {
		t.Errorf("ask on a full disk: %s", texts(res))
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("the audit log holds %q", b)
	}
	if res := call(t, cs, "json", nil); res.IsError {
		t.Errorf("the server stopped serving: %s", texts(res))
	}
	// "continue" lets the decision stand.
	e2 := newEnv(t, func(o *mcp.Options) {
		o.Approvals = approvals.Config{Audit: audit, Headless: policy.Allow, AuditFailure: policy.AuditContinue}
	}, askTool(t))
	if res := call(t, e2.connect(t, inMemory, nil), "ask", nil); res.IsError || !strings.Contains(texts(res), "allowed") {
		t.Errorf("continue: %s", texts(res))
	}
}
