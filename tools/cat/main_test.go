package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCat(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"five":   "one\ntwo\nthree\nfour\nfive\n",
		"noeol":  "a\nb",
		"empty":  "",
		"crlf":   "x\r\ny\r\n",
		"binary": "\x00\x01\n\x02",
	})
	p := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
		code  int
	}{
		{"whole file", []string{p("five")}, "", "one\ntwo\nthree\nfour\nfive\n", 0},
		{"concatenates", []string{p("noeol"), p("five")}, "", "a\nbone\ntwo\nthree\nfour\nfive\n", 0},
		{"number", []string{"-n", p("noeol")}, "", "     1\ta\n     2\tb\n", 0},
		{"range", []string{"--lines", "2:3", p("five")}, "", "two\nthree\n", 0},
		{"range with dash", []string{"--lines=2-3", p("five")}, "", "two\nthree\n", 0},
		{"open start", []string{"--lines", ":2", p("five")}, "", "one\ntwo\n", 0},
		{"open end", []string{"--lines", "4:", p("five")}, "", "four\nfive\n", 0},
		{"single line", []string{"--lines", "3", p("five")}, "", "three\n", 0},
		{"range past end clips", []string{"--lines", "4:99", p("five")}, "", "four\nfive\n", 0},
		{"numbered range", []string{"-n", "--lines", "4:", p("five")}, "", "     4\tfour\n     5\tfive\n", 0},
		{"range keeps missing final newline", []string{"--lines", "2", p("noeol")}, "", "b", 0},
		{"crlf kept", []string{"-n", p("crlf")}, "", "     1\tx\r\n     2\ty\r\n", 0},
		{"binary copied as is", []string{p("binary")}, "", "\x00\x01\n\x02", 0},
		{"headers with several files", []string{"-n", p("noeol"), p("empty")}, "",
			"==> " + p("noeol") + " <==\n     1\ta\n     2\tb\n\n==> " + p("empty") + " <==\n", 0},
		{"stdin by default", nil, "in\n", "in\n", 0},
		{"stdin as dash", []string{"-n", "-"}, "x\ny\n", "     1\tx\n     2\ty\n", 0},
		{"flags after file", []string{p("five"), "--lines", "5"}, "", "five\n", 0},
		{"range starts past end", []string{"--lines", "9:", p("five")}, "", "", 1},
		{"range on empty file from 1 is fine", []string{"--lines", ":3", p("empty")}, "", "", 0},
		{"missing file", []string{p("nope"), p("noeol")}, "", "a\nb", 2},
		{"bad range", []string{"--lines", "5:2", p("five")}, "", "", 2},
		{"zero line", []string{"--lines", "0:2", p("five")}, "", "", 2},
		{"garbage range", []string{"--lines", "x", p("five")}, "", "", 2},
		{"unknown flag", []string{"-z", p("five")}, "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(tt.stdin), &out, &errOut)
			if out.String() != tt.want || code != tt.code {
				t.Errorf("cat %q = %d %q, want %d %q (stderr %q)", tt.args, code, out.String(), tt.code, tt.want, errOut.String())
			}
			if (code == 0) != (errOut.Len() == 0) {
				t.Errorf("exit %d with stderr %q", code, errOut.String())
			}
			if n := strings.Count(errOut.String(), "\n"); code == 1 && n != 1 {
				t.Errorf("want a one-line message, got %q", errOut.String())
			}
		})
	}
}

func TestCatLongLine(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	dir := writeFiles(t, map[string]string{"f": "a\n" + long + "\nb\n"})
	var out, errOut bytes.Buffer
	if code := run([]string{"-n", "--lines", "2", filepath.Join(dir, "f")}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != "     2\t"+long+"\n" {
		t.Errorf("long line mangled: got %d bytes", out.Len())
	}
}

func TestCatHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "usage: cat") {
		t.Errorf("cat -h = %d %q", code, out.String())
	}
}
