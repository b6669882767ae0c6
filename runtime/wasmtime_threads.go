//go:build wasmtime

package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/airlockhq/airlock/internal/host"
)

// wasi-threads on wasmtime, as wasmtime's own wasi-threads runs them: the
// run makes its shared memory once (wasmtime_sharedmemory_new, with the
// type the module imports, the maximum capped by limits.memory) and
// defines it in the run's copy of the engine's linker (a per-run
// definition cannot go into the linker every run shares); every
// thread-spawn makes a new store and instantiates the module in it through
// that copy, and calls wasi_thread_start(tid, arg) on a goroutine of its
// own. Each store has the run's memory limit and the epoch stop switch
// (wasmtime_epoch.go), set off when the run's context ends, and its host
// calls carry the run's context: the same gate, limits, descriptors,
// telemetry and revocation as the main thread. What is not engine-specific
// (the cap, thread IDs, who ends the run, waiting for the threads) is
// threadGroup's (threads.go), shared with wazero.

// guestStore is one store of a run (its main thread, or one thread) with
// its stop switch.
type guestStore struct {
	store   *wasmtime.Store
	run     *storeRun
	halt    *epochStop
	unwatch func()
}

// newGuestStore makes a store whose host calls see ctx, which stops at
// the first epoch tick after ctx ends. shared is the run's shared memory
// (nil for none).
func (b *wasmtimeBackend) newGuestStore(ctx context.Context, memLimit int64, shared *sharedMemory) (*guestStore, error) {
	sr := &storeRun{ctx: ctx, shared: shared}
	store := wasmtime.NewStoreWithData(b.engine, sr)
	store.Limiter(memLimit, -1, -1, -1, -1)
	halt, err := installEpochStop(store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &guestStore{store: store, run: sr, halt: halt, unwatch: stopWhenDone(ctx, halt)}, nil
}

// close closes the store and reports whether its stop switch ended the
// guest.
func (g *guestStore) close() (stopped bool) {
	g.unwatch() // no stop after the switch is freed
	stopped = g.halt.fired()
	g.store.Close()
	g.halt.free()
	if g.run.ownShared {
		g.run.shared.close()
	}
	return stopped
}

// stopWhenDone sets off s when ctx ends, until the returned func is
// called; after it returns, s is never touched again.
func stopWhenDone(ctx context.Context, s *epochStop) (release func()) {
	var mu sync.Mutex
	freed := false
	unregister := context.AfterFunc(ctx, func() {
		mu.Lock()
		if !freed {
			s.stop()
		}
		mu.Unlock()
	})
	return func() {
		unregister()
		mu.Lock()
		freed = true
		mu.Unlock()
	}
}

// wasmtimeThreads is the engine side of one run's threads.
type wasmtimeThreads struct {
	b        *wasmtimeBackend
	mod      *wasmtime.Module
	memLimit int64
	// linker is the engine's linker with the run's shared memory defined
	// (nil for a module that defines its memory); shared is that memory.
	linker *wasmtime.Linker
	shared *sharedMemory
	// users counts the stores that may still use linker and shared: they
	// are released when the last one closes.
	users sync.WaitGroup

	mu      sync.Mutex
	defined *sharedMemory // a memory the module defines, once a host call found it (a handle of ours)
	waker   *memoryWaker
	closed  bool
}

// newWasmtimeThreads prepares the threads of a run of mod: for a module
// that imports its shared memory, the memory and the linker defining it.
func (b *wasmtimeBackend) newWasmtimeThreads(mod *wasmtime.Module, ti threadsInfo, memLimit int64, limitPages uint32) (*wasmtimeThreads, error) {
	t := &wasmtimeThreads{b: b, mod: mod, memLimit: memLimit}
	if ti.imported == nil {
		return t, nil
	}
	im := ti.imported
	mem, err := newSharedMemory(b.engine, im.Memory.Min, ti.maxBytes(limitPages)/wasmPage)
	if err != nil {
		return nil, fmt.Errorf("making the shared memory %s.%s: %w", im.Module, im.Name, err)
	}
	b.mu.Lock()
	l, err := cloneLinker(b.linker, b.probe, [2]string{host.ThreadsModule, host.ThreadSpawn})
	if err == nil {
		err = defineShared(l, b.probe, im.Module, im.Name, mem)
		if err != nil {
			l.Close()
		}
	}
	b.mu.Unlock()
	if err != nil {
		mem.close()
		return nil, fmt.Errorf("making the shared memory %s.%s: %w", im.Module, im.Name, err)
	}
	t.linker, t.shared = l, mem
	return t, nil
}

// instantiate instantiates the run's module in gs through the run's linker.
func (t *wasmtimeThreads) instantiate(gs *guestStore) (*wasmtime.Instance, error) {
	if t.linker == nil {
		return t.b.linker.Instantiate(gs.store, t.mod)
	}
	return t.linker.Instantiate(gs.store, t.mod)
}

// newThread makes thread tid: a store of its own, the module instantiated
// in it on the shared memory, its entry point.
func (t *wasmtimeThreads) newThread(tctx context.Context, tid int32, startArg uint32) (thread, error) {
	t.users.Add(1)
	gs, err := t.b.newGuestStore(tctx, t.memLimit, t.shared)
	if err != nil {
		t.users.Done()
		return nil, err
	}
	th := &wasmtimeThread{gs: gs, tid: tid, arg: startArg, release: t.users.Done}
	inst, err := t.instantiate(gs)
	if err == nil {
		if th.fn = inst.GetFunc(gs.store, threadStart); th.fn == nil {
			err = errors.New("no " + threadStart)
		}
	}
	if err != nil {
		th.close()
		return nil, err
	}
	return th, nil
}

// found is told of the shared memory a module defines, by the first host
// call that looks for its memory: the run can then wake its waiters.
func (t *wasmtimeThreads) found(m *sharedMemory) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.defined == nil && !t.closed {
		t.defined = m.clone()
	}
}

