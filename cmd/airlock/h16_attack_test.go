package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Attacks on what airlock itself does on the host with something a tool
// could have written (the h16 red team; docs/filesystem.md).

// TestAttackLinkOnTheWayToReportTraceAudit: the h15 defence refuses a
// link in the last component of the --json report, the --otel-file trace
// and the --audit log. A tool run in the writable project instead leaves
// `out -> .git` (a link that stays inside the mount, so making it is
// allowed; .git itself is protected). A later run that names out/config
// for any of the three wrote into .git/config, a protected file: the
// report replaced it with JSON, the trace and the audit log appended
// records holding names the tool chose ("$(…)" runs when a shell reads the
// file). Each must be refused before anything is written, and .git/config
// keep its bytes.
func TestAttackLinkOnTheWayToReportTraceAudit(t *testing.T) {
	proj, _ := project(t)
	config := filepath.Join(proj, ".git", "config")
	before, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	plant := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--", "symlink=out:.git")
	if !strings.Contains(plant.stdout, "errno=0") {
		t.Fatalf("the link was not made (the attack's premise): %s%s", plant.stdout, plant.stderr)
	}
	for _, args := range [][]string{
		{"--json=out/config"},
		{"--otel-file", "out/config"},
		{"--audit", "out/config"},
		{"--json=out/new.json"},
	} {
		r := runCLI(t, proj, "", nil, append(append([]string{"run", "--headless"}, args...), attackWasm, "--", "read=$(touch pwned)/.env")...)
		if r.code == 0 {
			t.Errorf("%v: the run went ahead (exit 0)", args)
		}
		if !strings.Contains(r.stderr, "symbolic link") {
			t.Errorf("%v: the refusal does not name the link: %s", args, r.stderr)
		}
		if strings.Contains(r.stdout, "errno=") {
			t.Errorf("%v: the tool ran: %s", args, r.stdout)
		}
		if b, _ := os.ReadFile(config); string(b) != string(before) {
			t.Fatalf("%v: .git/config changed through the planted link:\n%.400s", args, b)
		}
	}
	if _, err := os.Lstat(filepath.Join(proj, ".git", "new.json")); err == nil {
		t.Error("a new report file was made in .git")
	}
}
