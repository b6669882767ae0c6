package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmfile"
)

// wasi-threads (RATIONALE.md, "Why run wasi-threads, and how?"): a module
// with a shared memory runs on a runtime with wazero's threads feature on.
// When it imports that memory (as wasm32-wasip1-threads modules do), the run
// makes the memory itself, in a tiny module of its own, and hands it to every
// instance through an import resolver; each wasi.thread-spawn instantiates
// the same compiled module again on it and calls its wasi_thread_start on a
// goroutine of its own. Every thread shares the run's host state (the Run:
// WASI descriptors, gate, limits, telemetry), and its context is the run's,
// so everything that ends the run ends the threads.

// MaxThreads is how many threads a run may have alive at once besides its
// main thread. Past it thread-spawn fails with EAGAIN (pthread_create
// returns EAGAIN), and the run goes on.
const MaxThreads = 64

// maxTID is the largest thread ID wasi-threads allows (IDs are positive and
// fit in 29 bits). IDs are never reused within a run.
const maxTID = 0x1FFFFFFF

// threadStart is the export a new thread enters.
const threadStart = "wasi_thread_start"

// threadsInfo is what a module needs for threads.
type threadsInfo struct {
	shared bool // it has a shared memory: its runtime needs the threads feature
	// imported is its shared memory import, when it imports one; only such
	// a module can spawn threads (a new instance of a module that defines
	// its memory would get a memory of its own).
	imported *wasmfile.Import
	// imports is importsKeyOf the module, from the same parse.
	imports string
}

// threadsOf returns what m needs for threads, and the host functions it
// imports (importsKeyOf), parsing it once per digest.
func (e *Engine) threadsOf(m *Module) threadsInfo {
	if v, ok := e.threadInfos.Load(m.Digest); ok {
		return v.(threadsInfo)
	}
	var ti threadsInfo
	if f, err := wasmfile.Parse(m.Bytes); err == nil {
		for i, im := range f.Imports {
			if im.Memory != nil && im.Memory.Shared {
				ti.shared = true
				ti.imported = &f.Imports[i]
			}
		}
		for _, mem := range f.Memories {
			ti.shared = ti.shared || mem.Shared
		}
		ti.imports = importsKeyOf(f)
	}
	e.threadInfos.Store(m.Digest, ti)
	return ti
}

// memoryModule is a module that defines one shared memory with these
// limits and exports it as name: the memory a run's threads share.
func memoryModule(name string, min, max uint64) []byte {
	b := append([]byte{}, wasmfile.Magic...)
	b = append(b, 1, 0, 0, 0)
	mem := []byte{1, 3} // one memory; flags: has a maximum, shared
	mem = appendLEB(appendLEB(mem, min), max)
	b = append(append(b, 5), appendLEB(nil, uint64(len(mem)))...)
	b = append(b, mem...)
	exp := appendLEB([]byte{1}, uint64(len(name))) // one export
	exp = append(append(exp, name...), 2, 0)       // memory 0
	b = append(append(b, 7), appendLEB(nil, uint64(len(exp)))...)
	return append(b, exp...)
}

func appendLEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// sharedMemory instantiates the memory a module importing im shares with
// its threads, anonymous so that runs do not collide.
func (e *Engine) sharedMemory(ctx context.Context, r *rtEntry, k rtKey, im *wasmfile.Import) (api.Module, error) {
	cm, err := e.compileSharedMemory(ctx, r, k, im)
	if err != nil {
		return nil, err
	}
	mod, err := r.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("making the shared memory %s.%s: %w", im.Module, im.Name, err)
	}
	return mod, nil
}

// compileSharedMemory compiles the module that defines the memory im
// imports, once per runtime and limits, through the compile cache like
// any module (Precompile does it before the Landlock wall is up).
func (e *Engine) compileSharedMemory(ctx context.Context, r *rtEntry, k rtKey, im *wasmfile.Import) (wazero.CompiledModule, error) {
	max := im.Memory.Max
	if !im.Memory.HasMax {
		max = uint64(k.memPages) // wazero refuses a shared memory without one anyway
	}
	key := im.Name + "/" + strconv.FormatUint(im.Memory.Min, 10) + "/" + strconv.FormatUint(max, 10)
	r.mu.Lock()
	if r.memories == nil {
		r.memories = map[string]*compileOnce{}
	}
	c, ok := r.memories[key]
	if !ok {
		c = &compileOnce{}
		r.memories[key] = c
	}
	r.mu.Unlock()
	c.once.Do(func() {
		m := NewModule("shared memory", memoryModule(im.Name, im.Memory.Min, max))
		cctx := context.WithoutCancel(ctx)
		if e.code != nil {
			c.mod, c.err = e.code.compileWazero(cctx, r.rt, m, variantOf(k.interrupt, true, ""), nil)
		} else {
			c.mod, c.err = r.rt.CompileModule(cctx, m.Bytes)
		}
	})
	if c.err != nil {
		r.mu.Lock()
		if r.memories[key] == c {
			delete(r.memories, key)
		}
		r.mu.Unlock()
		return nil, fmt.Errorf("making the shared memory %s.%s: %w", im.Module, im.Name, c.err)
	}
	return c.mod, nil
}

