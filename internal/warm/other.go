//go:build !linux

package warm

import (
	"context"
	"errors"
	"os"
	"time"
)

var errLinux = errors.New("warm: the warm server runs on Linux only")

// Handoff hands nothing off here: every run starts cold.
func Handoff(args []string, exit func(code int)) bool { return false }

// ServeConfig configures Serve.
type ServeConfig struct {
	Socket  string
	Workers int
	Idle    time.Duration
	Worker  []string
	Nonce   string
	Log     func(line string)
}

// Serve fails: the warm server runs on Linux only.
func Serve(ctx context.Context, cfg ServeConfig) error { return errLinux }

// WorkConfig is what a worker does.
type WorkConfig struct {
	Prepare func(ctx context.Context, hints []Hint)
	Run     func(ctx context.Context, r *Run) (code int, ran []Hint)
}

// Run is a request as a worker runs it.
type Run struct {
	Args                  []string
	Stdin, Stdout, Stderr *os.File
	TTY                   *os.File
	Finally               func()
}

// Work does nothing here.
func Work(ctx context.Context, cfg WorkConfig) int { return ExitLost }

// Ask fails: the warm server runs on Linux only.
func Ask(socket string, stop bool) (string, error) { return "", errLinux }

// NonceEnv carries the server's secret in its own environment.
const NonceEnv = "AIRLOCK_WARM_NONCE"

// ExitLost is the status of a run whose worker ended without sending one.
const ExitLost = 125
