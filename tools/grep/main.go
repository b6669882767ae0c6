// Command grep searches files for lines matching a regular expression (RE2
// syntax) or a fixed string, recursing into directories, for an agent.
//
// It is a WASI preview 1 command (GOOS=wasip1 GOARCH=wasm) that also runs
// natively. See docs/tools.md for usage and exit statuses.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/tools/internal/cli"
)

const usage = `usage: grep [-i] [-n] [-l] [-c] [-F] [-r] [--include GLOB] [--max-count N] PATTERN [PATH...]
Print the lines of each PATH that match PATTERN, an RE2 regular expression
(https://golang.org/s/re2syntax). A directory PATH is searched recursively.
No PATH: "." with -r, standard input otherwise ("-" is standard input too).

  -i               ignore case
  -n               prefix each line with its line number
  -l               print only the names of files with a match
  -c               print only a count of matching lines per file (files with
                   none are left out unless only one file is searched)
  -F               PATTERN is a fixed string, not a regular expression
  -r               recursive (implied for a directory PATH)
  --include GLOB   in directories, search only files whose name matches GLOB
                   (e.g. '*.go'); may be repeated
  --max-count N    stop reading a file after N matching lines (0: no limit)

Lines print as "path:line:text" (path only when several files are searched,
line only with -n). Binary files (a NUL byte in the first 8000 bytes), .git
directories and symbolic links met inside directories are skipped.
Exit status: 0 a line matched, 1 no line matched, 2 usage or I/O error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// globs collects repeated --include values.
type globs []string

func (g *globs) String() string { return strings.Join(*g, ",") }
func (g *globs) Set(s string) error {
	if _, err := filepath.Match(s, ""); err != nil {
		return fmt.Errorf("bad glob %q", s)
	}
	*g = append(*g, s)
	return nil
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var (
		g                          grepper
		ignoreCase, fixed, recurse bool
	)
	flags := flag.NewFlagSet("grep", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&ignoreCase, "i", false, "")
	flags.BoolVar(&g.lineNumbers, "n", false, "")
	flags.BoolVar(&g.filesOnly, "l", false, "")
	flags.BoolVar(&g.countOnly, "c", false, "")
	flags.BoolVar(&fixed, "F", false, "")
	flags.BoolVar(&recurse, "r", false, "")
	flags.Var(&g.include, "include", "")
	flags.IntVar(&g.maxCount, "max-count", 0, "")
	operands, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err == nil && len(operands) == 0 {
		err = errors.New("missing PATTERN")
	}
	if err == nil && g.maxCount < 0 {
		err = errors.New("--max-count must not be negative")
	}
	if err != nil {
		fmt.Fprintf(stderr, "grep: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}

	pattern, paths := operands[0], operands[1:]
	if fixed {
		pattern = regexp.QuoteMeta(pattern)
	}
	if ignoreCase {
		pattern = "(?i)" + pattern
	}
	if g.re, err = regexp.Compile(pattern); err != nil {
		fmt.Fprintf(stderr, "grep: bad PATTERN: %v\n", err)
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"-"}
		if recurse {
			paths[0] = "."
		}
	}

	out := bufio.NewWriter(stdout)
	g.out, g.stderr = out, stderr
	g.search(paths, stdin)
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "grep: writing output: %v\n", err)
		return 2
	}
	switch {
	case g.failed:
		return 2
	case g.matched:
		return 0
	}
	return 1
}

// grepper holds the options and state of one run.
type grepper struct {
	re                                *regexp.Regexp
	lineNumbers, filesOnly, countOnly bool
	include                           globs
	maxCount                          int

	out             *bufio.Writer
	stderr          io.Writer
	withNames       bool // prefix output with the file's path
	matched, failed bool
	buf             []byte // reused for lines longer than the reader's buffer
	br              *bufio.Reader
}

// search searches each operand: "-" is stdin, a directory is walked.
func (g *grepper) search(paths []string, stdin io.Reader) {
	type operand struct {
		path string
		dir  bool
	}
	ops := make([]operand, 0, len(paths))
	for _, p := range paths {
		if p == "-" {
			ops = append(ops, operand{path: p})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			g.fail(err)
			continue
		}
		ops = append(ops, operand{p, info.IsDir()})
		g.withNames = g.withNames || info.IsDir()
	}
	g.withNames = g.withNames || len(paths) > 1
	for _, op := range ops {
		switch {
		case op.path == "-":
			g.searchReader(stdin, "(standard input)", true)
		case op.dir:
			g.walk(op.path)
		default:
			g.searchFile(op.path, true)
		}
	}
}

// walk searches the regular files below dir in name order, skipping .git
// directories, symbolic links and files that --include leaves out.
func (g *grepper) walk(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		g.fail(err) // entries read before the error are still searched
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if e.Name() != ".git" {
				g.walk(p)
			}
		case !e.Type().IsRegular():
			// symbolic links, devices, sockets: not followed, not read
		case len(g.include) > 0 && !g.included(e.Name()):
		default:
			g.searchFile(p, false)
		}
	}
}

func (g *grepper) included(name string) bool {
	for _, glob := range g.include {
		if ok, _ := filepath.Match(glob, name); ok {
			return true
		}
	}
	return false
}

func (g *grepper) searchFile(path string, explicit bool) {
	f, err := os.Open(path)
	if err != nil {
		g.fail(err)
		return
	}
	defer f.Close()
	g.searchReader(f, path, explicit)
}

// searchReader searches one stream named name. A binary stream is skipped,
// with a note on stderr when the user named it explicitly.
func (g *grepper) searchReader(r io.Reader, name string, explicit bool) {
	if g.br == nil {
		g.br = bufio.NewReaderSize(r, 64<<10)
	} else {
		g.br.Reset(r)
	}
	br := g.br
	head, err := br.Peek(8000)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		g.fail(fmt.Errorf("reading %s: %w", name, err))
		return
	}
	if bytes.IndexByte(head, 0) >= 0 {
		if explicit {
			fmt.Fprintf(g.stderr, "grep: %s: binary file skipped\n", name)
		}
		return
	}

	prefix := ""
	if g.withNames {
		prefix = name + ":"
	}
	count := 0
	for n := 1; ; n++ {
		line, err := g.readLine(br)
		if len(line) > 0 {
			text := bytes.TrimSuffix(line, []byte("\n"))
			if g.re.Match(text) {
				count++
				g.matched = true
				if g.filesOnly {
					fmt.Fprintln(g.out, name)
					return
				}
				if !g.countOnly {
					g.out.WriteString(prefix)
					if g.lineNumbers {
						g.out.WriteString(strconv.Itoa(n))
						g.out.WriteByte(':')
					}
					g.out.Write(text)
					g.out.WriteByte('\n')
				}
				if count == g.maxCount {
					break
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			g.fail(fmt.Errorf("reading %s: %w", name, err))
			return
		}
	}
	if g.countOnly && (count > 0 || !g.withNames) {
		fmt.Fprintf(g.out, "%s%d\n", prefix, count)
	}
}

// readLine returns the next line with its newline, however long it is.
func (g *grepper) readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	g.buf = append(g.buf[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = br.ReadSlice('\n')
		g.buf = append(g.buf, line...)
	}
	return g.buf, err
}

func (g *grepper) fail(err error) {
	fmt.Fprintf(g.stderr, "grep: %s\n", cli.Describe(err))
	g.failed = true
}
