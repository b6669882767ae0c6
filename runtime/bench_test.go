package runtime_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Benchmarks print ratios against baselines measured in the same run:
//
//	go test -run '^$' -bench . -benchtime 5x ./runtime/
//
// BenchmarkCompute: the same Go source natively, under stock wazero (with
// and without WithCloseOnContextDone), and under airlock with each
// interrupt mode (instrument: yield checks). BenchmarkStart: a tiny tool
// started from the compile cache vs bubblewrap starting its native twin.

type benchBins struct {
	computeWasm, computeNative, probeNative, airlock string
	err                                              error
}

var bins = sync.OnceValue(func() *benchBins {
	b := &benchBins{}
	dir, err := os.MkdirTemp("", "airlock-bench")
	if err != nil {
		b.err = err
		return b
	}
	if b.computeWasm, b.err = wasmbuild.Build("testdata/compute", dir, "compute"); b.err != nil {
		return b
	}
	if b.computeNative, b.err = wasmbuild.Binary("testdata/compute", dir, "compute-native"); b.err != nil {
		return b
	}
	if b.probeNative, b.err = wasmbuild.Binary("testdata/probe", dir, "probe-native"); b.err != nil {
		return b
	}
	b.airlock, b.err = wasmbuild.Binary("../cmd/airlock", dir, "airlock")
	return b
})

const computeN = "500000"

func BenchmarkCompute(b *testing.B) {
	bb := bins()
	if bb.err != nil {
		b.Fatal(bb.err)
	}
	wasm, err := os.ReadFile(bb.computeWasm)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	per := map[string]float64{}
	measure := func(name string, f func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				f(b)
			}
			per[name] = float64(time.Since(start)) / float64(b.N)
			if base := per["native"]; base > 0 && name != "native" {
				b.ReportMetric(per[name]/base, "x-native")
			}
			// What stopping a runaway for real costs over not doing so.
			if base := per["airlock-abandon"]; base > 0 && name == "airlock-instrument" {
				b.ReportMetric(per[name]/base, "x-abandon")
			}
		})
	}
	measure("native", func(b *testing.B) {
		if out, err := exec.Command(bb.computeNative, computeN).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	})
	// Stock wazero: compiled once, instantiated per iteration, like airlock.
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	measure("wazero", func(b *testing.B) {
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithArgs("compute", computeN).WithStdout(&bytes.Buffer{}))
		if err != nil {
			b.Fatal(err)
		}
		mod.Close(ctx)
	})
	// Stock wazero stopping runaways its own way: WithCloseOnContextDone,
	// what airlock's instrument mode was before yield checks.
	rtc := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer rtc.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rtc)
	cmc, err := rtc.CompileModule(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	measure("wazero-closeoncontextdone", func(b *testing.B) {
		mod, err := rtc.InstantiateModule(ctx, cmc, wazero.NewModuleConfig().WithName("").WithArgs("compute", computeN).WithStdout(&bytes.Buffer{}))
		if err != nil {
			b.Fatal(err)
		}
		mod.Close(ctx)
	})
	e, err := runtime.New(ctx, runtime.Config{CacheDir: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	m := runtime.NewModule("compute", wasm)
	for _, mode := range []struct {
		name string
		in   runtime.Interrupt
	}{{"airlock-abandon", runtime.InterruptAbandon}, {"airlock-instrument", runtime.InterruptInstrument}} {
		p := policy.Default(b.TempDir())
		if err := e.Precompile(ctx, m, p.Limits.Memory, mode.in); err != nil {
			b.Fatal(err)
		}
		measure(mode.name, func(b *testing.B) {
			res, err := e.Run(ctx, runtime.Spec{Module: m, Args: []string{computeN}, Policy: p, Interrupt: mode.in, Stdout: &bytes.Buffer{}})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%v %+v", err, res)
			}
		})
	}
}

func BenchmarkStart(b *testing.B) {
	bb := bins()
	if bb.err != nil {
		b.Fatal(bb.err)
	}
	probeWasm := filepath.Join(b.TempDir(), "probe.wasm")
	if err := os.WriteFile(probeWasm, probe.Bytes, 0o644); err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	cache := b.TempDir()
	per := map[string]float64{}
	run := func(name string, argv ...string) {
		b.Run(name, func(b *testing.B) {
			cmd := func() *exec.Cmd {
				c := exec.Command(argv[0], argv[1:]...)
				c.Dir = work
				c.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+cache)
				return c
			}
			if out, err := cmd().CombinedOutput(); err != nil { // warm caches
				b.Skipf("%s: %v: %s", name, err, out)
			}
			start := time.Now()
			var cpu time.Duration // every process's CPU time, user and system (runCounted)
			for i := 0; i < b.N; i++ {
				used, out, err := runCounted(cmd())
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				cpu += used
			}
			per[name] = float64(time.Since(start)) / float64(b.N)
			per[name+"/cpu"] = float64(cpu) / float64(b.N)
			b.ReportMetric(per[name+"/cpu"]/1e6, "cpu-ms")
			if base := per["bwrap-native"]; base > 0 && name != "bwrap-native" {
				b.ReportMetric(per[name]/base, "x-bwrap")
				// On a busy machine the wall clock mostly measures waiting
				// for a core; CPU time is what each start costs.
				b.ReportMetric(per[name+"/cpu"]/per["bwrap-native/cpu"], "cpu-x-bwrap")
			}
		})
	}
	run("native", bb.probeNative, "exit", "0")
	if bw, err := exec.LookPath("bwrap"); err == nil {
		run("bwrap-native", bw, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
			"--bind", work, work, "--unshare-all", "--die-with-parent", bb.probeNative, "exit", "0")
	}
	run("airlock-run", bb.airlock, "run", probeWasm, "--", "exit", "0")
	// The smallest tool there is (proc_exit(0), 100 bytes): airlock's own
	// cost of a cold start, which a small C or TinyGo tool barely adds to.
	tinyWasm := filepath.Join(b.TempDir(), "tiny.wasm")
	if err := os.WriteFile(tinyWasm, runtime.ExitModule(0), 0o644); err != nil {
		b.Fatal(err)
	}
	run("airlock-run-tiny", bb.airlock, "run", tinyWasm)

	// The same two runs handed to a warm worker (airlock warm,
	// docs/warm.md), each once the next worker is ready, as between an
	// agent's calls: wall clock is the client's, from its start to its
	// exit; cpu-ms is the client's CPU; all-cpu-ms adds the whole life of
	// the worker that ran it (its start and preparation, spent while
	// nobody waited) and the server's share, and cpu-x-bwrap compares that.
	benchWarm(b, bb.airlock, work, cache, per, [][]string{
		{"airlock-warm", bb.airlock, "run", probeWasm, "--", "exit", "0"},
		{"airlock-warm-tiny", bb.airlock, "run", tinyWasm},
	})

	// In-process, for the MCP server's view: one Engine, module compiled.
	ctx := context.Background()
	e, err := runtime.New(ctx, runtime.Config{CacheDir: "-"})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	p := policy.Default(work)
	b.Run("engine-run", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, err := e.Run(ctx, runtime.Spec{Module: probe, Args: []string{"exit", "0"}, Policy: p})
			if err != nil || res.ExitCode != 0 {
				b.Fatal(err)
			}
		}
	})
}
