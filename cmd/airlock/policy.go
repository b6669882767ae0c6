package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/hostfuncs"
	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/policy"
)

const policySynopsis = `usage: airlock policy check FILE… | airlock policy explain [FILE|DIR] [--url URL]
check: parse and validate policy files (errors as file:line:col), exit 0 when all are valid.
explain: say what a policy allows, layer by layer, or which rule decides a connection to URL.`

func policyCmd(ctx context.Context, args []string, io stdio) int {
	switch {
	case len(args) == 0:
		fmt.Fprintln(io.err, "usage: airlock policy check FILE… | airlock policy explain [FILE] [--url URL]")
		return ExitUsage
	case wantsHelp(args[:1]):
		printHelp(io.out, policySynopsis, nil)
		return 0
	}
	switch args[0] {
	case "check":
		const synopsis = "usage: airlock policy check FILE…\nParse and validate each policy file; errors are file:line:col. Exit 0 when every file is valid, 125 otherwise."
		fs := newFlags("policy check", io.err)
		if code := parseFlags(fs, args[1:], io, synopsis); code >= 0 {
			return code
		}
		if fs.NArg() == 0 {
			return missingArg(io, synopsis, "policy check")
		}
		code := 0
		for _, name := range fs.Args() {
			src, err := policy.ReadFile(name)
			if err != nil {
				code = errorf(io.err, ExitUsage, "reading policy: %v", err)
				continue
			}
			_, diags := policy.Parse(src, name, policy.LayerProject, policy.BaseDir(name))
			policy.WriteDiagnostics(io.err, nil, diags)
			if diags.HasErrors() {
				code = ExitUsage
			} else {
				fmt.Fprintf(io.out, "%s: ok\n", name)
			}
		}
		return code
	case "explain":
		cwd, err := os.Getwd()
		if err != nil {
			return errorf(io.err, ExitUsage, "finding the current directory: %v", err)
		}
		fs := newFlags("policy explain", io.err)
		url := fs.String("url", "", "say which rule decides a connection to `URL` (scheme://host[:port], scheme https, http or tcp)")
		const synopsis = "usage: airlock policy explain [FILE] [--url URL]\nSay what the policy (FILE, else .airlock/policy.hcl, else the built-in default) allows, each fact with the layer that decided it."
		// Flags may come before or after FILE.
		var names []string
		for rest := args[1:]; ; {
			if err := parse(fs, rest); err != nil {
				return flagFailure(fs, err, io, synopsis)
			}
			if rest = fs.Args(); len(rest) == 0 {
				break
			}
			names, rest = append(names, rest[0]), rest[1:]
		}
		if len(names) > 1 {
			return errorf(io.err, ExitUsage, "usage: airlock policy explain [FILE] [--url URL]")
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
				return errorf(io.err, ExitUsage, "%s holds no policy (*.hcl)", name)
			}
		}
		for i, name := range files {
			if i > 0 {
				fmt.Fprintln(io.out)
			}
			if code := explainPolicy(name, cwd, *url, io); code >= 0 {
				return code
			}
		}
		return 0
	}
	return unknownWord(io, "command", args[0], "airlock policy", []string{"check", "explain"})
}

// explainPolicy writes what the policy name (or the project's, or the
// built-in default) allows; with url, which rule decides a connection
// there. For a learned policy it adds what each rule was learned for.
//
// What it shows comes from a file a tool may have written (a learned
// policy's comments, a folder's name): control characters are made
// visible, so the file cannot drive the terminal.
func explainPolicy(name, cwd, url string, io stdio) int {
	out := io.out
	var buf strings.Builder
	io.out = &buf
	defer func() { fmt.Fprint(out, approvals.Neutralise(buf.String())) }()
	p, source, code := loadPolicy(name, cwd, io.err)
	if code >= 0 {
		return code
	}
	fmt.Fprintf(io.out, "Policy: %s\n", source)
	file := p
	if p, code = explainLayers(io.out, io.err, cwd, source, p); code >= 0 {
		return code
	}
	explain := func() error { return policy.Explain(io.out, p) }
	if url != "" {
		explain = func() error { return policy.ExplainDestOn(io.out, p, url, hostfuncs.OwnAddress) }
	}
	if err := explain(); err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
	}
	if url != "" {
		return -1
	}
	if err := policy.ExplainApprovals(io.out, p.Approvals); err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
	}
	if err := policy.ExplainSandbox(io.out, p.Sandbox); err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
	}
	if source != "builtin default" {
		if src, err := policy.ReadFile(source); err == nil && learn.IsLearned(src) {
			if err := learn.Explain(io.out, src, file); err != nil {
				return errorf(io.err, ExitUsage, "%v", err)
			}
		}
	}
	return -1
}
