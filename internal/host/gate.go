package host

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Gate is the single interception point for decisions. Every host function
// that acts on a policy (filesystem, network, environment) asks the gate and
// the gate records the answer.
type Gate struct {
	run     context.Context // the run's context, as given to NewGate
	ctx     context.Context // run's child; ended by End
	cancel  context.CancelCauseFunc
	asker   decision.Asker
	record  decision.Recorder
	revoked atomic.Bool
	observe atomic.Pointer[func(decision.Use)] // learn mode's observer (use.go), or nil

	mu        sync.Mutex
	decisions []decision.Decision
	full      bool                   // maxDecisions reached: nothing more is kept
	asking    map[*openQuestion]bool // questions open now
	recording int                    // decisions being recorded now (add)
	idle      chan struct{}          // closed when both drop to 0 while End waits
	onEnd     []func()
}

// NewGate returns a gate for a run whose context is ctx. A nil asker
// denies every "ask" (no approval channel means deny); a nil recorder only
// keeps decisions in memory. Call End when the run is over.
func NewGate(ctx context.Context, asker decision.Asker, record decision.Recorder) *Gate {
	g := &Gate{run: ctx, asker: asker, record: record}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	return g
}

// Decide answers r and records the decision. errno is what the guest will be
// told on a denial, kept in the record.
func (g *Gate) Decide(r decision.Request, errno string) bool {
	return g.DecideContext(g.ctx, r, errno)
}

// endWait bounds how long End waits for open questions: an Asker must
// return once its context ends, so this only guards against one that
// does not.
const endWait = 10 * time.Second

// DecideContext is Decide for a request with a context of its own, which
// the tool can withdraw (an HTTP request's timeout): a question still open
// when ctx ends is closed as cancelled, and one open when the run ends as
// run-ended. Either way the decision is recorded.
func (g *Gate) DecideContext(ctx context.Context, r decision.Request, errno string) bool {
	d := decision.Decision{Time: time.Now(), Kind: r.Kind, Op: r.Op, Target: r.Target, Verdict: r.Policy,
		Rule: r.Rule, Origin: r.Origin.String(), Source: decision.SourceRule}
	switch {
	case g.revoked.Load():
		d.Source = decision.SourceRevoked
	case r.Policy == policy.Allow:
		d.Allowed = true
	case r.Policy == policy.Ask && g.asker != nil:
		g.mu.Lock()
		if g.revoked.Load() {
			g.mu.Unlock()
			d.Source = decision.SourceRevoked
			break
		}
		q := g.open(ctx)
		g.mu.Unlock()
		rep := g.asker.Ask(q.ctx, r)
		d.Allowed, d.Source, d.Ended = rep.Allowed, rep.Source, rep.Ended
		if d.Source == "" {
			d.Source = decision.SourceUser
		}
		defer g.close(q)
	case r.Policy == policy.Ask:
		d.Source = decision.SourceHeadless
	}
	if !d.Allowed {
		d.Errno = errno
	}
	return g.add(d, errno)
}

// openQuestion is a question being asked: its context ends when the run
// ends (with the run's cause) or when req, the request's own context,
// ends first (cause ErrWithdrawn).
type openQuestion struct {
	req    context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   func() bool
}

// open opens a question for a request with context req. g.mu is held.
func (g *Gate) open(req context.Context) *openQuestion {
	q := &openQuestion{req: req}
	q.ctx, q.cancel = context.WithCancelCause(g.ctx)
	if req != nil && req != g.ctx {
		q.stop = context.AfterFunc(req, func() { q.cancel(decision.ErrWithdrawn) })
	}
	if g.asking == nil {
		g.asking = map[*openQuestion]bool{}
	}
	g.asking[q] = true
	return q
}

// close counts a question closed, after its decision is recorded.
func (g *Gate) close(q *openQuestion) {
	if q.stop != nil {
		q.stop()
	}
	q.cancel(nil)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.asking, q)
	g.wakeEnd()
}

