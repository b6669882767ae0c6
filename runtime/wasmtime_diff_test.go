//go:build wasmtime

package runtime_test

// Differential tests of the two engines on what is particular to serving
// airlock's host functions through wasmtime's linker: guest pointers read
// through the caller's memory, the end of a run, and the tracing wrapper.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// badPointersWAT calls host functions with pointers and lengths outside the
// guest's memory (one 64 KiB page), each of which must be EFAULT (21), and
// prints each errno as one byte. A host that trusted them would read or
// write its own memory.
const badPointersWAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_name (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $out (param $v i32)
    (i32.store8 (i32.const 200) (local.get $v))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    ;; the iovec array past the end of memory
    (call $out (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8)))
    ;; an iovec whose buffer runs past the end
    (i32.store (i32.const 16) (i32.const 65530))
    (i32.store (i32.const 20) (i32.const 100))
    (call $out (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
    (call $out (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 8)))
    ;; pointer + length wraps around 2^32
    (i32.store (i32.const 16) (i32.const -16))
    (i32.store (i32.const 20) (i32.const 32))
    (call $out (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
    (call $out (call $random_get (i32.const -16) (i32.const 32)))
    ;; a path past the end
    (call $out (call $path_open (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 100)
      (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 24)))
    ;; results written past the end
    (call $out (call $args_sizes_get (i32.const 65534) (i32.const 0)))
    (call $out (call $environ_get (i32.const 65534) (i32.const 65534)))
    (call $out (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 65530)))
    (call $out (call $random_get (i32.const 65000) (i32.const 1000)))
    (call $out (call $prestat_name (i32.const 3) (i32.const 65534) (i32.const 100)))))`

// TestEnginesRefuseBadGuestPointers: on both engines every out-of-range
// pointer is EFAULT to the guest, and the run goes on.
func TestEnginesRefuseBadGuestPointers(t *testing.T) {
	wasm, err := wasmtime.Wat2Wasm(badPointersWAT)
	if err != nil {
		t.Fatal(err)
	}
	m := runtime.NewModule("badptr", wasm)
	want := strings.Repeat("\x15", 11) // EFAULT, for each of the 11 calls
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		var out bytes.Buffer
		p := plainPolicy(t.TempDir())
		p.Env.Set = map[string]string{"A": "b"}
		res, err := e.Run(context.Background(), runtime.Spec{Module: m, Stdout: &out, Policy: p, Interrupt: runtime.InterruptInstrument})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reason != runtime.Exited || res.ExitCode != 0 || out.String() != want {
			t.Fatalf("%s exit %d err %v, errnos %v, want %v", res.Reason, res.ExitCode, res.Err, []byte(out.String()), []byte(want))
		}
	})
}

// TestEnginesStopTheGuestWhenTheCallerGivesUp: a guest asleep when its
// caller cancels the run is stopped at its next host call, on both
// engines. Go's runtime sleeps in poll_oneoff, which the end of the run
// wakes early; a guest that went on would call it again and again until
// its own deadline passed, so a host-side count of calls that keeps
// growing after Run returned is a guest still running.
func TestEnginesStopTheGuestWhenTheCallerGivesUp(t *testing.T) {
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int64
			count := func(module, fn string, f api.GoModuleFunction) api.GoModuleFunction {
				return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
					calls.Add(1)
					f.Call(ctx, mod, stack)
				})
			}
			e, err := runtime.New(context.Background(), runtime.Config{CacheDir: engineCache, Engine: name, Wrap: count})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			// Compiled first, so that the cancellation finds the guest running.
			if err := e.Precompile(context.Background(), probe, 0, runtime.InterruptInstrument); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			res, err := e.Run(ctx, runtime.Spec{Module: probe, Args: []string{"sleep", "5s"},
				Policy: plainPolicy(t.TempDir()), Interrupt: runtime.InterruptInstrument})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != runtime.Canceled {
				t.Fatalf("reason %s, want canceled", res.Reason)
			}
			time.Sleep(300 * time.Millisecond)
			before := calls.Load()
			time.Sleep(700 * time.Millisecond)
			if after := calls.Load(); after != before {
				t.Fatalf("the guest made %d host calls after its run was cancelled: it still runs", after-before)
			}
		})
	}
}

// spinWAT computes for ever and never calls the host.
const spinWAT = `(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))`

// TestEnginesStopAComputingGuestWhenTheCallerGivesUp: a guest that only
// computes, never calling the host, is stopped soon after its caller
// cancels the run, on both engines, although its wall-time limit is far
// off. The witness is this process's CPU time: a guest still spinning
// after Run returned burns a core.
func TestEnginesStopAComputingGuestWhenTheCallerGivesUp(t *testing.T) {
	wasm, err := wasmtime.Wat2Wasm(spinWAT)
	if err != nil {
		t.Fatal(err)
	}
	m := runtime.NewModule("spin", wasm)
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			e := engineNamed(t, name)
			p := plainPolicy(t.TempDir())
			p.Limits.Timeout = time.Minute
			if err := e.Precompile(context.Background(), m, p.Limits.Memory, runtime.InterruptInstrument); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			res, err := e.Run(ctx, runtime.Spec{Module: m, Policy: p, Interrupt: runtime.InterruptInstrument})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != runtime.Canceled {
				t.Fatalf("reason %s, want canceled", res.Reason)
			}
			time.Sleep(200 * time.Millisecond) // a tick or two to stop in
			before := cpuTime(t)
			time.Sleep(time.Second)
			if spent := cpuTime(t) - before; spent > 400*time.Millisecond {
				t.Fatalf("the process spent %v of CPU in the second after the run was cancelled: the guest still spins", spent)
			}
		})
	}
}

// waitWAT defines its own shared memory and waits on it for ever, from
// _start, before any host call.
const waitWAT = `(module
  (memory (export "memory") 1 1 shared)
  (func (export "_start")
    (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))`

// TestEnginesWakeAWaitBeforeAnyHostCall: a module that waits in
// memory.atomic.wait32 with no timeout before it ever calls the host is
// woken when its run ends, on both engines: Run returns and no goroutine
// is left behind. (On wasmtime the run found a defined shared memory only
// through a host call, so Run never returned under instrumented
// interruption, an MCP call that never ended, and under abandon the
// waiter stayed blocked for ever.)
func TestEnginesWakeAWaitBeforeAnyHostCall(t *testing.T) {
	wasm, err := wasmtime.Wat2Wasm(waitWAT)
	if err != nil {
		t.Fatal(err)
	}
	m := runtime.NewModule("wait", wasm)
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			e := engineNamed(t, name)
			p := plainPolicy(t.TempDir())
			p.Limits.Timeout = 300 * time.Millisecond
			if err := e.Precompile(context.Background(), m, p.Limits.Memory, runtime.InterruptInstrument); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []runtime.Interrupt{runtime.InterruptInstrument, runtime.InterruptAbandon} {
				baseline := goruntime.NumGoroutine()
				res, err := e.Run(context.Background(), runtime.Spec{Module: m, Policy: p, Interrupt: mode})
				if err != nil {
					t.Fatal(err)
				}
				// wazero's wait returns at once on a memory no other thread
				// can reach; wasmtime's waits until woken.
				if res.Reason != runtime.Timeout && res.Reason != runtime.Exited {
					t.Fatalf("%v: reason %s (%v), want timeout or exited", mode, res.Reason, res.Err)
				}
				goroutinesBack(t, baseline)
			}
		})
	}
}

// TestEnginesTraceTheSameCalls: the tracing wrapper (Config.Wrap) sees
// every host call on wasmtime as on wazero: the same file and stream calls,
// the same number of times, for the same tool over the same tree. (Calls
// that depend on timing, clocks, polls and yields, are left out.)
func TestEnginesTraceTheSameCalls(t *testing.T) {
	tools, err := sampleTools()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]map[string]int{}
	for _, name := range runtime.Engines() {
		var mu sync.Mutex
		seen := map[string]int{}
		wrap := func(module, fn string, f api.GoModuleFunction) api.GoModuleFunction {
			return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				mu.Lock()
				seen[module+"."+fn]++
				mu.Unlock()
				f.Call(ctx, mod, stack)
			})
		}
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: engineCache, Engine: name, Wrap: wrap})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		sampleTree(t, dir)
		res, err := e.Run(context.Background(), runtime.Spec{Module: tools["grep"], Args: []string{"-rn", "TODO", "/work"},
			Stdout: &bytes.Buffer{}, Policy: policy.Default(dir), Interrupt: runtime.InterruptInstrument})
		e.Close(context.Background())
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
		for k := range seen {
			if strings.Contains(k, "clock_") || strings.Contains(k, "poll_oneoff") || strings.Contains(k, "sched_yield") {
				delete(seen, k)
			}
		}
		calls[name] = seen
	}
	show := func(m map[string]int) string {
		var lines []string
		for k, v := range m {
			lines = append(lines, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(lines)
		return strings.Join(lines, " ")
	}
	wz, wt := show(calls[runtime.EngineWazero]), show(calls[runtime.EngineWasmtime])
	if wz != wt || !strings.Contains(wt, host.WASIModule+".path_open=") {
		t.Fatalf("traced calls differ:\nwazero:   %s\nwasmtime: %s", wz, wt)
	}
}

// TestWasmtimeNativeWASIWouldLeak: the same guest, the same attack, on
// wasmtime's own WASI (what the wasmtime engine linked before it served
// airlock's) reads the hidden file and writes the protected one; through
// airlock's WASI on the wasmtime engine, neither. The fixture is a real
// attack, and airlock's layer is what stops it.
func TestWasmtimeNativeWASIWouldLeak(t *testing.T) {
	dir := t.TempDir()
	path, err := wasmbuild.Build(filepath.Join("..", "internal", "host", "testdata", "fsguest"), dir, "fsguest")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	attack := []string{"read:/work/.env", "write:/work/.git/config:pwned"}
	fixture := func() string {
		proj := t.TempDir()
		os.MkdirAll(filepath.Join(proj, ".git"), 0o755)
		os.WriteFile(filepath.Join(proj, ".git", "config"), []byte("[core]\n"), 0o644)
		os.WriteFile(filepath.Join(proj, ".env"), []byte("API_KEY=do-not-leak\n"), 0o644)
		return proj
	}

	// wasmtime's WASI, the mount preopened read-write.
	proj := fixture()
	engine := wasmtime.NewEngine()
	defer engine.Close()
	mod, err := wasmtime.NewModule(engine, wasm)
	if err != nil {
		t.Fatal(err)
	}
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stdout")
	wc := wasmtime.NewWasiConfig()
	wc.SetArgv(append([]string{"fsguest"}, attack...))
	if err := wc.PreopenDir(proj, "/work", wasmtime.DIR_READ|wasmtime.DIR_WRITE, wasmtime.FILE_READ|wasmtime.FILE_WRITE); err != nil {
		t.Fatal(err)
	}
	if err := wc.SetStdoutFile(out); err != nil {
		t.Fatal(err)
	}
	store := wasmtime.NewStore(engine)
	store.SetWasi(wc)
	inst, err := linker.Instantiate(store, mod)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inst.GetFunc(store, "_start").Call(store)
	if err != nil { // proc_exit(0) is an error carrying the status
		var we *wasmtime.Error
		if !errors.As(err, &we) {
			t.Fatalf("native run: %v", err)
		}
		if code, ok := we.ExitStatus(); !ok || code != 0 {
			t.Fatalf("native run: %v", err)
		}
	}
	store.Close()
	native, _ := os.ReadFile(out)
	config, _ := os.ReadFile(filepath.Join(proj, ".git", "config"))
	if !strings.Contains(string(native), "do-not-leak") || string(config) != "pwned" {
		t.Fatalf("wasmtime's own WASI refused the attack (stdout %q, .git/config %q): the fixture proves nothing", native, config)
	}

	// airlock's WASI on the wasmtime engine, the built-in default policy.
	proj = fixture()
	e := engineNamed(t, runtime.EngineWasmtime)
	var stdout bytes.Buffer
	res, err := e.Run(context.Background(), runtime.Spec{Module: runtime.NewModule("fsguest", wasm), Args: attack,
		Stdout: &stdout, Policy: policy.Default(proj)})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%v %+v", err, res)
	}
	config, _ = os.ReadFile(filepath.Join(proj, ".git", "config"))
	if strings.Contains(stdout.String(), "do-not-leak") || string(config) != "[core]\n" {
		t.Fatalf("airlock on wasmtime let the attack through: stdout %q, .git/config %q", stdout.String(), config)
	}
	if len(res.Decisions) != 2 {
		t.Errorf("decisions %+v, want the hide and the protect denial", res.Decisions)
	}
}

// writeLoopWAT writes one byte to stdout 100,000 times: nothing but host
// calls into airlock's fd_write.
const writeLoopWAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $l
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))`

// BenchmarkEnginesHostCallPath measures the cost of one host call on each
// engine (the same airlock fd_write behind both), as time per call and as
// a ratio to wazero's in the same run.
func BenchmarkEnginesHostCallPath(b *testing.B) {
	wasm, err := wasmtime.Wat2Wasm(writeLoopWAT)
	if err != nil {
		b.Fatal(err)
	}
	m := runtime.NewModule("writeloop", wasm)
	per := map[string]float64{}
	for _, name := range runtime.Engines() {
		e := engineNamed(b, name)
		p := plainPolicy(b.TempDir())
		if err := e.Precompile(context.Background(), m, p.Limits.Memory, runtime.InterruptAbandon); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var n countWriter
				res, err := e.Run(context.Background(), runtime.Spec{Module: m, Policy: p, Stdout: &n})
				if err != nil || res.ExitCode != 0 || n != 100000 {
					b.Fatalf("%v %+v %d bytes", err, res, n)
				}
			}
			per[name] = float64(time.Since(start)) / float64(b.N) / 100000
			b.ReportMetric(per[name], "ns/call")
			if base := per[runtime.EngineWazero]; base > 0 {
				b.ReportMetric(per[name]/base, "x-wazero")
			}
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// TestWasmtimeRunsThreadsAndRefusesTheSame: the wasmtime engine serves
// wasi-threads (the threads guest checks with no problem: thread-spawn is
// in its linker, the shared memory is allowed) and refuses by name what
// no engine runs: thread-spawn without wasi_thread_start.
func TestWasmtimeRunsThreadsAndRefusesTheSame(t *testing.T) {
	e := engineNamed(t, runtime.EngineWasmtime)
	if ps, err := e.Check(context.Background(), threadsGuest(t)); err != nil || len(ps) != 0 {
		t.Fatalf("Check of the threads guest: %v %+v", err, ps)
	}
	m := runtime.NewModule("threads", threadsModule)
	_, err := e.Run(context.Background(), runtime.Spec{Module: m, Policy: plainPolicy(t.TempDir())})
	var ie *runtime.IncompatibleError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "wasi.thread-spawn") || !strings.Contains(err.Error(), "wasi_thread_start") {
		t.Fatalf("err %v, want an IncompatibleError naming wasi.thread-spawn and wasi_thread_start", err)
	}
	if ps, err := e.Check(context.Background(), m); err != nil || len(ps) == 0 || ps[0].Feature != "threads" {
		t.Fatalf("Check: %v %+v", err, ps)
	}
}
