package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

var probe *runtime.Module

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "airlock-runtime-test")
	if err != nil {
		panic(err)
	}
	path, err := wasmbuild.Build("testdata/probe", dir, "probe")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	probe = runtime.NewModule("probe", b)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// engine returns an Engine with a private disk cache.
func engine(t testing.TB) *runtime.Engine {
	t.Helper()
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// engineCache keeps compiled modules between runs of this test binary:
// wasmtime takes seconds to compile each Go tool, and a cached module
// loads in milliseconds. Entries are keyed by module digest and engine
// version, so sharing them is safe. It lives in the user's own cache folder,
// not at a fixed name in the shared temporary folder, where anyone could
// make it first and plant compiled code for the next run to load (wazero's
// own cache, used for the stock baseline, is not sealed).
var engineCache = func() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "airlock-test", "engine-cache")
	}
	d, err := os.MkdirTemp("", "airlock-test-engine-cache")
	if err != nil {
		panic(err)
	}
	return d
}()

// sharedEngines holds one Engine of each engine this build has (wazero,
// and wasmtime under -tags wasmtime) for tests that only run the probe,
// so it is compiled once per test binary and engine. wazero's compiled
// code stays in memory; wasmtime's goes to a disk cache shared between
// test runs, as Cranelift takes seconds per Go module.
var sharedEngines = sync.OnceValue(func() map[string]*runtime.Engine {
	out := map[string]*runtime.Engine{}
	for _, name := range runtime.Engines() {
		cache := "-"
		if name != runtime.EngineWazero {
			cache = engineCache
		}
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: name})
		if err != nil {
			panic(err)
		}
		out[name] = e
	}
	return out
})

// sharedEngine is the shared wazero Engine.
func sharedEngine() *runtime.Engine { return sharedEngines()[runtime.EngineWazero] }

// forEngines runs f as a subtest on each engine of this build, so that a
// test of what a run guarantees holds on every engine.
func forEngines(t *testing.T, f func(t *testing.T, e *runtime.Engine)) {
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) { f(t, sharedEngines()[name]) })
	}
}

type run struct {
	engine *runtime.Engine // nil: the shared wazero Engine
	args   []string
	stdin  string
	mutate func(*policy.Policy)
	mode   runtime.Interrupt
	lookup func(string) (string, bool)
}

func runProbe(t *testing.T, r run) (*runtime.Result, string, string, string) {
	t.Helper()
	work := t.TempDir()
	p := policy.Default(work)
	if r.mutate != nil {
		r.mutate(p)
	}
	e := r.engine
	if e == nil {
		e = sharedEngine()
	}
	var stdout, stderr bytes.Buffer
	res, err := e.Run(context.Background(), runtime.Spec{
		Module: probe, Args: r.args, Stdin: strings.NewReader(r.stdin),
		Stdout: &stdout, Stderr: &stderr, Policy: p, Interrupt: r.mode, LookupEnv: r.lookup,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, stdout.String(), stderr.String(), work
}

func TestExitStatusArgsAndStdin(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, out, _, _ := runProbe(t, run{engine: e, args: []string{"exit", "7"}})
		if res.Reason != runtime.Exited || res.ExitCode != 7 {
			t.Fatalf("got %s %d, want exited 7", res.Reason, res.ExitCode)
		}
		if out != "exiting with 7\n" {
			t.Fatalf("stdout %q", out)
		}
		res, out, _, _ = runProbe(t, run{engine: e, args: []string{"args", "a b", "", "-x"}})
		if res.ExitCode != 0 || out != "a b||-x\n" {
			t.Fatalf("args: exit %d stdout %q", res.ExitCode, out)
		}
		_, out, _, _ = runProbe(t, run{engine: e, args: []string{"stdin"}, stdin: "hello"})
		if out != "5 bytes: hello" {
			t.Fatalf("stdin: %q", out)
		}
	})
}

func TestEnvironmentIsAllowlisted(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		host := map[string]string{"LANG": "C.UTF-8", "GITHUB_TOKEN": "sekrit-value", "HOME": "/root"}
		_, out, _, _ := runProbe(t, run{engine: e,
			args:   []string{"env"},
			lookup: func(k string) (string, bool) { v, ok := host[k]; return v, ok },
			mutate: func(p *policy.Policy) {
				p.Env.Pass = []string{"LANG", "UNSET_VAR"}
				p.Env.Set = map[string]string{"FOO": "bar"}
			},
		})
		if out != "FOO=bar\nLANG=C.UTF-8\n" {
			t.Fatalf("environment = %q, want only FOO and LANG", out)
		}
	})
}

