//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

// TestEveryPromptEndsInARecord opens a real prompt under tmux and ends it
// each way a prompt can end; each must leave exactly one decision, in the
// audit log and in the --json report, saying how it ended.
func TestEveryPromptEndsInARecord(t *testing.T) {
	wasm := asker(t)
	netPolicy := "network {\n  default = \"ask\"\n}\napprovals {\n  mode = \"untrusted\"\n}\n"
	cases := []struct {
		name    string
		timeout string   // approvals.timeout
		flags   []string // more airlock run flags
		policy  string   // a policy of its own, else the read-only one
		actions []string
		end     func(t *testing.T, p *pane) // ends the prompt
		code    int                         // airlock's exit status; -1: any but 0
		ended   decision.Ended
		allowed bool
		screen  string // the line left on the terminal
	}{
		{name: "answered", timeout: "60s", actions: []string{"write:/ro/a:1"},
			end: func(t *testing.T, p *pane) { p.keys(pick[approvals.AllowOnce]...) }, ended: decision.EndedAnswered, allowed: true,
			screen: "airlock: allow once: write /ro/a (asker, answered in"},
		{name: "timed-out", timeout: "2s", actions: []string{"write:/ro/a:1"},
			end: func(*testing.T, *pane) {}, ended: decision.EndedTimedOut,
			screen: "airlock: deny: write /ro/a (asker, no answer: timed out after"},
		// The tool's own HTTP timeout (2s) gives up on the request while
		// its connection is being asked about: the question is withdrawn.
		// (192.0.2.1 is TEST-NET-1: never dialed, since nobody allows it.)
		{name: "cancelled", timeout: "60s", policy: netPolicy, actions: []string{"http:2s:http://192.0.2.1:9/", `print:after\n`},
			end: func(*testing.T, *pane) {}, ended: decision.EndedCancelled,
			screen: "airlock: deny: connect to 192.0.2.1:9 (asker, no answer: the tool withdrew its request after"},
		{name: "interrupted", timeout: "60s", actions: []string{"write:/ro/a:1"},
			end: func(t *testing.T, p *pane) { p.keys("C-c") }, code: ExitInterrupted, ended: decision.EndedInterrupted,
			screen: "airlock: deny: write /ro/a (asker, interrupted after"},
		// In accessible mode the terminal is not raw: ctrl+c is SIGINT.
		{name: "interrupted-sigint", timeout: "60s", flags: []string{"--accessible"}, actions: []string{"write:/ro/a:1"},
			end: func(t *testing.T, p *pane) { p.keys("C-c") }, code: ExitInterrupted, ended: decision.EndedInterrupted},
		// The run's own time limit ends the run while the prompt is open.
		{name: "run-ended-timeout", timeout: "60s", flags: []string{"--timeout", "3s"}, actions: []string{"write:/ro/a:1"},
			end: func(*testing.T, *pane) {}, code: ExitTimeout, ended: decision.EndedRunEnded,
			screen: "airlock: deny: write /ro/a (asker, no answer: the run's time limit passed before an answer"},
		// The tool exits while a request it made is being asked about.
		{name: "run-ended-exit", timeout: "60s", policy: netPolicy, actions: []string{"http&:http://192.0.2.1:9/", "sleep:3s"},
			end: func(*testing.T, *pane) {}, ended: decision.EndedRunEnded,
			screen: "airlock: deny: connect to 192.0.2.1:9 (asker, no answer: the tool's run ended before an answer"},
		{name: "run-ended-sigterm", timeout: "60s", actions: []string{"write:/ro/a:1"},
			end: func(t *testing.T, p *pane) {
				if err := syscall.Kill(p.airlockPID(), syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}, code: -1, ended: decision.EndedRunEnded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, env := roProject(t, "untrusted", c.timeout)
			pol := "policy.hcl"
			if c.policy != "" {
				pol = "own.hcl"
				os.WriteFile(filepath.Join(dir, pol), []byte(c.policy), 0o644)
			}
			reportFile := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"run", "--policy", pol, "--json=" + reportFile}, c.flags...)
			args = append(append(args, wasm, "--"), c.actions...)
			p := startPane(t, dir, env, args...)
			p.waitFor("Allow?")
			if c.name == "interrupted-sigint" {
				p.waitFor("Enter a number")
			}
			c.end(t, p)
			code, s := p.exit()
			if c.code >= 0 && code != c.code || c.code < 0 && code == 0 {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, s)
			}
			if c.screen != "" && !strings.Contains(s, c.screen) {
				t.Errorf("the screen lacks %q:\n%s", c.screen, s)
			}
			recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
			if len(recs) != 1 || recs[0].Ended != string(c.ended) || recs[0].Source != "user" || (recs[0].Decision == "allow") != c.allowed {
				t.Fatalf("audit records: %+v\nwant one, ended %q", recs, c.ended)
			}
			b, err := os.ReadFile(reportFile)
			if err != nil {
				t.Fatalf("no report: %v\n%s", err, s)
			}
			var rep report
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Decisions) != 1 || rep.Decisions[0].Ended != c.ended || rep.Decisions[0].Allowed != c.allowed {
				t.Errorf("report decisions: %+v", rep.Decisions)
			}
			if c.name == "cancelled" && !strings.Contains(s, "after") {
				t.Errorf("the tool did not carry on after its request was withdrawn:\n%s", s)
			}
		})
	}
}

// airlockPID is the process id of the airlock that the pane's shell runs.
func (p *pane) airlockPID() int {
	p.t.Helper()
	out, err := exec.Command("tmux", "-S", p.sock, "display-message", "-p", "-t", "main", "#{pane_pid}").Output()
	if err != nil {
		p.t.Fatal(err)
	}
	shell := strings.TrimSpace(string(out))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		kids, _ := filepath.Glob(fmt.Sprintf("/proc/%s/task/*/children", shell))
		for _, k := range kids {
			b, _ := os.ReadFile(k)
			for _, f := range strings.Fields(string(b)) {
				if exe, _ := os.Readlink("/proc/" + f + "/exe"); exe == airlockBin {
					n, _ := strconv.Atoi(f)
					return n
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatal("the pane runs no airlock")
	return 0
}
