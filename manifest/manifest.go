// Package manifest owns tool manifests: the HCL file beside a module
// (tool.hcl, or NAME.tool.hcl) that names a tool, describes it and its
// input (a JSON Schema), says how the input reaches it (an argv template,
// or the JSON on stdin) and what it outputs, pins its module's digest, and
// lists the capabilities it requests beyond a policy.
//
// `airlock run` uses a manifest for the digest check and, in on-request
// mode, for the one prompt before the run; the MCP server turns each
// manifest into a tool. The format is documented in docs/manifest.md.
package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/airlockhq/airlock/policy"
)

// FileName is the manifest of the tool whose module is in the same folder;
// files named NAME.tool.hcl are manifests too.
const FileName = "tool.hcl"

// Manifest is one tool.
type Manifest struct {
	Name        string
	Description string
	// Module is the module's path, absolute: a .wasm file, or a folder of
	// Go source built for wasip1.
	Module string
	// Digest is the pinned digest of the module's bytes, "sha256:…", or ""
	// when none is pinned (a warning).
	Digest string
	// Input is how the input reaches the tool: "argv" (through the Argv
	// template) or "stdin" (the input as JSON on stdin; Argv still gives
	// the arguments). Written "stdin:FIELD" in the file, it is "stdin" with
	// StdinField set.
	Input string
	// StdinField, when set, names the string field of the input whose text
	// is the tool's stdin as it is (a file's new content, a patch), instead
	// of the input as JSON. The other fields still fill the Argv template.
	StdinField string
	// Argv is the argument template (see Args).
	Argv []string
	// Output is "text" or "json".
	Output string
	// InputSchema is the JSON Schema of the input, compact JSON; {"type":
	// "object"} when the manifest gives none.
	InputSchema json.RawMessage
	// Requests are the capabilities the tool asks for beyond a policy.
	Requests Requests
	// Annotations are hints for an MCP client about how the tool behaves
	// (the annotations block); nil when the manifest gives none. They are
	// hints for the client's user interface, never trusted by airlock:
	// the policy bounds what a tool does, whatever it says of itself.
	Annotations *Annotations

	File        string    // the manifest's path
	Range       hcl.Range // the tool block
	DigestRange hcl.Range // the digest attribute, for "pinned at" messages
}

// Annotations are MCP tool annotations: how a tool says it behaves, for a
// client that shows or confirms calls. A nil field is not given (the MCP
// default applies: not read-only, destructive, not idempotent, open world).
type Annotations struct {
	Title       string
	ReadOnly    *bool // readOnlyHint: it does not modify its environment
	Destructive *bool // destructiveHint: it may delete or overwrite, not only add
	Idempotent  *bool // idempotentHint: calling it again with the same input changes nothing more
	OpenWorld   *bool // openWorldHint: it reaches entities outside (the network)
}

// Requests are what a tool asks for beyond a policy. Each is granted only
// by a person (one prompt before the run, in on-request mode), a remembered
// grant, or the policy itself; never by the manifest alone.
type Requests struct {
	Network []string      // network rules, as in a policy's network.allow
	Env     []string      // host variable names
	Write   []string      // guest paths of mounts the tool wants to write
	Memory  uint64        // bytes of memory; 0 for none asked
	Timeout time.Duration // wall time; 0 for none asked
}

// Escalation is the requests as the policy package widens a policy.
func (r Requests) Escalation() policy.Escalation {
	return policy.Escalation{Network: r.Network, Env: r.Env, Write: r.Write, Memory: r.Memory, Timeout: r.Timeout}
}

// Empty reports whether nothing is requested.
func (r Requests) Empty() bool {
	return len(r.Network) == 0 && len(r.Env) == 0 && len(r.Write) == 0 && r.Memory == 0 && r.Timeout == 0
}

// IsManifest reports whether a file name is a manifest's.
func IsManifest(name string) bool {
	base := filepath.Base(name)
	return base == FileName || strings.HasSuffix(base, ".tool.hcl")
}

