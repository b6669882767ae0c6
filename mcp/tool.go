package mcp

import (
	"encoding/json"
	"fmt"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// tool is one tool on offer: a manifest, its module loaded and compiled,
// and the policy its calls start from.
type tool struct {
	name     string
	manifest *manifest.Manifest
	def      *sdk.Tool
	schema   *manifest.Schema
	policy   *policy.Policy // the base policy, output capped for MCP
	modSeen  fingerprint    // the module's files when the manifest was read
	// untrusted: a served tool could have written the Go source folder
	// (its digest is pinned, or it would not be on offer).
	untrusted bool

	// Set by Server.load before ready is closed.
	ready   chan struct{}
	module  *runtime.Module
	loadErr error
}

// arguments decodes and validates a call's arguments against the tool's
// input schema, with the schema's defaults applied: the same check as
// `airlock run --input` (manifest.Schema). A failure is a tool error
// naming the field, and the tool does not run.
func (t *tool) arguments(raw json.RawMessage) (map[string]any, *sdk.CallToolResult) {
	args, err := t.schema.Decode(raw)
	if err != nil {
		return nil, toolError(fmt.Sprintf("%s: invalid arguments: %v; the tool did not run", t.name, err))
	}
	return args, nil
}

// checkDigest refuses to run a module whose digest is not the one the
// manifest pins. The bytes that run are the ones that were hashed: the
// module is loaded once, into memory, and a change on disk reloads it
// (Watch) and is checked again.
func (t *tool) checkDigest() error { return t.manifest.CheckDigest(t.module.Digest) }

// input turns validated arguments into the tool's argv and stdin.
func (t *tool) input(args map[string]any) (argv []string, stdin []byte, err error) {
	if argv, err = t.manifest.Args(args); err != nil {
		return nil, nil, err
	}
	if stdin, err = t.manifest.Stdin(args); err != nil {
		return nil, nil, err
	}
	return argv, stdin, nil
}