// threadGroup is the threads of one run, on any engine. It is the run's
// Spawner. What is engine-specific, making a thread and waking the
// memory's waiters, it gets as funcs.
type threadGroup struct {
	// newThread makes thread tid, an instance of the run's module on the
	// shared memory whose host calls see tctx; nil for a module that
	// defines its shared memory (a new instance would have its own).
	newThread func(tctx context.Context, tid int32, startArg uint32) (thread, error)
	// ctx is the run's call context (the Run, telemetry, the import
	// resolver); it ends when the run ends, however it ends.
	ctx  context.Context
	stop context.CancelCauseFunc // ends ctx
	// wakeEvery is how often await wakes the memory's waiters while the
	// run ends (2 ms when zero).
	wakeEvery time.Duration
	// guest holds every instance's stop flag when the module has yield
	// checks (wazero; nil: wazero's instrumentation or wasmtime's epoch
	// stop them with ctx).
	guest *guestStop

	mu      sync.Mutex
	ended   bool  // the run is ending: no new thread, no new outcome
	end     error // what ended the run, when a thread did (*sys.ExitError or a trap)
	live    int
	next    int32
	started int
	wake    func() // wakes every waiter of the shared memory (set before the run, or by setWake)
	idle    chan struct{}
}

// thread is one thread of a run, made but not yet started.
type thread interface {
	// run calls wasi_thread_start(tid, start_arg) on the calling
	// goroutine and returns how it ended.
	run() error
	// close releases the thread's instance, after run or instead of it.
	close()
}

// wazeroThread is a thread on wazero: an instance and its entry point.
type wazeroThread struct {
	ctx      context.Context
	mod      api.Module
	fn       api.Function
	tid, arg uint32
	guest    *guestStop // the run's stop flags, when the module has yield checks
}

func (t *wazeroThread) run() error {
	_, err := t.fn.Call(t.ctx, uint64(t.tid), uint64(t.arg))
	return err
}

func (t *wazeroThread) close() {
	if t.guest != nil {
		t.guest.detach(t.mod)
	}
	t.mod.Close(context.Background())
}

// wazeroThreads returns what makes a thread on wazero: a new instance of
// cm in rt, with cfg, its stop flag in guest when not nil (set at once if
// the run is already ending).
func wazeroThreads(rt wazero.Runtime, cm wazero.CompiledModule, cfg wazero.ModuleConfig, guest *guestStop) func(context.Context, int32, uint32) (thread, error) {
	return func(tctx context.Context, tid int32, startArg uint32) (thread, error) {
		mod, err := rt.InstantiateModule(tctx, cm, cfg)
		if err != nil {
			return nil, err
		}
		fn := mod.ExportedFunction(threadStart)
		if fn == nil {
			mod.Close(context.Background())
			return nil, errors.New("no " + threadStart)
		}
		if guest != nil {
			guest.attach(mod)
		}
		return &wazeroThread{ctx: tctx, mod: mod, fn: fn, tid: uint32(tid), arg: startArg, guest: guest}, nil
	}
}

// errThreadEnded is the cause of a run's context when a thread ended the
// run (proc_exit or a trap).
var errThreadEnded = errors.New("a thread ended the run")

// Spawn implements host.Spawner.
func (g *threadGroup) Spawn(_ context.Context, startArg uint32) (int32, uint16) {
	if g.newThread == nil {
		return 0, host.ThreadErrNotSup
	}
	g.mu.Lock()
	if g.ended || g.ctx.Err() != nil || g.live >= MaxThreads || g.next >= maxTID {
		g.mu.Unlock()
		return 0, host.ThreadErrAgain
	}
	g.next++
	tid := g.next
	g.live++
	g.mu.Unlock()

	th, err := g.newThread(host.WithThread(g.ctx, tid), tid, startArg)
	if err != nil {
		g.done(tid, nil)
		return 0, host.ThreadErrAgain
	}
	g.mu.Lock()
	if g.ended { // the run ended while the thread was being made
		g.mu.Unlock()
		th.close()
		g.done(tid, nil)
		return 0, host.ThreadErrAgain
	}
	g.started++
	g.mu.Unlock()
	go func() {
		err := th.run()
		th.close()
		g.done(tid, err)
	}()
	return tid, 0
}

