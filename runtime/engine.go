package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/internal/host"
)

// wasmPage is the size of one page of WebAssembly linear memory.
const wasmPage = 64 << 10

// Interrupt says how a run is stopped when its wall time or context ends.
type Interrupt int

const (
	// InterruptAbandon revokes every capability of the run and returns at
	// once, leaving the guest's goroutine to spin with no host access until
	// the process exits. It costs nothing while the guest runs. Only a
	// process that exits soon after a timeout may use it (airlock run),
	// one run at a time: while the guest runs, the collector is off and
	// the process has two Ps, one for the guest and one for the rest
	// (pauseGC). A module with threads is instrumented all the same
	// (compiled).
	InterruptAbandon Interrupt = iota
	// InterruptInstrument stops the guest for real, and makes it leave
	// compiled code often enough that the garbage collector never waits
	// on it: the module gets yield checks (yield.go), which cost a few
	// percent, or, when it cannot take them, wazero's
	// WithCloseOnContextDone, which costs 19–37x on tight loops. Long
	// lived hosts (the MCP server, tests) use it.
	InterruptInstrument

	// interruptYield is how InterruptInstrument is carried out when the
	// module can be given yield checks (yield.go): a runtime without
	// wazero's instrumentation, running the rewritten module.
	interruptYield Interrupt = 100
)

// Config configures an Engine.
type Config struct {
	// CacheDir holds compiled modules and built Go tools. Empty means
	// DefaultCacheDir(). "-" disables the disk cache (memory only).
	CacheDir string
	// OnCompile, if set, is called before a module is compiled for the
	// first time on this machine (nothing in the disk cache). The returned
	// func is called when compilation ends. The CLI shows progress with it.
	OnCompile func(name string, size int) (done func())
	// GoTool is the go command used to build tools from source; "go" if empty.
	GoTool string
	// Wrap decorates every host function once, when a runtime's host
	// modules are built (telemetry). Nil costs nothing.
	Wrap hostfuncs.Wrap
	// Net configures airlock's network host functions (module
	// hostfuncs.NetModule), which New installs in every runtime beside WASI
	// and wasi-threads. The zero value dials the real network through the
	// system resolver, as the CLI does.
	Net hostfuncs.NetConfig
	// HostFuncs are host functions added beside airlock's own: a module of
	// the embedder's, or a replacement. A function of the WASI module
	// replaces airlock's function of that name; any function of
	// hostfuncs.NetModule or hostfuncs.ThreadsModule replaces airlock's whole
	// module of that name. A host function must not keep a view of the
	// guest's memory past its call: a later run may have that memory by
	// then (Spec.MemoryGroup).
	HostFuncs []hostfuncs.Func
	// PrepareRun, if set, is called for every run to add per-run state
	// (network policy, spans) to the run's host state and context. It may
	// replace spec.Record (the gate reads it at each decision). The returned
	// func gets the Result, or nil when the module could not start.
	PrepareRun func(ctx context.Context, spec *Spec, run *hostfuncs.Run) (context.Context, func(*Result))
	// Engine selects the WebAssembly engine: EngineWazero (the default,
	// also for "") or EngineWasmtime (only in a binary built with -tags
	// wasmtime; see backend.go).
	Engine string
	// State lists the host paths of airlock's own state that the caller
	// uses (grants files, the audit log, policy files, its configuration
	// folder). No tool of any run reaches them, whatever its mounts: no
	// write, rename, removal or link, and no read of a Secret one. The
	// engine adds its own compile cache (CacheDir) and the default one.
	State []hostfuncs.StatePath
	// Warn receives one line (without a "airlock: " prefix) when the
	// engine mends something on its own: a compile-cache entry discarded
	// and compiled again. Nil writes "airlock: " + line to os.Stderr.
	Warn func(line string)
	// OneShot says the process runs one tool and then exits, as `airlock
	// run` does. The Go collector then stays off from New to the end of
	// the process, under a soft memory limit (oneshot.go): a cold start
	// makes a few megabytes of garbage, and collecting it cost a fifth of
	// the start's CPU. GOGC or GOMEMLIMIT in the environment win.
	OneShot bool
}

