// Package hostfuncs is the public extension point of what a WebAssembly
// guest can call under airlock: the few names an embedder of
// runtime.Engine needs to
//
//   - add host functions of another module beside airlock's, or replace
//     one (Func, in runtime.Config.HostFuncs; WASIModule, NetModule and
//     ThreadsModule name airlock's own modules);
//   - wrap every host function once, when a runtime's host modules are
//     built, for tracing or counting (Wrap, runtime.Config.Wrap; telemetry
//     is the project's own user of it);
//   - configure airlock's network host functions (NetConfig and Resolver,
//     runtime.Config.Net);
//   - add per-run state before a run starts (Run, the argument of
//     runtime.Config.PrepareRun);
//   - name the host paths of its own state that no tool may reach
//     (StatePath, runtime.Config.State; StateRulePrefix starts the rule of
//     every decision that kept a tool away from one).
//
// The implementation (airlock's WASI preview 1 over the policy filesystem,
// the network functions, the decision gate, wasi-threads) is in the
// module's internal/host package, which nothing outside this module can
// import; the names here are aliases of its types and constants, so the
// two are the same types (RATIONALE.md, "Why is the host-function
// implementation in internal/host, not hostfuncs/internal?"). Most programs
// use runtime.Engine and never this package directly.
package hostfuncs
