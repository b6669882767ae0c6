package approvals

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Why a question is asked; shown in the prompt.
const (
	WhyAtUse    = "The tool is asking, now, for"
	WhyManifest = "The tool's manifest requests, beyond the policy,"
	WhyFailed   = "The tool failed after these were denied. Run it again with them granted?"
)

// Config configures a Broker.
type Config struct {
	// Approver asks a person (a terminal, an MCP client). Nil, or an
	// Approver that returns ErrCannotAsk, means the Headless answer.
	Approver Approver
	// Headless is what a question gets when nobody can be asked: the
	// policy's approvals.headless (Deny or Allow).
	Headless policy.Verdict
	// Grants are the remembered answers. Nil means nothing is remembered,
	// and the prompt does not offer "always allow" or "always deny".
	Grants *Grants
	// Audit receives a record of every decision. Nil means none is kept.
	Audit *AuditLog
	// AuditFailure is what a decision that Audit cannot record does
	// (approvals.audit_failure): policy.AuditStop, which the zero value
	// also means, denies it: the run's Recorder returns an
	// *UnrecordedError, on which the gate revokes the run; a manifest's
	// requests are then not granted and a rerun is not offered.
	// policy.AuditContinue lets the decision stand unrecorded.
	AuditFailure policy.AuditFailure
	// OnAuditError, if set, is called once, with the first record Audit
	// could not write, so that it can be said at once (in either mode).
	OnAuditError func(error)
	// Ceiling is the managed layer, for what a tool requests before it
	// runs (Run.Escalate): a capability it refuses is never offered.
	Ceiling policy.Ceiling
}

// Broker answers questions for any number of runs: one prompt at a time, and
// the same question, waiting twice, asked once (both get the answer).
// It is safe for concurrent use; one Broker serves a process.
type Broker struct {
	cfg      Config
	approver Approver
	turn     chan struct{} // held while a question is being put

	mu      sync.Mutex
	pending map[string]*pending

	auditOnce sync.Once
}

// UnrecordedError is a decision that could not be written to the audit log,
// and so was not allowed to stand (approvals.audit_failure = "stop").
type UnrecordedError struct{ Err error }

func (e *UnrecordedError) Error() string {
	return "a decision could not be recorded: " + e.Err.Error()
}

func (e *UnrecordedError) Unwrap() error { return e.Err }

type pending struct {
	done    chan struct{}
	ans     Answer
	waiters int
	cancel  context.CancelCauseFunc
}

// NewBroker returns a Broker.
func NewBroker(cfg Config) *Broker {
	return &Broker{
		cfg:      cfg,
		approver: Chain(cfg.Approver, Headless(cfg.Headless)),
		turn:     make(chan struct{}, 1),
		pending:  map[string]*pending{},
	}
}

// Grants returns the broker's remembered grants (nil when none are kept).
func (b *Broker) Grants() *Grants { return b.cfg.Grants }

// offer is the choices a question about items may be answered with:
// "always" ones only with a grants file, and "always allow in folder" only
// for one write of a file.
func (b *Broker) offer(items ...Item) []Choice {
	if b.cfg.Grants == nil {
		return []Choice{AllowOnce, AllowRun, Deny}
	}
	if len(items) == 1 && items[0].Folder() != "" {
		return Choices
	}
	return []Choice{Deny, AllowOnce, AllowRun, AlwaysAllow, AlwaysDeny}
}

// ask puts q to the approver, in turn, and returns the answer; any failure
// is a deny. Waiters for the same question share one prompt; the prompt is
// withdrawn when every waiter has gone (its run ended).
func (b *Broker) ask(ctx context.Context, q Question) Answer {
	key := q.key()
	b.mu.Lock()
	p := b.pending[key]
	if p == nil {
		pctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		p = &pending{done: make(chan struct{}), cancel: cancel}
		b.pending[key] = p
		go b.settle(pctx, key, p, q)
	}
	p.waiters++
	b.mu.Unlock()

	select {
	case <-p.done:
		return p.ans
	case <-ctx.Done():
		b.mu.Lock()
		p.waiters--
		last := p.waiters == 0
		if last {
			if b.pending[key] == p {
				delete(b.pending, key)
			}
			// The prompt closes saying why: the last waiter's cause.
			p.cancel(context.Cause(ctx))
		}
		b.mu.Unlock()
		if last {
			// Let the prompt close (and say so on its terminal) before
			// the run goes on to end: an Approver returns soon after its
			// context ends.
			select {
			case <-p.done:
			case <-time.After(closeWait):
			}
		}
		return withdrawn(ctx, decision.SourceUser)
	}
}

// closeWait bounds how long a withdrawn question waits for its prompt to close.
const closeWait = 5 * time.Second

