package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// threadsGuest is testdata/threads: a C guest that really spawns threads
// (wasi-threads) on a shared memory it imports.
func threadsGuest(t testing.TB) *runtime.Module {
	t.Helper()
	b, err := os.ReadFile("../testdata/threads/threads.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return runtime.NewModule("threads", b)
}

// runThreads runs the threads guest with args on a policy whose only mount
// is work (at /work), with mutate applied.
func runThreads(t *testing.T, e *runtime.Engine, work string, mode runtime.Interrupt, mutate func(*policy.Policy), args ...string) (*runtime.Result, string) {
	t.Helper()
	p := policy.Default(work)
	p.Mounts = p.Mounts[:1]
	if mutate != nil {
		mutate(p)
	}
	var stdout bytes.Buffer
	res, err := e.Run(context.Background(), runtime.Spec{Module: threadsGuest(t), Args: args,
		Stdout: &stdout, Stderr: &stdout, Policy: p, Interrupt: mode})
	if err != nil {
		t.Fatalf("Run %v: %v", args, err)
	}
	return res, stdout.String()
}

// TestThreadsRunUnderTheRunsPolicy runs eight real threads, on every
// engine: each prints,
// reads a file and tries to overwrite another in the mount, and adds to a
// shared sum with atomics. Every thread gets what the main thread gets
// from the policy filesystem: reads pass, a write into a read-only mount
// or onto a protected file is refused and the file's bytes on the host do
// not change, and a write the policy allows lands.
func TestThreadsRunUnderTheRunsPolicy(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) { threadsRunUnderTheRunsPolicy(t, e) })
}

func threadsRunUnderTheRunsPolicy(t *testing.T, e *runtime.Engine) {
	const n = 8
	for _, c := range []struct {
		name    string
		mutate  func(*policy.Policy)
		errno   int // what every write of victim.txt gets
		changed bool
	}{
		{"read-only mount", func(p *policy.Policy) { p.Mounts[0].Access = policy.Read }, 69, false}, // EROFS
		{"protected file in a write mount", func(p *policy.Policy) {
			pat, err := policy.NewPattern("victim.txt", policy.Origin{})
			if err != nil {
				panic(err)
			}
			p.Mounts[0].Protect = append(p.Mounts[0].Protect, pat)
		}, 2, false}, // EACCES
		{"write mount", nil, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			os.WriteFile(filepath.Join(work, "in.txt"), []byte("input data\n"), 0o644)
			os.WriteFile(filepath.Join(work, "victim.txt"), []byte("original\n"), 0o644)
			res, out := runThreads(t, e, work, runtime.InterruptInstrument, c.mutate, "run", fmt.Sprint(n))
			if res.Reason != runtime.Exited || res.ExitCode != 0 {
				t.Fatalf("%s %d %v\n%s", res.Reason, res.ExitCode, res.Err, out)
			}
			if res.Threads != n {
				t.Errorf("Result.Threads = %d, want %d", res.Threads, n)
			}
			for i := 0; i < n; i++ {
				for _, want := range []string{
					fmt.Sprintf("thread %d hello, tid ", i),
					fmt.Sprintf("thread %d: read in.txt: errno 0, 11 bytes\n", i),
					fmt.Sprintf("thread %d: write victim.txt: errno %d\n", i, c.errno),
				} {
					if !strings.Contains(out, want) {
						t.Errorf("no %q in\n%s", want, out)
					}
				}
			}
			if want := fmt.Sprintf("main: write victim.txt: errno %d\n", c.errno); !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
			if want := fmt.Sprintf("sum=%d threads=%d\n", n*(n+1)/2, n); !strings.Contains(out, want) {
				t.Errorf("the threads did not all add to the shared sum: no %q in\n%s", want, out)
			}
			got, _ := os.ReadFile(filepath.Join(work, "victim.txt"))
			if changed := string(got) != "original\n"; changed != c.changed {
				t.Errorf("victim.txt on the host is %q (changed %v, want %v)", got, changed, c.changed)
			}
			denied := 0
			for _, d := range res.Decisions {
				if !d.Allowed && d.Target == "/work/victim.txt" {
					denied++
				}
			}
			if want := map[bool]int{false: n + 1, true: 0}[c.changed]; denied != want {
				t.Errorf("%d denials of /work/victim.txt recorded, want %d (one per thread and the main one)", denied, want)
			}
		})
	}
}