// Find returns the manifest for path: path itself when it is a manifest
// file, dir/tool.hcl when path is a folder holding one, or "" when there is
// none.
func Find(path string) string {
	if IsManifest(path) {
		return path
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if m := filepath.Join(path, FileName); fileExists(m) {
			return m
		}
	}
	return ""
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Load reads one manifest file. It must hold exactly one tool block. Every
// problem is a diagnostic with file:line:col; the *Manifest is nil exactly
// when diags has errors.
func Load(path string) (*Manifest, hcl.Diagnostics) {
	src, err := policy.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the tool manifest " + path, Detail: err.Error()}}
	}
	return Parse(src, path)
}

// LoadDir loads every manifest in dir and in its immediate subfolders
// (tools/grep/tool.hcl, tools/lint.tool.hcl), sorted by name. A malformed
// manifest is reported and left out while the others load; two tools of
// the same name are an error on the second.
func LoadDir(dir string) ([]*Manifest, hcl.Diagnostics) {
	var files []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the tools folder " + dir, Detail: err.Error()}}
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			sub, err := os.ReadDir(p)
			if err != nil {
				continue
			}
			for _, s := range sub {
				if !s.IsDir() && IsManifest(s.Name()) {
					files = append(files, filepath.Join(p, s.Name()))
				}
			}
		case IsManifest(e.Name()):
			files = append(files, p)
		}
	}
	sort.Strings(files)
	var ms []*Manifest
	var diags hcl.Diagnostics
	seen := map[string]*Manifest{}
	for _, f := range files {
		m, d := Load(f)
		diags = append(diags, d...)
		if m == nil {
			continue
		}
		if prev := seen[m.Name]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate tool name",
				Detail:  fmt.Sprintf("A tool named %q is already defined at %s; this one is left out.", m.Name, hclx.Pos(prev.Range)),
				Subject: m.Range.Ptr()})
			continue
		}
		seen[m.Name] = m
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms, diags
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "tool", LabelNames: []string{"name"}}}}

var toolSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"},
		{Name: "module", Required: true},
		{Name: "digest"},
		{Name: "input"},
		{Name: "argv"},
		{Name: "output"},
		{Name: "input_schema"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "requests"}, {Type: "annotations"}},
}

var annotationsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "title"}, {Name: "read_only"}, {Name: "destructive"}, {Name: "idempotent"}, {Name: "open_world"},
	},
}

var requestsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "network"}, {Name: "env"}, {Name: "write"}, {Name: "memory"}, {Name: "timeout"},
	},
}

// evalContext offers jsonencode, for input_schema = jsonencode({…}).
var evalContext = &hcl.EvalContext{Functions: map[string]function.Function{
	"jsonencode": stdlib.JSONEncodeFunc,
}}

// Parse parses a manifest from src, named filename in diagnostics; a
// relative module path resolves against filename's folder.
func Parse(src []byte, filename string) (*Manifest, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	b, bdiags := oneTool(file)
	diags = append(diags, bdiags...)
	if b == nil {
		return nil, diags
	}
	m, tdiags := decodeTool(b, filename)
	diags = append(diags, tdiags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return m, diags
}

// oneTool returns the file's tool block, or nil with a diagnostic when it
// does not hold exactly one.
func oneTool(file *hcl.File) (*hcl.Block, hcl.Diagnostics) {
	content, diags := hclx.Content(file.Body, rootSchema, "a tool manifest")
	if len(content.Blocks) == 1 {
		return content.Blocks[0], diags
	}
	if !diags.HasErrors() {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "One tool per manifest",
			Detail: fmt.Sprintf("A manifest holds exactly one tool block; this one has %d. Put each tool in a file of its own (NAME.tool.hcl).", len(content.Blocks))}
		if len(content.Blocks) > 1 {
			d.Subject = content.Blocks[1].DefRange.Ptr()
		} else {
			r := file.Body.(*hclsyntax.Body).SrcRange
			d.Subject = &r
		}
		diags = append(diags, d)
	}
	return nil, diags
}

