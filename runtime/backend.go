package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// Engine names for Config.Engine.
const (
	// EngineWazero is the default engine: pure Go, every WASI call through
	// airlock's policy filesystem and gate.
	EngineWazero = "wazero"
	// EngineWasmtime is wasmtime through wasmtime-go (cgo), compiled in only
	// with the build tag "wasmtime". Its WASI is native: it cannot apply
	// protect or hide patterns, trace host calls, or provide airlock's own
	// host functions, so it refuses policies that need them (see
	// UnenforceableError and Config.AllowUnenforced).
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
func newBackend(cfg Config, code *codeCache) (backend, error) {
	switch cfg.Engine {
	case "", EngineWazero:
		return nil, nil
	case EngineWasmtime:
		return newWasmtime(cfg, code)
	}
	return nil, fmt.Errorf("unknown engine %q: this airlock has %s", cfg.Engine, strings.Join(Engines(), " and "))
}

// Unenforced is one rule of a policy that an engine cannot enforce.
type Unenforced struct {
	Rule   string // what the rule says, e.g. `hide ".env" in /work`
	Origin string // where it was written ("file:line:col" or a layer)
	Why    string // why the engine cannot enforce it
}

// UnenforceableError says an engine was asked to run a policy it cannot
// fully enforce. Nothing ran. Run on the default engine, change the policy,
// or set Config.AllowUnenforced (airlock run --allow-unenforced) to run
// without these rules.
type UnenforceableError struct {
	Engine string
	Rules  []Unenforced
}

func (e *UnenforceableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s engine cannot enforce %d rule(s) of this policy: ", e.Engine, len(e.Rules))
	for i, r := range e.Rules {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s): %s", r.Rule, r.Origin, r.Why)
	}
	b.WriteString(". Use the default engine (wazero), or accept running without these rules with --allow-unenforced (Config.AllowUnenforced)")
	return b.String()
}

// nativeWASIGaps lists the rules of p that an engine whose WASI is native
// (wasmtime) cannot enforce: patterns inside mounts, and the open-files
// limit. Read access and write access to whole mounts, the environment
// allowlist, memory, wall time and output limits it can.
func nativeWASIGaps(p *policy.Policy) []Unenforced {
	const patternWhy = "its WASI opens files natively, so airlock cannot check paths inside a mount"
	var out []Unenforced
	for _, m := range p.Mounts {
		for _, list := range []struct {
			verb string
			pats []policy.Pattern
		}{{"protect", m.Protect}, {"hide", m.Hide}} {
			if len(list.pats) == 0 || (list.verb == "protect" && m.Access != policy.Write) {
				continue // protect inside a read-only mount changes nothing
			}
			texts := make([]string, len(list.pats))
			for i, pat := range list.pats {
				texts[i] = strconv.Quote(pat.Text)
			}
			out = append(out, Unenforced{Rule: fmt.Sprintf("%s %s in %s", list.verb, strings.Join(texts, ", "), m.Guest),
				Origin: m.Origin.String(), Why: patternWhy})
		}
	}
	// airlock's WASI lets one mount only serve a directory (docs/filesystem.md,
	// "Nested mounts"); a native WASI opens each preopen on its own, so a
	// mount whose host directory lies inside another's is reachable through
	// that other one too, with its access.
	for _, outer := range p.Mounts {
		for _, inner := range p.Mounts {
			if rel, err := filepath.Rel(outer.Host, inner.Host); err == nil && rel != "." && rel != ".." &&
				!strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				out = append(out, Unenforced{Rule: fmt.Sprintf("mount %s inside the host directory of mount %s", inner.Guest, outer.Guest),
					Origin: inner.Origin.String(),
					Why:    fmt.Sprintf("its WASI opens each mount natively, so %s reaches %s's files with its own access", outer.Guest, inner.Guest)})
			}
		}
	}
	if p.Limits.OpenFiles > 0 {
		out = append(out, Unenforced{Rule: fmt.Sprintf("limits.open_files = %d", p.Limits.OpenFiles),
			Origin: p.Limits.OpenFilesOrigin.String(), Why: "its WASI keeps its own file table, with no limit airlock can set"})
	}
	return out
}
