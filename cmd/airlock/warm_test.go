//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/wall/walltest"
	"github.com/airlockhq/airlock/internal/warm"
)

// warmServer is `airlock warm serve` on a socket of the test's own.
type warmServer struct {
	t   *testing.T
	env []string // what points a client at it
}

// startWarm starts a warm server for the test, with the test's compile
// cache, and stops it when the test ends.
func startWarm(t *testing.T) *warmServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "warm.sock")
	w := &warmServer{t: t, env: []string{"AIRLOCK_WARM_SOCKET=" + sock, "AIRLOCK_CACHE_DIR=" + cacheDir}}
	cmd := exec.Command(airlockBin, "warm", "serve", "--idle", "0")
	cmd.SysProcAttr = childAttr()
	// With its secret given, the server does not start itself again, and
	// dies with this test (childAttr) even when the test times out.
	cmd.Env = append(os.Environ(), append(w.env, "AIRLOCK_WARM_NONCE="+strings.Repeat("5e", 16))...)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("warm server's log:\n%s", log.String())
		}
	})
	w.waitFor(func(st map[string]string) bool { return st["ready"] == "1" })
	return w
}

// status is what `airlock warm status` says, as key → value (repeated
// keys joined by newlines); nil when no server answers.
func (w *warmServer) status() map[string]string {
	w.t.Helper()
	r := runCLI(w.t, "/", "", w.env, "warm", "status")
	if r.code != 0 {
		return nil
	}
	st := map[string]string{}
	for line := range strings.Lines(r.stdout) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if st[k] != "" {
			v = st[k] + "\n" + v
		}
		st[k] = v
	}
	return st
}

// waitFor polls the status until ok says so (a minute at most).
func (w *warmServer) waitFor(ok func(map[string]string) bool) map[string]string {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if st := w.status(); st != nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the warm server never got there; its status:\n%v", w.status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *warmServer) count(key string) int {
	n, _ := strconv.Atoi(w.status()[key])
	return n
}

// run runs airlock as a client of this server; AIRLOCK_WARM=off in env
// makes it a cold run.
func (w *warmServer) run(dir, stdin string, env []string, args ...string) cliResult {
	w.t.Helper()
	return runCLI(w.t, dir, stdin, append(append([]string(nil), w.env...), env...), args...)
}

// A run handed to a warm worker is the cold run: the same output on both
// streams, the same exit status, the same reading of stdin, arguments and
// environment, in the client's working directory. The server's count of
// runs served proves the warm ones were warm.
func TestWarmRunIsTheColdRun(t *testing.T) {
	w := startWarm(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, stdin string
		env         []string
		args        []string
	}{
		{"args", "", nil, []string{"run", probeWasm, "--", "args", "a b", "c"}},
		{"exit", "", nil, []string{"run", probeWasm, "--", "exit", "7"}},
		{"stdin", "from the client's stdin\n", nil, []string{"run", probeWasm, "--", "stdin"}},
		{"env", "", []string{"WARM_TEST_VAR=from the client"}, []string{"run", "--env", "WARM_TEST_VAR", probeWasm, "--", "env"}},
		{"cwd", "", nil, []string{"run", "--mount", ".:/work", probeWasm, "--", "write", "/work/out.txt", "written"}},
		{"denied", "", nil, []string{"run", "--headless", probeWasm, "--", "write", "/etc/passwd", "x"}},
		{"usage", "", nil, []string{"run", "--no-such-flag", probeWasm}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(dir, "out.txt"))
			cold := w.run(dir, tc.stdin, append([]string{"AIRLOCK_WARM=off"}, tc.env...), tc.args...)
			coldFile, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
			os.Remove(filepath.Join(dir, "out.txt"))
			w.waitFor(func(st map[string]string) bool { return st["ready"] == "1" })
			served := w.count("served")
			warm := w.run(dir, tc.stdin, tc.env, tc.args...)
			warmFile, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
			if got := w.count("served"); got != served+1 {
				t.Fatalf("served %d runs, want %d: the run was not warm", got, served+1)
			}
			if warm.code != cold.code || warm.stdout != cold.stdout || warm.stderr != cold.stderr || !bytes.Equal(warmFile, coldFile) {
				t.Errorf("warm: exit %d, stdout %q, stderr %q, file %q\ncold: exit %d, stdout %q, stderr %q, file %q",
					warm.code, warm.stdout, warm.stderr, warmFile, cold.code, cold.stdout, cold.stderr, coldFile)
			}
		})
	}
}

