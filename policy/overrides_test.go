package policy_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

func loadFull(t *testing.T) *policy.Policy {
	t.Helper()
	p, diags := policy.Load("testdata/policies/full.hcl", policy.LayerProject)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	return p
}

func TestWithAdds(t *testing.T) {
	p := loadFull(t)
	before := explain(t, p)
	cwd := t.TempDir()
	q, diags := p.With(policy.Overrides{
		Mounts:  []string{".:/scratch", cwd + ":/cache:ro"},
		Protect: []string{"/work/dist", "/work/a/b", "*.lock2"},
		Hide:    []string{"/scratch/token", "*.key"},
		Env:     []string{"HOME", "LANG=C", "FOO"},
		Timeout: 5 * time.Second,
		Memory:  "512MiB",
		Output:  "1KiB",
	}, cwd)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	if after := explain(t, p); after != before {
		t.Errorf("With changed the policy it was called on:\n%s\nnow:\n%s", before, after)
	}

	flag := policy.Origin{Layer: policy.LayerFlag}
	if len(q.Mounts) != 4 {
		t.Fatalf("%d mounts, want 4", len(q.Mounts))
	}
	scratch, cache := q.Mounts[2], q.Mounts[3]
	if scratch.Guest != "/scratch" || scratch.Host != cwd || scratch.Access != policy.Write || scratch.Origin != flag {
		t.Errorf("/scratch = %+v", scratch)
	}
	if cache.Guest != "/cache" || cache.Access != policy.Read {
		t.Errorf("/cache = %+v", cache)
	}

	work := q.Mounts[0]
	n := len(p.Mounts[0].Protect)
	if got := texts(work.Protect[n:]); !slices.Equal(got, []string{"./dist", "a/b", "*.lock2"}) {
		t.Errorf("/work protect added %q", got)
	}
	if work.Protect[n].Origin != flag {
		t.Errorf("flag pattern origin = %+v", work.Protect[n].Origin)
	}
	if !work.Protect[n].Match("dist/app.js") || work.Protect[n].Match("src/dist") {
		t.Error("--protect /work/dist must be anchored at the root of /work")
	}
	// Bare patterns go to every mount, flag-made ones included.
	for _, m := range q.Mounts {
		if _, ok := policy.MatchAny(m.Hide, "x/y.key"); !ok {
			t.Errorf("%s does not hide *.key", m.Guest)
		}
	}
	if got := texts(scratch.Hide); !slices.Contains(got, "./token") || slices.Contains(texts(work.Hide), "./token") {
		t.Errorf("--hide /scratch/token went to the wrong mounts: %q / %q", got, texts(work.Hide))
	}
	if !slices.Equal(texts(scratch.Protect[:len(policy.DefaultProtect())]), policy.DefaultProtect()) {
		t.Error("a flag-made mount lacks the built-in protected patterns")
	}

	// HOME passes; LANG was passed and is now set; FOO was set and now passes.
	if !slices.Equal(q.Env.Pass, []string{"TZ", "HOME", "FOO"}) {
		t.Errorf("pass = %q", q.Env.Pass)
	}
	if len(q.Env.Set) != 1 || q.Env.Set["LANG"] != "C" || q.Env.Origins["LANG"] != flag {
		t.Errorf("set = %q", q.Env.Set)
	}

	l := q.Limits
	if l.Timeout != 5*time.Second || l.Memory != 512<<20 || l.Output != 1024 || l.OpenFiles != 64 {
		t.Errorf("limits = %+v", l)
	}
	if l.TimeoutOrigin != flag || l.OpenFilesOrigin.Layer != policy.LayerProject {
		t.Errorf("limit origins = %+v", l)
	}
}

