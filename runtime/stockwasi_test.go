package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// TestProcFuncsMatchWazero: airlock's arguments, environment, clocks,
// random bytes, proc_exit and sched_yield (internal/host/wasi_proc.go),
// which every engine serves, give what wazero's own WASI gives: the probe
// run by stock wazero, with the same arguments and environment in its
// module config, prints the same and exits the same as under airlock.
// Clocks and random bytes differ by nature: airlock's are checked to be
// real.
func TestProcFuncsMatchWazero(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, probe.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	stock := func(args ...string) (uint32, string) {
		var out bytes.Buffer
		cfg := wazero.NewModuleConfig().WithName("").WithStdout(&out).
			WithArgs(append([]string{probe.Name}, args...)...).WithEnv("A", "1").WithEnv("B", "two words")
		mod, err := r.InstantiateModule(ctx, cm, cfg)
		var exit *sys.ExitError
		switch {
		case errors.As(err, &exit):
			return exit.ExitCode(), out.String()
		case err != nil:
			t.Fatal(err)
		}
		mod.Close(ctx)
		return 0, out.String()
	}
	mine := sharedEngine()
	run := func(e *runtime.Engine, args ...string) (*runtime.Result, string) {
		p := policy.Default(t.TempDir())
		p.Env.Set = map[string]string{"A": "1", "B": "two words"}
		var out bytes.Buffer
		res, err := e.Run(ctx, runtime.Spec{Module: probe, Args: args, Stdout: &out, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		return res, out.String()
	}
	for _, args := range [][]string{{"exit", "7"}, {"args", "a b", "", "-x"}, {"env"}, {"exit", "0"}} {
		wcode, wout := stock(args...)
		ares, aout := run(mine, args...)
		if wcode != ares.ExitCode || ares.Reason != runtime.Exited || wout != aout {
			t.Errorf("%v: wazero's %d %q, airlock's %s %d %q", args, wcode, wout, ares.Reason, ares.ExitCode, aout)
		}
	}
	// Clocks and random bytes: real, not equal.
	before := time.Now()
	_, out := run(mine, "clock")
	var wall, slept int64
	if _, err := fmt.Sscan(out, &wall, &slept); err != nil || time.Unix(0, wall).Before(before) || slept < int64(50*time.Millisecond) {
		t.Errorf("clock: %q (%v)", out, err)
	}
	_, r1 := run(mine, "random")
	_, r2 := run(mine, "random")
	if r1 == r2 || len(strings.TrimSpace(r1)) != 32 {
		t.Errorf("random: %q %q", r1, r2)
	}
}

// An argument or environment variable with a NUL byte cannot pass through
// WASI's NUL-terminated strings whole: the run does not start, on every
// engine, and the error names the variable, never its value.
func TestNULInArgumentsOrEnvironmentIsRefused(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		ctx := context.Background()
		for _, c := range []struct {
			args []string
			set  map[string]string
			want string
		}{
			{args: []string{"args", "a\x00b"}, want: "argument 2 of"},
			{args: []string{"env"}, set: map[string]string{"TOKEN": "sec\x00ret"}, want: `variable "TOKEN"`},
		} {
			p := policy.Default(t.TempDir())
			p.Env.Set = c.set
			var out bytes.Buffer
			res, err := e.Run(ctx, runtime.Spec{Module: probe, Args: c.args, Stdout: &out, Policy: p})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "sec") || out.Len() > 0 {
				t.Errorf("%v %v: %v %+v, printed %q; want an error naming %s and no run", c.args, c.set, err, res, out.String(), c.want)
			}
		}
	})
}
