package approvals

import (
	"context"
	"sync"

	"github.com/airlockhq/airlock/decision"
)

// Scripted is an Approver for tests: it answers from a script and records
// every question it was asked. The zero Scripted answers deny.
type Scripted struct {
	// Answers are given in order, one per question; after the last,
	// Default is given.
	Answers []Choice
	Default Choice
	// Func, if set, answers instead of Answers and Default.
	Func func(Question) Choice
	// Hold, if set, makes Approve wait until it is closed (or ctx ends,
	// which answers deny): a prompt that stays open.
	Hold <-chan struct{}
	// CannotAsk makes Approve return ErrCannotAsk, like a terminal that is
	// not there.
	CannotAsk bool

	mu    sync.Mutex
	asked []Question
}

// Approve answers q from the script.
func (s *Scripted) Approve(ctx context.Context, q Question) (Answer, error) {
	if s.CannotAsk {
		return Answer{}, ErrCannotAsk
	}
	s.mu.Lock()
	s.asked = append(s.asked, q)
	n := len(s.asked)
	s.mu.Unlock()
	if s.Hold != nil {
		select {
		case <-s.Hold:
		case <-ctx.Done():
			return withdrawn(ctx, decision.SourceUser), ctx.Err()
		}
	}
	c := s.Default
	switch {
	case s.Func != nil:
		c = s.Func(q)
	case n <= len(s.Answers):
		c = s.Answers[n-1]
	}
	return Answer{Choice: c, Source: decision.SourceUser, Ended: decision.EndedAnswered}, nil
}

// Asked returns a copy of every question asked so far.
func (s *Scripted) Asked() []Question {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Question(nil), s.asked...)
}
