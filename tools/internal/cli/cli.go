// Package cli holds what every sample tool does the same way: flag parsing
// that agents find forgiving, and errors that say what WASI means.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"syscall"
)

// ParseArgs parses the flags in args wherever they appear and returns the
// operands in order. Agents often put flags after operands ("ls src -l") and
// bundle one-letter switches ("ls -la"); both are accepted. Everything after
// "--" is an operand.
func ParseArgs(flags *flag.FlagSet, args []string) ([]string, error) {
	args = unbundle(flags, args)
	var operands []string
	for {
		if err := flags.Parse(args); err != nil {
			return nil, err
		}
		rest := flags.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(operands, rest...), nil
		}
		if len(rest) == 0 {
			return operands, nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// unbundle rewrites "-abc" as "-a -b -c" when a, b and c are all one-letter
// boolean flags and "abc" is not itself a flag.
func unbundle(flags *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && flags.Lookup(a[1:]) == nil && allBoolFlags(flags, a[1:]) {
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

func allBoolFlags(flags *flag.FlagSet, letters string) bool {
	for _, c := range letters {
		f := flags.Lookup(string(c))
		if f == nil {
			return false
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			return false
		}
	}
	return true
}

// Describe renders an error for stderr. Under WASI, Go fails a path outside
// every mounted directory with EBADF ("bad file number"), which tells an agent
// nothing, Describe says what it means.
func Describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, syscall.EBADF) {
		return fmt.Sprintf("%v (%s is outside every mounted directory)", err, pe.Path)
	}
	return err.Error()
}
