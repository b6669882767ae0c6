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

	"github.com/airlockhq/airlock/hostfuncs"
)

const wasmtimeBuilt = true

// wasmtimeVersion keys the disk cache of compiled modules: wasmtime refuses
// code compiled by another version or configuration, and a new key avoids
// even trying.
const wasmtimeVersion = "wasmtime-go-v39.0.1-epoch"

// epochTick is how often the engine's epoch advances. A run's wall-time
// limit is a number of ticks, so it is enforced to within one tick, at the
// cost of one atomic increment per tick for the whole process.
const epochTick = 10 * time.Millisecond

// wasmtimeBackend runs modules on wasmtime. Its host functions are
// airlock's own, the same as on wazero: WASI preview 1 over the policy
// filesystem (hostfuncs), the network, and the caller's (Config.HostFuncs),
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
}

type wasmtimeOnce struct {
	once sync.Once
	mod  *wasmtime.Module
	err  error
}

func newWasmtime(ctx context.Context, cfg Config, code *codeCache) (backend, error) {
	c := wasmtime.NewConfig()
	c.SetEpochInterruption(true)
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
		if c.err = checkBytes(m.Bytes, b.provides, true); c.err != nil {
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

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if p.Limits.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, p.Limits.Timeout)
	}
	defer cancel()
	gate := hostfuncs.NewGate(runCtx, spec.Asker, func(d hostfuncs.Decision) error {
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

	hr, callCtx, finish := e.hostRun(runCtx, &spec, gate)
	hr.WASI = sb.wasi
	hr.OnClose(sb.wasi.Close)

	sr := &storeRun{ctx: callCtx}
	store := wasmtime.NewStoreWithData(b.engine, sr)
	memLimit := int64(-1)
	if p.Limits.Memory > 0 {
		memLimit = int64(p.Limits.Memory)
	}
	store.Limiter(memLimit, -1, -1, -1, -1)
	// The guest ends at the first epoch tick after the run is over: its
	// wall-time limit passed or its caller gave up (wasmtime_epoch.go).
	halt, err := installEpochStop(store)
	if err != nil {
		store.Close()
		finish(nil)
		return nil, err
	}

	type outcome struct {
		mem       uint64
		err       error
		interrupt bool
		start     bool // the error is from instantiation
	}
	res := &Result{}
	begin := time.Now()
	done := make(chan outcome, 1)
	go func() {
		var out outcome
		ended := make(chan struct{})
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			select {
			case <-runCtx.Done():
				halt.stop()
			case <-ended:
			}
		}()
		defer func() {
			close(ended)
			<-watching // no stop after the switch is freed
			out.interrupt = halt.fired()
			store.Close()
			halt.free()
			done <- out
		}()
		inst, err := b.linker.Instantiate(store, mod)
		if err != nil {
			out.err, out.start = sr.outcome(err), true
			return
		}
		if f := inst.GetFunc(store, "_start"); f != nil {
			_, err = f.Call(store)
			out.err = sr.outcome(err)
		}
		if ex := inst.GetExport(store, "memory"); ex != nil && ex.Memory() != nil {
			out.mem = uint64(ex.Memory().DataSize(store))
		}
	}()

	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		// The caller gave up: take every capability and the streams away
		// and return. A host call the guest makes from now on ends it (its
		// context is done), and a guest that only computes stops at the
		// next epoch tick.
		gate.Revoke()
		stdout.close()
		stderr.close()
		out.err = ctx.Err()
	}
	res.Duration = time.Since(begin)
	res.Memory = out.mem
	res.Stdout, res.Stderr = stdout.stats(), stderr.stats()
	gate.End(hostfuncs.ErrRunEnded) // open questions are closed and recorded first
	hr.Close()
	res.Decisions = gate.Decisions()

	var ee *sys.ExitError
	if out.start && !errors.As(out.err, &ee) {
		finish(nil)
		return nil, &ModuleError{Name: spec.Module.Name, Err: out.err}
	}
	if out.interrupt && ctx.Err() == nil {
		// The stop switch fired on the wall-time limit, give or take a tick.
		res.Reason, res.Err = Timeout, context.DeadlineExceeded
	} else {
		classify(res, out.err, ctx, runCtx, p.Limits.Memory)
	}
	finish(res)
	return res, nil
}