// exitWasm is the smallest tool: proc_exit(code). Every code below 64
// gives a module of the same size.
func exitWasm(code byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00) // types: (i32)->(), ()->()
	imp := []byte{0x01, 22}
	imp = append(imp, "wasi_snapshot_preview1"...)
	imp = append(imp, 9)
	imp = append(imp, "proc_exit"...)
	imp = append(imp, 0x00, 0x00)
	b = append(b, 0x02, byte(len(imp)))
	b = append(b, imp...)
	b = append(b, 0x03, 0x02, 0x01, 0x01)       // one function of type 1
	b = append(b, 0x05, 0x03, 0x01, 0x00, 0x01) // one page of memory
	exp := []byte{0x02, 6}
	exp = append(exp, "_start"...)
	exp = append(exp, 0x00, 0x01, 6)
	exp = append(exp, "memory"...)
	exp = append(exp, 0x02, 0x00)
	b = append(b, 0x07, byte(len(exp)))
	b = append(b, exp...)
	return append(b, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, code, 0x10, 0x00, 0x0b) // i32.const code; call proc_exit
}

// A worker prepares the module file of the last run ahead of the next,
// and trusts it unchanged only by its identity: a tool that rewrites the
// module with bytes of the same size and puts its modification time back
// still moves its change time, and the next run runs the new bytes.
func TestWarmRunReadsAChangedModuleAgain(t *testing.T) {
	w := startWarm(t)
	dir := t.TempDir()
	wasm := filepath.Join(dir, "tool.wasm")
	if err := os.WriteFile(wasm, exitWasm(0), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(wasm)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the file settles: the worker trusts it (runtime.Preload)
	if r := w.run(dir, "", nil, "run", wasm); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The next worker has the module read and compiled.
	w.waitFor(func(st map[string]string) bool {
		return st["ready"] == "1" && strings.Contains(st["prepares"], wasm)
	})
	if err := os.WriteFile(wasm, exitWasm(3), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(wasm, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	served := w.count("served")
	if r := w.run(dir, "", nil, "run", wasm); r.code != 3 {
		t.Fatalf("exit %d, want 3 (the module as it is now): %s", r.code, r.stderr)
	}
	if w.count("served") != served+1 {
		t.Fatal("the run was not warm")
	}
}

// A client that has less power than the server's workers would have is
// declined, and runs cold, as if no server were up: with no_new_privs and
// a seccomp filter (which is how a process inside a sandbox such as
// Landlock, bubblewrap or a container shows), in another mount namespace,
// with another value of what the Go runtime reads as it starts, as
// another airlock program, or in a cgroup of a v1 hierarchy the worker is
// not in. The run's outcome is the cold run's. A client
// whose sandbox shows in /proc sends nothing: the server it finds has
// more power than it has, so it could as well be a sandboxed process
// listening in the server's place (selfRefuses).
func TestWarmDeclinesAClientWithLessPower(t *testing.T) {
	w := startWarm(t)
	dir := t.TempDir()
	other := filepath.Join(t.TempDir(), "airlock-copy")
	if b, err := os.ReadFile(airlockBin); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(other, b, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", probeWasm, "--", "args", "declined"}
	for _, tc := range []struct {
		name, why   string
		selfRefuses bool
		cmd         func() *exec.Cmd
	}{
		{"no_new_privs and seccomp", "", true, func() *exec.Cmd {
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), walltest.Args(append([]string{airlockBin}, args...)...))
			return c
		}},
		{"mount namespace", "", true, func() *exec.Cmd {
			c := exec.Command(airlockBin, args...)
			c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			return c
		}},
		{"GODEBUG", "another GODEBUG", false, func() *exec.Cmd {
			c := exec.Command(airlockBin, args...)
			c.Env = append(os.Environ(), "GODEBUG=madvdontneed=1")
			return c
		}},
		{"another program", "another airlock program", false, func() *exec.Cmd {
			return exec.Command(other, args...)
		}},
		{"v1 cgroup", "another cgroup", false, func() *exec.Cmd {
			// A pids cgroup of its own (cgroup v1 here): its limit would
			// not hold for a worker, which joins only v2 cgroups.
			cg := "/sys/fs/cgroup/pids/airlock-warm-test"
			os.Mkdir(cg, 0o755)
			t.Cleanup(func() { os.Remove(cg) })
			return exec.Command("/bin/sh", append([]string{"-c", `echo $$ > ` + cg + `/cgroup.procs && exec "$0" "$@"`, airlockBin}, args...)...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "mount namespace" && os.Getuid() != 0 {
				t.Skip("unsharing a mount namespace needs root here")
			}
			if _, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs"); tc.name == "v1 cgroup" && (err != nil || os.Getuid() != 0) {
				t.Skip("no cgroup v1 pids hierarchy to make a cgroup in")
			}
			served, declined := w.count("served"), w.count("declined")
			cmd := tc.cmd()
			cmd.Dir = dir
			cmd.Env = append(append(cmd.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), w.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if string(out) != "declined\n" {
				t.Errorf("stdout %q", out)
			}
			st := w.status()
			if tc.selfRefuses {
				if st["served"] != strconv.Itoa(served) || st["declined"] != strconv.Itoa(declined) {
					t.Fatalf("served %s (was %d), declined %s (was %d): want nothing sent", st["served"], served, st["declined"], declined)
				}
				return
			}
			if st["served"] != strconv.Itoa(served) || st["declined"] != strconv.Itoa(declined+1) {
				t.Fatalf("served %s (was %d), declined %s (was %d): want the run declined", st["served"], served, st["declined"], declined)
			}
			if !strings.Contains(st["declined-because"], tc.why) {
				t.Errorf("declined because %q, want %q", st["declined-because"], tc.why)
			}
		})
	}
}

// Signals the client gets reach the run: Ctrl-C (SIGINT) stops it with
// the cold run's status and words. A client killed outright hangs the run
// up: the worker does not run on without anyone to answer to.
func TestWarmRunGetsTheClientsSignals(t *testing.T) {
	w := startWarm(t)
	dir := t.TempDir()
	start := func() (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		served := w.count("served")
		cmd := exec.Command(airlockBin, "run", "--timeout", "20s", probeWasm, "--", "loop")
		cmd.SysProcAttr = childAttr()
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), w.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.waitFor(func(st map[string]string) bool { n, _ := strconv.Atoi(st["served"]); return n > served })
		time.Sleep(300 * time.Millisecond) // the tool is in its loop
		return cmd, &stderr
	}

	cmd, stderr := start()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Fatalf("after SIGINT: %v, exit %d, want %d: %s", err, code, ExitInterrupted, stderr)
	}
	if !strings.Contains(stderr.String(), "SIGINT") {
		t.Errorf("stderr does not say what stopped the run: %s", stderr)
	}

	cmd, stderr = start()
	cmd.Process.Kill()
	cmd.Wait() // its stderr is closed when the worker holds it no more
	if !strings.Contains(stderr.String(), "SIGHUP") {
		t.Errorf("the run was not hung up: %s", stderr)
	}
	// Only the idle worker is left: the one running the loop has stopped.
	w.waitFor(func(st map[string]string) bool { return st["workers"] == st["idle"] })
}

// The run in a worker asks its questions at the client's terminal: the
// prompt is drawn there, the answer typed there decides, and the audit
// log records it.
func TestWarmRunPromptsAtTheClientsTerminal(t *testing.T) {
	w := startWarm(t)
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	served := w.count("served")
	p := startPane(t, dir, append(env, w.env...), "run", "--policy", "policy.hcl", wasm, "--", "write:/ro/a:1")
	s := p.waitFor("Allow?")
	if got := w.count("served"); got != served+1 {
		t.Fatalf("served %d, want %d: the prompt is not the warm run's:\n%s", got, served+1, s)
	}
	p.keys(pickWrite[approvals.AllowRun]...)
	if code, s := p.exit(); code != 0 || !strings.Contains(s, "write /ro/a ok") {
		t.Fatalf("exit %d:\n%s", code, s)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "ro", "a")); string(got) != "1" {
		t.Errorf("/ro/a holds %q (%v): the answer did not reach the run", got, err)
	}
	recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
	if len(recs) != 1 || recs[0].Source != "user" || recs[0].Answer != approvals.AllowRun.String() {
		t.Errorf("audit records %+v", recs)
	}
}

