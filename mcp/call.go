package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// protocolMRTR is the first protocol version on which a server may not send
// requests (elicitation) to the client in the middle of a call, and returns
// input-required results instead (SEP-2322).
const protocolMRTR = "2026-07-28"

// call is one tools/call from arrival to result. Its run does not belong to
// any one MCP request: on protocol 2026-07-28 an approval ends the request
// that started the run with an input-required result, and the client's
// retry, a new request, picks the same run up again (resume). While a
// request drives the call (drive), that request's end cancels the run.
type call struct {
	id      string // random; the RequestState while the call waits on an approval
	tool    *tool
	started time.Time
	session *session // its session's broker asks its approvals

	ctx    context.Context // the run's own; cancelled by the driving request or by Close
	cancel context.CancelFunc

	state atomic.Value // string: "queued", "running", "waiting for approval"

	// asks carries approvals to the driving request when the client speaks
	// protocol 2026-07-28; the answer comes back on the question's reply.
	asks    chan *question
	waiting *question // the question sent to the client, while suspended

	done chan struct{} // closed when the run has ended and res is set
	res  *sdk.CallToolResult

	memoryGroup string // runtime.Spec.MemoryGroup: see memoryGroup
	freshMemory bool   // runtime.Spec.FreshMemory: see memoryGroup
}

// memoryGroup is the runtime.Spec.MemoryGroup of a call: whose finished
// runs may hand it their memory, reset. A run cannot read what the last
// one left, but it can time the memory it gets and learn roughly how much
// the last one used, so one client's calls never get memory another
// client's calls used: a session over HTTP is its own group (by its
// session ID); a call over HTTP without one (protocol 2026-07-28 is
// served statelessly, so nothing tells its client from another) is a
// group of its own, and gets fresh memory (fresh: it leaves none behind
// either, since no later call is of its group); stdio has one client,
// whose calls share the group "".
func memoryGroup(req *sdk.CallToolRequest, callID string) (group string, fresh bool) {
	var id string
	if req.Session != nil {
		id = req.Session.ID()
	}
	switch {
	case id != "":
		return "session " + id, false
	case req.Extra != nil && req.Extra.Header != nil:
		return "call " + callID, true
	}
	return "", false
}

// question is an approval put to the client through an input-required
// result; reply gets the client's answer (nil if none came).
type question struct {
	key    string
	params *sdk.ElicitParams
	reply  chan *sdk.ElicitResult
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handler returns the tools/call handler for t.
func (s *Server) handler(t *tool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		if st := req.Params.RequestState; st != "" {
			return s.resume(ctx, req, t, st)
		}
		args, errRes := t.arguments(req.Params.Arguments)
		if errRes != nil {
			return errRes, nil
		}
		select {
		case <-t.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if t.loadErr != nil {
			return toolError(fmt.Sprintf("%s could not be loaded: %v", t.name, t.loadErr)), nil
		}
		if err := t.checkDigest(); err != nil {
			return toolError(err.Error()), nil
		}
		argv, stdin, err := t.input(args)
		if err != nil {
			return toolError(fmt.Sprintf("%s: %v", t.name, err)), nil
		}
		c, err := s.start(ctx, req, t, argv, stdin)
		if err != nil {
			return toolError(err.Error()), nil
		}
		return s.drive(ctx, req, c)
	}
}

// start begins the run of a call in its own goroutine. The run waits for a
// free slot first (the queue), as long as its context lasts.
func (s *Server) start(ctx context.Context, req *sdk.CallToolRequest, t *tool, argv []string, stdin []byte) (*call, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: the server is shutting down", t.name)
	}
	s.runs.Add(1)
	se := s.joinSession(req.Session)
	s.mu.Unlock()

	c := &call{id: newID(), tool: t, started: time.Now(), session: se, asks: make(chan *question), done: make(chan struct{})}
	c.memoryGroup, c.freshMemory = memoryGroup(req, c.id)
	c.state.Store("queued")
	// The run keeps the request's values (session, trace) but not its
	// cancellation: drive ties the two together while a request waits.
	runCtx := context.WithValue(context.WithoutCancel(ctx), clientKey{}, clientOf(req, c))
	c.ctx, c.cancel = context.WithCancel(runCtx)
	stopOnClose := context.AfterFunc(s.ctx, c.cancel)

	s.calls.Add(1)
	go func() {
		defer s.runs.Done()
		defer s.calls.Add(-1)
		defer s.leaveSession(req.Session, se)
		defer close(c.done)
		defer stopOnClose()
		defer c.cancel()
		defer s.forget(c)
		c.res = s.run(c, argv, stdin)
	}()
	return c, nil
}

