package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/otelcoltest"
	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/telemetry"
	"github.com/airlockhq/airlock/telemetry/traceview"
)

// The end-to-end tests run the airlock CLI as a subprocess, the way CI
// does, against a real OpenTelemetry Collector (internal/otelcoltest).

var airlockBinary = sync.OnceValues(func() (string, error) {
	return wasmbuild.Binary("../cmd/airlock", tmpDir, "airlock")
})

type cliResult struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// cliEnv is the test process's environment without any telemetry setting,
// plus a compile cache shared by every CLI run of the test binary.
func cliEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "TRACEPARENT=") || strings.HasPrefix(kv, "TRACESTATE=") ||
			strings.HasPrefix(kv, "AIRLOCK_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AIRLOCK_CACHE_DIR="+filepath.Join(tmpDir, "cache"))
	return append(env, extra...)
}

func airlockCmd(t *testing.T, dir string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := airlockBinary()
	if err != nil {
		t.Fatalf("building cmd/airlock: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = cliEnv(env...)
	return cmd
}

func runCLI(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := airlockCmd(t, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running airlock: %v", err)
	}
	return r
}

// workDir is a project directory with a .git folder (protected by default).
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

const (
	parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan  = "00f067aa0ba902b7"
)

func TestCollectorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and runs a collector")
	}
	for _, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			c := otelcoltest.Start(context.Background(), t)
			env := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + c.HTTPEndpoint()}
			if proto == "grpc" {
				env = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + c.GRPCEndpoint(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}
			}
			env = append(env, "TRACEPARENT=00-"+parentTrace+"-"+parentSpan+"-01", "OTEL_SERVICE_NAME=airlock-e2e")
			r := runCLI(t, workDir(t), env, "run", guestPath, "--", "fs")
			if r.code != 0 || r.stdout != "read 17 bytes\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "telemetry") {
				t.Fatalf("telemetry complained: %s", r.stderr)
			}

			// The CLI flushed before exiting; the collector may still be
			// writing its files.
			var calls map[string]float64
			var runs float64
			deadline := time.Now().Add(10 * time.Second)
			for calls == nil || runs == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("metrics: host calls %v, runs %v", calls, runs)
				}
				for _, m := range c.WaitForMetrics(t, 1, 10*time.Second) {
					switch m.Name {
					case telemetry.MetricHostCalls:
						calls = map[string]float64{}
						for _, p := range m.Points {
							calls[fmt.Sprint(p.Attributes[telemetry.AttrHostFunction])] += p.Value
						}
					case telemetry.MetricRuns:
						runs = m.Points[0].Value
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			total := 0
			for _, n := range calls {
				total += int(n)
			}
			spans := c.WaitForSpans(t, total+1, 10*time.Second)
			logs := c.WaitForLogs(t, 3, 10*time.Second)

			// One run span, child of TRACEPARENT; every host call a child of it.
			var run otelcoltest.Span
			got := map[string]float64{}
			for _, s := range spans {
				if s.TraceID != parentTrace {
					t.Errorf("span %s in trace %s, want %s", s.Name, s.TraceID, parentTrace)
				}
				if s.Resource["service.name"] != "airlock-e2e" {
					t.Errorf("service.name = %v", s.Resource["service.name"])
				}
				if s.Name == telemetry.SpanRun {
					run = s
				} else {
					got[s.Name]++
				}
			}
			if run.SpanID == "" || run.ParentSpanID != parentSpan {
				t.Fatalf("run span %+v, want a child of %s", run, parentSpan)
			}
			if fmt.Sprint(got) != fmt.Sprint(calls) {
				t.Errorf("spans by function:\n got %v\nwant %v (airlock.host.calls)", got, calls)
			}
			var denied, wrote bool
			for _, s := range spans {
				if s.Name != telemetry.SpanRun && s.ParentSpanID != run.SpanID {
					t.Errorf("%s is not a child of the run span", s.Name)
				}
				a := s.Attributes
				if s.Name == "path_open" && a[telemetry.AttrPath] == ".git/x" {
					denied = a[telemetry.AttrDecision] == "deny" && a[telemetry.AttrDecisionSource] == "rule" && a[telemetry.AttrErrno] != "ESUCCESS"
				}
				if s.Name == "fd_write" && a[telemetry.AttrBytes] == int64(17) && a[telemetry.AttrFD] != int64(1) {
					wrote = true
				}
			}
			if !denied || !wrote {
				t.Errorf("missing spans: denied path_open %v, 17-byte fd_write %v", denied, wrote)
			}

			// Each decision is a log record, on its host call's span.
			events := map[string]int{}
			for _, l := range logs {
				events[l.EventName]++
				if l.TraceID != parentTrace {
					t.Errorf("record %s in trace %s", l.EventName, l.TraceID)
				}
				if l.EventName == telemetry.EventDecision {
					if l.Attributes[telemetry.AttrDecisionSource] != "rule" || l.Attributes[telemetry.AttrDecisionTarget] != "/work/.git/x" {
						t.Errorf("decision record: %v", l.Attributes)
					}
					var span otelcoltest.Span
					for _, s := range spans {
						if s.SpanID == l.SpanID {
							span = s
						}
					}
					if span.Name != "path_open" {
						t.Errorf("the decision record is on span %q, want the path_open", span.Name)
					}
				}
			}
			if events[telemetry.EventDecision] != 1 || events[telemetry.EventRunStart] != 1 || events[telemetry.EventRunResult] != 1 {
				t.Errorf("records by event: %v", events)
			}

			// `airlock trace show` reads the collector's own files.
			if proto == "http" {
				c.Stop()
				var all bytes.Buffer
				for _, f := range []string{"traces.jsonl", "logs.jsonl", "metrics.jsonl"} {
					b, err := os.ReadFile(filepath.Join(c.Dir(), f))
					if err != nil {
						t.Fatal(err)
					}
					all.Write(b)
				}
				var out bytes.Buffer
				if err := traceview.ShowTrace(&out, &all, traceview.TreeOptions{}); err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"airlock.run guest", "trace " + parentTrace, `path_open  ".git/x"`, "✗ denied fs.write open /work/.git/x"} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("trace show of the collector's files lacks %q:\n%s", want, out.String())
					}
				}
			}
		})
	}
}

