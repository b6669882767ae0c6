package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// TestStockWASIFuncsMatchWazero: the functions airlock serves where
// wazero's own cannot run (arguments, environment, clocks, random bytes,
// proc_exit, sched_yield on the wasmtime engine; internal/host/wasi_proc.go)
// give what wazero's give. Here they replace wazero's on the wazero engine
// itself, so the default build tests them without cgo.
func TestStockWASIFuncsMatchWazero(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	funcs, err := host.Funcs(ctx, r, nil)
	r.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var own []host.Func
	for _, f := range funcs {
		if !f.Stock {
			continue
		}
		fn, ok := host.StockWASIFunc(f.Name)
		if !ok {
			t.Fatalf("no airlock implementation of %s", f.Name)
		}
		f.Fn, f.Stock = fn, false
		own = append(own, f)
	}
	if len(own) != 10 {
		t.Fatalf("%d stock functions, want 10 (args, environ, clocks, random, proc_exit, proc_raise, sched_yield)", len(own))
	}
	mine, err := runtime.New(ctx, runtime.Config{CacheDir: "-", HostFuncs: own})
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close(ctx)
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
		wres, wout := run(sharedEngine(), args...)
		ares, aout := run(mine, args...)
		if wres.ExitCode != ares.ExitCode || wres.Reason != ares.Reason || wout != aout {
			t.Errorf("%v: wazero's %s %d %q, airlock's %s %d %q", args, wres.Reason, wres.ExitCode, wout, ares.Reason, ares.ExitCode, aout)
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
