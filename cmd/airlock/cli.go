package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/policy"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"
)

// Exit statuses of airlock itself. A tool's own exit status passes through
// unchanged; these are the ones airlock adds (docs/exit-status.md).
const (
	ExitTrap        = 121 // the tool crashed (a WebAssembly trap)
	ExitMemoryLimit = 122 // the tool failed at its memory limit
	ExitAuditFailed = 123 // a decision could not be recorded in the audit log: the run was stopped
	ExitTimeout     = 124 // the wall-time limit stopped the tool
	ExitUsage       = 125 // airlock's own error: bad flags, bad policy, I/O
	ExitDenied      = 126 // a capability was denied and --fail-on-deny was given
	ExitNoModule    = 127 // the module could not be found, built, compiled or instantiated
	ExitHangup      = 129 // SIGHUP (the terminal went away) stopped the run: 128 + 1
	ExitInterrupted = 130 // SIGINT (Ctrl-C) stopped the run: 128 + 2
	ExitBrokenPipe  = 141 // stdout or stderr was a closed pipe (SIGPIPE): 128 + 13
	ExitTerminated  = 143 // SIGTERM stopped the run: 128 + 15
)

type stdio struct {
	in       io.Reader
	out, err io.Writer
	// warm is set in a warm worker running a client's run (warm.go).
	warm *warmRun
}

// openTerminal opens the terminal a person answers prompts at: the
// controlling terminal, or the one a warm worker's client passed on.
func (std stdio) openTerminal() (*approvals.Terminal, error) {
	if std.warm != nil {
		if std.warm.tty == nil {
			return nil, errors.New("opening the terminal: the client has none")
		}
		return &approvals.Terminal{In: std.warm.tty, Out: std.warm.tty}, nil
	}
	return approvals.OpenTerminal()
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		return term.IsTerminal(int(fd.Fd()))
	}
	return false
}

// A command returns nil when it succeeded, or the error that ends it:
// an *exitError for a status of its own, any other error for airlock's
// own failure (ExitUsage). Main turns it into the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, std stdio) error
}

func commands() []command {
	return []command{
		{"run", "run a tool in a sandbox: airlock run MODULE|TOOLDIR [flags] [-- args…]", runCmd},
		{"policy", "check or explain a policy: airlock policy check FILE | explain [FILE] [--url URL]", policyCmd},
		{"mcp", "serve a folder of tools to an agent over MCP: airlock mcp --tools DIR [--http 127.0.0.1:PORT]", mcpCmd},
		{"grants", "list or revoke remembered answers: airlock grants list | revoke ID…|--all|--tool DIGEST", grantsCmd},
		{"trace", "show a trace file as a tree: airlock trace show FILE", traceCmd},
		{"init", "scaffold a tool (Go source, tool.hcl, a test): airlock init [--net] NAME", initCmd},
		{"build", "compile a Go tool to WASI and pin its digest in tool.hcl: airlock build DIR", buildCmd},
		{"warm", "keep a worker started for fast runs: airlock warm start|stop|status", warmCmd},
		{"inspect", "show a module's imports, exports, memory and what airlock provides: airlock inspect [--json] MODULE", inspectCmd},
		{"completion", "print a shell completion script: airlock completion bash|zsh|fish", completionCmd},
		{"version", "print airlock's version (also airlock --version)", versionCmd},
	}
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return append(names, "help")
}

// Main runs the airlock CLI and returns its exit status.
func Main(args []string, std stdio) int {
	ctx, stop := withSignals(context.Background())
	defer stop()
	return exitCode(dispatch(ctx, args, std), std.err)
}

// dispatch runs the command args names.
func dispatch(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 {
		usage(std.err)
		return exitWith(ExitUsage)
	}
	switch args[0] {
	case "-h", "--help", "-help":
		usage(std.out)
		return nil
	case "help":
		// airlock help [COMMAND [SUBCOMMAND]] is COMMAND [SUBCOMMAND] --help.
		if len(args) == 1 {
			usage(std.out)
			return nil
		}
		return dispatch(ctx, append(args[1:], "--help"), std)
	case "--version", "-version", "-V":
		return versionCmd(ctx, args[1:], std)
	case completeCommand:
		return complete(args[1:], std)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], std)
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return unknownWord("flag", args[0], "airlock", []string{"--help", "--version"})
	}
	return unknownWord("command", args[0], "airlock", commandNames())
}

// exitError ends a command with an exit status of airlock's own
// (docs/exit-status.md) or the tool's. Err, if not nil, is what went
// wrong, printed by Main as one line; without it, what there was to say
// was said already (diagnostics, a usage text, the tool's own output).
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// fail returns the error that ends a command with code, saying what
// format and args make of it.
func fail(code int, format string, args ...any) error {
	return &exitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// exitWith returns the error that ends a command with code and says
// nothing more; exitWith(0) ends it as a success.
func exitWith(code int) error { return &exitError{Code: code} }

// exitCode is the one place where what a command returned becomes the
// exit status: nil is 0, an *exitError its Code, any other error
// ExitUsage (airlock's own failure: flags, policy, I/O). What went wrong
// is printed on stderr as one line, "airlock: …".
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := ExitUsage
	if e := (*exitError)(nil); errors.As(err, &e) {
		code = e.Code
		if e.Err == nil {
			return code
		}
	}
	say(stderr, "%v", err)
	return code
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "airlock runs agent tools compiled to WebAssembly inside a policy-bounded sandbox.")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'airlock COMMAND --help' for a command's flags; 'airlock --version' for the version.")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// optFile is a flag that is a boolean on its own (--json) or takes a file
// (--json=report.json).
type optFile struct {
	on   bool
	path string
}

func (o *optFile) String() string   { return o.path }
func (o *optFile) IsBoolFlag() bool { return true }
func (o *optFile) Set(v string) error {
	switch v {
	case "true":
		o.on = true
	case "false":
		o.on = false
	default:
		o.on, o.path = true, v
	}
	return nil
}

// diagnosed writes diags to stderr and, when they hold an error, returns
// the error that ends the command with ExitUsage (said already, by them).
func diagnosed(stderr io.Writer, diags hcl.Diagnostics) error {
	policy.WriteDiagnostics(stderr, nil, diags)
	if diags.HasErrors() {
		return exitWith(ExitUsage)
	}
	return nil
}

// say prints one line "airlock: …", a message of several lines joined
// with "; ".
func say(w io.Writer, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
	// An error may quote what a tool chose (a module's import names, a
	// file's name): its control characters are shown as text.
	fmt.Fprintln(w, "airlock: "+approvals.NeutraliseLine(msg))
}
