package decision

import (
	"context"
	"errors"
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

// Request is a question the host puts to the gate (the Gate of a
// hostfuncs.Run) before it acts for a guest.
type Request struct {
	Kind   Kind           // the capability: FSRead, FSWrite, NetConnect, ...
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
	Kind    Kind           `json:"kind"`
	Op      string         `json:"op"`
	Target  string         `json:"target"`
	Verdict policy.Verdict `json:"-"`
	Allowed bool           `json:"allowed"`
	Source  Source         `json:"source"`
	Rule    string         `json:"rule,omitempty"`
	Origin  string         `json:"origin,omitempty"`
	Errno   string         `json:"errno,omitempty"`
	// Ended says how the question behind the decision ended, when a
	// person was asked (a prompt, an MCP elicitation): answered,
	// timed-out, cancelled, interrupted or run-ended. Empty when nobody
	// was asked (a rule, a grant, the headless answer).
	Ended Ended `json:"ended,omitempty"`
}

// Ended says how a question put to a person ended. Every question ends in
// a decision, whichever way it ends (docs/approvals.md).
type Ended string

const (
	EndedAnswered    Ended = "answered"    // the person chose an answer
	EndedTimedOut    Ended = "timed-out"   // nobody answered within approvals.timeout
	EndedCancelled   Ended = "cancelled"   // the tool withdrew its request (its own timeout) before an answer
	EndedInterrupted Ended = "interrupted" // ctrl+c at the prompt, or SIGINT to airlock
	EndedRunEnded    Ended = "run-ended"   // the run ended first: the tool exited, its time limit, SIGTERM, the MCP call ended
)

// Causes of a question's context ending, for EndedBy. A caller that stops
// a run because of ctrl+c cancels its context with a cause that
// errors.Is ErrInterrupted.
var (
	ErrInterrupted = errors.New("interrupted")
	ErrWithdrawn   = errors.New("the tool withdrew its request")
	ErrRunEnded    = errors.New("the tool's run ended")
)

// EndedBy says how a question whose context ctx ended before an answer
// ended, and why in words: interrupted (the cause is ErrInterrupted),
// cancelled (ErrWithdrawn) or, for any other cause, run-ended.
func EndedBy(ctx context.Context) (Ended, string) {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return "", ""
	case errors.Is(cause, ErrInterrupted):
		return EndedInterrupted, "interrupted before an answer"
	case errors.Is(cause, ErrWithdrawn):
		return EndedCancelled, "the tool withdrew its request before an answer (its own timeout)"
	case errors.Is(cause, context.DeadlineExceeded):
		return EndedRunEnded, "the run's time limit passed before an answer"
	case errors.Is(cause, ErrRunEnded):
		return EndedRunEnded, "the tool's run ended before an answer"
	}
	return EndedRunEnded, "the run ended before an answer: " + cause.Error()
}

// Reply is an Asker's answer to one request.
type Reply struct {
	Allowed bool
	Source  Source // who answered
	Ended   Ended  // how the question ended, when a person was asked
}

// Asker answers the requests a policy leaves open ("ask"). Package
// approvals implements it with a terminal prompt, an MCP elicitation or the
// headless answer. It must be safe for concurrent use and must honour ctx:
// when ctx ends before an answer, Ask returns a denial at once, with Ended
// as EndedBy(ctx) says.
type Asker interface {
	Ask(ctx context.Context, r Request) Reply
}

// Recorder receives every decision before it takes effect (the audit log,
// telemetry, a run's report). It must be safe
// for concurrent use and must not block for long: it runs on the guest's
// host call. It returns an error when the decision could not be recorded
// (the audit log could not be written): the gate then denies it, and
// revokes every capability of the run, so that the guest never acts on a
// decision that left no record.
type Recorder func(Decision) error
