package approvals_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

func TestGrantsFile(t *testing.T) {
	dir := t.TempDir()
	project := approvals.ProjectGrantsFile(dir)
	user := filepath.Join(dir, "user", "grants.hcl")
	g, diags := approvals.LoadGrants(project, user)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	weird := "/work/${HOME} \"quoted\"\nnew line %{x} \x1b[2J"
	for _, gr := range []approvals.Grant{
		{Allow: true, Kind: decision.NetConnect, Target: "api.github.com:443", Digest: digestA, Tool: "gh"},
		{Allow: false, Kind: decision.FSWrite, Target: weird, Digest: digestA, Tool: "gh"},
		{Allow: true, Kind: decision.NetConnect, Target: "api.github.com:443", Digest: digestB, Tool: "gh"},
	} {
		if err := g.Remember(gr); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.ReadFile(project)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, want := range []string{
		"# airlock remembered grants",
		`grant "` + approvals.GrantID("net.connect", "api.github.com:443", digestA) + `" {`,
		`  answer  = "allow"`,
		`  target  = "api.github.com:443"`,
		`  digest  = "` + digestA + `"`,
		`  tool    = "gh"`,
		`"/work/$${HOME} \"quoted\"\nnew line %%{x} \u001b[2J"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("grants file lacks %q:\n%s", want, text)
		}
	}

	// Read back by a fresh load: every value survives exactly.
	g2, diags := approvals.LoadGrants(project, user)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if gr, ok := g2.Lookup("fs.write", weird, digestA); !ok || gr.Allow || gr.Tool != "gh" || gr.Created.IsZero() || gr.Pos.Line == 0 {
		t.Errorf("weird target: %+v %v", gr, ok)
	}
	if _, ok := g2.Lookup("net.connect", "api.github.com:443", "sha256:cccc"); ok {
		t.Error("a grant matched another digest")
	}

	// Answering again for the same scope replaces the grant.
	if err := g2.Remember(approvals.Grant{Allow: false, Kind: decision.NetConnect, Target: "api.github.com:443", Digest: digestA}); err != nil {
		t.Fatal(err)
	}
	if n := len(g2.List()); n != 3 {
		t.Errorf("%d grants after replacing one, want 3", n)
	}

	// A deny in the user file wins over an allow in the project file.
	os.MkdirAll(filepath.Dir(user), 0o755)
	os.WriteFile(user, []byte(`grant "x" {
  answer = "deny"
  kind   = "net.connect"
  target = "api.github.com:443"
  digest = "`+digestB+`"
}
`), 0o644)
	g3, diags := approvals.LoadGrants(project, user)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if gr, ok := g3.Lookup("net.connect", "api.github.com:443", digestB); !ok || gr.Allow || gr.File != user {
		t.Errorf("deny did not win: %+v", gr)
	}

	// Revoke by ID reaches both files; by digest; all.
	n, err := g3.Revoke(func(gr approvals.Grant) bool { return gr.Digest == digestB })
	if err != nil || n != 2 {
		t.Errorf("revoke by digest: %d %v", n, err)
	}
	if _, ok := g3.Lookup("net.connect", "api.github.com:443", digestB); ok {
		t.Error("revoked grant still found")
	}
	if n, err := g3.Revoke(func(approvals.Grant) bool { return true }); err != nil || n != 2 {
		t.Errorf("revoke all: %d %v", n, err)
	}
	if g4, _ := approvals.LoadGrants(project, user); len(g4.List()) != 0 {
		t.Errorf("grants left on disk: %v", g4.List())
	}
}

func TestGrantsMalformed(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "grants.hcl")
	os.WriteFile(bad, []byte(`grant "x" {
  answer = "maybe"
  kind   = "env"
  target = "HOME"
  digest = "grep"
}
`), 0o644)
	_, diags := approvals.LoadGrants(bad)
	if len(diags) != 2 || diags[0].Subject == nil || diags[0].Subject.Start.Line != 2 || diags[1].Subject.Start.Line != 5 ||
		!strings.Contains(diags[1].Detail, "never a tool name") {
		t.Errorf("diagnostics %v", diags)
	}
}

// TestGrantsConcurrentWriters: answers remembered at once by several
// writers (as by several airlock processes) are all kept.
func TestGrantsConcurrentWriters(t *testing.T) {
	file := approvals.ProjectGrantsFile(t.TempDir())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, _ := approvals.LoadGrants(file) // each its own view, like another process
			if err := g.Remember(approvals.Grant{Allow: true, Kind: "env", Target: string(rune('A' + i)), Digest: digestA}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	g, diags := approvals.LoadGrants(file)
	if diags.HasErrors() || len(g.List()) != 8 {
		t.Errorf("%d grants kept of 8: %v", len(g.List()), diags)
	}
}
