//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttackPolicyFileSizeAndKind: a policy file is read by airlock where
// a tool may have written it (a --policy file or a learned policy inside
// a writable mount, between runs). A tool makes files of any size for
// free (a sparse one), and a mount of / reaches /dev/zero: reading
// /dev/zero whole took 23 GB before the kernel killed airlock, and a FIFO
// blocked it for ever. Now each is one line and exit 125, at once. The
// child runs under `ulimit -v` so that the test, with the bound removed,
// fails instead of exhausting the machine.
func TestAttackPolicyFileSizeAndKind(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.hcl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# a policy\n")
	f.Truncate(3 << 30) // sparse: 3 GiB that cost nothing
	f.Close()
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{big, "is larger than"},
		{fifo, "is not a regular file"},
		{"/dev/zero", "is not a regular file"},
	} {
		for _, args := range [][]string{{"policy", "check", tc.file}, {"policy", "explain", tc.file}, {"run", "--policy", tc.file, attackWasm}} {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `ulimit -v 2000000 && exec "$0" "$@"`, airlockBin}, args...)...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir)
			out, _ := cmd.CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			code := cmd.ProcessState.ExitCode()
			if timedOut || code != ExitUsage || !strings.Contains(string(out), tc.want) {
				t.Errorf("airlock %v: exit %d (timed out: %v), want %d and %q:\n%.300s", args, code, timedOut, ExitUsage, tc.want, out)
			}
		}
	}
}

// A tool in the writable project replaces a module file that a later run
// loads with a named pipe, or a link to a device that never ends. airlock
// read the file whole: a pipe nobody writes hung the run (and an MCP
// server loading its tools), /dev/zero grew the process until it died. A
// module is a regular file of bounded size, or the run stops at once with
// a one-line error.
func TestAttackModuleFileIsNotRegular(t *testing.T) {
	proj, _ := project(t)
	fifo := filepath.Join(proj, "fifo.wasm")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(proj, "zero.wasm")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fifo.wasm", "zero.wasm"} {
		for _, cmd := range [][]string{{"run", "--headless", name}, {"inspect", name}} {
			r := runCLI(t, proj, "", nil, cmd...)
			if r.code != ExitNoModule || !strings.Contains(r.stderr, "not a regular file") || r.elapsed > 30*time.Second {
				t.Errorf("airlock %v: exit %d after %v, want %d at once, naming the file as not regular:\n%s",
					cmd, r.code, r.elapsed, ExitNoModule, r.stderr)
			}
		}
	}
}

// A person whose PATH holds a folder inside the project (direnv's
// PATH_add bin) runs `airlock run .` on a Go tool folder. A tool that ran
// earlier could have rewritten an executable there named go (it cannot
// set the executable bit, but it can rewrite a file that has it): airlock
// ran that program natively, with the person's rights, to find the
// toolchain and to build. A toolchain in a writable mount is refused
// before anything runs it.
func TestAttackGoOnPathInTheProject(t *testing.T) {
	proj, _ := project(t)
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	bin := filepath.Join(proj, "bin")
	os.MkdirAll(bin, 0o755)
	script := fmt.Sprintf("#!/bin/sh\necho ran >> %q\nexec %q \"$@\"\n", pwned, realGo)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/proj\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(proj, "main.go"), []byte("package main\n\nfunc main() { println(\"built\") }\n"), 0o644)
	r := runCLI(t, proj, "", []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, "run", "--headless", ".")
	if _, err := os.Stat(pwned); err == nil {
		t.Errorf("airlock ran the go program in the writable project (exit %d):\n%s", r.code, r.stderr)
	}
	if r.code != ExitNoModule || !strings.Contains(r.stderr, "the go command "+filepath.Join(bin, "go")+" is inside the writable mount /work") {
		t.Errorf("exit %d, want %d and the go command named:\n%s", r.code, ExitNoModule, r.stderr)
	}
}
