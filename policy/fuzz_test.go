package policy_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts can
// be explained and overridden.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/policies/*.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range append(files, "default.hcl") {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(`mount "/w" { hide = ["**/a/**/b", "[", "./x"] }`))
	f.Add([]byte("env {\n  set = { A = \"${1+1}\" }\n}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := policy.Parse(src, "fuzz.hcl", policy.LayerProject, dir)
		if diags.HasErrors() != (p == nil) {
			t.Fatalf("policy %v with errors %v", p != nil, diags.HasErrors())
		}
		if err := policy.WriteDiagnostics(io.Discard, nil, diags); err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return
		}
		if err := policy.Explain(io.Discard, p); err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Mounts {
			policy.MatchAny(m.Protect, "a/b/c")
			policy.CouldMatchBelow(m.Hide, "a/b")
		}
		if _, diags := p.With(policy.Overrides{Hide: []string{"x"}}, dir); diags.HasErrors() {
			t.Fatal(diags)
		}
	})
}
