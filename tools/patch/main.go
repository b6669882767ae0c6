// Command patch edits one file for an agent, from SEARCH/REPLACE blocks or a
// unified diff on standard input. Every edit must match the file exactly and
// unambiguously; the edits apply all together or not at all, and the file is
// replaced atomically.
//
// It is a WASI preview 1 command (GOOS=wasip1 GOARCH=wasm) that also runs
// natively. See docs/tools.md for usage and exit statuses.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/airlockhq/airlock/tools/internal/cli"
	"github.com/airlockhq/airlock/tools/internal/fileio"
)

const usage = `usage: patch [--dry-run] FILE
Apply the edit on standard input to FILE. The edit is one or more blocks

<<<<<<< SEARCH
lines to find, exactly as they are in FILE
=======
lines to put in their place
>>>>>>> REPLACE

or a unified diff of FILE (as from diff -u or git diff; ---/+++ headers optional).

Blocks apply in order, each to the result of the ones before. A SEARCH must be
whole lines and match exactly one place in FILE, indentation included; an
empty SEARCH is allowed only when FILE is empty or missing. A diff hunk must
match its context exactly: at the line its @@ header names, or, failing that,
at the one place it matches. Nothing is fuzzy. Text outside blocks or hunks
(a file name, code fences) is ignored. Line endings (LF or CRLF) follow FILE.

  --dry-run  check that the edit applies and report, but write nothing

Exit status: 0 applied (or would apply), 1 the edit does not apply and FILE is
unchanged, 2 usage error, malformed edit, or I/O error.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var dryRun bool
	flags := flag.NewFlagSet("patch", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&dryRun, "dry-run", false, "")
	files, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err == nil && len(files) != 1 {
		err = fmt.Errorf("want exactly one FILE, got %d", len(files))
	}
	if err != nil {
		fmt.Fprintf(stderr, "patch: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}
	name := files[0]

	input, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "patch: reading standard input: %v\n", err)
		return 2
	}
	edits, kind, err := parseEdits(string(input))
	if err != nil {
		fmt.Fprintf(stderr, "patch: %v\n", err)
		return 2
	}

	target, err := fileio.ResolveLink(name)
	if err != nil {
		fmt.Fprintf(stderr, "patch: %s\n", cli.Describe(err))
		return 2
	}
	content, err := os.ReadFile(target)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !(missing && allInsertions(edits)) {
		fmt.Fprintf(stderr, "patch: %s\n", cli.Describe(err))
		return 2
	}

	d := parseDoc(string(content))
	res, err := d.apply(edits)
	if err != nil {
		fmt.Fprintf(stderr, "patch: %s: %v\n", name, err)
		return 1
	}
	result := d.String()
	count := fmt.Sprintf("%d %s", len(edits), plural(len(edits), kind))
	lines := fmt.Sprintf("-%d +%d lines", res.removed, res.added)
	switch {
	case result == string(content) && !missing:
		fmt.Fprintf(stdout, "%s unchanged: the edit replaces text with the same text\n", name)
		return 0
	case dryRun:
		fmt.Fprintf(stdout, "dry run: %s: %s would apply, %s; nothing written\n", name, count, lines)
	default:
		if err := fileio.WriteAtomic(target, []byte(result)); err != nil {
			fmt.Fprintf(stderr, "patch: %s\n", cli.Describe(err))
			return 2
		}
		fmt.Fprintf(stdout, "patched %s: %s, %s\n", name, count, lines)
	}
	for _, note := range res.notes {
		fmt.Fprintf(stdout, "note: %s\n", note)
	}
	return 0
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
