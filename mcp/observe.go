package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Observer records MCP requests for telemetry: a span and a log record per
// request. cmd/airlock adapts the telemetry package to it; tests record in
// memory. Implementations must be safe for concurrent use.
type Observer interface {
	// Start is called when a request arrives. It returns the context the
	// request is handled in: joined to the client's trace when the
	// request's _meta carries a W3C traceparent (and tracestate), and
	// carrying the request's span, so that the tool run's spans are its
	// children.
	Start(ctx context.Context, r RequestStart) context.Context
	// End is called with the context Start returned when the request has
	// been answered.
	End(ctx context.Context, r RequestRecord)
}

// RequestStart is an MCP request as it arrives.
type RequestStart struct {
	Method      string // "tools/call", "tools/list", …
	Tool        string // the tool, for tools/call
	Traceparent string // from the request's _meta, if any
	Tracestate  string
}

// RequestRecord is an MCP request once answered.
type RequestRecord struct {
	RequestStart
	Start    time.Time
	Duration time.Duration
	Outcome  Outcome
	Err      error           // the protocol error, or the tool's failure in one line
	Input    json.RawMessage // a tools/call's arguments as received
	Output   json.RawMessage // a tools/call's result as sent
}

// Outcome is how an MCP request ended.
type Outcome string

const (
	OutcomeOK            Outcome = "ok"             // answered; a tool ran and succeeded
	OutcomeToolError     Outcome = "tool-error"     // a tool result with isError set
	OutcomeError         Outcome = "error"          // a protocol error (unknown tool, bad params)
	OutcomeCanceled      Outcome = "canceled"       // the client cancelled or went away
	OutcomeInputRequired Outcome = "input-required" // an approval went back to the client (protocol 2026-07-28)
)

// observe is the receiving middleware that reports every request to the
// Observer.
func (s *Server) observe(next sdk.MethodHandler) sdk.MethodHandler {
	o := s.opts.Observe
	if o == nil {
		return next
	}
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		var st RequestStart
		st.Method = method
		var input json.RawMessage
		if p := req.GetParams(); p != nil && !reflect.ValueOf(p).IsNil() {
			meta := p.GetMeta()
			st.Traceparent, _ = meta["traceparent"].(string)
			st.Tracestate, _ = meta["tracestate"].(string)
			if c, ok := p.(*sdk.CallToolParamsRaw); ok {
				st.Tool, input = c.Name, c.Arguments
			}
		}
		start := time.Now()
		ctx = o.Start(ctx, st)
		res, err := next(ctx, method, req)
		rec := RequestRecord{RequestStart: st, Start: start, Duration: time.Since(start), Err: err, Input: input}
		r, _ := res.(*sdk.CallToolResult)
		switch {
		case err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil):
			rec.Outcome = OutcomeCanceled
		case err != nil:
			rec.Outcome = OutcomeError
		case r != nil && len(r.InputRequests) > 0:
			rec.Outcome = OutcomeInputRequired
		case r != nil && r.IsError:
			rec.Outcome, rec.Err = OutcomeToolError, errors.New(firstText(r))
		default:
			rec.Outcome = OutcomeOK
		}
		if r != nil {
			rec.Output, _ = json.Marshal(r)
		}
		o.End(ctx, rec)
		return res, err
	}
}
