package hostfuncs

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// Source says who made a decision.
type Source string

const (
	SourceRule     Source = "rule"     // a policy rule, or a built-in default rule
	SourceGrant    Source = "grant"    // a remembered grant
	SourceUser     Source = "user"     // a person answered a prompt
	SourceHeadless Source = "headless" // nobody could be asked; the policy's headless answer
	SourceRevoked  Source = "revoked"  // the run was stopped; every capability is gone
	// SourceUnrecorded is a decision the recorder could not record (the
	// audit log's disk is full): it is denied, whatever it would have been,
	// and every later one is revoked.
	SourceUnrecorded Source = "unrecorded"
)

// Request is a question the host puts to the gate before it acts for a guest.
type Request struct {
	Kind   string         // capability kind: "fs.read", "fs.write", "net.connect", ...
	Op     string         // the operation asked for: "open", "rename", "connect", ...
	Target string         // what it touches: a guest path, or host:port
	Policy policy.Verdict // what the policy says: allow, deny, or ask
	Rule   string         // the rule that decided, in words: `protect ".git"`
	Origin policy.Origin  // where that rule is written
}

// Decision is a Request with its final answer. It is the one record type
// that the audit log, the run report and telemetry consume.
type Decision struct {
	Time    time.Time      `json:"time"`
	Kind    string         `json:"kind"`
	Op      string         `json:"op"`
	Target  string         `json:"target"`
	Verdict policy.Verdict `json:"-"`
	Allowed bool           `json:"allowed"`
	Source  Source         `json:"source"`
	Rule    string         `json:"rule,omitempty"`
	Origin  string         `json:"origin,omitempty"`
	Errno   string         `json:"errno,omitempty"`
}

// Asker answers the requests a policy leaves open ("ask"). The approvals
// package implements it with a terminal prompt, an MCP elicitation or the
// headless answer. It must be safe for concurrent use and must honour ctx.
type Asker interface {
	Ask(ctx context.Context, r Request) (allow bool, source Source)
}

// Recorder receives every decision before it takes effect. It must be safe
// for concurrent use and must not block for long: it runs on the guest's
// host call. It returns an error when the decision could not be recorded
// (the audit log could not be written): the gate then denies it, and
// revokes every capability of the run, so that the guest never acts on a
// decision that left no record.
type Recorder func(Decision) error

// Gate is the single interception point for decisions. Every host function
// that acts on a policy (filesystem, network, environment) asks the gate and
// the gate records the answer.
type Gate struct {
	ctx     context.Context
	asker   Asker
	record  Recorder
	revoked atomic.Bool

	mu        sync.Mutex
	decisions []Decision
}

// NewGate returns a gate. A nil asker denies every "ask" (no approval
// channel means deny); a nil recorder only keeps decisions in memory.
func NewGate(ctx context.Context, asker Asker, record Recorder) *Gate {
	return &Gate{ctx: ctx, asker: asker, record: record}
}

// Decide answers r and records the decision. errno is what the guest will be
// told on a denial, kept in the record.
func (g *Gate) Decide(r Request, errno string) bool {
	d := Decision{Time: time.Now(), Kind: r.Kind, Op: r.Op, Target: r.Target, Verdict: r.Policy,
		Rule: r.Rule, Origin: r.Origin.String(), Source: SourceRule}
	switch {
	case g.revoked.Load():
		d.Source = SourceRevoked
	case r.Policy == policy.Allow:
		d.Allowed = true
	case r.Policy == policy.Ask && g.asker != nil:
		d.Allowed, d.Source = g.asker.Ask(g.ctx, r)
	case r.Policy == policy.Ask:
		d.Source = SourceHeadless
	}
	if !d.Allowed {
		d.Errno = errno
	}
	return g.add(d, errno)
}

// Note records a decision that was made elsewhere (for example by a policy
// rule with no alternative) without asking. If it cannot be recorded, the
// run's capabilities are revoked from then on.
func (g *Gate) Note(r Request, allowed bool, errno string) {
	d := Decision{Time: time.Now(), Kind: r.Kind, Op: r.Op, Target: r.Target, Verdict: r.Policy,
		Allowed: allowed, Rule: r.Rule, Origin: r.Origin.String(), Source: SourceRule}
	if !allowed {
		d.Errno = errno
	}
	g.add(d, errno)
}

// add records d and keeps it; it returns whether d stands as allowed. A
// decision the recorder refuses is kept as a denial (SourceUnrecorded) and
// revokes the run: nothing the guest does may go unrecorded.
func (g *Gate) add(d Decision, errno string) bool {
	if g.record != nil {
		if err := g.record(d); err != nil {
			g.revoked.Store(true)
			d.Allowed, d.Source, d.Errno = false, SourceUnrecorded, errno
		}
	}
	g.mu.Lock()
	g.decisions = append(g.decisions, d)
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
func (g *Gate) Decisions() []Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Decision(nil), g.decisions...)
}
