// Command ls lists directory entries for an agent: one entry per line,
// directories marked with a trailing slash, symbolic links with "@".
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
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/airlockhq/airlock/tools/internal/cli"
)

const usage = `usage: ls [-a] [-l] [-R] [--max N] [PATH...]
List the entries of each directory PATH (default "."), sorted by name.
Directories end in "/", symbolic links in "@". A file PATH is listed as itself.

  -a       include entries whose names begin with "."
  -l       long form: mode, size in bytes ("-" for directories), name;
           symbolic links also show "-> target"
  -R       recursive: list every entry below PATH as a path relative to it;
           symbolic links are not followed and .git is never descended into
  --max N  list at most N entries per PATH, then a "... N more" line
           (0, the default, means no limit)

Exit status: 0 ok, 2 usage error or an unreadable PATH.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var l lister
	flags := flag.NewFlagSet("ls", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&l.all, "a", false, "")
	flags.BoolVar(&l.long, "l", false, "")
	flags.BoolVar(&l.recursive, "R", false, "")
	flags.IntVar(&l.max, "max", 0, "")
	paths, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err == nil && l.max < 0 {
		err = errors.New("--max must not be negative")
	}
	if err != nil {
		fmt.Fprintf(stderr, "ls: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}

	out := bufio.NewWriter(stdout)
	l.out, l.stderr = out, stderr
	for _, p := range paths {
		l.listPath(p, len(paths) > 1)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "ls: writing output: %v\n", err)
		return 2
	}
	if l.failed {
		return 2
	}
	return 0
}

// lister holds the options and state of one run.
type lister struct {
	all, long, recursive bool
	max                  int

	out    *bufio.Writer
	stderr io.Writer
	failed bool

	sections      int // operands listed so far
	shown, hidden int // entries printed and held back by --max for the current PATH
}

// listPath lists one operand. With several operands each directory gets a
// "PATH:" header, and sections are separated by a blank line.
func (l *lister) listPath(path string, header bool) {
	info, err := os.Stat(path)
	if err != nil {
		l.fail(err)
		return
	}
	if l.sections > 0 {
		l.out.WriteString("\n")
	}
	l.sections++
	l.shown, l.hidden = 0, 0
	if !info.IsDir() {
		l.print(path, path, info)
		return
	}
	if header {
		fmt.Fprintf(l.out, "%s:\n", path)
	}
	l.listDir(path, "")
	if l.hidden > 0 {
		fmt.Fprintf(l.out, "... %d more (raise --max to see them)\n", l.hidden)
	}
}

// listDir prints the entries of dir, naming each as rel joined with its name,
// and descends into subdirectories when recursive.
func (l *lister) listDir(dir, rel string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		l.fail(err) // entries read before the error are still listed
	}
	for _, e := range entries {
		name := e.Name()
		if !l.all && strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, name)
		shown := name
		if rel != "" {
			shown = rel + "/" + name
		}
		info, err := e.Info()
		if err != nil {
			l.fail(err)
			continue
		}
		l.print(full, shown, info)
		if l.recursive && e.IsDir() && name != ".git" {
			l.listDir(full, shown)
		}
	}
}

// print writes one entry, or counts it as hidden once --max is reached.
func (l *lister) print(full, shown string, info fs.FileInfo) {
	if l.max > 0 && l.shown >= l.max {
		l.hidden++
		return
	}
	l.shown++
	name := quote(shown)
	switch {
	case info.IsDir():
		name += "/"
	case info.Mode()&fs.ModeSymlink != 0:
		name += "@"
	}
	if !l.long {
		fmt.Fprintln(l.out, name)
		return
	}
	size := "-"
	if !info.IsDir() {
		size = strconv.FormatInt(info.Size(), 10)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		if target, err := os.Readlink(full); err == nil {
			name += " -> " + quote(target)
		}
	}
	fmt.Fprintf(l.out, "%s %10s  %s\n", info.Mode(), size, name)
}

func (l *lister) fail(err error) {
	fmt.Fprintf(l.stderr, "ls: %s\n", cli.Describe(err))
	l.failed = true
}

// quote makes names with control characters (a newline, say) visible and
// unambiguous; ordinary names are printed as they are.
func quote(name string) string {
	if strings.ContainsFunc(name, unicode.IsControl) {
		return strconv.Quote(name)
	}
	return name
}
