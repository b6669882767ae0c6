package telemetry

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
)

// How host call spans are recorded.
//
// A WASI call can take well under a microsecond, and an SDK span costs
// several (tracer.Start and End allocate, sample, and lock the batch queue).
// So the wrapper of a WASI function does not create an SDK span: it fills
// in a small record on the guest's own stack (function, start, duration, fd,
// path, bytes, errno, a span ID from the runtime's per-thread random
// generator) and appends it to its run's chunk under the run's mutex. A
// full chunk goes to one exporter goroutine per Provider, which turns its
// records into finished spans (the same ReadOnlySpan the SDK's batch
// processor hands an exporter) and exports them in batches, off the
// guest's thread. Memory is bounded: when maxQueuedChunks are waiting, new
// chunks are dropped and counted.
//
// Host functions outside WASI (airlock's own: network, …) get real SDK
// spans, started from the call's context and put in the context they run
// with, so what they do can nest under them.

const (
	chunkSize       = 256 // host call records per chunk
	maxQueuedChunks = 64  // chunks waiting for the exporter goroutine: 16384 spans
	exportBatch     = 512 // spans per export
)

// fnInfo is one host function as the wrapper sees it.
type fnInfo struct {
	index                  uint32 // in Provider.fnList
	module, name, spanName string
	wasi                   bool
	args                   wasiArgs
	calls                  atomic.Int64 // calls so far, for airlock.host.calls
	attrs                  []attribute.KeyValue
	attrSet                attribute.Set
}

func (p *Provider) fnInfo(module, name string) *fnInfo {
	p.fnMu.Lock()
	defer p.fnMu.Unlock()
	key := module + "." + name
	if fi, ok := p.fns[key]; ok {
		return fi
	}
	fi := &fnInfo{module: module, name: name, spanName: key, wasi: module == host.WASIModule}
	if fi.wasi {
		fi.spanName = name
		fi.args = wasiArgsFor(name)
	}
	fi.attrs = []attribute.KeyValue{attribute.String(AttrHostModule, module), attribute.String(AttrHostFunction, name)}
	fi.attrSet = attribute.NewSet(fi.attrs...)
	p.fns[key] = fi
	// Records name their function by index, so that they hold no pointer.
	var list []*fnInfo
	if old := p.fnList.Load(); old != nil {
		list = append(list, (*old)...)
	}
	fi.index = uint32(len(list))
	list = append(list, fi)
	p.fnList.Store(&list)
	return fi
}

func (p *Provider) fn(i uint32) *fnInfo { return (*p.fnList.Load())[i] }

// Wrap puts a span around fn for every call made in a sampled run, and
// counts every call. It has the signature of hostfuncs.Wrap and is called
// once per host function when a runtime's host modules are built, never per
// call. In a run that is not sampled it costs one context lookup and one
// atomic add.
func (p *Provider) Wrap(module, name string, fn api.GoModuleFunction) api.GoModuleFunction {
	fi := p.fnInfo(module, name)
	if fi.wasi {
		return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			fi.calls.Add(1)
			if rs := runFrom(ctx); rs != nil && rs.sampled {
				rs.callWASI(ctx, fi, fn, mod, stack)
				return
			}
			fn.Call(ctx, mod, stack)
		})
	}
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		fi.calls.Add(1)
		if rs := runFrom(ctx); rs != nil && rs.sampled {
			rs.callSDK(ctx, fi, fn, mod, stack)
			return
		}
		fn.Call(ctx, mod, stack)
	})
}

type runKey struct{}

// runFrom returns the run state PrepareRun put in ctx, or nil.
func runFrom(ctx context.Context) *runState {
	rs, _ := ctx.Value(runKey{}).(*runState)
	return rs
}