// goroutinesBack waits for the number of goroutines to come back to
// baseline, and fails the test with a dump if it does not.
func goroutinesBack(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for goruntime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:goruntime.Stack(buf, true)]
			t.Fatalf("%d goroutines left after the run, %d before:\n%s", goruntime.NumGoroutine(), baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestThreadsStopWhenTheRunEnds ends runs in every way while a thread is
// still running (spinning, or waiting in memory.atomic.wait32 with no
// timeout) and checks the run's outcome and, from the host side, that no
// goroutine is left behind: every thread was stopped.
func TestThreadsStopWhenTheRunEnds(t *testing.T) {
	forEnginesOwn(t, threadsStopWhenTheRunEnds)
}

func threadsStopWhenTheRunEnds(t *testing.T, e *runtime.Engine) {
	work := t.TempDir()
	runThreads(t, e, work, runtime.InterruptInstrument, nil, "run", "1") // compile, warm up
	for _, c := range []struct {
		name   string
		args   []string
		reason runtime.Reason
		code   uint32
		errHas string
	}{
		{"a spinning thread at the time limit", []string{"spin"}, runtime.Timeout, 0, ""},
		{"a waiting thread when the main one returns", []string{"block"}, runtime.Exited, 0, ""},
		{"proc_exit in a thread while the main one waits", []string{"exit", "7"}, runtime.Exited, 7, ""},
		{"a trap in a thread while the main one waits", []string{"trap"}, runtime.Trapped, 0, "thread 1: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			baseline := goruntime.NumGoroutine()
			start := time.Now()
			res, out := runThreads(t, e, work, runtime.InterruptInstrument, func(p *policy.Policy) {
				p.Limits.Timeout = 500 * time.Millisecond
			}, c.args...)
			if res.Reason != c.reason || res.ExitCode != c.code {
				t.Fatalf("%s %d (%v), want %s %d\n%s", res.Reason, res.ExitCode, res.Err, c.reason, c.code, out)
			}
			if c.errHas != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), c.errHas)) {
				t.Errorf("error %v does not say %q", res.Err, c.errHas)
			}
			if c.reason != runtime.Timeout && time.Since(start) > 400*time.Millisecond {
				t.Errorf("the run took %v: it waited for the time limit instead of ending", time.Since(start))
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("the run took %v: its threads were not stopped when it ended", time.Since(start))
			}
			goroutinesBack(t, baseline)
		})
	}
}

// TestThreadFloodIsRefusedCleanly asks for more threads than a run may
// have alive: the spawns past runtime.MaxThreads fail with EAGAIN, which
// the guest sees and reports, and the run goes on and ends normally.
func TestThreadFloodIsRefusedCleanly(t *testing.T) {
	forEngines(t, threadFloodIsRefusedCleanly)
}

func threadFloodIsRefusedCleanly(t *testing.T, e *runtime.Engine) {
	runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, nil, "run", "1") // compile, warm up
	baseline := goruntime.NumGoroutine()
	const asked = runtime.MaxThreads + 36
	res, out := runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, nil, "flood", fmt.Sprint(asked))
	want := fmt.Sprintf("started=%d refused=%d first refusal=-6\n", runtime.MaxThreads, asked-runtime.MaxThreads)
	if res.Reason != runtime.Exited || res.ExitCode != 0 || out != want {
		t.Fatalf("%s %d %v: %q, want %q", res.Reason, res.ExitCode, res.Err, out, want)
	}
	goroutinesBack(t, baseline)
}

