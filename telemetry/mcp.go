package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
)

// MCPRequest is one request the MCP server answered.
type MCPRequest struct {
	Method   string        // the JSON-RPC method: "tools/call", "tools/list", …
	Tool     string        // the tool, for tools/call
	Input    []byte        // the request's arguments as received; only their length is kept unless include_args
	Output   []byte        // the result's content as sent; likewise
	Duration time.Duration // from receiving the request to answering it
	// Outcome says how it ended, in one word: "ok", "tool-error" (the tool
	// ran and failed), "denied", "canceled", "error" (a protocol error).
	Outcome string
	Err     error // the error, if any
}

// MCPRequest logs airlock.mcp.request and counts the request. ctx should
// carry the request's trace context (ContextWithRemoteParent) so the record
// joins the client's trace. Safe on a nil Provider.
func (p *Provider) MCPRequest(ctx context.Context, r MCPRequest) {
	if p == nil {
		return
	}
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
	sev := log.SeverityInfo
	if r.Err != nil {
		attrs = append(attrs, attribute.String(AttrError, firstLine(r.Err.Error())))
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
