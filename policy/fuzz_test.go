package policy_test

import (
	"io"
	"net/netip"
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
	f.Add([]byte("network {\n  default = \"ask\"\n  allow = [\"https://*.a.test:443,8000-8100\", \"[fd00::/8]:1\", \"0x7f.1\", \"*\"]\n  deny = [\"10.0.0.0/8:22\", \"tcp://*:25\"]\n}\n"))
	f.Add([]byte("credential \"c\" {\n  file = \"t\"\n  hosts = [\"*.a.test\", \"::1\"]\n  header = \"X: {value}\"\n}\n"))
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
		for _, d := range []policy.Dest{
			{Scheme: "https", Host: "b.a.test", Port: 443, IP: netip.MustParseAddr("140.82.112.6")},
			{Scheme: "tcp", Host: "localhost", Port: 25, IP: netip.MustParseAddr("::1")},
		} {
			p.Network.Check(d)
		}
		for _, c := range p.Credentials {
			c.AppliesTo("https", "b.a.test")
		}
		if err := policy.ExplainDest(io.Discard, p, "https://0x7f.1:8080/"); err != nil {
			t.Fatal(err)
		}
		if _, diags := p.With(policy.Overrides{Hide: []string{"x"}}, dir); diags.HasErrors() {
			t.Fatal(diags)
		}
	})
}
