// Package archtest holds tests that keep the project's package arrows
// pointing downwards: cmd → mcp → runtime → hostfuncs → policy (DESIGN.md).
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/airlockhq/airlock/"

// allowed lists, for each package, the project packages it may import
// (directly or not). A new arrow is a design decision: add it here with
// its reason in RATIONALE.md.
var allowed = map[string][]string{
	"policy":    {},
	"hostfuncs": {"policy"},
	"manifest":  {"policy"},
	"runtime":   {"hostfuncs", "policy", "internal/wasmfile", "internal/wasmbuild"},
	"approvals": {"hostfuncs", "policy"},
	"telemetry": {"runtime", "hostfuncs", "policy", "internal/wasmfile", "internal/wasmbuild"},
	"mcp":       {"approvals", "manifest", "runtime", "hostfuncs", "policy", "internal/wasmfile", "internal/wasmbuild"},
	"tooltest":  {"manifest", "runtime", "hostfuncs", "policy", "internal/wasmfile", "internal/wasmbuild"},
	// Learn mode turns what the gate saw (hostfuncs' Use and Decision)
	// into policy text; it runs nothing, so it needs no engine
	// (RATIONALE.md, "Why is learn mode a package of its own?").
	"learn": {"hostfuncs", "policy"},
	// The second wall reads policies to plan what stays reachable, and
	// nothing else of the project: the CLI gives it the rest as plain
	// paths and ports (RATIONALE.md, "Why a second wall, and why Landlock?").
	"internal/wall":          {"policy"},
	"internal/wall/walltest": {},
}

func TestPackageArrows(t *testing.T) {
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		may := map[string]bool{pkg: true}
		for _, p := range ok {
			may[p] = true
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, mine := strings.CutPrefix(dep, module)
			if mine && !may[rel] {
				t.Errorf("%s imports %s, which it must not (allowed: %v)", pkg, rel, ok)
			}
		}
	}
}

// The UI of the approvals (huh, terminals) must not leak into what the
// guest can call or into the engine.
func TestNoUIBelowApprovals(t *testing.T) {
	for _, pkg := range []string{"hostfuncs", "runtime", "policy"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "charmbracelet") || strings.Contains(dep, "modelcontextprotocol") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