func (b *Broker) settle(ctx context.Context, key string, p *pending, q Question) {
	defer p.cancel(nil)
	var ans Answer
	select {
	case b.turn <- struct{}{}:
		ans = b.put(ctx, q)
		<-b.turn
	case <-ctx.Done():
		ans = withdrawn(ctx, decision.SourceUser)
		ans.Note = "withdrawn before it was asked: " + ans.Note
	}
	b.mu.Lock()
	if b.pending[key] == p {
		delete(b.pending, key)
	}
	p.ans = ans
	b.mu.Unlock()
	close(p.done)
}

// put asks the approver and checks the answer.
func (b *Broker) put(ctx context.Context, q Question) Answer {
	ans, err := b.approver.Approve(ctx, q)
	if ans.Ended == "" && ctx.Err() != nil && ans.Source != decision.SourceHeadless {
		w := withdrawn(ctx, ans.Source)
		ans.Ended = w.Ended
		if ans.Note == "" {
			ans.Note = w.Note
		}
	}
	switch {
	case err != nil:
		note := err.Error()
		if ans.Note != "" {
			note = ans.Note
		}
		return Answer{Choice: Deny, Source: orSource(ans.Source, decision.SourceUser), Note: note, Ended: ans.Ended}
	case !q.Offers(ans.Choice):
		return Answer{Choice: Deny, Source: ans.Source, Note: fmt.Sprintf("%q was not offered", ans.Choice), Ended: ans.Ended}
	}
	if ans.Source == "" {
		ans.Source = decision.SourceUser
	}
	if ans.Choice.Remembered() && b.cfg.Grants != nil {
		for _, it := range q.Items {
			g := Grant{Allow: ans.Choice.Allows(), Kind: it.Kind, Target: it.Scope(), Digest: q.Digest, Tool: q.Tool}
			if ans.Choice == AlwaysAllowFolder {
				g.Target, g.Scope = it.Folder(), ScopeFolder
			}
			if err := b.cfg.Grants.Remember(g); err != nil {
				ans.Note = "not remembered: " + err.Error()
			}
		}
	}
	return ans
}

func orSource(s, def decision.Source) decision.Source {
	if s == "" {
		return def
	}
	return s
}

// RunInfo identifies one tool run.
type RunInfo struct {
	Tool   string      // the tool's name
	Digest string      // its module's digest
	Mode   policy.Mode // the approval mode; empty means on-request
	Args   []string    // its arguments: only their count and length reach the audit log
}

// Run answers the questions of one tool run: it is the decision.Asker the
// runtime's gate calls, and its Record method is the run's Recorder. Make
// one per run with Broker.NewRun. It is safe for concurrent use.
type Run struct {
	b    *Broker
	info RunInfo
	id   string

	mu         sync.Mutex
	memory     map[string]Answer // item key -> the answer for the rest of the run
	answers    map[string]Answer // item key -> the last answer, for the audit record
	denied     []Item            // asks denied without asking (on-failure)
	deniedKeys map[string]bool   // the keys of denied: each is kept once
	unrecorded error             // the first record the audit log could not write
}

var _ decision.Asker = (*Run)(nil)

// NewRun returns the Asker and Recorder for one run.
func (b *Broker) NewRun(info RunInfo) *Run {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Run{b: b, info: info, id: hex.EncodeToString(id[:]),
		memory: map[string]Answer{}, answers: map[string]Answer{}}
}

// ID is the run's identifier in the audit log.
func (r *Run) ID() string { return r.id }

// Ask answers a request the policy leaves open ("ask"). What the managed
// ceiling denies never gets here: the policy denies it outright. In order:
// an answer given earlier in this run for the same capability stands; a
// remembered grant for the capability and this module answers; then the
// mode decides: never denies, on-failure denies and keeps the request for
// Denied, and untrusted and on-request ask, through the broker's queue.
func (r *Run) Ask(ctx context.Context, req decision.Request) decision.Reply {
	it := Item{Kind: req.Kind, Op: req.Op, Target: req.Target, Rule: req.Rule, Origin: req.Origin}
	ans := r.answer(ctx, it)
	r.mu.Lock()
	r.answers[it.Key()] = ans
	r.mu.Unlock()
	return decision.Reply{Allowed: ans.Choice.Allows(), Source: ans.Source, Ended: ans.Ended}
}

