package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/runtime"
)

// Configure returns c with the telemetry hooks installed: Wrap around every
// host function and PrepareRun around every run. Hooks c already has are
// kept: the telemetry wrapper goes outside an existing Wrap (so spans
// include its time) and an existing PrepareRun runs inside the run span. A
// nil Provider returns c unchanged: with telemetry off, Wrap stays nil and
// costs nothing.
func (p *Provider) Configure(c runtime.Config) runtime.Config {
	if p == nil {
		return c
	}
	if inner := c.Wrap; inner != nil {
		c.Wrap = func(module, name string, fn api.GoModuleFunction) api.GoModuleFunction {
			return p.Wrap(module, name, inner(module, name, fn))
		}
	} else {
		c.Wrap = p.Wrap
	}
	if inner := c.PrepareRun; inner != nil {
		c.PrepareRun = func(ctx context.Context, spec *runtime.Spec, run *hostfuncs.Run) (context.Context, func(*runtime.Result)) {
			ctx, finish := p.PrepareRun(ctx, spec, run)
			ctx, innerFinish := inner(ctx, spec, run)
			return ctx, func(res *runtime.Result) {
				if innerFinish != nil {
					innerFinish(res)
				}
				finish(res)
			}
		}
	} else {
		c.PrepareRun = p.PrepareRun
	}
	return c
}

// runState is one run as telemetry sees it. PrepareRun puts it in the
// run's context, where the wrapper finds it.
type runState struct {
	p       *Provider
	span    trace.Span
	sc      trace.SpanContext
	ctx     context.Context // carries the run span: log records of the run hang off it
	sampled bool            // host calls get spans
	base    time.Time       // the run's start; host call times are offsets from it
	tool    string
	digest  string
	next    decision.Recorder // the recorder the caller set, called first
	run     *host.Run

	current   atomic.Uint64 // the span ID of the host call in progress, 0 between calls (a run without threads)
	threaded  atomic.Bool   // a thread's host call was seen: inflight, not current (calls.go, begin)
	decisions atomic.Int64
	denied    atomic.Int64

	mu       sync.Mutex
	buf      *chunk
	pending  []pendingDecision
	inflight map[uint64]struct{} // host calls in progress in a run with threads
	closed   bool
}

