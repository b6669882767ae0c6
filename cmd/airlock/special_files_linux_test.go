package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpecialFilesNotOpened: a FIFO in a project (a build's named pipe, a
// left-over from a shell) would block open(2) until some writer came, and
// with it the tool and airlock's own cancellation. airlock serves only
// files and folders from a mount: grep -r walks past the FIFO, and cat of it
// fails at once with a clear error instead of hanging.
func TestSpecialFilesNotOpened(t *testing.T) {
	proj, _ := project(t)
	os.Mkdir(filepath.Join(proj, "sub"), 0o755)
	for _, p := range []string{"pipe", "sub/pipe2"} {
		if err := syscall.Mkfifo(filepath.Join(proj, p), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, proj, "", nil, "run", "--headless", "--timeout=60s", filepath.Join(repoRoot, "tools", "grep"), "--", "-r", "TODO", "/work")
	if !strings.Contains(r.stdout, "main.go") || r.elapsed > 50*time.Second {
		t.Errorf("grep -r over a folder with FIFOs: exit %d after %v\nstdout: %s\nstderr: %s", r.code, r.elapsed, r.stdout, r.stderr)
	}
	r = runCLI(t, proj, "", nil, "run", "--headless", "--timeout=60s", filepath.Join(repoRoot, "tools", "cat"), "--", "/work/pipe")
	if r.code == 0 || r.elapsed > 50*time.Second || !strings.Contains(strings.ToLower(r.stderr), "not supported") {
		t.Errorf("cat of a FIFO: exit %d after %v\nstderr: %s", r.code, r.elapsed, r.stderr)
	}
	// The write tool writes a temporary file and renames it over the
	// FIFO: nothing opens the FIFO, nothing waits.
	r = runCLI(t, proj, "hello\n", nil, "run", "--headless", "--timeout=60s", filepath.Join(repoRoot, "tools", "write"), "--", "/work/pipe")
	if b, _ := os.ReadFile(filepath.Join(proj, "pipe")); r.code != 0 || string(b) != "hello\n" || r.elapsed > 50*time.Second {
		t.Errorf("write over a FIFO: exit %d after %v, %q\nstderr: %s", r.code, r.elapsed, b, r.stderr)
	}
}
