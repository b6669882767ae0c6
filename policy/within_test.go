package policy_test

import (
	"strings"
	"testing"
)

func TestPatternWithin(t *testing.T) {
	for _, c := range []struct {
		pattern, rel string
		all          bool
		below        []string
	}{
		{".git", ".", false, []string{".git"}},               // the same mount
		{".git", "src", false, []string{".git"}},             // a name travels
		{".git", "a/.git/hooks", true, nil},                  // inside a covered folder
		{"data/keys", "data", false, []string{"./keys"}},     // anchored: cut down
		{"data/keys/**", "data", false, []string{"keys/**"}}, // the rest of the path
		{"data/keys", "src", false, nil},                     // names nothing there
		{"./secrets", "secrets/x", true, nil},                // the folder is covered
		{"a/**/c", "a/b", false, []string{"**/c"}},           // "**" keeps matching at any depth
		{"*.pem", "certs", false, []string{"*.pem"}},         // a glob name
		{"build/out", "build/output", false, nil},            // a near miss
	} {
		p := mustPattern(t, c.pattern)
		all, below, err := p.Within(c.rel)
		if err != nil {
			t.Fatalf("%s within %s: %v", c.pattern, c.rel, err)
		}
		var got []string
		for _, q := range below {
			got = append(got, q.Text)
		}
		if all != c.all || strings.Join(got, " ") != strings.Join(c.below, " ") {
			t.Errorf("%q within %q: all %v below %q; want %v %q", c.pattern, c.rel, all, got, c.all, c.below)
		}
	}
}