// decodeTool decodes a tool block: its attributes here, its requests and
// annotations blocks each by a decoder of its own.
func decodeTool(b *hcl.Block, filename string) (*Manifest, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	m := &Manifest{Name: b.Labels[0], File: filename, Range: b.DefRange, Input: "argv", Output: "text",
		InputSchema: json.RawMessage(`{"type":"object"}`)}
	if err := checkName(m.Name); err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid tool name", Detail: sentence(err.Error()), Subject: b.LabelRanges[0].Ptr()})
	}
	body, bdiags := hclx.Content(b.Body, toolSchema, "a tool block")
	diags = append(diags, bdiags...)
	if body == nil {
		return nil, diags
	}
	d := attrs{body: body, diags: diags}
	m.Description = d.str("description")
	d.module(m, b, filename)
	d.input(m)
	if s := d.str("output", "text", "json"); s != "" {
		m.Output = s
	}
	diags = d.diags
	m.Argv, diags = stringList(body.Attributes["argv"], diags)
	if a := body.Attributes["input_schema"]; a != nil {
		schema, err := decodeSchema(a)
		if err != nil {
			diags = append(diags, attrError(a, "Invalid input_schema", sentence(err.Error())))
		} else {
			m.InputSchema = schema
		}
	}
	if a := body.Attributes["argv"]; a != nil && !diags.HasErrors() {
		if err := m.checkTemplate(); err != nil {
			diags = append(diags, attrError(a, "Invalid argv", sentence(err.Error())))
		}
	}
	seen := map[string]bool{}
	for _, rb := range body.Blocks {
		if seen[rb.Type] {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + rb.Type + " block",
				Detail: "A tool has at most one " + rb.Type + " block; merge the two.", Subject: rb.DefRange.Ptr()})
			continue
		}
		seen[rb.Type] = true
		switch rb.Type {
		case "requests":
			m.Requests, diags = decodeRequests(rb, diags)
		case "annotations":
			m.Annotations, diags = decodeAnnotations(rb, diags)
		}
	}
	return m, diags
}

// attrs reads a tool block's attributes, collecting what is wrong with them.
type attrs struct {
	body  *hcl.BodyContent
	diags hcl.Diagnostics
}

// str returns the string attribute name ("" when absent or wrong), one of
// allowed when any are given.
func (d *attrs) str(name string, allowed ...string) string {
	a := d.body.Attributes[name]
	if a == nil {
		return ""
	}
	v, diags := a.Expr.Value(evalContext)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return ""
	}
	if v.IsNull() || !v.Type().Equals(cty.String) {
		d.diags = append(d.diags, attrError(a, "Invalid "+name, name+" must be a string."))
		return ""
	}
	s := v.AsString()
	if len(allowed) > 0 && !contains(allowed, s) {
		d.diags = append(d.diags, attrError(a, "Invalid "+name,
			fmt.Sprintf("%s must be %s, not %q.", name, orList(allowed), s)))
		return ""
	}
	return s
}

// module reads module (made absolute against the manifest's folder) and
// digest, warning when a .wasm module's digest is not pinned.
func (d *attrs) module(m *Manifest, b *hcl.Block, filename string) {
	if mod := d.str("module"); mod != "" {
		if !filepath.IsAbs(mod) {
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(filename), mod))
			if err == nil {
				mod = abs
			}
		}
		m.Module = filepath.Clean(mod)
	}
	if a := d.body.Attributes["digest"]; a != nil {
		m.Digest, m.DigestRange = d.str("digest"), a.Expr.Range()
		if m.Digest != "" && !validDigest(m.Digest) {
			d.diags = append(d.diags, attrError(a, "Invalid digest",
				fmt.Sprintf("digest must be \"sha256:\" and 64 hex digits, not %q; `airlock inspect MODULE` prints it.", m.Digest)))
		}
	} else if strings.HasSuffix(m.Module, ".wasm") {
		// A Go source folder is built by the local toolchain, whose output
		// differs from one Go version to the next: its digest cannot be
		// pinned, and its source lies beside the manifest to be read.
		d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Module digest not pinned",
			Detail:  "Without a digest, whatever module is at " + m.Module + " runs under this manifest's name. Pin it: digest = \"sha256:…\".",
			Subject: b.DefRange.Ptr()})
	}
}

