package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// TestEndWaitsForADecisionBeingRecorded: a recorder that cannot write
// the audit log ends the run itself (the CLI cancels the run's context
// from inside it), so the runtime may call End while the decision it
// refused is not kept yet. End waits for it: the report of such a run
// holds the decision, denied as unrecorded (it once came out empty, a
// flaky TestAuditFullDiskStopsTheRun).
func TestEndWaitsForADecisionBeingRecorded(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	entered, release := make(chan struct{}), make(chan struct{})
	g := NewGate(ctx, nil, func(decision.Decision) error {
		stop() // the run ends, as stopUnrecorded does
		close(entered)
		<-release // the write is still under way
		return errors.New("no space left on device")
	})
	decided := make(chan bool, 1)
	go func() {
		decided <- g.Decide(decision.Request{Kind: "net.connect", Op: "connect", Target: "127.0.0.1:1", Policy: policy.Allow}, "EACCES")
	}()
	<-entered
	ended := make(chan struct{})
	go func() {
		g.End(errors.New("run ended"))
		close(ended)
	}()
	select {
	case <-ended:
		t.Fatal("End returned while a decision was being recorded")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-ended
	if <-decided {
		t.Error("a decision that could not be recorded was allowed")
	}
	ds := g.Decisions()
	if len(ds) != 1 || ds[0].Allowed || ds[0].Source != decision.SourceUnrecorded {
		t.Fatalf("decisions after End: %+v, want the one denied as unrecorded", ds)
	}
}

// lateContext is a run's context in the moment after its time limit
// passed and before its children heard: Err says so, Done is still open
// (a standard context closes Done first and tells its children after, so
// the run could call End in between).
type lateContext struct {
	context.Context
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func (c *lateContext) Done() <-chan struct{} { return c.done }
func (c *lateContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// TestEndKeepsTheRunsOwnCause: a question open when the run's time limit
// passes says so ("the run's time limit passed before an answer"), though
// the run called End(decision.ErrRunEnded) before the gate's context heard of the
// deadline. Under the race detector the tmux test of every way a prompt
// ends once saw "the tool's run ended" instead.
func TestEndKeepsTheRunsOwnCause(t *testing.T) {
	run := &lateContext{Context: context.Background(), done: make(chan struct{})}
	asked := make(chan struct{})
	why := make(chan string, 1)
	g := NewGate(run, replyFunc(func(ctx context.Context, r decision.Request) decision.Reply {
		close(asked)
		<-ctx.Done()
		ended, w := decision.EndedBy(ctx)
		why <- w
		return decision.Reply{Source: decision.SourceUser, Ended: ended}
	}), nil)
	go g.Decide(decision.Request{Kind: decision.FSWrite, Op: "open", Target: "/ro/a", Policy: policy.Ask}, "EACCES")
	<-asked
	run.mu.Lock()
	run.err = context.DeadlineExceeded
	run.mu.Unlock()
	g.End(decision.ErrRunEnded)
	close(run.done)
	if w := <-why; w != "the run's time limit passed before an answer" {
		t.Errorf("the question ended saying %q", w)
	}
	if ds := g.Decisions(); len(ds) != 1 || ds[0].Ended != decision.EndedRunEnded {
		t.Errorf("decisions: %+v, want one, run-ended", ds)
	}
}

type replyFunc func(context.Context, decision.Request) decision.Reply

func (f replyFunc) Ask(ctx context.Context, r decision.Request) decision.Reply { return f(ctx, r) }
