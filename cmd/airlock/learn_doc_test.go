package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLearnDoc runs the walk-through of docs/learn.md as written, each
// command line in a shell, in a project like the one it describes, with
// ./tools the sample tools; then the file it learned holds the mounts the
// document shows, and airlock policy explain says what it shows.
func TestLearnDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "learn.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := func(name string) string {
		m := regexp.MustCompile("(?s)<!-- (?:snippet|example): " + name + " -->\n```[a-z]+\n(.*?)```").FindStringSubmatch(string(doc))
		if m == nil {
			t.Fatalf("docs/learn.md has no %s block", name)
		}
		return m[1]
	}
	// The project the document describes.
	dir := filepath.Join(t.TempDir(), "proj")
	for name, body := range map[string]string{
		"src/main.go":    "package main\n\n// TODO: write main\nfunc main() {}\n",
		"docs/README.md": "TODO: docs\n",
		"out/.keep":      "",
		".git/HEAD":      "ref: refs/heads/main\n",
		".env":           "API_KEY=do-not-leak\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	if err := os.Symlink(airlockBin, filepath.Join(bin, "airlock")); err != nil {
		t.Fatal(err)
	}
	env := append(learnEnv(t), "AIRLOCK_CACHE_DIR="+cacheDir, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, line := range strings.Split(block("learn-walkthrough"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(line, "./tools/", filepath.Join(repoRoot, "tools")+"/"))
		cmd.SysProcAttr = childAttr()
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	learned, err := os.ReadFile(filepath.Join(dir, ".airlock", "grep.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(block("learned-file"), "\n") {
		if strings.HasPrefix(line, "mount ") || strings.HasPrefix(line, "  host") || strings.HasPrefix(line, "  access") ||
			strings.Contains(line, "PWD =") || strings.HasPrefix(line, "# read ") || strings.HasPrefix(line, "# wrote ") {
			if !strings.Contains(string(learned), line) {
				t.Errorf("the learned file lacks the document's line %q:\n%s", line, learned)
			}
		}
	}
	r := runCLI(t, dir, "", learnEnv(t), "policy", "explain", ".airlock/grep.hcl")
	for _, want := range []string{
		"  mount /work/src (read): read /work/src (stat), first of 2 paths used here",
		"  mount /work/out (write): wrote /work/out/notes.txt (rename), first of 2 paths used here",
	} {
		if !strings.Contains(string(doc), want) || !strings.Contains(r.stdout, want) {
			t.Errorf("explain and the document should both say %q:\n%s", want, r.stdout)
		}
	}
}
