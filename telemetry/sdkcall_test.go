package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

// A host function outside WASI runs inside a real span that is in its
// context; a decision it causes lands on that span and its record; a
// panic (proc_exit-like) still ends it.
func TestNonWASIFunctionSpan(t *testing.T) {
	h := newHarness(t, telemetry.Config{})
	spec := &runtime.Spec{Args: []string{"a"}}
	ctx, finish := h.p.PrepareRun(context.Background(), spec, &host.Run{Tool: "t", Digest: "sha256:00"})
	var inner trace.SpanContext
	connect := h.p.Wrap("airlock_net_v1", "connect", api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		inner = trace.SpanFromContext(ctx).SpanContext()
		spec.Record(decision.Decision{Time: time.Now(), Kind: decision.NetConnect, Op: "connect", Target: "example.com:443",
			Allowed: false, Source: decision.SourceHeadless, Rule: "network default ask"})
		stack[0] = 63
	}))
	exit := h.p.Wrap("airlock_net_v1", "stop", api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}))
	connect.Call(ctx, nil, make([]uint64, 1))
	func() {
		defer func() {
			var ee *sys.ExitError
			if err, _ := recover().(error); !errors.As(err, &ee) {
				t.Errorf("the wrapper did not re-panic with the exit error: %v", err)
			}
		}()
		exit.Call(ctx, nil, make([]uint64, 1))
	}()
	finish(&runtime.Result{Reason: runtime.Timeout})
	h.shutdown(t)

	var run, conn, stop bool
	var runID trace.SpanID
	for _, s := range h.spans.GetSpans().Snapshots() {
		if s.Name() == telemetry.SpanRun {
			runID = s.SpanContext().SpanID()
		}
	}
	for _, s := range h.spans.GetSpans().Snapshots() {
		a := spanAttrs(s)
		switch s.Name() {
		case telemetry.SpanRun:
			run = a[telemetry.AttrExitReason].AsString() == "timeout"
		case "airlock_net_v1.connect":
			conn = s.SpanContext().Equal(inner) && s.Parent().SpanID() == runID &&
				a[telemetry.AttrDecision].AsString() == "deny" && a[telemetry.AttrDecisionSource].AsString() == "headless" &&
				a[telemetry.AttrDecisionTarget].AsString() == "example.com:443"
		case "airlock_net_v1.stop":
			stop = s.Parent().SpanID() == runID && a[telemetry.AttrExitCode].AsInt64() == int64(sys.ExitCodeDeadlineExceeded) && !s.EndTime().IsZero()
		}
	}
	if !run || !conn || !stop {
		t.Fatalf("run span %v, connect span in context with its decision %v, stop span ended %v", run, conn, stop)
	}
	for _, r := range h.logs.all() {
		if r.EventName() == telemetry.EventDecision && r.SpanID() != inner.SpanID() {
			t.Errorf("decision record on span %s, want the connect span %s", r.SpanID(), inner.SpanID())
		}
	}
}
