package runtime

import (
	"path/filepath"
	"slices"

	"github.com/airlockhq/airlock/internal/host"
)

// Hint is what Precompile was given for a module read from a file: enough
// for another process to compile the same module ahead of its run
// (internal/warm, `airlock warm`).
type Hint struct {
	Path      string // the module file, absolute
	Memory    uint64 // the memory limit, in bytes
	Interrupt Interrupt
	Size      int64 // the module's size in bytes (Preload)
}

// Hints lists what this engine precompiled from files, the most recent
// first, and the compile cache it used ("" for none).
func (e *Engine) Hints() (cacheDir string, hints []Hint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hints = slices.Clone(e.hints)
	slices.Reverse(hints)
	return e.cacheDir, hints
}

func (e *Engine) noteHint(m *Module, memory uint64, in Interrupt) {
	if m.Path == "" {
		return
	}
	abs, err := filepath.Abs(m.Path)
	if err != nil {
		return
	}
	h := Hint{Path: abs, Memory: memory, Interrupt: in, Size: int64(len(m.Bytes))}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hints = append(slices.DeleteFunc(e.hints, func(o Hint) bool { return o == h }), h)
}

// Adopt gives e, an engine made ahead of a run with nothing but CacheDir
// and OneShot set (airlock warm), the settings of the run's cfg, keeping
// the modules e compiled, and reports whether it could. A cfg that changes
// how the host functions are built (Wrap, HostFuncs, Net), the engine, the
// compile cache or OneShot needs an engine of its own (New): then Adopt
// changes nothing.
//
// What a run finds by digest in e was compiled by this process from the
// sealed compile cache, as New would have; the run reads and hashes its
// module itself, so a module file changed since is compiled afresh.
func (e *Engine) Adopt(cfg Config) bool {
	if !e.Adoptable(cfg) {
		return false
	}
	// The mount table of now, not of when e was made, if it changed.
	if e.mounts.Changed() {
		mounts, err := host.ProcessFSMounts()
		if err != nil {
			return false
		}
		e.procMounts = mounts
	}
	if cfg.Warn == nil {
		cfg.Warn = e.cfg.Warn
	}
	cfg.HostFuncs = e.cfg.HostFuncs // withNet of nothing, as New made it
	cfg.CacheDir = e.cfg.CacheDir
	e.cfg = cfg
	return true
}

// Adoptable reports whether a run configured with cfg could use e (Adopt).
func (e *Engine) Adoptable(cfg Config) bool {
	if e.alt != nil || (cfg.Engine != "" && cfg.Engine != EngineWazero) {
		return false
	}
	if cfg.Wrap != nil || len(cfg.HostFuncs) != 0 || cfg.Net != (host.NetConfig{}) {
		return false
	}
	if cfg.OneShot != e.cfg.OneShot || e.cacheDir == "" {
		return false
	}
	dir := cfg.CacheDir
	if dir == "" {
		dir = DefaultCacheDir()
	}
	abs, err := filepath.Abs(dir)
	return err == nil && abs == e.cacheDir
}
