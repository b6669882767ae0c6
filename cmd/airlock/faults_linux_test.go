package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/tmpfstest"
)

// The fault tests inject each fault for real, from outside, into the real
// binary: a full filesystem (a 64 KiB tmpfs) under the audit log, signals
// sent to the process, and a pipe whose reader has gone.

// tcpWitness is a TCP server on 127.0.0.1 that greets each connection with a
// line and counts them: the host side's proof of whether a connection was
// made.
type tcpWitness struct {
	addr    string
	accepts atomic.Int32
}

func newTCPWitness(t *testing.T) *tcpWitness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &tcpWitness{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.accepts.Add(1)
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	return w
}

// fullAudit makes an audit log on a tmpfs that is then filled: the log
// holds one whole record ending 40 bytes before a page boundary, so the
// next record is cut short by the kernel where the page ends (the torn
// record of issue 16) and any later one fails at once.
func fullAudit(t *testing.T) (path, filler string) {
	t.Helper()
	dir := tmpfstest.Mount(t, 64<<10)
	path = filepath.Join(dir, "audit.jsonl")
	rec := approvals.AuditRecord{Time: time.Now(), Run: "0000000000000000", Tool: "earlier", Kind: decision.FSWrite,
		Op: "open", Target: "/ro/earlier", Decision: "deny", Source: "rule"}
	line, _ := json.Marshal(rec)
	rec.Note = strings.Repeat("n", 4096-40-len(line)-len(`,"note":""`)-1)
	line, _ = json.Marshal(rec)
	if err := os.WriteFile(path, append(line, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 4096-40 {
		t.Fatalf("the earlier record is %d bytes, want %d", fi.Size(), 4096-40)
	}
	return path, tmpfstest.Fill(t, dir)
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the report was not written: %v", err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report %s: %v", b, err)
	}
	return rep
}

// TestAuditFullDiskStopsTheRun: with the audit log on a full filesystem, a
// connection the policy allows is not made (the tcpWitness sees nothing),
// the run stops with ExitAuditFailed and one line saying why, the log
// holds only whole records, and the report says what happened.
func TestAuditFullDiskStopsTheRun(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "never", "60s")
	w := newTCPWitness(t)
	audit, _ := fullAudit(t)
	rep := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--allow-net", "tcp://"+w.addr,
		"--audit", audit, "--json="+rep, wasm, "--", "connect:"+w.addr, "write:/work/after:x")
	if r.code != ExitAuditFailed {
		t.Fatalf("exit %d, want %d; stdout %s stderr %s", r.code, ExitAuditFailed, r.stdout, r.stderr)
	}
	if n := w.accepts.Load(); n != 0 {
		t.Errorf("the tcpWitness accepted %d connections: a decision that could not be recorded took effect", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "after")); err == nil {
		t.Error("the tool went on writing after a decision could not be recorded")
	}
	var why []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.Contains(l, "could not be recorded") {
			why = append(why, l)
		}
	}
	if len(why) != 1 || !strings.HasPrefix(why[0], "airlock: ") || !strings.Contains(why[0], "no space left on device") ||
		!strings.Contains(why[0], `approvals.audit_failure = "stop"`) {
		t.Errorf("want one line saying why, got:\n%s", r.stderr)
	}
	recs := readAudit(t, audit) // fails the test on a torn line
	if len(recs) != 1 || recs[0].Tool != "earlier" {
		t.Errorf("audit log: %+v, want the earlier record alone", recs)
	}
	got := readReport(t, rep)
	if got.AuditError == "" || len(got.Decisions) == 0 || got.Decisions[0].Source != "unrecorded" || got.Decisions[0].Allowed {
		t.Errorf("report: %+v", got)
	}
}