// The handoff runs before the heavy packages start: their initialisation
// is what a warm run saves. Go starts a package after its imports and, of
// those ready, by import path (package handoff).
func TestHandoffStartsBeforeHeavyPackages(t *testing.T) {
	cmd := exec.Command(airlockBin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var order []string
	line := regexp.MustCompile(`^init (\S+) @`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			order = append(order, m[1])
		}
	}
	io.Copy(io.Discard, stderr)
	cmd.Wait()
	at := func(pkg string) int {
		for i, p := range order {
			if p == pkg {
				return i
			}
		}
		return -1
	}
	handoff := at("github.com/airlockhq/airlock/internal/warm/handoff")
	if handoff < 0 {
		t.Fatalf("no init of package handoff in:\n%s", strings.Join(order, "\n"))
	}
	for _, heavy := range []string{"google.golang.org/grpc", "github.com/charmbracelet/bubbletea",
		"github.com/hashicorp/hcl/v2", "go.opentelemetry.io/otel/sdk/trace", "github.com/modelcontextprotocol/go-sdk/mcp",
		"github.com/tetratelabs/wazero", "go.opentelemetry.io/proto/otlp/trace/v1", "google.golang.org/protobuf/reflect/protoregistry",
		"github.com/airlockhq/airlock/runtime", "github.com/airlockhq/airlock/policy",
		// and what sorts before it, which starts first once ready
		"reflect", "encoding/gob", "crypto/internal/fips140", "compress/flate", "debug/dwarf", "flag"} {
		if i := at(heavy); i >= 0 && i < handoff {
			t.Errorf("%s starts before the handoff (%d < %d)", heavy, i, handoff)
		}
	}
}

