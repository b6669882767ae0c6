package host

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/airlockhq/airlock/policy"
)

// WASIModule is the name of the WASI preview 1 host module.
const WASIModule = wasi_snapshot_preview1.ModuleName

// Func is one host function airlock exports to guests.
type Func struct {
	Module     string // import module name, e.g. "airlock_net_v1"
	Name       string
	Params     []api.ValueType
	ParamNames []string
	Results    []api.ValueType
	Fn         api.GoModuleFunction
}

// Wrap decorates a host function once, when the host modules are built
// (never per call). Telemetry uses it to put a span around every call; nil
// means no decoration and no cost.
type Wrap func(module, name string, fn api.GoModuleFunction) api.GoModuleFunction

// Instantiate builds and instantiates airlock's host modules in r: the
// functions Funcs lists (WASI preview 1, wasi-threads' thread-spawn, and
// extra), each passed through wrap, grouped by module. Per-run
// state reaches the functions through the context (see WithRun), so one
// instantiation serves every run of the runtime.
//
// only, if not nil, keeps the functions it returns true for (a process
// that runs one module builds just what that module imports: each host
// function costs wazero a trampoline of native code); a host module left
// with no function is not instantiated.
func Instantiate(ctx context.Context, r wazero.Runtime, wrap Wrap, extra []Func, only func(module, name string) bool) error {
	funcs := Funcs(extra)
	for len(funcs) > 0 {
		m := funcs[0].Module
		b := r.NewHostModuleBuilder(m)
		n := 0
		for ; len(funcs) > 0 && funcs[0].Module == m; funcs = funcs[1:] {
			f := funcs[0]
			if only != nil && !only(m, f.Name) {
				continue
			}
			fn := f.Fn
			if wrap != nil {
				fn = wrap(m, f.Name, fn)
			}
			fb := b.NewFunctionBuilder().WithGoModuleFunction(fn, f.Params, f.Results)
			if len(f.ParamNames) == len(f.Params) {
				fb = fb.WithParameterNames(f.ParamNames...)
			}
			fb.Export(f.Name)
			n++
		}
		if n == 0 {
			continue
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("instantiating host module %s: %w", m, err)
		}
	}
	return nil
}

// Funcs lists every host function airlock gives a guest, sorted by module:
// WASI preview 1 (airlock's own: files, directories, streams, polling and
// sockets in wasi.go; arguments, environment, clocks, random bytes and
// exit in wasi_proc.go; the types of wasi_sigs.go), wasi-threads'
// thread-spawn (threads.go), then extra (extra functions named like a
// WASI function replace it).
func Funcs(extra []Func) []Func {
	byModule := map[string][]Func{}
	for _, f := range extra {
		byModule[f.Module] = append(byModule[f.Module], f)
	}
	if len(byModule[ThreadsModule]) == 0 {
		byModule[ThreadsModule] = threadFuncs // wasi-threads (threads.go)
	}
	replaced := map[string]bool{}
	for _, f := range byModule[WASIModule] {
		replaced[f.Name] = true
	}
	var wasi []Func
	for _, sig := range wasiSignatures {
		if replaced[sig.name] {
			continue
		}
		fn, ok := wasiFuncs[sig.name]
		if !ok {
			fn = wasiProcFuncs[sig.name]
		}
		wasi = append(wasi, Func{Module: WASIModule, Name: sig.name, Params: sig.params,
			ParamNames: sig.paramNames, Results: sig.results, Fn: fn})
	}
	byModule[WASIModule] = append(wasi, byModule[WASIModule]...)

	names := make([]string, 0, len(byModule))
	for m := range byModule {
		names = append(names, m)
	}
	sort.Strings(names)
	var out []Func
	for _, m := range names {
		out = append(out, byModule[m]...)
	}
	return out
}

// Run is the per-run state that host functions reach through the context
// of the guest's call: the gate, and whatever else a host function family
// needs (network state, the run's span). The runtime puts it in the
// context before calling the guest's _start.
type Run struct {
	Gate   *Gate
	Policy *policy.Policy
	// WASI is the run's WASI state: its descriptor table, mounts and
	// standard streams (NewWASI). Without it every file function fails
	// with EBADF.
	WASI *WASI
	// Threads starts the run's threads (wasi-threads), nil in a run whose
	// module cannot have threads: thread-spawn then fails with ENOTSUP.
	Threads Spawner
	// LookupEnv reads the host environment (credentials); never the guest's.
	LookupEnv func(string) (string, bool)
	// Tool and Digest identify the module that runs (for prompts, records).
	Tool, Digest string
	// Values holds per-run state of host function families, keyed by a
	// type of the family's own (like context keys), so this package need
	// not know every family. Host functions reach it through Value, which
	// is safe for the threads of a run; set it only before the run starts.
	Values   map[any]any
	valuesMu sync.Mutex

	closeMu sync.Mutex
	closers []func()
	closed  bool
}

// OnClose registers f to run when the run ends (see Close). A host
// function family that opens something for a run (connections, say)
// closes it there. Registered after Close, f runs at once.
func (r *Run) OnClose(f func()) {
	r.closeMu.Lock()
	if !r.closed {
		r.closers = append(r.closers, f)
		r.closeMu.Unlock()
		return
	}
	r.closeMu.Unlock()
	f()
}

// Close runs the functions registered with OnClose, newest first, once.
// The runtime calls it when the guest has returned or was abandoned.
func (r *Run) Close() {
	r.closeMu.Lock()
	fs := r.closers
	r.closers, r.closed = nil, true
	r.closeMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// Value returns the per-run state of a host function family under key,
// made by newValue (under a lock, once) on first use. The threads of a run
// call host functions concurrently, so no family may fill Values by hand.
func (r *Run) Value(key any, newValue func() any) any {
	r.valuesMu.Lock()
	defer r.valuesMu.Unlock()
	if v, ok := r.Values[key]; ok {
		return v
	}
	if r.Values == nil {
		r.Values = map[any]any{}
	}
	v := newValue()
	r.Values[key] = v
	return v
}

// value returns the state under key, nil if there is none yet.
func (r *Run) value(key any) any {
	r.valuesMu.Lock()
	defer r.valuesMu.Unlock()
	return r.Values[key]
}

type runKey struct{}

// WithRun returns ctx carrying r.
func WithRun(ctx context.Context, r *Run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// RunFrom returns the Run in ctx, or nil outside a run.
func RunFrom(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}