// input reads input: "argv", "stdin" or "stdin:FIELD".
func (d *attrs) input(m *Manifest) {
	a := d.body.Attributes["input"]
	if a == nil {
		return
	}
	if v, diags := a.Expr.Value(evalContext); !diags.HasErrors() && v.Type().Equals(cty.String) && !v.IsNull() {
		if field, ok := strings.CutPrefix(v.AsString(), "stdin:"); ok {
			if !validField(field) {
				d.diags = append(d.diags, attrError(a, "Invalid input",
					fmt.Sprintf("input = \"stdin:FIELD\" needs FIELD to be an input field name, not %q.", field)))
			}
			m.Input, m.StdinField = "stdin", field
			return
		}
	}
	if s := d.str("input", "argv", "stdin"); s != "" {
		m.Input = s
	}
}

func decodeAnnotations(b *hcl.Block, diags hcl.Diagnostics) (*Annotations, hcl.Diagnostics) {
	a := &Annotations{}
	body, bdiags := hclx.Content(b.Body, annotationsSchema, "an annotations block")
	diags = append(diags, bdiags...)
	if body == nil {
		return a, diags
	}
	flag := func(name string) *bool {
		attr := body.Attributes[name]
		if attr == nil {
			return nil
		}
		v, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil
		}
		if v.IsNull() || !v.Type().Equals(cty.Bool) {
			diags = append(diags, attrError(attr, "Invalid "+name, name+" must be true or false."))
			return nil
		}
		t := v.True()
		return &t
	}
	a.ReadOnly, a.Destructive, a.Idempotent, a.OpenWorld = flag("read_only"), flag("destructive"), flag("idempotent"), flag("open_world")
	if attr := body.Attributes["title"]; attr != nil {
		v, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() && (v.IsNull() || !v.Type().Equals(cty.String)) {
			diags = append(diags, attrError(attr, "Invalid title", "title must be a string."))
		} else if !d.HasErrors() {
			a.Title = v.AsString()
		}
	}
	if a.ReadOnly != nil && *a.ReadOnly && a.Destructive != nil && *a.Destructive {
		diags = append(diags, attrError(body.Attributes["destructive"], "Contradictory annotations",
			"A tool cannot be read_only and destructive at once."))
	}
	return a, diags
}

