// Package mcp owns airlock's MCP server: it turns a folder of tool manifests
// into MCP tools, runs each tools/call in its own sandbox through the same
// runtime.Engine.Run as `airlock run`, under the policy, and carries the
// approvals a run needs to the person behind the agent as MCP elicitations.
//
// A Server is built from Options (a tools folder, a base policy, an Engine)
// and serves any number of sessions at once over stdio (ServeStdio) or
// Streamable HTTP (Handler, Listen). It keeps one compiled module per tool,
// bounds the number of concurrent runs with a queue, validates arguments
// against each tool's input schema, checks the pinned module digest before
// every run, reports progress on long runs, and reloads the folder when it
// changes (notifications/tools/list_changed).
//
// The HTTP side is bound to loopback unless the caller allows otherwise, and
// refuses requests whose Host is not a loopback name or whose Origin is
// another site (DNS rebinding), and requests without the bearer token when one
// is configured.
//
// Approvals reach the client in one of two ways, chosen per request by the
// protocol version the client speaks: a client on a protocol before
// 2026-07-28 gets an elicitation/create request while the tool waits; a
// client on 2026-07-28 or later gets an input-required result (multi
// round-trip requests) and the tool waits, suspended, for the client's retry.
// See docs/mcp.md and RATIONALE.md.
//
// The SDK is github.com/modelcontextprotocol/go-sdk; this package imports it
// as sdk.
package mcp
