package main

import (
	"fmt"
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

// TestAttackMountThroughPlantedLinkIntoGit: a tool run in the writable
// project (the built-in default) moves build/ away and leaves
// `build -> .git` in its place (a link that stays inside the mount). The
// person's next run mounts the build folder writable (--mount
// ./build:/work, or a policy's host = "./build"): the mount resolved
// through the link to .git itself, where no protect pattern applies (they
// match names below the mount's root), and the tool rewrote .git/config
// (core.fsmonitor runs a command at the next git status) and added
// .git/hooks files. A mount must not reach a protected folder through a
// link the person did not write.
func TestAttackMountThroughPlantedLinkIntoGit(t *testing.T) {
	proj, _ := project(t)
	if err := os.MkdirAll(filepath.Join(proj, ".git", "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(proj, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(proj, ".git", "config")
	before, _ := os.ReadFile(config)
	plant := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--", "rename=build:old", "symlink=build:.git")
	if strings.Count(plant.stdout, "errno=0") != 2 {
		t.Fatalf("the link was not made (the attack's premise): %s%s", plant.stdout, plant.stderr)
	}
	for _, mount := range []string{"./build:/work", "./build/hooks:/work"} {
		r := runCLI(t, proj, "", nil, "run", "--headless", "--mount", mount, attackWasm, "--",
			"write=config:[core]\n\tfsmonitor = touch pwned", "write=x:planted")
		if strings.Contains(r.stdout, "errno=0") {
			t.Errorf("--mount %s: the tool wrote through the mount: %s", mount, r.stdout)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "symbolic link") {
			t.Errorf("--mount %s: exit %d, want a refusal naming the link:\n%s", mount, r.code, r.stderr)
		}
	}
	if b, _ := os.ReadFile(config); string(b) != string(before) {
		t.Errorf(".git/config changed:\n%s", b)
	}
	for _, p := range []string{".git/x", ".git/hooks/x"} {
		if _, err := os.Lstat(filepath.Join(proj, p)); err == nil {
			t.Errorf("%s was made", p)
		}
	}
}

// TestAttackMountThroughPlantedLinkWidensProject: the person's policy keeps
// the project read-only and only out/ writable. A tool run earlier under
// the built-in default (the project writable) left `out -> .`; the policy's
// host = "./out" then resolves to the whole project, writable. Not fixed:
// the link holds no protected name, so mountThroughLink lets it pass.
func TestAttackMountThroughPlantedLinkWidensProject(t *testing.T) {
	proj, _ := project(t)
	if err := os.Mkdir(filepath.Join(proj, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	plant := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--", "rename=out:old", "symlink=out:.")
	if strings.Count(plant.stdout, "errno=0") != 2 {
		t.Fatalf("the link was not made (the attack's premise): %s%s", plant.stdout, plant.stderr)
	}
	pol := filepath.Join(t.TempDir(), "ro.hcl")
	os.WriteFile(pol, []byte(fmt.Sprintf("mount \"/work\" {\n  host   = %q\n  access = \"write\"\n}\nmount \"/src\" {\n  host   = %q\n  access = \"read\"\n}\n",
		filepath.Join(proj, "out"), proj)), 0o644)
	mainGo := filepath.Join(proj, "main.go")
	before, _ := os.ReadFile(mainGo)
	r := runCLI(t, proj, "", nil, "run", "--headless", "--policy", pol, attackWasm, "--", "write=main.go:owned")
	if b, _ := os.ReadFile(mainGo); string(b) != string(before) {
		t.Errorf("main.go, in the read-only project, was rewritten through out -> . (exit %d): %q", r.code, b)
	}
	if r.code != ExitUsage || !strings.Contains(r.stderr, "passes through the symbolic link "+filepath.Join(proj, "out")) {
		t.Errorf("exit %d, want %d and the link named:\n%s", r.code, ExitUsage, r.stderr)
	}
	// The person who means the whole project names it: accepted.
	os.WriteFile(pol, []byte(fmt.Sprintf("mount \"/work\" {\n  host   = %q\n  access = \"write\"\n}\n", proj)), 0o644)
	if r := runCLI(t, proj, "", nil, "run", "--headless", "--policy", pol, attackWasm, "--", "write=w.txt:ok"); r.code != 0 {
		t.Errorf("the real place named: exit %d\n%s", r.code, r.stderr)
	}
}

// A --policy file inside the writable project could have been rewritten by
// a tool of an earlier run under another policy: airlock says so. One
// reached through a link a tool may have planted there is refused, so that
// no tool chooses which policy airlock reads. The project's own
// .airlock/policy.hcl is protected: no warning.
func TestAttackPolicyFileInTheWritableProject(t *testing.T) {
	proj, _ := project(t)
	pol := fmt.Sprintf("mount \"/work\" {\n  host   = %q\n  access = \"write\"\n}\n", proj)
	for _, p := range []string{"conf/p.hcl", "other/p.hcl", ".airlock/policy.hcl"} {
		os.MkdirAll(filepath.Join(proj, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(proj, p), []byte(pol), 0o644)
	}
	r := runCLI(t, proj, "", nil, "run", "--headless", "--policy", "conf/p.hcl", probeWasm, "--", "exit", "0")
	if r.code != 0 || !strings.Contains(r.stderr, "airlock: warning: the policy file conf/p.hcl lies in the writable mount /work") {
		t.Errorf("exit %d, want 0 and a warning:\n%s", r.code, r.stderr)
	}
	r = runCLI(t, proj, "", nil, "run", "--headless", "--policy", ".airlock/policy.hcl", probeWasm, "--", "exit", "0")
	if r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Errorf("the protected project policy: exit %d, want 0 and no warning:\n%s", r.code, r.stderr)
	}
	os.RemoveAll(filepath.Join(proj, "conf"))
	if err := os.Symlink("other", filepath.Join(proj, "conf")); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, proj, "", nil, "run", "--headless", "--policy", "conf/p.hcl", probeWasm, "--", "exit", "0")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "is reached through the symbolic link "+filepath.Join(proj, "conf")) {
		t.Errorf("through a planted link: exit %d, want %d and the link named:\n%s", r.code, ExitUsage, r.stderr)
	}
}

// A link above the project (a /home or /tmp that is a link) is the
// machine's, not a tool's: a project reached through one keeps its --json,
// --otel-file and --learn files. Only a link that lies inside a writable
// mount is refused (the tests above). This once refused them all, since
// the folder holding such a link contains the mount.
func TestLinkAboveTheProjectIsThePersons(t *testing.T) {
	// base/link -> real, and the project is base/real/proj: the folder
	// holding the link (base) contains the project's mount.
	base := t.TempDir()
	proj := filepath.Join(base, "real", "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	via := filepath.Join(base, "link", "proj")
	// PWD as a shell sets it: the working folder as reached, through the link.
	r := runCLI(t, via, "", []string{"PWD=" + via}, "run", "--headless", "--json=r.json", "--otel-file", "trace.jsonl", "--learn", "learned.hcl", probeWasm, "--", "exit", "0")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", r.code, r.stderr)
	}
	for _, f := range []string{"r.json", "trace.jsonl", "learned.hcl"} {
		if _, err := os.Stat(filepath.Join(proj, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

// The same for `airlock mcp`, whose audit log and trace file a policy
// names: a planted `out -> .git` refuses the server at start, and
// .git/config is unchanged.
func TestAttackLinkOnTheWayToMCPAuditAndTrace(t *testing.T) {
	proj, _ := project(t)
	config := filepath.Join(proj, ".git", "config")
	before, _ := os.ReadFile(config)
	if err := os.Symlink(".git", filepath.Join(proj, "out")); err != nil {
		t.Fatal(err)
	}
	mount := fmt.Sprintf("mount \"/work\" {\n  host   = %q\n  access = \"write\"\n}\n", proj)
	target := filepath.Join(proj, "out", "config")
	for name, extra := range map[string]string{
		"audit": fmt.Sprintf("approvals {\n  audit = %q\n}\n", target),
		"trace": fmt.Sprintf("telemetry {\n  exporter = \"file\"\n  file     = %q\n}\n", target),
	} {
		pol := filepath.Join(t.TempDir(), name+".hcl")
		os.WriteFile(pol, []byte(mount+extra), 0o644)
		r := runCLI(t, proj, "", nil, "mcp", "--tools", t.TempDir(), "--policy", pol)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "symbolic link "+filepath.Join(proj, "out")) {
			t.Errorf("%s: exit %d, want %d and the link named:\n%s", name, r.code, ExitUsage, r.stderr)
		}
		if b, _ := os.ReadFile(config); string(b) != string(before) {
			t.Fatalf("%s: .git/config changed through the planted link:\n%.400s", name, b)
		}
	}
}
