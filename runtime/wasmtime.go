//go:build wasmtime

package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/policy"
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

// wasmtimeBackend runs modules on wasmtime. Its WASI is wasmtime's own
// (native, with cap-std confinement of each preopened directory), so only
// rules about whole mounts apply; see nativeWASIGaps.
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

func newWasmtime(cfg Config, code *codeCache) (backend, error) {
	c := wasmtime.NewConfig()
	c.SetEpochInterruption(true)
	engine := wasmtime.NewEngineWithConfig(c)
	linker := wasmtime.NewLinker(engine)
	if err := linker.DefineWasi(); err != nil {
		engine.Close()
		return nil, fmt.Errorf("wasmtime: defining WASI: %w", err)
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
	if module != hostfuncs.WASIModule {
		return false
	}
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

// unenforced lists what of spec this engine cannot do.
func (b *wasmtimeBackend) unenforced() []Unenforced {
	var out []Unenforced
	if b.cfg.Wrap != nil {
		out = append(out, Unenforced{Rule: "a span for every host call (telemetry is on)", Origin: "runtime.Config.Wrap",
			Why: "its WASI functions are native code that airlock cannot wrap"})
	}
	return out
}

func (b *wasmtimeBackend) run(ctx context.Context, e *Engine, spec Spec) (*Result, error) {
	p := spec.Policy
	if gaps := append(b.unenforced(), nativeWASIGaps(p)...); len(gaps) > 0 && !b.cfg.AllowUnenforced {
		return nil, &UnenforceableError{Engine: EngineWasmtime, Rules: gaps}
	}
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

	wasi := wasmtime.NewWasiConfig()
	wasi.SetArgv(append([]string{spec.Module.Name}, spec.Args...))
	var keys, vals []string
	for _, kv := range environ(p, spec.LookupEnv) {
		keys, vals = append(keys, kv[0]), append(vals, kv[1])
	}
	wasi.SetEnv(keys, vals)
	// wasmtime's WASI is native: airlock cannot refuse single calls, so a
	// mount that exposes airlock's own state is refused whole.
	if err := mountsExposeState(p, hostfuncs.NewState(e.statePaths()), e.procMounts); err != nil {
		return nil, err
	}
	for _, m := range p.Mounts {
		dir, file := wasmtime.DIR_READ, wasmtime.FILE_READ
		if m.Access == policy.Write {
			dir, file = dir|wasmtime.DIR_WRITE, file|wasmtime.FILE_WRITE
		}
		if err := wasi.PreopenDir(m.Host, m.Guest, dir, file); err != nil {
			wasi.Close()
			return nil, fmt.Errorf("mounting %s at %s: %w", m.Host, m.Guest, err)
		}
	}

	// wasmtime-go takes stdio as file paths: give it the ends of pipes,
	// and copy between them and the caller's streams.
	stdout := newCapped(orDiscard(spec.Stdout), p.Limits.Output)
	stderr := newCapped(orDiscard(spec.Stderr), p.Limits.Output)
	pipes, err := wasiPipes(wasi, spec.Stdin, stdout, stderr)
	if err != nil {
		wasi.Close()
		return nil, err
	}

	hr, _, finish := e.hostRun(runCtx, &spec, gate)

	store := wasmtime.NewStore(b.engine)
	store.SetWasi(wasi)
	memLimit := int64(-1)
	if p.Limits.Memory > 0 {
		memLimit = int64(p.Limits.Memory)
	}
	store.Limiter(memLimit, -1, -1, -1, -1)
	ticks := uint64(1 << 62)
	if p.Limits.Timeout > 0 {
		ticks = uint64((p.Limits.Timeout+epochTick-1)/epochTick) + 1
	}
	store.SetEpochDeadline(ticks)

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
		defer func() {
			store.Close() // closes wasmtime's ends of the stdio pipes
			done <- out
		}()
		inst, err := b.linker.Instantiate(store, mod)
		if err != nil {
			out.err, out.start = err, true
			return
		}
		if f := inst.GetFunc(store, "_start"); f != nil {
			_, out.err = f.Call(store)
		}
		if ex := inst.GetExport(store, "memory"); ex != nil && ex.Memory() != nil {
			out.mem = uint64(ex.Memory().DataSize(store))
		}
		var trap *wasmtime.Trap
		if errors.As(out.err, &trap) {
			if c := trap.Code(); c != nil && *c == wasmtime.Interrupt {
				out.interrupt = true
			}
		}
	}()

	var out outcome
	select {
	case out = <-done:
		pipes.wait() // everything the guest wrote has been copied
		pipes.closeAll()
	case <-ctx.Done():
		// The caller gave up: take the streams away and return. The guest
		// stops at its epoch deadline (the wall-time limit) at the latest;
		// its output is drained and dropped until then.
		stdout.close()
		stderr.close()
		out.err = ctx.Err()
		go func() {
			<-done
			pipes.wait()
			pipes.closeAll()
		}()
	}
	res.Duration = time.Since(begin)
	res.Memory = out.mem
	res.Stdout, res.Stderr = stdout.stats(), stderr.stats()
	gate.End(hostfuncs.ErrRunEnded) // open questions are closed and recorded first
	hr.Close()
	res.Decisions = gate.Decisions()

	if out.start {
		finish(nil)
		var ee *wasmtime.Error
		if errors.As(out.err, &ee) {
			if _, ok := ee.ExitStatus(); !ok {
				return nil, &ModuleError{Name: spec.Module.Name, Err: out.err}
			}
		} else {
			return nil, &ModuleError{Name: spec.Module.Name, Err: out.err}
		}
	}
	err = out.err
	var ee *wasmtime.Error
	if errors.As(err, &ee) {
		if code, ok := ee.ExitStatus(); ok {
			err = sys.NewExitError(uint32(code))
		}
	}
	if out.interrupt && ctx.Err() == nil {
		// The epoch deadline is the wall-time limit, give or take a tick.
		res.Reason, res.Err = Timeout, context.DeadlineExceeded
	} else {
		classify(res, err, ctx, runCtx, p.Limits.Memory)
	}
	finish(res)
	return res, nil
}

// stdioPipes connects wasmtime's stdio, which it opens by path, to the
// run's streams through pipes.
type stdioPipes struct {
	files  []*os.File // airlock's ends
	guest  []*os.File // the ends wasmtime opened its own copies of
	copies sync.WaitGroup
}

func wasiPipes(wasi *wasmtime.WasiConfig, stdin io.Reader, stdout, stderr *capped) (*stdioPipes, error) {
	p := &stdioPipes{}
	fail := func(err error) (*stdioPipes, error) {
		p.closeAll()
		for _, f := range p.guest {
			f.Close()
		}
		return nil, fmt.Errorf("connecting the tool's standard streams: %w", err)
	}
	// stdin: the guest reads r; airlock writes spec.Stdin into w.
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	p.files, p.guest = append(p.files, w), append(p.guest, r)
	if err := wasi.SetStdinFile(fdPath(r)); err != nil {
		return fail(err)
	}
	if stdin != nil {
		go func() {
			io.Copy(w, stdin)
			w.Close()
		}()
	} else {
		w.Close()
	}
	for i, dst := range []*capped{stdout, stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		p.files, p.guest = append(p.files, r), append(p.guest, w)
		set := wasi.SetStdoutFile
		if i == 1 {
			set = wasi.SetStderrFile
		}
		if err := set(fdPath(w)); err != nil {
			return fail(err)
		}
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					// Past the output limit the bytes are drained and
					// dropped: the guest's write has already succeeded.
					dst.Write(buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
	// wasmtime has opened its own copies of the guest ends; airlock's
	// must close so that EOF arrives when wasmtime closes its copies.
	for _, f := range p.guest {
		f.Close()
	}
	p.guest = nil
	return p, nil
}

func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// wait returns once everything the guest wrote has been copied.
func (p *stdioPipes) wait() { p.copies.Wait() }

func (p *stdioPipes) closeAll() {
	for _, f := range p.files {
		f.Close()
	}
}
