package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

// What can stop a run before the tool ends by itself, besides its limits:
// a signal (SIGINT, SIGTERM, SIGHUP), a closed stdout or stderr pipe
// (SIGPIPE), and a decision the audit log could not record. Each is the
// cause of the run's context (context.Cause); each ends the run the same
// way: capabilities revoked, the audit log flushed, the report written,
// and an exit status of its own (docs/exit-status.md).

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGPIPE {
		return "stopped: the output is a closed pipe (SIGPIPE)"
	}
	return "interrupted by " + signalName(e.sig)
}

// Is makes a signal a cancellation for code that only asks that, and
// SIGINT an interruption (decision.ErrInterrupted), so that a prompt it
// closes is recorded as interrupted rather than as ended by the run.
func (e signalError) Is(target error) bool {
	return target == context.Canceled || (e.sig == syscall.SIGINT && target == decision.ErrInterrupted)
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return fmt.Sprintf("signal %d", int(s))
}

// stopSignals are the signals that end a command the way Ctrl-C does.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// withSignals returns a context cancelled, with a signalError as its
// cause, by the first of stopSignals. Later ones are caught too (a second
// Ctrl-C does not cut the flushing of the audit log short) until stop.
func withSignals(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	c := make(chan os.Signal, 1)
	signal.Notify(c, stopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-c:
			sig, _ := s.(syscall.Signal)
			cancel(signalError{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(c)
		close(done)
		cancel(nil)
	}
}

// catchSIGPIPE makes a write to a closed stdout or stderr pipe fail with
// EPIPE instead of killing airlock on the spot (Go's default for fd 1 and
// 2: exit status 141, nothing flushed), so that the run can end properly;
// watchPipe turns that EPIPE into the end of the run. stop restores the
// default.
func catchSIGPIPE() (stop func()) {
	c := make(chan os.Signal, 1) // never read: the signal only needs a taker
	signal.Notify(c, syscall.SIGPIPE)
	return func() { signal.Stop(c) }
}

// pipeWatch is one of airlock's output streams as the tool writes it: a
// write that fails because the reader is gone (EPIPE) stops the run, as
// SIGPIPE stops a native program in a pipeline.
type pipeWatch struct {
	w    io.Writer
	stop context.CancelCauseFunc
}

func watchPipe(w io.Writer, stop context.CancelCauseFunc) io.Writer {
	if w == nil {
		return nil
	}
	return pipeWatch{w, stop}
}

func (p pipeWatch) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil && errors.Is(err, syscall.EPIPE) {
		p.stop(signalError{syscall.SIGPIPE})
	}
	return n, err
}

// Fd is the underlying stream's, so that isTerminal sees through.
func (p pipeWatch) Fd() uintptr { return fdOf(p.w) }

func fdOf(w any) uintptr {
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// stopStatus is the exit status of a run stopped by cause: 128 + the
// signal's number for a signal, a closed pipe (SIGPIPE, 141) included;
// ExitAuditFailed for a decision the audit log could not record;
// ExitInterrupted for anything else.
func stopStatus(cause error) int {
	var se signalError
	var ue *approvals.UnrecordedError
	switch {
	case errors.As(cause, &ue):
		return ExitAuditFailed
	case errors.As(cause, &se):
		return 128 + int(se.sig)
	}
	return ExitInterrupted
}

// stopText says what stopped a run, for a line "airlock: …".
func stopText(cause error) string {
	var se signalError
	var ue *approvals.UnrecordedError
	switch {
	case errors.As(cause, &ue):
		return "stopped the tool: " + ue.Error() + ` (approvals.audit_failure = "stop")`
	case errors.As(cause, &se):
		return se.Error()
	}
	return "interrupted"
}

// pipeClosed reports whether cause is a closed stdout or stderr pipe.
func pipeClosed(cause error) bool {
	var se signalError
	return errors.As(cause, &se) && se.sig == syscall.SIGPIPE
}

// signalOf names the signal that stopped a run, or "".
func signalOf(cause error) string {
	var se signalError
	if errors.As(cause, &se) {
		return signalName(se.sig)
	}
	return ""
}

// errorLines passes airlock's own messages through to w and keeps the last
// error line, for the report of a run that did not happen.
type errorLines struct {
	w io.Writer

	mu   sync.Mutex
	last string
}

func (e *errorLines) Write(b []byte) (int, error) {
	e.mu.Lock()
	for _, line := range strings.Split(string(b), "\n") {
		if msg, ok := strings.CutPrefix(line, "airlock: "); ok {
			e.last = msg
		} else if strings.Contains(line, ": error: ") {
			e.last = line
		}
	}
	e.mu.Unlock()
	return e.w.Write(b)
}

func (e *errorLines) Fd() uintptr { return fdOf(e.w) }

func (e *errorLines) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}
