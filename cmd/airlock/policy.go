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
		fmt.Fprintln(io.err, "usage: airlock policy check FILE… | airlock policy explain [FILE]")
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
		name := ""
		if len(args) > 1 {
			name = args[1]
		}
		p, source, code := loadPolicy(name, cwd, io.err)
		if code >= 0 {
			return code
		}
		fmt.Fprintf(io.out, "Policy: %s\n", source)
		if err := policy.Explain(io.out, p); err != nil {
			return errorf(io.err, ExitUsage, "%v", err)
		}
		return 0
	}
	return errorf(io.err, ExitUsage, "unknown policy command %q: use check or explain", args[0])
}
