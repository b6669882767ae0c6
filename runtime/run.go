package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
)

// Spec is one tool run.
type Spec struct {
	Module *Module
	Args   []string // argv[1:]; argv[0] is the module's name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Policy *policy.Policy
	// LookupEnv reads the host environment for the policy's pass list;
	// os.LookupEnv if nil.
	LookupEnv func(string) (string, bool)
	// Asker answers what the policy leaves open; nil denies.
	Asker decision.Asker
	// Record receives every decision as it is made (audit log, telemetry).
	// A decision it cannot record is denied and revokes the run's
	// capabilities (decision.Recorder).
	Record decision.Recorder
	// Interrupt is how a timeout or cancellation stops the guest.
	Interrupt Interrupt
	// ReadOnlyVerdict is what a write into a read-only mount gets:
	// policy.Deny (the zero value), or policy.Ask to let Asker decide each
	// such write. A mount the managed ceiling made read-only (its Origin is
	// of the managed layer) always denies.
	ReadOnlyVerdict policy.Verdict
	// MemoryGroup says whose runs may hand this one their memory. From a
	// module's second run in a process on, a run's memory may be the
	// mapping a finished run of the same module left, reset byte for byte
	// to what a fresh one holds (mempool_linux.go); only runs of the same
	// group share them. Nothing of a run's memory reaches the next, but a
	// run can time the memory it gets and learn roughly how much the last
	// one used: the MCP server gives each client session its own group.
	MemoryGroup string
	// FreshMemory says no later run will be of this run's group (the MCP
	// server's stateless HTTP calls): the run gets a fresh mapping and
	// leaves none behind. Kept, its mapping would cost a reset that no
	// run uses, and push out of the pool one that a later run would.
	FreshMemory bool
}

// Reason says why a run ended.
type Reason string

const (
	Exited      Reason = "exited"       // the tool returned or called proc_exit
	Timeout     Reason = "timeout"      // the wall-time limit passed
	Canceled    Reason = "canceled"     // the caller's context ended
	Trapped     Reason = "trapped"      // the module trapped (crash, unreachable, bad memory access)
	MemoryLimit Reason = "memory-limit" // the tool failed at the memory limit
)

// Stream counts what a tool wrote to one output stream.
type Stream struct {
	Bytes     int64 `json:"bytes"`
	Truncated bool  `json:"truncated"`
}

// Result is what a run did.
type Result struct {
	ExitCode  uint32
	Reason    Reason
	Err       error // the trap or failure, when Reason is not Exited
	Duration  time.Duration
	Stdout    Stream
	Stderr    Stream
	Memory    uint64 // bytes of linear memory at the end
	Threads   int    // threads the tool started (wasi-threads), besides its main one
	Decisions []decision.Decision
}

