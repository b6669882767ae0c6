package policy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/policy"
)

// diagLines renders diags the way `airlock policy check` prints them.
func diagLines(t *testing.T, diags hcl.Diagnostics) []string {
	t.Helper()
	var b strings.Builder
	if err := policy.WriteDiagnostics(&b, nil, diags); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func texts(ps []policy.Pattern) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Text)
	}
	return out
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestLoadFull(t *testing.T) {
	p, diags := policy.Load("testdata/policies/full.hcl", policy.LayerProject)
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diagLines(t, diags))
	}
	dir := mustAbs(t, "testdata/policies")
	if len(p.Mounts) != 2 {
		t.Fatalf("got %d mounts, want 2", len(p.Mounts))
	}

	work := p.Mounts[0]
	if work.Guest != "/work" || work.Host != dir || work.Access != policy.Write {
		t.Errorf("/work mount = %q %q %v", work.Guest, work.Host, work.Access)
	}
	if got := work.Origin.String(); got != "testdata/policies/full.hcl:2:1" {
		t.Errorf("/work origin = %s", got)
	}
	wantProtect := append(policy.DefaultProtect(), "build/out", "*.lock")
	if got := texts(work.Protect); !slices.Equal(got, wantProtect) {
		t.Errorf("protect = %q, want %q", got, wantProtect)
	}
	wantHide := append(policy.DefaultHide(), "secrets/**")
	if got := texts(work.Hide); !slices.Equal(got, wantHide) {
		t.Errorf("hide = %q, want %q", got, wantHide)
	}
	if o := work.Protect[0].Origin; o.Layer != policy.LayerBuiltin || o.String() != "builtin" {
		t.Errorf("built-in pattern origin = %+v", o)
	}
	n := len(policy.DefaultProtect())
	if o := work.Protect[n].Origin; o.Layer != policy.LayerProject || o.String() != "testdata/policies/full.hcl:5:14" {
		t.Errorf("build/out origin = %s (%s)", o, o.Layer)
	}
	if o := work.Protect[n+1].Origin; o.String() != "testdata/policies/full.hcl:5:27" {
		t.Errorf("*.lock origin = %s", o)
	}

	ref := p.Mounts[1]
	if ref.Guest != "/ref" || ref.Host != filepath.Dir(dir) || ref.Access != policy.Read {
		t.Errorf("/ref mount = %q %q %v", ref.Guest, ref.Host, ref.Access)
	}

	if !slices.Equal(p.Env.Pass, []string{"LANG", "TZ"}) || len(p.Env.Set) != 1 || p.Env.Set["FOO"] != "bar" {
		t.Errorf("env = %+v", p.Env)
	}
	if o := p.Env.Origins["TZ"]; o.String() != "testdata/policies/full.hcl:14:19" {
		t.Errorf("TZ origin = %s", o)
	}
	if o := p.Env.Origins["FOO"]; o.String() != "testdata/policies/full.hcl:15:12" {
		t.Errorf("FOO origin = %s", o)
	}

	l := p.Limits
	if l.Memory != 1<<30 || l.Timeout != 30*time.Second || l.Output != 1e6 || l.OpenFiles != 64 {
		t.Errorf("limits = %+v", l)
	}
	if got := l.TimeoutOrigin.String(); got != "testdata/policies/full.hcl:20:3" {
		t.Errorf("timeout origin = %s", got)
	}
}

