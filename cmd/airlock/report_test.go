//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReportFileNotRedirected: --json=FILE in a folder a tool can write
// (here the project, the default policy's writable /work) may have been
// made a symbolic link to any file of the person's by a tool of an earlier
// run. airlock refuses it; the file it pointed at keeps its bytes.
func TestReportFileNotRedirected(t *testing.T) {
	proj, _ := project(t)
	victim := filepath.Join(t.TempDir(), "authorized_keys")
	const keep = "ssh-ed25519 AAAA the person's key\n"
	if err := os.WriteFile(victim, []byte(keep), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(proj, "report.json")); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, proj, "", nil, "run", "--headless", "--json=report.json", filepath.Join(repoRoot, "tools", "grep"), "--", "TODO", "/work")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("exit %d, want %d naming the symbolic link:\n%s", r.code, ExitUsage, r.stderr)
	}
	if strings.Contains(r.stdout, "TODO") {
		t.Errorf("the tool ran: %s", r.stdout)
	}
	if b, _ := os.ReadFile(victim); string(b) != keep {
		t.Errorf("the file the link pointed at was changed: %q", b)
	}

	// A FIFO in its place is refused at once, not waited on.
	fifo := filepath.Join(proj, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, proj, "", nil, "run", "--headless", "--json="+fifo, filepath.Join(repoRoot, "tools", "grep"), "--", "TODO", "/work")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "not a regular file") || r.elapsed > 30*time.Second {
		t.Errorf("a FIFO report: exit %d after %v:\n%s", r.code, r.elapsed, r.stderr)
	}

	os.Remove(fifo) // grep would read it

	// A plain file is written as before.
	out := filepath.Join(proj, "ok.json")
	r = runCLI(t, proj, "", nil, "run", "--headless", "--json="+out, filepath.Join(repoRoot, "tools", "grep"), "--", "TODO", "/work")
	if b, err := os.ReadFile(out); r.code != 0 || err != nil || !strings.Contains(string(b), `"reason":"exited"`) {
		t.Errorf("exit %d, report %q (%v):\n%s", r.code, b, err, r.stderr)
	}
}
