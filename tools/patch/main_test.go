package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const absent = "\x00absent" // marks a file that does not exist

const goFile = `package main

import "fmt"

func main() {
	fmt.Println("hello")
}

func helper() {
	fmt.Println("hello")
}
`

func TestPatch(t *testing.T) {
	tests := []struct {
		name    string
		before  string // file contents, or absent
		stdin   string
		flags   []string
		after   string // file contents afterwards (before, if unchanged)
		code    int
		out     string // substring of stdout
		errPart string // substring of stderr
	}{
		// SEARCH/REPLACE blocks.
		{
			name:   "one block",
			before: goFile,
			stdin:  "<<<<<<< SEARCH\nfunc main() {\n\tfmt.Println(\"hello\")\n=======\nfunc main() {\n\tfmt.Println(\"bye\")\n>>>>>>> REPLACE\n",
			after:  strings.Replace(goFile, `"hello"`, `"bye"`, 1),
			out:    "patched f: 1 block, -1 +1 lines",
		},
		{
			name:   "blocks apply in order and may build on each other",
			before: "a\nb\nc\n",
			stdin:  "<<<<<<< SEARCH\nb\n=======\nB\nB2\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nB2\nc\n=======\nC\n>>>>>>> REPLACE\n",
			after:  "a\nB\nC\n",
			out:    "2 blocks, -3 +3 lines",
		},
		{
			name:   "text around blocks is ignored",
			before: "x\n",
			stdin:  "f.go\n```go\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n",
			after:  "y\n",
		},
		{
			name:   "divider inside REPLACE is text",
			before: "title\n",
			stdin:  "<<<<<<< SEARCH\ntitle\n=======\ntitle\n=======\n>>>>>>> REPLACE\n",
			after:  "title\n=======\n",
		},
		{
			name:   "delete lines",
			before: "a\nb\nc\n",
			stdin:  "<<<<<<< SEARCH\nb\n=======\n>>>>>>> REPLACE\n",
			after:  "a\nc\n",
			out:    "-1 +0 lines",
		},
		{
			name:   "CRLF file stays CRLF",
			before: "a\r\nb\r\n",
			stdin:  "<<<<<<< SEARCH\r\nb\r\n=======\r\nb\r\nc\r\n>>>>>>> REPLACE\r\n",
			after:  "a\r\nb\r\nc\r\n",
		},
		{
			name:   "CRLF file, LF edit",
			before: "a\r\nb\r\n",
			stdin:  "<<<<<<< SEARCH\na\n=======\nz\n>>>>>>> REPLACE\n",
			after:  "z\r\nb\r\n",
		},
		{
			name:   "missing final newline is kept",
			before: "a\nb",
			stdin:  "<<<<<<< SEARCH\nb\n=======\nb\nc\n>>>>>>> REPLACE\n",
			after:  "a\nb\nc",
		},
		{
			name:   "empty SEARCH creates a missing file",
			before: absent,
			stdin:  "<<<<<<< SEARCH\n=======\nnew\n>>>>>>> REPLACE\n",
			after:  "new\n",
		},
		{
			name:   "dry run writes nothing",
			before: "a\n",
			flags:  []string{"--dry-run"},
			stdin:  "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
			after:  "a\n",
			out:    "dry run: f: 1 block would apply",
		},
		{
			name:   "same text is no change",
			before: "a\n",
			stdin:  "<<<<<<< SEARCH\na\n=======\na\n>>>>>>> REPLACE\n",
			after:  "a\n",
			out:    "unchanged",
		},
		{
			name:    "not found",
			before:  goFile,
			stdin:   "<<<<<<< SEARCH\nfunc nope() {\n=======\n>>>>>>> REPLACE\n",
			after:   goFile,
			code:    1,
			errPart: `block 1 (input line 1): SEARCH not found; no line of the file is its first line "func nope() {"`,
		},
		{
			name:    "several matches",
			before:  goFile,
			stdin:   "<<<<<<< SEARCH\n\tfmt.Println(\"hello\")\n=======\n\tfmt.Println(\"bye\")\n>>>>>>> REPLACE\n",
			after:   goFile,
			code:    1,
			errPart: "SEARCH matches 2 places (lines 6, 10)",
		},
		{
			name:    "all or nothing",
			before:  "a\nb\n",
			stdin:   "<<<<<<< SEARCH\na\n=======\nA\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nzzz\n=======\nB\n>>>>>>> REPLACE\n",
			after:   "a\nb\n",
			code:    1,
			errPart: "block 2 (input line 6): SEARCH not found",
		},
		{
			name:    "indentation differs",
			before:  goFile,
			stdin:   "<<<<<<< SEARCH\nfunc helper() {\n    fmt.Println(\"hello\")\n=======\n>>>>>>> REPLACE\n",
			after:   goFile,
			code:    1,
			errPart: "would match at line 9 if whitespace were ignored",
		},
		{
			name:    "closest partial match",
			before:  goFile,
			stdin:   "<<<<<<< SEARCH\nfunc helper() {\n\tfmt.Println(\"hullo\")\n=======\n>>>>>>> REPLACE\n",
			after:   goFile,
			code:    1,
			errPart: `its first 1 lines match at line 9, then its line 2 is "\tfmt.Println(\"hullo\")" but line 10 of the file is "\tfmt.Println(\"hello\")"`,
		},
		{
			name:    "empty SEARCH on a non-empty file",
			before:  "a\n",
			stdin:   "<<<<<<< SEARCH\n=======\nb\n>>>>>>> REPLACE\n",
			after:   "a\n",
			code:    1,
			errPart: "SEARCH is empty",
		},
		{
			name:    "unclosed block",
			before:  "a\n",
			stdin:   "<<<<<<< SEARCH\na\n=======\nb\n",
			after:   "a\n",
			code:    2,
			errPart: "block 1 (input line 1) is not closed",
		},
		{
			name:    "missing divider",
			before:  "a\n",
			stdin:   "<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n",
			after:   "a\n",
			code:    2,
			errPart: "no ======= between",
		},
		{
			name:    "no edit at all",
			before:  "a\n",
			stdin:   "please change a to b\n",
			after:   "a\n",
			code:    2,
			errPart: "no edit on standard input",
		},
		{
			name:    "missing file needs an empty SEARCH",
			before:  absent,
			stdin:   "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n",
			after:   absent,
			code:    2,
			errPart: "no such file",
		},

		// Unified diffs.
		{
			name:   "unified diff",
			before: goFile,
			stdin: "diff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n@@ -5,3 +5,4 @@ import \"fmt\"\n func main() {\n-\tfmt.Println(\"hello\")\n+\tfmt.Println(\"bye\")\n+\tfmt.Println(\"now\")\n }\n" +
				"@@ -9,3 +10,3 @@\n func helper() {\n-\tfmt.Println(\"hello\")\n+\tfmt.Println(\"help\")\n }\n",
			after: strings.Replace(strings.Replace(goFile, "\"hello\")", "\"bye\")\n\tfmt.Println(\"now\")", 1), "\"hello\"", "\"help\"", 1),
			out:   "patched f: 2 hunks, -2 +3 lines",
		},
		{
			name:   "wrong line number, unique context",
			before: "a\nb\nc\nd\ne\n",
			stdin:  "@@ -1,3 +1,3 @@\n c\n-d\n+D\n e\n",
			after:  "a\nb\nc\nD\ne\n",
			out:    "note: hunk 1 (@@ -1,3 +1,3 @@) applied at line 3, not line 1",
		},
		{
			name:   "header without numbers",
			before: "a\nb\nc\n",
			stdin:  "@@ @@\n a\n-b\n+B\n",
			after:  "a\nB\nc\n",
		},
		{
			name:   "blank context lines without their space",
			before: "a\n\nb\n\n",
			stdin:  "@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n\n\n",
			after:  "a\n\nB\n\n",
		},
		{
			name:   "insertion only",
			before: "a\nb\n",
			stdin:  "@@ -1,0 +2,1 @@\n+between\n",
			after:  "a\nbetween\nb\n",
		},
		{
			name:   "new file",
			before: absent,
			stdin:  "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+one\n+two\n",
			after:  "one\ntwo\n",
		},
		{
			name:   "adds final newline",
			before: "a\nb",
			stdin:  "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
			after:  "a\nb\n",
		},
		{
			name:   "removes final newline",
			before: "a\nb\n",
			stdin:  "@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n",
			after:  "a\nb",
		},
		{
			name:    "context differs in whitespace: refused",
			before:  "if x {\n\ty()\n}\n",
			stdin:   "@@ -1,3 +1,3 @@\n if x {\n-    y()\n+    z()\n }\n",
			after:   "if x {\n\ty()\n}\n",
			code:    1,
			errPart: "hunk 1 (@@ -1,3 +1,3 @@): its context and removed lines not found; it would match at line 1 if whitespace were ignored",
		},
		{
			name:    "ambiguous context away from its line",
			before:  "}\nx\n}\nx\n}\n",
			stdin:   "@@ -7,2 +7,2 @@\n }\n-x\n+y\n",
			after:   "}\nx\n}\nx\n}\n",
			code:    1,
			errPart: "does not match at line 7 and matches 2 other places (lines 1, 3)",
		},
		{
			name:    "two files",
			before:  "a\n",
			stdin:   "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n",
			after:   "a\n",
			code:    2,
			errPart: "more than one file",
		},
		{
			name:    "deletion",
			before:  "a\n",
			stdin:   "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n",
			after:   "a\n",
			code:    2,
			errPart: "does not delete files",
		},
		{
			name:    "stray diff line after a hunk",
			before:  "a\nb\n",
			stdin:   "@@ -1,2 +1,2 @@\n a\nb\n-b\n+c\n",
			after:   "a\nb\n",
			code:    2,
			errPart: "input line 4 is outside any hunk",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tt.before != absent {
				if err := os.WriteFile("f", []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			code := run(append(tt.flags, "f"), strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errPart) {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d, stdout with %q, stderr with %q",
					code, out.String(), errOut.String(), tt.code, tt.out, tt.errPart)
			}
			if code != 0 && strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("want a one-line error, got %q", errOut.String())
			}
			got, err := os.ReadFile("f")
			if tt.after == absent {
				if err == nil {
					t.Errorf("f was created: %q", got)
				}
			} else if string(got) != tt.after {
				t.Errorf("f =\n%q\nwant\n%q", got, tt.after)
			}
			entries, _ := os.ReadDir(".")
			for _, e := range entries {
				if e.Name() != "f" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestPatchKeepsModeAndFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "run.sh")
	link := filepath.Join(dir, "link.sh")
	if err := os.WriteFile(target, []byte("echo a\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("run.sh", link); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{link}, strings.NewReader("<<<<<<< SEARCH\necho a\n=======\necho b\n>>>>>>> REPLACE\n"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	info, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "echo b\n" || info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh = %q %v", b, info.Mode())
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link was replaced")
	}
}

func TestPatchUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: patch") {
		t.Errorf("patch -h = %d %q", code, out.String())
	}
	out.Reset()
	if code := run(nil, strings.NewReader(""), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "want exactly one FILE") {
		t.Errorf("patch = %d %q", code, errOut.String())
	}
}
