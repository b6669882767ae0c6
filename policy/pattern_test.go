package policy_test

import (
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func mustPattern(t testing.TB, text string) policy.Pattern {
	t.Helper()
	p, err := policy.NewPattern(text, policy.Origin{Layer: policy.LayerProject})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{".git",
			[]string{".git", ".git/config", "sub/.git", "sub/.git/hooks/pre-commit", "a/b/c/.git/x"},
			[]string{".", "", ".gitignore", "git", "sub/.github/x", "x.git"}},
		{"*.pem",
			[]string{"key.pem", "a/b/key.pem", ".x.pem", "certs.pem/inner"},
			[]string{"key.pem.bak", "pem", "a/key.pemx"}},
		{".env.*",
			[]string{".env.local", "app/.env.prod"},
			[]string{".env", ".envrc"}},
		{"**/id_rsa", // the same as "id_rsa"
			[]string{"id_rsa", "home/.ssh/id_rsa"},
			[]string{"id_rsa.pub"}},
		{"build/out",
			[]string{"build/out", "build/out/x.o", "build/out/a/b"},
			[]string{"build", "out", "sub/build/out", "build/output", "build/x/out"}},
		{"./dist", // one name, anchored at the root
			[]string{"dist", "dist/app.js"},
			[]string{"src/dist", "distx"}},
		{"a/*/c",
			[]string{"a/b/c", "a/x/c/d"},
			[]string{"a/c", "a/b/b/c", "x/a/b/c"}},
		{"a/**/c",
			[]string{"a/c", "a/b/c", "a/b/d/e/c", "a/c/d", "a/c/c"},
			[]string{"a", "a/b", "c", "x/a/c", "a/cc"}},
		{"**/.git/hooks",
			[]string{".git/hooks", "x/.git/hooks/pre-commit", "x/y/.git/hooks"},
			[]string{".git", ".git/config", "hooks"}},
		{"secrets/**",
			[]string{"secrets", "secrets/a", "secrets/a/b"},
			[]string{"x/secrets", "secretsx"}},
		{"**",
			[]string{"a", "a/b"},
			[]string{".", ""}},
		{"a/**/**/b", // the same as a/**/b
			[]string{"a/b", "a/x/y/b"},
			[]string{"a/x"}},
		{`\*`,
			[]string{"*", "x/*"},
			[]string{"a"}},
		{"[ab]?",
			[]string{"ax", "q/bz"},
			[]string{"cx", "a"}},
	} {
		p := mustPattern(t, tc.pattern)
		for _, rel := range tc.match {
			if !p.Match(rel) {
				t.Errorf("%q should match %q", tc.pattern, rel)
			}
		}
		for _, rel := range tc.noMatch {
			if p.Match(rel) {
				t.Errorf("%q should not match %q", tc.pattern, rel)
			}
		}
	}
}

func TestPatternAnchored(t *testing.T) {
	for text, want := range map[string]bool{
		".git":          false,
		"*.pem":         false,
		"**/.env":       false,
		"**/**/.env":    false,
		"**":            false,
		"./dist":        true,
		"build/out":     true,
		"a/**":          true,
		"**/.git/hooks": true,
	} {
		if got := mustPattern(t, text).Anchored(); got != want {
			t.Errorf("%q.Anchored() = %v, want %v", text, got, want)
		}
	}
}

func TestNewPatternRejects(t *testing.T) {
	for text, want := range map[string]string{
		"":         "a pattern may not be empty",
		"/etc":     `pattern "/etc" starts with "/": patterns are relative to the mount root, so write "etc" (a name at any depth) or "./etc" (only at the mount root)`,
		"a/":       `pattern "a/" ends with "/": a pattern matches files and directories alike, so drop the trailing slash`,
		"./":       `pattern "./" ends with "/": a pattern matches files and directories alike, so drop the trailing slash`,
		"..":       `pattern ".." has a ".." name: a pattern cannot reach outside its mount`,
		"a/../b":   `pattern "a/../b" has a ".." name: a pattern cannot reach outside its mount`,
		"./.":      `pattern "./." has a "." name; write it without`,
		"a//b":     `pattern "a//b" has an empty name ("//")`,
		"x/[":      `pattern "x/[": "[" is not a valid glob (see path.Match)`,
		"a\\":      `pattern "a\\": "a\\" is not a valid glob (see path.Match)`,
		longPath(): `pattern "` + longPath() + `" has more than 63 names`,
	} {
		_, err := policy.NewPattern(text, policy.Origin{})
		if err == nil || err.Error() != want {
			t.Errorf("NewPattern(%q) = %v, want %s", text, err, want)
		}
	}
}

