package wall_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/policy"
)

func parse(t *testing.T, src string) *policy.Policy {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ref"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, diags := policy.Parse([]byte(src), "policy.hcl", policy.LayerProject, dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

// What a plan keeps reachable, from a policy and what may answer its asks.
func TestPlanFromPolicy(t *testing.T) {
	const mounts = `
mount "/work" {
  host   = "."
  access = "write"
}
mount "/ref" {
  host = "ref"
}
`
	for _, tc := range []struct {
		name     string
		src      string
		answers  wall.Answers
		refWrite bool     // the read mount /ref is writable in the plan
		ports    []uint16 // nil: none
		anyPort  string   // a substring of the reason, "" for ports only
		lookups  bool     // port 53 and the resolver's files
	}{
		{name: "read mount stays read-only when nothing can allow a write",
			src: mounts},
		{name: "a person or a headless allow may approve a write into a read mount",
			src: mounts, answers: wall.Answers{AskMayAllow: true}, refWrite: true},
		{name: "a remembered write grant below a read mount",
			src: mounts, answers: wall.Answers{Writes: []string{"/ref/a/b"}}, refWrite: true},
		{name: "a grant below another mount does not count",
			src: mounts, answers: wall.Answers{Writes: []string{"/reference/x"}}},
		{name: "https and http rules name their ports; names need lookups",
			src: mounts + `network {
  allow = ["https://api.github.com", "http://example.com", "tcp://10.1.2.3:5432-5434"]
}`, ports: []uint16{443, 80, 5432, 5433, 5434, 53}, lookups: true},
		{name: "address rules need lookups too: localhost is matched by its address",
			src: mounts + `network {
  allow = ["tcp://127.0.0.1:8080"]
}`, ports: []uint16{8080, 53}, lookups: true},
		{name: "no network: no lookups",
			src: mounts},
		{name: "a rule without a port allows any",
			src: mounts + `network {
  allow = ["api.github.com"]
}`, anyPort: `network allow "api.github.com" names no port`, lookups: true},
		{name: "default allow",
			src: mounts + `network {
  default = "allow"
}`, anyPort: `network.default = "allow"`, lookups: true},
		{name: "default ask that nobody can answer: only the rules' ports",
			src: mounts + `network {
  default = "ask"
  allow   = ["tcp://127.0.0.1:9000"]
}`, ports: []uint16{9000, 53}, lookups: true},
		{name: "default ask that may be answered: any port",
			src: mounts + `network {
  default = "ask"
}`, answers: wall.Answers{AskMayAllow: true}, refWrite: true, anyPort: `network.default = "ask"`, lookups: true},
		{name: "too many ports to list",
			src: mounts + `network {
  allow = ["tcp://127.0.0.1:1000-3000"]
}`, anyPort: "more than 1024 ports", lookups: true},
		{name: "remembered connect grants",
			src: mounts, answers: wall.Answers{Connects: []string{"api.github.com:443", "[::1]:7000"}},
			ports: []uint16{443, 7000, 53}, lookups: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := parse(t, tc.src)
			var p wall.Plan
			p.AddPolicy(pol, tc.answers)
			if len(p.Paths) < 2 || p.Paths[0].Access != wall.Write || p.Paths[0].Why != "mount /work" {
				t.Fatalf("paths %+v", p.Paths)
			}
			ref := p.Paths[1]
			if got := ref.Access == wall.Write; got != tc.refWrite || !strings.HasPrefix(ref.Why, "mount /ref") {
				t.Errorf("/ref: %+v, want writable %v", ref, tc.refWrite)
			}
			if tc.anyPort == "" && !slices.Equal(p.Connect, tc.ports) || tc.anyPort == "" && p.AnyPort != "" {
				t.Errorf("ports %v (any: %q), want %v", p.Connect, p.AnyPort, tc.ports)
			}
			if tc.anyPort != "" && !strings.Contains(p.AnyPort, tc.anyPort) {
				t.Errorf("any port: %q, want %q", p.AnyPort, tc.anyPort)
			}
			lookups := slices.ContainsFunc(p.Paths, func(x wall.Path) bool { return x.Path == "/etc/resolv.conf" })
			if lookups != tc.lookups {
				t.Errorf("resolver files: %v, want %v (%+v)", lookups, tc.lookups, p.Paths)
			}
		})
	}
}

// A mount the managed ceiling made read-only stays read-only whatever may
// answer: a write into it is never asked about.
func TestPlanManagedReadOnly(t *testing.T) {
	pol := parse(t, "mount \"/ref\" {\n  host = \".\"\n}\n")
	pol.Mounts[0].Origin.Layer = policy.LayerManaged
	var p wall.Plan
	p.AddPolicy(pol, wall.Answers{AskMayAllow: true, Writes: []string{"/ref/x"}})
	if p.Paths[0].Access != wall.Read {
		t.Errorf("%+v", p.Paths)
	}
}

func TestPlanEndpoints(t *testing.T) {
	var p wall.Plan
	p.AddEndpoints("telemetry endpoint", "http://127.0.0.1:4318", "https://collector.example", "localhost:4317")
	if !slices.Equal(p.Connect, []uint16{4318, 443, 53, 4317}) || p.AnyPort != "" || !p.Net {
		t.Errorf("ports %v, any %q", p.Connect, p.AnyPort)
	}
	var q wall.Plan
	q.AddEndpoints("telemetry endpoint", "collector")
	if !strings.Contains(q.AnyPort, `telemetry endpoint "collector" names no port`) {
		t.Errorf("any %q", q.AnyPort)
	}
	// The zero plan reaches nothing.
	var z wall.Plan
	if z.Net || len(z.Paths) != 0 || z.AnyPort != "" {
		t.Errorf("%+v", z)
	}
}
