// Command write writes its standard input to a file for an agent: atomically
// (a temporary file in the same directory, then a rename), or appending.
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
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/tools/internal/cli"
	"github.com/airlockhq/airlock/tools/internal/fileio"
)

const usage = `usage: write [--append] [--mkdir] FILE
Write standard input to FILE, replacing its contents. The new contents go to a
temporary file in the same directory which is then renamed over FILE, so FILE
is never seen half-written. An existing FILE keeps its permission bits, and a
symbolic link FILE is followed: its target is written.

  --append  add to the end of FILE instead (created if missing; not atomic)
  --mkdir   create FILE's missing parent directories

Prints "wrote N bytes to FILE" (or "appended N bytes to FILE").
Exit status: 0 written, 2 usage or I/O error (FILE is then unchanged,
except that --append may have written part of its input).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program behind main, with its streams passed in.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var appendMode, mkdir bool
	flags := flag.NewFlagSet("write", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.BoolVar(&appendMode, "append", false, "")
	flags.BoolVar(&mkdir, "mkdir", false, "")
	files, err := cli.ParseArgs(flags, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err == nil && len(files) != 1 {
		err = fmt.Errorf("want exactly one FILE, got %d", len(files))
	}
	if err != nil {
		fmt.Fprintf(stderr, "write: %v\n%s", err, usage[:strings.IndexByte(usage, '\n')+1])
		return 2
	}
	name := files[0]

	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "write: reading standard input: %v\n", err)
		return 2
	}
	if err := writeFile(name, data, appendMode, mkdir); err != nil {
		fmt.Fprintf(stderr, "write: %s\n", cli.Describe(err))
		return 2
	}
	verb := "wrote"
	if appendMode {
		verb = "appended"
	}
	fmt.Fprintf(stdout, "%s %d bytes to %s\n", verb, len(data), name)
	return 0
}

// writeFile puts data in the file name, creating parent directories first
// when mkdir is set.
func writeFile(name string, data []byte, appendMode, mkdir bool) error {
	dir := filepath.Dir(name)
	if mkdir {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	} else if info, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: directory %s does not exist (--mkdir creates it)", name, dir)
	} else if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	} else if !info.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", name, dir)
	}
	target, err := fileio.ResolveLink(name)
	if err != nil {
		return err
	}
	if appendMode {
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fileio.WriteAtomic(target, data)
}