// A collector that is down or stuck changes nothing about the tool's run,
// costs at most the flush bound at exit, and is reported in one line.
func TestCollectorFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	runCLI(t, workDir(t), nil, "run", guestPath, "--", "exit", "3") // compiles the guest into the cache
	base := runCLI(t, workDir(t), nil, "run", guestPath, "--", "exit", "3")
	if base.code != 3 || base.stdout != "exiting\n" {
		t.Fatalf("without telemetry: exit %d, stdout %q, stderr %q", base.code, base.stdout, base.stderr)
	}

	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	// stuck accepts connections and never answers.
	stuck := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
		return l.Addr().String()
	}

	const flush = time.Second
	for _, c := range []struct {
		name, addr, proto string
	}{
		{"refused-http", closed(), "http/protobuf"},
		{"refused-grpc", closed(), "grpc"},
		{"stuck-http", stuck(), "http/protobuf"},
		{"stuck-grpc", stuck(), "grpc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, workDir(t), []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + c.addr, "OTEL_EXPORTER_OTLP_PROTOCOL=" + c.proto},
				"run", guestPath, "--otel-flush-timeout", flush.String(), "--", "exit", "3")
			if r.code != base.code || r.stdout != base.stdout {
				t.Errorf("exit %d, stdout %q; without telemetry exit %d, stdout %q", r.code, r.stdout, base.code, base.stdout)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if strings.Contains(l, "telemetry") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "airlock: telemetry: exporting to http://"+c.addr+": ") {
				t.Errorf("telemetry error lines %q, want exactly one naming the endpoint (stderr %q)", lines, r.stderr)
			}
			if limit := base.elapsed + flush + 2500*time.Millisecond; r.elapsed > limit {
				t.Errorf("took %v, more than %v (the run without telemetry %v + flush bound %v + slack)", r.elapsed, limit, base.elapsed, flush)
			}
			t.Logf("%s: %v (without telemetry %v): %s", c.name, r.elapsed.Round(time.Millisecond), base.elapsed.Round(time.Millisecond), lines)
		})
	}
}

