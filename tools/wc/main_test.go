package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWc(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a":     "one two\nthree\n",
		"noeol": "x y z",
		"empty": "",
		"space": " \t\r\n\v\f ",
		"utf8":  "héllo wörld\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
		code  int
	}{
		{"all counts", []string{p("a")}, "", " 2  3 14 " + p("a") + "\n", 0},
		{"lines only", []string{"-l", p("a")}, "", " 2 " + p("a") + "\n", 0},
		{"words and bytes", []string{"-wc", p("noeol")}, "", "3 5 " + p("noeol") + "\n", 0},
		{"last line without newline is not a line", []string{"-l", p("noeol")}, "", "0 " + p("noeol") + "\n", 0},
		{"empty", []string{p("empty")}, "", "0 0 0 " + p("empty") + "\n", 0},
		{"white space only", []string{p("space")}, "", "1 0 7 " + p("space") + "\n", 0},
		{"multibyte words", []string{p("utf8")}, "", " 1  2 14 " + p("utf8") + "\n", 0},
		{"total", []string{"-l", p("a"), p("noeol")}, "",
			" 2 " + p("a") + "\n 0 " + p("noeol") + "\n 2 total\n", 0},
		{"stdin", nil, "a b\nc\n", "2 3 6\n", 0},
		{"stdin as dash", []string{"-l", "-"}, "a\nb\nc\n", "3 -\n", 0},
		{"missing file still counts the rest", []string{"-c", p("nope"), p("a")}, "",
			"14 " + p("a") + "\n14 total\n", 2},
		{"bad flag", []string{"-x"}, "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if out.String() != tt.want || code != tt.code {
				t.Errorf("wc %q = %d %q, want %d %q (stderr %q)", tt.args, code, out.String(), tt.code, tt.want, errOut.String())
			}
			if (code == 0) != (errOut.Len() == 0) {
				t.Errorf("exit %d with stderr %q", code, errOut.String())
			}
		})
	}
}

func TestWcLargeInput(t *testing.T) {
	// More than one read buffer, with a word split across the boundary.
	in := strings.Repeat("ab ", 100000) + "\n"
	var out, errOut bytes.Buffer
	if code := run(nil, strings.NewReader(in), &out, &errOut); code != 0 || out.String() != "     1 100000 300001\n" {
		t.Errorf("wc = %d %q %q", code, out.String(), errOut.String())
	}
}

func TestWcHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: wc") {
		t.Errorf("wc -h = %d %q", code, out.String())
	}
}
