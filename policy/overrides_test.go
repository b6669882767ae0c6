package policy_test

import (
	"os"
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
		// full.hcl's /work is a policy file's mount: a flag cannot replace it.
		{"same guest", policy.Overrides{Mounts: []string{"/:/work"}},
			`error: Invalid --mount "/:/work"; /work is already mounted from ` + dir + ` (testdata/policies/full.hcl:2:1). A flag can add a mount, never replace one that a policy file or another flag made; change the policy file instead.`},
		// Nor can a second flag replace the first.
		{"same guest twice", policy.Overrides{Mounts: []string{".:/x", ".:/x:ro"}},
			`error: Invalid --mount ".:/x:ro"; /x is already mounted from ` + cwd + ` (flag). A flag can add a mount, never replace one that a policy file or another flag made; change the policy file instead.`},
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

func TestWithMountsNestAndReplaceTheDefault(t *testing.T) {
	cwd := t.TempDir()
	src := filepath.Join(cwd, "src")
	docs := filepath.Join(cwd, "docs")
	for _, d := range []string{src, docs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	flag := policy.Origin{Layer: policy.LayerFlag}
	q, diags := policy.Default(cwd).With(policy.Overrides{
		// The built-in default's /work gives way to the flag's, in place.
		Mounts: []string{"./src:/work", cwd + ":/", "./docs:/work/docs:ro"},
		// Anchored in the innermost mount that holds each path.
		Protect: []string{"/work/docs/index.md", "/etc/passwd", "/work/a"},
	}, cwd)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	var got []string
	for _, m := range q.Mounts {
		got = append(got, m.Guest+"="+m.Host+":"+m.Access.String())
		if m.Origin != flag {
			t.Errorf("%s: origin %+v, want the flag layer", m.Guest, m.Origin)
		}
	}
	want := []string{"/work=" + src + ":write", "/=" + cwd + ":write", "/work/docs=" + docs + ":read"}
	if !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
	for i, pat := range map[int]string{0: "./a", 1: "etc/passwd", 2: "./index.md"} {
		if ps := q.Mounts[i].Protect; ps[len(ps)-1].Text != pat {
			t.Errorf("%s: last protect pattern %q, want %q", q.Mounts[i].Guest, ps[len(ps)-1].Text, pat)
		}
	}
}

func TestGuestRelAndInnermost(t *testing.T) {
	for _, tc := range []struct {
		mount, guest, rel string
		ok                bool
	}{
		{"/", "/", ".", true},
		{"/", "/etc/passwd", "etc/passwd", true},
		{"/work", "/work", ".", true},
		{"/work", "/work/a/b", "a/b", true},
		{"/work", "/workshop", "", false}, // a prefix of the name is not a parent
		{"/work", "/", "", false},
	} {
		if rel, ok := policy.GuestRel(tc.mount, tc.guest); rel != tc.rel || ok != tc.ok {
			t.Errorf("GuestRel(%q, %q) = %q, %v; want %q, %v", tc.mount, tc.guest, rel, ok, tc.rel, tc.ok)
		}
	}
	p := &policy.Policy{Mounts: []policy.Mount{{Guest: "/work"}, {Guest: "/"}, {Guest: "/work/docs"}}}
	for guest, want := range map[string]int{"/work/docs/x": 2, "/work/docs": 2, "/work/docsx": 0, "/work": 0, "/tmp": 1, "/": 1} {
		if got := p.Innermost(guest); got != want {
			t.Errorf("Innermost(%q) = %d, want %d", guest, got, want)
		}
	}
	if got := (&policy.Policy{Mounts: []policy.Mount{{Guest: "/work"}}}).Innermost("/tmp"); got != -1 {
		t.Errorf("Innermost outside every mount = %d, want -1", got)
	}
}
