package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/internal/warm"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/telemetry"
)

// statePaths lists airlock's own state that a run started in cwd uses:
// the project's .airlock folder and grants, the user's configuration
// folder and grants, the audit log, the policy file (if any), every
// managed policy file, present or not, and airlock's own program (what
// runs, natively, the next time anyone types airlock).
// runtime.Config.State keeps them out of every tool's reach (the engine
// adds its compile cache); the grants are also unreadable.
func statePaths(cwd, policyFile, auditPath string) []host.StatePath {
	var out []host.StatePath
	add := func(p, what string, secret bool) {
		if p != "" {
			out = append(out, host.StatePath{Path: p, What: what, Secret: secret})
		}
	}
	project := approvals.ProjectGrantsFile(cwd)
	// The whole folder: grants are rewritten through a temporary file
	// beside them, which must not be writable either.
	add(filepath.Dir(project), "project .airlock folder", false)
	add(project, "project grants", true)
	if user := approvals.UserGrantsFile(); user != "" {
		add(filepath.Dir(user), "config folder", false)
		add(user, "user grants", true)
	}
	if auditPath != policy.AuditOff {
		add(auditPath, "audit log", false)
	}
	add(policyFile, "policy", false)
	add(policy.ManagedPolicyPath, "managed policy", false)
	if p, ok := os.LookupEnv(policy.ManagedPolicyEnv); ok {
		add(p, "managed policy", false)
	}
	if exe, err := os.Executable(); err == nil {
		add(exe, "airlock program", false)
	}
	// The warm server's socket and log (docs/warm.md): a tool there could
	// only take the server away, but it is airlock's, not the tool's.
	add(warm.StateDir(), "warm server folder", false)
	return out
}

// telemetryState is the trace file of the file exporter, as a state path:
// what a person reads back with airlock trace show is airlock's record, not
// the tool's to write.
func telemetryState(p *telemetry.Provider) []host.StatePath {
	if f := p.File(); f != "" {
		return []host.StatePath{{Path: f, What: "telemetry file"}}
	}
	return nil
}

// warnTo is runtime.Config.Warn for the CLI: one "airlock: " line.
func warnTo(w io.Writer) func(string) {
	return func(line string) { fmt.Fprintln(w, "airlock: "+line) }
}