// run settles what the manifest requests beyond the policy (one approval,
// in on-request mode), waits for a slot, runs the tool and turns what
// happened into a result. Its questions go through its session's
// approvals.Broker (see session): to its own client, one at a time with
// the session's other calls, and once for a question they share.
func (s *Server) run(c *call, argv []string, stdin []byte) *sdk.CallToolResult {
	t := c.tool
	mode := t.policy.Approvals.Mode
	if mode == "" {
		mode = policy.ModeOnRequest
	}
	ar := c.session.broker.NewRun(approvals.RunInfo{Tool: t.name, Digest: t.module.Digest, Mode: mode, Args: argv})

	pol := t.policy
	var requested []decision.Decision
	if !t.manifest.Requests.Empty() {
		var err error
		if pol, requested, err = ar.Escalate(c.ctx, pol, t.manifest.Requests.Escalation()); err != nil {
			return toolError(fmt.Sprintf("%s: %v; the tool did not run", t.name, err))
		}
	}
	if c.ctx.Err() != nil {
		return canceled(t.name, "before it started")
	}

	select {
	case s.sem <- struct{}{}:
	case <-c.ctx.Done():
		return canceled(t.name, "while queued")
	}
	s.running.Add(1)
	defer func() { s.running.Add(-1); <-s.sem }()
	c.state.Store("running")

	var stdout bytes.Buffer
	errs := newHeadTail(DefaultStderrShown)
	spec := runtime.Spec{
		Module:    t.module,
		Args:      argv,
		Stdout:    &stdout,
		Stderr:    errs,
		Policy:    pol,
		Asker:     ar,
		Record:    stopUnrecorded(ar, c.cancel),
		Interrupt: runtime.InterruptInstrument,
		// A write into a read-only mount is a question, as in airlock run:
		// the client, a remembered grant or the headless answer decides.
		ReadOnlyVerdict: policy.Ask,
		MemoryGroup:     c.memoryGroup,
		FreshMemory:     c.freshMemory,
	}
	if stdin != nil {
		spec.Stdin = bytes.NewReader(stdin)
	}
	res, err := s.opts.Engine.Run(c.ctx, spec)
	if err != nil {
		return toolError(fmt.Sprintf("%s could not start: %v", t.name, err))
	}
	if err := ar.Unrecorded(); err != nil {
		return toolError(fmt.Sprintf("%s was stopped: %v (approvals.audit_failure = \"stop\"); what it did before is in the audit log", t.name, err))
	}
	res.Decisions = append(requested, res.Decisions...)
	return t.result(res, pol, stdout.Bytes(), errs.String())
}

// stopUnrecorded is r's Recorder, which also stops the run when a decision
// could not be recorded (the gate has denied it and revoked the run).
func stopUnrecorded(r *approvals.Run, stop context.CancelFunc) decision.Recorder {
	return func(d decision.Decision) error {
		err := r.Record(d)
		if err != nil {
			stop()
		}
		return err
	}
}

// drive waits for the call on behalf of one MCP request: until the run
// ends (its result), until the run needs an approval the client must give
// on protocol 2026-07-28 (an input-required result; the run waits), or
// until the request ends (the run is cancelled). While it waits it sends
// progress notifications if the request asked for them.
func (s *Server) drive(ctx context.Context, req *sdk.CallToolRequest, c *call) (*sdk.CallToolResult, error) {
	ctxs := []context.Context{ctx}
	if hc := s.disc.lookup(headerOf(req)); hc != nil {
		ctxs = append(ctxs, hc)
	}
	var stops []func() bool
	for _, x := range ctxs {
		stops = append(stops, context.AfterFunc(x, c.cancel))
	}
	detach := func() bool {
		ok := true
		for _, stop := range stops {
			ok = stop() && ok
		}
		return ok
	}
	defer detach()

	var wg sync.WaitGroup
	progressDone := make(chan struct{})
	if tok := req.Params.GetProgressToken(); tok != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.progress(ctx, req, c, tok, progressDone)
		}()
	}
	defer wg.Wait()
	defer close(progressDone)

	select {
	case <-c.done:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return c.res, nil
	case q := <-c.asks:
		if !detach() {
			// The request ended as the question came: the run is
			// cancelled; the question is answered by that.
			<-c.done
			return nil, context.Canceled
		}
		s.mu.Lock()
		c.waiting = q
		s.pending[c.id] = c
		s.mu.Unlock()
		return &sdk.CallToolResult{
			InputRequests: sdk.InputRequestMap{q.key: q.params},
			RequestState:  c.id,
		}, nil
	}
}

// resume picks a suspended call up again when the client retries it with
// the answer to its approval.
func (s *Server) resume(ctx context.Context, req *sdk.CallToolRequest, t *tool, state string) (*sdk.CallToolResult, error) {
	s.mu.Lock()
	c := s.pending[state]
	if c != nil && c.tool.name == req.Params.Name {
		delete(s.pending, state)
	} else {
		c = nil
	}
	s.mu.Unlock()
	if c == nil {
		return toolError(fmt.Sprintf("%s: this approval is unknown or has expired; call the tool again", t.name)), nil
	}
	q := c.waiting
	c.waiting = nil
	var answer *sdk.ElicitResult
	if r, ok := req.Params.InputResponses[q.key].(*sdk.ElicitResult); ok {
		answer = r
	}
	q.reply <- answer // buffered: the run may already have given up waiting
	return s.drive(ctx, req, c)
}

// forget drops a call that ended while it waited on an approval that never
// came back.
func (s *Server) forget(c *call) {
	s.mu.Lock()
	if s.pending[c.id] == c {
		delete(s.pending, c.id)
	}
	s.mu.Unlock()
}

// progress sends "queued Ns" / "running Ns" to the client every
// ProgressInterval until stop is closed. Progress is the seconds since the
// call arrived, so it only grows, across approval round trips too.
func (s *Server) progress(ctx context.Context, req *sdk.CallToolRequest, c *call, tok any, stop <-chan struct{}) {
	t := time.NewTicker(s.opts.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			secs := time.Since(c.started).Seconds()
			_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
				ProgressToken: tok,
				Progress:      secs,
				Message:       fmt.Sprintf("%s %s %ds", c.tool.name, c.state.Load(), int(secs)),
			})
		}
	}
}

// headerOf is the HTTP header of the request that brought req, if any.
func headerOf(req *sdk.CallToolRequest) http.Header {
	if req.Extra == nil {
		return nil
	}
	return req.Extra.Header
}
