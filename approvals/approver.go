// Package approvals owns the answers to the questions a policy leaves open:
// the Approver interface and its implementations (a terminal prompt built
// with huh, the headless answer, a scripted one for tests), the Broker that
// turns them into a decision.Asker with modes, remembered grants and a
// queue of one prompt at a time, the grants file, the guard around a tool's
// output while a prompt is open, and the audit log.
//
// Only the host approves: nothing here is reachable from a guest, and an
// Approver that cannot ask, fails or times out means deny.
// docs/approvals.md describes the behaviour; RATIONALE.md says why.
package approvals

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Choice is one answer a person can give.
type Choice int

// The zero Choice is Deny, so that a forgotten answer fails closed.
const (
	Deny        Choice = iota // refuse this request (and the same one again in this run)
	AllowOnce                 // allow this one request
	AllowRun                  // allow the same capability for the rest of this run
	AlwaysAllow               // allow it from now on: remembered in the grants file
	AlwaysDeny                // refuse it from now on: remembered in the grants file
	// AlwaysAllowFolder allows, from now on, a write anywhere in the
	// folder of the file asked about and below it: remembered in the
	// grants file with scope "folder". Offered only for one write.
	AlwaysAllowFolder
)

// Choices lists every choice in the order a prompt shows them: deny first,
// selected, so that an answer given without looking refuses; the narrow
// "always" before the wide one.
var Choices = []Choice{Deny, AllowOnce, AllowRun, AlwaysAllow, AlwaysAllowFolder, AlwaysDeny}

func (c Choice) String() string {
	switch c {
	case AllowOnce:
		return "allow once"
	case AllowRun:
		return "allow for this run"
	case AlwaysAllow:
		return "always allow"
	case AlwaysDeny:
		return "always deny"
	case AlwaysAllowFolder:
		return "always allow in folder"
	}
	return "deny"
}

// Allows reports whether c lets the request through.
func (c Choice) Allows() bool {
	return c == AllowOnce || c == AllowRun || c == AlwaysAllow || c == AlwaysAllowFolder
}

// Remembered reports whether c is written to the grants file.
func (c Choice) Remembered() bool {
	return c == AlwaysAllow || c == AlwaysDeny || c == AlwaysAllowFolder
}

// Item is one capability a question is about.
type Item struct {
	Kind   decision.Kind
	Op     string // the operation, when asked at the moment of use: "open", "connect"
	Target string // exactly what: a guest path, host:port, a variable name, a limit
	// Rule is the rule that did not allow it, in words, and Origin where
	// that rule is written.
	Rule   string
	Origin policy.Origin
}

// Key identifies the capability for grants and for the run's memory:
// kind and scope, never the operation.
func (it Item) Key() string { return string(it.Kind) + " " + it.Scope() }

// Scope is the target as grants and the run's memory match it: the target
// itself, except that a connection is scoped to the host:port asked for,
// without the address the name resolved to ("api.github.com:443", not
// "api.github.com:443 (140.82.112.5)"), which changes from one lookup to
// the next. Addresses that need a rule of their own (loopback, private,
// link-local, metadata) are denied by the policy before anyone is asked.
func (it Item) Scope() string { return Scope(it.Kind, it.Target) }

// Folder is the folder a write's "always allow in folder" would cover:
// the folder of the path asked about. It is "" for anything else (another
// kind; a rename or link, which names two paths).
func (it Item) Folder() string {
	if it.Kind != decision.FSWrite || !strings.HasPrefix(it.Target, "/") || strings.Contains(it.Target, " -> ") {
		return ""
	}
	return path.Dir(it.Target)
}

// Scope is Item.Scope for a kind and target.
func Scope(kind decision.Kind, target string) string {
	if kind == decision.NetConnect {
		if i := strings.Index(target, " ("); i > 0 && strings.HasSuffix(target, ")") {
			return target[:i]
		}
	}
	return target
}

// Question is what an Approver is asked.
type Question struct {
	Tool   string // the tool's name, for people
	Digest string // the module's digest, "sha256:…"
	// Items are the capabilities asked for: one at the moment of use;
	// several when a manifest's requests or a failed run's denials are
	// asked about together. One answer covers them all.
	Items []Item
	// Why says when the question is asked: "at the moment of use", "the
	// tool's manifest requests", "the tool failed after these were denied".
	Why string
	// Offer is the choices that may be given. The managed ceiling removes
	// choices it forbids, and a question whose capability the managed
	// policy denies is never asked at all. Empty means every choice.
	Offer []Choice
}

