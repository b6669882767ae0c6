//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Attacks by a hostile tool (testdata/wasiattack, raw WASI calls) on the
// real airlock binary, proved from the host side. The attacks on the WASI
// functions one by one are in internal/host/wasi_attack_test.go;
// docs/filesystem.md ("Threat model") lists them all.

// TestAttackRootMountProc: with the host's root mounted (--mount /:/), the
// tool must not read airlock's own environment through /proc/self/environ
// (the credentials airlock holds are there), nor open /proc/self/mem
// (airlock's memory: the compile cache's key; writing it changes airlock's
// code). Each refusal is in the audit log.
func TestAttackRootMountProc(t *testing.T) {
	const secret = "ghp_attack_4c0ffee"
	for _, mount := range []string{"/:/:ro", "/:/"} {
		proj, sentinel := project(t)
		r := runCLI(t, proj, "", []string{"GITHUB_TOKEN=" + secret}, "run", "--headless", "--mount", mount, attackWasm, "--",
			"mount=/", "read=proc/self/environ", "read=proc/thread-self/environ", "openread=proc/self/mem", "openwrite=proc/self/mem",
			"openread=proc/self/maps", "read="+strings.TrimPrefix(sentinel, "/"),
			// airlock's own secret state, through the same mount.
			"read="+strings.TrimPrefix(filepath.Join(cacheDir, "seal.key"), "/"),
			"openwrite="+strings.TrimPrefix(filepath.Join(proj, ".airlock", "audit.jsonl"), "/"))
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
			t.Errorf("--mount %s: the tool read airlock's environment:\n%s", mount, r.stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if (strings.Contains(line, "proc/") || strings.Contains(line, "seal.key") || strings.Contains(line, "audit")) && errnoOf(line) != 2 {
				t.Errorf("--mount %s: %s, want errno=2 (EACCES)", mount, line)
			}
		}
		if !strings.Contains(r.stdout, "sentinel: outside the mount") {
			t.Errorf("--mount %s: a file is not readable through /: exit %d\n%s\n%s", mount, r.code, r.stdout, r.stderr)
		}
		audit, _ := os.ReadFile(filepath.Join(proj, ".airlock", "audit.jsonl"))
		if !strings.Contains(string(audit), `"rule":"airlock state: process filesystem"`) {
			t.Errorf("--mount %s: no refusal in the audit log:\n%s", mount, audit)
		}
	}
}

// TestAttackReplaceAirlock: airlock's own program is what runs, natively,
// the next time anyone types airlock. A developer who built airlock into
// the project folder (go build -o airlock ./cmd/airlock), a mounted home
// with ~/go/bin/airlock, a mount of / all put it inside a writable mount.
// The tool must not overwrite it, nor write a new file and rename it over
// the program (a running program cannot be opened for writing, ETXTBSY,
// but it can be replaced; the rename even keeps its executable bit).
func TestAttackReplaceAirlock(t *testing.T) {
	proj, _ := project(t)
	bin := filepath.Join(proj, "airlock")
	orig, err := os.ReadFile(airlockBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	const evil = "#!/bin/sh\necho pwned\n"
	r := runCLIBin(t, bin, proj, "", nil, "run", "--headless", attackWasm, "--",
		"write=airlock:"+evil, "write=x.new:"+evil, "rename=x.new:airlock", "rename=airlock:moved", "write=moved:"+evil)
	if b, _ := os.ReadFile(bin); !bytes.Equal(b, orig) {
		t.Errorf("the tool changed airlock's program (%d bytes now):\n%s%s", len(b), r.stdout, r.stderr)
	}
	audit, _ := os.ReadFile(filepath.Join(proj, ".airlock", "audit.jsonl"))
	if !strings.Contains(string(audit), `"rule":"airlock state: airlock program"`) {
		t.Errorf("no refusal in the audit log:\n%s", audit)
	}
}

// TestAttackProcMountedInProject: procfs mounted somewhere inside a mount
// (here, inside the project) is never served either, behind the Landlock
// wall too, where the mount table can no longer be read: the engine reads
// it before. Mounting procfs needs root; the test is skipped without it.
func TestAttackProcMountedInProject(t *testing.T) {
	const secret = "ghp_attack_in_project_77"
	proj, _ := project(t)
	at := filepath.Join(proj, "p")
	if err := os.Mkdir(at, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("proc", at, "proc", 0, ""); err != nil {
		t.Skipf("mounting procfs needs root here: %v", err)
	}
	defer syscall.Unmount(at, syscall.MNT_DETACH)
	r := runCLI(t, proj, "", []string{"GITHUB_TOKEN=" + secret}, "run", "--headless", attackWasm, "--",
		"read=p/self/environ", "openread=p/self/mem", "openwrite=p/self/mem", "read=main.go")
	if strings.Contains(r.stdout, secret) || !strings.Contains(r.stdout, "TODO: write main") {
		t.Errorf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.Contains(line, "p/self") && errnoOf(line) != 2 {
			t.Errorf("%s, want errno=2 (EACCES)", line)
		}
	}
}

// TestAttackDecisionFlood: a tool that asks for a hidden file in a loop
// makes a refusal each time, each kept for the report and written to the
// audit log. Past maxDecisions (100,000) the run's capabilities are
// revoked, once, in the audit log; the log stops growing, airlock's memory
// with it, and airlock ends the run normally.
func TestAttackDecisionFlood(t *testing.T) {
	proj, _ := project(t)
	r := runCLI(t, proj, "", nil, "run", "--headless", "--quiet", "--json="+filepath.Join(proj, "report.json"), attackWasm, "--",
		"spin-denied=150000:.env", "read=main.go")
	if !strings.Contains(r.stdout, `read "main.go" errno=8`) || r.code != 0 {
		t.Errorf("exit %d; the run could still read after its decisions ran out:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	audit, err := os.ReadFile(filepath.Join(proj, ".airlock", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
	if len(lines) != 100001 || !strings.Contains(lines[len(lines)-1], `"kind":"limits.decisions"`) {
		t.Errorf("%d records in the audit log, the last: %s", len(lines), lines[len(lines)-1])
	}
}

// errnoOf is the errno of one line of testdata/wasiattack's output
// (`NAME "ARG" errno=N …`), -1 if none.
func errnoOf(line string) int {
	_, after, ok := strings.Cut(line, " errno=")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.Fields(after)[0])
	if err != nil {
		return -1
	}
	return n
}

// TestAttackSummaryEscapes: airlock's summary of what it refused names
// each path as the tool wrote it, and a file name may hold any byte but
// "/" and NUL. The summary goes to the person's terminal: an escape
// sequence there could write the clipboard (OSC 52), retitle the window or
// clear the screen, and a newline could add a line that looks like
// airlock's own ("airlock: nothing was denied"). Names are shown with
// every control character as text, on one line.
func TestAttackSummaryEscapes(t *testing.T) {
	proj, _ := project(t)
	r := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--",
		"read=x\x1b]52;c;cHduZWQ=\x07\x1b[2J/.env", "read=y\nairlock: all clear, nothing was denied\n/.env")
	if strings.ContainsAny(r.stderr, "\x1b\x07") {
		t.Errorf("an escape sequence reached airlock's stderr: %q", r.stderr)
	}
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(line, "airlock: all clear") {
			t.Errorf("the tool added a line to airlock's summary:\n%s", r.stderr)
		}
	}
	if !strings.Contains(r.stderr, `denied fs.read open /work/y^Jairlock: all clear`) {
		t.Errorf("the refusal is not named, on one line:\n%s", r.stderr)
	}
}
