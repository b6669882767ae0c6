// Command wc counts the lines, words and bytes of files for an agent.
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

const usage = `usage: wc [-l] [-w] [-c] [FILE...]
Count the newlines, words (runs of non-space bytes) and bytes of each FILE
("-" or no FILE: standard input), printed in that order, then the name.
With several FILEs a last line gives the totals. Without -l, -w or -c all
three are printed. A last line without a newline is not counted by -l.

  -l  lines
  -w  words
  -c  bytes

Exit status: 0 ok, 2 usage error or an unreadable FILE.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// counts are what wc counts in one input.
type counts struct{ lines, words, bytes int64 }

func (c *counts) add(o counts) {
	c.lines += o.lines
	c.words += o.words
	c.bytes += o.bytes
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var lines, words, bytes bool
	flags := flag.NewFlagSet("wc", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&lines, "l", false, "")
	flags.BoolVar(&words, "w", false, "")
	flags.BoolVar(&bytes, "c", false, "")
	files, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wc: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}
	if !lines && !words && !bytes {
		lines, words, bytes = true, true, true
	}
	named := len(files) > 0
	if !named {
		files = []string{"-"}
	}

	type row struct {
		c    counts
		name string
	}
	var (
		rows  []row
		total counts
		code  int
	)
	for _, name := range files {
		c, err := countFile(name, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "wc: %s\n", cli.Describe(err))
			code = 2
			continue
		}
		if !named {
			name = ""
		}
		rows = append(rows, row{c, name})
		total.add(c)
	}
	if len(files) > 1 {
		rows = append(rows, row{total, "total"})
	}

	// One column width for every row, wide enough for the largest total.
	width := len(strconv.FormatInt(max(total.lines, total.words, total.bytes), 10))
	out := bufio.NewWriter(stdout)
	for _, r := range rows {
		var fields []string
		for _, f := range []struct {
			on bool
			n  int64
		}{{lines, r.c.lines}, {words, r.c.words}, {bytes, r.c.bytes}} {
			if f.on {
				fields = append(fields, fmt.Sprintf("%*d", width, f.n))
			}
		}
		if r.name != "" {
			fields = append(fields, r.name)
		}
		fmt.Fprintln(out, strings.Join(fields, " "))
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "wc: writing output: %v\n", err)
		return 2
	}
	return code
}

// countFile counts the file name, or stdin for "-".
func countFile(name string, stdin io.Reader) (counts, error) {
	if name == "-" {
		return count(stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return counts{}, err
	}
	defer f.Close()
	c, err := count(f)
	if err != nil {
		return c, fmt.Errorf("reading %s: %w", name, err)
	}
	return c, nil
}

// count counts newlines, words and bytes. A word is a maximal run of bytes
// that are not ASCII white space.
func count(r io.Reader) (counts, error) {
	var (
		c      counts
		inWord bool
		buf    = make([]byte, 64<<10)
	)
	for {
		n, err := r.Read(buf)
		c.bytes += int64(n)
		for _, b := range buf[:n] {
			switch b {
			case '\n':
				c.lines++
				inWord = false
			case ' ', '\t', '\r', '\v', '\f':
				inWord = false
			default:
				if !inWord {
					c.words++
					inWord = true
				}
			}
		}
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return c, err
		}
	}
}