func TestParseFillsDefaults(t *testing.T) {
	p, diags := policy.Load("testdata/policies/minimal.hcl", policy.LayerProject)
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diagLines(t, diags))
	}
	m := p.Mounts[0]
	if m.Access != policy.Read || m.Host != mustAbs(t, "testdata/policies") {
		t.Errorf("mount = %+v", m)
	}
	if !slices.Equal(texts(m.Protect), policy.DefaultProtect()) || !slices.Equal(texts(m.Hide), policy.DefaultHide()) {
		t.Errorf("patterns = %q / %q", texts(m.Protect), texts(m.Hide))
	}
	l := p.Limits
	if l.Memory != policy.DefaultMemory || l.Timeout != policy.DefaultTimeout ||
		l.Output != policy.DefaultOutput || l.OpenFiles != policy.DefaultOpenFiles {
		t.Errorf("limits = %+v", l)
	}
	for _, o := range []policy.Origin{l.Origin, l.MemoryOrigin, l.TimeoutOrigin, l.OutputOrigin, l.OpenFilesOrigin, p.Env.Origin} {
		if o.Layer != policy.LayerBuiltin {
			t.Errorf("default origin = %+v, want the built-in layer", o)
		}
	}
	if len(p.Env.Pass) != 0 || len(p.Env.Set) != 0 || p.Env.Set == nil {
		t.Errorf("env = %+v, want empty", p.Env)
	}
}