// TestAbandonedThreadsReturnAtTheTimeLimit is what airlock run does
// (InterruptAbandon), with more spinning threads than the process has Ps.
// A module with threads is instrumented whatever the mode, so its threads
// are stopped for real at the time limit and no goroutine is left:
// without the checks, the spinning threads would hold every P, and the
// timer that ends the run would never run again. The run happens in a
// child process of the test binary with GOMAXPROCS=2, five times, each
// killed if it hangs past a minute.
func TestAbandonedThreadsReturnAtTheTimeLimit(t *testing.T) {
	name := os.Getenv(abandonChild)
	if name == "" {
		// Several runs on each engine, each bounded: a collection or a
		// timer that waits for the spinning threads hangs the child.
		for _, name := range runtime.Engines() {
			for i := range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAbandonedThreadsReturnAtTheTimeLimit$", "-test.count=1", "-test.v")
				cmd.Env = append(os.Environ(), abandonChild+"="+name, "GOMAXPROCS=2")
				out, err := cmd.CombinedOutput()
				hung := ctx.Err() != nil
				cancel()
				if hung {
					t.Fatalf("%s: child %d hung past a minute: the spinning threads were not stopped\n%s", name, i, out)
				}
				if err != nil || !strings.Contains(string(out), "PASS") {
					t.Fatalf("%s: child %d: %v\n%s", name, i, err, out)
				}
			}
		}
		return
	}
	cache := t.TempDir()
	if name != runtime.EngineWazero {
		cache = engineCache
	}
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: name})
	if err != nil {
		t.Fatal(err)
	}
	runThreads(t, e, t.TempDir(), runtime.InterruptAbandon, nil, "run", "1") // compile, warm up
	baseline := goruntime.NumGoroutine()
	start := time.Now()
	res, _ := runThreads(t, e, t.TempDir(), runtime.InterruptAbandon, func(p *policy.Policy) {
		p.Limits.Timeout = 300 * time.Millisecond
	}, "spin", "3")
	if res.Reason != runtime.Timeout {
		t.Fatalf("%s %d %v, want a timeout", res.Reason, res.ExitCode, res.Err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the run took %v", d)
	}
	goroutinesBack(t, baseline)
}

// TestThreadSpawnWithoutAnImportedMemory: a module that defines its shared
// memory (jq as wasilibs builds it) runs, but a new instance of it would
// get a memory of its own, so thread-spawn fails with ENOTSUP (58), which
// this module passes to proc_exit.
func TestThreadSpawnWithoutAnImportedMemory(t *testing.T) {
	//	(module
	//	  (import "wasi" "thread-spawn" (func (param i32) (result i32)))
	//	  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
	//	  (memory (export "memory") 1 1 shared)
	//	  (func (export "_start") (call 1 (i32.sub (i32.const 0) (call 0 (i32.const 0)))))
	//	  (func (export "wasi_thread_start") (param i32 i32)))
	mod := wasm(
		section(1, vec([]byte{0x60, 1, 0x7f, 1, 0x7f}, []byte{0x60, 0, 0}, []byte{0x60, 1, 0x7f, 0}, []byte{0x60, 2, 0x7f, 0x7f, 0})),
		section(2, vec(append(append(name("wasi"), name("thread-spawn")...), 0, 0),
			append(append(name("wasi_snapshot_preview1"), name("proc_exit")...), 0, 2))),
		section(3, vec([]byte{1}, []byte{3})),
		section(5, vec([]byte{0x03, 1, 1})),
		section(7, vec(append(name("_start"), 0, 2), append(name("wasi_thread_start"), 0, 3), append(name("memory"), 2, 0))),
		section(10, vec(
			append(uleb(11), 0, 0x41, 0, 0x41, 0, 0x10, 0, 0x6b, 0x10, 1, 0x0b),
			[]byte{2, 0, 0x0b})),
	)
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		res, err := e.Run(context.Background(), runtime.Spec{Module: runtime.NewModule("defined", mod),
			Policy: policy.Default(t.TempDir()), Interrupt: runtime.InterruptInstrument})
		if err != nil || res.Reason != runtime.Exited || res.ExitCode != 58 {
			t.Fatalf("%v %+v, want exit 58 (thread-spawn: ENOTSUP)", err, res)
		}
	})
}