// wakeEnd wakes an End waiting for open questions and records in progress
// once there are none. g.mu is held.
func (g *Gate) wakeEnd() {
	if len(g.asking) == 0 && g.recording == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// OnEnd registers f to run in End, after open questions are closed and
// before End returns (a mount discards what was left provisional).
func (g *Gate) OnEnd(f func()) {
	g.mu.Lock()
	g.onEnd = append(g.onEnd, f)
	g.mu.Unlock()
}

// End ends the run's decisions: capabilities are revoked, questions still
// open are closed (their context ends with cause, unless the run's context
// has already ended with its own) and recorded, decisions being recorded
// are waited for, and the OnEnd functions run. When End returns, Decisions
// holds every decision of the run (a recorder that fails may end the run
// itself, before the decision it refused is kept). It is safe to call more
// than once.
func (g *Gate) End(cause error) {
	// A context closes its Done channel before it tells its children, so
	// the run can see its time limit pass (and call End) before the
	// gate's context has heard: the run's own cause must still win.
	if c := context.Cause(g.run); c != nil {
		cause = c
	}
	g.mu.Lock()
	g.revoked.Store(true)
	// A request the tool had already withdrawn stays withdrawn, though
	// the run's end may be seen first.
	for q := range g.asking {
		if q.req != nil && q.req != g.ctx && q.req.Err() != nil {
			q.cancel(decision.ErrWithdrawn)
		}
	}
	g.cancel(cause)
	var idle chan struct{}
	if len(g.asking) > 0 || g.recording > 0 {
		if g.idle == nil {
			g.idle = make(chan struct{})
		}
		idle = g.idle
	}
	ends := g.onEnd
	g.onEnd = nil
	g.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-time.After(endWait):
		}
	}
	for _, f := range ends {
		f()
	}
}

// Note records a decision that was made elsewhere (for example by a policy
// rule with no alternative) without asking. If it cannot be recorded, the
// run's capabilities are revoked from then on.
func (g *Gate) Note(r decision.Request, allowed bool, errno string) {
	d := decision.Decision{Time: time.Now(), Kind: r.Kind, Op: r.Op, Target: r.Target, Verdict: r.Policy,
		Allowed: allowed, Rule: r.Rule, Origin: r.Origin.String(), Source: decision.SourceRule}
	if !allowed {
		d.Errno = errno
	}
	g.add(d, errno)
}

// maxDecisions bounds the decisions of one run. Every refusal is one, and
// a tool can ask for refused things in a loop as fast as it likes (about
// 75,000 a second), each kept in memory for the report and written to the
// audit log; 300,000 took 770 MB of airlock's memory. The decision after
// the last one revokes every capability of the run and is recorded, saying
// so; nothing after it is kept (a revoked run's refusals are not recorded
// anyway).
const maxDecisions = 100_000

// decisionsRule is the Rule of the decision that ends a run's decisions.
var decisionsRule = fmt.Sprintf("at most %d decisions per run: every capability revoked", maxDecisions)

// add records d and keeps it; it returns whether d stands as allowed. A
// decision the recorder refuses is kept as a denial (SourceUnrecorded) and
// revokes the run: nothing the guest does may go unrecorded.
func (g *Gate) add(d decision.Decision, errno string) bool {
	g.mu.Lock()
	if g.full {
		g.mu.Unlock()
		return false
	}
	if len(g.decisions) >= maxDecisions {
		// The one record of the end, in place of d.
		g.full = true
		g.revoked.Store(true)
		d = decision.Decision{Time: d.Time, Kind: decision.LimitsDecisions, Op: "record", Target: "the run", Verdict: policy.Deny,
			Source: decision.SourceRule, Rule: decisionsRule, Origin: policy.Origin{Layer: policy.LayerBuiltin}.String(), Errno: errno}
		g.decisions = append(g.decisions, d)
		g.mu.Unlock()
		if g.record != nil {
			g.record(d) // the run is revoked whether or not this is written
		}
		return false
	}
	g.recording++
	g.mu.Unlock()
	if g.record != nil {
		if err := g.record(d); err != nil {
			g.revoked.Store(true)
			d.Allowed, d.Source, d.Errno = false, decision.SourceUnrecorded, errno
		}
	}
	g.mu.Lock()
	g.decisions = append(g.decisions, d)
	g.recording--
	g.wakeEnd()
	g.mu.Unlock()
	return d.Allowed
}

// Revoke withdraws every capability: from now on host functions refuse all
// work. The runtime calls it when a run is stopped (timeout, cancellation)
// so a guest left running cannot act any more.
func (g *Gate) Revoke() { g.revoked.Store(true) }

// Revoked reports whether Revoke was called. Host functions check it first.
func (g *Gate) Revoked() bool { return g.revoked.Load() }

// Decisions returns a copy of every decision so far.
func (g *Gate) Decisions() []decision.Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]decision.Decision(nil), g.decisions...)
}
