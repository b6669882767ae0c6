package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCIDoc runs what docs/ci.md tells CI to run: its policy passes
// airlock policy check, and its airlock run line, with a tool in place of
// tools/lint, exits 126 when a capability was denied and 0 when none was,
// writing the report and the audit log it keeps as an artifact.
func TestCIDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "ci.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)<!-- snippet: ([a-z-]+) -->\n```[a-z]+\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		snippets[m[1]] = m[2]
	}
	dir, _ := project(t)
	os.MkdirAll(filepath.Join(dir, ".airlock"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, ".airlock", "ci.hcl"), []byte(snippets["ci-policy"]), 0o644); err != nil {
		t.Fatal(err)
	}
	var check, run []string
	for _, line := range strings.Split(snippets["ci-workflow"], "\n") {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "run: airlock ")
		switch {
		case ok && strings.HasPrefix(cmd, "policy check"):
			check = strings.Fields(cmd)
		case ok && strings.HasPrefix(cmd, "run "):
			run = strings.Fields(cmd)
		}
	}
	if check == nil || run == nil {
		t.Fatalf("the workflow has no airlock policy check or airlock run step:\n%s", snippets["ci-workflow"])
	}
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	if r := runCLI(t, dir, "", env, check...); r.code != 0 {
		t.Fatalf("airlock %s: exit %d: %s", strings.Join(check, " "), r.code, r.stderr)
	}
	for _, c := range []struct {
		action string
		code   int
		denied int
	}{
		{"write:/work/out.txt:x", ExitDenied, 1}, // the checkout is read-only in CI
		{`print:fine\n`, 0, 0},
	} {
		var args []string
		for _, w := range run {
			if w == "tools/lint" {
				w = asker(t)
			}
			args = append(args, w)
			if w == "--" {
				break
			}
		}
		args = append(args, c.action)
		for _, f := range []string{"airlock-report.json", "airlock-audit.jsonl"} {
			os.Remove(filepath.Join(dir, f))
		}
		r := runCLI(t, dir, "", env, args...)
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d: %s%s", c.action, r.code, c.code, r.stdout, r.stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, "airlock-report.json"))
		var rep report
		if err != nil || json.Unmarshal(b, &rep) != nil || rep.Denied != c.denied {
			t.Errorf("%s: report %s (%v)", c.action, b, err)
		}
		if c.denied > 0 {
			if recs := readAudit(t, filepath.Join(dir, "airlock-audit.jsonl")); len(recs) != 1 || recs[0].Decision != "deny" || recs[0].Target != "/work/out.txt" {
				t.Errorf("%s: audit %+v", c.action, recs)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "out.txt")); err == nil {
			t.Error("the CI policy let the tool write the checkout")
		}
	}
}
