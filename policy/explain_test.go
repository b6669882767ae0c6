package policy_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func explain(t *testing.T, p *policy.Policy) string {
	t.Helper()
	var b strings.Builder
	if err := policy.Explain(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDefault(t *testing.T) {
	cwd := t.TempDir()
	p := policy.Default(cwd)
	if len(p.Mounts) != 1 {
		t.Fatalf("%d mounts", len(p.Mounts))
	}
	m := p.Mounts[0]
	if m.Guest != "/work" || m.Host != cwd || m.Access != policy.Write || m.Origin.Layer != policy.LayerBuiltin {
		t.Errorf("mount = %+v", m)
	}
	if m.Origin.Range.Filename != policy.DefaultFilename {
		t.Errorf("origin file = %q", m.Origin.Range.Filename)
	}
	want := `/work is the host directory ` + cwd + `; the tool may read and write there (built-in).
In /work, these stay read-only (built-in): .git, .airlock, .envrc, .bashrc, .bash_profile, .zshrc, .zprofile, .profile, .gitconfig.
In /work, these cannot be read or listed (built-in): .env, .env.*, *.pem, .netrc, id_rsa, id_ecdsa, id_ed25519.
No other host path exists for the tool.
Environment: no host variable passes in.
Limits: memory 256 MiB (built-in), wall time 2m (built-in), output 16 MiB per stream (built-in), open files 256 (built-in).
Network: none.
`
	if got := explain(t, p); got != want {
		t.Errorf("Explain(Default):\n%s\nwant:\n%s", got, want)
	}
	// A relative cwd becomes absolute; a missing one is not checked here.
	if p := policy.Default("does/not/exist"); !filepath.IsAbs(p.Mounts[0].Host) {
		t.Errorf("host %q is not absolute", p.Mounts[0].Host)
	}
}

// Every Default decodes the one parse of the embedded file into a policy
// of its own: the same as parsing the file anew, and nothing of one (its
// mounts, patterns, environment, network lists) is another's, even when
// many are made at once (an MCP server's calls; run it with -race too).
func TestDefaultsShareNothing(t *testing.T) {
	cwd := t.TempDir()
	src, err := os.ReadFile("default.hcl")
	if err != nil {
		t.Fatal(err)
	}
	fresh, diags := policy.Parse(src, policy.DefaultFilename, policy.LayerBuiltin, cwd)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := make([]*policy.Policy, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = policy.Default(cwd) })
	}
	wg.Wait()
	for _, p := range got {
		if explain(t, p) != explain(t, fresh) || !reflect.DeepEqual(p.Mounts, fresh.Mounts) || !reflect.DeepEqual(p.Limits, fresh.Limits) {
			t.Fatalf("Default differs from a fresh parse:\n%s\nwant:\n%s", explain(t, p), explain(t, fresh))
		}
	}
	a, b := got[0], got[1]
	a.Mounts[0].Access = policy.Read
	changed, err := policy.NewPattern("changed", policy.Origin{})
	if err != nil {
		t.Fatal(err)
	}
	a.Mounts[0].Protect = append(a.Mounts[0].Protect[:0], changed)
	a.Env.Pass = append(a.Env.Pass, "SECRET")
	a.Env.Set["X"] = "y"
	if b.Mounts[0].Access != policy.Write || b.Mounts[0].Protect[0].Text != ".git" || len(b.Env.Pass) != 0 || len(b.Env.Set) != 0 ||
		policy.Default(cwd).Mounts[0].Protect[0].Text != ".git" {
		t.Fatal("changing one Default changed another")
	}
}

func TestDefaultListsAreCopies(t *testing.T) {
	policy.DefaultProtect()[0] = "changed"
	policy.DefaultHide()[0] = "changed"
	if policy.DefaultProtect()[0] != ".git" || policy.DefaultHide()[0] != ".env" {
		t.Error("changing a returned list changed the defaults")
	}
}

func TestExplainFull(t *testing.T) {
	p := loadFull(t)
	dir := mustAbs(t, "testdata/policies")
	want := `/work is the host directory ` + dir + `; the tool may read and write there (testdata/policies/full.hcl:2:1).
In /work, these stay read-only (built-in): .git, .airlock, .envrc, .bashrc, .bash_profile, .zshrc, .zprofile, .profile, .gitconfig.
In /work, these stay read-only (testdata/policies/full.hcl:5:14): build/out, *.lock.
In /work, these cannot be read or listed (built-in): .env, .env.*, *.pem, .netrc, id_rsa, id_ecdsa, id_ed25519.
In /work, these cannot be read or listed (testdata/policies/full.hcl:6:14): secrets/**.
/ref is the host directory ` + filepath.Dir(dir) + `; the tool may read there and change nothing (testdata/policies/full.hcl:9:1).
In /ref, these cannot be read or listed (built-in): .env, .env.*, *.pem, .netrc, id_rsa, id_ecdsa, id_ed25519.
` + dir + ` lies inside the host directory of /ref, which refuses it: it is reached through /work only.
No other host path exists for the tool.
Environment: passed in from the host (testdata/policies/full.hcl:14:11): LANG, TZ.
Environment: FOO is set to "bar" (testdata/policies/full.hcl:15:12).
Limits: memory 1 GiB (testdata/policies/full.hcl:19:3), wall time 30s (testdata/policies/full.hcl:20:3), output 1000000 bytes per stream (testdata/policies/full.hcl:21:3), open files 64 (testdata/policies/full.hcl:22:3).
Network: none.
`
	if got := explain(t, p); got != want {
		t.Errorf("Explain:\n%s\nwant:\n%s", got, want)
	}
}

func TestExplainEdges(t *testing.T) {
	p, diags := policy.Load("testdata/policies/unprotected.hcl", policy.LayerProject)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	p.Mounts[0].Protect = nil
	p.Mounts[0].Hide = nil
	got := explain(t, p)
	for _, want := range []string{
		"In /work, nothing is protected: the tool may change every file it can see.\n",
		"In /work, nothing is hidden.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
	got = explain(t, &policy.Policy{Limits: p.Limits})
	if !strings.HasPrefix(got, "No host path exists for the tool.\n") {
		t.Errorf("no mounts:\n%s", got)
	}
}

func TestExplainNestedMounts(t *testing.T) {
	p := &policy.Policy{Mounts: []policy.Mount{
		{Guest: "/", Host: "/srv/proj", Access: policy.Read},
		{Guest: "/work/out", Host: "/srv/proj/out", Access: policy.Write},
		{Guest: "/cache", Host: "/srv/cache", Access: policy.Write},
	}}
	got := explain(t, p)
	want := "/work/out lies inside /: below it, only /work/out's rules apply.\n" +
		"/srv/proj/out lies inside the host directory of /, which refuses it: it is reached through /work/out only.\n" +
		"/cache lies inside /: below it, only /cache's rules apply.\n" +
		"No other host path exists for the tool.\n"
	if !strings.Contains(got, want) || strings.Count(got, " lies inside ") != 3 {
		t.Errorf("explain:\n%s\nwant, after the mounts:\n%s", got, want)
	}
}