// PrepareRun starts the run's span (a child of any span or remote parent in
// ctx), logs airlock.run.start, hooks the run's decisions, and returns the
// context the guest's host calls get and the function that ends it all with
// the run's result. It has the signature of runtime.Config.PrepareRun.
func (p *Provider) PrepareRun(ctx context.Context, spec *runtime.Spec, run *hostfuncs.Run) (context.Context, func(*runtime.Result)) {
	start := time.Now()
	tool, digest := run.Tool, run.Digest
	attrs := []attribute.KeyValue{
		attribute.String(AttrTool, tool),
		attribute.String(AttrToolDigest, digest),
	}
	attrs = append(attrs, p.argAttrs(spec.Args)...)
	ctx, span := p.tracer.Start(ctx, SpanRun, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	rs := &runState{p: p, span: span, sc: span.SpanContext(), sampled: span.IsRecording() && span.SpanContext().IsSampled(),
		base: start, tool: tool, digest: digest, next: spec.Record, run: run}
	ctx = context.WithValue(ctx, runKey{}, rs)
	rs.ctx = ctx
	spec.Record = rs.record
	p.emit(ctx, EventRunStart, log.SeverityInfo, fmt.Sprintf("run %s %s", tool, ShortDigest(digest)), attrs...)
	return ctx, rs.finish
}

func (p *Provider) argAttrs(args []string) []attribute.KeyValue {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	attrs := []attribute.KeyValue{attribute.Int(AttrArgsCount, len(args)), attribute.Int(AttrArgsLength, n)}
	if p.cfg.IncludeArgs {
		attrs = append(attrs, attribute.StringSlice(AttrArgs, args))
	}
	return attrs
}

// record is the run's decision.Recorder: every decision becomes a log
// record (whether or not the run is sampled) and a count, and, in a
// sampled run, attributes of the host call span that caused it. The
// caller's recorder (the audit log) runs first: a decision it could not
// record is reported as the denial the gate turns it into, and its error
// is returned. Telemetry's own export failures never fail a decision.
func (rs *runState) record(d decision.Decision) error {
	var err error
	if rs.next != nil {
		if err = rs.next(d); err != nil {
			d.Allowed, d.Source = false, decision.SourceUnrecorded
		}
	}
	rs.emitDecision(d)
	return err
}

// emitDecision reports one decision: a count, span attributes and a log
// record.
func (rs *runState) emitDecision(d decision.Decision) {
	p := rs.p
	rs.decisions.Add(1)
	if !d.Allowed {
		rs.denied.Add(1)
	}
	p.inst.decisions.Add(rs.ctx, 1, metric.WithAttributes(
		attribute.String(AttrDecision, outcome(d.Allowed)),
		attribute.String(AttrDecisionSource, string(d.Source)),
		attribute.String(AttrDecisionKind, string(d.Kind))))

	ctx := rs.ctx
	if id := rs.callInProgress(); id != 0 && rs.sampled {
		rs.mu.Lock()
		if !rs.closed {
			rs.pending = append(rs.pending, pendingDecision{spanID: id, d: d})
		}
		rs.mu.Unlock()
		var sid trace.SpanID
		putSpanID(&sid, id)
		ctx = trace.ContextWithSpanContext(ctx, rs.sc.WithSpanID(sid))
	} else if rs.sampled {
		rs.span.AddEvent(EventDecision, trace.WithAttributes(decisionAttrs(&d, 1)...))
	}

	sev := log.SeverityInfo
	verb := "allowed"
	if !d.Allowed {
		sev, verb = log.SeverityWarn, "denied"
	}
	body := fmt.Sprintf("%s %s %s %s", verb, d.Kind, d.Op, d.Target)
	if d.Rule != "" {
		body += ": " + d.Rule
	}
	if d.Origin != "" {
		body += " (" + d.Origin + ")"
	}
	attrs := []attribute.KeyValue{
		attribute.String(AttrTool, rs.tool),
		attribute.String(AttrToolDigest, rs.digest),
		attribute.String(AttrDecision, outcome(d.Allowed)),
		attribute.Bool(AttrDecisionAllowed, d.Allowed),
		attribute.String(AttrDecisionKind, string(d.Kind)),
		attribute.String(AttrDecisionOp, d.Op),
		attribute.String(AttrDecisionTarget, d.Target),
		attribute.String(AttrDecisionSource, string(d.Source)),
		attribute.String(AttrDecisionVerdict, d.Verdict.String()),
	}
	if d.Rule != "" {
		attrs = append(attrs, attribute.String(AttrDecisionRule, d.Rule))
	}
	if d.Origin != "" {
		attrs = append(attrs, attribute.String(AttrDecisionOrigin, d.Origin))
	}
	if d.Errno != "" {
		attrs = append(attrs, attribute.String(AttrDecisionErrno, d.Errno))
	}
	p.emitAt(ctx, d.Time, EventDecision, sev, body, attrs...)
}

var (
	receiveSet  = attribute.NewSet(attribute.String(AttrNetworkDirection, "receive"))
	transmitSet = attribute.NewSet(attribute.String(AttrNetworkDirection, "transmit"))
)

// finish ends the run: the last host call records go to the exporter, the
// run span ends with the result, airlock.run.result is logged and the run
// is counted. res is nil when the module could not start.
func (rs *runState) finish(res *runtime.Result) {
	p := rs.p
	rs.mu.Lock()
	rs.closed = true
	buf := rs.buf
	rs.buf = nil
	rs.pending = nil
	rs.mu.Unlock()
	if buf != nil {
		p.enqueue(buf)
	}

	end := time.Now()
	reason := "not-started"
	dur := end.Sub(rs.base)
	attrs := []attribute.KeyValue{attribute.String(AttrTool, rs.tool), attribute.String(AttrToolDigest, rs.digest)}
	var errText string
	if res != nil {
		reason = string(res.Reason)
		attrs = append(attrs,
			attribute.Int64(AttrExitCode, int64(res.ExitCode)),
			attribute.Int64(AttrStdoutBytes, res.Stdout.Bytes),
			attribute.Int64(AttrStderrBytes, res.Stderr.Bytes),
			attribute.Int64(AttrMemoryBytes, int64(res.Memory)))
		if res.Stdout.Truncated || res.Stderr.Truncated {
			attrs = append(attrs, attribute.Bool(AttrTruncated, true))
		}
		if res.Err != nil {
			errText = firstLine(res.Err.Error())
		}
	}
	attrs = append(attrs,
		attribute.String(AttrExitReason, reason),
		attribute.Float64(AttrDurationMS, float64(dur.Microseconds())/1000),
		attribute.Int64(AttrDecisions, rs.decisions.Load()),
		attribute.Int64(AttrDenied, rs.denied.Load()))
	// The network functions count per run; their totals are read once here.
	net := host.NetStatsOf(rs.run)
	if net.Connections > 0 || net.Requests > 0 {
		attrs = append(attrs, attribute.Int64(AttrNetConnections, net.Connections), attribute.Int64(AttrNetRequests, net.Requests),
			attribute.Int64(AttrNetBytesIn, net.BytesIn), attribute.Int64(AttrNetBytesOut, net.BytesOut))
	}
	if net.BytesIn > 0 {
		p.inst.netBytes.Add(rs.ctx, net.BytesIn, metric.WithAttributeSet(receiveSet))
	}
	if net.BytesOut > 0 {
		p.inst.netBytes.Add(rs.ctx, net.BytesOut, metric.WithAttributeSet(transmitSet))
	}
	if errText != "" {
		attrs = append(attrs, attribute.String(AttrError, errText))
	}

	rs.span.SetAttributes(attrs[2:]...)
	if reason != string(runtime.Exited) {
		rs.span.SetStatus(codes.Error, reason)
	}
	rs.span.End(trace.WithTimestamp(end))

	mattrs := metric.WithAttributes(attribute.String(AttrTool, rs.tool), attribute.String(AttrExitReason, reason))
	p.inst.runs.Add(rs.ctx, 1, mattrs)
	p.inst.runDuration.Record(rs.ctx, dur.Seconds(), mattrs)

	sev := log.SeverityInfo
	body := fmt.Sprintf("run %s %s: %s", rs.tool, ShortDigest(rs.digest), reason)
	if res != nil && res.Reason == runtime.Exited {
		body += fmt.Sprintf(" %d", res.ExitCode)
	}
	if reason != string(runtime.Exited) || (res != nil && res.ExitCode != 0) {
		sev = log.SeverityWarn
	}
	body += fmt.Sprintf(" in %s", dur.Round(time.Microsecond))
	p.emitAt(rs.ctx, end, EventRunResult, sev, body, attrs...)
}

// emit logs one event now.
func (p *Provider) emit(ctx context.Context, event string, sev log.Severity, body string, attrs ...attribute.KeyValue) {
	p.emitAt(ctx, time.Now(), event, sev, body, attrs...)
}

func (p *Provider) emitAt(ctx context.Context, t time.Time, event string, sev log.Severity, body string, attrs ...attribute.KeyValue) {
	var r log.Record
	r.SetEventName(event)
	r.SetTimestamp(t)
	r.SetObservedTimestamp(time.Now())
	r.SetSeverity(sev)
	r.SetSeverityText(severityText(sev))
	r.SetBody(attribute.StringValue(body))
	r.AddAttributes(attrs...)
	p.logger.Emit(ctx, r)
}

func severityText(s log.Severity) string {
	switch {
	case s >= log.SeverityError:
		return "ERROR"
	case s >= log.SeverityWarn:
		return "WARN"
	}
	return "INFO"
}

func putSpanID(sid *trace.SpanID, id uint64) {
	for i := 7; i >= 0; i-- {
		sid[i] = byte(id)
		id >>= 8
	}
}

// ShortDigest is a module digest as run records and the trace viewer
// show it: the algorithm and the first 12 hex digits.
func ShortDigest(d string) string {
	const p = len("sha256:")
	if len(d) >= p+12 {
		return d[:p+12]
	}
	return d
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
