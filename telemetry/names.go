package telemetry

// Every name airlock gives a span, log record, metric or attribute. They are
// documented, one by one, in docs/telemetry.md; a test keeps the two in step.

// ScopeName is the instrumentation scope of every span, log record and
// metric airlock emits.
const ScopeName = "github.com/airlockhq/airlock"

// Span names. A host call span is named after its function: "fd_write" for a
// WASI function, "MODULE.NAME" for any other host module's function.
const (
	SpanRun        = "airlock.run"         // one per tool run; every host call span is its child
	SpanMCPRequest = "airlock.mcp.request" // one per MCP request; a tools/call's run span is its child
)

// Log record event names: one namespace, airlock.*.
const (
	EventRunStart   = "airlock.run.start"
	EventRunResult  = "airlock.run.result"
	EventDecision   = "airlock.decision"
	EventMCPRequest = "airlock.mcp.request"
)

// Metric names.
const (
	MetricRuns        = "airlock.runs"
	MetricRunDuration = "airlock.run.duration"
	MetricHostCalls   = "airlock.host.calls"
	MetricDecisions   = "airlock.decisions"
	MetricNetBytes    = "airlock.net.bytes"
	MetricMCPRequests = "airlock.mcp.requests"
	MetricMCPDuration = "airlock.mcp.request.duration"
)

// Attribute keys.
const (
	// The tool and its run.
	AttrTool           = "airlock.tool"
	AttrToolDigest     = "airlock.tool.digest"
	AttrArgs           = "airlock.args"        // the tool's arguments; only with include_args
	AttrArgsCount      = "airlock.args.count"  // always
	AttrArgsLength     = "airlock.args.length" // total bytes of the arguments; always
	AttrExitCode       = "process.exit.code"
	AttrExitReason     = "airlock.exit.reason" // exited | timeout | canceled | trapped | memory-limit | not-started
	AttrError          = "error.message"
	AttrDurationMS     = "airlock.duration_ms"
	AttrStdoutBytes    = "airlock.stdout.bytes"
	AttrStderrBytes    = "airlock.stderr.bytes"
	AttrTruncated      = "airlock.output.truncated"
	AttrMemoryBytes    = "airlock.memory.bytes"
	AttrDecisions      = "airlock.decisions"        // decisions made in the run (or in one host call)
	AttrDenied         = "airlock.decisions.denied" // of which denied
	AttrNetBytesIn     = "airlock.net.bytes.in"     // bytes the network host functions handed the tool
	AttrNetBytesOut    = "airlock.net.bytes.out"    // bytes the tool sent through them
	AttrNetConnections = "airlock.net.connections"  // connections made (raw and HTTP)
	AttrNetRequests    = "airlock.net.requests"     // HTTP requests started

	// A host call.
	AttrHostModule   = "airlock.host.module"
	AttrHostFunction = "airlock.host.function"
	AttrFD           = "airlock.fd"        // the file descriptor the call acts on
	AttrOpenedFD     = "airlock.fd.opened" // the descriptor path_open / sock_accept returned
	AttrPath         = "airlock.path"      // the guest path the call names
	AttrPathNew      = "airlock.path.new"  // the second path (rename, link, symlink)
	AttrBytes        = "airlock.bytes"     // bytes read, written, listed or filled
	AttrErrno        = "airlock.errno"     // the WASI errno the call returned, by name: "ENOENT"
	AttrTrap         = "airlock.trap"      // true when the call ended in a trap (panic)
	AttrThread       = "thread.id"         // the guest thread that made the call (wasi-threads; 0 is the main one), only in a run whose module may have threads

	// A decision, on a log record and (the last, or the last denial) on the
	// host call span that caused it.
	AttrDecision        = "airlock.decision" // allow | deny
	AttrDecisionAllowed = "airlock.decision.allowed"
	AttrDecisionKind    = "airlock.decision.kind"
	AttrDecisionOp      = "airlock.decision.op"
	AttrDecisionTarget  = "airlock.decision.target"
	AttrDecisionSource  = "airlock.decision.source" // rule | grant | user | headless | revoked
	AttrDecisionRule    = "airlock.decision.rule"
	AttrDecisionOrigin  = "airlock.decision.origin"
	AttrDecisionVerdict = "airlock.decision.verdict" // what the policy said: allow | deny | ask
	AttrDecisionErrno   = "airlock.decision.errno"

	// An MCP request.
	AttrMCPMethod        = "airlock.mcp.method"
	AttrMCPTool          = "airlock.mcp.tool"
	AttrMCPOutcome       = "airlock.mcp.outcome"
	AttrMCPInput         = "airlock.mcp.input" // only with include_args
	AttrMCPInputLength   = "airlock.mcp.input.length"
	AttrMCPOutput        = "airlock.mcp.output" // only with include_args
	AttrMCPOutputLength  = "airlock.mcp.output.length"
	AttrNetworkDirection = "network.io.direction" // transmit | receive, on airlock.net.bytes
)
