package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository, two folders up from this package.
const root = "../.."

var (
	heading = regexp.MustCompile(`(?m)^#{2,3} (.+)$`)
	// A citation: RATIONALE (or RATIONALE.md), then within a few words a
	// quoted title, as in `RATIONALE.md, "Why …?"`.
	citation = regexp.MustCompile(`RATIONALE(?:\.md)?[^"“.;]{0,20}["“]([^"”]+)["”]`)
	// Inside RATIONALE.md, a section cites another by its quoted title.
	whyQuote = regexp.MustCompile(`["“](Why [^"”]+\?)["”]`)
	// What continues a comment or a wrapped line: joined before matching,
	// so that a citation may span lines.
	continuation = regexp.MustCompile(`\s*\n\s*(?://|#|\*)?\s*`)
)

// TestRationaleCitations: every section title that code, docs or
// RATIONALE.md itself cite exists in RATIONALE.md, so that a newcomer
// following a citation finds the section (titles change when sections
// are merged or reworded).
func TestRationaleCitations(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "RATIONALE.md"))
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(text), -1) {
		titles[strings.TrimSpace(m[1])] = true
	}
	if len(titles) < 50 {
		t.Fatalf("found %d headings in RATIONALE.md; is it still there?", len(titles))
	}
	cited := 0
	check := func(file, title string) {
		if strings.Contains(title, "…") { // "Why …?", the form of a title
			return
		}
		cited++
		if !titles[title] {
			t.Errorf("%s cites RATIONALE.md, %q, which has no such section", file, title)
		}
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".go", ".md", ".hcl", ".sh", ".yml", ".h", ".c":
		default:
			if filepath.Base(filepath.Dir(path)) != ".ci" {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == filepath.Join("internal", "archtest", "rationale_test.go") {
			return nil // its patterns, not citations
		}
		flat := continuation.ReplaceAllString(string(b), " ")
		if rel == "RATIONALE.md" {
			for _, m := range whyQuote.FindAllStringSubmatch(flat, -1) {
				check(rel, m[1])
			}
			return nil
		}
		for _, m := range citation.FindAllStringSubmatch(flat, -1) {
			check(rel, strings.TrimSpace(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited < 20 {
		t.Errorf("found only %d citations: is the pattern still right?", cited)
	}
}

// TestEveryArrowHasAReason: each package that TestPackageArrows knows has
// a row in RATIONALE.md's "Package arrows" table naming every import it is
// allowed (directly, or as "what `X` imports"), with the reason.
func TestEveryArrowHasAReason(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "RATIONALE.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "\n### Package arrows\n")
	if !ok {
		t.Fatal(`RATIONALE.md has no section "Package arrows"`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	rows := map[string][3]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		rows[pkg] = [3]string{cells[2], cells[3]}
	}
	named := regexp.MustCompile("`([a-z/]+)`")
	for pkg, may := range allowed {
		row, ok := rows[pkg]
		if !ok {
			t.Errorf("package %s has no row in RATIONALE.md, \"Package arrows\"", pkg)
			continue
		}
		in := map[string]bool{}
		for _, m := range named.FindAllStringSubmatch(row[0], -1) {
			in[m[1]] = true
		}
		if _, via, ok := strings.Cut(row[0], "what `"); ok {
			via, _, _ = strings.Cut(via, "`")
			for _, p := range allowed[via] {
				in[p] = true
			}
		}
		for _, p := range may {
			if !in[p] {
				t.Errorf("%s may import %s, but its row in \"Package arrows\" does not say so", pkg, p)
			}
		}
		if len(strings.TrimSpace(row[1])) < 20 {
			t.Errorf("%s's row in \"Package arrows\" gives no reason", pkg)
		}
	}
}
