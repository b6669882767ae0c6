package host

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// wasi-threads (github.com/WebAssembly/wasi-threads): a module built for
// wasm32-wasip1-threads imports one function, wasi.thread-spawn, and a
// shared memory. Each call starts a thread: a new instance of the same
// module on the same shared memory, entered at its export
// wasi_thread_start(tid, start_arg). Starting it needs the engine (the
// compiled module, the memory), so this package only defines the function
// and asks the run's Spawner (Run.Threads), which the runtime provides.
// See docs/wasi.md, "Threads", and RATIONALE.md, "Why run wasi-threads,
// and how?".

// ThreadsModule and ThreadSpawn name the wasi-threads import.
const (
	ThreadsModule = "wasi"
	ThreadSpawn   = "thread-spawn"
)

// Spawner starts the threads of one run. It must be safe for concurrent
// use: any thread may spawn another.
type Spawner interface {
	// Spawn starts a thread that calls wasi_thread_start(tid, startArg)
	// and returns its thread ID (1 or more), or a WASI errno when no
	// thread was started (EAGAIN: the run's thread cap is reached, or the
	// run is ending; ENOTSUP: the module cannot have threads). ctx is the
	// calling thread's.
	Spawn(ctx context.Context, startArg uint32) (tid int32, errno uint16)
}

// threadFuncs are the wasi-threads host functions, added to every runtime
// (Instantiate). A module that imports them without a Spawner in its run
// (a runtime that does not run threads) gets ENOTSUP from every call.
var threadFuncs = []Func{{
	Module: ThreadsModule, Name: ThreadSpawn,
	Params: []api.ValueType{api.ValueTypeI32}, ParamNames: []string{"start_arg"},
	Results: []api.ValueType{api.ValueTypeI32},
	Fn:      api.GoModuleFunc(threadSpawn),
}}

// threadSpawn is wasi.thread-spawn(start_arg i32) -> i32: a positive thread
// ID, or a negative WASI errno (wasi-libc's pthread_create returns EAGAIN
// for any failure).
func threadSpawn(ctx context.Context, _ api.Module, stack []uint64) {
	r := RunFrom(ctx)
	if r == nil || r.Threads == nil {
		stack[0] = api.EncodeI32(-int32(errNOTSUP))
		return
	}
	if r.Gate != nil && r.Gate.Revoked() {
		stack[0] = api.EncodeI32(-int32(errAGAIN))
		return
	}
	tid, errno := r.Threads.Spawn(ctx, uint32(stack[0]))
	if errno != 0 {
		stack[0] = api.EncodeI32(-int32(errno))
		return
	}
	stack[0] = api.EncodeI32(tid)
}

// Errnos a Spawner returns.
const (
	ThreadErrAgain  = uint16(errAGAIN)  // the cap on live threads is reached, or the run is ending
	ThreadErrNotSup = uint16(errNOTSUP) // this module cannot have threads (no imported shared memory)
)

type threadKey struct{}

// WithThread returns ctx for the host calls of thread tid of a run (0 is
// the main thread of a run that may have threads). Telemetry puts the ID
// on each host call's span.
func WithThread(ctx context.Context, tid int32) context.Context {
	return context.WithValue(ctx, threadKey{}, tid)
}

// ThreadFrom returns the thread ID WithThread put in ctx; ok is false in a
// run that cannot have threads.
func ThreadFrom(ctx context.Context) (tid int32, ok bool) {
	tid, ok = ctx.Value(threadKey{}).(int32)
	return tid, ok
}
