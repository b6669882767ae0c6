package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/airlockhq/airlock/"

// allowed lists, for each package, the project packages it may import
// (directly or not). A new arrow is a design decision: add it here with
// its reason in RATIONALE.md, "Package arrows".
var allowed = map[string][]string{
	// The policy language is pure: nothing of the project but the
	// helpers every HCL format shares, which import nothing of it.
	"policy":        {"internal/hclx"},
	"internal/hclx": {},
	// The vocabulary of decisions, shared by everything that asks,
	// answers, records or reads them; a leaf, so that none of those links
	// the engine for it (TestLeafLinksNoEngine).
	"decision": {"policy"},
	// The host-function implementation, and the small public extension
	// point that names a few of its types (RATIONALE.md, "Why is the
	// host-function implementation in internal/host, not
	// hostfuncs/internal?").
	"internal/host": {"decision", "policy"},
	"hostfuncs":     {"internal/host"},
	"manifest":      {"policy"},
	"runtime":       {"hostfuncs", "internal/host", "decision", "policy", "internal/wasmfile", "internal/wasmbuild"},
	"approvals":     {"decision", "policy"},
	"telemetry":     {"runtime", "hostfuncs", "internal/host", "decision", "policy", "internal/wasmfile", "internal/wasmbuild"},
	// The trace viewer reads what telemetry writes, and OTLP JSON through
	// the one decoder of it, which the tests' Collector shares.
	"telemetry/traceview":  {"telemetry", "internal/otlpjson"},
	"internal/otlpjson":    {},
	"internal/otelcoltest": {"internal/otlpjson"},
	"mcp":                  {"approvals", "manifest", "runtime", "hostfuncs", "internal/host", "decision", "policy", "internal/wasmfile", "internal/wasmbuild"},
	"tooltest":             {"manifest", "runtime", "hostfuncs", "internal/host", "decision", "policy", "internal/wasmfile", "internal/wasmbuild"},
	// Learn mode turns what the gate saw (decision.Use and Decision) into
	// policy text; it runs nothing, so it needs no engine (RATIONALE.md,
	// "Why is learn mode a package of its own?").
	"learn": {"decision", "policy"},
	// The second wall reads policies to plan what stays reachable, and
	// nothing else of the project: the CLI gives it the rest as plain
	// paths and ports (RATIONALE.md, "Why a second wall, and why Landlock?").
	"internal/wall":          {"policy"},
	"internal/wall/walltest": {},
	// The warm server and its client know nothing of airlock: the client
	// runs in an init function, before the rest of airlock starts, and
	// the worker gets the CLI as callbacks (RATIONALE.md, "Why a warm
	// worker, and why is it safe?").
	"internal/warm":         {},
	"internal/warm/handoff": {"internal/warm"},
}

// deps lists what pkg (of this module) links: every package it imports,
// directly or not, and itself.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestPackageArrows(t *testing.T) {
	for pkg, ok := range allowed {
		// What a package may import, it may import along with what that
		// may import.
		may := map[string]bool{pkg: true}
		var add func(ps []string)
		add = func(ps []string) {
			for _, p := range ps {
				if !may[p] {
					may[p] = true
					add(allowed[p])
				}
			}
		}
		add(ok)
		for _, dep := range deps(t, pkg) {
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
	for _, pkg := range []string{"hostfuncs", "internal/host", "runtime", "policy"} {
		for _, dep := range deps(t, pkg) {
			if strings.Contains(dep, "charmbracelet") || strings.Contains(dep, "modelcontextprotocol") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestLeafLinksNoEngine: the decision vocabulary, and the packages that
// only speak it (the approvals and their user interfaces, learn mode),
// link neither the WebAssembly engine nor an HTTP stack.
func TestLeafLinksNoEngine(t *testing.T) {
	for _, pkg := range []string{"decision", "approvals", "learn"} {
		for _, dep := range deps(t, pkg) {
			if strings.HasPrefix(dep, "github.com/tetratelabs/wazero") || dep == "net/http" {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
