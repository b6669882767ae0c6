package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero/api"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

var (
	guest     *runtime.Module
	guestPath string // the guest's .wasm file, for the CLI
	tmpDir    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "airlock-telemetry-test")
	if err != nil {
		panic(err)
	}
	tmpDir = dir
	path, err := wasmbuild.Build("testdata/guest", dir, "guest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestPath = path
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	guest = runtime.NewModule("guest", b)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// memLogs is an in-memory log exporter.
type memLogs struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (m *memLogs) Export(_ context.Context, rs []sdklog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.records = append(m.records, r.Clone())
	}
	return nil
}
func (m *memLogs) Shutdown(context.Context) error   { return nil }
func (m *memLogs) ForceFlush(context.Context) error { return nil }

func (m *memLogs) all() []sdklog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdklog.Record(nil), m.records...)
}

func logAttrs(r sdklog.Record) map[string]attribute.Value {
	out := map[string]attribute.Value{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		out[string(kv.Key)] = kv.Value
		return true
	})
	return out
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]attribute.Value {
	out := map[string]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value
	}
	return out
}

// counter is an independent host-side count of host calls: a Wrap inside
// the telemetry wrapper that only counts.
type counter struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (c *counter) wrap(module, name string, fn api.GoModuleFunction) api.GoModuleFunction {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]*atomic.Int64{}
	}
	n := &atomic.Int64{}
	c.n[name] = n
	c.mu.Unlock()
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		n.Add(1)
		fn.Call(ctx, mod, stack)
	})
}

func (c *counter) counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int64{}
	for k, v := range c.n {
		if x := v.Load(); x > 0 {
			out[k] = x
		}
	}
	return out
}

type harness struct {
	p      *telemetry.Provider
	spans  *tracetest.InMemoryExporter
	logs   *memLogs
	reader *sdkmetric.ManualReader
	count  *counter
	eng    *runtime.Engine
}

func newHarness(t *testing.T, cfg telemetry.Config) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewInMemoryExporter(), logs: &memLogs{}, reader: sdkmetric.NewManualReader(), count: &counter{}}
	cfg.SpanExporter, cfg.LogExporter, cfg.MetricReader = h.spans, h.logs, h.reader
	p, err := telemetry.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	eng, err := runtime.New(context.Background(), p.Configure(runtime.Config{CacheDir: filepath.Join(tmpDir, "cache"), Wrap: h.count.wrap}))
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	t.Cleanup(func() { eng.Close(context.Background()) })
	return h
}

// run runs the guest in a fresh work directory that has a .git folder.
func (h *harness) run(t *testing.T, ctx context.Context, args ...string) (*runtime.Result, string) {
	t.Helper()
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	res, err := h.eng.Run(ctx, runtime.Spec{Module: guest, Args: args, Stdout: &stdout, Stderr: &stdout,
		Policy: policy.Default(work), Interrupt: runtime.InterruptInstrument})
	if err != nil {
		t.Fatal(err)
	}
	return res, stdout.String()
}

// shutdown flushes everything to the in-memory exporters (whose own
// Shutdown would forget it) and shuts the provider down at the end of the test.
func (h *harness) shutdown(t *testing.T) {
	t.Helper()
	if err := h.p.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
}