// done counts thread tid ended with err (nil: it returned). The first
// thread to end with proc_exit or a trap, before anything else ended the
// run, ends the run with that.
func (g *threadGroup) done(tid int32, err error) {
	g.mu.Lock()
	g.live--
	if g.live == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	first := err != nil && !g.ended && g.ctx.Err() == nil
	if first {
		g.ended = true
		g.end = fmt.Errorf("thread %d: %w", tid, err)
	}
	g.mu.Unlock()
	if first {
		g.stop(errThreadEnded)
	}
}

// await waits for the run to end, as its main thread returning (done), a
// thread ending it, or its context ending; then stops every thread still
// running and waits for it and for the main thread, waking whatever waits
// in memory.atomic.wait (every wakeEvery). With abandon (InterruptAbandon),
// a thread that does not stop within a short grace (one still in a host
// call: its code is always instrumented, engine.go) is left behind with no
// capability, the process being about to exit, and abandoned is true.
func (g *threadGroup) await(done <-chan outcome, abandon bool) (out outcome, abandoned bool) {
	mainDone := false
	select {
	case out = <-done:
		mainDone = true
	case <-g.ctx.Done():
	}
	g.mu.Lock()
	g.ended = true
	end := g.end
	g.mu.Unlock()
	g.stop(decision.ErrRunEnded)
	if g.guest != nil {
		g.guest.set() // every thread, and the main one, traps at its next check
	}

	const grace = 200 * time.Millisecond
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	every := g.wakeEvery
	if every == 0 {
		every = 2 * time.Millisecond
	}
	var woken time.Time
	var took time.Duration // how long the last wake took (wasmtime's is linear in the memory's size)
	for {
		g.mu.Lock()
		live := g.live
		var idle chan struct{}
		if live > 0 {
			if g.idle == nil {
				g.idle = make(chan struct{})
			}
			idle = g.idle
		}
		g.mu.Unlock()
		if mainDone && live == 0 {
			break
		}
		if abandon && time.Now().After(deadline) {
			abandoned = true
			break
		}
		if wake := g.waker(); wake != nil && time.Since(woken) >= max(every, took) {
			begin := time.Now()
			wake()
			woken = time.Now()
			took = woken.Sub(begin)
		}
		if g.guest != nil {
			g.guest.set() // again: a budget write may have raced the last
		}
		select {
		case o := <-done:
			if !mainDone {
				out, mainDone = o, true
			}
		case <-idle:
		case <-tick.C:
		}
	}
	if end != nil {
		out.err = end // the main thread only saw the run being stopped
	} else if !mainDone {
		out.err = context.Cause(g.ctx)
	}
	return out, abandoned
}

// setWake sets what wakes the memory's waiters, when the run did not
// make the memory (a module that defines its shared memory: it is known
// once the main instance is).
func (g *threadGroup) setWake(wake func()) {
	g.mu.Lock()
	if g.wake == nil {
		g.wake = wake
	}
	g.mu.Unlock()
}

func (g *threadGroup) waker() func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.wake
}

// threads returns how many threads were started.
func (g *threadGroup) threads() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started
}

// wakeAll wakes every agent waiting in memory.atomic.wait32/wait64 on mem.
// wazero's waits have no context: a wait with no timeout ends only when
// notified, so a run that ends while a thread waits would leave its
// goroutine blocked for ever. wazero's memory has Notify(offset, count),
// but no list of the offsets waited on; it keeps them in a sync.Map field,
// read here through reflection (pinned by TestThreadsStopWhenTheRunEnds).
// Without that field, every aligned offset is notified (slow for a large
// memory, but still right).
func wakeAll(mem api.Memory) {
	n, ok := mem.(interface {
		Notify(offset, count uint32) uint32
	})
	if !ok {
		return
	}
	if m := memWaiters(mem); m != nil {
		m.Range(func(k, _ any) bool {
			if off, ok := k.(uint32); ok {
				n.Notify(off, math.MaxUint32)
			}
			return true
		})
		return
	}
	size := mem.Size()
	for off := uint32(0); off+4 <= size && off+4 > off; off += 4 {
		n.Notify(off, math.MaxUint32)
	}
}

// memWaiters returns wazero's map of waited offsets of mem, nil when its
// memory type has no such field.
func memWaiters(mem api.Memory) *sync.Map {
	v := reflect.ValueOf(mem)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("waiters")
	if !f.IsValid() || f.Type() != reflect.TypeFor[sync.Map]() || !f.CanAddr() {
		return nil
	}
	return (*sync.Map)(unsafe.Pointer(f.UnsafeAddr()))
}
