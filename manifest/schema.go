package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Schema is a manifest's input schema, checked and resolved for
// validation. `airlock run --input` and the MCP server check a tool's input
// with the same Schema, so they accept and refuse the same inputs, with the
// same messages.
type Schema struct {
	// JSON is the schema as the manifest gives it ({"type": "object"} when
	// it gives none), for an MCP client's tools/list.
	JSON     *jsonschema.Schema
	resolved *jsonschema.Resolved
}

// Schema checks the manifest's input_schema and prepares it for
// validation. It must describe an object (a tool's input is one, and MCP
// tool arguments are one).
func (m *Manifest) Schema() (*Schema, error) {
	raw := m.InputSchema
	s := &jsonschema.Schema{Type: "object"}
	if len(raw) > 0 {
		s = &jsonschema.Schema{}
		if err := json.Unmarshal(raw, s); err != nil {
			return nil, fmt.Errorf("input_schema is not a JSON schema: %w", err)
		}
		if s.Type != "object" {
			return nil, errors.New(`input_schema must have "type": "object" (MCP tool arguments are an object)`)
		}
	}
	r, err := s.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		return nil, fmt.Errorf("input_schema: %w", err)
	}
	return &Schema{JSON: s, resolved: r}, nil
}

// InputError is an input the schema refuses. Field names the field it is
// about ("paths[]", "options.depth"), or is "" for the input as a whole.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// Decode reads a tool's input, a JSON object (raw empty or null is the
// empty object), applies the schema's defaults and validates it. An input
// the schema refuses is an *InputError naming the field; a field the
// schema requires and the input lacks is named too.
func (s *Schema) Decode(raw []byte) (map[string]any, error) {
	args := map[string]any{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		dec := json.NewDecoder(bytes.NewReader(t))
		if err := dec.Decode(&args); err != nil {
			return nil, &InputError{Msg: "not a JSON object: " + err.Error()}
		}
		if dec.More() {
			return nil, &InputError{Msg: "not one JSON object: more follows it"}
		}
	}
	if err := s.resolved.ApplyDefaults(&args); err != nil {
		return nil, &InputError{Msg: "applying the input schema's defaults: " + err.Error()}
	}
	if err := s.resolved.Validate(args); err != nil {
		return nil, describeSchemaError(err)
	}
	return args, nil
}

// describeSchemaError turns jsonschema-go's message into an InputError
// naming the field: "validating /properties/paths: validating
// /properties/paths/items: type: 1 has type …" is field "paths[]", and
// "validating root: required: missing properties: ["pattern"]" is field
// "pattern", missing.
func describeSchemaError(err error) *InputError {
	msg := err.Error()
	const v = "validating "
	field := ""
	if i := strings.LastIndex(msg, v); i >= 0 {
		if ptr, rest, ok := strings.Cut(msg[i+len(v):], ": "); ok {
			if ptr == "root" {
				msg = rest
			} else if strings.HasPrefix(ptr, "/") {
				field = strings.ReplaceAll(ptr, "/items", "[]")
				field = strings.ReplaceAll(field, "/properties/", ".")
				field = strings.TrimPrefix(field, ".")
				msg = rest
			}
		}
	}
	if list, ok := strings.CutPrefix(msg, "required: missing properties: "); ok {
		var names []string
		if json.Unmarshal([]byte(list), &names) == nil && len(names) > 0 {
			for i, n := range names {
				if field != "" {
					n = field + "." + n
				}
				names[i] = n
			}
			if len(names) == 1 {
				return &InputError{Field: names[0], Msg: "required, missing"}
			}
			return &InputError{Field: names[0], Msg: "required, missing (so are " + strings.Join(quoteAll(names[1:]), ", ") + ")"}
		}
	}
	return &InputError{Field: field, Msg: msg}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
