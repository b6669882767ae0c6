package host

import (
	"context"
	"crypto/rand"
	"io"
	goruntime "runtime"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// The WASI preview 1 functions beside files, streams and sockets:
// arguments, environment, clocks, random bytes, proc_exit, proc_raise and
// sched_yield, the same on every engine and with the same results as
// wazero's own (TestProcFuncsMatchWazero): real clocks (realtime and
// monotonic only, as wazero), crypto random bytes, exit by panicking with
// a *sys.ExitError, proc_raise unsupported.

var wasiProcFuncs = map[string]api.GoModuleFunction{
	"args_get":          api.GoModuleFunc(argsGet),
	"args_sizes_get":    api.GoModuleFunc(argsSizesGet),
	"environ_get":       api.GoModuleFunc(environGet),
	"environ_sizes_get": api.GoModuleFunc(environSizesGet),
	"clock_res_get":     api.GoModuleFunc(clockResGet),
	"clock_time_get":    api.GoModuleFunc(clockTimeGet),
	"random_get":        api.GoModuleFunc(randomGet),
	"proc_exit":         api.GoModuleFunc(procExit),
	"proc_raise":        api.GoModuleFunc(procRaise),
	"sched_yield":       api.GoModuleFunc(schedYield),
}

type procKey struct{}

// process is what args_* and environ_* give the guest.
type process struct {
	args, env []string // env as "KEY=value"
}

// SetProcess gives the run's guest its arguments (argv[0] first) and
// environment ("KEY=value"), for args_* and environ_*. Call
// it before the guest starts.
func SetProcess(r *Run, args, env []string) {
	if r.Values == nil {
		r.Values = map[any]any{}
	}
	r.Values[procKey{}] = &process{args: args, env: env}
}

func processFrom(ctx context.Context) *process {
	if r := RunFrom(ctx); r != nil {
		if p, ok := r.Values[procKey{}].(*process); ok {
			return p
		}
	}
	return &process{}
}

func argsGet(ctx context.Context, mod api.Module, stack []uint64) {
	result(stack, putStrings(mod.Memory(), processFrom(ctx).args, uint32(stack[0]), uint32(stack[1])))
}

func argsSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	result(stack, putSizes(mod.Memory(), processFrom(ctx).args, uint32(stack[0]), uint32(stack[1])))
}

func environGet(ctx context.Context, mod api.Module, stack []uint64) {
	result(stack, putStrings(mod.Memory(), processFrom(ctx).env, uint32(stack[0]), uint32(stack[1])))
}

func environSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	result(stack, putSizes(mod.Memory(), processFrom(ctx).env, uint32(stack[0]), uint32(stack[1])))
}

// putSizes writes the count of values and the bytes they take with their
// NUL terminators.
func putSizes(mem api.Memory, vals []string, countPtr, sizePtr uint32) wasiErrno {
	size := uint32(0)
	for _, v := range vals {
		size += uint32(len(v)) + 1
	}
	if mem == nil || !mem.WriteUint32Le(countPtr, uint32(len(vals))) || !mem.WriteUint32Le(sizePtr, size) {
		return errFAULT
	}
	return 0
}

// putStrings writes a pointer to each value at ptrs and the values, each
// NUL-terminated, one after another at buf.
func putStrings(mem api.Memory, vals []string, ptrs, buf uint32) wasiErrno {
	if mem == nil {
		return errFAULT
	}
	size := uint32(0)
	for _, v := range vals {
		size += uint32(len(v)) + 1
	}
	offsets, ok := mem.Read(ptrs, uint32(4*len(vals)))
	if !ok {
		return errFAULT
	}
	bytes, ok := mem.Read(buf, size)
	if !ok {
		return errFAULT
	}
	at := uint32(0)
	for i, v := range vals {
		put32(offsets[4*i:], buf+at)
		at += uint32(copy(bytes[at:], v))
		bytes[at] = 0
		at++
	}
	return 0
}

// Clock resolutions, as wazero's WithSysWalltime and WithSysNanotime give.
const (
	realtimeResolution  = uint64(time.Microsecond)
	monotonicResolution = 1
)

func clockResGet(_ context.Context, mod api.Module, stack []uint64) {
	var res uint64
	switch uint32(stack[0]) {
	case clockRealtime:
		res = realtimeResolution
	case clockMonotonic:
		res = monotonicResolution
	default:
		result(stack, errINVAL)
		return
	}
	if mem := mod.Memory(); mem == nil || !mem.WriteUint64Le(uint32(stack[1]), res) {
		result(stack, errFAULT)
		return
	}
	result(stack, 0)
}

func clockTimeGet(_ context.Context, mod api.Module, stack []uint64) {
	var now int64
	switch uint32(stack[0]) {
	case clockRealtime:
		now = time.Now().UnixNano()
	case clockMonotonic:
		now = monotonicNow()
	default:
		result(stack, errINVAL)
		return
	}
	if mem := mod.Memory(); mem == nil || !mem.WriteUint64Le(uint32(stack[2]), uint64(now)) {
		result(stack, errFAULT)
		return
	}
	result(stack, 0)
}

func randomGet(_ context.Context, mod api.Module, stack []uint64) {
	mem := mod.Memory()
	if mem == nil {
		result(stack, errFAULT)
		return
	}
	b, ok := mem.Read(uint32(stack[0]), uint32(stack[1]))
	if !ok {
		result(stack, errFAULT)
		return
	}
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		result(stack, errIO)
		return
	}
	result(stack, 0)
}

// procExit ends the guest as wazero's does: the engine turns the panic
// into the run's exit status.
func procExit(ctx context.Context, mod api.Module, stack []uint64) {
	code := uint32(stack[0])
	_ = mod.CloseWithExitCode(ctx, code)
	panic(sys.NewExitError(code))
}

func procRaise(_ context.Context, _ api.Module, stack []uint64) { result(stack, errNOSYS) }

func schedYield(_ context.Context, _ api.Module, stack []uint64) {
	goruntime.Gosched()
	result(stack, 0)
}
