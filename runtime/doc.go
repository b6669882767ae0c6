// Package runtime owns the engine that runs tools: the wazero runtime and its
// on-disk compile cache, loading modules (a .wasm file, or a folder of Go
// source built for wasip1 and cached by source digest), building the sandbox
// a policy describes (mounts through the policy filesystem, environment
// allowlist, real clocks and randomness, limits), and the Run API that the CLI
// and the MCP server both call.
package runtime
