package mcp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	starts  []mcp.RequestStart
	records []mcp.RequestRecord
}

type joinedKey struct{}

func (r *recorder) Start(ctx context.Context, s mcp.RequestStart) context.Context {
	r.mu.Lock()
	r.starts = append(r.starts, s)
	r.mu.Unlock()
	return context.WithValue(ctx, joinedKey{}, s.Traceparent)
}

func (r *recorder) End(ctx context.Context, rec mcp.RequestRecord) {
	if ctx.Value(joinedKey{}) != rec.Traceparent {
		panic("End did not get the context Start returned")
	}
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
}

func (r *recorder) find(method, tool string) []mcp.RequestRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []mcp.RequestRecord
	for _, rec := range r.records {
		if rec.Method == method && rec.Tool == tool {
			out = append(out, rec)
		}
	}
	return out
}

// TestObserve: every MCP request is reported once it is answered, with its
// method, tool, duration and outcome, and the client's trace context from
// _meta.
func TestObserve(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	e := newEnv(t, func(o *mcp.Options) { o.Observe = rec }, guestTool(t, "json", "json"),
		guestTool(t, "fail", "fail", "x"), guestTool(t, "spin", "spin"), askTool(t))
	cs := e.connect(t, inMemory, &sdk.ClientOptions{
		ElicitationHandler: (&elicitor{action: "decline"}).handle,
		MultiRoundTrip:     &sdk.MultiRoundTripOptions{Disabled: true},
	})
	if _, err := cs.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if _, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "json", Meta: sdk.Meta{"traceparent": tp, "tracestate": "k=v"}}); err != nil {
		t.Fatal(err)
	}
	call(t, cs, "fail", nil)
	call(t, cs, "ask", nil) // comes back input-required: the retry never comes
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	cs.CallTool(ctx, &sdk.CallToolParams{Name: "spin"})
	cancel()
	cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "nope"})

	check := func(method, tool string, want mcp.Outcome) mcp.RequestRecord {
		t.Helper()
		var got []mcp.RequestRecord
		waitFor(t, method+" "+tool+" to be recorded", func() bool {
			got = rec.find(method, tool)
			return len(got) == 1
		})
		if got[0].Outcome != want {
			t.Errorf("%s %s: outcome %s (%v), want %s", method, tool, got[0].Outcome, got[0].Err, want)
		}
		if got[0].Duration <= 0 || got[0].Start.IsZero() {
			t.Errorf("%s %s: no timing: %+v", method, tool, got[0])
		}
		return got[0]
	}
	check("tools/list", "", mcp.OutcomeOK)
	ok := check("tools/call", "json", mcp.OutcomeOK)
	if ok.Traceparent != tp || ok.Tracestate != "k=v" {
		t.Errorf("trace context = %q %q, want the one in _meta", ok.Traceparent, ok.Tracestate)
	}
	if string(ok.Input) != "" && string(ok.Input) != "null" && string(ok.Input) != "{}" {
		t.Errorf("input = %s", ok.Input)
	}
	if len(ok.Output) == 0 {
		t.Error("no output recorded")
	}
	check("tools/call", "fail", mcp.OutcomeToolError)
	check("tools/call", "ask", mcp.OutcomeInputRequired)
	check("tools/call", "spin", mcp.OutcomeCanceled)
	check("tools/call", "nope", mcp.OutcomeError)
}
