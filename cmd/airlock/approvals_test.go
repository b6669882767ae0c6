package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/runtime"
)

// The approvals tests drive the airlock binary (built in TestMain) under a
// real pseudo-terminal: tmux, with keystrokes sent by send-keys and the
// screen read by capture-pane. They use the asker guest
// (testdata/asker), built once on first use.

var asker = guestOnce(filepath.Join("testdata", "asker"), "asker")

const roPolicy = `mount "/work" {
  host   = "."
  access = "write"
}

mount "/ro" {
  host   = "ro"
  access = "read"
}

approvals {
  mode    = "%s"
  timeout = "%s"
}
`

// roProject makes a project with a read-only mount at /ro and a policy in
// approval mode mode; it returns the project and an XDG_CONFIG_HOME of
// its own (so no test touches the user's grants).
func roProject(t *testing.T, mode, timeout string) (dir string, env []string) {
	t.Helper()
	dir, _ = project(t)
	if err := os.MkdirAll(filepath.Join(dir, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), fmt.Appendf(nil, roPolicy, mode, timeout), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
}

// pane is airlock running in a tmux session of its own.
type pane struct {
	t    *testing.T
	sock string
}

var paneSeq atomic.Int32

// startPane runs airlock with args in dir, in a new 120x40 tmux session,
// with env added to its environment. When airlock exits, the pane prints
// "[exit N]" and stays until the test ends.
func startPane(t *testing.T, dir string, env []string, args ...string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	// A socket of its own in the test's temporary folder: a server per
	// test, and nothing left behind.
	p := &pane{t: t, sock: filepath.Join(t.TempDir(), fmt.Sprintf("tmux-%d", paneSeq.Add(1)))}
	words := []string{"env", "AIRLOCK_CACHE_DIR=" + cacheDir}
	words = append(words, env...)
	words = append(words, airlockBin)
	words = append(words, args...)
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	shell := strings.Join(quoted, " ") + `; echo "[exit $?]"; sleep 600`
	cmd := exec.Command("tmux", "-S", p.sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "main", "-c", dir, shell)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("starting tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", p.sock, "kill-server").Run() })
	return p
}

func (p *pane) screen() string { return p.capture() }

// capture returns the screen; with "-J", its wrapped lines joined.
func (p *pane) capture(flags ...string) string {
	args := append([]string{"-S", p.sock, "capture-pane", "-p", "-t", "main"}, flags...)
	out, err := exec.Command("tmux", args...).Output()
	if err != nil {
		p.t.Fatalf("capture-pane: %v", err)
	}
	return string(out)
}

