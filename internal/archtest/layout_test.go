package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment: each package says what it owns.
func TestEveryPackageHasADocComment(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", module+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("%s has no package comment", pkg)
		}
	}
}

// TestLayoutTableMatches: the README's layout table has a row for every
// top-level folder that holds Go packages, and no row for a folder that
// is not there.
func TestLayoutTableMatches(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(table, -1) {
		folder := strings.TrimSuffix(m[1], "/")
		rows[folder] = true
		if _, err := os.Stat(filepath.Join(root, folder)); err != nil {
			t.Errorf("README's layout table names %s, which is not there", m[1])
		}
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", module+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(pkg, module)
		top, _, _ := strings.Cut(rel, "/")
		if !rows[top] && !rows[rel] && !(top == "cmd" && rows["cmd/airlock"]) {
			t.Errorf("README's layout table has no row for %s/ (package %s)", top, rel)
		}
	}
}
