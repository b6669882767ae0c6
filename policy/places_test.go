package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// placesTree makes the host folders of the managed-ceiling tests: a
// project whose managed policy hides and protects some of it, and host
// symbolic links to it. It returns the root and the managed ceiling,
// resolved.
func placesTree(t *testing.T) (root string, c policy.Ceiling, managed string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		"proj/secrets/key.txt", "proj/secrets/inner/deep.txt",
		"proj/data/private/k.txt", "proj/data/public/ok.txt",
		"proj/conf/locked/a.txt", "proj/conf/free/b.txt",
		"proj/ro/x.txt", "proj/.vault/v.txt", "proj/src/main.go",
		"proj/src/.vault/w.txt",
	} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"link": "proj", "slink": "proj/secrets", "dlink": "proj/data"} {
		if err := os.Symlink(filepath.Join(root, to), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	managed = filepath.Join(t.TempDir(), "managed.hcl")
	src := `mount "/proj" {
  host    = "` + filepath.Join(root, "proj") + `"
  access  = "write"
  hide    = ["secrets/**", "data/private/**", ".vault"]
  protect = ["conf/locked/**", "ro/**"]
}

mount "/up" {
  host   = "` + root + `"
  access = "write"
}
`
	if err := os.WriteFile(managed, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var l policy.Loader
	c, diags := l.LoadCeiling([]string{managed})
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	c, diags = c.Resolve(filepath.EvalSymlinks)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	return root, c, managed
}

// TestManagedRulesHoldOnPlaces: a managed hide or protect covers the host
// files it names in every mount that exposes them, whatever its guest
// path or host path (the folder itself, a second mount of it, a folder
// inside it, a folder around it, a symbolic link to it), and nothing else.
func TestManagedRulesHoldOnPlaces(t *testing.T) {
	root, c, _ := placesTree(t)
	hidden := []string{"proj/secrets/key.txt", "proj/secrets/inner/deep.txt", "proj/data/private/k.txt", "proj/.vault/v.txt", "proj/src/.vault/w.txt"}
	protected := []string{"proj/conf/locked/a.txt", "proj/ro/x.txt"}
	open := []string{"proj/data/public/ok.txt", "proj/conf/free/b.txt", "proj/src/main.go"}

	for _, tc := range []struct {
		name  string
		hosts []string // relative to root; each a write mount
	}{
		{"the managed folder itself", []string{"proj"}},
		{"a second mount of the same folder", []string{"proj", "proj"}},
		{"a folder inside it", []string{"data", "conf", "src"}},
		{"the folder around it", []string{"."}},
		{"a host symbolic link to it", []string{"link"}},
		{"a host symbolic link into it", []string{"dlink"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src strings.Builder
			for i, h := range tc.hosts {
				if h != "proj" && h != "." && h != "link" && h != "dlink" {
					h = "proj/" + h
				}
				src.WriteString(`mount "/m` + string(rune('a'+i)) + `" {
  host   = "` + filepath.Join(root, h) + `"
  access = "write"
}
`)
			}
			p, diags := policy.Parse([]byte(src.String()), "policy.hcl", policy.LayerProject, root)
			if diags.HasErrors() {
				t.Fatal(diagLines(t, diags))
			}
			p, diags = p.Resolve(filepath.EvalSymlinks)
			if diags.HasErrors() {
				t.Fatal(diagLines(t, diags))
			}
			q, diags := c.Apply(p)
			if diags.HasErrors() {
				t.Fatal(diagLines(t, diags))
			}
			for _, m := range q.Mounts {
				see := func(f string) (rel string, ok bool) {
					rel, err := filepath.Rel(m.Real, filepath.Join(root, f))
					if err != nil || strings.HasPrefix(rel, "..") {
						return "", false
					}
					return filepath.ToSlash(rel), true
				}
				for _, f := range hidden {
					if rel, ok := see(f); ok {
						if _, hid := policy.MatchAny(m.Hide, rel); !hid {
							t.Errorf("%s (%s): %s is readable as %s; hide = %q", m.Guest, m.Real, f, rel, texts(m.Hide))
						}
					}
				}
				for _, f := range protected {
					if rel, ok := see(f); ok {
						if _, prot := policy.MatchAny(m.Protect, rel); !prot && m.Access == policy.Write {
							t.Errorf("%s (%s): %s is writable as %s; protect = %q", m.Guest, m.Real, f, rel, texts(m.Protect))
						}
					}
				}
				for _, f := range open {
					if rel, ok := see(f); ok {
						if pat, hid := policy.MatchAny(m.Hide, rel); hid {
							t.Errorf("%s: %s is hidden by %q, which the managed policy does not say", m.Guest, rel, pat.Text)
						}
						if pat, prot := policy.MatchAny(m.Protect, rel); prot || m.Access != policy.Write {
							t.Errorf("%s: %s is read-only (%q, access %v), which the managed policy does not say", m.Guest, rel, pat.Text, m.Access)
						}
					}
				}
				for _, pat := range append(m.Hide, m.Protect...) {
					if strings.Contains(pat.Text, "secrets") || strings.Contains(pat.Text, "locked") || strings.Contains(pat.Text, "private") {
						if pat.Origin.Layer != policy.LayerManaged {
							t.Errorf("%s: %q from %s: a placed managed pattern keeps the managed origin", m.Guest, pat.Text, pat.Origin)
						}
					}
				}
			}
		})
	}
}

// TestMountInsideManagedPlace: a mount inside a managed hidden path is
// refused, naming the managed rule; one inside a managed protected path is
// read-only by the managed layer (so no prompt or grant can open it).
func TestMountInsideManagedPlace(t *testing.T) {
	root, c, managed := placesTree(t)
	for _, tc := range []struct {
		host string // relative to root
		want string // in the error; "" for a read-only mount
	}{
		{"proj/secrets", `hide "secrets/**" (managed:` + managed + `:4:14)`},
		{"proj/secrets/inner", `hide "secrets/**" (managed:` + managed + `:4:14)`},
		{"slink", `hide "secrets/**" (managed:` + managed + `:4:14)`},                  // a host symlink into it
		{"proj/data/private", `hide "data/private/**" (managed:` + managed + `:4:28)`}, // an anchored pattern, deeper
		{"proj/src/.vault", `hide ".vault" (managed:` + managed + `:4:47)`},            // a name, at any depth
		{"proj/ro", ""},
		{"proj/conf/locked", ""},
	} {
		for _, access := range []string{"read", "write"} {
			p, diags := policy.Parse([]byte(`mount "/m" {
  host   = "`+filepath.Join(root, tc.host)+`"
  access = "`+access+`"
}
`), "policy.hcl", policy.LayerProject, root)
			if diags.HasErrors() {
				t.Fatal(diagLines(t, diags))
			}
			p, diags = p.Resolve(filepath.EvalSymlinks)
			if diags.HasErrors() {
				t.Fatal(diagLines(t, diags))
			}
			q, diags := c.Apply(p)
			if tc.want != "" {
				lines := diagLines(t, diags)
				if !diags.HasErrors() || !strings.HasPrefix(lines[0], "policy.hcl:1:1: error: Mount inside a path the managed policy hides") || !strings.Contains(lines[0], tc.want) {
					t.Errorf("%s (%s): %q, want an error naming %s", tc.host, access, lines, tc.want)
				}
				continue
			}
			if diags.HasErrors() {
				t.Fatalf("%s: %v", tc.host, diagLines(t, diags))
			}
			m := q.Mounts[0]
			if m.Access != policy.Read || m.Origin.Layer != policy.LayerManaged {
				t.Errorf("%s (%s): access %v from %s, want read from the managed protect rule", tc.host, access, m.Access, m.Origin)
			}
			// A grant of write access is taken away again, by the managed layer.
			g, err := q.Grant([]policy.Capability{{Kind: policy.CapWrite, Target: "/m"}}, policy.Origin{Layer: policy.LayerGrant})
			if err != nil {
				t.Fatal(err)
			}
			if refused, rule, origin := c.Refuses(q, policy.Capability{Kind: policy.CapWrite, Target: "/m"}); !refused || origin.Layer != policy.LayerManaged {
				t.Errorf("%s: a write grant is not refused: %v %q %s", tc.host, refused, rule, origin)
			}
			if r, _ := c.Apply(g); r.Mounts[0].Access != policy.Read {
				t.Errorf("%s: a write grant survives the ceiling", tc.host)
			}
		}
	}
}

// TestManagedReadMountNeverAsks: a project mount that is read-only already
// and lies inside a read-only managed mount is read-only by the managed
// layer, so that a write there is never put to a person or a grant.
func TestManagedReadMountNeverAsks(t *testing.T) {
	root := t.TempDir()
	c := managedFile(t, `mount "/all" {
  host   = "`+root+`"
  access = "read"
}
`)
	p, diags := policy.Parse([]byte(`mount "/work" {
  host   = "."
  access = "read"
}
`), "policy.hcl", policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	q, diags := c.Apply(p)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if m := q.Mounts[0]; m.Access != policy.Read || m.Origin.Layer != policy.LayerManaged {
		t.Errorf("access %v from %s, want read from the managed layer", m.Access, m.Origin)
	}
}

// TestResolveErrors: a mount whose host cannot be resolved is an error
// naming the mount.
func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	p, diags := policy.Parse([]byte(`mount "/work" {
  host = "."
}
`), "policy.hcl", policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, diags := p.Resolve(filepath.EvalSymlinks); !diags.HasErrors() || !strings.Contains(diagLines(t, diags)[0], "policy.hcl:1:1: error: Cannot resolve a mount's host directory; /work is the host directory") {
		t.Errorf("%q", diagLines(t, diags))
	}
}

// TestBaseDir: a relative path in .airlock/policy.hcl resolves against the
// project, in any other file against the file's folder.
func TestBaseDir(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"/p/.airlock/policy.hcl", "/p"},
		{"/p/conf/policy.hcl", "/p/conf"},
		{"/p/policy.hcl", "/p"},
		{"/etc/airlock/policy.hcl", "/etc/airlock"},
		{"/p/.airlock/sub/policy.hcl", "/p/.airlock/sub"},
	} {
		if got := policy.BaseDir(tc.file); got != tc.want {
			t.Errorf("BaseDir(%s) = %s, want %s", tc.file, got, tc.want)
		}
	}
	wd, _ := os.Getwd()
	if got := policy.BaseDir(".airlock/policy.hcl"); got != wd {
		t.Errorf("BaseDir(.airlock/policy.hcl) = %s, want %s", got, wd)
	}
}

// TestOneRefusalPerMount: a mount that several managed rules hide is
// refused once, by the first.
func TestOneRefusalPerMount(t *testing.T) {
	root, c, _ := placesTree(t)
	p, diags := policy.Parse([]byte(`mount "/m" {
  host = "`+filepath.Join(root, "proj/.vault")+`"
}
`), "policy.hcl", policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	p, _ = p.Resolve(filepath.EvalSymlinks)
	// .vault is a name inside both managed mounts (/proj and the root).
	if _, diags := c.Apply(p); len(diags) != 1 {
		t.Errorf("%d diagnostics, want 1: %q", len(diags), diagLines(t, diags))
	}
}
