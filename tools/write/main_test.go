package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		setup   map[string]string // existing files
		args    []string          // FILE operands are relative to the temp dir
		stdin   string
		file    string // file to check afterwards
		want    string // its contents
		wantOut string
		code    int
	}{
		{"new file", nil, []string{"f.txt"}, "hello\n", "f.txt", "hello\n", "wrote 6 bytes to f.txt\n", 0},
		{"replace", map[string]string{"f.txt": "old old old"}, []string{"f.txt"}, "new", "f.txt", "new", "wrote 3 bytes to f.txt\n", 0},
		{"empty input empties file", map[string]string{"f.txt": "old"}, []string{"f.txt"}, "", "f.txt", "", "wrote 0 bytes to f.txt\n", 0},
		{"append", map[string]string{"log": "a\n"}, []string{"--append", "log"}, "b\n", "log", "a\nb\n", "appended 2 bytes to log\n", 0},
		{"append creates", nil, []string{"log", "--append"}, "b\n", "log", "b\n", "appended 2 bytes to log\n", 0},
		{"mkdir", nil, []string{"--mkdir", "a/b/c.txt"}, "x", "a/b/c.txt", "x", "wrote 1 bytes to a/b/c.txt\n", 0},
		{"missing parent without mkdir", nil, []string{"a/b.txt"}, "x", "a/b.txt", "", "", 2},
		{"directory target", map[string]string{"d/x": ""}, []string{"d"}, "x", "d/x", "", "", 2},
		{"no file", nil, nil, "x", "", "", "", 2},
		{"two files", nil, []string{"a", "b"}, "x", "a", "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			for name, content := range tt.setup {
				os.MkdirAll(filepath.Dir(name), 0o755)
				if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if code != tt.code || out.String() != tt.wantOut {
				t.Fatalf("write %q = %d %q, want %d %q (stderr %q)", tt.args, code, out.String(), tt.code, tt.wantOut, errOut.String())
			}
			if code != 0 {
				if n := strings.Count(errOut.String(), "\n"); n < 1 || n > 2 {
					t.Errorf("stderr = %q", errOut.String())
				}
				return
			}
			got, err := os.ReadFile(tt.file)
			if err != nil || string(got) != tt.want {
				t.Errorf("%s = %q, %v; want %q", tt.file, got, err, tt.want)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

// assertNoTempFiles fails if a temporary file was left behind anywhere under dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
}

func TestWriteKeepsModeAndReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps seeing the old contents: the file
	// was replaced by a rename, not truncated in place.
	old, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	var out, errOut bytes.Buffer
	if code := run([]string{script}, strings.NewReader("#!/bin/sh\necho hi\n"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	info, err := os.Stat(script)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, want -rwxr-x---", info.Mode())
	}
	if b, _ := os.ReadFile(script); string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("new contents = %q", b)
	}
	b := make([]byte, 64)
	n, _ := old.Read(b)
	if string(b[:n]) != "#!/bin/sh\n" {
		t.Errorf("old handle reads %q: file was modified in place", b[:n])
	}
	assertNoTempFiles(t, dir)
}

func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "AGENTS.md")
	link := filepath.Join(dir, "CLAUDE.md")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("AGENTS.md", link); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{link}, strings.NewReader("new"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("target = %q", b)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link was replaced: %v %v", info, err)
	}
}

func TestWriteHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: write") {
		t.Errorf("write -h = %d %q", code, out.String())
	}
}
