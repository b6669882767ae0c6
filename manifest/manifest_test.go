package manifest_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
)

const grepManifest = `tool "grep" {
  description  = "Search files for a regular expression"
  module       = "grep.wasm"
  digest       = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  input        = "argv"
  argv         = ["-rn", "{pattern}", "{path}"]
  output       = "text"
  input_schema = jsonencode({ type = "object", properties = { pattern = { type = "string" }, path = { type = "string" } }, required = ["pattern"] })
  requests {
    network = ["https://api.github.com"]
    env     = ["GITHUB_USER"]
    write   = ["/work"]
    memory  = "512MiB"
    timeout = "5m"
  }
}
`

func write(t *testing.T, path, src string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func lines(diags hcl.Diagnostics) []string {
	var b strings.Builder
	policy.WriteDiagnostics(&b, nil, diags)
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	m, diags := manifest.Load(write(t, filepath.Join(dir, "tool.hcl"), grepManifest))
	if diags.HasErrors() || len(diags) != 0 {
		t.Fatal(lines(diags))
	}
	if m.Name != "grep" || m.Description != "Search files for a regular expression" || m.Module != filepath.Join(dir, "grep.wasm") ||
		m.Input != "argv" || m.Output != "text" || !slices.Equal(m.Argv, []string{"-rn", "{pattern}", "{path}"}) {
		t.Errorf("manifest %+v", m)
	}
	var schema map[string]any
	if err := json.Unmarshal(m.InputSchema, &schema); err != nil || schema["type"] != "object" {
		t.Errorf("schema %s", m.InputSchema)
	}
	r := m.Requests
	if !slices.Equal(r.Network, []string{"https://api.github.com"}) || !slices.Equal(r.Env, []string{"GITHUB_USER"}) ||
		!slices.Equal(r.Write, []string{"/work"}) || r.Memory != 512<<20 || r.Timeout != 5*time.Minute {
		t.Errorf("requests %+v", r)
	}
	if e := r.Escalation(); e.Memory != 512<<20 || len(e.Network) != 1 {
		t.Errorf("escalation %+v", e)
	}
	if got := manifest.Find(dir); got != filepath.Join(dir, "tool.hcl") {
		t.Errorf("Find(dir) = %q", got)
	}
}

func TestArgs(t *testing.T) {
	m, diags := manifest.Parse([]byte(`tool "t" {
  module = "t.wasm"
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  argv   = ["-n", "{pattern}", "--max={max}", "{{literal}}", "{paths}", "{opt}"]
  input_schema = {
    type = "object"
    properties = {
      pattern = { type = "string" }
      max = { type = "integer" }
      paths = { type = "array" }
      opt = { type = "string" }
    }
  }
}
`), "tool.hcl")
	if diags.HasErrors() {
		t.Fatal(lines(diags))
	}
	var input map[string]any
	json.Unmarshal([]byte(`{"pattern": "a b; rm -rf /", "max": 3, "paths": ["/work/x", "/work/y"]}`), &input)
	args, err := m.Args(input)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-n", "a b; rm -rf /", "--max=3", "{literal}", "/work/x", "/work/y"}
	if !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
	delete(input, "max")
	if _, err := m.Args(input); err == nil || err.Error() != `argv element 3 "--max={max}": input field "max" is missing` {
		t.Errorf("missing field: %v", err)
	}
	// A schema default fills a missing field.
	m.InputSchema = []byte(`{"type":"object","properties":{"pattern":{},"max":{"default":10},"paths":{},"opt":{}}}`)
	if args, err := m.Args(input); err != nil || args[2] != "--max=10" {
		t.Errorf("default: %q %v", args, err)
	}
	if _, ok := input["max"]; ok {
		t.Error("Args changed its input")
	}
	input["max"] = map[string]any{"x": 1}
	if _, err := m.Args(input); err == nil || !strings.Contains(err.Error(), "cannot be an argument") {
		t.Errorf("object field: %v", err)
	}
	if b, _ := m.Stdin(input); b != nil {
		t.Error("argv input wrote stdin")
	}
}

func TestDigest(t *testing.T) {
	m, _ := manifest.Parse([]byte(grepManifest), "tool.hcl")
	if err := m.CheckDigest(m.Digest); err != nil {
		t.Error(err)
	}
	err := m.CheckDigest("sha256:ffff")
	var de *manifest.DigestError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "refusing to run grep") || !strings.Contains(err.Error(), "tool.hcl:4:18 pins") {
		t.Errorf("mismatch: %v", err)
	}
	unpinned, diags := manifest.Parse([]byte("tool \"u\" {\n  module = \"u.wasm\"\n}\n"), "tool.hcl")
	if diags.HasErrors() || len(diags) != 1 || diags[0].Summary != "Module digest not pinned" {
		t.Errorf("unpinned: %v", lines(diags))
	}
	if err := unpinned.CheckDigest("sha256:anything"); err != nil {
		t.Error(err)
	}
	if _, diags := manifest.Parse([]byte("tool \"u\" {\n  module = \".\"\n}\n"), "tool.hcl"); len(diags) != 0 {
		t.Errorf("a Go source module without a digest: %v", lines(diags))
	}
}

