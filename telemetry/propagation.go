package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// ContextWithRemoteParent returns ctx carrying the W3C trace context given
// by a traceparent (and optional tracestate) header value, so that the run
// span started under it joins the caller's trace. An empty or malformed
// traceparent returns ctx unchanged. The MCP server passes the values from
// a request's metadata; the CLI passes $TRACEPARENT and $TRACESTATE.
func ContextWithRemoteParent(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	return propagation.TraceContext{}.Extract(ctx, carrier)
}

// ContextFromEnv is ContextWithRemoteParent with the TRACEPARENT and
// TRACESTATE environment variables (read through getenv), as CI systems
// set them.
func ContextFromEnv(ctx context.Context, getenv func(string) string) context.Context {
	return ContextWithRemoteParent(ctx, getenv("TRACEPARENT"), getenv("TRACESTATE"))
}
