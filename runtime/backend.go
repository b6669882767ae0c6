package runtime

import (
	"context"
	"fmt"
	"strings"
)

// Engine names for Config.Engine.
const (
	// EngineWazero is the default engine: pure Go, every WASI call through
	// airlock's policy filesystem and gate.
	EngineWazero = "wazero"
	// EngineWasmtime is wasmtime through wasmtime-go (cgo), compiled in only
	// with the build tag "wasmtime". It runs the same host functions as
	// wazero (airlock's WASI over the policy filesystem, the network, the
	// gate, the tracing wrapper), so every policy means the same on it.
	EngineWasmtime = "wasmtime"
)

// Engines lists the engines this binary can use, the default first.
func Engines() []string {
	if wasmtimeBuilt {
		return []string{EngineWazero, EngineWasmtime}
	}
	return []string{EngineWazero}
}

// backend is an engine other than wazero. The wazero path is the Engine's
// own code; a backend takes over Run, Precompile and Check.
type backend interface {
	run(ctx context.Context, e *Engine, spec Spec) (*Result, error)
	precompile(ctx context.Context, m *Module) error
	// provides reports whether the backend satisfies a function import.
	provides(module, name string) bool
	close() error
}

// newBackend returns the backend cfg names, nil for wazero. code is the
// sealed store of compiled modules, nil for none.
func newBackend(ctx context.Context, cfg Config, code *codeCache) (backend, error) {
	switch cfg.Engine {
	case "", EngineWazero:
		return nil, nil
	case EngineWasmtime:
		return newWasmtime(ctx, cfg, code)
	}
	return nil, fmt.Errorf("unknown engine %q: this airlock has %s", cfg.Engine, strings.Join(Engines(), " and "))
}
