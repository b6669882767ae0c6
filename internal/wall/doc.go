// Package wall raises airlock's second wall: Linux Landlock on airlock's own
// process.
//
// The first wall is the WebAssembly sandbox with airlock's policy
// filesystem and network host functions: nothing outside a mount exists for
// the tool. The second wall assumes that first one has a bug (in wazero, or
// in airlock's own filesystem layer) and asks the kernel to hold the same
// line: once set-up is done (the module is loaded and compiled, airlock's
// own files are open), [Restrict] limits every thread of the process, for
// the rest of its life, to the host paths and TCP ports of a [Plan]: the
// mount roots (read-only where nothing can make them writable), the few
// files airlock still writes by name, and the ports the network policy and
// telemetry need. A restriction cannot be lifted, so only one-shot
// processes (airlock run) and servers restricted to the union of what they
// serve (airlock mcp) use it.
//
// Landlock rules are coarse: whole directory trees and TCP ports, not
// patterns or addresses. The policy's protect and hide patterns, its host
// and address rules stay the first wall's work; see docs/filesystem.md,
// "Second wall: Landlock", for what the kernel holds and what it does not.
package wall
