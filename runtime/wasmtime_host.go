//go:build wasmtime

package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/internal/host"
)

// defineHostFuncs defines in l every host function the wazero engine gives
// a guest (host.Funcs: WASI preview 1 and extra), each passed through
// wrap, once for every store the linker instantiates into.
func defineHostFuncs(ctx context.Context, l *wasmtime.Linker, wrap host.Wrap, extra []host.Func) error {
	for _, f := range host.Funcs(extra) {
		fn := f.Fn
		if wrap != nil {
			fn = wrap(f.Module, f.Name, fn)
		}
		params, err := valTypes(f.Params)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", f.Module, f.Name, err)
		}
		results, err := valTypes(f.Results)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", f.Module, f.Name, err)
		}
		if err := l.FuncNew(f.Module, f.Name, wasmtime.NewFuncType(params, results), hostCall(fn, f.Results)); err != nil {
			return fmt.Errorf("%s.%s: %w", f.Module, f.Name, err)
		}
	}
	return nil
}

// hostCall adapts a wazero-style host function to wasmtime: the
// parameters go onto a stack of uint64 as wazero lays them out, the
// function runs with the run's context and the caller's memory, and the
// results come back off the stack.
func hostCall(fn api.GoModuleFunction, results []api.ValueType) func(*wasmtime.Caller, []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
	return func(c *wasmtime.Caller, in []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		s, _ := c.Data().(*storeRun)
		if s == nil {
			return nil, wasmtime.NewTrap("airlock: a host function was called outside a run")
		}
		stack := make([]uint64, max(len(in), len(results)))
		for i, v := range in {
			stack[i] = fromVal(v)
		}
		if trap := s.call(fn, &callerModule{caller: c, run: s}, stack); trap != nil {
			return nil, trap
		}
		out := make([]wasmtime.Val, len(results))
		for i, t := range results {
			out[i] = toVal(t, stack[i])
		}
		return out, nil
	}
}

func valTypes(ts []api.ValueType) ([]*wasmtime.ValType, error) {
	out := make([]*wasmtime.ValType, len(ts))
	for i, t := range ts {
		switch t {
		case api.ValueTypeI32:
			out[i] = wasmtime.NewValType(wasmtime.KindI32)
		case api.ValueTypeI64:
			out[i] = wasmtime.NewValType(wasmtime.KindI64)
		case api.ValueTypeF32:
			out[i] = wasmtime.NewValType(wasmtime.KindF32)
		case api.ValueTypeF64:
			out[i] = wasmtime.NewValType(wasmtime.KindF64)
		default:
			return nil, fmt.Errorf("value type %s is not supported on this engine", api.ValueTypeName(t))
		}
	}
	return out, nil
}

// fromVal encodes v as wazero does on its stack.
func fromVal(v wasmtime.Val) uint64 {
	switch v.Kind() {
	case wasmtime.KindI32:
		return uint64(uint32(v.I32()))
	case wasmtime.KindI64:
		return uint64(v.I64())
	case wasmtime.KindF32:
		return uint64(math.Float32bits(v.F32()))
	case wasmtime.KindF64:
		return math.Float64bits(v.F64())
	}
	return 0
}

func toVal(t api.ValueType, v uint64) wasmtime.Val {
	switch t {
	case api.ValueTypeI64:
		return wasmtime.ValI64(int64(v))
	case api.ValueTypeF32:
		return wasmtime.ValF32(math.Float32frombits(uint32(v)))
	case api.ValueTypeF64:
		return wasmtime.ValF64(math.Float64frombits(v))
	}
	return wasmtime.ValI32(int32(uint32(v)))
}

// storeRun is the data of one run's store: what its host calls reach, and
// how the guest ended when a host function ended it. Only the goroutine
// that runs the guest touches it (wasmtime calls host functions on it).
type storeRun struct {
	ctx context.Context // the run's call context (host.Run, telemetry)

	// shared is the run's shared memory (wasi-threads), which every store
	// of the run sees; or the one the module defines, found by the first
	// host call (ownShared: this store's handle, closed with it), which
	// onShared hears of.
	shared    *sharedMemory
	ownShared bool
	onShared  func(*sharedMemory)

	mem       *wasmtime.Memory // the instance's exported memory, once looked up
	memLooked bool

	exit  *uint32 // the exit status, once the guest exited
	fault error   // a host function's panic, which ends the guest as a trap
}

// memory returns the calling instance's memory: a shared memory, or its
// exported memory; both nil if it has none.
func (s *storeRun) memory(c *wasmtime.Caller) (*wasmtime.Memory, *sharedMemory) {
	if s.shared != nil {
		return nil, s.shared
	}
	if !s.memLooked {
		s.memLooked = true
		if ex := c.GetExport("memory"); ex != nil {
			s.mem = ex.Memory()
		}
		if s.mem == nil { // wasmtime-go has no Go type for a shared memory
			if sh, err := callerShared(c, "memory"); err == nil && sh != nil {
				s.foundShared(sh)
				return nil, sh
			}
		}
	}
	return s.mem, nil
}

// foundShared takes sh, the shared memory the module defines (nil: none),
// as the run's memory, and tells the run of it.
func (s *storeRun) foundShared(sh *sharedMemory) {
	if sh == nil || s.shared != nil {
		return
	}
	s.shared, s.ownShared, s.memLooked = sh, true, true
	if s.onShared != nil {
		s.onShared(sh)
	}
}

func (s *storeRun) setExit(code uint32) {
	if s.exit == nil {
		s.exit = &code
	}
}

func (s *storeRun) exited() bool { return s.exit != nil }

// call runs fn as wazero would: a host function ends the guest by
// panicking, with a *sys.ExitError (proc_exit, or the run's context ended
// while it waited) or anything else (a bug, reported as a trap). Here the
// panic becomes a trap that unwinds the guest, and outcome tells why.
func (s *storeRun) call(fn api.GoModuleFunction, mod *callerModule, stack []uint64) (trap *wasmtime.Trap) {
	if err := s.ctx.Err(); err != nil {
		// The run is over (wall time, cancellation): as on wazero with
		// instrumented loops, the guest's next host call ends it.
		code := uint32(sys.ExitCodeContextCanceled)
		if errors.Is(err, context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		s.setExit(code)
		return wasmtime.NewTrap("airlock: the run has ended")
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var ee *sys.ExitError
		if err, ok := r.(error); ok && errors.As(err, &ee) {
			s.setExit(ee.ExitCode())
			trap = wasmtime.NewTrap(fmt.Sprintf("exit status %d", ee.ExitCode()))
			return
		}
		if s.fault == nil {
			s.fault = fmt.Errorf("a host function failed: %v", r)
		}
		trap = wasmtime.NewTrap(s.fault.Error())
	}()
	fn.Call(s.ctx, mod, stack)
	return nil
}

// outcome is what the guest's end means: a *sys.ExitError when it exited
// (the trap that carried the exit is not an error of the guest), the host
// function's failure when one failed, else err as wasmtime returned it.
func (s *storeRun) outcome(err error) error {
	switch {
	case s.exit != nil:
		return sys.NewExitError(*s.exit)
	case s.fault != nil && err != nil:
		return s.fault
	}
	return err
}