// callRec is one WASI call, recorded on the guest's thread. It holds no
// pointer, so a chunk of them costs the garbage collector nothing to scan
// and copying one in needs no write barrier: the function is an index, the
// paths and the decision are indexes into its chunk.
type callRec struct {
	spanID      uint64
	start, dur  time.Duration // since the run's start
	fd          int64         // -1: none
	opened      int64         // -1: none
	bytes       int64         // -1: none
	exit        int64         // -1: none
	fn          uint32        // index in Provider.fnList
	tid         int32         // the guest thread (wasi-threads); -1: a run without threads
	errno       int32         // -1: none (a trap, proc_exit)
	path, path2 int32         // 1 + index in chunk.strs; 0: none
	dec         int32         // 1 + index in chunk.decs: the last denial made during the call, or the last decision
	ndec        int32
	trap        bool
}

// pendingDecision is a decision made during a host call, waiting for the
// call to end to be put on its span.
type pendingDecision struct {
	spanID uint64
	d      decision.Decision
}

func newSpanID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

func (rs *runState) callWASI(ctx context.Context, fi *fnInfo, fn api.GoModuleFunction, mod api.Module, stack []uint64) {
	a := &fi.args
	rec := callRec{fn: fi.index, fd: -1, opened: -1, bytes: -1, exit: -1, errno: -1, tid: -1}
	if tid, ok := host.ThreadFrom(ctx); ok {
		rec.tid = tid
	}
	n := int8(len(stack))
	if a.fd >= 0 && a.fd < n {
		rec.fd = int64(uint32(stack[a.fd]))
	}
	var path, path2 string
	if a.path >= 0 {
		path = guestString(mod, stack, a.path)
	}
	if a.path2 >= 0 {
		path2 = guestString(mod, stack, a.path2)
	}
	if a.lenParam >= 0 && a.lenParam < n {
		rec.bytes = int64(uint32(stack[a.lenParam]))
	}
	var nbPtr, openedPtr uint32
	if a.nbytes >= 0 && a.nbytes < n {
		nbPtr = uint32(stack[a.nbytes])
	}
	if a.opened >= 0 && a.opened < n {
		openedPtr = uint32(stack[a.opened])
	}
	if a.exit && n > 0 {
		rec.exit = int64(uint32(stack[0]))
	}
	rec.spanID = newSpanID()
	rs.begin(rec.spanID, rec.tid >= 0)
	rec.start = time.Since(rs.base)

	// proc_exit and traps leave fn by panicking: end the span, then let the
	// panic go on to wazero, which turns it into the exit or the trap.
	returned := false
	defer func() {
		if returned {
			return
		}
		r := recover()
		rec.dur = time.Since(rs.base) - rec.start
		var ee *sys.ExitError
		if err, ok := r.(error); ok && errors.As(err, &ee) {
			rec.exit = int64(ee.ExitCode())
		} else {
			rec.trap = true
		}
		rs.commit(&rec, path, path2)
		if r != nil {
			panic(r)
		}
	}()
	fn.Call(ctx, mod, stack)
	returned = true
	rec.dur = time.Since(rs.base) - rec.start
	if !a.exit && len(stack) > 0 {
		rec.errno = int32(uint32(stack[0]))
		if rec.errno == 0 {
			if a.nbytes >= 0 {
				if v, ok := guestU32(mod, nbPtr); ok {
					rec.bytes = int64(v)
				}
			}
			if a.opened >= 0 {
				if v, ok := guestU32(mod, openedPtr); ok {
					rec.opened = int64(v)
				}
			}
		}
	}
	rs.commit(&rec, path, path2)
}

