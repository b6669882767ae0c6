package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/policy"
)

func policyCmd(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.err, "usage: airlock policy check FILE… | airlock policy explain [FILE] [--url URL]")
		return ExitUsage
	}
	switch args[0] {
	case "check":
		if len(args) < 2 {
			return errorf(io.err, ExitUsage, "usage: airlock policy check FILE…")
		}
		code := 0
		for _, name := range args[1:] {
			src, err := os.ReadFile(name)
			if err != nil {
				code = errorf(io.err, ExitUsage, "reading policy: %v", err)
				continue
			}
			_, diags := policy.Parse(src, name, policy.LayerProject, filepath.Dir(name))
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
		// Flags may come before or after FILE.
		var names []string
		for rest := args[1:]; ; {
			if err := fs.Parse(rest); err != nil {
				if isHelp(err) {
					return 0
				}
				return ExitUsage
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
		p, source, code := loadPolicy(name, cwd, io.err)
		if code >= 0 {
			return code
		}
		fmt.Fprintf(io.out, "Policy: %s\n", source)
		if p, code = explainLayers(io.out, io.err, cwd, source, p); code >= 0 {
			return code
		}
		explain := func() error { return policy.Explain(io.out, p) }
		if *url != "" {
			explain = func() error { return policy.ExplainDest(io.out, p, *url) }
		}
		if err := explain(); err != nil {
			return errorf(io.err, ExitUsage, "%v", err)
		}
		if *url == "" {
			if err := policy.ExplainApprovals(io.out, p.Approvals); err != nil {
				return errorf(io.err, ExitUsage, "%v", err)
			}
			if err := policy.ExplainSandbox(io.out, p.Sandbox); err != nil {
				return errorf(io.err, ExitUsage, "%v", err)
			}
		}
		return 0
	}
	return errorf(io.err, ExitUsage, "unknown policy command %q: use check or explain", args[0])
}
