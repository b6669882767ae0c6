package warm

import (
	"strings"
	"testing"
)

// The package's own text helpers do what those of strings do.
func TestText(t *testing.T) {
	for _, tc := range [][2]string{{"Uid:\t0\t0", "\t"}, {"a=b=c", "="}, {"abc", "x"}, {"", "="}, {"k=", "="}} {
		b, a, ok := cut(tc[0], tc[1])
		wb, wa, wok := strings.Cut(tc[0], tc[1])
		if b != wb || a != wa || ok != wok {
			t.Errorf("cut(%q, %q) = %q %q %v", tc[0], tc[1], b, a, ok)
		}
	}
	for _, s := range []string{"", "\n", "a", "a\nb", "a\nb\n", "\n\nx"} {
		var want []string
		for l := range strings.Lines(s) {
			want = append(want, l)
		}
		if got := lines(s); strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("lines(%q) = %q, want %q", s, got, want)
		}
	}
	for _, s := range []string{"", " a ", "\t0::/x\n", "   "} {
		if trimSpace(s) != strings.TrimSpace(s) {
			t.Errorf("trimSpace(%q) = %q", s, trimSpace(s))
		}
	}
	if trimSlashes("/run/user/0//") != "/run/user/0" || trimSlashes("/") != "" || dirOf("/a/b") != "/a" || dirOf("/a") != "/" || dirOf("a") != "." {
		t.Error("trimSlashes or dirOf")
	}
}