// commit files a finished record in the run's chunk, with its paths and
// the decisions made during the call.
func (rs *runState) commit(rec *callRec, path, path2 string) {
	rs.mu.Lock()
	rs.endLocked(rec.spanID, rec.tid >= 0)
	if rs.closed {
		rs.mu.Unlock()
		return
	}
	c := rs.buf
	if c == nil {
		c = newChunk(rs)
		rs.buf = c
	}
	if path != "" {
		c.strs = append(c.strs, path)
		rec.path = int32(len(c.strs))
	}
	if path2 != "" {
		c.strs = append(c.strs, path2)
		rec.path2 = int32(len(c.strs))
	}
	if len(rs.pending) > 0 {
		rs.pending = takeDecisions(rs.pending, rec.spanID, func(d *decision.Decision) {
			rec.ndec++
			if rec.dec == 0 || !d.Allowed || c.decs[rec.dec-1].Allowed {
				c.decs = append(c.decs, *d)
				rec.dec = int32(len(c.decs))
			}
		})
	}
	c.recs = append(c.recs, *rec)
	if len(c.recs) < cap(c.recs) {
		rs.mu.Unlock()
		return
	}
	rs.buf = nil
	rs.mu.Unlock()
	rs.p.enqueue(c)
}

// takeDecisions calls f with each decision of pending made during span id
// and returns the rest.
func takeDecisions(pending []pendingDecision, id uint64, f func(*decision.Decision)) []pendingDecision {
	rest := pending[:0]
	for i := range pending {
		if pending[i].spanID == id {
			d := pending[i].d
			f(&d)
			continue
		}
		rest = append(rest, pending[i])
	}
	clear(pending[len(rest):])
	return rest
}

// callSDK runs a non-WASI host function inside a real SDK span, which it
// puts in the function's context.
func (rs *runState) callSDK(ctx context.Context, fi *fnInfo, fn api.GoModuleFunction, mod api.Module, stack []uint64) {
	attrs := fi.attrs
	tid, threaded := host.ThreadFrom(ctx)
	if threaded {
		attrs = append(attrs[:len(attrs):len(attrs)], attribute.Int64(AttrThread, int64(tid)))
	}
	ctx, span := rs.p.tracer.Start(ctx, fi.spanName, trace.WithAttributes(attrs...))
	sid := span.SpanContext().SpanID()
	id := binary.BigEndian.Uint64(sid[:])
	rs.begin(id, threaded)
	returned := false
	defer func() {
		if returned {
			return
		}
		r := recover()
		var ee *sys.ExitError
		if err, ok := r.(error); ok && errors.As(err, &ee) {
			span.SetAttributes(attribute.Int64(AttrExitCode, int64(ee.ExitCode())))
		} else {
			span.SetAttributes(attribute.Bool(AttrTrap, true))
			span.SetStatus(codes.Error, "trap")
		}
		rs.endSDK(span, id, threaded)
		if r != nil {
			panic(r)
		}
	}()
	fn.Call(ctx, mod, stack)
	returned = true
	rs.endSDK(span, id, threaded)
}

func (rs *runState) endSDK(span trace.Span, id uint64, threaded bool) {
	var last *decision.Decision
	var n int
	rs.mu.Lock()
	rs.endLocked(id, threaded)
	if len(rs.pending) > 0 {
		rs.pending = takeDecisions(rs.pending, id, func(d *decision.Decision) {
			n++
			if last == nil || !d.Allowed || last.Allowed {
				last = d
			}
		})
	}
	rs.mu.Unlock()
	if last != nil {
		span.SetAttributes(decisionAttrs(last, n)...)
	}
	span.End()
}

// chunk is a run's host call records, in call order, with the paths and
// decisions they refer to.
type chunk struct {
	rs   *runState
	recs []callRec
	strs []string
	decs []decision.Decision
}

func newChunk(rs *runState) *chunk {
	return &chunk{rs: rs, recs: make([]callRec, 0, chunkSize)}
}

// enqueue hands a chunk to the exporter goroutine, or drops it when the
// queue is full: the guest never waits for telemetry.
func (p *Provider) enqueue(c *chunk) {
	select {
	case p.calls <- c:
	default:
		p.dropped.Add(int64(len(c.recs)))
	}
}

type drainRequest struct {
	done  chan struct{}
	final bool
}

