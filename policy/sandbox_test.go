package policy_test

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func TestSandboxBlock(t *testing.T) {
	for _, tc := range []struct {
		src    string
		want   policy.LandlockMode
		origin string
	}{
		// No block: the wall goes up where it can.
		{``, policy.LandlockAuto, "builtin"},
		// A block without the attribute keeps the default.
		{"sandbox {}\n", policy.LandlockAuto, "builtin"},
		{"sandbox {\n  landlock = \"require\"\n}\n", policy.LandlockRequire, "policy.hcl:2:3"},
		{"sandbox {\n  landlock = \"off\"\n}\n", policy.LandlockOff, "policy.hcl:2:3"},
		{"sandbox {\n  landlock = \"auto\"\n}\n", policy.LandlockAuto, "policy.hcl:2:3"},
	} {
		p, diags := policy.Parse([]byte(tc.src), "policy.hcl", policy.LayerProject, t.TempDir())
		if diags.HasErrors() {
			t.Fatalf("%q: %s", tc.src, diagLines(t, diags))
		}
		if p.Sandbox.Landlock != tc.want || p.Sandbox.LandlockOrigin.String() != tc.origin {
			t.Errorf("%q: landlock %q from %s, want %q from %s", tc.src, p.Sandbox.Landlock, p.Sandbox.LandlockOrigin, tc.want, tc.origin)
		}
	}
}

func TestSandboxBlockErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		// A misspelt value gets a hint, at the value's position.
		{"sandbox {\n  landlock = \"requires\"\n}\n",
			`policy.hcl:2:14: error: Invalid landlock; landlock must be "off", "auto" or "require", not "requires". Did you mean "require"?`},
		// Not a string.
		{"sandbox {\n  landlock = true\n}\n",
			`policy.hcl:2:14: error: Invalid landlock; landlock must be a string, like "require".`},
		// An unknown argument.
		{"sandbox {\n  landlok = \"require\"\n}\n",
			`policy.hcl:2:3: error: Unsupported argument; An argument named "landlok" is not expected in a sandbox block. Did you mean "landlock"?`},
		// At most one block.
		{"sandbox {}\nsandbox {}\n",
			`policy.hcl:2:1: error: Duplicate sandbox block; A policy file has at most one sandbox block, and one is already at policy.hcl:1:1; merge the two.`},
	} {
		_, diags := policy.Parse([]byte(tc.src), "policy.hcl", policy.LayerProject, t.TempDir())
		if got := strings.Join(diagLines(t, diags), "\n"); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.src, got, tc.want)
		}
	}
}

// The managed layer's landlock mode is a floor: a project may ask for more
// (require over auto), never for less.
func TestSandboxCeiling(t *testing.T) {
	for _, tc := range []struct {
		managed, project policy.LandlockMode
		want             policy.LandlockMode
		fromManaged      bool
	}{
		{policy.LandlockRequire, policy.LandlockOff, policy.LandlockRequire, true},
		{policy.LandlockRequire, policy.LandlockAuto, policy.LandlockRequire, true},
		{policy.LandlockAuto, policy.LandlockOff, policy.LandlockAuto, true},
		{policy.LandlockAuto, policy.LandlockRequire, policy.LandlockRequire, false},
		{policy.LandlockOff, policy.LandlockAuto, policy.LandlockAuto, false},
	} {
		c := managedFile(t, "sandbox {\n  landlock = \""+string(tc.managed)+"\"\n}\n")
		p, _ := project(t, "sandbox {\n  landlock = \""+string(tc.project)+"\"\n}\n")
		q, diags := c.Apply(p)
		if diags.HasErrors() {
			t.Fatal(diagLines(t, diags))
		}
		s := q.Sandbox
		if s.Landlock != tc.want || (s.LandlockOrigin.Layer == policy.LayerManaged) != tc.fromManaged {
			t.Errorf("managed %s, project %s: got %s from %s", tc.managed, tc.project, s.Landlock, s.LandlockOrigin)
		}
	}
	// A managed policy without a sandbox block leaves the project's "off".
	c := managedFile(t, "limits {\n  memory = \"1GiB\"\n}\n")
	p, _ := project(t, "sandbox {\n  landlock = \"off\"\n}\n")
	if q, _ := c.Apply(p); q.Sandbox.Landlock != policy.LandlockOff {
		t.Errorf("got %s", q.Sandbox.Landlock)
	}
}

func TestExplainSandbox(t *testing.T) {
	p, _ := project(t, "sandbox {\n  landlock = \"require\"\n}\n")
	var b strings.Builder
	if err := policy.ExplainSandbox(&b, p.Sandbox); err != nil {
		t.Fatal(err)
	}
	want := "Second wall: Landlock required: airlock refuses to run a tool where the kernel has no Landlock (policy.hcl:2:3).\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
