package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
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
	schema   *jsonschema.Resolved
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
// input schema, with the schema's defaults applied. A failure is a tool
// error naming the field, and the tool does not run.
func (t *tool) arguments(raw json.RawMessage) (map[string]any, *sdk.CallToolResult) {
	args := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, toolError(fmt.Sprintf("%s: the arguments are not a JSON object: %v", t.name, err))
		}
	}
	if t.schema == nil {
		return args, nil
	}
	if err := t.schema.ApplyDefaults(&args); err != nil {
		return nil, toolError(fmt.Sprintf("%s: applying the input schema's defaults: %v", t.name, err))
	}
	if err := t.schema.Validate(args); err != nil {
		return nil, toolError(fmt.Sprintf("%s: invalid arguments: %s; the tool did not run", t.name, describeSchemaError(err)))
	}
	return args, nil
}

// describeSchemaError leads jsonschema-go's message with the field it is
// about: "validating /properties/paths: validating /properties/paths/items:
// type: 1 has type …" becomes `field "paths[]": type: 1 has type …`.
func describeSchemaError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "validating root: ")
	const v = "validating "
	i := strings.LastIndex(msg, v)
	if i < 0 {
		return msg
	}
	ptr, rest, ok := strings.Cut(msg[i+len(v):], ": ")
	if !ok || !strings.HasPrefix(ptr, "/") {
		return msg
	}
	field := strings.ReplaceAll(ptr, "/items", "[]")
	field = strings.ReplaceAll(field, "/properties/", ".")
	field = strings.TrimPrefix(field, ".")
	return fmt.Sprintf("field %q: %s", field, rest)
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

// resolveSchema checks a manifest's input schema and prepares it for
// validation. A missing schema accepts any object.
func resolveSchema(raw json.RawMessage) (*jsonschema.Schema, *jsonschema.Resolved, error) {
	if len(raw) == 0 {
		s := &jsonschema.Schema{Type: "object"}
		r, err := s.Resolve(nil)
		return s, r, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("input_schema is not a JSON schema: %w", err)
	}
	if s.Type != "object" {
		return nil, nil, errors.New(`input_schema must have "type": "object" (MCP tool arguments are an object)`)
	}
	r, err := s.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		return nil, nil, fmt.Errorf("input_schema: %w", err)
	}
	return &s, r, nil
}