// The warm server's folder is airlock's state: a tool given a mount of it
// writes nothing there.
func TestWarmFolderIsNotWritable(t *testing.T) {
	w := startWarm(t)
	sockDir := filepath.Dir(strings.TrimPrefix(w.env[0], "AIRLOCK_WARM_SOCKET="))
	r := w.run(t.TempDir(), "", nil, "run", "--headless", "--mount", sockDir+":/w", probeWasm, "--", "write", "/w/planted", "x")
	if _, err := os.Stat(filepath.Join(sockDir, "planted")); err == nil {
		t.Fatalf("the tool wrote into the warm server's folder: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warm server folder") {
		t.Errorf("exit %d, stderr does not name the warm server folder: %s", r.code, r.stderr)
	}
}

// A worker's preparation that compiles nothing (the module of the last run
// is gone) keeps no engine: the compile cache keeps the private folder it
// makes as it opens for the first compile, and a worker that then ended
// without a run (the server stopped) would leave that folder behind.
func TestWarmPreparationThatCompilesNothingLeavesNoFolder(t *testing.T) {
	// A OneShot engine turns the collector off for its process: not for
	// the rest of this test binary.
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })
	cache := t.TempDir()
	p := &warmPrep{done: map[warm.Hint]bool{}}
	p.prepare(context.Background(), []warm.Hint{{CacheDir: cache, Path: filepath.Join(t.TempDir(), "gone.wasm"), Memory: 64 << 20, Size: 100}})
	if p.eng != nil {
		t.Error("the worker kept an engine in which nothing compiled")
	}
	if procs, _ := filepath.Glob(filepath.Join(cache, "compiled", ".proc-*")); len(procs) != 0 {
		t.Errorf("private folders left by a preparation that compiled nothing: %q", procs)
	}
}
