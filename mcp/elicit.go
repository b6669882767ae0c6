package mcp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

// client is what a run knows of the MCP client that called it, kept in the
// run's context for the Elicitation approver.
type client struct {
	call    *call
	session *sdk.ServerSession
	elicit  bool // the client declared form elicitation
	mrtr    bool // the client speaks protocol 2026-07-28: questions go back as input-required results
}

type clientKey struct{}

func clientFrom(ctx context.Context) *client {
	c, _ := ctx.Value(clientKey{}).(*client)
	return c
}

// clientOf reads what a tools/call request says of its client.
func clientOf(req *sdk.CallToolRequest, c *call) *client {
	cl := &client{call: c, session: req.Session, mrtr: req.ProtocolVersion() >= protocolMRTR}
	if caps := req.ClientCapabilities(); caps != nil && caps.Elicitation != nil &&
		(caps.Elicitation.Form != nil || caps.Elicitation.URL == nil) {
		cl.elicit = true
	}
	return cl
}

// Elicitation returns the approvals.Approver that asks the person behind
// the MCP client of the run whose context it is given, by a form
// elicitation: during the call on protocols before 2026-07-28
// (elicitation/create), through an input-required result on 2026-07-28 and
// later. It returns approvals.ErrCannotAsk when the client declared no
// elicitation capability, or the context is not a run of this server, so
// that a chain falls through to the terminal or the headless answer.
//
// The server puts it first in every call's approval chain; it is exported
// so that it can be tested, and composed, like any other Approver.
func (s *Server) Elicitation() approvals.Approver { return elicitation{s} }

type elicitation struct{ s *Server }

func (e elicitation) Approve(ctx context.Context, q approvals.Question) (approvals.Answer, error) {
	cl := clientFrom(ctx)
	if cl == nil || !cl.elicit {
		return approvals.Answer{}, approvals.ErrCannotAsk
	}
	prev := cl.call.state.Load()
	cl.call.state.Store("waiting for approval")
	defer cl.call.state.Store(prev)

	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, e.s.approvalTimeout())
	defer cancel()
	params := approvalForm(q)
	var res *sdk.ElicitResult
	var err error
	if cl.mrtr {
		res, err = viaRetry(ctx, cl.call, params)
	} else {
		res, err = cl.session.Elicit(ctx, params)
	}
	answered := func(c approvals.Choice, note string) (approvals.Answer, error) {
		return approvals.Answer{Choice: c, Source: decision.SourceUser, Note: note, Ended: decision.EndedAnswered}, nil
	}
	if err != nil {
		ans := approvals.Answer{Choice: approvals.Deny, Source: decision.SourceUser}
		if outer.Err() == nil && ctx.Err() != nil {
			ans.Ended, ans.Note = decision.EndedTimedOut, fmt.Sprintf("no answer in %s: timed out", e.s.approvalTimeout())
			return ans, nil
		}
		return ans, fmt.Errorf("no answer from the MCP client: %w", err)
	}
	switch res.Action {
	case "accept":
	case "decline":
		return answered(approvals.Deny, "declined in the MCP client")
	default:
		return answered(approvals.Deny, "dismissed in the MCP client")
	}
	d, _ := res.Content["decision"].(string)
	if d == "" {
		return answered(approvals.AllowOnce, "accepted in the MCP client")
	}
	for _, c := range approvals.Choices {
		if c.String() == d && q.Offers(c) {
			return answered(c, "answered in the MCP client")
		}
	}
	return approvals.Answer{Choice: approvals.Deny, Source: decision.SourceUser, Ended: decision.EndedAnswered}, fmt.Errorf("the MCP client answered %q, which was not offered", d)
}

// viaRetry puts the question to the client through the request that drives
// the call (an input-required result) and waits for the retry's answer.
// The call is the one that asked first; other calls of its session waiting
// on the same question get the answer through the session's broker. Should
// the call end before the question is out (its request was cancelled while
// the question waited its turn), nobody can carry it any more: the question
// fails, as a denial, rather than waiting for the approval timeout.
func viaRetry(ctx context.Context, c *call, params *sdk.ElicitParams) (*sdk.ElicitResult, error) {
	q := &question{key: "airlock-approval-" + newID()[:8], params: params, reply: make(chan *sdk.ElicitResult, 1)}
	ended := errors.New("the call that was to carry the question ended first")
	select {
	case c.asks <- q:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ended
	}
	select {
	case r := <-q.reply:
		if r == nil {
			return nil, errors.New("the retry carried no answer")
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ended
	}
}

// approvalForm is the form a person sees: which tool (and module) asks,
// why, for what, and the answers on offer. Declining or dismissing denies.
func approvalForm(q approvals.Question) *sdk.ElicitParams {
	var b strings.Builder
	fmt.Fprintf(&b, "airlock: tool %q (module %s). %s:", q.Tool, q.ShortDigest(), strings.TrimSuffix(q.Why, ":"))
	for _, it := range q.Items {
		fmt.Fprintf(&b, "\n- %s %s", it.Kind, approvals.NeutraliseLine(it.Target)) // the tool's choice: one line, no escapes
		if it.Op != "" && it.Op != "request" {
			fmt.Fprintf(&b, " (%s)", it.Op)
		}
		if it.Rule != "" {
			fmt.Fprintf(&b, ": %s", it.Rule)
			if o := it.Origin.String(); o != "" {
				fmt.Fprintf(&b, " (%s)", o)
			}
		}
	}
	b.WriteString("\nAccept with a choice below, or decline to deny.")
	offer := q.Offer
	if len(offer) == 0 {
		offer = approvals.Choices
	}
	enum := make([]any, 0, len(offer))
	for _, c := range offer {
		enum = append(enum, c.String())
	}
	return &sdk.ElicitParams{
		Mode:    "form",
		Message: b.String(),
		RequestedSchema: &jsonschema.Schema{
			Type: "object",
			Properties: map[string]*jsonschema.Schema{
				"decision": {
					Type:    "string",
					Title:   "Decision",
					Enum:    enum,
					Default: []byte(`"` + offer[0].String() + `"`),
				},
			},
		},
	}
}

// serial lets one question at a time through to an Approver that has one
// person behind it (the terminal), whatever the number of calls in flight.
type serial struct {
	turn chan struct{}
	a    approvals.Approver
}

func newSerial(a approvals.Approver) approvals.Approver {
	if a == nil {
		return nil
	}
	return &serial{turn: make(chan struct{}, 1), a: a}
}

func (s *serial) Approve(ctx context.Context, q approvals.Question) (approvals.Answer, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return approvals.Answer{Choice: approvals.Deny, Source: decision.SourceUser}, ctx.Err()
	}
	defer func() { <-s.turn }()
	return s.a.Approve(ctx, q)
}