func longPath() string {
	s := "a"
	for range 63 {
		s += "/a"
	}
	return s
}

func TestPatternLiteral(t *testing.T) {
	// A Pattern written as a literal still matches (compiled on the fly).
	p := policy.Pattern{Text: "build/out"}
	if !p.Match("build/out/x") || p.Match("x/build/out") || !p.Anchored() {
		t.Error("literal Pattern does not behave like a compiled one")
	}
	defer func() {
		if recover() == nil {
			t.Error("an invalid literal Pattern must panic: it is a bug in the caller")
		}
	}()
	policy.Pattern{Text: "/abs"}.Match("x")
}

func TestMatchAny(t *testing.T) {
	ps := []policy.Pattern{mustPattern(t, ".git"), mustPattern(t, "build/out"), mustPattern(t, "*.o")}
	if p, ok := policy.MatchAny(ps, "build/out/a.o"); !ok || p.Text != "build/out" {
		t.Errorf("MatchAny = %q, %v; want the first match, build/out", p.Text, ok)
	}
	if p, ok := policy.MatchAny(ps, "src/main.go"); ok {
		t.Errorf("MatchAny matched %q", p.Text)
	}
	if _, ok := policy.MatchAny(nil, "x"); ok {
		t.Error("no patterns matched something")
	}
}

func TestCouldMatchBelow(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		// names at any depth travel with a directory: never counted
		{".git", nil, []string{".", "a", ".git", "a/.git"}},
		{"**/*.pem", nil, []string{".", "a"}},
		{"build/out",
			[]string{".", "build", "build/out", "build/out/x"},
			[]string{"src", "out", "src/build", "buildx"}},
		{"./dist", []string{".", "dist", "dist/x"}, []string{"src", "src/dist"}},
		{"a/**/c", []string{".", "a", "a/b", "a/b/d", "a/c"}, []string{"b", "b/a"}},
		{"a/*/c", []string{"a", "a/x"}, []string{"a/x/y", "b"}},
		// floating: only a match that starts at or above the directory counts
		{"**/.git/hooks",
			[]string{".git", "x/.git", ".git/hooks", "x/.git/hooks/y"},
			[]string{".", "x", "x/y", ".github", "hooks"}},
		{"**/a/b/c",
			[]string{"a", "x/a", "a/b", "x/a/b"},
			[]string{".", "b", "a/x", "b/c"}},
	} {
		ps := []policy.Pattern{mustPattern(t, tc.pattern)}
		for _, rel := range tc.yes {
			if !policy.CouldMatchBelow(ps, rel) {
				t.Errorf("CouldMatchBelow(%q, %q) = false, want true", tc.pattern, rel)
			}
		}
		for _, rel := range tc.no {
			if policy.CouldMatchBelow(ps, rel) {
				t.Errorf("CouldMatchBelow(%q, %q) = true, want false", tc.pattern, rel)
			}
		}
	}
	if policy.CouldMatchBelow(nil, "a") {
		t.Error("no patterns could match something")
	}
}

func defaultPatterns(t testing.TB) []policy.Pattern {
	p := policy.Default(t.TempDir())
	m := p.Mounts[0]
	return append(append(m.Protect, m.Hide...), mustPattern(t, "build/out"), mustPattern(t, "a/**/secret"))
}

func TestMatchDoesNotAllocate(t *testing.T) {
	ps := defaultPatterns(t)
	for _, rel := range []string{"src/pkg/file.go", "a/b/c/secret/x", "sub/.git/hooks/pre-commit"} {
		allocs := testing.AllocsPerRun(100, func() {
			policy.MatchAny(ps, rel)
			policy.CouldMatchBelow(ps, rel)
		})
		if allocs != 0 {
			t.Errorf("MatchAny and CouldMatchBelow on %q: %v allocations, want 0", rel, allocs)
		}
	}
}

// BenchmarkMatchAny measures the check every file operation makes: the
// built-in protect and hide lists plus two anchored patterns, against a path
// that matches none of them (the common case, and the slowest: every pattern
// is tried).
func BenchmarkMatchAny(b *testing.B) {
	ps := defaultPatterns(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := policy.MatchAny(ps, "src/internal/pkg/server/handler_test.go"); ok {
			b.Fatal("matched")
		}
	}
}

func BenchmarkCouldMatchBelow(b *testing.B) {
	ps := defaultPatterns(b)
	b.ReportAllocs()
	for b.Loop() {
		policy.CouldMatchBelow(ps, "src/internal/pkg")
	}
}
