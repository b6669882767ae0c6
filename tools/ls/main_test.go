package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeTree creates files (and, for names ending in "/", directories) under a
// new temporary directory and returns it.
func makeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runLs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestLs(t *testing.T) {
	root := makeTree(t, map[string]string{
		"b.txt":          "hello",
		"a.go":           "package a\n",
		".env":           "SECRET=1",
		"src/main.go":    "package main\n",
		"src/util/u.go":  "package util\n",
		".git/HEAD":      "ref: refs/heads/main\n",
		"empty/":         "",
		"src/.hidden/x":  "x",
		"many/1":         "",
		"many/2":         "",
		"many/3":         "",
		"many/4":         "",
		"many/5/deep.go": "",
	})
	if err := os.Symlink("a.go", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	r := func(p string) string { return filepath.Join(root, p) }

	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"plain", []string{root}, "a.go\nb.txt\nempty/\nlink@\nmany/\nsrc/\n", 0},
		{"all", []string{"-a", root}, ".env\n.git/\na.go\nb.txt\nempty/\nlink@\nmany/\nsrc/\n", 0},
		{"recursive", []string{"-R", r("src")}, "main.go\nutil/\nutil/u.go\n", 0},
		{"recursive all skips .git contents", []string{"-aR", root},
			".env\n.git/\na.go\nb.txt\nempty/\nlink@\nmany/\nmany/1\nmany/2\nmany/3\nmany/4\nmany/5/\nmany/5/deep.go\n" +
				"src/\nsrc/.hidden/\nsrc/.hidden/x\nsrc/main.go\nsrc/util/\nsrc/util/u.go\n", 0},
		{"max", []string{"--max", "2", r("many")}, "1\n2\n... 3 more (raise --max to see them)\n", 0},
		{"max counts recursively", []string{"-R", "--max=3", r("many")}, "1\n2\n3\n... 3 more (raise --max to see them)\n", 0},
		{"file operand", []string{r("a.go")}, r("a.go") + "\n", 0},
		{"flags after operand", []string{r("src"), "-R"}, "main.go\nutil/\nutil/u.go\n", 0},
		{"several operands", []string{r("src/util"), r("a.go"), r("empty")},
			r("src/util") + ":\nu.go\n\n" + r("a.go") + "\n\n" + r("empty") + ":\n", 0},
		{"missing operand still lists the rest", []string{r("nope"), r("src/util")}, r("src/util") + ":\nu.go\n", 2},
		{"bad flag", []string{"-x", root}, "", 2},
		{"negative max", []string{"--max", "-1", root}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runLs(t, tt.args...)
			if out != tt.want || code != tt.code {
				t.Errorf("ls %q = %d\n%s\nwant %d\n%s\nstderr: %s", tt.args, code, out, tt.code, tt.want, errOut)
			}
			if (code == 0) != (errOut == "") {
				t.Errorf("exit %d with stderr %q", code, errOut)
			}
		})
	}
}

func TestLsLong(t *testing.T) {
	root := makeTree(t, map[string]string{"f.txt": "12345", "d/": ""})
	if err := os.Chmod(filepath.Join(root, "f.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f.txt", filepath.Join(root, "ln")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runLs(t, "-l", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := [][]string{
		{"drwxr-xr-x", "-", "d/"},
		{"-rw-r-----", "5", "f.txt"},
		{"Lrwxrwxrwx", "5", "ln@", "->", "f.txt"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], w)
		}
	}
}

func TestLsDefaultsToCurrentDirectory(t *testing.T) {
	t.Chdir(makeTree(t, map[string]string{"x": "", "y/": ""}))
	out, _, code := runLs(t)
	if out != "x\ny/\n" || code != 0 {
		t.Errorf("ls = %d %q", code, out)
	}
}

func TestLsQuotesControlCharacters(t *testing.T) {
	root := makeTree(t, map[string]string{"a\nb": ""})
	out, _, _ := runLs(t, root)
	if out != `"a\nb"`+"\n" {
		t.Errorf("ls = %q", out)
	}
}

func TestLsHelp(t *testing.T) {
	out, errOut, code := runLs(t, "-h")
	if code != 0 || !strings.HasPrefix(out, "usage: ls") || errOut != "" {
		t.Errorf("ls -h = %d %q %q", code, out, errOut)
	}
	_, errOut, code = runLs(t, "--nope")
	if code != 2 || !strings.Contains(errOut, "-nope") || !strings.Contains(errOut, "usage: ls") {
		t.Errorf("ls --nope = %d %q", code, errOut)
	}
}