// TestThreadsGuestIsCurrent: the committed threads.wasm is what its source
// builds to, when clang for wasm32 is installed (.ci/run installs it).
func TestThreadsGuestIsCurrent(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed")
	}
	if _, err := exec.LookPath("wasm-ld"); err != nil {
		t.Skip("lld (wasm-ld) not installed")
	}
	out := filepath.Join(t.TempDir(), "threads.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-nostdlib", "-O2", "-matomics", "-mbulk-memory",
		"-Wl,--shared-memory", "-Wl,--import-memory", "-Wl,--initial-memory=1048576", "-Wl,--max-memory=4194304",
		"-Wl,--export=wasi_thread_start", "-Wl,-z,stack-size=65536", "-Wl,--strip-all", "-o", out, "threads.c", "start.s")
	cmd.Dir = "../testdata/threads"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	built, _ := os.ReadFile(out)
	committed, _ := os.ReadFile("../testdata/threads/threads.wasm")
	if !bytes.Equal(built, committed) {
		t.Fatal("testdata/threads/threads.wasm is stale: run `task threads-guest` and commit it")
	}
}

// TestThreadsShareTheMemoryLimit: the memory the threads share is capped
// by limits.memory, whatever maximum the module declares (4 MiB here):
// four threads growing it together stop at the limit.
func TestThreadsShareTheMemoryLimit(t *testing.T) {
	forEngines(t, threadsShareTheMemoryLimit)
}

func threadsShareTheMemoryLimit(t *testing.T, e *runtime.Engine) {
	for _, c := range []struct {
		limit uint64
		pages int
	}{{2 << 20, 32}, {0, 64}} { // no limit: the module's own maximum
		res, out := runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, func(p *policy.Policy) {
			p.Limits.Memory = c.limit
		}, "grow", "4")
		if want := fmt.Sprintf("pages=%d grown=%d\n", c.pages, c.pages-16); out != want || res.ExitCode != 0 {
			t.Errorf("limit %d: %q (exit %d), want %q", c.limit, out, res.ExitCode, want)
		}
		if res.Memory != uint64(c.pages)*64<<10 {
			t.Errorf("limit %d: Result.Memory = %d", c.limit, res.Memory)
		}
	}
}

// blockingAsker answers nothing until the question's context ends, as a
// person who walked away from the prompt.
type blockingAsker struct{ asked chan struct{} }

func (a blockingAsker) Ask(ctx context.Context, r decision.Request) decision.Reply {
	a.asked <- struct{}{}
	<-ctx.Done()
	ended, _ := decision.EndedBy(ctx)
	return decision.Reply{Source: decision.SourceUser, Ended: ended}
}

// TestAThreadAskingWhenTheRunEnds: a thread waits on a question (a write
// into a read-only mount, asked about) when the main thread returns. The
// question ends with the run, is recorded as run-ended and denied, the
// file keeps its bytes, and no goroutine is left.
func TestAThreadAskingWhenTheRunEnds(t *testing.T) {
	forEnginesOwn(t, aThreadAskingWhenTheRunEnds)
}

func aThreadAskingWhenTheRunEnds(t *testing.T, e *runtime.Engine) {
	work := t.TempDir()
	runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, nil, "run", "1") // compile, warm up
	os.WriteFile(filepath.Join(work, "victim.txt"), []byte("original\n"), 0o644)
	baseline := goruntime.NumGoroutine()
	p := policy.Default(work)
	p.Mounts = p.Mounts[:1]
	p.Mounts[0].Access = policy.Read
	p.Limits.Timeout = 0 // only the end of the run may end the question
	asker := blockingAsker{asked: make(chan struct{}, 1)}
	var out bytes.Buffer
	start := time.Now()
	res, err := e.Run(context.Background(), runtime.Spec{Module: threadsGuest(t), Args: []string{"ask"}, Stdout: &out,
		Policy: p, Interrupt: runtime.InterruptInstrument, Asker: asker, ReadOnlyVerdict: policy.Ask})
	if err != nil || res.Reason != runtime.Exited || res.ExitCode != 0 {
		t.Fatalf("%v %+v\n%s", err, res, out.String())
	}
	select {
	case <-asker.asked:
	default:
		t.Fatal("the thread's write was never asked about")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the run took %v", d)
	}
	found := false
	for _, d := range res.Decisions {
		if d.Target == "/work/victim.txt" {
			found = true
			if d.Allowed || d.Ended != decision.EndedRunEnded {
				t.Errorf("decision %+v, want denied, ended run-ended", d)
			}
		}
	}
	if !found {
		t.Errorf("no decision recorded for the question: %+v", res.Decisions)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "victim.txt")); string(b) != "original\n" {
		t.Errorf("victim.txt is now %q", b)
	}
	goroutinesBack(t, baseline)
}

