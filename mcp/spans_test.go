package mcp_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/codes"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

// spanObserver adapts a telemetry.Provider to mcp.Observer the way
// cmd/airlock does: the request's span joins the trace context of its
// _meta, and its end function rides in the context.
type spanObserver struct{ p *telemetry.Provider }

type endKey struct{}

func (o spanObserver) Start(ctx context.Context, r mcp.RequestStart) context.Context {
	ctx, end := o.p.StartMCPRequest(telemetry.ContextWithRemoteParent(ctx, r.Traceparent, r.Tracestate), r.Method, r.Tool)
	return context.WithValue(ctx, endKey{}, end)
}

func (o spanObserver) End(ctx context.Context, r mcp.RequestRecord) {
	ctx.Value(endKey{}).(func(telemetry.MCPRequest))(telemetry.MCPRequest{
		Method: r.Method, Tool: r.Tool, Input: r.Input, Output: r.Output,
		Duration: r.Duration, Outcome: string(r.Outcome), Err: r.Err,
	})
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

// TestRequestSpans: with telemetry on, every MCP request is a span, joined
// to the trace of the traceparent in its _meta; a tools/call's run span is
// the request span's child, and the request's log record is in it.
func TestRequestSpans(t *testing.T) {
	t.Parallel()
	spans, logs := tracetest.NewInMemoryExporter(), &memLogs{}
	tp, err := telemetry.New(context.Background(), telemetry.Config{SpanExporter: spans, LogExporter: logs, MetricReader: sdkmetric.NewManualReader()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	eng, err := runtime.New(context.Background(), tp.Configure(runtime.Config{CacheDir: compileCache(), HostFuncs: []host.Func{askFunc}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	e := newEnv(t, func(o *mcp.Options) { o.Engine, o.Observe = eng, spanObserver{tp} }, guestTool(t, "json", "json"), guestTool(t, "fail", "fail", "x"))
	cs := e.connect(t, inMemory, nil)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "json",
		Meta: sdk.Meta{"traceparent": "00-" + traceID + "-" + parentID + "-01", "tracestate": "k=v"}})
	if err != nil || res.IsError {
		t.Fatalf("json: %v %s", err, texts(res))
	}
	if res := call(t, cs, "fail", nil); !res.IsError {
		t.Fatalf("fail did not fail: %s", texts(res))
	}
	if _, err := cs.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to be idle", idle(e))
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	all := spans.GetSpans().Snapshots()
	requests := map[string]sdktrace.ReadOnlySpan{}   // by method and tool: "tools/call json"
	runs := map[trace.SpanID]sdktrace.ReadOnlySpan{} // by parent
	for _, s := range all {
		switch s.Name() {
		case telemetry.SpanMCPRequest:
			a := map[string]string{}
			for _, kv := range s.Attributes() {
				a[string(kv.Key)] = kv.Value.String()
			}
			requests[strings.TrimSpace(a[telemetry.AttrMCPMethod]+" "+a[telemetry.AttrMCPTool])] = s
			if a[telemetry.AttrMCPOutcome] == "" || a[telemetry.AttrDurationMS] == "" {
				t.Errorf("request span %v: no outcome or duration", s.Attributes())
			}
		case telemetry.SpanRun:
			runs[s.Parent().SpanID()] = s
		}
	}
	want := map[string]codes.Code{"tools/call json": codes.Unset, "tools/call fail": codes.Error, "tools/list": codes.Unset}
	for req, status := range want {
		s := requests[req]
		if s == nil {
			t.Errorf("no %s span for %s among %d spans", telemetry.SpanMCPRequest, req, len(all))
			continue
		}
		if s.SpanKind() != trace.SpanKindServer || s.Status().Code != status {
			t.Errorf("%s: kind %v status %v, want server, %v", req, s.SpanKind(), s.Status(), status)
		}
		if !strings.HasPrefix(req, "tools/call") {
			continue
		}
		run := runs[s.SpanContext().SpanID()]
		if run == nil || run.SpanContext().TraceID() != s.SpanContext().TraceID() {
			t.Errorf("%s: no %s span whose parent is the request span", req, telemetry.SpanRun)
		}
	}

	// The call that carried a traceparent is in the client's trace, its
	// span a child of the client's span.
	if s := requests["tools/call json"]; s != nil {
		if got := s.SpanContext().TraceID().String(); got != traceID {
			t.Errorf("request span trace %s, want the client's %s", got, traceID)
		}
		if got := s.Parent().SpanID().String(); got != parentID || !s.Parent().IsRemote() {
			t.Errorf("request span parent %s (remote %v), want the client's span %s", got, s.Parent().IsRemote(), parentID)
		}
		if ts := s.Parent().TraceState().String(); ts != "k=v" {
			t.Errorf("trace state %q, want k=v", ts)
		}
		var logged bool
		logs.mu.Lock()
		for _, r := range logs.records {
			if r.EventName() == telemetry.EventMCPRequest && r.TraceID() == s.SpanContext().TraceID() && r.SpanID() == s.SpanContext().SpanID() {
				logged = true
			}
		}
		logs.mu.Unlock()
		if !logged {
			t.Errorf("no %s log record in the request span", telemetry.EventMCPRequest)
		}
	}
}