// DefaultCacheDir is $AIRLOCK_CACHE_DIR, or "airlock" in the user's cache dir.
func DefaultCacheDir() string {
	if d := os.Getenv("AIRLOCK_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "airlock")
	}
	return filepath.Join(os.TempDir(), "airlock-cache")
}

// Engine compiles and runs modules. It is safe for concurrent use; one
// Engine serves any number of runs and keeps one compiled copy of each
// module per runtime configuration.
type Engine struct {
	cfg      Config
	cacheDir string
	cache    wazero.CompilationCache
	code     *codeCache // the sealed store on disk, nil for memory only

	mu       sync.Mutex
	runtimes map[rtKey]*rtEntry
	exports  map[string]bool // "module\x00name" of every host function (provides)

	// The collector is paused while guests without checks run (pauseGC).
	gcMu      sync.Mutex
	gcPaused  int
	gcPercent int
	gcLimit   int64
	gcProcs   int // GOMAXPROCS before pauseGC raised it, 0 if it did not
	// oneShotLimit is the memory limit holdCollector set (Config.OneShot).
	oneShotLimit int64

	alt backend // an engine other than wazero (backend.go), or nil

	hints  []Hint               // what Precompile compiled from files (Hints), under mu
	known  map[string]knownFile // module files Preload read, by absolute path, under mu
	mounts *host.MountWatch     // whether procMounts may be stale (Adopt)

	stateMu   sync.Mutex
	lastState *host.State // the last run's, reused while unchanged (runState)

	compiling sync.WaitGroup // compiles under way, which Close waits for

	threadInfos sync.Map // module digest -> threadsInfo (threads.go)

	goTC goToolchainCache // the Go toolchain that builds tool folders (load.go)

	// procMounts is where procfs is mounted, read when the engine is made:
	// a run's mounts are made behind the Landlock wall, where the mount
	// table cannot be read, and must never serve /proc (fs_proc_linux.go).
	procMounts []string
}

type rtKey struct {
	memPages  uint32
	interrupt Interrupt
	threads   bool // wazero's threads feature (shared memory, atomics) is on
	// imports, for a OneShot engine, lists the host functions the one
	// module imports (importsKeyOf); the runtime builds only those. Empty
	// means every host function.
	imports string
}

type rtEntry struct {
	rt       wazero.Runtime
	mu       sync.Mutex
	compiled map[string]*compileOnce
	memories map[string]*compileOnce // shared memories for threads (threads.go)
}

type compileOnce struct {
	once  sync.Once
	mod   wazero.CompiledModule
	err   error
	image *memImage                    // the initial memory, or nil (dataseg.go)
	alloc experimental.MemoryAllocator // maps each instance's memory
}

// New returns an Engine with its compile cache opened.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Warn == nil {
		cfg.Warn = func(line string) { fmt.Fprintln(os.Stderr, "airlock: "+line) }
	}
	cfg.HostFuncs = withNet(cfg.HostFuncs, cfg.Net)
	e := &Engine{cfg: cfg, runtimes: map[rtKey]*rtEntry{}, exports: map[string]bool{}}
	for _, f := range host.Funcs(cfg.HostFuncs) {
		e.exports[f.Module+"\x00"+f.Name] = true
	}
	if cfg.OneShot {
		e.holdCollector(0, 0)
	}
	if cfg.OneShot {
		e.mounts = host.WatchMounts() // before the read: Adopt reads again after a change
	}
	var err error
	if e.procMounts, err = host.ProcessFSMounts(); err != nil {
		e.mounts.Close()
		return nil, err
	}
	e.cacheDir = cfg.CacheDir
	if e.cacheDir == "" {
		e.cacheDir = DefaultCacheDir()
	}
	if e.cacheDir == "-" {
		e.cacheDir = ""
		e.cache = wazero.NewCompilationCache()
	} else {
		if abs, err := filepath.Abs(e.cacheDir); err == nil {
			e.cacheDir = abs
		}
		code, c, err := openCodeCache(e.cacheDir, cfg.Warn)
		if err != nil {
			return nil, fmt.Errorf("opening compile cache in %s: %w", e.cacheDir, err)
		}
		e.code, e.cache = code, c
	}
	alt, err := newBackend(ctx, cfg, e.code)
	if err != nil {
		e.Close(ctx)
		return nil, err
	}
	e.alt = alt
	if alt != nil && e.code != nil {
		e.code.dropHeld() // another engine keeps its code in memory, not in the folder
	}
	return e, nil
}

