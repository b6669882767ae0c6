package approvals_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// A folder grant covers writes in the folder and below it, and nothing
// else: not a sibling that shares a prefix, not a rename out of it, not
// another kind, not another module.
func TestFolderGrantCovers(t *testing.T) {
	g, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(t.TempDir()))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := g.Remember(approvals.Grant{Allow: true, Kind: decision.FSWrite, Target: "/ro/docs", Scope: approvals.ScopeFolder, Digest: digestA}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		kind           decision.Kind
		target, digest string
		covered        bool
	}{
		{"fs.write", "/ro/docs", digestA, true},                         // the folder itself (mkdir, utimens)
		{"fs.write", "/ro/docs/a.md", digestA, true},                    // a file in it
		{"fs.write", "/ro/docs/sub/b.md", digestA, true},                // below it
		{"fs.write", "/ro/docs/a.md -> /ro/docs/b.md", digestA, true},   // a rename inside it
		{"fs.write", "/ro/docsX/a.md", digestA, false},                  // a sibling sharing the prefix
		{"fs.write", "/ro/a.md", digestA, false},                        // the parent
		{"fs.write", "/ro/docs/a.md -> /ro/other/a.md", digestA, false}, // a rename out of it
		{"fs.write", "/ro/other/a.md -> /ro/docs/a.md", digestA, false}, // a rename into it takes from elsewhere
		{"fs.write", "/ro/docs/../etc/x", digestA, false},               // not a clean path
		{"fs.write", "/ro/docs/a.md", digestB, false},                   // another module
		{"net.connect", "/ro/docs/a.md", digestA, false},                // another kind
	}
	for _, c := range cases {
		_, ok := g.Lookup(c.kind, c.target, c.digest)
		if ok != c.covered {
			t.Errorf("Lookup(%s, %q, %s) = %v, want %v", c.kind, c.target, approvals.ShortDigest(c.digest), ok, c.covered)
		}
	}
	// An exact deny inside the folder wins over the folder's allow.
	if err := g.Remember(approvals.Grant{Allow: false, Kind: decision.FSWrite, Target: "/ro/docs/secret.md", Digest: digestA}); err != nil {
		t.Fatal(err)
	}
	if gr, ok := g.Lookup("fs.write", "/ro/docs/secret.md", digestA); !ok || gr.Allow {
		t.Errorf("deny inside a folder grant: %+v %v", gr, ok)
	}
	// The file says the scope, and a folder grant has an ID of its own.
	src, _ := os.ReadFile(g.Files()[0])
	id := approvals.GrantID("fs.write", "/ro/docs", digestA, approvals.ScopeFolder)
	if !strings.Contains(string(src), `grant "`+id+`"`) || !strings.Contains(string(src), `scope   = "folder"`) ||
		id == approvals.GrantID("fs.write", "/ro/docs", digestA) {
		t.Errorf("grants file:\n%s", src)
	}
	// Revoked by ID like any other.
	if n, err := g.Revoke(func(gr approvals.Grant) bool { return gr.ID == id }); n != 1 || err != nil {
		t.Errorf("revoke: %d %v", n, err)
	}
	if _, ok := g.Lookup("fs.write", "/ro/docs/a.md", digestA); ok {
		t.Error("the revoked folder grant still applies")
	}
}

func TestFolderGrantMalformed(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "grants.hcl")
	for _, body := range []string{
		`grant "x" {
  answer = "allow"
  kind   = "net.connect"
  target = "api.github.com:443"
  digest = "` + digestA + `"
  scope  = "folder"
}`,
		`grant "x" {
  answer = "allow"
  kind   = "fs.write"
  target = "relative/dir"
  digest = "` + digestA + `"
  scope  = "folder"
}`,
		`grant "x" {
  answer = "allow"
  kind   = "fs.write"
  target = "/ro"
  digest = "` + digestA + `"
  scope  = "everything"
}`,
	} {
		os.WriteFile(f, []byte(body), 0o644)
		if _, diags := approvals.LoadGrants(f); !diags.HasErrors() || !strings.Contains(diags.Error(), "grants.hcl:") {
			t.Errorf("accepted:\n%s\n%v", body, diags)
		}
	}
}

// "Always allow in folder" is offered for one write of a file (the narrow
// "this file" first), remembers the folder, and answers the next write in
// it without asking; it is not offered for a connection.
func TestAlwaysAllowFolder(t *testing.T) {
	g, _ := approvals.LoadGrants(approvals.ProjectGrantsFile(t.TempDir()))
	s := &approvals.Scripted{Default: approvals.AlwaysAllowFolder}
	b := approvals.NewBroker(approvals.Config{Approver: s, Grants: g})
	run := b.NewRun(approvals.RunInfo{Tool: "write", Digest: digestA, Mode: policy.ModeUntrusted})
	write := func(target string) decision.Reply {
		return run.Ask(context.Background(), decision.Request{Kind: decision.FSWrite, Op: "rename", Target: target, Policy: policy.Ask})
	}
	if rep := write("/ro/docs/a.md"); !rep.Allowed || rep.Source != decision.SourceUser {
		t.Fatalf("first write: %+v", rep)
	}
	q := s.Asked()[0]
	var offered []string
	for _, c := range q.Offer {
		offered = append(offered, c.String())
	}
	if got := strings.Join(offered, ","); got != "deny,allow once,allow for this run,always allow,always allow in folder,always deny" {
		t.Errorf("offered %s", got)
	}
	if rep := write("/ro/docs/sub/b.md"); !rep.Allowed || rep.Source != decision.SourceGrant {
		t.Errorf("a write below the folder: %+v", rep)
	}
	if rep := write("/ro/elsewhere.md"); rep.Source != decision.SourceUser || len(s.Asked()) != 2 {
		t.Errorf("a write outside the folder was not asked: %+v", rep)
	}
	// Not offered for a connection: the answer is not one offered, so deny.
	if rep := run.Ask(context.Background(), decision.Request{Kind: decision.NetConnect, Op: "connect", Target: "x:1", Policy: policy.Ask}); rep.Allowed {
		t.Error("always allow in folder was taken for a connection")
	}
}
