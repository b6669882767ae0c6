package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// A placed pattern must match exactly the places the original names: seen
// from a directory inside its root (below) and from one around it (under).
// Checked on random patterns and paths over a small alphabet, so that
// stars, double stars, classes and near misses meet often.
func TestPlacedPatternsMatchTheSamePlaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "ab", "ba", "*", "a*", "*b", "?", "[ab]", "**"}
	dirs := []string{"a", "b", "ab", "ba", "c", "aa"}
	randPattern := func() string {
		n := 2 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = names[rng.IntN(len(names))]
		}
		return strings.Join(parts, "/")
	}
	randPath := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = dirs[rng.IntN(len(dirs))]
		}
		return strings.Join(parts, "/")
	}
	checked := 0
	for range 3000 {
		text := randPattern()
		p, err := NewPattern(text, Origin{})
		if err != nil || !p.Anchored() {
			continue
		}
		// below: dir is where a sub-mount's root lies inside p's root.
		dir := randPath(1 + rng.IntN(3))
		if !p.Match(dir) {
			ps, err := p.below(dir)
			if err != nil {
				t.Fatalf("%q below %q: %v", text, dir, err)
			}
			for range 20 {
				rest := randPath(1 + rng.IntN(4))
				_, got := MatchAny(ps, rest)
				if want := p.Match(dir + "/" + rest); got != want {
					t.Fatalf("%q: %s/%s matches %v, but below(%q) = %q matches %s: %v", text, dir, rest, want, dir, textsOf(ps), rest, got)
				}
				checked++
			}
		}
		// under: pre is where p's root lies inside a parent mount.
		pre := randPath(1 + rng.IntN(3))
		q, err := p.under(pre)
		if err != nil {
			t.Fatalf("%q under %q: %v", text, pre, err)
		}
		for range 20 {
			rest := randPath(1 + rng.IntN(4))
			if got, want := q.Match(pre+"/"+rest), p.Match(rest); got != want {
				t.Fatalf("%q: %s matches %v, but under(%q) = %q matches %s/%s: %v", text, rest, want, pre, q.Text, pre, rest, got)
			}
			// Nothing outside pre, and not pre's own ancestors.
			if other := randPath(1 + rng.IntN(4)); other != pre && !strings.HasPrefix(other, pre+"/") && q.Match(other) {
				t.Fatalf("under(%q) = %q matches %s, which is not below %s", pre, q.Text, other, pre)
			}
			checked++
		}
	}
	if checked < 20000 {
		t.Fatalf("only %d comparisons: the generator makes too few anchored patterns", checked)
	}
}

// Directory names are matched literally when a pattern is moved under
// them, whatever glob characters they hold.
func TestUnderEscapesDirectoryNames(t *testing.T) {
	p, err := NewPattern("secrets/**", Origin{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pre, in, out string
	}{
		{"a*b", "a*b/secrets/k", "axb/secrets/k"},
		{"[x]", "[x]/secrets/k", "x/secrets/k"},
		{"?", "?/secrets/k", "z/secrets/k"},
		{`back\slash`, `back\slash/secrets/k`, "backslash/secrets/k"},
		{"**", "**/secrets/k", "a/b/secrets/k"},
		{"a]", "a]/secrets/k", "a/secrets/k"},
	} {
		q, err := p.under(tc.pre)
		if err != nil {
			t.Errorf("under(%q): %v", tc.pre, err)
			continue
		}
		if !q.Match(tc.in) || q.Match(tc.out) {
			t.Errorf("under(%q) = %q: matches %s %v (want true), %s %v (want false)", tc.pre, q.Text, tc.in, q.Match(tc.in), tc.out, q.Match(tc.out))
		}
	}
}

func textsOf(ps []Pattern) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Text)
	}
	return out
}