// exportCalls is the exporter goroutine of host call spans.
func (p *Provider) exportCalls() {
	var batch []sdktrace.ReadOnlySpan
	flush := func() {
		if len(batch) > 0 {
			ctx, cancel := context.WithTimeout(p.stopCtx, exportTimeout)
			err := p.spans.ExportSpans(ctx, batch)
			cancel()
			if err != nil {
				otel.Handle(err)
			}
		}
		clear(batch)
		batch = batch[:0]
	}
	add := func(c *chunk) {
		batch = appendSpans(batch, c)
		if len(batch) >= exportBatch {
			flush()
		}
	}
	for {
		select {
		case c := <-p.calls:
			add(c)
			if len(p.calls) == 0 {
				flush()
			}
		case req := <-p.drainReq:
			for more := true; more; {
				select {
				case c := <-p.calls:
					add(c)
				default:
					more = false
				}
			}
			flush()
			close(req.done)
			if req.final {
				close(p.exporterDone)
				return
			}
		}
	}
}

// drainCalls waits until every queued chunk is exported; final stops the
// exporter goroutine after.
func (p *Provider) drainCalls(ctx context.Context, final bool) error {
	req := drainRequest{done: make(chan struct{}), final: final}
	select {
	case p.drainReq <- req:
	case <-p.exporterDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendSpans turns a chunk's records into finished spans: one allocation
// per chunk; attributes are built when the exporter asks for them.
func appendSpans(out []sdktrace.ReadOnlySpan, c *chunk) []sdktrace.ReadOnlySpan {
	slab := make([]callSpan, len(c.recs))
	for i := range c.recs {
		slab[i] = callSpan{c: c, rec: &c.recs[i]}
		out = append(out, &slab[i])
	}
	return out
}

// callSpan is a finished host call span as an exporter reads it. It embeds
// the ReadOnlySpan interface only for its unexported method (the SDK's own
// tracetest.SpanStub does the same); every exported method is implemented
// here, from the call's record. Chunks are not reused, so an exporter may
// keep the spans it is given.
type callSpan struct {
	sdktrace.ReadOnlySpan
	c   *chunk
	rec *callRec
}

func (s *callSpan) Name() string { return s.c.rs.p.fn(s.rec.fn).spanName }

func (s *callSpan) SpanContext() trace.SpanContext {
	var sid trace.SpanID
	putSpanID(&sid, s.rec.spanID)
	return s.c.rs.sc.WithSpanID(sid)
}

func (s *callSpan) Parent() trace.SpanContext        { return s.c.rs.sc }
func (s *callSpan) SpanKind() trace.SpanKind         { return trace.SpanKindInternal }
func (s *callSpan) StartTime() time.Time             { return s.c.rs.base.Add(s.rec.start) }
func (s *callSpan) EndTime() time.Time               { return s.c.rs.base.Add(s.rec.start + s.rec.dur) }
func (s *callSpan) Attributes() []attribute.KeyValue { return callAttrs(s.c, s.rec) }
func (s *callSpan) Links() []sdktrace.Link           { return nil }
func (s *callSpan) Events() []sdktrace.Event         { return nil }
func (s *callSpan) Resource() *resource.Resource     { return s.c.rs.p.res }
func (s *callSpan) DroppedAttributes() int           { return 0 }
func (s *callSpan) DroppedLinks() int                { return 0 }
func (s *callSpan) DroppedEvents() int               { return 0 }
func (s *callSpan) ChildSpanCount() int              { return 0 }
func (s *callSpan) InstrumentationScope() instrumentation.Scope {
	return instrumentation.Scope{Name: ScopeName, Version: s.c.rs.p.cfg.ServiceVersion}
}

// InstrumentationLibrary is deprecated but still part of the
// sdktrace.ReadOnlySpan interface.
//
//lint:ignore SA1019 the interface requires it
func (s *callSpan) InstrumentationLibrary() instrumentation.Library {
	//lint:ignore SA1019 the interface requires it
	return instrumentation.Library{Name: ScopeName, Version: s.c.rs.p.cfg.ServiceVersion}
}

func (s *callSpan) Status() sdktrace.Status {
	if s.rec.trap {
		return sdktrace.Status{Code: codes.Error, Description: "trap"}
	}
	return sdktrace.Status{}
}

func callAttrs(c *chunk, r *callRec) []attribute.KeyValue {
	fi := c.rs.p.fn(r.fn)
	a := make([]attribute.KeyValue, 0, 8)
	a = append(a, fi.attrs...)
	if r.fd >= 0 {
		a = append(a, attribute.Int64(AttrFD, r.fd))
	}
	str := func(i int32) string {
		if i == 0 {
			return ""
		}
		return c.strs[i-1]
	}
	if fi.args.path >= 0 {
		a = append(a, attribute.String(AttrPath, str(r.path)))
	}
	if fi.args.path2 >= 0 {
		a = append(a, attribute.String(AttrPathNew, str(r.path2)))
	}
	if r.bytes >= 0 {
		a = append(a, attribute.Int64(AttrBytes, r.bytes))
	}
	if r.opened >= 0 {
		a = append(a, attribute.Int64(AttrOpenedFD, r.opened))
	}
	if r.errno >= 0 {
		a = append(a, attribute.String(AttrErrno, ErrnoName(uint32(r.errno))))
	}
	if r.exit >= 0 {
		a = append(a, attribute.Int64(AttrExitCode, r.exit))
	}
	if r.trap {
		a = append(a, attribute.Bool(AttrTrap, true))
	}
	if r.tid >= 0 {
		a = append(a, attribute.Int64(AttrThread, int64(r.tid)))
	}
	if r.dec > 0 {
		a = append(a, decisionAttrs(&c.decs[r.dec-1], int(r.ndec))...)
	}
	return a
}

// decisionAttrs are the attributes of a decision on the span of the host
// call that caused it; n is how many the call caused.
func decisionAttrs(d *decision.Decision, n int) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attribute.String(AttrDecision, outcome(d.Allowed)),
		attribute.String(AttrDecisionKind, string(d.Kind)),
		attribute.String(AttrDecisionOp, d.Op),
		attribute.String(AttrDecisionTarget, d.Target),
		attribute.String(AttrDecisionSource, string(d.Source)),
	}
	if d.Rule != "" {
		a = append(a, attribute.String(AttrDecisionRule, d.Rule))
	}
	if d.Origin != "" {
		a = append(a, attribute.String(AttrDecisionOrigin, d.Origin))
	}
	if n > 1 {
		a = append(a, attribute.Int(AttrDecisions, n))
	}
	return a
}