// TestAuditFullDiskContinue: approvals.audit_failure = "continue" lets the
// run go on, says so once, and leaves the log whole; a managed "stop"
// cannot be relaxed by it.
func TestAuditFullDiskContinue(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "never", "60s")
	pol, _ := os.ReadFile(filepath.Join(dir, "policy.hcl"))
	pol = bytes.Replace(pol, []byte("approvals {\n"), []byte("approvals {\n  audit_failure = \"continue\"\n"), 1)
	os.WriteFile(filepath.Join(dir, "policy.hcl"), pol, 0o644)
	w := newTCPWitness(t)
	audit, _ := fullAudit(t)
	args := []string{"run", "--policy", "policy.hcl", "--allow-net", "tcp://" + w.addr, "--audit", audit, wasm, "--",
		"connect:" + w.addr, "write:/ro/a:1", "write:/ro/b:2"}
	r := runCLI(t, dir, "", env, args...)
	if r.code != 0 || w.accepts.Load() != 1 || !strings.Contains(r.stdout, "ok \"hello\\n\"") {
		t.Fatalf("continue: exit %d, %d connections; stdout %s stderr %s", r.code, w.accepts.Load(), r.stdout, r.stderr)
	}
	if n := strings.Count(r.stderr, "the run goes on, its decisions unrecorded"); n != 1 {
		t.Errorf("said %d times, want once:\n%s", n, r.stderr)
	}
	readAudit(t, audit)

	managed := filepath.Join(t.TempDir(), "managed.hcl")
	os.WriteFile(managed, []byte("approvals {\n  audit_failure = \"stop\"\n}\n"), 0o644)
	before := w.accepts.Load()
	r = runCLI(t, dir, "", append(env, "AIRLOCK_MANAGED_POLICY="+managed), args...)
	if r.code != ExitAuditFailed || w.accepts.Load() != before {
		t.Errorf("managed stop: exit %d, %d new connections; stderr %s", r.code, w.accepts.Load()-before, r.stderr)
	}
	readAudit(t, audit)
}

// TestAuditUnopenable: an audit log that cannot even be opened (its
// filesystem went read-only) means no decision can be recorded: the tool
// does not run, and the --json report still says why.
func TestAuditUnopenable(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "never", "60s")
	ro := tmpfstest.Mount(t, 16<<10)
	tmpfstest.ReadOnly(t, ro)
	rep := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--audit", filepath.Join(ro, "audit.jsonl"),
		"--json="+rep, wasm, "--", "write:/work/x:1")
	if r.code != ExitAuditFailed || r.stdout != "" || !strings.Contains(r.stderr, "no decision could be recorded, so the tool did not run") {
		t.Fatalf("exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("the tool ran")
	}
	if got := readReport(t, rep); got.Reason != reasonNotRun || !strings.Contains(got.Error, "read-only file system") {
		t.Errorf("report: %+v", got)
	}
}

// startRun starts airlock on the asker guest with args after "--", waits
// until the guest printed "ready", and returns the process and its stderr.
func startRun(t *testing.T, dir string, env []string, flags []string, toolArgs ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	args := append([]string{"run"}, flags...)
	args = append(append(args, asker(t), "--"), toolArgs...)
	cmd := exec.Command(airlockBin, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
	}
	go io.Copy(io.Discard, out)
	return cmd, stderr
}

// TestSignalsEndTheRun: SIGTERM, SIGHUP and SIGINT each end a run as
// Ctrl-C does: the tool acts no more, the audit log keeps what was decided,
// the --json report is written and names the signal, and the exit status
// is 128 + the signal's number.
func TestSignalsEndTheRun(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGTERM, "SIGTERM", ExitTerminated},
		{syscall.SIGHUP, "SIGHUP", ExitHangup},
		{syscall.SIGINT, "SIGINT", ExitInterrupted},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, env := roProject(t, "never", "60s")
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			rep := filepath.Join(t.TempDir(), "r.json")
			cmd, stderr := startRun(t, dir, env, []string{"--policy", "policy.hcl", "--audit", audit, "--json=" + rep},
				"write:/ro/a:1", `print:ready\n`, "sleep:3s", "write:/work/late:x")
			sent := time.Now()
			cmd.Process.Signal(c.sig)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr)
			}
			if el := time.Since(sent); el > 2500*time.Millisecond {
				t.Errorf("took %v to end after %s", el, c.name)
			}
			if !strings.Contains(stderr.String(), "airlock: interrupted by "+c.name) {
				t.Errorf("stderr %s", stderr)
			}
			// The tool was stopped before its next step: wait past it.
			time.Sleep(time.Until(sent.Add(3500 * time.Millisecond)))
			if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
				t.Errorf("the tool wrote after %s", c.name)
			}
			recs := readAudit(t, audit)
			if len(recs) != 1 || recs[0].Target != "/ro/a" || recs[0].Decision != "deny" {
				t.Errorf("audit: %+v", recs)
			}
			got := readReport(t, rep)
			if got.Reason != "canceled" || got.Signal != c.name || len(got.Decisions) != 1 || got.Decisions[0].Target != "/ro/a" {
				t.Errorf("report: %+v", got)
			}
		})
	}
}