// Spans and log records are flushed whatever way the run ends: the tool
// fails, the timeout stops it, or airlock gets SIGINT.
func TestFlushedOnEveryEnding(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	for _, c := range []struct {
		name   string
		flags  []string
		args   []string
		sigint bool
		code   int
		reason string
	}{
		{name: "failure", args: []string{"exit", "7"}, code: 7, reason: "exited"},
		{name: "timeout", flags: []string{"--timeout", "300ms"}, args: []string{"spin"}, code: 124, reason: "timeout"},
		{name: "sigint", args: []string{"spin"}, sigint: true, code: 130, reason: "canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "trace.jsonl")
			args := append(append([]string{"run", guestPath, "--otel-file", file}, c.flags...), "--")
			args = append(args, c.args...)
			cmd := airlockCmd(t, workDir(t), nil, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(stdout).ReadString('\n')
			if c.sigint {
				if first != "spinning\n" {
					t.Fatalf("guest said %q", first)
				}
				cmd.Process.Signal(os.Interrupt)
			}
			io.Copy(io.Discard, stdout)
			err = cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, stderr.String())
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			lines, skipped, err := traceview.ReadLines(f)
			if err != nil || skipped != 0 {
				t.Fatalf("reading the trace: %v (%d lines skipped)", err, skipped)
			}
			var runSpan, result bool
			calls := 0
			for _, l := range lines {
				switch {
				case l.Signal == "span" && l.Name == telemetry.SpanRun:
					runSpan = l.Attributes[telemetry.AttrExitReason] == c.reason
				case l.Signal == "span":
					calls++
				case l.Signal == "log" && l.Event == telemetry.EventRunResult:
					result = l.Attributes[telemetry.AttrExitReason] == c.reason
				}
			}
			if !runSpan || !result || calls == 0 {
				t.Errorf("run span with reason %s: %v; run result record: %v; %d host call spans", c.reason, runSpan, result, calls)
			}
		})
	}
}

// `airlock trace show` on the file of a real run: the run, its calls
// condensed, the denial under the call that caused it. The stdout exporter
// writes the same lines among the tool's output, and trace show skips the
// tool's lines.
func TestTraceShowOfARealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	dir := workDir(t)
	file := filepath.Join(dir, "trace.jsonl")
	if r := runCLI(t, dir, nil, "run", guestPath, "--otel-file", file, "--otel-include-args", "--", "fs"); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	show := runCLI(t, dir, nil, "trace", "show", file)
	if show.code != 0 {
		t.Fatalf("trace show: exit %d: %s", show.code, show.stderr)
	}
	out := show.stdout
	for _, want := range []string{
		`airlock.run guest sha256:`, `exit 0`, `1 denied`, `args "fs"`,
		`path_open  "out.txt"  fd 3 → fd 4`,
		`fd_write  fd 4  17 bytes`,
		`path_filestat_get  "missing.txt"  fd 3  ENOENT`,
		`path_open  ".git/x"  fd 3  EACCES`,
		`└─ ✗ denied fs.write open /work/.git/x: protect ".git" (rule, builtin)`,
		` ×`, `total)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace show lacks %q:\n%s", want, out)
		}
	}
	all := runCLI(t, dir, nil, "trace", "show", "--all", file)
	if strings.Contains(all.stdout, " ×") || strings.Count(all.stdout, "\n") <= strings.Count(out, "\n") {
		t.Errorf("--all still condenses:\n%s", all.stdout)
	}

	// The stdout exporter, piped into trace show.
	r := runCLI(t, dir, nil, "run", guestPath, "--otel", "stdout", "--", "fs")
	if r.code != 0 || !strings.Contains(r.stdout, "read 17 bytes\n") || !strings.Contains(r.stdout, `"signal":"span"`) {
		t.Fatalf("--otel stdout: exit %d, stdout %q", r.code, r.stdout)
	}
	var shown bytes.Buffer
	if err := traceview.ShowTrace(&shown, strings.NewReader(r.stdout), traceview.TreeOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown.String(), "✗ denied fs.write open /work/.git/x") {
		t.Errorf("trace show of --otel stdout:\n%s", shown.String())
	}
}

// The project policy's telemetry block turns telemetry on by itself; its
// file is relative to the policy's directory, and a flag overrides it.
func TestPolicyBlockTurnsTelemetryOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	dir := workDir(t)
	if err := os.Mkdir(filepath.Join(dir, ".airlock"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Relative paths in .airlock/policy.hcl are relative to the project
	// (policy.BaseDir), also when the file is named with --policy.
	pol := "mount \"/work\" {\n  host   = \".\"\n  access = \"write\"\n}\n\ntelemetry {\n  exporter = \"file\"\n  file     = \".airlock/t.jsonl\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, ".airlock", "policy.hcl"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, nil, "run", guestPath, "--policy", filepath.Join(dir, ".airlock", "policy.hcl"), "--", "exit", "0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".airlock", "t.jsonl"))
	if err != nil || !strings.Contains(string(b), `"name":"airlock.run"`) {
		t.Fatalf("the policy's trace file: %v\n%.300s", err, b)
	}
	r = runCLI(t, dir, nil, "run", guestPath, "--policy", filepath.Join(dir, ".airlock", "policy.hcl"), "--otel", "none", "--", "exit", "0")
	after, _ := os.ReadFile(filepath.Join(dir, ".airlock", "t.jsonl"))
	if r.code != 0 || len(after) != len(b) {
		t.Fatalf("--otel none still wrote the file (exit %d)", r.code)
	}
}
