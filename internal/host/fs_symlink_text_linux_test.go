package host

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/decision"
)

// A symlink's text is judged as written: "up/../x" with up -> "." would
// clean to "x" but, followed by a host program, climbs out of the mount.
func TestGuestSymlinkTextCannotClimbOut(t *testing.T) {
	w := newWorld(t)
	w.file("d/e/keep.txt", "x")
	f, g := w.fs(defaultOpts())
	if e := f.Symlink(".", "up"); e != 0 {
		t.Fatalf("symlink up -> .: %v", e)
	}
	for _, tc := range []struct{ link, target string }{
		{"l", "up/../outside/secret.txt"},
		{"l2", "d/../../outside/secret.txt"},
		{"d/l3", "../../outside/secret.txt"},
		{"d/e/l4", "../x/../../../outside"},
		{"l5", "/etc/passwd"},
		{"l6", ""},
	} {
		if e := f.Symlink(tc.target, tc.link); e == 0 {
			t.Errorf("symlink %s -> %q was made", tc.link, tc.target)
		}
		if _, err := os.Lstat(filepath.Join(w.mount, tc.link)); err == nil {
			t.Errorf("%s exists on the host", tc.link)
		}
	}
	if _, ok := findDecision(g, decision.FSWrite, "symlink", "", "", ""); !ok {
		t.Errorf("no decision recorded for the refused symlinks: %s", dumpDecisions(g))
	}
	// Links that stay inside are still made, climbing from where they are.
	for _, tc := range []struct{ link, target string }{
		{"d/e/ok1", "../../d/e/keep.txt"},
		{"d/ok2", "./e/keep.txt"},
		{"ok3", "d/e/keep.txt"},
	} {
		if e := f.Symlink(tc.target, tc.link); e != 0 {
			t.Errorf("symlink %s -> %q: %v", tc.link, tc.target, e)
		}
		if b, err := os.ReadFile(filepath.Join(w.mount, tc.link)); err != nil || string(b) != "x" {
			t.Errorf("%s: %q %v", tc.link, b, err)
		}
	}
	w.checkOutside()
}