// TestThreadsShareTheOutputLimit: eight threads writing to stdout at once
// share the run's one output cap: the host receives no byte past it.
func TestThreadsShareTheOutputLimit(t *testing.T) {
	forEngines(t, func(t *testing.T, e *runtime.Engine) {
		const limit = 100
		res, out := runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, func(p *policy.Policy) {
			p.Limits.Output = limit
		}, "run", "8")
		if len(out) > limit || res.Stdout.Bytes > limit || !res.Stdout.Truncated {
			t.Fatalf("%d bytes reached the host (Result.Stdout %+v), limit %d", len(out), res.Stdout, limit)
		}
	})
}

// TestAThreadCannotOutliveItsRun: a thread that only computes is stopped
// when its run ends, by the time limit or by the caller giving up, on
// every engine (under InterruptInstrument; on wasmtime whatever the
// Interrupt, as its epoch stops every store): Run returns, and from the
// host side the process spends no CPU in the second after it.
func TestAThreadCannotOutliveItsRun(t *testing.T) {
	forEnginesOwn(t, func(t *testing.T, e *runtime.Engine) {
		runThreads(t, e, t.TempDir(), runtime.InterruptInstrument, nil, "run", "1") // compile, warm up
		modes := []runtime.Interrupt{runtime.InterruptInstrument}
		if name := t.Name(); strings.HasSuffix(name, "/"+runtime.EngineWasmtime) {
			modes = append(modes, runtime.InterruptAbandon)
		}
		for _, mode := range modes {
			for _, how := range []string{"time limit", "caller gives up"} {
				t.Run(fmt.Sprintf("%s, %s", how, map[runtime.Interrupt]string{runtime.InterruptInstrument: "instrumented", runtime.InterruptAbandon: "abandonable"}[mode]), func(t *testing.T) {
					p := policy.Default(t.TempDir())
					p.Mounts = p.Mounts[:1]
					p.Limits.Timeout = 300 * time.Millisecond
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					want := runtime.Timeout
					if how == "caller gives up" {
						p.Limits.Timeout = time.Minute
						time.AfterFunc(300*time.Millisecond, cancel)
						want = runtime.Canceled
					}
					type ran struct {
						res *runtime.Result
						err error
					}
					done := make(chan ran, 1)
					go func() {
						res, err := e.Run(ctx, runtime.Spec{Module: threadsGuest(t), Args: []string{"spin"},
							Stdout: io.Discard, Policy: p, Interrupt: mode})
						done <- ran{res, err}
					}()
					var r ran
					select {
					case r = <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("Run did not return in 10 s: the spinning thread was not stopped")
					}
					if r.err != nil || r.res.Reason != want || r.res.Threads != 1 {
						t.Fatalf("%v %+v, want %s with one thread", r.err, r.res, want)
					}
					time.Sleep(100 * time.Millisecond) // a tick or two to stop in
					before := cpuTime(t)
					time.Sleep(time.Second)
					if spent := cpuTime(t) - before; spent > 400*time.Millisecond {
						t.Fatalf("the process spent %v of CPU in the second after the run ended: the thread still spins", spent)
					}
				})
			}
		}
	})
}

// forEnginesOwn runs f as a subtest on each engine of this build, with an
// Engine of its own (a fresh wazero, with a private cache; a fresh
// wasmtime on the shared disk cache, as Cranelift takes seconds), for
// tests that count goroutines or compile on purpose.
func forEnginesOwn(t *testing.T, f func(t *testing.T, e *runtime.Engine)) {
	for _, name := range runtime.Engines() {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			if name != runtime.EngineWazero {
				cache = engineCache
			}
			e, err := runtime.New(context.Background(), runtime.Config{CacheDir: cache, Engine: name})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			f(t, e)
		})
	}
}

// abandonChild marks the child process of TestAbandonedThreadsReturnAtTheTimeLimit.
const abandonChild = "AIRLOCK_TEST_ABANDON_CHILD"
