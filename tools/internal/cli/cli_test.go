package cli

// This file is the same in every sample tool, like cli.go.

import (
	"flag"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args     []string
		operands []string
		x, y     bool
		n        string
	}{
		{[]string{"a", "-x", "b"}, []string{"a", "b"}, true, false, ""},
		{[]string{"-xy", "a"}, []string{"a"}, true, true, ""},
		{[]string{"a", "--n", "5", "-y"}, []string{"a"}, false, true, "5"},
		{[]string{"-n=-y", "a"}, []string{"a"}, false, false, "-y"},
		{[]string{"-x", "--", "-y", "--", "b"}, []string{"-y", "--", "b"}, true, false, ""},
		{[]string{"-", "-x"}, []string{"-"}, true, false, ""},
		{nil, nil, false, false, ""},
	}
	for _, tt := range tests {
		flags := flag.NewFlagSet("t", flag.ContinueOnError)
		flags.SetOutput(io.Discard)
		x := flags.Bool("x", false, "")
		y := flags.Bool("y", false, "")
		n := flags.String("n", "", "")
		operands, err := ParseArgs(flags, tt.args)
		if err != nil || !reflect.DeepEqual(operands, tt.operands) || *x != tt.x || *y != tt.y || *n != tt.n {
			t.Errorf("ParseArgs(%q) = %q, %v; x=%v y=%v n=%q", tt.args, operands, err, *x, *y, *n)
		}
	}

	flags := flag.NewFlagSet("t", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.Bool("x", false, "")
	flags.String("n", "", "")
	for _, bad := range [][]string{{"-xn"}, {"-z"}, {"a", "--n"}} {
		if _, err := ParseArgs(flags, bad); err == nil {
			t.Errorf("ParseArgs(%q) accepted", bad)
		}
	}
}

func TestDescribe(t *testing.T) {
	outside := &fs.PathError{Op: "open", Path: "/etc/passwd", Err: syscall.EBADF}
	if got := Describe(outside); !strings.Contains(got, "/etc/passwd is outside every mounted directory") {
		t.Errorf("Describe(EBADF) = %q", got)
	}
	missing := &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}
	if got := Describe(missing); got != missing.Error() {
		t.Errorf("Describe(ENOENT) = %q", got)
	}
}
