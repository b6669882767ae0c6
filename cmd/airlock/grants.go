package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/policy"
)

const grantsUsage = "usage: airlock grants list | airlock grants revoke ID… | --all | --tool DIGEST"

const grantsSynopsis = grantsUsage + `
List or revoke the remembered answers ("always allow", "always deny"): the
project's .airlock/grants.hcl and the user's airlock/grants.hcl. A grant is
one capability of one module (its digest); a write grant is for one file or
(scope folder) a folder and below. docs/approvals.md.`

// grantsCmd lists and revokes remembered grants: the project's
// (.airlock/grants.hcl) and the user's (airlock/grants.hcl in the user's
// configuration directory).
func grantsCmd(ctx context.Context, args []string, std stdio) error {
	switch {
	case len(args) == 0:
		fmt.Fprintln(std.err, grantsUsage)
		return exitWith(ExitUsage)
	case wantsHelp(args[:1]):
		printHelp(std.out, grantsSynopsis, nil)
		return nil
	case args[0] != "list" && args[0] != "revoke":
		return unknownWord("command", args[0], "airlock grants", []string{"list", "revoke"})
	}
	if args[0] == "list" {
		fs := newFlags("grants list", std.err)
		if err := parseFlags(fs, args[1:], std, "usage: airlock grants list\nList every remembered grant, file by file: ID, answer, kind, target, scope, module, tool, date."); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fail(ExitUsage, "%s", grantsUsage)
		}
	}
	var revoke *flag.FlagSet
	var all *bool
	var tool *string
	if args[0] == "revoke" {
		revoke = newFlags("grants revoke", std.err)
		all = revoke.Bool("all", false, "revoke every grant, in both files")
		tool = revoke.String("tool", "", "revoke every grant of the module with `DIGEST` (sha256:…, or its first 12 or more hex digits)")
		const synopsis = "usage: airlock grants revoke ID… | --all | --tool DIGEST\nRevoke grants by ID (airlock grants list shows them), all of them, or every grant of one module."
		if err := parseFlags(revoke, args[1:], std, synopsis); err != nil {
			return err
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fail(ExitUsage, "finding the current directory: %v", err)
	}
	g, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(cwd), approvals.UserGrantsFile())
	policy.WriteDiagnostics(std.err, nil, diags)
	if diags.HasErrors() && args[0] != "revoke" {
		return exitWith(ExitUsage)
	}
	switch args[0] {
	case "list":
		listGrants(std, g)
		return nil
	case "revoke":
		ids := revoke.Args()
		modes := 0
		for _, on := range []bool{*all, *tool != "", len(ids) > 0} {
			if on {
				modes++
			}
		}
		if modes != 1 {
			return fail(ExitUsage, "%s", grantsUsage)
		}
		if diags.HasErrors() {
			return fail(ExitUsage, "fix the grants file first: revoking rewrites it")
		}
		var drop func(approvals.Grant) bool
		switch {
		case *all:
			drop = func(approvals.Grant) bool { return true }
		case *tool != "":
			d := strings.TrimPrefix(*tool, "sha256:")
			if len(d) < 12 {
				return fail(ExitUsage, "--tool needs the module's digest, or at least its first 12 hex digits (airlock grants list shows them)")
			}
			drop = func(gr approvals.Grant) bool { return strings.HasPrefix(strings.TrimPrefix(gr.Digest, "sha256:"), d) }
		default:
			known := map[string]bool{}
			for _, gr := range g.List() {
				known[gr.ID] = true
			}
			for _, id := range ids {
				if !known[id] {
					return fail(ExitUsage, "no grant has the ID %q (airlock grants list shows them)", id)
				}
			}
			drop = func(gr approvals.Grant) bool {
				for _, id := range ids {
					if gr.ID == id {
						return true
					}
				}
				return false
			}
		}
		n, err := g.Revoke(drop)
		if err != nil {
			return fail(ExitUsage, "revoking: %v", err)
		}
		fmt.Fprintf(std.out, "revoked %d grant%s\n", n, plural(n))
		return nil
	}
	return exitWith(ExitUsage) // not reached: args[0] is list or revoke
}

// listGrants prints both files' grants, one per line, readable:
//
//	/home/x/proj/.airlock/grants.hcl (project):
//	  ID        ANSWER  KIND         TARGET              SCOPE   MODULE        TOOL  CREATED
//	  3f9a1c2e  allow   net.connect  api.github.com:443  exact   0123456789ab  gh    2026-01-02
//	  5b0e77d1  allow   fs.write     /ro/docs            folder  0123456789ab  write 2026-01-02
func listGrants(std stdio, g *approvals.Grants) {
	names := []string{"project", "user"}
	for i, f := range g.Files() {
		name := "user"
		if i < len(names) {
			name = names[i]
		}
		var rows []approvals.Grant
		for _, gr := range g.List() {
			if gr.File == f {
				rows = append(rows, gr)
			}
		}
		if len(rows) == 0 {
			fmt.Fprintf(std.out, "%s (%s): no grants\n", f, name)
			continue
		}
		fmt.Fprintf(std.out, "%s (%s):\n", f, name)
		tw := tabwriter.NewWriter(std.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tANSWER\tKIND\tTARGET\tSCOPE\tMODULE\tTOOL\tCREATED")
		for _, gr := range rows {
			answer := "deny"
			if gr.Allow {
				answer = "allow"
			}
			created := ""
			if !gr.Created.IsZero() {
				created = gr.Created.Format("2006-01-02")
			}
			scope := "exact"
			if gr.Scope == approvals.ScopeFolder {
				scope = "folder" // the target and everything below it
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", gr.ID, answer, approvals.NeutraliseLine(string(gr.Kind)),
				approvals.NeutraliseLine(gr.Target), scope, approvals.ShortDigest(gr.Digest), approvals.NeutraliseLine(gr.Tool), created)
		}
		tw.Flush()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
