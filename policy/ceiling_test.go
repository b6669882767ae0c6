package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// managedFile writes src as a managed policy and loads it as a ceiling.
func managedFile(t *testing.T, src string) policy.Ceiling {
	t.Helper()
	path := filepath.Join(t.TempDir(), "managed.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var l policy.Loader
	c, diags := l.LoadCeiling([]string{path})
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	return c
}

func project(t *testing.T, src string) (*policy.Policy, string) {
	t.Helper()
	dir := t.TempDir()
	p, diags := policy.Parse([]byte(src), "policy.hcl", policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	return p, dir
}

func TestCeilingLimitsEnvApprovals(t *testing.T) {
	c := managedFile(t, `
limits {
  memory = "128MiB"
  timeout = "10s"
}
env {
  pass = ["LANG", "TZ"]
  set = { AUDITED = "yes" }
}
approvals {
  mode = "never"
  headless = "deny"
}
`)
	p, _ := project(t, `
limits {
  memory = "1GiB"
  timeout = "5s"
}
env {
  pass = ["LANG", "HOME", "AUDITED"]
}
approvals {
  mode = "untrusted"
  headless = "allow"
}
`)
	q, diags := c.Apply(p)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if q.Limits.Memory != 128<<20 || q.Limits.MemoryOrigin.Layer != policy.LayerManaged ||
		!strings.HasPrefix(q.Limits.MemoryOrigin.String(), policy.ManagedFilePrefix) {
		t.Errorf("memory %d from %s: the managed maximum should win", q.Limits.Memory, q.Limits.MemoryOrigin)
	}
	if q.Limits.Timeout != 5*time.Second || q.Limits.TimeoutOrigin.Layer != policy.LayerProject {
		t.Errorf("timeout %v from %s: the project's lower value should stay", q.Limits.Timeout, q.Limits.TimeoutOrigin)
	}
	if !slices.Equal(q.Env.Pass, []string{"LANG"}) {
		t.Errorf("pass %v, want the intersection [LANG]", q.Env.Pass)
	}
	if q.Env.Set["AUDITED"] != "yes" || q.Env.Origins["AUDITED"].Layer != policy.LayerManaged {
		t.Errorf("managed set: %v %v", q.Env.Set, q.Env.Origins["AUDITED"])
	}
	if q.Approvals.Mode != policy.ModeNever || q.Approvals.ModeOrigin.Layer != policy.LayerManaged {
		t.Errorf("mode %q from %s", q.Approvals.Mode, q.Approvals.ModeOrigin)
	}
	if q.Approvals.Headless != policy.Deny || q.Approvals.HeadlessOrigin.Layer != policy.LayerManaged {
		t.Errorf("headless %v from %s", q.Approvals.Headless, q.Approvals.HeadlessOrigin)
	}
	// p itself is unchanged.
	if p.Limits.Memory != 1<<30 || len(p.Env.Pass) != 3 || p.Approvals.Mode != policy.ModeUntrusted {
		t.Error("Apply changed its argument")
	}

	// A managed headless "allow" does not widen a project's "deny".
	c2 := managedFile(t, "approvals {\n  headless = \"allow\"\n}\n")
	p2, _ := project(t, "approvals {\n  headless = \"deny\"\n}\n")
	q2, _ := c2.Apply(p2)
	if q2.Approvals.Headless != policy.Deny || q2.Approvals.HeadlessOrigin.Layer != policy.LayerProject {
		t.Errorf("headless %v from %s", q2.Approvals.Headless, q2.Approvals.HeadlessOrigin)
	}
}

func TestCeilingMounts(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "src/proj"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := managedFile(t, `
mount "/src" {
  host = "`+filepath.Join(root, "src")+`"
  access = "read"
  hide = ["*.key"]
  protect = ["Makefile"]
}
`)
	p, diags := policy.Parse([]byte(`
mount "/work" {
  host = "proj"
  access = "write"
  protect_defaults = false
}
`), "policy.hcl", policy.LayerProject, filepath.Join(root, "src"))
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	p, diags = p.With(policy.Overrides{Mounts: []string{filepath.Join(root, "src") + ":/more:rw"}}, root)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	q, diags := c.Apply(p)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	for _, m := range q.Mounts {
		if m.Access != policy.Read || m.Origin.Layer != policy.LayerManaged {
			t.Errorf("%s: access %v from %s, want read from the managed mount", m.Guest, m.Access, m.Origin)
		}
		for _, want := range []string{"Makefile", ".git", ".airlock"} {
			i := slices.IndexFunc(m.Protect, func(p policy.Pattern) bool { return p.Text == want })
			if i < 0 {
				t.Errorf("%s: protect lacks %s: %v", m.Guest, want, texts(m.Protect))
			} else if want != ".git" || m.Guest == "/work" {
				// /work turned the defaults off: the managed layer puts them back.
				if m.Protect[i].Origin.Layer != policy.LayerManaged && m.Guest == "/work" {
					t.Errorf("%s: %s from %s", m.Guest, want, m.Protect[i].Origin)
				}
			}
		}
		if !slices.Contains(texts(m.Hide), "*.key") {
			t.Errorf("%s: hide lacks *.key: %v", m.Guest, texts(m.Hide))
		}
	}

	// A mount outside every managed mount is refused.
	out, diags := policy.Parse([]byte(`mount "/x" {
  host = "`+filepath.Join(root, "other")+`"
}
`), "policy.hcl", policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if _, diags := c.Apply(out); !diags.HasErrors() || !strings.Contains(diagLines(t, diags)[0], "policy.hcl:1:1: error: Mount outside the managed policy") {
		t.Errorf("outside mount: %v", diagLines(t, diags))
	}
}

func TestCheckNetworkCeiling(t *testing.T) {
	c := managedFile(t, `
network {
  default = "ask"
  allow = ["https://api.github.com"]
  deny = ["*.evil.example"]
}
`)
	p, _ := project(t, `
network {
  default = "allow"
  allow = ["https://x.evil.example"]
}
`)
	q, diags := c.Apply(p)
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	pub := netip.MustParseAddr("140.82.112.5")
	cases := []struct {
		host    string
		verdict policy.Verdict
		layer   policy.Layer
	}{
		{"x.evil.example", policy.Deny, policy.LayerManaged},    // managed deny beats a project allow
		{"api.github.com", policy.Allow, policy.LayerProject},   // both allow: the project default decides
		{"example.org", policy.Ask, policy.LayerManaged},        // managed ask turns the project's allow into ask
		{"metadata.internal", policy.Deny, policy.LayerBuiltin}, // replaced below with a special address
	}
	for _, tc := range cases[:3] {
		d := q.CheckNetwork(policy.Dest{Scheme: "https", Host: tc.host, Port: 443, IP: pub})
		if d.Verdict != tc.verdict || d.Origin.Layer != tc.layer {
			t.Errorf("%s: %v by %s (%s), want %v from %s", tc.host, d.Verdict, d.Rule, d.Origin, tc.verdict, tc.layer)
		}
	}
	// The project's own Network.Check alone would allow it: only
	// CheckNetwork bounds it.
	if d := q.Network.Check(policy.Dest{Scheme: "https", Host: "x.evil.example", Port: 443, IP: pub}); d.Verdict != policy.Allow {
		t.Fatalf("project check %v", d.Verdict)
	}

	// A managed block's special-address rule is the managed layer's.
	p2, _ := project(t, "network {\n  allow = [\"tcp://127.0.0.1:8080\"]\n}\n")
	q2, _ := c.Apply(p2)
	d := q2.CheckNetwork(policy.Dest{Scheme: "tcp", Host: "127.0.0.1", Port: 8080, IP: netip.MustParseAddr("127.0.0.1")})
	if d.Verdict != policy.Deny || d.Origin.Layer != policy.LayerManaged {
		t.Errorf("loopback: %v by %s (%s)", d.Verdict, d.Rule, d.Origin)
	}

	// Without a managed network block, the network is the project's.
	c3 := managedFile(t, "limits {\n  memory = \"64MiB\"\n}\n")
	q3, _ := c3.Apply(p2)
	if d := q3.CheckNetwork(policy.Dest{Scheme: "tcp", Host: "127.0.0.1", Port: 8080, IP: netip.MustParseAddr("127.0.0.1")}); d.Verdict != policy.Allow {
		t.Errorf("no managed network: %v by %s", d.Verdict, d.Rule)
	}
}

func TestNeedsGrantRefuses(t *testing.T) {
	p, dir := project(t, `
mount "/work" {
  host = "."
  access = "read"
}
env {
  pass = ["LANG"]
}
limits {
  memory = "64MiB"
  timeout = "10s"
}
network {
  default = "deny"
  allow = ["https://api.github.com"]
}
credential "gh" {
  env = "GH_TOKEN"
  hosts = ["api.github.com"]
  header = "Authorization: Bearer {value}"
}
`)
	_ = dir
	e := policy.Escalation{
		Network: []string{"https://api.github.com", "https://example.org", "https://*.example.net"},
		Env:     []string{"LANG", "GITHUB_USER", "GH_TOKEN"},
		Write:   []string{"/work"},
		Memory:  512 << 20,
		Timeout: 5 * time.Second,
	}
	caps, err := p.Needs(e)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range caps {
		got = append(got, c.String())
	}
	want := []string{"network https://example.org", "network https://*.example.net", "env GITHUB_USER", "env GH_TOKEN", "mount.write /work", "limits.memory 512 MiB"}
	if !slices.Equal(got, want) {
		t.Fatalf("needs:\n got %q\nwant %q", got, want)
	}

	q, err := p.Grant(caps, policy.Origin{Layer: policy.LayerGrant})
	if err != nil {
		t.Fatal(err)
	}
	if rest, _ := q.Needs(e); len(rest) != 0 {
		t.Errorf("still needed after Grant: %v", rest)
	}
	if q.Mounts[0].Access != policy.Write || q.Mounts[0].Origin.Layer != policy.LayerGrant || p.Mounts[0].Access != policy.Read {
		t.Error("Grant did not widen a copy")
	}

	var none policy.Ceiling
	if refused, rule, _ := none.Refuses(p, policy.Capability{Kind: policy.CapEnv, Target: "GH_TOKEN"}); !refused || !strings.Contains(rule, "credential") {
		t.Errorf("a credential's variable was offered: %v %s", refused, rule)
	}
	if refused, rule, _ := none.Refuses(p, policy.Capability{Kind: policy.CapEnv, Target: "GITHUB_USER"}); refused {
		t.Errorf("GITHUB_USER refused: %s", rule)
	}

	c := managedFile(t, `
env {
  pass = ["LANG"]
}
limits {
  memory = "256MiB"
}
network {
  default = "deny"
  allow = ["https://api.github.com"]
}
`)
	for _, cap := range caps {
		refused, rule, origin := c.Refuses(p, cap)
		wantRefused := cap.Kind != policy.CapWrite && cap.Target != "https://*.example.net"
		if refused != wantRefused {
			t.Errorf("%s: refused %v (%s, %s), want %v", cap, refused, rule, origin, wantRefused)
		}
		if refused && cap.Kind != policy.CapEnv && origin.Layer != policy.LayerManaged {
			t.Errorf("%s refused by %s (%s), want the managed layer", cap, rule, origin)
		}
	}

	if _, err := p.Needs(policy.Escalation{Write: []string{"/elsewhere"}}); err == nil || !strings.Contains(err.Error(), "/elsewhere is not a mount") {
		t.Errorf("write outside a mount: %v", err)
	}
	if _, err := p.Needs(policy.Escalation{Network: []string{"ftp://x"}}); err == nil {
		t.Error("a bad network rule was accepted")
	}
}

func TestLoadCeilingErrors(t *testing.T) {
	var l policy.Loader
	if _, diags := l.LoadCeiling([]string{filepath.Join(t.TempDir(), "missing.hcl")}); !diags.HasErrors() ||
		!strings.Contains(diags[0].Summary, "Cannot read the managed policy") {
		t.Errorf("missing managed policy: %v", diags)
	}
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	os.WriteFile(bad, []byte("limits {\n  memory = \"lots\"\n}\n"), 0o644)
	_, diags := l.LoadCeiling([]string{bad})
	if lines := diagLines(t, diags); len(lines) != 1 || !strings.HasPrefix(lines[0], policy.ManagedFilePrefix+bad+":2:12: error:") {
		t.Errorf("bad managed policy: %v", lines)
	}
	env := map[string]string{policy.ManagedPolicyEnv: bad}
	paths := policy.ManagedPaths(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if paths[len(paths)-1] != bad {
		t.Errorf("ManagedPaths = %v", paths)
	}
}
