// Package host owns what a tool can call: every host function a guest
// imports, and the checks each one makes before it acts. It is the
// implementation behind package hostfuncs.
//
//   - The policy filesystem (FS, Linux only: fs_linux.go and the files of
//     each family of operations beside it) serves every mount. It pins each
//     object by file descriptor and applies the policy's protect and hide
//     patterns, read-only mounts and airlock's own state (State) to where
//     the object really is, so that no link, rename or race reaches past a
//     mount (RATIONALE.md, "Why build every mount on `os.Root` plus
//     `/proc/self/fd`, not `WithDirMount`?").
//   - WASI preview 1's file, directory, stream, poll and socket functions
//     are served by airlock over that filesystem (WASI, wasi*.go); wazero's
//     serve the rest (arguments, environment, clocks, random bytes), and
//     wasi-threads' thread-spawn is airlock's (threads.go). Instantiate
//     builds them all for a runtime.
//   - The network host functions (airlock_net_v1, NetFuncs; the ABI is in
//     docs/network-abi.md): the host resolves, checks and dials, and adds
//     credentials the tool never sees. runtime.New installs them in every
//     engine (runtime.Config.Net configures them).
//   - The Gate is the one place where a host function asks for a decision
//     (decision.Request) and every answer is recorded (decision.Recorder);
//     an "ask" goes to the run's decision.Asker, nobody's means deny.
//   - Wrap is the hook, installed once per runtime, that decorates every
//     host function (telemetry's spans); Func adds host functions of
//     another module (the network's, a test's).
//
// The runtime package puts these together for each run (a Run in the
// context, WithRun and RunFrom). This package is internal to the module:
// outside it, package hostfuncs names the few of its types and constants an
// embedder of runtime.Engine needs (Func, Wrap, NetConfig, Run, StatePath,
// the module names), as aliases (RATIONALE.md, "Why is the host-function
// implementation in internal/host, not hostfuncs/internal?").
package host