func decodeRequests(b *hcl.Block, diags hcl.Diagnostics) (Requests, hcl.Diagnostics) {
	var r Requests
	body, bdiags := hclx.Content(b.Body, requestsSchema, "a requests block")
	diags = append(diags, bdiags...)
	if body == nil {
		return r, diags
	}
	if a := body.Attributes["network"]; a != nil {
		r.Network, diags = stringList(a, diags)
		for _, rule := range r.Network {
			if _, err := policy.NewNetRule(rule, policy.Origin{}); err != nil {
				diags = append(diags, attrError(a, "Invalid network request", sentence(err.Error())))
			}
		}
	}
	if a := body.Attributes["env"]; a != nil {
		r.Env, diags = stringList(a, diags)
		for _, name := range r.Env {
			if !envName(name) {
				diags = append(diags, attrError(a, "Invalid env request",
					fmt.Sprintf("%q is not a variable name: use letters, digits and underscores, not starting with a digit.", name)))
			}
		}
	}
	if a := body.Attributes["write"]; a != nil {
		r.Write, diags = stringList(a, diags)
		for _, g := range r.Write {
			if !strings.HasPrefix(g, "/") || filepath.Clean(g) != g {
				diags = append(diags, attrError(a, "Invalid write request",
					fmt.Sprintf("%q must be a clean absolute guest path naming a mount, like \"/work\".", g)))
			}
		}
	}
	if a := body.Attributes["memory"]; a != nil {
		v, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			var err error
			switch {
			case !v.IsNull() && v.Type().Equals(cty.String):
				r.Memory, err = policy.ParseSize(v.AsString())
			case !v.IsNull() && v.Type().Equals(cty.Number):
				n, acc := v.AsBigFloat().Uint64()
				r.Memory = n
				if acc != 0 {
					err = errors.New("memory must be a whole number of bytes")
				}
			default:
				err = errors.New(`memory must be a size, like "512MiB"`)
			}
			if err != nil {
				diags = append(diags, attrError(a, "Invalid memory request", sentence(err.Error())))
			}
		}
	}
	if a := body.Attributes["timeout"]; a != nil {
		v, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			var t time.Duration
			err := errors.New(`timeout must be a duration, like "5m"`)
			if !v.IsNull() && v.Type().Equals(cty.String) {
				t, err = time.ParseDuration(v.AsString())
				if err == nil && t <= 0 {
					err = errors.New("timeout must be greater than zero")
				}
			}
			if err != nil {
				diags = append(diags, attrError(a, "Invalid timeout request", sentence(err.Error())))
			} else {
				r.Timeout = t
			}
		}
	}
	return r, diags
}

// decodeSchema reads input_schema: a string of JSON (jsonencode({…}) or a
// heredoc) or an HCL object, and checks it is a JSON object.
func decodeSchema(a *hcl.Attribute) (json.RawMessage, error) {
	v, d := a.Expr.Value(evalContext)
	if d.HasErrors() {
		return nil, errors.New(d.Error())
	}
	var raw []byte
	if !v.IsNull() && v.Type().Equals(cty.String) {
		raw = []byte(v.AsString())
	} else {
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("input_schema must be a JSON Schema object: %v", err)
	}
	compact, _ := json.Marshal(obj)
	return compact, nil
}

func stringList(a *hcl.Attribute, diags hcl.Diagnostics) ([]string, hcl.Diagnostics) {
	if a == nil {
		return nil, diags
	}
	v, d := a.Expr.Value(nil)
	diags = append(diags, d...)
	if d.HasErrors() {
		return nil, diags
	}
	if v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil, append(diags, attrError(a, "Invalid "+a.Name, a.Name+" must be a list of strings."))
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || !e.Type().Equals(cty.String) {
			return nil, append(diags, attrError(a, "Invalid "+a.Name, "Each element of "+a.Name+" must be a string."))
		}
		out = append(out, e.AsString())
	}
	return out, diags
}

// CheckDigest compares a loaded module's digest with the pinned one. An
// unpinned manifest accepts any module.
func (m *Manifest) CheckDigest(got string) error {
	if m.Digest == "" || m.Digest == got {
		return nil
	}
	return &DigestError{Tool: m.Name, Module: m.Module, Pinned: m.Digest, Got: got, At: hclx.Pos(m.DigestRange)}
}

// DigestError says a module is not the one its manifest pins: the tool
// must not run.
type DigestError struct {
	Tool, Module, Pinned, Got, At string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("refusing to run %s: the module %s has digest %s, but %s pins %s; if the module changed on purpose, update the digest",
		e.Tool, e.Module, e.Got, e.At, e.Pinned)
}

func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if name == "" {
		return errors.New("a tool name may not be empty")
	}
	for _, c := range name {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("tool name %q may use only letters, digits, \"-\", \"_\" and \".\"", name)
		}
	}
	return nil
}

func envName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func attrError(a *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Expr.Range().Ptr(), Context: a.Range.Ptr()}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// validField reports whether s can name an input field: letters, digits
// and underscores, not starting with a digit.
func validField(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
