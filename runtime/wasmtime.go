//go:build wasmtime

package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
)

const wasmtimeBuilt = true

// wasmtimeVersion keys the disk cache of compiled modules: wasmtime refuses
// code compiled by another version or configuration, and a new key avoids
// even trying.
const wasmtimeVersion = "wasmtime-go-v39.0.1-epoch-threads"

// epochTick is how often the engine's epoch advances. A run's wall-time
// limit is a number of ticks, so it is enforced to within one tick, at the
// cost of one atomic increment per tick for the whole process.
const epochTick = 10 * time.Millisecond

// wasmtimeBackend runs modules on wasmtime. Its host functions are
// airlock's own, the same as on wazero: WASI preview 1 over the policy
// filesystem (internal/host), the network, and the caller's (Config.HostFuncs),
// each passed through Config.Wrap and defined once in the linker
// (wasmtime_host.go). wasmtime's own WASI is never linked.
type wasmtimeBackend struct {
	cfg    Config
	code   *codeCache // sealed store of compiled modules, nil for none
	engine *wasmtime.Engine
	linker *wasmtime.Linker
	stop   chan struct{}
	ticker sync.WaitGroup

	mu       sync.Mutex
	compiled map[string]*wasmtimeOnce
	probe    *wasmtime.Store // for linker look-ups only

	// The module that wakes a shared memory's waiters (wasmtime_threads.go),
	// compiled the first time a run with threads needs it.
	wakeOnce sync.Once
	wakeMod  *wasmtime.Module
	wakeErr  error
}

type wasmtimeOnce struct {
	once sync.Once
	mod  *wasmtime.Module
	err  error
}

func newWasmtime(ctx context.Context, cfg Config, code *codeCache) (backend, error) {
	if err := checkWasmtimeLayout(); err != nil {
		return nil, err
	}
	c := wasmtime.NewConfig()
	c.SetEpochInterruption(true)
	c.SetWasmThreads(true) // shared memories and atomics, for wasi-threads
	engine := wasmtime.NewEngineWithConfig(c)
	linker := wasmtime.NewLinker(engine)
	if err := defineHostFuncs(ctx, linker, cfg.Wrap, cfg.HostFuncs); err != nil {
		linker.Close()
		engine.Close()
		return nil, fmt.Errorf("wasmtime: defining airlock's host functions: %w", err)
	}
	b := &wasmtimeBackend{cfg: cfg, code: code, engine: engine, linker: linker,
		stop: make(chan struct{}), compiled: map[string]*wasmtimeOnce{}, probe: wasmtime.NewStore(engine)}
	b.ticker.Add(1)
	go func() {
		defer b.ticker.Done()
		t := time.NewTicker(epochTick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				engine.IncrementEpoch()
			case <-b.stop:
				return
			}
		}
	}()
	return b, nil
}

func (b *wasmtimeBackend) close() error {
	close(b.stop)
	b.ticker.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.compiled {
		if c.mod != nil {
			c.mod.Close()
		}
	}
	b.compiled = nil
	if b.wakeMod != nil {
		b.wakeMod.Close()
	}
	b.probe.Close()
	b.linker.Close()
	b.engine.Close()
	return nil
}

func (b *wasmtimeBackend) provides(module, name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.linker.Get(b.probe, module, name) != nil
}

func (b *wasmtimeBackend) precompile(ctx context.Context, m *Module) error {
	_, err := b.compile(m)
	return err
}

// compile returns m compiled, once per backend, through the disk cache.
func (b *wasmtimeBackend) compile(m *Module) (*wasmtime.Module, error) {
	b.mu.Lock()
	c, ok := b.compiled[m.Digest]
	if !ok {
		c = &wasmtimeOnce{}
		b.compiled[m.Digest] = c
	}
	b.mu.Unlock()
	c.once.Do(func() {
		if c.err = checkBytes(m.Bytes, b.provides); c.err != nil {
			c.err = &ModuleError{Name: m.Name, Err: c.err}
			return
		}
		// Serialized wasmtime modules are native code that wasmtime trusts
		// blindly: only a sealed entry, verified in memory, is loaded.
		slot := ""
		if b.code != nil {
			slot = b.code.slot(wasmtimeVersion, m.Digest, "")
			b.code.mu.Lock()
			ser, err := b.code.read(slot)
			b.code.mu.Unlock()
			if err == nil {
				mod, err := wasmtime.NewModuleDeserialize(b.engine, ser)
				if err == nil {
					c.mod = mod
					return
				}
				b.code.discard(slot, m.Name, fmt.Errorf("wasmtime could not load it: %v", firstLineOf(err)))
			} else if err != errNoEntry {
				b.code.discard(slot, m.Name, err)
			}
		}
		var done func()
		if b.cfg.OnCompile != nil {
			done = b.cfg.OnCompile(m.Name, len(m.Bytes))
		}
		c.mod, c.err = wasmtime.NewModule(b.engine, m.Bytes)
		if done != nil {
			done()
		}
		if c.err != nil {
			c.err = &ModuleError{Name: m.Name, Err: c.err}
			return
		}
		if slot != "" {
			if ser, err := c.mod.Serialize(); err == nil {
				if err := b.code.store(slot, "", bytes.NewReader(ser)); err != nil {
					b.code.warn(fmt.Sprintf("compile cache: could not store a compiled module: %v", err))
				}
			}
		}
	})
	if c.err != nil {
		b.mu.Lock()
		if b.compiled[m.Digest] == c {
			delete(b.compiled, m.Digest)
		}
		b.mu.Unlock()
	}
	return c.mod, c.err
}