func TestEveryHostCallIsASpanOfTheRun(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	res, out := h.run(t, context.Background(), "fs")
	if res.Reason != runtime.Exited || res.ExitCode != 0 {
		t.Fatalf("guest: %s %d: %s", res.Reason, res.ExitCode, out)
	}
	h.shutdown(t)

	spans := h.spans.GetSpans().Snapshots()
	var run sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == telemetry.SpanRun {
			if run != nil {
				t.Fatal("two run spans")
			}
			run = s
		}
	}
	if run == nil {
		t.Fatalf("no %s span among %d", telemetry.SpanRun, len(spans))
	}
	ra := spanAttrs(run)
	if ra[telemetry.AttrTool].AsString() != "guest" || ra[telemetry.AttrToolDigest].AsString() != guest.Digest ||
		ra[telemetry.AttrExitReason].AsString() != "exited" || ra[telemetry.AttrExitCode].AsInt64() != 0 ||
		ra[telemetry.AttrDenied].AsInt64() != 1 {
		t.Errorf("run span attributes: %v", run.Attributes())
	}
	if _, ok := ra[telemetry.AttrArgs]; ok {
		t.Errorf("arguments recorded without include_args: %v", ra[telemetry.AttrArgs])
	}
	if ra[telemetry.AttrArgsCount].AsInt64() != 1 || ra[telemetry.AttrArgsLength].AsInt64() != 2 {
		t.Errorf("argument lengths: %v", run.Attributes())
	}

	// Every host call the independent counter saw has exactly one span,
	// parented to the run span.
	got := map[string]int64{}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.Name() == telemetry.SpanRun {
			continue
		}
		if s.Parent().SpanID() != run.SpanContext().SpanID() || s.SpanContext().TraceID() != run.SpanContext().TraceID() {
			t.Errorf("span %s is not a child of the run span", s.Name())
		}
		if s.StartTime().Before(run.StartTime()) || s.EndTime().After(run.EndTime()) {
			t.Errorf("span %s [%v, %v] is outside the run [%v, %v]", s.Name(), s.StartTime(), s.EndTime(), run.StartTime(), run.EndTime())
		}
		got[s.Name()]++
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	want := h.count.counts()
	t.Logf("host calls: %v", want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spans by function:\n got %v\nwant %v", got, want)
	}

	// Key arguments and results.
	find := func(name, path string) map[string]attribute.Value {
		t.Helper()
		for _, s := range byName[name] {
			a := spanAttrs(s)
			if a[telemetry.AttrPath].AsString() == path {
				return a
			}
		}
		t.Errorf("no %s span with path %q", name, path)
		return map[string]attribute.Value{}
	}
	open := find("path_open", "out.txt")
	if open[telemetry.AttrErrno].AsString() != "ESUCCESS" || open[telemetry.AttrFD].AsInt64() != 3 || open[telemetry.AttrOpenedFD].AsInt64() < 4 {
		t.Errorf("path_open out.txt: %v", open)
	}
	stat := find("path_filestat_get", "missing.txt")
	if stat[telemetry.AttrErrno].AsString() != "ENOENT" {
		t.Errorf("path_filestat_get missing.txt: %v", stat)
	}
	denied := find("path_open", ".git/x")
	if denied[telemetry.AttrErrno].AsString() == "ESUCCESS" || denied[telemetry.AttrDecision].AsString() != "deny" ||
		denied[telemetry.AttrDecisionSource].AsString() != "rule" || denied[telemetry.AttrDecisionKind].AsString() != "fs.write" ||
		denied[telemetry.AttrDecisionRule].AsString() == "" {
		t.Errorf("path_open .git/x: %v", denied)
	}
	var wrote17, exit0 bool
	for _, s := range byName["fd_write"] {
		a := spanAttrs(s)
		if a[telemetry.AttrBytes].AsInt64() == int64(len("hello, telemetry\n")) && a[telemetry.AttrErrno].AsString() == "ESUCCESS" {
			wrote17 = true
		}
	}
	for _, s := range byName["proc_exit"] {
		if a := spanAttrs(s); a[telemetry.AttrExitCode].Type() == attribute.INT64 && a[telemetry.AttrExitCode].AsInt64() == 0 {
			exit0 = true
		}
	}
	if !wrote17 {
		t.Error("no fd_write span of 17 bytes")
	}
	if !exit0 && len(byName["proc_exit"]) > 0 {
		t.Error("proc_exit span without its exit code")
	}

	// The decision is a log record, in the trace, on the host call's span.
	var decisions, starts, results []sdklog.Record
	for _, r := range h.logs.all() {
		switch r.EventName() {
		case telemetry.EventDecision:
			decisions = append(decisions, r)
		case telemetry.EventRunStart:
			starts = append(starts, r)
		case telemetry.EventRunResult:
			results = append(results, r)
		}
	}
	if len(decisions) != 1 || len(starts) != 1 || len(results) != 1 {
		t.Fatalf("log records: %d decisions, %d starts, %d results", len(decisions), len(starts), len(results))
	}
	d := decisions[0]
	da := logAttrs(d)
	if da[telemetry.AttrDecision].AsString() != "deny" || da[telemetry.AttrDecisionSource].AsString() != "rule" ||
		da[telemetry.AttrDecisionTarget].AsString() != "/work/.git/x" || da[telemetry.AttrDecisionOrigin].AsString() == "" ||
		da[telemetry.AttrDecisionKind].AsString() != "fs.write" {
		t.Errorf("decision record attributes: %v", da)
	}
	if d.TraceID() != run.SpanContext().TraceID() {
		t.Error("the decision record is not in the run's trace")
	}
	var deniedSpan trace.SpanID
	for _, s := range byName["path_open"] {
		if spanAttrs(s)[telemetry.AttrPath].AsString() == ".git/x" {
			deniedSpan = s.SpanContext().SpanID()
		}
	}
	if d.SpanID() != deniedSpan {
		t.Errorf("the decision record's span %s is not the path_open span %s", d.SpanID(), deniedSpan)
	}
	if a := logAttrs(results[0]); a[telemetry.AttrExitReason].AsString() != "exited" || a[telemetry.AttrToolDigest].AsString() != guest.Digest {
		t.Errorf("run result record: %v", a)
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	h.run(t, context.Background(), "fs")
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	h.shutdown(t)
	sums := map[string]map[string]int64{} // metric -> attribute set -> value
	hist := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				sums[m.Name] = map[string]int64{}
				for _, p := range d.DataPoints {
					sums[m.Name][p.Attributes.Encoded(attribute.DefaultEncoder())] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					hist[m.Name] += p.Count
				}
			}
		}
	}
	if got := sums[telemetry.MetricRuns]["airlock.exit.reason=exited,airlock.tool=guest"]; got != 1 {
		t.Errorf("%s = %v", telemetry.MetricRuns, sums[telemetry.MetricRuns])
	}
	if hist[telemetry.MetricRunDuration] != 1 {
		t.Errorf("%s count = %d", telemetry.MetricRunDuration, hist[telemetry.MetricRunDuration])
	}
	if got := sums[telemetry.MetricDecisions]["airlock.decision=deny,airlock.decision.kind=fs.write,airlock.decision.source=rule"]; got != 1 {
		t.Errorf("%s = %v", telemetry.MetricDecisions, sums[telemetry.MetricDecisions])
	}
	calls := h.count.counts()
	for name, n := range calls {
		key := "airlock.host.function=" + name + ",airlock.host.module=wasi_snapshot_preview1"
		if got := sums[telemetry.MetricHostCalls][key]; got != n {
			t.Errorf("%s{%s} = %d, want %d", telemetry.MetricHostCalls, name, got, n)
		}
	}
}