func TestParseWarnsWithoutDefaults(t *testing.T) {
	p, diags := policy.Load("testdata/policies/unprotected.hcl", policy.LayerProject)
	want := []string{
		`testdata/policies/unprotected.hcl:3:3: warning: Built-in protection turned off; protect_defaults = false lets the tool change .git, .airlock, .envrc, .bashrc, .bash_profile, .zshrc, .zprofile, .profile, .gitconfig in /work, for example plant a git hook or a shell start-up line that runs outside the sandbox later. Keep the default, or list in protect what must stay read-only.`,
	}
	if got := diagLines(t, diags); !slices.Equal(got, want) {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p == nil {
		t.Fatal("a warning must not withhold the policy")
	}
	if got := texts(p.Mounts[0].Protect); !slices.Equal(got, []string{".git"}) {
		t.Errorf("protect = %q, want only the file's own", got)
	}
	// On a read-only mount nothing can be changed anyway: no warning.
	_, diags = policy.Parse([]byte("mount \"/r\" {\n  protect_defaults = false\n}\n"), "r.hcl", policy.LayerProject, ".")
	if len(diags) != 0 {
		t.Errorf("read-only mount: %v", diagLines(t, diags))
	}
}

func TestLoadTestdataDiagnostics(t *testing.T) {
	dir := mustAbs(t, "testdata/policies")
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"typos.hcl", []string{
			`testdata/policies/typos.hcl:2:3: error: Unsupported argument; An argument named "acess" is not expected in a mount block. Did you mean "access"?`,
			`testdata/policies/typos.hcl:6:1: error: Unsupported block type; Blocks of type "enviroment" are not expected in a policy file. Expected one of: mount, env, limits, network, credential, telemetry, approvals, sandbox.`,
			`testdata/policies/typos.hcl:11:3: error: Unsupported argument; An argument named "memroy" is not expected in a limits block. Did you mean "memory"?`,
		}},
		{"invalid.hcl", []string{
			`testdata/policies/invalid.hcl:1:7: error: Invalid mount path; The guest path "work" must be absolute, like "/work".`,
			`testdata/policies/invalid.hcl:2:12: error: Invalid mount host; The host directory ` + filepath.Join(dir, "does-not-exist") + ` (from "./does-not-exist") does not exist.`,
			`testdata/policies/invalid.hcl:3:12: error: Invalid access; access must be "read" or "write", not "rw".`,
			`testdata/policies/invalid.hcl:7:14: error: Invalid pattern; Pattern "/etc/passwd" starts with "/": patterns are relative to the mount root, so write "etc/passwd" (a name at any depth) or "./etc/passwd" (only at the mount root).`,
			`testdata/policies/invalid.hcl:7:29: error: Invalid pattern; Pattern "../up" has a ".." name: a pattern cannot reach outside its mount.`,
			`testdata/policies/invalid.hcl:7:38: error: Invalid pattern; A pattern may not be empty.`,
			`testdata/policies/invalid.hcl:10:7: error: Duplicate mount; /data is already mounted from ` + dir + ` (testdata/policies/invalid.hcl:6:1).`,
			`testdata/policies/invalid.hcl:13:19: error: Invalid variable name; "not-a-name" is not a variable name: use letters, digits and underscores, not starting with a digit.`,
			`testdata/policies/invalid.hcl:17:13: error: Invalid memory; "lots" is not a size: write a whole number with an optional unit B, KiB, MiB, GiB, KB, MB or GB, like "256MiB".`,
			`testdata/policies/invalid.hcl:18:13: error: Invalid timeout; The timeout must be greater than zero, not "-1s"; leave it out for the default (2m).`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, diags := policy.Load(filepath.Join("testdata/policies", tc.file), policy.LayerProject)
			if p != nil {
				t.Error("got a policy despite errors")
			}
			if got := diagLines(t, diags); !slices.Equal(got, tc.want) {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseDiagnostics covers each diagnostic the decoder makes, one case
// per problem, with its exact position and wording.
func TestParseDiagnostics(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		want      string // one line; "{dir}" stands for the base directory
	}{
		{"syntax", "mount \"/w\" {\n  host = \n}\n",
			`p.hcl:2:10: error: Invalid expression; Expected the start of an expression, but found an invalid expression token.`},
		{"unknown block, no hint", "frobnicate {}\n",
			`p.hcl:1:1: error: Unsupported block type; Blocks of type "frobnicate" are not expected in a policy file. Expected one of: mount, env, limits, network, credential, telemetry, approvals, sandbox.`},
		{"unknown block, hint", "limit {}\n",
			`p.hcl:1:1: error: Unsupported block type; Blocks of type "limit" are not expected in a policy file. Did you mean "limits"?`},
		{"block written as argument", "env = {}\n",
			`p.hcl:1:1: error: Unsupported argument; An argument named "env" is not expected in a policy file. Did you mean to write env as a block? Write it as env { … }, without the equals sign.`},
		{"argument written as block", "mount \"/w\" {\n  host {}\n}\n",
			`p.hcl:2:3: error: Unsupported block type; Blocks of type "host" are not expected in a mount block. Did you mean the argument "host"? Write it with an equals sign: host = ….`},
		{"unknown argument, list", "env {\n  passthrough = []\n}\n",
			`p.hcl:2:3: error: Unsupported argument; An argument named "passthrough" is not expected in an env block. Expected one of: pass, set.`},
		{"missing label", "mount {}\n",
			`p.hcl:1:7: error: Missing guest path for mount; All mount blocks must have 1 labels (guest path).`},
		{"extra label", "env \"x\" {}\n",
			`p.hcl:1:5: error: Extraneous label for env; No labels are expected for env blocks.`},
		{"duplicate once-block", "env {}\nenv {}\n",
			`p.hcl:2:1: error: Duplicate env block; A policy file has at most one env block, and one is already at p.hcl:1:1; merge the two.`},
		{"guest not clean", "mount \"/w/../x\" {}\n",
			`p.hcl:1:7: error: Invalid mount path; The guest path "/w/../x" is not in clean form; write "/x".`},
		{"duplicate mount", "mount \"/w\" {}\nmount \"/w\" {}\n",
			`p.hcl:2:7: error: Duplicate mount; /w is already mounted from {dir} (p.hcl:1:1).`},
		{"duplicate root", "mount \"/\" {}\nmount \"/\" {}\n",
			`p.hcl:2:7: error: Duplicate mount; / is already mounted from {dir} (p.hcl:1:1).`},
		{"host not a directory", "mount \"/w\" {\n  host = \"file\"\n}\n",
			`p.hcl:2:10: error: Invalid mount host; The host path {dir}/file (from "file") is not a directory: a mount exposes a directory.`},
		{"host empty", "mount \"/w\" {\n  host = \"\"\n}\n",
			`p.hcl:2:10: error: Invalid mount host; Host may not be empty; write "." for the directory of the policy file.`},
		{"host tilde", "mount \"/w\" {\n  host = \"~/src\"\n}\n",
			`p.hcl:2:10: error: Invalid mount host; The host directory {dir}/~/src (from "~/src") does not exist; "~" is not expanded, write the path out.`},
		{"host not a string", "mount \"/w\" {\n  host = 3\n}\n",
			`p.hcl:2:10: error: Invalid host; host must be a string, like ".".`},
		{"access typo", "mount \"/w\" {\n  access = \"wirte\"\n}\n",
			`p.hcl:2:12: error: Invalid access; access must be "read" or "write", not "wirte". Did you mean "write"?`},
		{"protect_defaults not bool", "mount \"/w\" {\n  protect_defaults = \"no\"\n}\n",
			`p.hcl:2:22: error: Invalid protect_defaults; protect_defaults must be true or false.`},
		{"hide not a list", "mount \"/w\" {\n  hide = \".env\"\n}\n",
			`p.hcl:2:10: error: Invalid hide; hide must be a list of strings, like [".git", "*.pem"].`},
		{"protect element not a string", "mount \"/w\" {\n  protect = [\".git\", 7]\n}\n",
			`p.hcl:2:22: error: Invalid protect; Each element of protect must be a string, like [".git", "*.pem"].`},
		{"pattern trailing slash", "mount \"/w\" {\n  hide = [\"keys/\"]\n}\n",
			`p.hcl:2:11: error: Invalid pattern; Pattern "keys/" ends with "/": a pattern matches files and directories alike, so drop the trailing slash.`},
		{"pattern bad glob", "mount \"/w\" {\n  hide = [\"[a-\"]\n}\n",
			`p.hcl:2:11: error: Invalid pattern; Pattern "[a-": "[a-" is not a valid glob (see path.Match).`},
		{"pattern dot", "mount \"/w\" {\n  hide = [\"a/./b\"]\n}\n",
			`p.hcl:2:11: error: Invalid pattern; Pattern "a/./b" has a "." name; write it without.`},
		{"pattern empty name", "mount \"/w\" {\n  hide = [\"a//b\"]\n}\n",
			`p.hcl:2:11: error: Invalid pattern; Pattern "a//b" has an empty name ("//").`},
		{"variables are not allowed", "mount \"/w\" {\n  host = var.dir\n}\n",
			`p.hcl:2:10: error: Variables not allowed; Variables may not be used here.`},
		{"env name", "env {\n  pass = [\"\"]\n}\n",
			`p.hcl:2:11: error: Invalid variable name; A variable name may not be empty.`},
		{"env pass twice", "env {\n  pass = [\"A\", \"A\"]\n}\n",
			`p.hcl:2:16: warning: Variable listed twice; A is already in pass at p.hcl:2:11.`},
		{"env passed and set", "env {\n  pass = [\"A\"]\n  set  = { A = \"1\" }\n}\n",
			`p.hcl:3:12: error: Variable both passed and set; A is passed from the host at p.hcl:2:11 and set here; keep one of the two.`},
		{"env set twice", "env {\n  set = { A = \"1\", A = \"2\" }\n}\n",
			`p.hcl:2:20: error: Variable set twice; A is already set at p.hcl:2:11.`},
		{"env set not a map", "env {\n  set = [\"A=1\"]\n}\n",
			`p.hcl:2:9: error: Invalid set; set must be a map of strings, like { LANG = "C.UTF-8" }.`},
		{"env set value not a string", "env {\n  set = { A = [] }\n}\n",
			`p.hcl:2:15: error: Invalid set; Each value of set must be a string, like { LANG = "C.UTF-8" }.`},
		{"env set bad key", "env {\n  set = { \"A-B\" = \"1\" }\n}\n",
			`p.hcl:2:11: error: Invalid variable name; "A-B" is not a variable name: use letters, digits and underscores, not starting with a digit.`},
		{"memory unit", "limits {\n  memory = \"1 TB\"\n}\n",
			`p.hcl:2:12: error: Invalid memory; "1 TB" has an unknown unit "TB": use B, KiB, MiB, GiB, KB, MB or GB.`},
		{"memory too large", "limits {\n  memory = \"5GiB\"\n}\n",
			`p.hcl:2:12: error: Invalid memory; Memory must be between 64 KiB (one WebAssembly page) and 4 GiB (what a 32-bit module can address), not 5 GiB; leave it out for the default (256 MiB).`},
		{"memory zero", "limits {\n  memory = 0\n}\n",
			`p.hcl:2:12: error: Invalid memory; Memory must be between 64 KiB (one WebAssembly page) and 4 GiB (what a 32-bit module can address), not 0 bytes; leave it out for the default (256 MiB).`},
		{"memory fraction", "limits {\n  memory = 1.5\n}\n",
			`p.hcl:2:12: error: Invalid memory; memory must be a size: a whole number of bytes, or a string with a unit B, KiB, MiB, GiB, KB, MB or GB, like "256MiB".`},
		{"size overflow", "limits {\n  output = \"99999999999GiB\"\n}\n",
			`p.hcl:2:12: error: Invalid output; "99999999999GiB" is too large.`},
		{"output zero", "limits {\n  output = \"0MiB\"\n}\n",
			`p.hcl:2:12: error: Invalid output; Output must be greater than zero and at most 9223372036854775807 bytes; leave it out for the default (16 MiB).`},
		{"timeout no unit", "limits {\n  timeout = \"30\"\n}\n",
			`p.hcl:2:13: error: Invalid timeout; "30" is not a duration: write a number with a unit, like "30s", "2m" or "1h30m".`},
		{"timeout number", "limits {\n  timeout = 30\n}\n",
			`p.hcl:2:13: error: Invalid timeout; timeout must be a string, like "30s".`},
		{"open_files range", "limits {\n  open_files = 0\n}\n",
			`p.hcl:2:16: error: Invalid open_files; open_files must be between 1 and 1048576; leave it out for the default (256).`},
		{"open_files negative", "limits {\n  open_files = -1\n}\n",
			`p.hcl:2:16: error: Invalid open_files; open_files must be a whole number, like 256.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := policy.Parse([]byte(tc.src), "p.hcl", policy.LayerProject, dir)
			want := strings.ReplaceAll(tc.want, "{dir}", dir)
			if got := diagLines(t, diags); len(got) != 1 || got[0] != want {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
			}
			if diags.HasErrors() != (p == nil) {
				t.Errorf("policy %v with errors %v: want nil exactly when there are errors", p != nil, diags.HasErrors())
			}
		})
	}
}

func TestParseCollectsEveryProblem(t *testing.T) {
	src := "mount \"a\" {\n  acess = 1\n  hide = [\"/x\"]\n}\nlimits {\n  timeout = \"x\"\n}\n"
	_, diags := policy.Parse([]byte(src), "p.hcl", policy.LayerProject, t.TempDir())
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column))
	}
	want := []string{"1:7", "2:3", "3:11", "6:13"}
	if !slices.Equal(got, want) {
		t.Errorf("positions %q, want %q (sorted, all of them)", got, want)
	}
}

func TestLoadUnreadable(t *testing.T) {
	p, diags := policy.Load("testdata/policies/no-such.hcl", policy.LayerProject)
	got := diagLines(t, diags)
	if p != nil || len(got) != 1 || !strings.HasPrefix(got[0], "error: Cannot read policy file testdata/policies/no-such.hcl; open testdata/policies/no-such.hcl: ") {
		t.Errorf("got %v, %q", p, got)
	}
}

// TestLoaderFiles checks that a Loader keeps the sources, so hcl's snippet
// writer can show the offending line.
func TestLoaderFiles(t *testing.T) {
	var l policy.Loader
	_, diags := l.Load("testdata/policies/typos.hcl", policy.LayerProject)
	var b strings.Builder
	wr := hcl.NewDiagnosticTextWriter(&b, l.Files(), 0, false)
	if err := wr.WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`acess = "write"`, "on testdata/policies/typos.hcl line 2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("snippet output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseRootAndNestedMounts(t *testing.T) {
	dir := t.TempDir()
	src := "mount \"/\" {}\nmount \"/work\" {\n  access = \"write\"\n}\nmount \"/work/docs\" {}\n"
	p, diags := policy.Parse([]byte(src), "p.hcl", policy.LayerProject, dir)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	var got []string
	for _, m := range p.Mounts {
		got = append(got, m.Guest+":"+m.Access.String())
	}
	if want := []string{"/:read", "/work:write", "/work/docs:read"}; !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
}