func (b *wasmtimeBackend) run(ctx context.Context, e *Engine, spec Spec) (*Result, error) {
	p := spec.Policy
	mod, err := b.compile(spec.Module)
	if err != nil {
		return nil, err
	}
	ti := e.threadsOf(spec.Module)

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if p.Limits.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, p.Limits.Timeout)
	}
	defer cancel()
	// A module with threads runs under a context of its own that also ends
	// when a thread ends the run, as on wazero (run.go).
	stopCtx, stop := runCtx, context.CancelCauseFunc(func(error) {})
	if ti.shared {
		stopCtx, stop = context.WithCancelCause(runCtx)
	}
	defer stop(nil)
	gate := host.NewGate(stopCtx, spec.Asker, func(d decision.Decision) error {
		if spec.Record != nil {
			return spec.Record(d)
		}
		return nil
	})
	// The same sandbox as on wazero (sandbox.go): every mount through the
	// policy filesystem, the same streams and limits.
	sb, err := e.newSandbox(&spec, gate)
	if err != nil {
		return nil, err
	}
	defer sb.close()
	stdout, stderr := sb.stdout, sb.stderr

	hr, callCtx, finish, err := e.hostRun(stopCtx, &spec, gate)
	if err != nil {
		return nil, err
	}
	hr.WASI = sb.wasi
	hr.OnClose(sb.wasi.Close)

	memLimit := int64(-1)
	if p.Limits.Memory > 0 {
		memLimit = int64(p.Limits.Memory)
	}
	var threads *threadGroup
	var wt *wasmtimeThreads
	if ti.shared {
		wt, err = b.newWasmtimeThreads(mod, ti, memLimit, pagesFor(p.Limits.Memory))
		if err != nil {
			finish(nil)
			return nil, &ModuleError{Name: spec.Module.Name, Err: err}
		}
		callCtx = host.WithThread(callCtx, 0)
		threads = &threadGroup{ctx: callCtx, stop: stop, wake: wt.wake, wakeEvery: 20 * time.Millisecond}
		if ti.imported != nil {
			threads.newThread = wt.newThread
		}
		hr.Threads = threads
		wt.users.Add(1) // the main thread's store
	}
	var shared *sharedMemory
	if wt != nil {
		shared = wt.shared
	}
	// The guest ends at the first epoch tick after the run is over: its
	// wall-time limit passed, its caller gave up, or a thread ended it
	// (wasmtime_epoch.go).
	gs, err := b.newGuestStore(callCtx, memLimit, shared)
	if err != nil {
		if wt != nil {
			wt.users.Done()
			wt.close()
		}
		finish(nil)
		return nil, err
	}
	if wt != nil {
		gs.run.onShared = wt.found
	}

	res := &Result{}
	begin := time.Now()
	done := make(chan outcome, 1)
	go func() {
		var out outcome
		defer func() {
			if out.mem == 0 && gs.run.shared != nil {
				out.mem = gs.run.shared.size()
			}
			out.interrupt = gs.close()
			if wt != nil {
				wt.users.Done()
			}
			done <- out
		}()
		var inst *wasmtime.Instance
		var err error
		if wt != nil {
			inst, err = wt.instantiate(gs)
		} else {
			inst, err = b.linker.Instantiate(gs.store, mod)
		}
		if err != nil {
			out.err, out.start = gs.run.outcome(err), true
			return
		}
		if wt != nil && gs.run.shared == nil {
			// A module that defines its shared memory: the run learns of
			// it now, before _start, so that the end of the run wakes a
			// waiter that never called the host.
			gs.run.foundShared(instanceShared(gs.store, inst, "memory"))
		}
		if f := inst.GetFunc(gs.store, "_start"); f != nil {
			_, err = f.Call(gs.store)
			out.err = gs.run.outcome(err)
		}
		if ex := inst.GetExport(gs.store, "memory"); ex != nil && ex.Memory() != nil {
			out.mem = uint64(ex.Memory().DataSize(gs.store))
		}
	}()

	revoke := func() {
		// Take every capability and the streams away. A host call the
		// guest makes from now on ends it (its context is done), and a
		// guest that only computes stops at the next epoch tick.
		gate.Revoke()
		stdout.close()
		stderr.close()
	}
	var out outcome
	if threads != nil {
		var left bool
		out, left = threads.await(done, spec.Interrupt == InterruptAbandon)
		if left {
			revoke()
			go wt.close() // once the last store is closed
		} else {
			wt.close()
		}
		res.Threads = threads.threads()
	} else {
		select {
		case out = <-done:
		case <-ctx.Done():
			// The caller gave up: return now.
			revoke()
			out.err = ctx.Err()
		}
	}
	res.Duration = time.Since(begin)
	res.Memory = out.mem
	res.Stdout, res.Stderr = stdout.stats(), stderr.stats()
	gate.End(decision.ErrRunEnded) // open questions are closed and recorded first
	hr.Close()
	res.Decisions = gate.Decisions()

	var ee *sys.ExitError
	if out.start && !errors.As(out.err, &ee) {
		finish(nil)
		return nil, &ModuleError{Name: spec.Module.Name, Err: out.err}
	}
	if out.interrupt && ctx.Err() == nil && runCtx.Err() != nil && (threads == nil || threads.endedBy() == nil) {
		// The stop switch fired on the wall-time limit, give or take a tick.
		res.Reason, res.Err = Timeout, context.DeadlineExceeded
	} else {
		classify(res, out.err, ctx, runCtx, p.Limits.Memory)
	}
	finish(res)
	return res, nil
}
