package main

import (
	"context"
	"fmt"
	"github.com/airlockhq/airlock/approvals"
	"io"
	"strings"

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
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		return term.IsTerminal(int(fd.Fd()))
	}
	return false
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
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
func Main(args []string, io stdio) int {
	ctx, stop := withSignals(context.Background())
	defer stop()
	if len(args) == 0 {
		usage(io.err)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		usage(io.out)
		return 0
	case "help":
		// airlock help [COMMAND [SUBCOMMAND]] is COMMAND [SUBCOMMAND] --help.
		if len(args) == 1 {
			usage(io.out)
			return 0
		}
		return Main(append(args[1:], "--help"), io)
	case "--version", "-version", "-V":
		return versionCmd(ctx, args[1:], io)
	case completeCommand:
		return complete(args[1:], io)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], io)
		}
	}
	if strings.HasPrefix(args[0], "-") {
		return unknownWord(io, "flag", args[0], "airlock", []string{"--help", "--version"})
	}
	return unknownWord(io, "command", args[0], "airlock", commandNames())
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

// errorf prints one line "airlock: …" and returns code.
func errorf(w io.Writer, code int, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
	// An error may quote what a tool chose (a module's import names, a
	// file's name): its control characters are shown as text.
	fmt.Fprintln(w, "airlock: "+approvals.NeutraliseLine(msg))
	return code
}