func TestRealClockAndRandomness(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		before := time.Now()
		_, out, _, _ := runProbe(t, run{engine: e, args: []string{"clock"}})
		var wall, slept int64
		if _, err := fmt.Sscan(out, &wall, &slept); err != nil {
			t.Fatalf("parsing %q: %v", out, err)
		}
		if got := time.Unix(0, wall); got.Before(before) || got.After(time.Now()) {
			t.Errorf("guest wall clock %v is not the host's (%v..%v): fake clock?", got, before, time.Now())
		}
		if slept < int64(50*time.Millisecond) {
			t.Errorf("a 50ms sleep took %v in the guest: fake sleep?", time.Duration(slept))
		}
		_, r1, _, _ := runProbe(t, run{engine: e, args: []string{"random"}})
		_, r2, _, _ := runProbe(t, run{engine: e, args: []string{"random"}})
		if r1 == r2 {
			t.Errorf("two runs drew the same random bytes %q: deterministic source?", r1)
		}
	})
}

func TestTimeoutStopsInfiniteLoop(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, out, _, _ := runProbe(t, run{engine: e,
			args: []string{"loop"}, mode: runtime.InterruptInstrument,
			mutate: func(p *policy.Policy) { p.Limits.Timeout = 300 * time.Millisecond },
		})
		if res.Reason != runtime.Timeout || !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Fatalf("reason %s err %v, want timeout", res.Reason, res.Err)
		}
		if res.Duration > 5*time.Second {
			t.Errorf("took %v to stop a 300ms run", res.Duration)
		}
		if out != "looping\n" {
			t.Errorf("stdout %q", out)
		}
	})
}

func TestAbandonRevokesCapabilities(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		work := t.TempDir()
		p := policy.Default(work)
		p.Limits.Timeout = 200 * time.Millisecond
		var stdout bytes.Buffer
		res, err := e.Run(context.Background(), runtime.Spec{
			Module: probe, Args: []string{"sleepwrite", "700ms", "/work/late.txt"},
			Stdout: &stdout, Policy: p, Interrupt: runtime.InterruptAbandon,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reason != runtime.Timeout {
			t.Fatalf("reason %s, want timeout", res.Reason)
		}
		if res.Duration > 600*time.Millisecond {
			t.Errorf("abandon waited %v for the guest", res.Duration)
		}
		// The guest wakes after the timeout and tries to write: it must fail.
		time.Sleep(time.Second)
		if _, err := os.Stat(filepath.Join(work, "late.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the abandoned guest wrote a file after its timeout (stat: %v)", err)
		}
	})
}

func TestMemoryLimit(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, _, stderr, _ := runProbe(t, run{engine: e,
			args:   []string{"alloc", "300"},
			mutate: func(p *policy.Policy) { p.Limits.Memory = 64 << 20 },
		})
		if res.Reason != runtime.MemoryLimit {
			t.Fatalf("reason %s exit %d (stderr %q), want memory-limit", res.Reason, res.ExitCode, stderr)
		}
		if res.Memory > 64<<20 {
			t.Fatalf("guest memory %d exceeds the 64 MiB limit", res.Memory)
		}
		res, out, _, _ := runProbe(t, run{engine: e,
			args:   []string{"alloc", "8"},
			mutate: func(p *policy.Policy) { p.Limits.Memory = 64 << 20 },
		})
		if res.Reason != runtime.Exited || res.ExitCode != 0 || out != "allocated 8 MiB\n" {
			t.Fatalf("small allocation under the limit: %s %d %q", res.Reason, res.ExitCode, out)
		}
	})
}

func TestOutputLimitCutsAndStopsFlood(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, out, stderr, _ := runProbe(t, run{engine: e,
			args:   []string{"flood", strconv.Itoa(64 << 20)},
			mutate: func(p *policy.Policy) { p.Limits.Output = 1 << 20 },
		})
		if len(out) != 1<<20 || res.Stdout.Bytes != 1<<20 || !res.Stdout.Truncated {
			t.Fatalf("stdout %d bytes (stats %+v), want exactly 1 MiB and truncated", len(out), res.Stdout)
		}
		if res.ExitCode != 3 || !strings.Contains(stderr, "write error after 1048576 bytes") {
			t.Fatalf("the guest should see a write error at the cap: exit %d stderr %q", res.ExitCode, stderr)
		}
	})
}

