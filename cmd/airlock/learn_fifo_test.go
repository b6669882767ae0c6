//go:build unix

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/runtime"
)

// The learn file is airlock's to write: a symbolic link or a FIFO in its
// place is refused before anything runs (the link's target unchanged, no
// hang), and an invalid policy there is refused before the tool runs,
// rather than overwritten.
func TestLearnFileIsOpenedWithCare(t *testing.T) {
	dir := learnProject(t)
	env := learnEnv(t)
	target := filepath.Join(t.TempDir(), "precious") // empty: a valid place to learn into, if followed
	os.WriteFile(target, nil, 0o644)
	link := filepath.Join(dir, "link.hcl")
	os.Symlink(target, link)
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("mount \"/work\" {\n  acess = \"write\"\n}\n"), 0o644)
	for _, c := range []struct{ file, want string }{
		{link, "symbolic link"},
		{fifo, "not a regular file"},
		{bad, "not a valid policy"},
	} {
		r := runCLI(t, dir, "", env, "run", "--learn", c.file, tool("cat"), "--", "/work/src/a.txt")
		if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("--learn %s: exit %d, stdout %q, stderr %q; want %d and %q, and no run", filepath.Base(c.file), r.code, r.stdout, r.stderr, ExitUsage, c.want)
		}
	}
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Errorf("the link's target is now %q", b)
	}
	if b, _ := os.ReadFile(bad); !strings.Contains(string(b), "acess") {
		t.Errorf("the invalid policy was overwritten: %q", b)
	}
	// Every engine sees every call (docs/engines.md), so each learns the
	// same policy; an engine this airlock lacks leaves no file behind.
	learned := map[string]string{}
	for _, engine := range []string{runtime.EngineWazero, runtime.EngineWasmtime} {
		file := filepath.Join(dir, "new-"+engine+".hcl")
		r := runCLI(t, dir, "", env, "run", "--learn", file, "--engine", engine, tool("cat"), "--", "/work/src/a.txt")
		b, err := os.ReadFile(file)
		if !slices.Contains(runtime.Engines(), engine) {
			if r.code != ExitUsage || !strings.Contains(r.stderr, "built without the wasmtime engine") || err == nil {
				t.Errorf("--engine %s: exit %d, learn file there: %t: %s", engine, r.code, err == nil, r.stderr)
			}
			continue
		}
		if r.code != 0 || err != nil {
			t.Fatalf("--engine %s: exit %d: %v %s", engine, r.code, err, r.stderr)
		}
		// The comment on limits says what this run measured (its time).
		learned[engine] = regexp.MustCompile(`(?m)^# Limits: .*$`).ReplaceAllString(string(b), "# Limits: …")
	}
	if w, ok := learned[runtime.EngineWasmtime]; ok && w != learned[runtime.EngineWazero] {
		t.Errorf("the engines learned different policies:\nwazero:\n%s\nwasmtime:\n%s", learned[runtime.EngineWazero], w)
	}
}

// policy explain DIR shows what files in DIR say, and DIR may lie where a
// tool writes: a comment carrying terminal escapes is shown with them made
// visible, and a FIFO named *.hcl is passed over instead of holding
// airlock in open(2).
func TestExplainLearnedFolderIsSafeToShow(t *testing.T) {
	dir := t.TempDir()
	learned := learn.Header + `

# read /work/a.txt (open)` + "\x1b]0;pwned\x07\x1b[2J" + `
mount "/work" {
  host   = "."
  access = "read"
}
`
	if err := os.WriteFile(filepath.Join(dir, "cat.hcl"), []byte(learned), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "x.hcl"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, "", learnEnv(t), "policy", "explain", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "Policy: "+filepath.Join(dir, "cat.hcl")) || r.elapsed > time.Minute {
		t.Fatalf("exit %d after %v:\n%s%s", r.code, r.elapsed, r.stdout, r.stderr)
	}
	if strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, "pwned") {
		t.Errorf("the comment's escapes reached the terminal:\n%q", r.stdout)
	}
}