// Run runs spec's module once in a fresh sandbox built from spec's policy.
// The error is non-nil only when the run could not start (bad policy mount,
// malformed module, missing import); what the tool itself did is in Result.
func (e *Engine) Run(ctx context.Context, spec Spec) (*Result, error) {
	p := spec.Policy
	if p == nil {
		return nil, errors.New("runtime: Spec.Policy is nil")
	}
	if e.alt != nil {
		return e.alt.run(ctx, e, spec) // another engine (backend.go)
	}
	ti := e.threadsOf(spec.Module)
	r, k, cm, alloc, err := e.compiled(ctx, spec.Module, pagesFor(p.Limits.Memory), spec.Interrupt)
	if err != nil {
		return nil, err
	}

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if p.Limits.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, p.Limits.Timeout)
	}
	defer cancel()
	// A module with threads runs under a context of its own that also ends
	// when a thread ends the run (proc_exit, a trap): every thread, the
	// main one included, and every host call sees it end (threads.go).
	stopCtx, stop := runCtx, context.CancelCauseFunc(func(error) {})
	if ti.shared {
		stopCtx, stop = context.WithCancelCause(runCtx)
	}
	defer stop(nil)

	// spec.Record is read at each decision, so PrepareRun may wrap it.
	gate := host.NewGate(stopCtx, spec.Asker, func(d decision.Decision) error {
		if spec.Record != nil {
			return spec.Record(d)
		}
		return nil
	})
	// airlock serves WASI's files, directories and streams itself
	// (internal/host/wasi.go): the mounts and streams go to its state, not to
	// wazero's module config.
	sb, err := e.newSandbox(&spec, gate)
	if err != nil {
		return nil, err
	}
	defer sb.close()
	wasi, stdout, stderr := sb.wasi, sb.stdout, sb.stderr
	// airlock's own WASI serves the arguments and environment (hostRun
	// gives them to it), not wazero's module config.
	cfg := wazero.NewModuleConfig().WithName("")

	hr, callCtx, finish, err := e.hostRun(stopCtx, &spec, gate)
	if err != nil {
		return nil, err
	}
	hr.WASI = wasi
	hr.OnClose(wasi.Close)

	// With yield checks, the guest is stopped through its stop flags
	// (yield.go), set when the run's context ends: the main instance's and
	// every thread's.
	var guest guestStop
	var threads *threadGroup
	if ti.shared {
		threads = &threadGroup{stop: stop}
		if k.interrupt == interruptYield {
			threads.guest = &guest
		}
		if ti.imported != nil {
			threads.newThread = wazeroThreads(r.rt, cm, cfg.WithStartFunctions(), threads.guest)
			mem, err := e.sharedMemory(callCtx, r, k, ti.imported)
			if err != nil {
				finish(nil)
				return nil, &ModuleError{Name: spec.Module.Name, Err: err}
			}
			defer mem.Close(context.Background())
			shared := mem.Memory()
			threads.wake = func() { wakeAll(shared) }
			name := ti.imported.Module
			callCtx = experimental.WithImportResolver(callCtx, func(n string) api.Module {
				if n == name {
					return mem
				}
				return nil
			})
		}
		callCtx = host.WithThread(callCtx, 0)
		threads.ctx = callCtx
		hr.Threads = threads
	}

	res := &Result{}
	start := time.Now()
	// Go cannot preempt a goroutine running compiled WebAssembly, so a
	// garbage collection that starts while the guest computes waits for it
	// to call the host or return; with a guest that never does, every
	// goroutine (the timer that would stop it included) waits forever.
	// Code without checks (InterruptAbandon, a module without threads:
	// compiled as it is) runs with no collection, and with a P to spare
	// for the timer (see RATIONALE.md).
	plain := k.interrupt == InterruptAbandon
	abandoned := false
	if plain {
		restore := e.pauseGC(p.Limits.Memory)
		defer func() {
			if !abandoned {
				restore()
			}
		}()
	}
	done := make(chan outcome, 1)
	go func() {
		// Instantiate without start functions, then call _start ourselves,
		// so the module's memory can still be measured when it exits.
		// The guest's memory is a mapping of its own (memory_unix.go),
		// which starts from the module's data image (dataseg.go), or the
		// last run's of the module, reset (mempool_linux.go).
		// Its memory is given back only once the guest stops (runMemory).
		mem := newRunMemory(alloc, spec.MemoryGroup, spec.FreshMemory)
		mod, err := r.rt.InstantiateModule(experimental.WithMemoryAllocator(callCtx, mem), cm, cfg.WithStartFunctions())
		if err != nil {
			mem.stopped()
			done <- outcome{err: &startError{err}}
			return
		}
		if k.interrupt == interruptYield {
			guest.attach(mod)
		}
		if threads != nil {
			if mem := moduleMemory(mod); mem != nil { // a defined shared memory: its waiters too
				threads.setWake(func() { wakeAll(mem) })
			}
		}
		if start := mod.ExportedFunction("_start"); start != nil { // the main thread
			_, err = start.Call(callCtx)
		}
		size := memorySize(mod)
		mem.stopped()
		done <- outcome{mem: size, err: err}
		mod.Close(context.Background())
	}()

	abandon := func() {
		// Take every capability away first, then stop waiting: the
		// guest may spin on, but can no longer touch anything.
		gate.Revoke()
		stdout.close()
		stderr.close()
		// The collector stays off, with no memory limit that could wake
		// it: a collection now would wait for the spinning guest forever,
		// and the process is about to exit. (Instrumented code, a thread
		// left in a host call, holds nothing up.)
		abandoned = true
		if plain {
			debug.SetMemoryLimit(math.MaxInt64)
		}
	}
	var out outcome
	if threads != nil {
		var left bool
		out, left = threads.await(done, spec.Interrupt == InterruptAbandon)
		if left {
			abandon()
		}
		res.Threads = threads.threads()
	} else {
		select {
		case out = <-done:
		case <-runCtx.Done():
			if plain {
				abandon()
				out.err = runCtx.Err()
			} else {
				guest.set()
				out = <-done
			}
		}
	}
	res.Duration = time.Since(start)
	res.Memory = out.mem
	res.Stdout, res.Stderr = stdout.stats(), stderr.stats()
	// Every question still open (a prompt behind an HTTP dial the tool
	// gave up on) is closed and recorded before the decisions are read.
	gate.End(decision.ErrRunEnded)
	hr.Close() // what host functions opened for the run (connections)
	res.Decisions = gate.Decisions()

	var se *startError
	if errors.As(out.err, &se) {
		finish(nil) // the run never started: PrepareRun's finish gets nil
		return nil, &ModuleError{Name: spec.Module.Name, Err: se.err}
	}
	classify(res, out.err, ctx, runCtx, p.Limits.Memory)
	finish(res)
	return res, nil
}