// TestSignalBeforeTheRunKeepsTheReport: a signal while the module is still
// being compiled ends airlock with the signal's status, and --json=FILE is
// written all the same, with reason "not-run".
func TestSignalBeforeTheRunKeepsTheReport(t *testing.T) {
	dir, _ := project(t)
	rep := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.Command(airlockBin, "run", "--json="+rep, probeWasm, "--", "exit", "0")
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+t.TempDir()) // cold: it must compile
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitTerminated {
		t.Fatalf("exit %d, want %d: %s", code, ExitTerminated, out)
	}
	got := readReport(t, rep)
	if got.Reason != reasonNotRun || got.Signal != "SIGTERM" || got.Error != "interrupted by SIGTERM" || got.Tool != "probe" {
		t.Errorf("report: %+v", got)
	}
}

// TestClosedPipeKeepsTheReport: airlock's stdout is a real pipe whose
// reader goes away after one line (as with `| head -1`): the run ends with
// status 141, like a program killed by SIGPIPE, but --json=FILE is written
// and the audit log closed whole.
func TestClosedPipeKeepsTheReport(t *testing.T) {
	dir, env := roProject(t, "never", "60s")
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	rep := filepath.Join(t.TempDir(), "r.json")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(airlockBin, "run", "--policy", "policy.hcl", "--audit", audit, "--json="+rep, asker(t), "--",
		"write:/ro/a:1", `print:first line\n`, "sleep:200ms",
		"print:"+strings.Repeat(`more output\n`, 2000), "sleep:200ms", "print:"+strings.Repeat(`more output\n`, 2000),
		"write:/work/late:x")
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	cmd.Stdout = pw
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	pw.Close() // the child holds the only writer
	br := bufio.NewReader(pr)
	br.ReadString('\n') // write /ro/a err …
	line, err := br.ReadString('\n')
	pr.Close() // the reader goes away, as head does
	if err != nil || line != "first line\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("airlock did not end after its stdout closed; stderr %s", stderr)
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitBrokenPipe {
		t.Fatalf("exit %d (%v), want %d; stderr %s", code, cmd.ProcessState, ExitBrokenPipe, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		t.Error("the tool went on after its output closed")
	}
	got := readReport(t, rep)
	if got.Reason != "canceled" || got.Signal != "SIGPIPE" || len(got.Decisions) != 1 {
		t.Errorf("report: %+v", got)
	}
	if recs := readAudit(t, audit); len(recs) != 1 {
		t.Errorf("audit: %+v", recs)
	}
	if !strings.Contains(stderr.String(), "airlock: stopped: the output is a closed pipe (SIGPIPE)") {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestReportOnEveryExitPath: --json=FILE is written when airlock stops
// before the tool runs, too: a malformed policy, a module that does not
// exist.
func TestReportOnEveryExitPath(t *testing.T) {
	dir, _ := project(t)
	os.WriteFile(filepath.Join(dir, "bad.hcl"), []byte("mount \"/work\" {\n  acces = \"write\"\n}\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--policy", "bad.hcl", probeWasm}, ExitUsage, "bad.hcl:2:3: error: Unsupported argument"},
		{[]string{filepath.Join(dir, "missing.wasm")}, ExitNoModule, "missing.wasm"},
	} {
		rep := filepath.Join(t.TempDir(), "r.json")
		args := append([]string{"run", "--json=" + rep}, c.args...)
		r := runCLI(t, dir, "", nil, append(args, "--", "exit", "0")...)
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d: %s", c.args, r.code, c.code, r.stderr)
			continue
		}
		got := readReport(t, rep)
		if got.Reason != reasonNotRun || !strings.Contains(got.Error, c.want) || fmt.Sprint(got.Args) != "[exit 0]" {
			t.Errorf("%v: report %+v, want reason not-run and an error with %q", c.args, got, c.want)
		}
	}
}
