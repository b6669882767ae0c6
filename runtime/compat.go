package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/wasmfile"
)

// Problem is one reason a module cannot run under airlock, with what to do
// about it. See docs/wasi.md for what airlock provides.
type Problem struct {
	// Import is "module.name" when an import is the reason, else empty.
	Import string `json:"import,omitempty"`
	// Feature names the reason: "missing-import", "threads",
	// "shared-memory" (more than one), "memory64",
	// "wasi-unstable", "component", "no-start" or "engine".
	Feature string `json:"feature"`
	// Message says what is wrong and what to do, in one sentence.
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Import != "" {
		return p.Import + ": " + p.Message
	}
	return p.Message
}

// IncompatibleError says a module cannot run under airlock, and every
// reason why. It is the Err of a ModuleError from Run and Precompile.
type IncompatibleError struct {
	Problems []Problem
}

func (e *IncompatibleError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "cannot run under airlock: " + strings.Join(parts, "; ")
}

// Check reports every reason m cannot run on this engine, or nil when it
// can (as far as its declarations tell: a module may still fail to
// compile). It does not compile m.
func (e *Engine) Check(ctx context.Context, m *Module) ([]Problem, error) {
	f, err := wasmfile.Parse(m.Bytes)
	if errors.Is(err, wasmfile.ErrComponent) {
		return []Problem{componentProblem}, nil
	}
	if err != nil {
		return nil, &ModuleError{Name: m.Name, Err: err}
	}
	provides, err := e.provider(ctx)
	if err != nil {
		return nil, err
	}
	return check(f, provides), nil
}

// provider returns a func reporting whether this engine satisfies a
// function import.
func (e *Engine) provider(context.Context) (func(module, name string) bool, error) {
	if e.alt != nil {
		return e.alt.provides, nil
	}
	return e.provides, nil
}

// provides reports whether the engine's host modules export module.name
// (host.Funcs: airlock's and Config.HostFuncs).
func (e *Engine) provides(module, name string) bool {
	return e.exports[module+"\x00"+name]
}

// checkBytes is check for raw bytes: nil when they cannot be parsed (the
// engine's compiler then says what is wrong) or declare nothing airlock
// refuses.
func checkBytes(b []byte, provides func(module, name string) bool) error {
	f, err := wasmfile.Parse(b)
	if errors.Is(err, wasmfile.ErrComponent) {
		return &IncompatibleError{Problems: []Problem{componentProblem}}
	}
	if err != nil {
		return nil
	}
	if ps := check(f, provides); len(ps) > 0 {
		return &IncompatibleError{Problems: ps}
	}
	return nil
}

var componentProblem = Problem{Feature: "component",
	Message: "this is a WebAssembly component (WASI preview 2); airlock runs core modules for WASI preview 1: " +
		"build for wasm32-wasip1 (cargo build --target wasm32-wasip1, GOOS=wasip1 GOARCH=wasm, clang --target=wasm32-wasi)"}

// check lists what in f airlock refuses, the same on every engine.
func check(f *wasmfile.File, provides func(module, name string) bool) []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for _, im := range f.Imports {
		if p, bad := importProblem(im, provides); bad && !seen[p.Import] {
			// Go imports one function once per package that declares it
			// (//go:wasmimport): the problem is said once.
			seen[p.Import] = true
			ps = append(ps, p)
		}
	}
	ps = append(ps, threadProblems(f)...)
	for _, m := range f.AllMemories() {
		if m.Is64 {
			ps = append(ps, Problem{Feature: "memory64",
				Message: "the module uses 64-bit memory (memory64), which airlock's engine does not run: build for wasm32"})
			break
		}
	}
	start := false
	for _, ex := range f.Exports {
		if ex.Kind == wasmfile.KindFunc && ex.Name == "_start" {
			start = true
		}
	}
	if !start {
		msg := "the module exports no _start: it is a library or a WASI reactor, not a command; build a program with a main function (a WASI command)"
		for _, ex := range f.Exports {
			if ex.Name == "_initialize" {
				msg = "the module exports _initialize but no _start: it is a WASI reactor (a library), not a command; build it as a command (no -mexec-model=reactor, no -buildmode=c-shared)"
			}
		}
		ps = append(ps, Problem{Feature: "no-start", Message: msg})
	}
	return ps
}

