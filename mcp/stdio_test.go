package mcp_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/telemetry"
	"github.com/airlockhq/airlock/telemetry/traceview"
)

// binEnv is a folder set up for `airlock mcp` as a subprocess: manifests,
// a work folder, and a policy that mounts it, writes telemetry to a file
// and the audit log beside it.
type binEnv struct {
	tools, work, policy, trace, audit string
}

func newBinEnv(t *testing.T, ms ...manifest) *binEnv {
	t.Helper()
	dir := t.TempDir()
	b := &binEnv{tools: filepath.Join(dir, "tools"), work: workDir(t), policy: filepath.Join(dir, "policy.hcl"),
		trace: filepath.Join(dir, "trace.jsonl"), audit: filepath.Join(dir, "audit.jsonl")}
	if err := os.Mkdir(b.tools, 0o755); err != nil {
		t.Fatal(err)
	}
	writeManifests(t, b.tools, ms...)
	pol := fmt.Sprintf(`mount "/work" {
  host   = %q
  access = "write"
}

limits {
  timeout = "20s"
}

approvals {
  audit = %q
}

telemetry {
  exporter = "file"
  file     = %q
}
`, b.work, b.audit, b.trace)
	if err := os.WriteFile(b.policy, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// command is `airlock mcp` over the folder, run in the work folder.
func (b *binEnv) command(t *testing.T, extra ...string) *exec.Cmd {
	cmd := exec.Command(airlockBinary(t), append([]string{"mcp", "--tools", b.tools, "--policy", b.policy, "--headless"}, extra...)...)
	cmd.Dir = b.work
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+compileCache())
	cmd.Stderr = testWriter{t}
	return cmd
}

// TestStdio runs the airlock binary as an MCP server over stdio and drives
// it with the SDK's client: list, an allowed call, a denied one, a schema
// failure, a digest mismatch, cancellation, the client's trace context in
// telemetry, and a clean exit when the client hangs up mid-call.
func TestStdio(t *testing.T) {
	t.Parallel()
	bad := guestTool(t, "pinned", "json")
	bad.digest = "sha256:" + strings.Repeat("0", 64)
	b := newBinEnv(t, grepTool(t), writeTool(t), guestTool(t, "spin", "spin"), bad)
	// The pipes are the test's own (not sdk.CommandTransport), so that it
	// can hang up the way a client that dies does: the SDK client's Close
	// waits for the calls in flight to finish first.
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
	defer func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	client := sdk.NewClient(&sdk.Implementation{Name: "airlock-test", Version: "v0"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.IOTransport{Reader: stdout, Writer: stdin}, nil)
	if err != nil {
		t.Fatal(err)
	}

	if got := toolNames(t, cs); strings.Join(got, ",") != "grep,pinned,spin,write" {
		t.Errorf("tools = %v", got)
	}

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "grep", Arguments: map[string]any{"pattern": "TODO"},
		Meta: sdk.Meta{"traceparent": "00-" + traceID + "-" + parentID + "-01"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || !strings.Contains(texts(res), "notes.txt:2:TODO: beta") {
		t.Errorf("grep: %s", texts(res))
	}

	res = call(t, cs, "write", map[string]any{"file": "/work/.git/config"})
	if !res.IsError || !strings.Contains(texts(res), "airlock: denied fs.write") {
		t.Errorf("write into .git: %s", texts(res))
	}

	res = call(t, cs, "grep", map[string]any{})
	if !res.IsError || !strings.Contains(texts(res), "pattern") || runMeta(t, res) != nil {
		t.Errorf("grep without a pattern: %s", texts(res))
	}

	res = call(t, cs, "pinned", nil)
	if !res.IsError || !strings.Contains(texts(res), "refusing to run pinned") {
		t.Errorf("digest mismatch: %s", texts(res))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "spin"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled spin: %v", err)
	}
	// The server is still there and serves the next call at once.
	res = call(t, cs, "grep", map[string]any{"pattern": "gamma"})
	if res.IsError || !strings.Contains(texts(res), "gamma") {
		t.Errorf("grep after a cancellation: %s", texts(res))
	}

	// Hang up in the middle of a call: the server stops the tool and exits
	// cleanly, at once.
	go cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "spin"})
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	stdin.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("airlock mcp exited with %v after the client hung up", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("airlock mcp took %s to exit after the client hung up", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("airlock mcp still runs 15s after the client hung up")
	}
	exited <- nil // for the deferred clean-up

	// Telemetry: each MCP request has a span under the client's span and a
	// log record in it, and the tool run's span is the request span's child.
	lines := readTrace(t, b.trace)
	var requestSpan string
	for _, l := range lines {
		if l.Signal == "span" && l.Name == telemetry.SpanMCPRequest && l.TraceID == traceID && l.ParentSpanID == parentID &&
			l.Attributes[telemetry.AttrMCPTool] == "grep" {
			requestSpan = l.SpanID
		}
	}
	var sawRecord, sawRun bool
	for _, l := range lines {
		if l.Signal == "log" && l.Event == telemetry.EventMCPRequest && l.Attributes[telemetry.AttrMCPTool] == "grep" &&
			l.TraceID == traceID && l.SpanID == requestSpan {
			sawRecord = true
		}
		if l.Signal == "span" && l.Name == telemetry.SpanRun && l.TraceID == traceID && l.ParentSpanID == requestSpan {
			sawRun = true
		}
	}
	if requestSpan == "" || !sawRecord || !sawRun {
		t.Errorf("trace file: MCP request span under the client's span %q, its log record %v, run span under it %v", requestSpan, sawRecord, sawRun)
	}
	audit, _ := os.ReadFile(b.audit)
	if !strings.Contains(string(audit), `"target":"/work/.git/`) || !strings.Contains(string(audit), `"decision":"deny"`) {
		t.Errorf("the audit log does not record the denied write:\n%s", audit)
	}
}

func readTrace(t *testing.T, path string) []telemetry.Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("reading the trace: %v", err)
	}
	defer f.Close()
	lines, _, err := traceview.ReadLines(f)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestSampleTools serves the repository's sample tools (tools/*/tool.hcl,
// Go source built when the server starts) and calls each through the
// manifest's argv template.
func TestSampleTools(t *testing.T) {
	t.Parallel()
	b := newBinEnv(t)
	cmd := exec.Command(airlockBinary(t), "mcp", "--tools", "../tools", "--policy", b.policy, "--headless")
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+compileCache())
	cmd.Stderr = testWriter{t}
	client := sdk.NewClient(&sdk.Implementation{Name: "airlock-test", Version: "v0"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	names := strings.Join(toolNames(t, cs), ",")
	for _, want := range []string{"cat", "grep", "ls", "wc", "write", "patch"} {
		if !strings.Contains(","+names+",", ","+want+",") {
			t.Errorf("tools = %s, want %s among them", names, want)
		}
	}
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"grep", map[string]any{"pattern": "todo", "ignore_case": true, "paths": []any{"/work"}}, "/work/notes.txt:2:TODO: beta"},
		{"ls", map[string]any{"paths": []any{"/work"}, "long": true}, "notes.txt"},
		{"cat", map[string]any{"files": []any{"/work/notes.txt"}, "number": true}, "     2\tTODO: beta"},
		{"wc", map[string]any{"files": []any{"/work/notes.txt"}, "lines": true}, "3 /work/notes.txt"},
		// write and patch take their text on stdin (input = "stdin:FIELD").
		{"write", map[string]any{"path": "/work/sub/new.txt", "content": "made by write\n", "mkdir": true}, "wrote 14 bytes to /work/sub/new.txt"},
		{"patch", map[string]any{"path": "/work/notes.txt", "edit": "<<<<<<< SEARCH\nTODO: beta\n=======\nDONE: beta\n>>>>>>> REPLACE\n"}, "patched /work/notes.txt"},
	} {
		res := call(t, cs, tc.tool, tc.args)
		if res.IsError || !strings.Contains(texts(res), tc.want) {
			t.Errorf("%s %v: isError=%v %q, want %q", tc.tool, tc.args, res.IsError, texts(res), tc.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(b.work, "sub/new.txt")); err != nil || string(b) != "made by write\n" {
		t.Errorf("write left %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(b.work, "notes.txt")); err != nil || !strings.Contains(string(b), "DONE: beta") {
		t.Errorf("patch left %q, %v", b, err)
	}
	// A write into .git through the manifest is refused like any other.
	res := call(t, cs, "write", map[string]any{"path": "/work/.git/config", "content": "x"})
	if !res.IsError || !strings.Contains(texts(res), "ermission denied") {
		t.Errorf("write into .git: isError=%v %q", res.IsError, texts(res))
	}
	if _, err := os.Stat(filepath.Join(b.work, ".git/config")); err == nil {
		t.Error("write through MCP created .git/config")
	}
}