func (r *Run) answer(ctx context.Context, it Item) Answer {
	key := it.Key()
	r.mu.Lock()
	prev, ok := r.memory[key]
	r.mu.Unlock()
	if ok {
		prev.Ended = "" // answered earlier in the run: nobody is asked now
		return prev
	}
	if g, ok := r.b.cfg.Grants.Lookup(it.Kind, it.Scope(), r.info.Digest); ok {
		c := AlwaysDeny
		switch {
		case g.Allow && g.Scope == ScopeFolder:
			c = AlwaysAllowFolder
		case g.Allow:
			c = AlwaysAllow
		}
		return Answer{Choice: c, Source: decision.SourceGrant, Note: "grant " + g.ID + " (" + g.File + ")"}
	}
	switch r.info.Mode {
	case policy.ModeNever:
		return Answer{Choice: Deny, Source: decision.SourceRule, Note: `approvals.mode = "never"`}
	case policy.ModeOnFailure:
		r.mu.Lock()
		if !r.deniedKeys[key] {
			if r.deniedKeys == nil {
				r.deniedKeys = map[string]bool{}
			}
			r.deniedKeys[key] = true
			r.denied = append(r.denied, it)
		}
		r.mu.Unlock()
		return Answer{Choice: Deny, Source: decision.SourceRule, Note: `approvals.mode = "on-failure": offered again if the tool fails`}
	}
	ans := r.b.ask(ctx, Question{Tool: r.info.Tool, Digest: r.info.Digest, Items: []Item{it}, Why: WhyAtUse, Offer: r.b.offer(it)})
	switch ans.Choice {
	case AllowRun, AlwaysAllow, AlwaysAllowFolder, Deny, AlwaysDeny:
		if ctx.Err() == nil {
			r.mu.Lock()
			r.memory[key] = ans
			r.mu.Unlock()
		}
	}
	return ans
}

// Denied returns what was denied without asking in on-failure mode, in the
// order it was first asked for.
func (r *Run) Denied() []Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Item(nil), r.denied...)
}

// Allow grants items for the rest of this run, as if a person had
// answered "allow for this run" (the on-failure rerun).
func (r *Run) Allow(items []Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range items {
		r.memory[it.Key()] = Answer{Choice: AllowRun, Source: decision.SourceUser, Note: "granted for the rerun"}
	}
}

// OfferRerun asks, after a run in on-failure mode failed, whether to run the
// tool again with items granted. AllowOnce and AllowRun both mean: rerun
// once with them; AlwaysAllow also remembers them. The answer is recorded in
// the audit log; an answer that could not be recorded is a deny (unless
// approvals.audit_failure = "continue").
func (r *Run) OfferRerun(ctx context.Context, items []Item) Answer {
	ans := r.b.ask(ctx, Question{Tool: r.info.Tool, Digest: r.info.Digest, Items: items, Why: WhyFailed, Offer: r.b.offer(items...)})
	var unrecorded error
	for _, it := range items {
		err := r.write(decision.Decision{Time: time.Now(), Kind: it.Kind, Op: "rerun", Target: it.Target, Verdict: policy.Ask,
			Allowed: ans.Choice.Allows(), Source: ans.Source, Rule: it.Rule, Origin: it.Origin.String(), Ended: ans.Ended}, ans)
		if unrecorded == nil {
			unrecorded = err
		}
	}
	if unrecorded != nil {
		return Answer{Choice: Deny, Source: decision.SourceUnrecorded, Note: unrecorded.Error(), Ended: ans.Ended}
	}
	return ans
}

// Unrecorded returns the first of the run's decisions that the audit log
// could not record, as an *UnrecordedError, or nil. With
// approvals.audit_failure = "continue" it stays nil: nothing was denied
// for it.
func (r *Run) Unrecorded() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unrecorded
}

// Record is the run's decision.Recorder: it writes d to the audit log with
// the answer behind it, if any, and returns an *UnrecordedError when the
// record could not be written and approvals.audit_failure is "stop". Chain
// it with other recorders as needed.
func (r *Run) Record(d decision.Decision) error {
	var ans Answer
	if d.Source != decision.SourceRule || d.Verdict == policy.Ask {
		key := Item{Kind: d.Kind, Target: d.Target}.Key()
		r.mu.Lock()
		ans = r.answers[key]
		delete(r.answers, key)
		r.mu.Unlock()
	}
	return r.write(d, ans)
}

// write appends d to the audit log. A record that cannot be written is an
// *UnrecordedError, unless approvals.audit_failure is "continue".
func (r *Run) write(d decision.Decision, ans Answer) error {
	if r.b.cfg.Audit == nil {
		return nil
	}
	rec := AuditRecord{
		Time: d.Time, Run: r.id, Tool: r.info.Tool, Digest: r.info.Digest,
		Kind: d.Kind, Op: d.Op, Target: d.Target,
		Decision: "deny", Source: string(d.Source),
		Rule: d.Rule, Origin: d.Origin, Layer: layerOf(d.Origin), Errno: d.Errno,
		Note: ans.Note, Ended: string(d.Ended), Args: redact(r.info.Args),
	}
	if d.Allowed {
		rec.Decision = "allow"
	}
	if d.Source == decision.SourceUser || d.Source == decision.SourceGrant || d.Source == decision.SourceHeadless {
		rec.Answer = ans.Choice.String()
	}
	if d.Source == decision.SourceGrant {
		rec.Layer = string(policy.LayerGrant)
	}
	err := r.b.cfg.Audit.Write(rec)
	if err == nil {
		return nil
	}
	if f := r.b.cfg.OnAuditError; f != nil {
		r.b.auditOnce.Do(func() { f(err) })
	}
	if r.b.cfg.AuditFailure == policy.AuditContinue {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unrecorded == nil {
		r.unrecorded = &UnrecordedError{Err: err}
	}
	return r.unrecorded
}