func TestWithRefuses(t *testing.T) {
	p := loadFull(t)
	dir := mustAbs(t, "testdata/policies")
	cwd := t.TempDir()
	for _, tc := range []struct {
		name string
		o    policy.Overrides
		want string
	}{
		{"same guest", policy.Overrides{Mounts: []string{"/:/work"}},
			`error: Invalid --mount "/:/work"; /work is already mounted from ` + dir + ` (testdata/policies/full.hcl:2:1). A flag can add a mount, never replace or nest one; change the policy file instead.`},
		{"inside", policy.Overrides{Mounts: []string{".:/ref/x:ro"}},
			`error: Invalid --mount ".:/ref/x:ro"; /ref/x lies inside the mount /ref (testdata/policies/full.hcl:9:1). Mounts may not nest: the inner mount would cover part of the outer one's directory, and the protect and hide patterns of each would not apply inside the other. A flag can add a mount, never replace or nest one; change the policy file instead.`},
		{"around", policy.Overrides{Mounts: []string{".:/x", ".:/x/y"}},
			`error: Invalid --mount ".:/x/y"; /x/y lies inside the mount /x (flag). Mounts may not nest: the inner mount would cover part of the outer one's directory, and the protect and hide patterns of each would not apply inside the other. A flag can add a mount, never replace or nest one; change the policy file instead.`},
		{"no guest", policy.Overrides{Mounts: []string{"/tmp"}},
			`error: Invalid --mount "/tmp"; Write HOST:GUEST, HOST:GUEST:ro or HOST:GUEST:rw, like .:/work.`},
		{"relative guest", policy.Overrides{Mounts: []string{".:work"}},
			`error: Invalid --mount ".:work"; The guest path "work" must be absolute, like "/work".`},
		{"missing host", policy.Overrides{Mounts: []string{"nope:/n"}},
			`error: Invalid --mount "nope:/n"; The host directory ` + filepath.Join(cwd, "nope") + ` (from "nope") does not exist.`},
		{"protect outside", policy.Overrides{Protect: []string{"/etc/passwd"}},
			`error: Invalid --protect "/etc/passwd"; /etc/passwd is not inside any mount (/work, /ref); write a guest path inside one, or a pattern without a leading "/" for every mount.`},
		{"protect escapes", policy.Overrides{Protect: []string{"/work/../etc"}},
			`error: Invalid --protect "/work/../etc"; /work/../etc is not inside any mount (/work, /ref); write a guest path inside one, or a pattern without a leading "/" for every mount.`},
		{"hide root", policy.Overrides{Hide: []string{"/work"}},
			`error: Invalid --hide "/work"; /work is the root of a mount; a whole mount is made read-only with access = "read", and left out to hide it.`},
		{"bad pattern", policy.Overrides{Hide: []string{"a/../b"}},
			`error: Invalid --hide "a/../b"; Pattern "a/../b" has a ".." name: a pattern cannot reach outside its mount.`},
		{"env", policy.Overrides{Env: []string{"=x"}},
			`error: Invalid --env "=x"; A variable name may not be empty. Write KEY=VALUE to set a variable, or KEY to pass the host's.`},
		{"timeout", policy.Overrides{Timeout: -time.Second},
			`error: Invalid --timeout -1s; The timeout must be greater than zero.`},
		{"memory", policy.Overrides{Memory: "8GiB"},
			`error: Invalid --memory "8GiB"; Memory must be between 64 KiB (one WebAssembly page) and 4 GiB (what a 32-bit module can address), not 8 GiB; leave it out for the default (256 MiB).`},
		{"output", policy.Overrides{Output: "lots"},
			`error: Invalid --output "lots"; "lots" is not a size: write a whole number with an optional unit B, KiB, MiB, GiB, KB, MB or GB, like "256MiB".`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := explain(t, p)
			q, diags := p.With(tc.o, cwd)
			if q != nil {
				t.Error("got a policy despite errors")
			}
			if got := diagLines(t, diags); len(got) != 1 || got[0] != tc.want {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
			}
			if explain(t, p) != before {
				t.Error("a refused With changed the policy")
			}
		})
	}
}

func TestWithEmptyIsACopy(t *testing.T) {
	p := loadFull(t)
	q, diags := p.With(policy.Overrides{}, ".")
	if len(diags) != 0 || q == p || explain(t, q) != explain(t, p) {
		t.Fatalf("With(Overrides{}) = %v, %v", q, diags)
	}
	q.Mounts[0].Protect[0] = policy.Pattern{Text: "changed"}
	q.Env.Set["NEW"] = "x"
	if p.Mounts[0].Protect[0].Text == "changed" || p.Env.Set["NEW"] == "x" {
		t.Error("the copy shares slices or maps with the original")
	}
}
