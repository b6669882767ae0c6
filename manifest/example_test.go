package manifest_test

import (
	"fmt"
	"log"
	"os"

	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
)

// ExampleParse reads a tool manifest, checks an input against its schema
// (the schema's defaults filled in, as the MCP server does) and renders
// the tool's arguments from its argv template. The module's digest is not
// pinned, so Parse warns, with the line and column.
func ExampleParse() {
	src := []byte(`tool "search" {
  description  = "Search files for a pattern"
  module       = "grep.wasm"
  argv         = ["-n", "-i={ignore_case}", "--", "{pattern}", "{paths}"]
  input_schema = jsonencode({
    type = "object"
    properties = {
      pattern     = { type = "string" }
      paths       = { type = "array", items = { type = "string" }, default = ["/work"] }
      ignore_case = { type = "boolean", default = false }
    }
    required = ["pattern"]
  })
}
`)
	m, diags := manifest.Parse(src, "/tools/search/tool.hcl")
	policy.WriteDiagnostics(os.Stdout, nil, diags)
	if diags.HasErrors() {
		return
	}
	fmt.Println(m.Name, m.Module)

	schema, err := m.Schema()
	if err != nil {
		log.Fatal(err)
	}
	input, err := schema.Decode([]byte(`{"pattern": "TODO"}`))
	if err != nil {
		log.Fatal(err) // an input the schema refuses: the error names the field
	}
	args, err := m.Args(input)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", args)
	// Output:
	// /tools/search/tool.hcl:1:1: warning: Module digest not pinned; Without a digest, whatever module is at /tools/search/grep.wasm runs under this manifest's name. Pin it: digest = "sha256:…".
	// search /tools/search/grep.wasm
	// ["-n" "-i=false" "--" "TODO" "/work"]
}
