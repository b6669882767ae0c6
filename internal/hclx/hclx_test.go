package hclx

import "testing"

func TestDidYouMean(t *testing.T) {
	cands := []string{"host", "access", "protect", "hide", "protect_defaults"}
	for name, want := range map[string]string{
		"acess":           "access",
		"acces":           "access",
		"hosts":           "host",
		"hid":             "hide",
		"protct":          "protect",
		"protect_default": "protect_defaults",
		"x":               "",
		"network":         "",
		"":                "",
	} {
		if got := DidYouMean(name, cands); got != want {
			t.Errorf("DidYouMean(%q) = %q, want %q", name, got, want)
		}
	}
	if got := DidYouMean("x", nil); got != "" {
		t.Errorf("no candidates: %q", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"acess", "access", 1}, {"limit", "limits", 1}, {"env", "nev", 2},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