// classify fills in the exit code and reason from what instantiation returned.
func classify(res *Result, err error, parent, runCtx context.Context, memLimit uint64) {
	var ee *sys.ExitError
	switch {
	case err == nil:
		res.Reason = Exited
	case errors.As(err, &ee) && ee.ExitCode() != sys.ExitCodeDeadlineExceeded && ee.ExitCode() != sys.ExitCodeContextCanceled:
		res.Reason, res.ExitCode = Exited, ee.ExitCode()
	case parent.Err() != nil:
		res.Reason, res.Err = Canceled, parent.Err()
	case runCtx.Err() != nil:
		res.Reason, res.Err = Timeout, context.DeadlineExceeded
	default:
		res.Reason, res.Err = Trapped, err
	}
	// A Go guest that cannot grow its heap prints "out of memory" and exits
	// with status 2; any guest that fails with its memory within one Go heap
	// arena (4 MiB) of the limit is reported as having hit the limit.
	if memLimit > 0 && (res.Reason == Trapped || (res.Reason == Exited && res.ExitCode != 0)) &&
		res.Memory+4<<20 >= memLimit {
		res.Reason = MemoryLimit
		if res.Err == nil {
			res.Err = fmt.Errorf("exit status %d", res.ExitCode)
		}
	}
}

// outcome is what a run's main thread returned: the memory size at its
// end and its error. On wasmtime, interrupt says the stop switch ended
// it, and start that the error is from instantiation.
type outcome struct {
	mem uint64
	err error
	//lint:ignore U1000 set and read by the wasmtime engine (build tag wasmtime)
	interrupt, start bool
}

type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }

// memorySize is the size of a module's memory, 0 if it has none.
func memorySize(mod api.Module) uint64 {
	if m := moduleMemory(mod); m != nil {
		return uint64(m.Size()) // defined or imported (a shared memory)
	}
	return 0
}

// moduleMemory is mod's memory, defined or imported, or nil when it has
// none (wazero then returns a typed nil).
func moduleMemory(mod api.Module) api.Memory {
	m := mod.Memory()
	if m == nil {
		return nil
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return m
}

// environ returns the tool's environment, sorted by name: exactly what the
// policy gives, host variables named in the pass list (only when set), then
// fixed values, which win. Nothing is added: a Go tool without PWD takes
// the first preopened directory (the first mount) as its working
// directory, and a policy that wants another sets PWD (docs/wasi.md).
func environ(p *policy.Policy, lookup func(string) (string, bool)) [][2]string {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env := p.Env
	vals := map[string]string{}
	for _, k := range env.Pass {
		if v, ok := lookup(k); ok {
			vals[k] = v
		}
	}
	for k, v := range env.Set {
		vals[k] = v
	}
	out := make([][2]string, 0, len(vals))
	for k, v := range vals {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// ErrOutputLimit is what a tool's write gets once its stream reached the
// output limit. The guest sees an I/O error.
var ErrOutputLimit = errors.New("output limit reached")

// capped passes writes through until max bytes, then refuses them. It holds
// no buffer: host memory stays flat whatever the tool prints.
type capped struct {
	mu     sync.Mutex
	w      io.Writer
	max    int64
	n      int64
	cut    bool
	closed bool
}

func newCapped(w io.Writer, max int64) *capped { return &capped{w: w, max: max} }

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, experimentalsys.EBADF
	}
	if c.max > 0 && c.n+int64(len(p)) > c.max {
		room := c.max - c.n
		if room > 0 {
			n, _ := c.w.Write(p[:room])
			c.n += int64(n)
		}
		c.cut = true
		return 0, ErrOutputLimit
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *capped) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *capped) stats() Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stream{Bytes: c.n, Truncated: c.cut}
}

