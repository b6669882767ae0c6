package telemetry_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

// TestMCPRequestSpan: StartMCPRequest opens a server span under the
// client's trace context; a run started in its context is its child; the
// end function closes it with the outcome (an error status on failure) and
// logs the request's record in it.
func TestMCPRequestSpan(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := telemetry.ContextWithRemoteParent(context.Background(), "00-"+traceID+"-"+parentID+"-01", "")
	ctx, end := h.p.StartMCPRequest(ctx, "tools/call", "guest")
	res, out := h.run(t, ctx, "fs")
	if res.Reason != runtime.Exited {
		t.Fatalf("guest: %s: %s", res.Reason, out)
	}
	end(telemetry.MCPRequest{Input: []byte(`{"a":1}`), Output: []byte("0123456789"), Outcome: "tool-error",
		Err: errors.New("guest exited with status 1\nand more")})

	// The other outcomes, without a run.
	for _, outcome := range []string{"ok", "input-required", "canceled", "error"} {
		_, end := h.p.StartMCPRequest(context.Background(), "tools/call", outcome)
		end(telemetry.MCPRequest{Outcome: outcome})
	}
	h.shutdown(t)

	var req, run sdktrace.ReadOnlySpan
	status := map[string]codes.Code{}
	for _, s := range h.spans.GetSpans().Snapshots() {
		switch s.Name() {
		case telemetry.SpanMCPRequest:
			tool := spanAttrs(s)[telemetry.AttrMCPTool].AsString()
			if tool == "guest" {
				req = s
			} else {
				status[tool] = s.Status().Code
			}
		case telemetry.SpanRun:
			run = s
		}
	}
	if req == nil || run == nil {
		t.Fatalf("request span %v, run span %v", req != nil, run != nil)
	}
	if req.SpanKind() != trace.SpanKindServer || req.SpanContext().TraceID().String() != traceID ||
		req.Parent().SpanID().String() != parentID || !req.Parent().IsRemote() {
		t.Errorf("request span: kind %v, trace %s, parent %s: want a server span under the client's span",
			req.SpanKind(), req.SpanContext().TraceID(), req.Parent().SpanID())
	}
	if run.Parent().SpanID() != req.SpanContext().SpanID() || run.SpanContext().TraceID() != req.SpanContext().TraceID() {
		t.Errorf("the run span's parent is %s, want the request span %s", run.Parent().SpanID(), req.SpanContext().SpanID())
	}
	if req.EndTime().Before(run.EndTime()) {
		t.Errorf("the request span ended before its run")
	}
	a := spanAttrs(req)
	if a[telemetry.AttrMCPMethod].AsString() != "tools/call" || a[telemetry.AttrMCPOutcome].AsString() != "tool-error" ||
		a[telemetry.AttrMCPInputLength].AsInt64() != 7 || a[telemetry.AttrMCPOutputLength].AsInt64() != 10 ||
		a[telemetry.AttrDurationMS].AsFloat64() <= 0 || a[telemetry.AttrError].AsString() != "guest exited with status 1" {
		t.Errorf("request span attributes: %v", req.Attributes())
	}
	if _, ok := a[telemetry.AttrMCPInput]; ok {
		t.Errorf("input recorded without include_args")
	}
	if st := req.Status(); st.Code != codes.Error || st.Description != "guest exited with status 1" {
		t.Errorf("request span status %v, want an error", st)
	}
	want := map[string]codes.Code{"ok": codes.Unset, "input-required": codes.Unset, "canceled": codes.Error, "error": codes.Error}
	for outcome, code := range want {
		if got, ok := status[outcome]; !ok || got != code {
			t.Errorf("outcome %s: span status %v (found %v), want %v", outcome, got, ok, code)
		}
	}

	var logged bool
	for _, r := range h.logs.all() {
		if r.EventName() == telemetry.EventMCPRequest && logAttrs(r)[telemetry.AttrMCPTool].AsString() == "guest" {
			logged = r.TraceID() == req.SpanContext().TraceID() && r.SpanID() == req.SpanContext().SpanID()
		}
	}
	if !logged {
		t.Errorf("no %s record in the request span", telemetry.EventMCPRequest)
	}
}

// TestMCPRequestOff: with telemetry off (a nil Provider) a request costs
// nothing: the context is returned as it is, and nothing is allocated.
func TestMCPRequestOff(t *testing.T) {
	var p *telemetry.Provider
	ctx := context.Background()
	got, end := p.StartMCPRequest(ctx, "tools/call", "x")
	if got != ctx {
		t.Error("a nil Provider changed the context")
	}
	end(telemetry.MCPRequest{Outcome: "ok"})
	if n := testing.AllocsPerRun(100, func() {
		_, end := p.StartMCPRequest(ctx, "tools/call", "x")
		end(telemetry.MCPRequest{Outcome: "ok"})
	}); n != 0 {
		t.Errorf("%v allocations per request with telemetry off, want 0", n)
	}
}
