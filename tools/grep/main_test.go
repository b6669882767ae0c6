package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func makeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestGrep(t *testing.T) {
	root := makeTree(t, map[string]string{
		"a.go":          "package a\n// TODO: fix\nfunc A() {}\n",
		"b.txt":         "todo list\nnothing\nTODO again\nTODO thrice",
		"sub/c.go":      "package sub\n// TODO(x): y\n",
		"sub/d.md":      "a.b\naxb\n",
		".git/config":   "TODO in git\n",
		"bin.dat":       "TODO\x00binary\n",
		"sub/deep/e.go": "nothing here\n",
	})
	if err := os.Symlink("../a.go", filepath.Join(root, "sub", "link.go")); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(root, filepath.FromSlash(name)) }

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
		code  int
	}{
		{"single file no prefix", []string{"TODO", p("b.txt")}, "", "TODO again\nTODO thrice\n", 0},
		{"line numbers", []string{"-n", "TODO", p("b.txt")}, "", "3:TODO again\n4:TODO thrice\n", 0},
		{"ignore case", []string{"-in", "todo", p("b.txt")}, "", "1:todo list\n3:TODO again\n4:TODO thrice\n", 0},
		{"regexp", []string{"^func [A-Z]", p("a.go")}, "", "func A() {}\n", 0},
		{"fixed string", []string{"-F", "a.b", p("sub/d.md")}, "", "a.b\n", 0},
		{"regexp dot", []string{"a.b", p("sub/d.md")}, "", "a.b\naxb\n", 0},
		{"directory recurses, skips .git, binaries and links", []string{"-n", "TODO", root}, "",
			p("a.go") + ":2:// TODO: fix\n" + p("b.txt") + ":3:TODO again\n" + p("b.txt") + ":4:TODO thrice\n" + p("sub/c.go") + ":2:// TODO(x): y\n", 0},
		{"include", []string{"-rn", "TODO", "--include", "*.go", root}, "",
			p("a.go") + ":2:// TODO: fix\n" + p("sub/c.go") + ":2:// TODO(x): y\n", 0},
		{"repeated include", []string{"-l", "--include=*.md", "--include", "*.txt", "a", root}, "",
			p("b.txt") + "\n" + p("sub/d.md") + "\n", 0},
		{"files only", []string{"-l", "TODO", root}, "", p("a.go") + "\n" + p("b.txt") + "\n" + p("sub/c.go") + "\n", 0},
		{"count skips zero in many files", []string{"-c", "TODO", root}, "",
			p("a.go") + ":1\n" + p("b.txt") + ":2\n" + p("sub/c.go") + ":1\n", 0},
		{"count of one file", []string{"-c", "zzz", p("a.go")}, "", "0\n", 1},
		{"max count", []string{"--max-count", "1", "TODO", p("b.txt")}, "", "TODO again\n", 0},
		{"max count with count", []string{"-c", "--max-count=1", "TODO", p("b.txt")}, "", "1\n", 0},
		{"several files get names", []string{"package", p("a.go"), p("sub/c.go")}, "",
			p("a.go") + ":package a\n" + p("sub/c.go") + ":package sub\n", 0},
		{"explicit symlink is followed", []string{"TODO", p("sub/link.go")}, "", "// TODO: fix\n", 0},
		{"stdin", []string{"-n", "b"}, "a\nb\nc\n", "2:b\n", 0},
		{"flags after operands", []string{"todo", p("b.txt"), "-i", "-c"}, "", "3\n", 0},
		{"dash pattern after --", []string{"-n", "--", "-x", "-"}, "a-x\n-x\n", "1:a-x\n2:-x\n", 0},
		{"no match", []string{"zzz", root}, "", "", 1},
		{"missing path is an error even with matches", []string{"TODO", p("nope"), p("b.txt")}, "",
			p("b.txt") + ":TODO again\n" + p("b.txt") + ":TODO thrice\n", 2},
		{"bad regexp", []string{"(", p("a.go")}, "", "", 2},
		{"missing pattern", nil, "", "", 2},
		{"bad glob", []string{"--include", "[", "x", root}, "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if out.String() != tt.want || code != tt.code {
				t.Errorf("grep %q = %d\n%s\nwant %d\n%s\nstderr: %s", tt.args, code, out.String(), tt.code, tt.want, errOut.String())
			}
			if (code == 2) != (errOut.Len() > 0) {
				t.Errorf("exit %d with stderr %q", code, errOut.String())
			}
		})
	}
}

func TestGrepRecursesCurrentDirectory(t *testing.T) {
	t.Chdir(makeTree(t, map[string]string{"x/y.txt": "hit\n", "z.txt": "miss\n"}))
	var out, errOut bytes.Buffer
	if code := run([]string{"-r", "hit"}, nil, &out, &errOut); code != 0 || out.String() != "x/y.txt:hit\n" {
		t.Errorf("grep -r hit = %d %q %q", code, out.String(), errOut.String())
	}
}

func TestGrepExplicitBinaryFile(t *testing.T) {
	root := makeTree(t, map[string]string{"bin": "hit\x00\n"})
	var out, errOut bytes.Buffer
	code := run([]string{"hit", filepath.Join(root, "bin")}, nil, &out, &errOut)
	if code != 1 || out.Len() != 0 || !strings.Contains(errOut.String(), "binary file skipped") {
		t.Errorf("grep on binary = %d %q %q", code, out.String(), errOut.String())
	}
}

func TestGrepLongLines(t *testing.T) {
	long := strings.Repeat("y", 300<<10)
	root := makeTree(t, map[string]string{"f": "a\n" + long + "needle" + long + "\nneedle\n"})
	var out, errOut bytes.Buffer
	if code := run([]string{"-n", "needle", filepath.Join(root, "f")}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "2:" + long + "needle" + long + "\n3:needle\n"; out.String() != want {
		t.Errorf("got %d bytes, want %d", out.Len(), len(want))
	}
}

func TestGrepHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: grep") {
		t.Errorf("grep -h = %d %q", code, out.String())
	}
}