func TestDiagnostics(t *testing.T) {
	cases := []struct{ src, want string }{
		{`tool "x" {
  module = "x.wasm"
  digest = "sha256:abc"
}`, `tool.hcl:3:12: error: Invalid digest; digest must be "sha256:" and 64 hex digits, not "sha256:abc"; ` + "`airlock inspect MODULE`" + ` prints it.`},
		{`tool "x" {
  module = "x.wasm"
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  input  = "json"
}`, `tool.hcl:4:12: error: Invalid input; input must be "argv" or "stdin", not "json".`},
		{`tool "x" {
  module = "x.wasm"
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  argv   = ["{nope}"]
  input_schema = jsonencode({ properties = { pattern = {} } })
}`, `tool.hcl:4:12: error: Invalid argv; Element 1 "{nope}" names the field "nope", which input_schema does not define (it defines pattern).`},
		{`tool "x" {
  module = "x.wasm"
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  argv   = ["{open"]
}`, `tool.hcl:4:12: error: Invalid argv; Element 1 "{open": "{" at byte 1 is not closed; write {{ for a literal brace.`},
		{`tool "x" {
  module = "x.wasm"
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  requests {
    network = ["ftp://x"]
  }
}`, `tool.hcl:5:15: error: Invalid network request; "ftp://x" has an unknown scheme "ftp": did you mean "http"? The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any.`},
		{`tool "x" {
  digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}`, `tool.hcl:1:10: error: Missing required argument; The argument "module" is required, but no definition was found.`},
		{`tool "a" {
  module = "a.wasm"
}
tool "b" {
  module = "b.wasm"
}`, `tool.hcl:4:1: error: One tool per manifest; A manifest holds exactly one tool block; this one has 2. Put each tool in a file of its own (NAME.tool.hcl).`},
	}
	for _, c := range cases {
		_, diags := manifest.Parse([]byte(c.src), "tool.hcl")
		got := lines(diags)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s\n got %q\nwant %q", c.src, got, c.want)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "grep", "tool.hcl"), grepManifest)
	write(t, filepath.Join(dir, "lint.tool.hcl"), "tool \"lint\" {\n  module = \"lint.wasm\"\n  digest = \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n}\n")
	write(t, filepath.Join(dir, "broken", "tool.hcl"), "tool \"broken\" {\n  module = \n}\n")
	write(t, filepath.Join(dir, "dup.tool.hcl"), "tool \"grep\" {\n  module = \"other.wasm\"\n  digest = \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n}\n")
	write(t, filepath.Join(dir, "notes.hcl"), "not a manifest")
	ms, diags := manifest.LoadDir(dir)
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"grep", "lint"}) {
		t.Errorf("loaded %v", names)
	}
	got := lines(diags)
	if len(got) != 2 || !strings.HasPrefix(got[0], filepath.Join(dir, "broken", "tool.hcl")+":2:12: error:") ||
		!strings.Contains(got[1], "Duplicate tool name") {
		t.Errorf("diagnostics %q", got)
	}
}

// input = "stdin:FIELD": that field's text is stdin as it is; the other
// fields fill argv.
func TestStdinField(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "tool.hcl"), `tool "write" {
  module = "write.wasm"
  input  = "stdin:content"
  argv   = ["--", "{path}"]
}
`)
	m, diags := manifest.Load(path)
	if diags.HasErrors() {
		t.Fatal(lines(diags))
	}
	if m.Input != "stdin" || m.StdinField != "content" {
		t.Fatalf("Input %q StdinField %q", m.Input, m.StdinField)
	}
	in := map[string]any{"path": "/work/a.txt", "content": "line 1\nline 2\n"}
	stdin, err := m.Stdin(in)
	if err != nil || string(stdin) != "line 1\nline 2\n" {
		t.Fatalf("stdin %q, %v", stdin, err)
	}
	args, err := m.Args(in)
	if err != nil || !slices.Equal(args, []string{"--", "/work/a.txt"}) {
		t.Fatalf("args %q, %v", args, err)
	}
	if _, err := m.Stdin(map[string]any{"content": 7.0}); err == nil {
		t.Error("a number as stdin text was accepted")
	}

	bad := write(t, filepath.Join(t.TempDir(), "tool.hcl"), `tool "w" {
  module = "w.wasm"
  input  = "stdin:not a field"
}
`)
	if _, diags := manifest.Load(bad); !diags.HasErrors() || !strings.Contains(strings.Join(lines(diags), "\n"), `tool.hcl:3:12: error: Invalid input; input = "stdin:FIELD" needs FIELD`) {
		t.Fatalf("bad stdin field: %v", lines(diags))
	}
}

// TestTyposGetThePolicysHints: a manifest's unknown names get the same
// hints as a policy's (internal/hclx.Content): the nearest name, a block
// written as an argument or the other way round, or the names expected,
// each at its file:line:col.
func TestTyposGetThePolicysHints(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{`  module       = "grep.wasm"`, `  modul        = "grep.wasm"`,
			`tool.hcl:3:3: error: Unsupported argument; An argument named "modul" is not expected in a tool block. Did you mean "module"?`},
		{`  requests {`, `  request {`,
			`tool.hcl:9:3: error: Unsupported block type; Blocks of type "request" are not expected in a tool block. Did you mean "requests"?`},
		{`  requests {`, `  annotations = {`,
			`tool.hcl:9:3: error: Unsupported argument; An argument named "annotations" is not expected in a tool block. Did you mean to write annotations as a block? Write it as annotations { … }, without the equals sign.`},
		{`    env     = ["GITHUB_USER"]`, `    environment = ["GITHUB_USER"]`,
			`tool.hcl:11:5: error: Unsupported argument; An argument named "environment" is not expected in a requests block. Expected one of:`},
		{`tool "grep" {`, "tools = 1\ntool \"grep\" {",
			`tool.hcl:1:1: error: Unsupported argument; An argument named "tools" is not expected in a tool manifest. No arguments are expected here.`},
	} {
		src := strings.Replace(grepManifest, c.from, c.to, 1)
		_, diags := manifest.Parse([]byte(src), "tool.hcl")
		got := strings.Join(lines(diags), "\n")
		if !strings.Contains(got, c.want) {
			t.Errorf("%q:\n%s\nwant %q", c.to, got, c.want)
		}
	}
}
