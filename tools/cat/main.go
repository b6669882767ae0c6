// Command cat prints files for an agent, optionally numbered and limited to
// a range of lines.
//
// It is a WASI preview 1 command (GOOS=wasip1 GOARCH=wasm) that also runs
// natively. See docs/tools.md for usage and exit statuses.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/tools/internal/cli"
)

const usage = `usage: cat [-n] [--lines A:B] [FILE...]
Print each FILE ("-" or no FILE: standard input).

  -n           number the lines ("     7\ttext"), counting from 1 in each file
  --lines A:B  print only lines A to B, 1-based and inclusive; either end may
               be left out ("40:", ":20"); "A" alone is one line; "A-B" also works

With several FILEs and -n or --lines, each file is preceded by "==> FILE <==".
Exit status: 0 ok, 1 a --lines range starts past the end of a file,
2 usage error or an unreadable FILE.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var (
		number bool
		lines  string
	)
	flags := flag.NewFlagSet("cat", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&number, "n", false, "")
	flags.StringVar(&lines, "lines", "", "")
	files, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	var rng lineRange
	if err == nil {
		rng, err = parseRange(lines)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cat: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}
	if len(files) == 0 {
		files = []string{"-"}
	}

	out := bufio.NewWriter(stdout)
	headers := len(files) > 1 && (number || lines != "")
	code := 0
	for i, name := range files {
		if headers {
			if i > 0 {
				out.WriteString("\n")
			}
			fmt.Fprintf(out, "==> %s <==\n", name)
		}
		n, err := catFile(out, name, stdin, number, rng)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "cat: %s\n", cli.Describe(err))
			code = 2
		case rng.from > 1 && rng.from > n:
			fmt.Fprintf(stderr, "cat: %s has %d lines; --lines %s selects none\n", name, n, lines)
			if code == 0 {
				code = 1
			}
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "cat: writing output: %v\n", err)
		return 2
	}
	return code
}

// lineRange is an inclusive range of 1-based line numbers; to == 0 means to
// the end of the file.
type lineRange struct{ from, to int }

func (r lineRange) all() bool { return r.from <= 1 && r.to == 0 }

// parseRange parses the --lines value: "A:B", "A:", ":B", "A" or "A-B".
func parseRange(s string) (lineRange, error) {
	if s == "" {
		return lineRange{from: 1}, nil
	}
	bad := fmt.Errorf("--lines %q: want A:B with 1 <= A <= B, e.g. 10:20, 10: or :20", s)
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		a, b, ok = strings.Cut(s, "-")
	}
	if !ok {
		b = a
	}
	num := func(s string, def int) (int, bool) {
		if s == "" {
			return def, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1
	}
	from, ok1 := num(a, 1)
	to, ok2 := num(b, 0)
	if !ok1 || !ok2 || (to != 0 && to < from) {
		return lineRange{}, bad
	}
	return lineRange{from, to}, nil
}

// catFile copies the selected lines of the file name ("-" is stdin) to out and
// returns how many lines it read (all of them unless the range ended early).
func catFile(out *bufio.Writer, name string, stdin io.Reader, number bool, rng lineRange) (int, error) {
	var in io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		in = f
	}
	if !number && rng.all() {
		if _, err := out.ReadFrom(in); err != nil {
			return 0, fmt.Errorf("copying %s: %w", name, err)
		}
		return 0, nil
	}

	br := bufio.NewReaderSize(in, 64<<10)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			n++
			if n >= rng.from && (rng.to == 0 || n <= rng.to) {
				if number {
					fmt.Fprintf(out, "%6d\t", n)
				}
				out.Write(line)
				if number && line[len(line)-1] != '\n' {
					out.WriteByte('\n')
				}
			}
		}
		if rng.to != 0 && n >= rng.to {
			return n, nil
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading %s: %w", name, err)
		}
	}
}
