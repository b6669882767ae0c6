package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// The command line's habits, kept in a thin layer over the standard flag
// package (RATIONALE.md, "Why the flag package, with a thin layer?"):
//
//   - -h, --help and "help" print the command's usage and flags on stdout
//     and exit 0, at every level;
//   - a bad flag is one line, "airlock: …", with a did-you-mean, exit 125;
//   - flags are shown and suggested as --name (both -name and --name work);
//   - sizes and durations parse as in a policy file, with its messages.

// newFlags returns a flag set that prints nothing itself: parseFlags and
// flagFailure say what went wrong, and printHelp shows the flags.
func newFlags(name string, _ io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs. It returns nil to go on, or the error
// that ends the command: exitWith(0) after printing the help for -h or
// --help, or one line about a bad flag (ExitUsage). synopsis is the
// command's usage line(s), "usage: airlock run …".
func parseFlags(fs *flag.FlagSet, args []string, std stdio, synopsis string) error {
	if err := parse(fs, args); err != nil {
		return flagFailure(fs, err, std, synopsis)
	}
	return nil
}

// parse is fs.Parse with fs.Usage kept quiet: the commands set a Usage of
// their own for their other mistakes.
func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	return fs.Parse(args)
}

// flagFailure turns an error of fs.Parse into what the user sees: the help
// (exit 0) or one line (exit 125).
func flagFailure(fs *flag.FlagSet, err error, std stdio, synopsis string) error {
	if errors.Is(err, flag.ErrHelp) {
		printHelp(std.out, synopsis, fs)
		return exitWith(0)
	}
	cmd := "airlock " + fs.Name()
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: "):
		name := strings.TrimLeft(strings.TrimPrefix(msg, "flag provided but not defined: "), "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := ""
		if s := suggest(name, names); s != "" {
			hint = " (did you mean --" + s + "?)"
		}
		return fail(ExitUsage, "unknown flag --%s for %s%s; see %s --help", name, cmd, hint, cmd)
	case strings.HasPrefix(msg, "flag needs an argument: "):
		name := strings.TrimLeft(strings.TrimPrefix(msg, "flag needs an argument: "), "-")
		return fail(ExitUsage, "--%s needs a value; see %s --help", name, cmd)
	case strings.HasPrefix(msg, "invalid value "), strings.HasPrefix(msg, "invalid boolean value "):
		// invalid value "5" for flag -timeout: <the Value's error>
		if i := strings.Index(msg, " for flag -"); i >= 0 {
			rest := msg[i+len(" for flag -"):]
			name, why, _ := strings.Cut(rest, ": ")
			if why == "parse error" {
				why = fmt.Sprintf("%s is not a valid value", strings.TrimPrefix(msg[:i], "invalid value "))
			}
			return fail(ExitUsage, "--%s: %s", name, why)
		}
	}
	return fail(ExitUsage, "%s: %v; see %s --help", cmd, err, cmd)
}

// printHelp writes synopsis and fs's flags, as --name, sorted.
func printHelp(w io.Writer, synopsis string, fs *flag.FlagSet) {
	fmt.Fprintln(w, strings.TrimRight(synopsis, "\n"))
	if fs == nil {
		return
	}
	var lines [][2]string
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			arg = ""
		}
		if _, ok := f.Value.(*optFile); ok {
			arg = "[FILE]"
		}
		head := "--" + f.Name
		if arg != "" {
			head += " " + strings.ToUpper(arg)
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" && !strings.Contains(usage, "default") {
			usage += " (default " + d + ")"
		}
		lines = append(lines, [2]string{head, usage})
		width = max(width, len(head))
	})
	if len(lines) == 0 {
		return
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][0] < lines[j][0] })
	fmt.Fprintln(w, "\nFlags (-name works too):")
	for _, l := range lines {
		if len(l[0]) > 28 {
			fmt.Fprintf(w, "  %s\n  %-28s  %s\n", l[0], "", l[1])
			continue
		}
		fmt.Fprintf(w, "  %-28s  %s\n", l[0], l[1])
	}
	fmt.Fprintln(w, "  -h, --help                    show this help")
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// wantsHelp reports whether args asks for help: -h, --help, -help or help
// as its first word, or -h or --help anywhere before "--".
func wantsHelp(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		case "help":
			if i == 0 {
				return true
			}
		}
	}
	return false
}

// suggest returns the candidate closest to name, when it is a plausible
// typo of it: at most one edit for a word of up to four letters, two for
// a longer one; or name a prefix of exactly one candidate.
func suggest(name string, candidates []string) string {
	best, bestDist := "", -1
	var prefixed []string
	for _, c := range candidates {
		if strings.HasPrefix(c, name) && name != "" {
			prefixed = append(prefixed, c)
		}
		if d := editDistance(name, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Short words get one edit ("rnu" is run), longer ones two.
	limit := 1
	if len(name) > 4 {
		limit = 2
	}
	if bestDist >= 0 && bestDist <= limit && bestDist < len(name) {
		return best
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours ("rnu" is
// one edit from "run").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// unknownWord is the one line for an unknown command or subcommand.
func unknownWord(what, word, parent string, known []string) error {
	hint := ""
	if s := suggest(word, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", s)
	}
	if strings.HasPrefix(word, "-") {
		return fail(ExitUsage, "unknown flag %s for %s%s; see %s --help", word, parent, hint, parent)
	}
	return fail(ExitUsage, "unknown %s %q%s; %s takes %s; see %s --help", what, word, hint, parent, orWords(known), parent)
}

func orWords(ws []string) string {
	if len(ws) < 2 {
		return strings.Join(ws, "")
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " or " + ws[len(ws)-1]
}

// durationFlag is a wall-time flag parsed as a policy's limits.timeout:
// "30s", "2m", "1h30m"; a bare number is refused with the policy's
// message.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := policy.ParseTimeout(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// intervalFlag is a duration that may be 0 ("never"), parsed with the
// policy's message for a duration without a unit.
type intervalFlag struct{ d *time.Duration }

func (f intervalFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f intervalFlag) Set(s string) error {
	if s == "0" {
		*f.d = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: write a number with a unit, like \"30s\", \"2m\" or \"1h30m\" (or 0)", s)
	}
	*f.d = d
	return nil
}

// sizeFlag is a size flag parsed as a policy's limits: "512MiB", "16 MB",
// "4096". The text is kept (the policy layer reads it again).
type sizeFlag struct{ s *string }

func (f sizeFlag) String() string {
	if f.s == nil {
		return ""
	}
	return *f.s
}

func (f sizeFlag) Set(s string) error {
	if _, err := policy.ParseSize(s); err != nil {
		return err
	}
	*f.s = s
	return nil
}

// joinJSONFile rewrites "--json FILE" as "--json=FILE" in args (before
// "--") when FILE ends in ".json": --json alone means the report goes to
// stderr, so the word after it is its file only when it says so by its
// name; anything else (the module, a tool folder) is left where it is.
// --json=FILE takes any name.
func joinJSONFile(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--json" || a == "-json") && i+1 < len(args) {
			next := args[i+1]
			if !strings.HasPrefix(next, "-") && strings.HasSuffix(strings.ToLower(next), ".json") {
				out = append(out, "--json="+next)
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// missingArg is the one line for a command run without what it needs:
// its usage line, and where the help is.
func missingArg(synopsis, cmd string) error {
	first, _, _ := strings.Cut(synopsis, "\n")
	return fail(ExitUsage, "%s; see airlock %s --help", first, cmd)
}