// importProblem says why airlock does not satisfy im, if it does not.
func importProblem(im wasmfile.Import, provides func(module, name string) bool) (Problem, bool) {
	p := Problem{Import: im.Module + "." + im.Name, Feature: "missing-import"}
	if im.Module == "wasi_unstable" {
		p.Feature = "wasi-unstable"
		p.Message = "wasi_unstable is WASI's first snapshot (2019), which airlock does not provide: rebuild with a current toolchain for wasip1 (wasi_snapshot_preview1)"
		return p, true
	}
	if im.Kind == wasmfile.KindMemory && im.Memory != nil && im.Memory.Shared && !im.Memory.Is64 {
		if reservedModule(im.Module) {
			p.Message = fmt.Sprintf("the module imports its shared memory from %q, a module whose functions airlock provides: "+
				"import it from another module name (wasm-ld's default is env.memory)", im.Module)
			return p, true
		}
		return p, false // the run's shared memory (threads.go)
	}
	if im.Kind != wasmfile.KindFunc {
		what := im.Kind.String()
		p.Message = fmt.Sprintf("the module imports a %s, and airlock provides only functions: ", what)
		if im.Kind == wasmfile.KindMemory {
			p.Message += "a module that imports its memory was built as a library or for a JavaScript host; build a WASI command that defines its own memory"
		} else {
			p.Message += "build a self-contained WASI command (wasm32-wasip1)"
		}
		return p, true
	}
	if provides(im.Module, im.Name) {
		return p, false
	}
	switch {
	case im.Module == host.WASIModule:
		p.Message = "not a wasi_snapshot_preview1 function; the module may be built for another WASI version (see docs/wasi.md for the functions airlock provides)"
	case im.Module == "env":
		p.Message = "not provided by airlock; is this an Emscripten or JavaScript-targeted module? build for wasip1 (clang --target=wasm32-wasi, rustc --target wasm32-wasip1, GOOS=wasip1 GOARCH=wasm)"
	case im.Module == "gojs" || im.Module == "go":
		p.Message = "built with GOOS=js for a browser; rebuild with GOOS=wasip1 GOARCH=wasm"
	case strings.HasPrefix(im.Module, "wasi:") || strings.HasPrefix(im.Module, "wasi_snapshot_preview2"):
		p.Message = "a WASI preview 2 interface; airlock provides WASI preview 1: build for wasm32-wasip1"
	case strings.HasPrefix(im.Module, "airlock_"):
		p.Message = "not part of this airlock's host ABI (built for another airlock version? see docs/network-abi.md)"
	default:
		p.Message = "not provided by airlock, which provides wasi_snapshot_preview1 and its own airlock_* modules only; remove the import or build for wasip1"
	}
	return p, true
}

// reservedModule reports whether airlock provides functions under module
// name m: a memory imported from it could not be told apart from them.
func reservedModule(m string) bool {
	return m == host.WASIModule || m == host.ThreadsModule || strings.HasPrefix(m, "airlock_")
}

// threadProblems lists what in f's use of threads airlock refuses (the
// engine aside): a module that imports thread-spawn must export the entry
// point of its threads, as wasi-threads says (wasmtime refuses the same),
// and a run has one shared memory for its threads to share.
func threadProblems(f *wasmfile.File) []Problem {
	var ps []Problem
	spawns := false
	for _, im := range f.Imports {
		if im.Module == host.ThreadsModule && im.Name == host.ThreadSpawn && im.Kind == wasmfile.KindFunc {
			spawns = true
		}
	}
	if spawns && !hasThreadStart(f) {
		ps = append(ps, Problem{Import: host.ThreadsModule + "." + host.ThreadSpawn, Feature: "threads",
			Message: "the module imports thread-spawn but exports no wasi_thread_start(i32, i32), where wasi-threads enter a new thread: " +
				"link it as a wasi-threads command (wasm32-wasip1-threads, -pthread)"})
	}
	shared := 0
	for _, m := range f.AllMemories() {
		if m.Shared {
			shared++
		}
	}
	if shared > 1 {
		ps = append(ps, Problem{Feature: "shared-memory",
			Message: "the module has more than one shared memory; airlock gives a run's threads one: link with one memory"})
	}
	return ps
}

// hasThreadStart reports whether f exports wasi_thread_start(i32, i32).
func hasThreadStart(f *wasmfile.File) bool {
	for _, ex := range f.Exports {
		if ex.Kind == wasmfile.KindFunc && ex.Name == threadStart && ex.Func != nil &&
			len(ex.Func.Params) == 2 && ex.Func.Params[0] == "i32" && ex.Func.Params[1] == "i32" && len(ex.Func.Results) == 0 {
			return true
		}
	}
	return false
}
