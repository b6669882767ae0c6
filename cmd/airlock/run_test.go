package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/decision"
)

func TestRunSampleToolOnDefaultPolicy(t *testing.T) {
	dir, sentinel := project(t)
	before, _ := os.ReadFile(sentinel)
	r := runCLI(t, dir, "", nil, "run", filepath.Join(repoRoot, "tools/grep"), "--", "-rn", "TODO", "/work")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if r.stdout != "/work/main.go:3:// TODO: write main\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	// The hidden .env is neither read nor listed, and grep did not trip on it.
	r = runCLI(t, dir, "", nil, "run", filepath.Join(repoRoot, "tools/grep"), "--", "-rn", "do-not-leak", "/work")
	if r.code != 1 || strings.Contains(r.stdout+r.stderr, "do-not-leak") {
		t.Fatalf("grep for the .env secret: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, "run", filepath.Join(repoRoot, "tools/cat"), "--", "/work/.env")
	if r.code == 0 || strings.Contains(r.stdout, "do-not-leak") {
		t.Fatalf("cat .env: exit %d stdout %q", r.code, r.stdout)
	}
	after, _ := os.ReadFile(sentinel)
	if string(before) != string(after) {
		t.Fatal("the sentinel outside the mount changed")
	}
}

func TestRunProtectsGitAndReportsDecision(t *testing.T) {
	dir, _ := project(t)
	gitBefore, _ := os.ReadFile(filepath.Join(dir, ".git/config"))
	reportFile := filepath.Join(t.TempDir(), "report.json")
	r := runCLI(t, dir, "[core]\n\tbare = true\n", nil, "run", filepath.Join(repoRoot, "tools/write"),
		"--json="+reportFile, "--", "/work/.git/config")
	if r.code != 2 {
		t.Fatalf("exit %d, want the tool's own 2; stderr %s", r.code, r.stderr)
	}
	if gitAfter, _ := os.ReadFile(filepath.Join(dir, ".git/config")); string(gitAfter) != string(gitBefore) {
		t.Fatalf(".git/config changed: %q", gitAfter)
	}
	if !strings.Contains(r.stderr, `airlock: denied fs.write open /work/.git/`) || !strings.Contains(r.stderr, `protect ".git"`) {
		t.Fatalf("no denial summary on stderr: %s", r.stderr)
	}
	b, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v: %s", err, b)
	}
	if rep.Reason != "exited" || rep.ExitCode != 2 || rep.Denied == 0 || !strings.HasPrefix(rep.Digest, "sha256:") {
		t.Fatalf("report %+v", rep)
	}
	d := rep.Decisions[0]
	if d.Allowed || d.Kind != decision.FSWrite || d.Errno != "EACCES" || d.Origin != "builtin" {
		t.Fatalf("decision %+v", d)
	}

	// --fail-on-deny turns a denial the tool shrugged off into exit 126.
	r = runCLI(t, dir, "", nil, "run", probeWasm, "--fail-on-deny", "--", "read", "/work/.env")
	if r.code != 1 {
		t.Fatalf("probe read of hidden file: exit %d", r.code)
	}
	// A denial the tool survives: it exits 0, airlock exits 126.
	r = runCLI(t, dir, "", nil, "run", probeWasm, "--fail-on-deny", "--", "trywrite", "/work/.git/hooks", "x")
	if r.code != ExitDenied || !strings.Contains(r.stdout, "Permission denied") {
		t.Fatalf("write into .git under --fail-on-deny: exit %d stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, dir, "", nil, "run", filepath.Join(repoRoot, "tools/grep"), "--fail-on-deny", "--", "-r", "TODO", "/work")
	if r.code != 0 {
		t.Fatalf("grep with nothing denied under --fail-on-deny: exit %d %s", r.code, r.stderr)
	}
}

func TestRunTimeoutStopsInfiniteLoop(t *testing.T) {
	dir, _ := project(t)
	// GOGC=1 makes the host collect garbage all the time: a collection
	// that starts while the guest spins must not stall the process (Go
	// cannot preempt compiled WebAssembly).
	r := runCLI(t, dir, "", []string{"GOGC=1"}, "run", probeWasm, "--timeout", "500ms", "--json", "--", "loop")
	if r.code != ExitTimeout {
		t.Fatalf("exit %d, want %d; stderr %s", r.code, ExitTimeout, r.stderr)
	}
	if !strings.Contains(r.stderr, "airlock: stopped the tool after 500ms (limits.timeout)") || !strings.Contains(r.stderr, `"reason":"timeout"`) {
		t.Fatalf("stderr %s", r.stderr)
	}
	// The report's duration excludes the first compile of the module,
	// which a loaded machine can make slow.
	var rep report
	if i := strings.Index(r.stderr, "{"); i < 0 || json.Unmarshal([]byte(r.stderr[i:]), &rep) != nil {
		t.Fatalf("no JSON report in %s", r.stderr)
	}
	if rep.DurationMS < 400 || rep.DurationMS > 10_000 {
		t.Fatalf("run lasted %.0f ms under a 500ms limit", rep.DurationMS)
	}
}

func TestRunMemoryLimit(t *testing.T) {
	dir, _ := project(t)
	r := runCLI(t, dir, "", nil, "run", probeWasm, "--memory", "64MiB", "--", "alloc", "500")
	if r.code != ExitMemoryLimit || !strings.Contains(r.stderr, "out of memory at its limit of 64 MiB") {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
}

func TestRunInterruptedBySIGINT(t *testing.T) {
	dir, _ := project(t)
	cmd := exec.Command(airlockBin, "run", probeWasm, "--", "loop")
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir, "GOGC=1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "looping") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d; output %s", code, err, ExitInterrupted, out)
	}
}

func TestRunBadInputGetsOneLineErrors(t *testing.T) {
	dir, _ := project(t)
	junk := filepath.Join(t.TempDir(), "junk.wasm")
	os.WriteFile(junk, []byte("\x00asm\x01\x00\x00\x00\x05\xff"), 0o644)
	notWasm := filepath.Join(t.TempDir(), "script.wasm")
	os.WriteFile(notWasm, []byte("#!/bin/sh\n"), 0o644)
	badPolicy := filepath.Join(t.TempDir(), "bad.hcl")
	os.WriteFile(badPolicy, []byte("mount \"/work\" {\n  acess = \"write\"\n}\n"), 0o644)
	workPolicy := filepath.Join(dir, "work.hcl")
	os.WriteFile(workPolicy, []byte("mount \"/work\" {\n  access = \"write\"\n}\n"), 0o644)
	brokenGo := t.TempDir()
	os.WriteFile(filepath.Join(brokenGo, "go.mod"), []byte("module broken\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(brokenGo, "main.go"), []byte("package main\nfunc main() { undefined() }\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"malformed module", []string{"run", junk}, ExitNoModule, "airlock: module junk:"},
		{"not wasm", []string{"run", notWasm}, ExitNoModule, "not a WebAssembly binary"},
		{"missing module", []string{"run", "nope.wasm"}, ExitNoModule, "airlock: loading nope.wasm:"},
		{"go build error", []string{"run", brokenGo}, ExitNoModule, "undefined: undefined"},
		{"bad policy", []string{"run", probeWasm, "--policy", badPolicy}, ExitUsage, "bad.hcl:2:3: error:"},
		{"args before --", []string{"run", probeWasm, "exit", "3"}, ExitUsage, "tool arguments go after --"},
		{"unknown flag", []string{"run", "--frobnicate", probeWasm}, ExitUsage, "airlock: unknown flag --frobnicate for airlock run"},
		// A policy file's mount cannot be replaced by a flag (the built-in
		// default's can: TestRunMountFlags).
		{"replacing a policy file's mount", []string{"run", probeWasm, "--policy", workPolicy, "--mount", dir + ":/work"}, ExitUsage,
			"/work is already mounted from " + dir + " (" + workPolicy + ":1:1)"},
		{"unknown command", []string{"frob"}, ExitUsage, `unknown command "frob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, dir, "", nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.msg)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("a panic reached the user: %s", r.stderr)
			}
		})
	}
}

func TestRunExtraMountReadOnly(t *testing.T) {
	dir, _ := project(t)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "in.txt"), []byte("data\n"), 0o644)
	r := runCLI(t, dir, "", nil, "run", probeWasm, "--mount", data+":/data:ro", "--", "read", "/data/in.txt")
	if r.code != 0 || r.stdout != "data\n" {
		t.Fatalf("read from ro mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, "run", probeWasm, "--mount", data+":/data:ro", "--", "write", "/data/new.txt", "x")
	if r.code != 1 || !strings.Contains(r.stdout, "Read-only file system") {
		t.Fatalf("write to ro mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "new.txt")); err == nil {
		t.Fatal("a file appeared in the read-only mount")
	}
}

// TestRunSampleToolsRelativePaths: with no PWD in the environment, a Go
// tool takes the first mount (/work on the built-in default) as its working
// directory, so relative paths still work, with a root mount added too.
func TestRunSampleToolsRelativePaths(t *testing.T) {
	dir, _ := project(t)
	root := t.TempDir()
	for _, extra := range [][]string{nil, {"--mount", root + ":/"}} {
		args := append(append([]string{"run"}, extra...), filepath.Join(repoRoot, "tools/grep"), "--", "-rn", "TODO", ".")
		r := runCLI(t, dir, "", nil, args...)
		if r.code != 0 || r.stdout != "main.go:3:// TODO: write main\n" {
			t.Errorf("grep -rn TODO . (%v): exit %d stdout %q stderr %s", extra, r.code, r.stdout, r.stderr)
		}
		args = append(append([]string{"run"}, extra...), filepath.Join(repoRoot, "tools/cat"), "--", "main.go")
		if r := runCLI(t, dir, "", nil, args...); r.code != 0 || !strings.Contains(r.stdout, "TODO") {
			t.Errorf("cat main.go (%v): exit %d stdout %q stderr %s", extra, r.code, r.stdout, r.stderr)
		}
	}
}

// TestRunMountFlags: --mount replaces the built-in default's /work, nests
// inside it (the inner mount's access holds) and mounts a directory at "/".
func TestRunMountFlags(t *testing.T) {
	dir, sentinel := project(t)
	src := filepath.Join(dir, "src")
	data := t.TempDir()
	root := t.TempDir()
	os.Mkdir(src, 0o755)
	os.WriteFile(filepath.Join(src, "lib.go"), []byte("package lib\n"), 0o644)
	os.WriteFile(filepath.Join(data, "in.txt"), []byte("data\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "motd"), []byte("hello from /\n"), 0o644)

	// ./src takes the default's place at /work: the project root is not there.
	r := runCLI(t, dir, "", nil, "run", "--mount", "./src:/work", probeWasm, "--", "read", "/work/lib.go")
	if r.code != 0 || r.stdout != "package lib\n" {
		t.Fatalf("read through the replacing mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, "run", "--mount", "./src:/work", probeWasm, "--", "read", "/work/main.go")
	if r.code != 1 || !strings.Contains(r.stdout, "No such file") {
		t.Fatalf("the replaced mount is still there: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	// A read-only mount nested in the writable /work stays read-only.
	nested := []string{"run", "--mount", data + ":/work/data:ro", probeWasm, "--"}
	r = runCLI(t, dir, "", nil, append(nested, "read", "/work/data/in.txt")...)
	if r.code != 0 || r.stdout != "data\n" {
		t.Fatalf("read from the nested mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, append(nested, "write", "/work/data/new.txt", "x")...)
	if r.code != 1 || !strings.Contains(r.stdout, "Read-only file system") {
		t.Fatalf("write into the nested read-only mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "new.txt")); err == nil {
		t.Fatal("a file appeared in the nested read-only mount")
	}
	r = runCLI(t, dir, "", nil, append(nested, "write", "/work/out.txt", "x")...)
	if r.code != 0 || readFile(t, filepath.Join(dir, "out.txt")) != "x" {
		t.Fatalf("write beside the nested mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	// A mount at "/" beside the default /work.
	withRoot := []string{"run", "--mount", root + ":/", probeWasm, "--"}
	r = runCLI(t, dir, "", nil, append(withRoot, "read", "/etc/motd")...)
	if r.code != 0 || r.stdout != "hello from /\n" {
		t.Fatalf("read through the root mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, append(withRoot, "read", "/work/main.go")...)
	if r.code != 0 || !strings.Contains(r.stdout, "TODO") {
		t.Fatalf("read through /work beside the root mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, append(withRoot, "read", "/../outside.txt")...)
	if r.code != 1 || strings.Contains(r.stdout, "sentinel") {
		t.Fatalf("read above the root mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if readFile(t, sentinel) != "sentinel: outside the mount\n" {
		t.Fatal("the sentinel outside every mount changed")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestRunEnvAndStdio(t *testing.T) {
	dir, _ := project(t)
	r := runCLI(t, dir, "hello", []string{"GITHUB_TOKEN=sekrit", "LANG=C"}, "run", probeWasm, "--env", "LANG", "--env", "MODE=ci", "--", "env")
	if r.code != 0 || r.stdout != "LANG=C\nMODE=ci\n" {
		t.Fatalf("env: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "hello", nil, "run", probeWasm, "--", "stdin")
	if r.stdout != "5 bytes: hello" {
		t.Fatalf("stdin: %q", r.stdout)
	}
	r = runCLI(t, dir, "", nil, "run", probeWasm, "--", "exit", "42")
	if r.code != 42 {
		t.Fatalf("exit status: %d", r.code)
	}
}

func TestPolicyCheckAndExplain(t *testing.T) {
	dir, _ := project(t)
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("mount \"/work\" {\n  host = \"./nope\"\n  access = \"writ\"\n}\nlimits {\n  timeout = \"soon\"\n}\n"), 0o644)
	r := runCLI(t, dir, "", nil, "policy", "check", "bad.hcl")
	if r.code != ExitUsage {
		t.Fatalf("exit %d", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "bad.hcl:2:") || !strings.HasPrefix(lines[1], "bad.hcl:3:") || !strings.HasPrefix(lines[2], "bad.hcl:6:") {
		t.Fatalf("want three file:line:col lines, got:\n%s", r.stderr)
	}
	good := filepath.Join(dir, "good.hcl")
	os.WriteFile(good, []byte("mount \"/src\" {\n  host = \".\"\n}\n"), 0o644)
	r = runCLI(t, dir, "", nil, "policy", "check", "good.hcl")
	if r.code != 0 || r.stdout != "good.hcl: ok\n" {
		t.Fatalf("check good: %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", nil, "policy", "explain")
	if r.code != 0 || !strings.Contains(r.stdout, "Policy: builtin default") || !strings.Contains(r.stdout, "/work") || !strings.Contains(r.stdout, ".git") {
		t.Fatalf("explain: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An interrupt while a module compiles for the first time ends airlock at
// once; the compile is not waited for.
func TestRunInterruptedWhileCompiling(t *testing.T) {
	dir, _ := project(t)
	cmd := exec.Command(airlockBin, "run", probeWasm, "--", "exit", "0")
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+t.TempDir()) // cold cache: it must compile
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted || !strings.Contains(out.String(), "airlock: interrupted") {
		t.Fatalf("exit %d output %q, want %d and 'airlock: interrupted'", code, out, ExitInterrupted)
	}
	if el := time.Since(sent); el > 3*time.Second {
		t.Fatalf("took %v to stop after SIGINT", el)
	}
}

// TestManagedCeilingHoldsForNestedMounts: a managed policy bounds a
// nested mount and a root mount like any other: read-only where it is,
// its hide patterns inside it, nothing outside its mounts.
func TestManagedCeilingHoldsForNestedMounts(t *testing.T) {
	dir, _ := project(t)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "a.key"), []byte("KEY-do-not-leak\n"), 0o644)
	os.WriteFile(filepath.Join(sub, "b.txt"), []byte("b\n"), 0o644)
	managed := filepath.Join(t.TempDir(), "managed.hcl")
	os.WriteFile(managed, []byte("mount \"/m\" {\n  host   = \""+dir+"\"\n  access = \"read\"\n  hide   = [\"*.key\"]\n}\n"), 0o644)
	env := []string{"AIRLOCK_MANAGED_POLICY=" + managed}
	nested := []string{"run", "--mount", "./sub:/work/sub", probeWasm, "--"}

	r := runCLI(t, dir, "", env, append(nested, "read", "/work/sub/b.txt")...)
	if r.code != 0 || r.stdout != "b\n" {
		t.Fatalf("read in the nested mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", env, append(nested, "write", "/work/sub/new.txt", "x")...)
	if r.code != 1 || !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stderr, "managed:"+managed) {
		t.Fatalf("write in the nested mount under a read-only ceiling: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, dir, "", env, append(nested, "read", "/work/sub/a.key")...)
	if r.code != 1 || strings.Contains(r.stdout+r.stderr, "do-not-leak") {
		t.Fatalf("read a managed-hidden file in the nested mount: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(sub, "new.txt")); err == nil {
		t.Fatal("a file appeared under the read-only ceiling")
	}
	r = runCLI(t, dir, "", env, "run", "--mount", t.TempDir()+":/", probeWasm, "--", "exit", "0")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "outside the managed policy") {
		t.Fatalf("a root mount outside the managed policy: exit %d %s", r.code, r.stderr)
	}
}