// wake wakes every agent waiting in memory.atomic.wait32/wait64 on the
// run's shared memory (the one it made, or the one the module defines).
// wasmtime's waits have no timeout of their own and do not look at the
// epoch, and its C API has no notify: a small module that imports the
// memory notifies every aligned address of it (memoryWaker).
func (t *wasmtimeThreads) wake() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	mem := t.shared
	if mem == nil {
		mem = t.defined
	}
	if mem == nil {
		return
	}
	if t.waker == nil {
		w, err := t.b.newMemoryWaker(mem)
		if err != nil {
			return // the tiny module failed to build: a bug, found by the threads tests
		}
		t.waker = w
	}
	t.waker.wake(mem.size()) // it cannot trap: every address is below the size
}

// close releases the run's linker and memory once no store uses them.
func (t *wasmtimeThreads) close() {
	t.users.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.waker != nil {
		t.waker.close()
	}
	if t.linker != nil {
		t.linker.Close()
	}
	if t.shared != nil {
		t.shared.close()
	}
	if t.defined != nil {
		t.defined.close()
	}
}

// wasmtimeThread is one thread: its store and entry point.
type wasmtimeThread struct {
	gs       *guestStore
	fn       *wasmtime.Func
	tid      int32
	arg      uint32
	release  func()
	released bool
}

func (t *wasmtimeThread) run() error {
	_, err := t.fn.Call(t.gs.store, t.tid, int32(t.arg))
	return t.gs.run.outcome(err)
}

func (t *wasmtimeThread) close() {
	if !t.released {
		t.released = true
		t.gs.close()
		t.release()
	}
}

// memoryWaker calls the wake module on one shared memory.
type memoryWaker struct {
	store  *wasmtime.Store
	linker *wasmtime.Linker
	fn     *wasmtime.Func
}

// wakeModule is
//
//	(module
//	  (import "airlock" "memory" (memory 0 65536 shared))
//	  (func (export "wake") (param $end i32) (local $a i32)
//	    (loop
//	      (drop (memory.atomic.notify (local.get $a) (i32.const -1)))
//	      (br_if 0 (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 4))) (local.get $end))))))
//
// which notifies every aligned address below end, waking all its waiters.
var wakeModule = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 5, 1, 0x60, 1, 0x7f, 0, // type: (i32) -> ()
	2, 22, 1, 7, 'a', 'i', 'r', 'l', 'o', 'c', 'k', 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 3, 0, 0x80, 0x80, 0x04,
	3, 2, 1, 0,
	7, 8, 1, 4, 'w', 'a', 'k', 'e', 0, 0,
	10, 30, 1, 28, 1, 1, 0x7f,
	0x03, 0x40, // loop
	0x20, 1, 0x41, 0x7f, 0xfe, 0x00, 2, 0, 0x1a, // notify a, -1; drop
	0x20, 1, 0x41, 4, 0x6a, 0x22, 1, 0x20, 0, 0x49, 0x0d, 0, // a += 4; br_if a < end
	0x0b, 0x0b}

// newMemoryWaker instantiates the wake module on mem, in a store of its
// own (whose epoch deadline is far away: it is the host's code).
func (b *wasmtimeBackend) newMemoryWaker(mem *sharedMemory) (*memoryWaker, error) {
	b.wakeOnce.Do(func() { b.wakeMod, b.wakeErr = wasmtime.NewModule(b.engine, wakeModule) })
	if b.wakeErr != nil {
		return nil, b.wakeErr
	}
	store := wasmtime.NewStore(b.engine)
	store.SetEpochDeadline(1 << 40)
	l := wasmtime.NewLinker(b.engine)
	w := &memoryWaker{store: store, linker: l}
	err := defineShared(l, store, "airlock", "memory", mem)
	var inst *wasmtime.Instance
	if err == nil {
		inst, err = l.Instantiate(store, b.wakeMod)
	}
	if err == nil {
		if w.fn = inst.GetFunc(store, "wake"); w.fn == nil {
			err = errors.New("no wake")
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// wake notifies every aligned address of a memory of size bytes.
func (w *memoryWaker) wake(size uint64) error {
	if size < 4 {
		return nil
	}
	_, err := w.fn.Call(w.store, int32(uint32(min(size-3, math.MaxUint32))))
	return err
}

func (w *memoryWaker) close() {
	w.linker.Close()
	w.store.Close()
}

// endedBy returns what ended the run when a thread did, else nil.
func (g *threadGroup) endedBy() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.end
}

// maxBytes is the size in bytes the shared memory of ti can grow to under
// a memory limit of limitPages.
func (ti threadsInfo) maxBytes(limitPages uint32) uint64 {
	if ti.imported == nil || !ti.imported.Memory.HasMax {
		return uint64(limitPages) * wasmPage
	}
	return min(ti.imported.Memory.Max, uint64(limitPages)) * wasmPage
}