// ShortDigest is the first 12 hex digits of the digest.
func (q Question) ShortDigest() string { return ShortDigest(q.Digest) }

// Offers reports whether c may be given as the answer.
func (q Question) Offers(c Choice) bool {
	if len(q.Offer) == 0 {
		return true
	}
	for _, o := range q.Offer {
		if o == c {
			return true
		}
	}
	return false
}

// key identifies a question for the queue: the same question waiting twice
// is asked once.
func (q Question) key() string {
	var b strings.Builder
	b.WriteString(q.Digest)
	for _, it := range q.Items {
		b.WriteString("\x00")
		b.WriteString(it.Key())
	}
	fmt.Fprintf(&b, "\x00%v\x00%s", q.Offer, q.Why)
	return b.String()
}

// ShortDigest is the first 12 hex digits of a "sha256:…" digest.
func ShortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Answer is what an Approver decided.
type Answer struct {
	Choice Choice
	// Source is who answered: decision.SourceUser for a person,
	// decision.SourceHeadless for the policy's headless answer.
	Source decision.Source
	// Note says more, for the audit log: "timed out after 1m", "aborted".
	Note string
	// Ended says how the question ended when a person was asked:
	// answered, timed-out, interrupted; or, when its context ended first,
	// what decision.EndedBy says. Empty when nobody was asked.
	Ended decision.Ended
}

// withdrawn is the answer to a question whose context ended before an
// answer: a deny, saying how and why.
func withdrawn(ctx context.Context, source decision.Source) Answer {
	ended, why := decision.EndedBy(ctx)
	if ended == "" {
		ended, why = decision.EndedRunEnded, "withdrawn"
	}
	return Answer{Choice: Deny, Source: source, Note: why, Ended: ended}
}

// ErrCannotAsk is what an Approver returns when it has nobody to ask (no
// terminal; an MCP client without elicitation). Chain then tries the next.
var ErrCannotAsk = errors.New("approvals: nobody can be asked")

// Approver asks about a Question and returns the answer.
//
// Approve must be safe for concurrent use (the Broker calls it once at a
// time, but other callers may not), must honour ctx (a cancelled context
// answers deny), and must return ErrCannotAsk, not an answer, when it has
// nobody to ask, so that a Chain falls through to the next Approver. Any
// other error is a deny. An answer the question does not offer is a deny.
type Approver interface {
	Approve(ctx context.Context, q Question) (Answer, error)
}

// ApproverFunc adapts a function to an Approver.
type ApproverFunc func(ctx context.Context, q Question) (Answer, error)

// Approve calls f.
func (f ApproverFunc) Approve(ctx context.Context, q Question) (Answer, error) { return f(ctx, q) }

// Chain returns an Approver that asks each of as in turn and returns the
// first answer (or error) that is not ErrCannotAsk: for example
// Chain(elicitation, terminal, Headless(policy.Deny)). Nil elements are
// skipped. When every one cannot ask, Chain returns ErrCannotAsk.
func Chain(as ...Approver) Approver {
	return ApproverFunc(func(ctx context.Context, q Question) (Answer, error) {
		for _, a := range as {
			if a == nil {
				continue
			}
			ans, err := a.Approve(ctx, q)
			if errors.Is(err, ErrCannotAsk) {
				continue
			}
			return ans, err
		}
		return Answer{}, ErrCannotAsk
	})
}

// Headless returns the Approver used when nobody can be asked: it answers
// every question with the policy's headless verdict (approvals.headless),
// allow once or deny, never remembered.
func Headless(v policy.Verdict) Approver {
	return ApproverFunc(func(ctx context.Context, q Question) (Answer, error) {
		if v == policy.Allow && q.Offers(AllowOnce) {
			return Answer{Choice: AllowOnce, Source: decision.SourceHeadless, Note: `approvals.headless = "allow"`}, nil
		}
		return Answer{Choice: Deny, Source: decision.SourceHeadless, Note: `approvals.headless = "deny"`}, nil
	})
}
