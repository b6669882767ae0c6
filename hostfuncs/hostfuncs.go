package hostfuncs

import "github.com/airlockhq/airlock/internal/host"

// Func is one host function given to guests: its import module and name,
// its parameter and result types, and the function (a wazero
// api.GoModuleFunction). runtime.Config.HostFuncs adds functions of another
// module; a function of WASIModule replaces airlock's function of that
// name, and any function of NetModule or ThreadsModule replaces airlock's
// whole module of that name.
type Func = host.Func

// Wrap decorates a host function once, when a runtime's host modules are
// built (never per call): runtime.Config.Wrap. Telemetry uses it to put a
// span around every call; nil means no decoration and no cost.
type Wrap = host.Wrap

// NetConfig configures airlock's network host functions (module
// NetModule) for an engine: runtime.Config.Net. Its fields are Resolver,
// RootCAs, MaxResponse and DialTimeout; the zero value dials the real
// network through the system resolver.
type NetConfig = host.NetConfig

// The network functions' defaults, for a NetConfig field left 0.
const (
	// DefaultMaxResponse is NetConfig.MaxResponse when it is 0: the
	// largest response body the HTTP path hands a guest (1 GiB).
	DefaultMaxResponse = host.DefaultMaxResponse
	// DefaultDialTimeout is NetConfig.DialTimeout when it is 0.
	DefaultDialTimeout = host.DefaultDialTimeout
)

// Resolver resolves host names for the network host functions
// (NetConfig.Resolver). *net.Resolver implements it; tests give a resolver
// of their own.
type Resolver = host.Resolver

// Run is the per-run state that host functions reach through the context
// of the guest's call; runtime.Config.PrepareRun gets it before the guest
// starts. Its Gate field is the run's decision gate (Gate.Observe sees
// every decision.Use), Value keeps per-run state of a family of host
// functions, and OnClose registers what to close when the run ends.
type Run = host.Run

// StatePath is a host path that holds airlock's own state (or an
// embedder's: grants, an audit log, policy files), which no tool of any run
// may change, whatever mount exposes it; a Secret one may not be read
// either. runtime.Config.State lists them.
type StatePath = host.StatePath

// The import modules of airlock's own host functions.
const (
	// WASIModule is WASI preview 1's module, "wasi_snapshot_preview1".
	WASIModule = host.WASIModule
	// NetModule is airlock's network ABI, version 1; its functions,
	// arguments and errnos are in docs/network-abi.md.
	NetModule = host.NetModule
	// ThreadsModule is wasi-threads' module, "wasi" (thread-spawn).
	ThreadsModule = host.ThreadsModule
)

// StateRulePrefix starts the Rule of every decision that kept a tool away
// from a StatePath, as in "airlock state: compile cache".
const StateRulePrefix = host.StateRulePrefix
