package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/hostfuncs"
)

// signalContext is signal.NotifyContext for SIGINT and SIGTERM, with a
// cause that says which: SIGINT's errors.Is hostfuncs.ErrInterrupted, so
// that a prompt it closes is recorded as interrupted, not as ended by the
// run. Later signals are caught too, until stop is called.
func signalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			if s == os.Interrupt {
				cancel(fmt.Errorf("%w (SIGINT)", hostfuncs.ErrInterrupted))
			} else {
				cancel(errors.New("terminated (SIGTERM)"))
			}
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
