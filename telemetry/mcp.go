package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// MCPRequest is one request the MCP server answered.
type MCPRequest struct {
	Method   string        // the JSON-RPC method: "tools/call", "tools/list", …
	Tool     string        // the tool, for tools/call
	Input    []byte        // the request's arguments as received; only their length is kept unless include_args
	Output   []byte        // the result's content as sent; likewise
	Duration time.Duration // from receiving the request to answering it
	// Outcome says how it ended, in one word: "ok", "tool-error" (the tool
	// ran and failed), "denied", "canceled", "error" (a protocol error),
	// "input-required" (an approval went back to the client).
	Outcome string
	Err     error // the error, if any
}

// failed reports whether r ended in a failure: its span's status is then
// an error. An input-required result is a question, not a failure.
func (r *MCPRequest) failed() bool {
	return r.Err != nil || (r.Outcome != "ok" && r.Outcome != "input-required" && r.Outcome != "")
}

// StartMCPRequest starts the span of one MCP request, airlock.mcp.request
// (SpanMCPRequest, kind server), as a child of the span in ctx: put the
// trace context of the request's _meta there first
// (ContextWithRemoteParent) and the span joins the client's trace. It
// returns the context to handle the request in, which carries the span, so
// that the run of a tools/call (PrepareRun) is the span's child; and the
// function to call, once, when the request has been answered: it ends the
// span with the outcome, duration and lengths (an error status when r
// failed) and logs airlock.mcp.request under it (MCPRequest). r's empty
// Method and Tool are taken from the start, and a zero Duration is
// measured.
//
// On a nil Provider it returns ctx and a function that does nothing.
func (p *Provider) StartMCPRequest(ctx context.Context, method, tool string) (context.Context, func(MCPRequest)) {
	if p == nil {
		return ctx, endNothing
	}
	start := time.Now()
	attrs := []attribute.KeyValue{attribute.String(AttrMCPMethod, method)}
	if tool != "" {
		attrs = append(attrs, attribute.String(AttrMCPTool, tool))
	}
	ctx, span := p.tracer.Start(ctx, SpanMCPRequest, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	return ctx, func(r MCPRequest) {
		end := time.Now()
		if r.Method == "" {
			r.Method = method
		}
		if r.Tool == "" {
			r.Tool = tool
		}
		if r.Duration <= 0 {
			r.Duration = end.Sub(start)
		}
		if span.IsRecording() {
			span.SetAttributes(p.mcpAttrs(&r)[1:]...) // the method is set already
			if r.failed() {
				desc := r.Outcome
				if r.Err != nil {
					desc = firstLine(r.Err.Error())
				}
				span.SetStatus(codes.Error, desc)
			}
		}
		span.End(trace.WithTimestamp(end))
		p.MCPRequest(ctx, r)
	}
}

func endNothing(MCPRequest) {}

// mcpAttrs are the attributes of a request's log record and span; the
// method comes first.
func (p *Provider) mcpAttrs(r *MCPRequest) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String(AttrMCPMethod, r.Method),
		attribute.String(AttrMCPOutcome, r.Outcome),
		attribute.Float64(AttrDurationMS, float64(r.Duration.Microseconds())/1000),
		attribute.Int(AttrMCPInputLength, len(r.Input)),
		attribute.Int(AttrMCPOutputLength, len(r.Output)),
	}
	if r.Tool != "" {
		attrs = append(attrs, attribute.String(AttrMCPTool, r.Tool))
	}
	if p.cfg.IncludeArgs {
		attrs = append(attrs, attribute.String(AttrMCPInput, string(r.Input)), attribute.String(AttrMCPOutput, string(r.Output)))
	}
	if r.Err != nil {
		attrs = append(attrs, attribute.String(AttrError, firstLine(r.Err.Error())))
	}
	return attrs
}

// MCPRequest logs airlock.mcp.request and counts the request. ctx should
// carry the request's span (StartMCPRequest, whose end function calls
// MCPRequest), or at least its trace context (ContextWithRemoteParent), so
// that the record joins the client's trace. Safe on a nil Provider.
func (p *Provider) MCPRequest(ctx context.Context, r MCPRequest) {
	if p == nil {
		return
	}
	attrs := p.mcpAttrs(&r)
	sev := log.SeverityInfo
	if r.Err != nil {
		sev = log.SeverityWarn
	}
	body := r.Method
	if r.Tool != "" {
		body += " " + r.Tool
	}
	body += fmt.Sprintf(": %s in %s", r.Outcome, r.Duration.Round(time.Microsecond))
	p.emit(ctx, EventMCPRequest, sev, body, attrs...)
	mattrs := metric.WithAttributes(attribute.String(AttrMCPMethod, r.Method), attribute.String(AttrMCPOutcome, r.Outcome))
	p.inst.mcpRequests.Add(ctx, 1, mattrs)
	p.inst.mcpDuration.Record(ctx, r.Duration.Seconds(), mattrs)
}