// waitFor polls the screen until it contains want, and returns it.
func (p *pane) waitFor(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := p.screen()
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCount polls until want appears n times.
func (p *pane) waitCount(want string, n int) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := p.screen()
		if strings.Count(s, want) >= n {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the screen never showed %q %d times; it shows:\n%s", want, n, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pane) keys(keys ...string) {
	p.t.Helper()
	args := append([]string{"-S", p.sock, "send-keys", "-t", "main"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

var exitRE = regexp.MustCompile(`\[exit (\d+)\]`)

// exit waits for airlock to end and returns its status and the screen.
func (p *pane) exit() (int, string) {
	p.t.Helper()
	s := p.waitFor("[exit ")
	// "[exit 143]" may be caught half drawn, or wrapped at the pane's edge
	// (after a tool's output left the cursor there): read it again with
	// wrapped lines joined.
	m := exitRE.FindStringSubmatch(s)
	for tries := 0; m == nil; tries++ {
		if tries == 100 {
			p.t.Fatalf("the screen shows no exit status:\n%s", s)
		}
		time.Sleep(50 * time.Millisecond)
		s = p.capture("-J")
		m = exitRE.FindStringSubmatch(s)
	}
	n, _ := strconv.Atoi(m[1])
	return n, s
}

// The prompt lists the choices with deny first (selected): these are the
// keystrokes that pick each.
var pick = map[approvals.Choice][]string{
	approvals.Deny:        {"Enter"},
	approvals.AllowOnce:   {"Down", "Enter"},
	approvals.AllowRun:    {"Down", "Down", "Enter"},
	approvals.AlwaysAllow: {"Down", "Down", "Down", "Enter"},
	approvals.AlwaysDeny:  {"Down", "Down", "Down", "Down", "Enter"},
}

// pickWrite is pick for a question about one write of a file, which also
// offers "always allow in folder" after "always allow".
var pickWrite = map[approvals.Choice][]string{
	approvals.Deny:              {"Enter"},
	approvals.AllowOnce:         {"Down", "Enter"},
	approvals.AllowRun:          {"Down", "Down", "Enter"},
	approvals.AlwaysAllow:       {"Down", "Down", "Down", "Enter"},
	approvals.AlwaysAllowFolder: {"Down", "Down", "Down", "Down", "Enter"},
	approvals.AlwaysDeny:        {"Down", "Down", "Down", "Down", "Down", "Enter"},
}

func readAudit(t *testing.T, path string) []approvals.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []approvals.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r approvals.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestPromptChoices answers the huh prompt with keystrokes, once for each
// choice, for a tool that writes twice into a read-only mount.
func TestPromptChoices(t *testing.T) {
	wasm := asker(t)
	cases := []struct {
		choice  approvals.Choice
		prompts int    // how many times the prompt is shown
		second  string // what the second write sees
		file    string // what /ro/a holds afterwards, "" for nothing
		grant   string // the answer remembered in .airlock/grants.hcl
	}{
		{approvals.AllowOnce, 2, "write /ro/a err", "1", ""}, // asked again; Enter denies
		{approvals.AllowRun, 1, "write /ro/a ok", "2", ""},
		{approvals.AlwaysAllow, 1, "write /ro/a ok", "2", "allow"},
		{approvals.Deny, 1, "write /ro/a err", "", ""},
		{approvals.AlwaysDeny, 1, "write /ro/a err", "", "deny"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.choice.String(), " ", "-"), func(t *testing.T) {
			dir, env := roProject(t, "untrusted", "60s")
			p := startPane(t, dir, env, "run", "--policy", "policy.hcl", wasm, "--", "write:/ro/a:1", "write:/ro/a:2")
			s := p.waitFor("Allow?")
			for _, want := range []string{"airlock: asker (", "write /ro/a", `not allowed by: mount "/ro" access = "read" (policy.hcl:6:1)`,
				"> Deny", "Allow once", "Allow for this run", "Always allow", "Always deny"} {
				if !strings.Contains(s, want) {
					t.Errorf("the prompt lacks %q:\n%s", want, s)
				}
			}
			p.keys(pickWrite[c.choice]...)
			if c.prompts == 2 {
				p.waitCount("airlock: "+c.choice.String()+": write /ro/a", 1)
				p.waitFor("Allow?")
				p.keys("Enter")
			}
			code, s := p.exit()
			if code != 0 {
				t.Errorf("exit %d:\n%s", code, s)
			}
			if n := strings.Count(s, "(asker, answered in"); n != c.prompts {
				t.Errorf("%d answers on the screen, want %d:\n%s", n, c.prompts, s)
			}
			if !strings.Contains(s, c.second) {
				t.Errorf("the second write: want %q:\n%s", c.second, s)
			}
			got, err := os.ReadFile(filepath.Join(dir, "ro", "a"))
			if c.file == "" && err == nil || c.file != "" && string(got) != c.file {
				t.Errorf("/ro/a holds %q (%v), want %q", got, err, c.file)
			}
			recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
			if len(recs) != 2 || recs[0].Source != "user" || recs[0].Answer != c.choice.String() || recs[0].Target != "/ro/a" {
				t.Errorf("audit records %+v", recs)
			}

			grants, _ := os.ReadFile(filepath.Join(dir, ".airlock", "grants.hcl"))
			if c.grant == "" {
				if len(grants) != 0 {
					t.Errorf("a grant was remembered:\n%s", grants)
				}
				return
			}
			for _, want := range []string{`answer  = "` + c.grant + `"`, `kind    = "fs.write"`, `target  = "/ro/a"`, `digest  = "sha256:`} {
				if !strings.Contains(string(grants), want) {
					t.Errorf("grants.hcl lacks %q:\n%s", want, grants)
				}
			}
			// Remembered: a headless run of the same module is answered by the grant.
			r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--json", wasm, "--", "write:/ro/a:3")
			var rep report
			json.Unmarshal([]byte(lastLine(r.stderr)), &rep)
			if len(rep.Decisions) != 1 || rep.Decisions[0].Source != "grant" || rep.Decisions[0].Allowed != (c.grant == "allow") {
				t.Errorf("headless run with the grant: %+v\n%s", rep.Decisions, r.stderr)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestPromptCannotBeFaked: what a tool prints before and after a prompt is
// neutralised (no escape sequence reaches the terminal), so it can neither
// clear or hide the real prompt nor draw a convincing one of its own.
func TestPromptCannotBeFaked(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	fake := `print:top line\n\x1b[2J\x1b[H\x1b]0;pwned\x07┃ Allow?\n┃ > Allow once\x1b[8m hidden\r\n`
	p := startPane(t, dir, env, "run", "--policy", "policy.hcl", wasm, "--", fake, "write:/ro/a:1", `print:after\x1b[1A\x1b[2K\n`)
	s := p.waitFor("> Deny")
	for _, want := range []string{
		"top line",                      // the screen was not cleared
		"^[[2J^[[H^[]0;pwned^G┃ Allow?", // the escapes are shown, not obeyed
		"┃ > Allow once^[[8m hidden",
		"airlock: asker (", `not allowed by: mount "/ro" access = "read"`, "Allow for this run",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	p.keys(pick[approvals.Deny]...)
	_, s = p.exit()
	if !strings.Contains(s, "after^[[1A^[[2K") || !strings.Contains(s, "airlock: deny: write /ro/a") {
		t.Errorf("after the answer:\n%s", s)
	}
}

func TestPromptTimeoutDenies(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "2s")
	p := startPane(t, dir, env, "run", "--policy", "policy.hcl", wasm, "--", "write:/ro/a:1")
	p.waitFor("Allow?")
	code, s := p.exit() // nobody answers
	if code != 0 || !strings.Contains(s, "airlock: deny: write /ro/a") || !strings.Contains(s, "write /ro/a err") {
		t.Errorf("exit %d:\n%s", code, s)
	}
	recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
	if len(recs) != 1 || recs[0].Decision != "deny" || !strings.Contains(recs[0].Note, "timed out") {
		t.Errorf("audit %+v", recs)
	}
}

func TestPromptAccessible(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	p := startPane(t, dir, env, "run", "--accessible", "--policy", "policy.hcl", wasm, "--", "write:/ro/a:1")
	s := p.waitFor("Enter a number between 1 and 6")
	for _, want := range []string{"airlock: asker (", "write /ro/a", "1. Deny", "2. Allow once", "5. Always allow in /ro and below", "6. Always deny"} {
		if !strings.Contains(s, want) {
			t.Errorf("accessible prompt lacks %q:\n%s", want, s)
		}
	}
	p.keys("2", "Enter")
	code, s := p.exit()
	if code != 0 || !strings.Contains(s, "write /ro/a ok") {
		t.Errorf("exit %d:\n%s", code, s)
	}
}

// TestHeadless: without a terminal (stdin not a tty), or with --headless,
// nobody is asked and nothing blocks; "ask" becomes approvals.headless.
func TestHeadless(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	pol := filepath.Join(dir, "policy.hcl")
	netPolicy := pol + ".net"
	os.WriteFile(netPolicy, []byte("network {\n  default = \"ask\"\n}\napprovals {\n  mode = \"untrusted\"\n}\n"), 0o644)

	// A write into a read-only mount gets the headless answer: deny.
	r := runCLI(t, dir, "", env, "run", "--policy", pol, "--json", wasm, "--", "write:/ro/a:1")
	if r.code != 0 || !strings.Contains(r.stdout, "write /ro/a err") || r.elapsed > 30*time.Second {
		t.Errorf("headless: exit %d in %v: %s %s", r.code, r.elapsed, r.stdout, r.stderr)
	}
	// --fail-on-deny tells a denial from the tool's own success.
	r = runCLI(t, dir, "", env, "run", "--policy", pol, "--fail-on-deny", wasm, "--", "write:/ro/a:1")
	if r.code != ExitDenied {
		t.Errorf("--fail-on-deny: exit %d, want %d", r.code, ExitDenied)
	}
	// network.default = "ask" becomes the headless answer: deny...
	r = runCLI(t, dir, "", env, "run", "--policy", netPolicy, "--json", wasm, "--", "connect:192.0.2.1:9")
	var rep report
	json.Unmarshal([]byte(lastLine(r.stderr)), &rep)
	if len(rep.Decisions) != 1 || rep.Decisions[0].Allowed || rep.Decisions[0].Source != "headless" {
		t.Errorf("network ask, headless: %+v\n%s", rep.Decisions, r.stderr)
	}

	// Under a terminal, --headless still never prompts.
	p := startPane(t, dir, env, "run", "--headless", "--policy", pol, wasm, "--", "write:/ro/a:1")
	code, s := p.exit()
	if code != 0 || strings.Contains(s, "Allow?") || !strings.Contains(s, "write /ro/a err") {
		t.Errorf("--headless under a terminal: exit %d:\n%s", code, s)
	}
}

// TestPromptNetworkAsk: with network.default = "ask", a connection no rule
// allows is asked about at the moment of use, through airlock's network
// host functions. (192.0.2.1 is TEST-NET-1: never routed, never dialed
// here, since the answer is a deny. Loopback cannot be asked about: it
// needs a rule naming it.)
func TestPromptNetworkAsk(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	os.WriteFile(filepath.Join(dir, "net.hcl"), []byte("network {\n  default = \"ask\"\n}\napprovals {\n  mode = \"untrusted\"\n}\n"), 0o644)
	p := startPane(t, dir, env, "run", "--policy", "net.hcl", wasm, "--", "connect:192.0.2.1:9", "connect:192.0.2.1:9")
	s := p.waitFor("Allow?")
	if !strings.Contains(s, "connect to 192.0.2.1:9") || !strings.Contains(s, `not allowed by: network.default = "ask" (net.hcl:2:3)`) {
		t.Errorf("prompt:\n%s", s)
	}
	p.keys(pick[approvals.AlwaysDeny]...)
	code, s := p.exit()
	if code != 0 || strings.Count(s, "connect 192.0.2.1:9 err") != 2 || strings.Count(s, "answered in") != 1 {
		t.Errorf("exit %d:\n%s", code, s)
	}
	grants, _ := os.ReadFile(filepath.Join(dir, ".airlock", "grants.hcl"))
	if !strings.Contains(string(grants), `kind    = "net.connect"`) || !strings.Contains(string(grants), `target  = "192.0.2.1:9"`) {
		t.Errorf("grants:\n%s", grants)
	}
	r := runCLI(t, dir, "", env, "run", "--policy", "net.hcl", "--json", wasm, "--", "connect:192.0.2.1:9")
	var rep report
	json.Unmarshal([]byte(lastLine(r.stderr)), &rep)
	if len(rep.Decisions) != 1 || rep.Decisions[0].Allowed || rep.Decisions[0].Source != "grant" {
		t.Errorf("remembered: %+v\n%s", rep.Decisions, r.stderr)
	}
}

// TestOnFailureRerun: in on-failure mode the run is strict; when the tool
// fails after a denial, the prompt offers to run it again with exactly
// that granted.
func TestOnFailureRerun(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "on-failure", "60s")
	p := startPane(t, dir, env, "run", "--policy", "policy.hcl", wasm, "--", "write!:/ro/a:1")
	s := p.waitFor("Allow?")
	if !strings.Contains(s, "write /ro/a err") || !strings.Contains(s, "The tool failed after these were denied") {
		t.Errorf("before the rerun:\n%s", s)
	}
	p.keys(pick[approvals.AllowOnce]...)
	code, s := p.exit()
	if code != 0 || !strings.Contains(s, "airlock: running asker again with 1 more capabilities granted") || !strings.Contains(s, "write /ro/a ok") {
		t.Errorf("exit %d:\n%s", code, s)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ro", "a")); string(got) != "1" {
		t.Errorf("/ro/a = %q", got)
	}
}

// TestOnRequestManifest: a tool manifest's requests beyond the policy are
// shown in one prompt before the run; its digest is checked first.
func TestOnRequestManifest(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "on-request", "60s")
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	digest := runtime.NewModule("asker", b).Digest
	toolDir := t.TempDir()
	writeManifest := func(digest string) {
		os.WriteFile(filepath.Join(toolDir, "tool.hcl"), []byte(`tool "asker" {
  description = "asks for things"
  module      = "`+wasm+`"
  digest      = "`+digest+`"
  argv        = ["env:{var}", "write:/ro/out:{text}"]
  input_schema = jsonencode({ type = "object", properties = { var = { type = "string" }, text = { type = "string" } } })
  requests {
    env   = ["AIRLOCK_TEST_USER"]
    write = ["/ro"]
  }
}
`), 0o644)
	}
	writeManifest(digest)
	env = append(env, "AIRLOCK_TEST_USER=alice")
	p := startPane(t, dir, env, "run", "--policy", "policy.hcl", toolDir, "--input", `{"var": "AIRLOCK_TEST_USER", "text": "hi"}`)
	s := p.waitFor("Allow?")
	for _, want := range []string{"The tool's manifest requests", "the host variable AIRLOCK_TEST_USER", "write access to the mount /ro"} {
		if !strings.Contains(s, want) {
			t.Errorf("the start prompt lacks %q:\n%s", want, s)
		}
	}
	p.keys(pick[approvals.AllowOnce]...)
	code, s := p.exit()
	if code != 0 || !strings.Contains(s, "env AIRLOCK_TEST_USER=alice") || !strings.Contains(s, "write /ro/out ok") || strings.Count(s, "answered in") != 1 {
		t.Errorf("exit %d:\n%s", code, s)
	}

	// A module that is not the pinned one does not run.
	writeManifest("sha256:" + strings.Repeat("0", 64))
	r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", toolDir, "--", "env:HOME")
	if r.code != ExitNoModule || !strings.Contains(r.stderr, "refusing to run asker") || strings.Contains(r.stdout, "env") {
		t.Errorf("digest mismatch: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

// TestManagedCeiling: the administrator's policy bounds the project's,
// flags and prompts; what it denies is not even asked about.
func TestManagedCeiling(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	managed := filepath.Join(t.TempDir(), "managed.hcl")
	os.WriteFile(managed, []byte(`mount "/all" {
  host   = "/"
  access = "read"
}

network {
  default = "deny"
}
`), 0o644)
	args := []string{"run", "--policy", "policy.hcl", "--allow-net", "tcp://" + addr, "--json", wasm, "--", "connect:" + addr, "write:/work/x:1"}

	// Without the managed policy: the flag allows the connection, /work is writable.
	r := runCLI(t, dir, "", env, args...)
	if !strings.Contains(r.stdout, `connect `+addr+` ok "hello\n"`) || !strings.Contains(r.stdout, "write /work/x ok") {
		t.Fatalf("without the ceiling: %s %s", r.stdout, r.stderr)
	}
	os.Remove(filepath.Join(dir, "x"))

	// With it: both refused, by the managed layer.
	menv := append(env, "AIRLOCK_MANAGED_POLICY="+managed)
	r = runCLI(t, dir, "", menv, args...)
	var rep report
	json.Unmarshal([]byte(lastLine(r.stderr)), &rep)
	if !strings.Contains(r.stdout, "connect "+addr+" err") || !strings.Contains(r.stdout, "write /work/x err") || len(rep.Decisions) != 2 {
		t.Fatalf("with the ceiling: %s %s", r.stdout, r.stderr)
	}
	for _, d := range rep.Decisions {
		if d.Allowed || !strings.HasPrefix(d.Origin, "managed:"+managed) {
			t.Errorf("decision %+v: want a denial by the managed layer", d)
		}
	}
	// Under a terminal in untrusted mode, the write the managed policy
	// forbids is not asked about.
	p := startPane(t, dir, menv, "run", "--policy", "policy.hcl", wasm, "--", "write:/work/x:1")
	code, s := p.exit()
	if code != 0 || strings.Contains(s, "Allow?") || !strings.Contains(s, "write /work/x err") {
		t.Errorf("exit %d:\n%s", code, s)
	}
	// explain names the layer.
	r = runCLI(t, dir, "", menv, "policy", "explain", "policy.hcl")
	if !strings.Contains(r.stdout, "Layers: managed "+managed) || !strings.Contains(r.stdout, "change nothing (managed:"+managed+":1:1)") {
		t.Errorf("explain:\n%s%s", r.stdout, r.stderr)
	}
	// A managed policy that cannot be read stops airlock.
	r = runCLI(t, dir, "", append(env, "AIRLOCK_MANAGED_POLICY="+managed+".missing"), args...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "Cannot read the managed policy") {
		t.Errorf("missing managed policy: exit %d: %s", r.code, r.stderr)
	}
}

// TestGuestCannotWriteGrants: .airlock is protected, and the grants are
// airlock's own state, so a tool cannot grant itself anything by writing
// the grants file. (The state rule decides first; state_test.go goes on.)
func TestGuestCannotWriteGrants(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "untrusted", "60s")
	grants := filepath.Join(dir, ".airlock", "grants.hcl")
	os.MkdirAll(filepath.Dir(grants), 0o755)
	os.WriteFile(grants, []byte("# empty\n"), 0o644)
	forged := `grant "x" {\n  answer = \"allow\"\n}\n`
	r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", wasm, "--",
		"write:/work/.airlock/grants.hcl:"+forged, "write:/work/.airlock/new.hcl:x")
	if strings.Count(r.stdout, " err ") != 2 {
		t.Errorf("a write into .airlock succeeded: %s", r.stdout)
	}
	if b, _ := os.ReadFile(grants); string(b) != "# empty\n" {
		t.Errorf("grants.hcl changed: %q", b)
	}
	if !strings.Contains(r.stderr, "airlock state: project grants") {
		t.Errorf("no denial by the state rule: %s", r.stderr)
	}
}

// TestAuditSurvivesKill: records already decided are on disk when airlock
// is killed with SIGKILL in the middle of a run.
func TestAuditSurvivesKill(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "never", "60s")
	cmd := exec.Command(airlockBin, "run", "--policy", "policy.hcl", wasm, "--",
		"write:/ro/a:1", "write:/ro/b:2", "write:/work/.git/hooks/pre-commit:x", `print:ready\n`, "loop")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "ready" {
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
	var got []string
	for _, r := range recs {
		got = append(got, r.Decision+" "+r.Target+" "+r.Source)
	}
	want := []string{"deny /ro/a rule", "deny /ro/b rule", "deny /work/.git/hooks/pre-commit rule"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit after SIGKILL: %q, want %q", got, want)
	}
}

// TestAuditOnTimeout: when the wall-time limit abandons a runaway tool, the
// audit log is still closed with every record.
func TestAuditOnTimeout(t *testing.T) {
	wasm := asker(t)
	dir, env := roProject(t, "never", "60s")
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--timeout", "1s", "--audit", audit, wasm, "--", "write:/ro/a:1", "loop")
	if r.code != ExitTimeout {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	if recs := readAudit(t, audit); len(recs) != 1 || recs[0].Target != "/ro/a" {
		t.Errorf("audit %+v", recs)
	}
	if _, err := os.Stat(filepath.Join(dir, ".airlock", "audit.jsonl")); err == nil {
		t.Error("--audit FILE also wrote the default log")
	}
	r = runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--audit=off", wasm, "--", "write:/ro/a:1")
	if _, err := os.Stat(filepath.Join(dir, ".airlock", "audit.jsonl")); err == nil {
		t.Error("--audit=off wrote the default log")
	}
}

func TestGrantsCommand(t *testing.T) {
	dir, env := roProject(t, "never", "60s")
	g, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(dir))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, target := range []string{"api.github.com:443", "/ro/a\x1b[2J"} {
		if err := g.Remember(approvals.Grant{Allow: true, Kind: decision.NetConnect, Target: target, Digest: digest, Tool: "gh"}); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, dir, "", env, "grants", "list")
	id := approvals.GrantID("net.connect", "api.github.com:443", digest)
	if r.code != 0 || !strings.Contains(r.stdout, "(project):") || !strings.Contains(r.stdout, id+"  allow   net.connect  api.github.com:443") ||
		!strings.Contains(r.stdout, "/ro/a^[[2J") || !strings.Contains(r.stdout, "(user): no grants") {
		t.Errorf("list: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, dir, "", env, "grants", "revoke", id); r.code != 0 || r.stdout != "revoked 1 grant\n" {
		t.Errorf("revoke ID: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, dir, "", env, "grants", "revoke", "nope"); r.code != ExitUsage {
		t.Errorf("revoke unknown ID: exit %d", r.code)
	}
	if r = runCLI(t, dir, "", env, "grants", "revoke", "--tool", digest[:19]); r.code != 0 || r.stdout != "revoked 1 grant\n" {
		t.Errorf("revoke --tool: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, dir, "", env, "grants", "revoke", "--all"); r.code != 0 || r.stdout != "revoked 0 grants\n" {
		t.Errorf("revoke --all: %d %q", r.code, r.stdout)
	}
}

// A tool's name comes from its module's file name, which may hold a line
// break: grants list shows it on its one line (^J), so that it cannot start
// a line that reads as airlock's.
func TestGrantsListToolNameOnOneLine(t *testing.T) {
	dir, env := roProject(t, "never", "60s")
	g, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(dir))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := g.Remember(approvals.Grant{Allow: true, Kind: decision.NetConnect, Target: "api.github.com:443",
		Digest: "sha256:" + strings.Repeat("cd", 32), Tool: "gh\nairlock: all clear\t"}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, "", env, "grants", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "gh^Jairlock: all clear^I") {
		t.Errorf("list: exit %d, want the name on one line:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "airlock: all clear") {
			t.Errorf("the tool's name started a line:\n%s", r.stdout)
		}
	}
}
