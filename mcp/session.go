package mcp

import (
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
)

// session is what the calls in flight of one MCP session share: one
// approvals.Broker, whose first approver is the elicitation of the
// session's client. Its questions go to that client one at a time, and a
// question several calls wait on (two parallel calls of one tool reaching
// for the same host:port) is asked once, every waiter getting the answer.
// Calls of other sessions have other brokers: one client never answers
// for another.
//
// The entry lives while the session has calls in flight, and is dropped
// with its last call: a broker keeps nothing between calls (remembered
// grants and the audit log are the server's), so a session that ends, or
// just falls quiet, leaves nothing behind.
type session struct {
	broker *approvals.Broker
	calls  int // calls in flight; under Server.mu
}

// joinSession returns the session entry of ss with one more call in
// flight, making it and its broker if ss has none. A call without a
// session (none is known) gets a broker of its own. Under s.mu.
func (s *Server) joinSession(ss *sdk.ServerSession) *session {
	if ss == nil {
		return &session{broker: s.newBroker(), calls: 1}
	}
	se := s.sessions[ss]
	if se == nil {
		se = &session{broker: s.newBroker()}
		s.sessions[ss] = se
	}
	se.calls++
	return se
}

// leaveSession ends a call's part in its session, dropping the entry with
// the last call.
func (s *Server) leaveSession(ss *sdk.ServerSession, se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se.calls--
	if se.calls == 0 && ss != nil && s.sessions[ss] == se {
		delete(s.sessions, ss)
	}
}

// newBroker is the broker of one session: the client's elicitation first,
// then the fallback (airlock's terminal, one question at a time across
// sessions), then the headless answer; grants, audit log and ceiling are
// the server's.
func (s *Server) newBroker() *approvals.Broker {
	cfg := s.opts.Approvals
	cfg.Approver = approvals.Chain(s.Elicitation(), s.fallback)
	return approvals.NewBroker(cfg)
}
