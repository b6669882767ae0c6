package manifest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Args renders the argv template with the tool's input (its JSON, decoded).
// Each element of argv is one of:
//
//	"-rn"           a literal argument ("{{" and "}}" stand for "{" and "}")
//	"{pattern}"     the whole argument is the field: a string as it is, a
//	                number or boolean in JSON form, an array one argument per
//	                element; left out when the field is absent or null
//	"--max={n}"     the field inside text: a string, number or boolean; an
//	                absent field is an error
//
// A field the input lacks takes the "default" its input_schema property
// gives, if any. Fields the template does not name do not reach argv (with
// input = "stdin", the whole input is on stdin).
func (m *Manifest) Args(input map[string]any) ([]string, error) {
	input = m.withDefaults(input)
	var out []string
	for i, el := range m.Argv {
		parts, err := parseElement(el)
		if err != nil {
			return nil, fmt.Errorf("argv element %d %q: %w", i+1, el, err)
		}
		if len(parts) == 1 && parts[0].field != "" {
			v, ok := input[parts[0].field]
			if !ok || v == nil {
				continue
			}
			if list, isList := v.([]any); isList {
				for j, e := range list {
					s, err := scalar(e)
					if err != nil {
						return nil, fmt.Errorf("argv element %d %q: input field %q, element %d: %w", i+1, el, parts[0].field, j, err)
					}
					out = append(out, s)
				}
				continue
			}
			s, err := scalar(v)
			if err != nil {
				return nil, fmt.Errorf("argv element %d %q: input field %q: %w", i+1, el, parts[0].field, err)
			}
			out = append(out, s)
			continue
		}
		var b strings.Builder
		for _, p := range parts {
			if p.field == "" {
				b.WriteString(p.text)
				continue
			}
			v, ok := input[p.field]
			if !ok || v == nil {
				return nil, fmt.Errorf("argv element %d %q: input field %q is missing", i+1, el, p.field)
			}
			s, err := scalar(v)
			if err != nil {
				return nil, fmt.Errorf("argv element %d %q: input field %q: %w", i+1, el, p.field, err)
			}
			b.WriteString(s)
		}
		out = append(out, b.String())
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Stdin returns what the tool reads on stdin: the input as JSON when
// Input is "stdin", the text of the StdinField when one is named, nothing
// otherwise.
func (m *Manifest) Stdin(input map[string]any) ([]byte, error) {
	if m.Input != "stdin" {
		return nil, nil
	}
	if m.StdinField != "" {
		switch v := input[m.StdinField].(type) {
		case nil:
			return nil, nil
		case string:
			return []byte(v), nil
		default:
			return nil, fmt.Errorf("input field %s of %s must be a string, not %T", m.StdinField, m.Name, v)
		}
	}
	if input == nil {
		input = map[string]any{}
	}
	b, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("encoding the input of %s: %w", m.Name, err)
	}
	return append(b, '\n'), nil
}

type part struct {
	text  string
	field string // non-empty for {field}
}

// parseElement splits one argv element into literal text and {field}s.
func parseElement(el string) ([]part, error) {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(el); i++ {
		c := el[i]
		switch {
		case c == '{' && i+1 < len(el) && el[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(el) && el[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(el[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("\"{\" at byte %d is not closed; write {{ for a literal brace", i+1)
			}
			name := el[i+1 : i+end]
			if !fieldName(name) {
				return nil, fmt.Errorf("{%s} is not a field name: use letters, digits and underscores", name)
			}
			if lit.Len() > 0 {
				parts = append(parts, part{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, part{field: name})
			i += end
		case c == '}':
			return nil, fmt.Errorf("\"}\" at byte %d closes nothing; write }} for a literal brace", i+1)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, part{text: lit.String()})
	}
	return parts, nil
}

func fieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", fmt.Errorf("a %T cannot be an argument: use a string, number or boolean", v)
}

// checkTemplate checks the argv template when the manifest is loaded: every
// element parses, and every field it names is a property of the input
// schema, when the schema lists properties.
func (m *Manifest) checkTemplate() error {
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(m.InputSchema, &schema)
	for i, el := range m.Argv {
		parts, err := parseElement(el)
		if err != nil {
			return fmt.Errorf("element %d %q: %w", i+1, el, err)
		}
		for _, p := range parts {
			if p.field == "" || schema.Properties == nil {
				continue
			}
			if _, ok := schema.Properties[p.field]; !ok {
				var names []string
				for n := range schema.Properties {
					names = append(names, n)
				}
				return fmt.Errorf("element %d %q names the field %q, which input_schema does not define (it defines %s)",
					i+1, el, p.field, strings.Join(slices.Sorted(slices.Values(names)), ", "))
			}
		}
	}
	return nil
}

// withDefaults returns input with each top-level property's schema default
// filled in where input lacks the field. input itself is not changed.
func (m *Manifest) withDefaults(input map[string]any) map[string]any {
	var schema struct {
		Properties map[string]struct {
			Default any `json:"default"`
		} `json:"properties"`
	}
	if json.Unmarshal(m.InputSchema, &schema) != nil || len(schema.Properties) == 0 {
		return input
	}
	out := make(map[string]any, len(input)+len(schema.Properties))
	for k, v := range input {
		out[k] = v
	}
	for name, p := range schema.Properties {
		if _, ok := out[name]; !ok && p.Default != nil {
			out[name] = p.Default
		}
	}
	return out
}
