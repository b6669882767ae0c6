package policy_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

func TestApprovalsBlock(t *testing.T) {
	dir := t.TempDir()
	src := `approvals {
  mode     = "untrusted"
  headless = "allow"
  timeout  = "5s"
  audit    = "logs/audit.jsonl"
}
`
	p, diags := policy.Parse([]byte(src), "policy.hcl", policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	a := p.Approvals
	if a.Mode != policy.ModeUntrusted || a.ModeOrigin.String() != "policy.hcl:2:3" {
		t.Errorf("mode %q from %s", a.Mode, a.ModeOrigin)
	}
	if a.Headless != policy.Allow || a.HeadlessOrigin.String() != "policy.hcl:3:3" {
		t.Errorf("headless %v from %s", a.Headless, a.HeadlessOrigin)
	}
	if a.Timeout != 5*time.Second || a.TimeoutOrigin.String() != "policy.hcl:4:3" {
		t.Errorf("timeout %v from %s", a.Timeout, a.TimeoutOrigin)
	}
	if want := filepath.Join(dir, "logs/audit.jsonl"); a.Audit != want {
		t.Errorf("audit %q, want %q", a.Audit, want)
	}
}

func TestApprovalsDefaults(t *testing.T) {
	p, diags := policy.Parse([]byte(`env {}`), "policy.hcl", policy.LayerProject, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	a := p.Approvals
	if a.Mode != "" || a.Headless != policy.Deny || a.Timeout != policy.DefaultPromptTimeout || a.Audit != "" {
		t.Errorf("defaults: %+v", a)
	}
	if a.HeadlessOrigin.Layer != policy.LayerBuiltin || a.Origin.Layer != policy.LayerBuiltin {
		t.Errorf("default origins: %+v", a)
	}
	off, diags := policy.Parse([]byte("approvals {\n  audit = \"off\"\n}\n"), "p.hcl", policy.LayerProject, t.TempDir())
	if diags.HasErrors() || off.Approvals.Audit != policy.AuditOff {
		t.Fatalf("audit off: %v %v", off, diagLines(t, diags))
	}
	var b strings.Builder
	if err := policy.ExplainApprovals(&b, off.Approvals); err != nil {
		t.Fatal(err)
	}
	want := "Approvals: mode chosen at run time: on-request with a terminal, nobody asked without (built-in); " +
		"when nobody can be asked, \"ask\" is denied (built-in); a prompt answers deny after 1m (built-in).\n" +
		"Audit log: off (p.hcl:2:3).\n"
	if b.String() != want {
		t.Errorf("explain:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestApprovalsDiagnostics(t *testing.T) {
	cases := []struct{ src, want string }{
		{"approvals {\n  mode = \"on-requst\"\n}\n", `p.hcl:2:10: error: Invalid mode; mode must be "untrusted", "on-request", "on-failure" or "never", not "on-requst". Did you mean "on-request"?`},
		{"approvals {\n  headless = \"alow\"\n}\n", `p.hcl:2:14: error: Invalid headless; headless must be "deny" or "allow", not "alow": it is what "ask" becomes when nobody can be asked. Did you mean "allow"?`},
		{"approvals {\n  timeout = \"0s\"\n}\n", `p.hcl:2:13: error: Invalid timeout; The prompt timeout must be greater than zero, not "0s"; leave it out for the default (1m).`},
		{"approvals {\n  timeout = \"soon\"\n}\n", `p.hcl:2:13: error: Invalid timeout; "soon" is not a duration: write a number with a unit, like "60s" or "2m".`},
		{"approvals {\n  mod = \"never\"\n}\n", `p.hcl:2:3: error: Unsupported argument; An argument named "mod" is not expected in an approvals block. Did you mean "mode"?`},
		{"approvals {}\napprovals {}\n", `p.hcl:2:1: error: Duplicate approvals block; A policy file has at most one approvals block, and one is already at p.hcl:1:1; merge the two.`},
	}
	for _, c := range cases {
		_, diags := policy.Parse([]byte(c.src), "p.hcl", policy.LayerProject, t.TempDir())
		got := diagLines(t, diags)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.src, got, c.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range policy.Modes {
		if got, err := policy.ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := policy.ParseMode("always"); err == nil {
		t.Error("ParseMode accepted always")
	}
}

// TestAuditFailureSetting: approvals.audit_failure is "stop" unless a
// policy says "continue"; a typo is a diagnostic with a suggestion; a
// managed "stop" cannot be relaxed by the project, and a managed
// "continue" does not relax a project's "stop".
func TestAuditFailureSetting(t *testing.T) {
	p, _ := project(t, "env {}\n")
	if a := p.Approvals; a.AuditFailure != policy.AuditStop || a.AuditFailureOrigin.Layer != policy.LayerBuiltin {
		t.Errorf("default: %q from %s", a.AuditFailure, a.AuditFailureOrigin)
	}
	cont, _ := project(t, "approvals {\n  audit_failure = \"continue\"\n}\n")
	if a := cont.Approvals; a.AuditFailure != policy.AuditContinue || a.AuditFailureOrigin.String() != "policy.hcl:2:3" {
		t.Errorf("continue: %q from %s", a.AuditFailure, a.AuditFailureOrigin)
	}
	var b strings.Builder
	policy.ExplainApprovals(&b, cont.Approvals)
	if !strings.Contains(b.String(), "a decision it cannot record is let through, unrecorded (policy.hcl:2:3).") {
		t.Errorf("explain:\n%s", b.String())
	}
	b.Reset()
	policy.ExplainApprovals(&b, p.Approvals)
	if !strings.Contains(b.String(), "Audit log: .airlock/audit.jsonl in the project (built-in); a decision it cannot record stops the run (built-in).") {
		t.Errorf("explain:\n%s", b.String())
	}

	_, diags := policy.Parse([]byte("approvals {\n  audit_failure = \"contine\"\n}\n"), "p.hcl", policy.LayerProject, t.TempDir())
	want := `p.hcl:2:19: error: Invalid audit_failure; audit_failure must be "stop" or "continue", not "contine": it is what a run does when a decision cannot be written to the audit log. Did you mean "continue"?`
	if got := diagLines(t, diags); len(got) != 1 || got[0] != want {
		t.Errorf("diagnostics %q, want %q", got, want)
	}

	stop := managedFile(t, "approvals {\n  audit_failure = \"stop\"\n}\n")
	q, diags := stop.Apply(cont)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if a := q.Approvals; a.AuditFailure != policy.AuditStop || a.AuditFailureOrigin.Layer != policy.LayerManaged {
		t.Errorf("managed stop over project continue: %q from %s", a.AuditFailure, a.AuditFailureOrigin)
	}
	if cont.Approvals.AuditFailure != policy.AuditContinue {
		t.Error("Apply changed its argument")
	}
	relax := managedFile(t, "approvals {\n  audit_failure = \"continue\"\n}\n")
	strict, _ := project(t, "approvals {\n  audit_failure = \"stop\"\n}\n")
	q, _ = relax.Apply(strict)
	if a := q.Approvals; a.AuditFailure != policy.AuditStop || a.AuditFailureOrigin.Layer != policy.LayerProject {
		t.Errorf("managed continue over project stop: %q from %s", a.AuditFailure, a.AuditFailureOrigin)
	}
}
