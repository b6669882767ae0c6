package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// TestProcFuncsMatchWazero: airlock's arguments, environment, clocks,
// random bytes, proc_exit and sched_yield (internal/host/wasi_proc.go),
// which every engine serves, give what wazero's own WASI gives: an engine
// given wazero's functions in their place prints the same arguments and
// environment and exits the same. Clocks and random bytes differ by
// nature (and wazero's read the module's configuration, which airlock no
// longer fills): airlock's are checked to be real.
func TestProcFuncsMatchWazero(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	b := r.NewHostModuleBuilder(host.WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	cm, err := b.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stock []host.Func
	for _, f := range host.Funcs(nil) {
		switch f.Name {
		case "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
			"clock_time_get", "random_get", "proc_exit", "proc_raise", "sched_yield":
			fn, ok := cm.ExportedFunctions()[f.Name].GoFunction().(api.GoModuleFunction)
			if !ok {
				t.Fatalf("wazero's %s is not a Go module function", f.Name)
			}
			f.Fn = fn
			stock = append(stock, f)
		}
	}
	if len(stock) != 10 {
		t.Fatalf("%d functions, want 10 (args, environ, clocks, random, proc_exit, proc_raise, sched_yield)", len(stock))
	}
	wazeros, err := runtime.New(ctx, runtime.Config{CacheDir: "-", HostFuncs: stock})
	if err != nil {
		t.Fatal(err)
	}
	defer wazeros.Close(ctx)
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
		wres, wout := run(wazeros, args...)
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