// pauseGC turns the garbage collector off for a run of code without
// checks and returns what turns it back on. Runs of one Engine may
// overlap; the collector comes back when the last one ends. A soft memory
// limit (the guest's own limit plus 1 GiB of headroom for the host) lets
// the collector run again only if host memory would otherwise grow past
// it.
//
// It also makes sure the process has two Ps (GOMAXPROCS): the guest holds
// one for as long as it computes, and on one core (or a CPU quota, or
// taskset) the timer that ends the run would never run again. One spare
// P is enough for one such run at a time, which is what InterruptAbandon
// is for (one run, then the process exits).
func (e *Engine) pauseGC(guestMemory uint64) (restore func()) {
	e.gcMu.Lock()
	defer e.gcMu.Unlock()
	if e.gcPaused == 0 {
		// No new collection from here; SetGCPercent waits only for the
		// marking of one under way, after which that collection still
		// needs every P at a safe point once more (flushing their caches,
		// holding the world's lock), which a guest that starts spinning
		// then never gives: the collector, and every goroutine waiting for
		// a P, wait for ever. Stopping the world waits for the world's
		// lock, so it returns only once that collection has let go:
		// runtime.Stack of every goroutine into no buffer does that and
		// nothing else. (Reading the heap from runtime/metrics alone,
		// which does not stop the world, left the window open: a threads
		// test hung in one run of three under load; with the stop before
		// SetGCPercent, a collection that starts in between can still hit
		// it. ReadMemStats, which stopped the world here before, also
		// flushes every P's span cache: about 150 fresh pages and a
		// twentieth of a cold start's CPU.)
		e.gcPercent = debug.SetGCPercent(-1)
		goruntime.Stack(nil, true)
		heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(heap)
		e.gcLimit = debug.SetMemoryLimit(int64(heap[0].Value.Uint64()) + int64(guestMemory) + 1<<30)
		// Changing GOMAXPROCS stops the world too: no guest without
		// checks runs now (this is the first), and others leave for Go.
		e.gcProcs = 0
		if goruntime.GOMAXPROCS(0) < 2 {
			e.gcProcs = goruntime.GOMAXPROCS(2)
		}
	}
	e.gcPaused++
	return func() {
		e.gcMu.Lock()
		defer e.gcMu.Unlock()
		if e.gcPaused--; e.gcPaused == 0 {
			debug.SetGCPercent(e.gcPercent)
			debug.SetMemoryLimit(e.gcLimit)
			if e.gcProcs != 0 {
				goruntime.GOMAXPROCS(e.gcProcs)
			}
		}
	}
}

// hostRun makes the per-run state host functions reach through the call
// context, and lets Config.PrepareRun add to it. finish is never nil.
//
// A run whose arguments or environment hold a NUL byte does not start, on
// either engine: WASI passes them as NUL-terminated strings, so the guest
// would read a value cut short, or two where there was one.
func (e *Engine) hostRun(runCtx context.Context, spec *Spec, gate *host.Gate) (*host.Run, context.Context, func(*Result), error) {
	lookup := spec.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	args := append([]string{spec.Module.Name}, spec.Args...)
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, nil, nil, fmt.Errorf("argument %d of %s holds a NUL byte, which WASI cannot pass; the tool did not run", i, spec.Module.Name)
		}
	}
	var env []string
	for _, kv := range environ(spec.Policy, spec.LookupEnv) {
		if strings.IndexByte(kv[0]+kv[1], 0) >= 0 {
			return nil, nil, nil, fmt.Errorf("the environment variable %q of %s holds a NUL byte, which WASI cannot pass; the tool did not run", kv[0], spec.Module.Name)
		}
		env = append(env, kv[0]+"="+kv[1])
	}
	hr := &host.Run{Gate: gate, Policy: spec.Policy, LookupEnv: lookup,
		Tool: spec.Module.Name, Digest: spec.Module.Digest, Values: map[any]any{}}
	// args_* and environ_* read the run's arguments and environment here.
	host.SetProcess(hr, args, env)
	callCtx := host.WithRun(runCtx, hr)
	finish := func(*Result) {}
	if e.cfg.PrepareRun != nil {
		var f func(*Result)
		callCtx, f = e.cfg.PrepareRun(callCtx, spec, hr)
		if f != nil {
			finish = f
		}
	}
	return hr, callCtx, finish, nil
}