// statePaths is what no tool of this engine's runs may reach: the
// caller's state and the compile cache.
func (e *Engine) statePaths() []host.StatePath {
	paths := append([]host.StatePath(nil), e.cfg.State...)
	if e.cacheDir != "" {
		paths = append(paths, host.StatePath{Path: e.cacheDir, What: "compile cache", Secret: true})
	}
	// The default cache too, when this engine uses another: an airlock
	// started without AIRLOCK_CACHE_DIR keeps its native code there.
	if d, err := os.UserCacheDir(); err == nil {
		if def := filepath.Join(d, "airlock"); def != e.cacheDir {
			paths = append(paths, host.StatePath{Path: def, What: "compile cache", Secret: true})
		}
	}
	return paths
}

// runState is the State that guards a run's mounts: the last run's while
// nothing in it changed (host.NewStateLike), which spares each run a
// walk of every folder of the compile cache and the other state.
func (e *Engine) runState() *host.State {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if e.cfg.OneShot && e.lastState == nil {
		// The process's one run: no next run to spare (NewStateOnce).
		e.lastState = host.NewStateOnce(e.statePaths())
		return e.lastState
	}
	e.lastState = host.NewStateLike(e.statePaths(), e.lastState)
	return e.lastState
}

// Close releases every runtime and compiled module.
func (e *Engine) Close(ctx context.Context) error {
	// A compile the caller stopped waiting for (compile) goes on in the
	// background; closing its runtime or the cache under it would crash
	// the process inside wazero. Wait for it, as long as ctx allows.
	compiled := make(chan struct{})
	go func() {
		e.compiling.Wait()
		close(compiled)
	}()
	select {
	case <-compiled:
	case <-ctx.Done():
		return fmt.Errorf("closing the engine: a compile still runs: %w", ctx.Err())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for k, r := range e.runtimes {
		errs = append(errs, r.rt.Close(ctx))
		for _, c := range r.compiled {
			c.image.close()
		}
		delete(e.runtimes, k)
	}
	if e.cache != nil {
		errs = append(errs, e.cache.Close(ctx))
	}
	if e.code != nil {
		errs = append(errs, e.code.close())
	}
	if e.alt != nil {
		errs = append(errs, e.alt.close())
	}
	e.stateMu.Lock()
	e.lastState.Close()
	e.lastState = nil
	e.stateMu.Unlock()
	e.mounts.Close()
	return errors.Join(errs...)
}

// Module is a loaded WebAssembly module, identified by the SHA-256 digest of
// its bytes.
type Module struct {
	Name   string // a short name for people: the file or folder name
	Path   string // where it was loaded from, if anywhere
	Digest string // "sha256:" + hex
	Bytes  []byte
	// Built is true when the module was built from Go source; BuildTime is
	// then how long the build took (zero when it came from the cache).
	Built     bool
	BuildTime time.Duration
}

// ShortDigest is the first 12 hex digits of the digest, for prompts and logs.
func (m *Module) ShortDigest() string {
	const p = len("sha256:")
	if len(m.Digest) < p+12 {
		return m.Digest
	}
	return m.Digest[p : p+12]
}

// NewModule wraps module bytes already in memory.
func NewModule(name string, b []byte) *Module {
	sum := sha256.Sum256(b)
	return &Module{Name: name, Digest: "sha256:" + hex.EncodeToString(sum[:]), Bytes: b}
}

// withNet returns extra with airlock's network functions in front, unless
// extra defines the network module itself.
func withNet(extra []host.Func, cfg host.NetConfig) []host.Func {
	for _, f := range extra {
		if f.Module == host.NetModule {
			return extra
		}
	}
	return append(host.NetFuncs(cfg), extra...)
}

// runtimeFor returns the wazero runtime for a configuration, creating it once.
func (e *Engine) runtimeFor(ctx context.Context, k rtKey) (*rtEntry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runtimes[k]; ok {
		return r, nil
	}
	cfg := wazero.NewRuntimeConfig().WithCompilationCache(e.cache).WithMemoryLimitPages(k.memPages)
	if k.interrupt == InterruptInstrument {
		cfg = cfg.WithCloseOnContextDone(true)
	}
	if k.threads {
		// Only for modules with a shared memory: wazero calls the feature
		// experimental (RATIONALE.md, "Why run wasi-threads, and how?").
		cfg = cfg.WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesThreads)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	var only func(module, name string) bool
	if k.imports != "" {
		set := map[string]bool{}
		for _, mn := range strings.Split(k.imports, "\n") {
			set[mn] = true
		}
		only = func(module, name string) bool { return set[module+"\x00"+name] }
	}
	if err := host.Instantiate(ctx, rt, e.cfg.Wrap, e.cfg.HostFuncs, only); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	r := &rtEntry{rt: rt, compiled: map[string]*compileOnce{}}
	e.runtimes[k] = r
	return r, nil
}

// compile returns m compiled for r, compiling at most once per runtime,
// and the allocator of its instances' memory.
func (e *Engine) compile(ctx context.Context, r *rtEntry, k rtKey, m *Module) (wazero.CompiledModule, experimental.MemoryAllocator, error) {
	r.mu.Lock()
	c, ok := r.compiled[m.Digest]
	if !ok {
		c = &compileOnce{}
		r.compiled[m.Digest] = c
	}
	r.mu.Unlock()
	// Compile in the background and stop waiting when ctx ends: a compile
	// cannot be interrupted, but the caller (an interrupted CLI, a
	// cancelled MCP call) need not wait for it, and a later caller finds
	// the finished module.
	compiled := make(chan struct{})
	e.compiling.Add(1) // Close waits for it
	go func() {
		defer e.compiling.Done()
		defer close(compiled)
		c.once.Do(func() { e.doCompile(ctx, r, k, m, c) })
	}()
	select {
	case <-compiled:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if c.err != nil && !errors.Is(c.err, errCannotYield) {
		// A failed compile is not remembered: the next call may succeed
		// (for example after a cancelled context). That a module cannot
		// be given yield checks is.
		r.mu.Lock()
		if r.compiled[m.Digest] == c {
			delete(r.compiled, m.Digest)
		}
		r.mu.Unlock()
	}
	return c.mod, c.alloc, c.err
}

// doCompile compiles m into c, showing progress the first time m is
// compiled on this machine.
func (e *Engine) doCompile(ctx context.Context, r *rtEntry, k rtKey, m *Module, c *compileOnce) {
	ctx = context.WithoutCancel(ctx)
	if e.code != nil {
		defer e.code.dropHeld() // a compile that failed before it took the folder
	}
	if c.err = checkBytes(m.Bytes, e.provides); c.err != nil {
		c.err = &ModuleError{Name: m.Name, Err: c.err}
		return
	}
	// wazero compiles the module without its data segments, which each
	// instance's memory is mapped from (dataseg.go); the module keeps its
	// identity (Digest) and bytes.
	bin, img, variant := prepareModule(m.Bytes)
	if k.interrupt == interruptYield {
		var err error
		if bin, err = addYieldChecks(bin); err != nil {
			c.err = err
			img.close()
			return
		}
		variant = strings.TrimSpace(variant + " yield=2") // 2: the budget is exported
	}
	prepared := *m
	prepared.Bytes = bin
	if e.code != nil {
		c.mod, c.err = e.code.compileWazero(ctx, r.rt, &prepared, variantOf(k.interrupt, k.threads, variant), e.cfg.OnCompile)
	} else {
		var done func()
		if e.cfg.OnCompile != nil {
			done = e.cfg.OnCompile(m.Name, len(m.Bytes))
		}
		c.mod, c.err = r.rt.CompileModule(ctx, prepared.Bytes)
		if done != nil {
			done()
		}
	}
	if c.err != nil && k.interrupt == interruptYield {
		// Compiled as it is, the module will say what is wrong with it.
		c.err = fmt.Errorf("%w: %v", errCannotYield, c.err)
	}
	if c.err != nil {
		if !errors.Is(c.err, errCannotYield) {
			c.err = &ModuleError{Name: m.Name, Err: c.err}
		}
		img.close()
		return
	}
	c.image = img
	c.alloc = memoryAllocator()
	if img != nil {
		c.alloc = img.allocator()
	}
}

// Precompile compiles m for the given limits ahead of a run, so that the
// first run pays no compile cost (the MCP server does this at start), and
// nothing is compiled once airlock's Landlock wall is up (airlock run);
// for a module whose threads share an imported memory, that memory's
// module too.
func (e *Engine) Precompile(ctx context.Context, m *Module, memory uint64, in Interrupt) error {
	e.noteHint(m, memory, in)
	if e.cfg.OneShot {
		// wazero keeps a shared memory (threads) on the Go heap: the
		// limit holds it too.
		var onHeap uint64
		if e.alt == nil && e.threadsOf(m).shared {
			onHeap = memory
		}
		e.holdCollector(len(m.Bytes), onHeap)
	}
	if e.alt != nil {
		return e.alt.precompile(ctx, m)
	}
	ti := e.threadsOf(m)
	r, k, _, _, err := e.compiled(ctx, m, pagesFor(memory), in)
	if err != nil || ti.imported == nil {
		return err
	}
	_, err = e.compileSharedMemory(ctx, r, k, ti.imported) // the memory its threads share
	return err
}

// compiled returns m compiled for a memory limit and interrupt mode, with
// its runtime, the key of the runtime and the allocator of its instances'
// memory. InterruptInstrument is carried out with yield checks when the
// module takes them (the key says interruptYield), by wazero otherwise.
//
// A module with threads (a shared memory) is always instrumented, even
// for InterruptAbandon: it decides how many of its threads compute at
// once, and code that never leaves for Go holds a P (GOMAXPROCS) for as
// long as it runs, so as many spinning threads as the process has Ps
// would leave no P for the timer that ends the run, nor for anything else
// (RATIONALE.md, "Why are modules with threads always instrumented?"). Every thread is
// an instance of the same compiled module, so every thread's code has the
// checks; each instance's stop flag is set when the run ends (guestStop).
func (e *Engine) compiled(ctx context.Context, m *Module, memPages uint32, in Interrupt) (*rtEntry, rtKey, wazero.CompiledModule, experimental.MemoryAllocator, error) {
	ti := e.threadsOf(m)
	threads := ti.shared
	if threads {
		in = InterruptInstrument
	}
	imports := ""
	if e.cfg.OneShot {
		imports = ti.imports
	}
	if in == InterruptInstrument {
		k := rtKey{memPages: memPages, interrupt: interruptYield, threads: threads, imports: imports}
		r, err := e.runtimeFor(ctx, k)
		if err != nil {
			return nil, k, nil, nil, err
		}
		cm, alloc, err := e.compile(ctx, r, k, m)
		if !errors.Is(err, errCannotYield) {
			return r, k, cm, alloc, err
		}
	}
	k := rtKey{memPages: memPages, interrupt: in, threads: threads, imports: imports}
	r, err := e.runtimeFor(ctx, k)
	if err != nil {
		return nil, k, nil, nil, err
	}
	cm, alloc, err := e.compile(ctx, r, k, m)
	return r, k, cm, alloc, err
}

// Imports lists what m imports, for `airlock inspect` and for clear errors.
func (e *Engine) Imports(ctx context.Context, m *Module) ([]api.FunctionDefinition, error) {
	k := rtKey{memPages: pagesFor(0), threads: e.threadsOf(m).shared}
	r, err := e.runtimeFor(ctx, k)
	if err != nil {
		return nil, err
	}
	cm, _, err := e.compile(ctx, r, k, m)
	if err != nil {
		return nil, err
	}
	return cm.ImportedFunctions(), nil
}

func pagesFor(bytes uint64) uint32 {
	if bytes == 0 {
		return 65536 // 4 GiB, wazero's maximum
	}
	p := (bytes + wasmPage - 1) / wasmPage
	if p > 65536 {
		p = 65536
	}
	return uint32(p)
}

// ModuleError says a module could not be compiled or instantiated: it is
// malformed, or imports what airlock does not provide.
type ModuleError struct {
	Name string
	Err  error
}

func (e *ModuleError) Error() string { return fmt.Sprintf("module %s: %v", e.Name, e.Err) }
func (e *ModuleError) Unwrap() error { return e.Err }
