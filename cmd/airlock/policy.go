package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/policy"
)

const policySynopsis = `usage: airlock policy check FILE… | airlock policy explain [FILE|DIR] [--url URL]
check: parse and validate policy files (errors as file:line:col), exit 0 when all are valid.
explain: say what a policy allows, layer by layer, or which rule decides a connection to URL.`

func policyCmd(ctx context.Context, args []string, std stdio) error {
	switch {
	case len(args) == 0:
		fmt.Fprintln(std.err, "usage: airlock policy check FILE… | airlock policy explain [FILE] [--url URL]")
		return exitWith(ExitUsage)
	case wantsHelp(args[:1]):
		printHelp(std.out, policySynopsis, nil)
		return nil
	}
	switch args[0] {
	case "check":
		const synopsis = "usage: airlock policy check FILE…\nParse and validate each policy file; errors are file:line:col. Exit 0 when every file is valid, 125 otherwise."
		fs := newFlags("policy check", std.err)
		if err := parseFlags(fs, args[1:], std, synopsis); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return missingArg(synopsis, "policy check")
		}
		failed := false
		for _, name := range fs.Args() {
			src, err := policy.ReadFile(name)
			if err != nil {
				say(std.err, "reading policy: %v", err)
				failed = true
				continue
			}
			_, diags := policy.Parse(src, name, policy.LayerProject, policy.BaseDir(name))
			policy.WriteDiagnostics(std.err, nil, diags)
			if diags.HasErrors() {
				failed = true
			} else {
				fmt.Fprintf(std.out, "%s: ok\n", name)
			}
		}
		if failed {
			return exitWith(ExitUsage)
		}
		return nil
	case "explain":
		cwd, err := os.Getwd()
		if err != nil {
			return fail(ExitUsage, "finding the current directory: %v", err)
		}
		fs := newFlags("policy explain", std.err)
		url := fs.String("url", "", "say which rule decides a connection to `URL` (scheme://host[:port], scheme https, http or tcp)")
		const synopsis = "usage: airlock policy explain [FILE] [--url URL]\nSay what the policy (FILE, else .airlock/policy.hcl, else the built-in default) allows, each fact with the layer that decided it."
		// Flags may come before or after FILE.
		var names []string
		for rest := args[1:]; ; {
			if err := parse(fs, rest); err != nil {
				return flagFailure(fs, err, std, synopsis)
			}
			if rest = fs.Args(); len(rest) == 0 {
				break
			}
			names, rest = append(names, rest[0]), rest[1:]
		}
		if len(names) > 1 {
			return fail(ExitUsage, "usage: airlock policy explain [FILE] [--url URL]")
		}
		name := ""
		if len(names) == 1 {
			name = names[0]
		}
		files := []string{name}
		if fi, err := os.Stat(name); name != "" && err == nil && fi.IsDir() {
			// A folder of learned policies (airlock mcp --learn DIR):
			// each of them, in turn.
			// Only regular files: a FIFO named *.hcl would hold
			// airlock in open(2).
			files = nil
			matches, _ := filepath.Glob(filepath.Join(name, "*.hcl"))
			for _, m := range matches {
				if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() {
					files = append(files, m)
				}
			}
			if len(files) == 0 {
				return fail(ExitUsage, "%s holds no policy (*.hcl)", name)
			}
		}
		for i, name := range files {
			if i > 0 {
				fmt.Fprintln(std.out)
			}
			if err := explainPolicy(name, cwd, *url, std); err != nil {
				return err
			}
		}
		return nil
	}
	return unknownWord("command", args[0], "airlock policy", []string{"check", "explain"})
}

// explainPolicy writes what the policy name (or the project's, or the
// built-in default) allows; with url, which rule decides a connection
// there. For a learned policy it adds what each rule was learned for.
//
// What it shows comes from a file a tool may have written (a learned
// policy's comments, a folder's name): control characters are made
// visible, so the file cannot drive the terminal.
func explainPolicy(name, cwd, url string, std stdio) error {
	out := std.out
	var buf strings.Builder
	std.out = &buf
	defer func() { fmt.Fprint(out, approvals.Neutralise(buf.String())) }()
	p, source, err := loadPolicy(name, cwd, std.err)
	if err != nil {
		return err
	}
	fmt.Fprintf(std.out, "Policy: %s\n", source)
	file := p
	if p, err = explainLayers(std.out, std.err, cwd, source, p); err != nil {
		return err
	}
	explain := func() error { return policy.Explain(std.out, p) }
	if url != "" {
		explain = func() error { return policy.ExplainDestOn(std.out, p, url, host.OwnAddress) }
	}
	if err := explain(); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if url != "" {
		return nil
	}
	if err := policy.ExplainApprovals(std.out, p.Approvals); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if err := policy.ExplainSandbox(std.out, p.Sandbox); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if source != "builtin default" {
		if src, err := policy.ReadFile(source); err == nil && learn.IsLearned(src) {
			if err := learn.Explain(std.out, src, file); err != nil {
				return fail(ExitUsage, "%v", err)
			}
		}
	}
	return nil
}