func TestOpenFileLimit(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, out, _, _ := runProbe(t, run{engine: e,
			args: []string{"openmany", "/work/f.txt", "100"},
			mutate: func(p *policy.Policy) {
				p.Limits.OpenFiles = 10
				os.WriteFile(filepath.Join(p.Mounts[0].Host, "f.txt"), []byte("x"), 0o644)
			},
		})
		if res.ExitCode != 0 {
			t.Fatalf("exit %d", res.ExitCode)
		}
		// WASI preview 1 as wazero implements it has no EMFILE: the guest sees
		// EIO, and the decision record says why.
		var n int
		fmt.Sscanf(out, "opened %d", &n)
		if n == 0 || n > 10 || !strings.Contains(out, "I/O error") {
			t.Fatalf("got %q, want at most 10 opens then an error", out)
		}
		found := false
		for _, d := range res.Decisions {
			found = found || (!d.Allowed && d.Op == "open" && strings.Contains(d.Rule, "open_files"))
		}
		if !found {
			t.Fatalf("no open-files denial among %+v", res.Decisions)
		}
	})
}

func TestMalformedAndTrappingModules(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		p := policy.Default(t.TempDir())
		var merr *runtime.ModuleError

		bad := runtime.NewModule("bad", []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff"))
		if _, err := e.Run(context.Background(), runtime.Spec{Module: bad, Policy: p}); !errors.As(err, &merr) {
			t.Fatalf("malformed module: err %v, want ModuleError", err)
		}

		// (module (import "env" "foo" (func)))
		imp := runtime.NewModule("imports", []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
			1, 4, 1, 0x60, 0, 0,
			2, 11, 1, 3, 'e', 'n', 'v', 3, 'f', 'o', 'o', 0, 0})
		_, err := e.Run(context.Background(), runtime.Spec{Module: imp, Policy: p})
		if !errors.As(err, &merr) || !strings.Contains(err.Error(), "env") {
			t.Fatalf("unknown import: err %v, want ModuleError naming env", err)
		}

		// (module (func (export "_start") unreachable))
		trap := runtime.NewModule("trap", []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
			1, 4, 1, 0x60, 0, 0,
			3, 2, 1, 0,
			7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
			10, 5, 1, 3, 0, 0, 0x0b})
		res, err := e.Run(context.Background(), runtime.Spec{Module: trap, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reason != runtime.Trapped || !strings.Contains(res.Err.Error(), "unreachable") {
			t.Fatalf("trap: reason %s err %v", res.Reason, res.Err)
		}
	})
}

func TestCompileCacheSurvivesEngines(t *testing.T) {
	dir := t.TempDir()
	compiles := 0
	for i := 0; i < 2; i++ {
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: dir,
			OnCompile: func(string, int) func() { compiles++; return func() {} }})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"exit", "0"}, Policy: policy.Default(t.TempDir())})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("run %d: %v %+v", i, err, res)
		}
		e.Close(context.Background())
	}
	if compiles != 1 {
		t.Fatalf("compiled %d times across two engines sharing a cache, want 1", compiles)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "compiled", "*", "*"))
	if len(entries) == 0 {
		t.Fatalf("nothing in the disk cache %s", dir)
	}
}

func TestConcurrentRunsShareOneModule(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var out bytes.Buffer
				res, err := e.Run(context.Background(), runtime.Spec{Module: probe,
					Args: []string{"args", strconv.Itoa(i)}, Stdout: &out, Policy: policy.Default(t.TempDir())})
				if err != nil {
					errs <- err
					return
				}
				if res.ExitCode != 0 || out.String() != strconv.Itoa(i)+"\n" {
					errs <- fmt.Errorf("run %d: exit %d out %q", i, res.ExitCode, out.String())
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestLoadRefusesNonWasm(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.wasm")
	os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o644)
	_, err := sharedEngine().Load(context.Background(), f)
	var merr *runtime.ModuleError
	if !errors.As(err, &merr) || !strings.Contains(err.Error(), "not a WebAssembly binary") {
		t.Fatalf("err %v", err)
	}
	_, err = sharedEngine().Load(context.Background(), filepath.Join(t.TempDir(), "missing.wasm"))
	var nf *runtime.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("missing file: err %v", err)
	}
}

// TestCloseWaitsForADetachedCompile: a caller that stops waiting for a
// compile (its context ended) leaves it running; closing the engine then
// must not pull the runtime out from under it, which crashed the process
// inside wazero (seen in airlock run stopped by SIGTERM while compiling).
func TestCloseWaitsForADetachedCompile(t *testing.T) {
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.Run(ctx, runtime.Spec{Module: probe, Args: []string{"exit", "0"}, Policy: policy.Default(t.TempDir())}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the caller's deadline while compiling", err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Without the wait, the compile still running panics here, in its own
	// goroutine, when it reaches the closed runtime (well within this time).
	time.Sleep(3 * time.Second)
}