func TestIncludeArgs(t *testing.T) {
	h := newHarness(t, telemetry.Config{IncludeArgs: true})
	h.run(t, context.Background(), "exit", "7")
	h.shutdown(t)
	var run sdktrace.ReadOnlySpan
	for _, s := range h.spans.GetSpans().Snapshots() {
		if s.Name() == telemetry.SpanRun {
			run = s
		}
	}
	if run == nil {
		t.Fatal("no run span")
	}
	a := spanAttrs(run)
	if got := a[telemetry.AttrArgs].AsStringSlice(); fmt.Sprint(got) != "[exit 7]" {
		t.Errorf("args = %v, want [exit 7]", got)
	}
	if a[telemetry.AttrExitCode].AsInt64() != 7 {
		t.Errorf("exit code %v", a[telemetry.AttrExitCode])
	}
	for _, r := range h.logs.all() {
		if r.EventName() == telemetry.EventRunStart {
			if got := logAttrs(r)[telemetry.AttrArgs].AsStringSlice(); fmt.Sprint(got) != "[exit 7]" {
				t.Errorf("run start args = %v", got)
			}
		}
	}
}

func TestProcExitEndsItsSpan(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	res, _ := h.run(t, context.Background(), "exit", "7")
	if res.ExitCode != 7 {
		t.Fatalf("exit code %d", res.ExitCode)
	}
	h.shutdown(t)
	n := 0
	for _, s := range h.spans.GetSpans().Snapshots() {
		if s.Name() == "proc_exit" {
			n++
			a := spanAttrs(s)
			if a[telemetry.AttrExitCode].AsInt64() != 7 || a[telemetry.AttrTrap].AsBool() {
				t.Errorf("proc_exit span: %v", s.Attributes())
			}
			if s.EndTime().Before(s.StartTime()) || s.EndTime().IsZero() {
				t.Errorf("proc_exit span not ended: %v %v", s.StartTime(), s.EndTime())
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d proc_exit spans, want 1", n)
	}
}

func TestUnsampledRunStillLogsDecisions(t *testing.T) {
	h := newHarness(t, telemetry.Config{Sampler: telemetry.RatioSampler(0)})
	h.run(t, context.Background(), "fs")
	h.shutdown(t)
	if spans := h.spans.GetSpans(); len(spans) != 0 {
		t.Fatalf("%d spans exported from an unsampled run", len(spans))
	}
	var decisions int
	for _, r := range h.logs.all() {
		if r.EventName() == telemetry.EventDecision {
			decisions++
			if !r.TraceID().IsValid() {
				t.Error("decision record without a trace id")
			}
		}
	}
	if decisions != 1 {
		t.Fatalf("%d decision records, want 1", decisions)
	}
	if h.count.counts()["fd_write"] == 0 {
		t.Fatal("the guest made no calls")
	}
}

func TestRemoteParent(t *testing.T) {
	h := newHarness(t, telemetry.Config{Sampler: telemetry.RatioSampler(0)})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.ContextWithRemoteParent(context.Background(), tp, "vendor=x")
	h.run(t, ctx, "exit", "0")
	h.shutdown(t)
	spans := h.spans.GetSpans().Snapshots()
	if len(spans) == 0 {
		t.Fatal("a sampled parent did not sample the run")
	}
	for _, s := range spans {
		if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("span %s in trace %s", s.Name(), s.SpanContext().TraceID())
		}
		if s.Name() == telemetry.SpanRun && s.Parent().SpanID().String() != "00f067aa0ba902b7" {
			t.Fatalf("run span parent %s", s.Parent().SpanID())
		}
	}
	if got := telemetry.ContextWithRemoteParent(context.Background(), "garbage", ""); trace.SpanContextFromContext(got).IsValid() {
		t.Fatal("a malformed traceparent made a parent")
	}
}

func TestNilProviderIsOff(t *testing.T) {
	p, err := telemetry.New(context.Background(), telemetry.Config{})
	if err != nil || p != nil {
		t.Fatalf("New(off) = %v, %v", p, err)
	}
	cfg := p.Configure(runtime.Config{CacheDir: "-"})
	if cfg.Wrap != nil || cfg.PrepareRun != nil {
		t.Fatal("telemetry off installed hooks")
	}
	p.MCPRequest(context.Background(), telemetry.MCPRequest{Method: "tools/list"})
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMCPRequestRedaction(t *testing.T) {
	for _, include := range []bool{false, true} {
		h := newHarness(t, telemetry.Config{IncludeArgs: include})
		h.p.MCPRequest(context.Background(), telemetry.MCPRequest{Method: "tools/call", Tool: "grep",
			Input: []byte(`{"pattern":"secret"}`), Output: []byte("match"), Outcome: "ok"})
		h.shutdown(t)
		logs := h.logs.all()
		if len(logs) != 1 || logs[0].EventName() != telemetry.EventMCPRequest {
			t.Fatalf("records: %v", logs)
		}
		a := logAttrs(logs[0])
		if a[telemetry.AttrMCPInputLength].AsInt64() != 20 || a[telemetry.AttrMCPOutputLength].AsInt64() != 5 || a[telemetry.AttrMCPTool].AsString() != "grep" {
			t.Errorf("attributes: %v", a)
		}
		_, hasInput := a[telemetry.AttrMCPInput]
		if hasInput != include || (include && a[telemetry.AttrMCPInput].AsString() != `{"pattern":"secret"}`) {
			t.Errorf("include_args=%v: input attribute %v", include, a[telemetry.AttrMCPInput])
		}
	}
}
