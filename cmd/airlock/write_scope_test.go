package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/approvals"
)

// The sample write tool writes a temporary file and renames it over its
// target (as editors and Go's atomic writers do). Into a read-only mount
// that is one question naming the target, one decision record, and
// "always allow" remembers the target (this file) or its folder and below,
// for the next run, headless too; grants list shows the scope and grants
// revoke takes either away.
func TestAtomicWriteAsksOnceAboutTheDestination(t *testing.T) {
	writeTool := filepath.Join(repoRoot, "tools", "write")
	input := func(path, content string) string {
		b, _ := json.Marshal(map[string]string{"path": path, "content": content})
		return string(b)
	}
	// The number of Down presses to each choice of a question about one write.
	downs := map[approvals.Choice]int{approvals.AlwaysAllow: 3, approvals.AlwaysAllowFolder: 4}
	for _, c := range []struct {
		choice  approvals.Choice
		scope   string
		target  string
		covered []string // written by a later headless run without asking
		outside []string // still denied
	}{
		{approvals.AlwaysAllow, "exact", "/ro/docs/out.txt", []string{"/ro/docs/out.txt"}, []string{"/ro/docs/other.txt"}},
		{approvals.AlwaysAllowFolder, "folder", "/ro/docs", []string{"/ro/docs/other.txt", "/ro/docs/sub/deep.txt"}, []string{"/ro/top.txt", "/ro/docs2/x.txt"}},
	} {
		t.Run(c.scope, func(t *testing.T) {
			dir, env := roProject(t, "untrusted", "60s")
			for _, d := range []string{"ro/docs/sub", "ro/docs2"} {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
			}
			p := startPane(t, dir, env, "run", "--policy", "policy.hcl", writeTool, "--input", input("/ro/docs/out.txt", "hello"))
			s := p.waitFor("Allow?")
			for _, want := range []string{"write /ro/docs/out.txt  (fs.write rename)", "Always allow this file", "Always allow in /ro/docs and below"} {
				if !strings.Contains(s, want) {
					t.Errorf("the prompt lacks %q:\n%s", want, s)
				}
			}
			if strings.Contains(s, ".tmp") {
				t.Errorf("the prompt names the temporary file:\n%s", s)
			}
			keys := []string{}
			for range downs[c.choice] {
				keys = append(keys, "Down")
			}
			p.keys(append(keys, "Enter")...)
			code, s := p.exit()
			if code != 0 || strings.Count(s, "answered in") != 1 || !strings.Contains(s, "wrote 5 bytes to /ro/docs/out.txt") {
				t.Errorf("exit %d:\n%s", code, s)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "ro/docs/out.txt")); string(b) != "hello" {
				t.Errorf("ro/docs/out.txt = %q", b)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, "ro/docs")); len(ents) != 2 { // out.txt and sub
				t.Errorf("ro/docs holds %v", ents)
			}
			recs := readAudit(t, filepath.Join(dir, ".airlock", "audit.jsonl"))
			if len(recs) != 1 || recs[0].Target != "/ro/docs/out.txt" || recs[0].Op != "rename" || recs[0].Answer != c.choice.String() {
				t.Errorf("audit: %+v", recs)
			}

			// grants list shows the scope.
			r := runCLI(t, dir, "", env, "grants", "list")
			row := regexp.MustCompile(`(?m)^  ([0-9a-f]{8})\s+allow\s+fs\.write\s+` + regexp.QuoteMeta(c.target) + `\s+` + c.scope + `\s`).FindStringSubmatch(r.stdout)
			if row == nil {
				t.Fatalf("grants list:\n%s%s", r.stdout, r.stderr)
			}

			// A later headless run: what the grant covers is written
			// without a question, the rest is denied.
			for _, path := range append(append([]string{}, c.covered...), c.outside...) {
				covered := !strings.Contains(strings.Join(c.outside, " "), path)
				r := runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", "--json", writeTool, "--input", input(path, "again"))
				var rep report
				json.Unmarshal([]byte(lastLine(r.stderr)), &rep)
				got, _ := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(path, "/")))
				switch {
				case covered && (r.code != 0 || string(got) != "again" || len(rep.Decisions) != 1 || rep.Decisions[0].Source != "grant"):
					t.Errorf("%s, covered by the grant: exit %d %q %+v\n%s", path, r.code, got, rep.Decisions, r.stderr)
				case !covered && (r.code == 0 || got != nil || len(rep.Decisions) != 1 || rep.Decisions[0].Source != "headless"):
					t.Errorf("%s, not covered: exit %d %q %+v\n%s", path, r.code, got, rep.Decisions, r.stderr)
				}
			}

			// Revoked, the next headless run is denied again.
			if r := runCLI(t, dir, "", env, "grants", "revoke", row[1]); r.code != 0 || r.stdout != "revoked 1 grant\n" {
				t.Fatalf("revoke: %d %q %s", r.code, r.stdout, r.stderr)
			}
			r = runCLI(t, dir, "", env, "run", "--policy", "policy.hcl", writeTool, "--input", input(c.covered[0], "third"))
			if b, _ := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(c.covered[0], "/"))); r.code == 0 || string(b) == "third" {
				t.Errorf("after revoke: exit %d, file %q", r.code, b)
			}
		})
	}
}