func outcome(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}

// Which host call a decision belongs to. A decision is made on the
// guest's host call, but the gate that makes it knows nothing of the call,
// so the run keeps the call in progress: in a run without threads there is
// at most one, in current. In a run with threads (wasi-threads) calls of
// several threads overlap, so each call in progress is kept in inflight,
// and a decision goes on a call's span only while that call is the only
// one in progress (then it is surely the one that made it); otherwise it
// becomes an event of the run span, never an attribute of the wrong call.

// begin marks call id in progress.
func (rs *runState) begin(id uint64, threaded bool) {
	if !threaded {
		rs.current.Store(id)
		return
	}
	rs.mu.Lock()
	if rs.inflight == nil {
		rs.inflight = map[uint64]struct{}{}
	}
	rs.inflight[id] = struct{}{}
	rs.threaded.Store(true)
	rs.mu.Unlock()
}

// endLocked marks call id ended; rs.mu is held.
func (rs *runState) endLocked(id uint64, threaded bool) {
	if threaded {
		delete(rs.inflight, id)
		return
	}
	rs.current.Store(0)
}

// callInProgress returns the span ID of the host call a decision made now
// belongs to, 0 when it cannot be told.
func (rs *runState) callInProgress() uint64 {
	if !rs.threaded.Load() {
		return rs.current.Load()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.inflight) != 1 {
		return 0
	}
	for id := range rs.inflight {
		return id
	}
	return 0
}
