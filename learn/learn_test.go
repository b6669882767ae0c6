package learn_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/policy"
)

// tree makes files (name → contents; a name ending in "/" is a folder, one
// with " -> " a symbolic link) below a new folder, and returns it, really.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		switch {
		case strings.Contains(f, " -> "):
			name, target, _ := strings.Cut(f, " -> ")
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(f, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// ceiling parses a policy whose relative hosts are in root.
func ceiling(t *testing.T, root, src string) *policy.Policy {
	t.Helper()
	p, diags := policy.Parse([]byte(src), filepath.Join(root, "ceiling.hcl"), policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags = p.Resolve(filepath.EvalSymlinks)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

const writeWork = "mount \"/work\" {\n  host   = \".\"\n  access = \"write\"\n}\n"

func read(p string) decision.Use {
	return decision.Use{Kind: decision.FSRead, Op: "open", Mount: "/work", Path: p, Done: true}
}
func wrote(p string) decision.Use {
	return decision.Use{Kind: decision.FSWrite, Op: "open", Mount: "/work", Path: p, Done: true}
}
func looked(p string) decision.Use {
	return decision.Use{Kind: decision.FSRead, Op: "stat", Mount: "/work", Path: p}
}

// learned runs Learn and Merge into a new file in root, and parses it.
func learned(t *testing.T, root string, run learn.Run, state ...string) (*learn.Needs, string, *policy.Policy) {
	t.Helper()
	if run.Duration == 0 {
		run.Duration, run.Memory = 50*time.Millisecond, 4<<20
	}
	n := learn.Learn(run, learn.Options{BaseDir: root, State: state, LookupEnv: func(string) (string, bool) { return "", false }})
	out, _, err := learn.Merge(nil, filepath.Join(root, "learned.hcl"), root, n)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := policy.Parse(out, filepath.Join(root, "learned.hcl"), policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, out)
	}
	return n, string(out), p
}

func mounts(p *policy.Policy) string {
	var out []string
	for _, m := range p.Mounts {
		out = append(out, m.Guest+" "+m.Access.String())
	}
	return strings.Join(out, ", ")
}

func TestLearnNarrowsMountsToTheFoldersUsed(t *testing.T) {
	root := tree(t, "src/a.txt", "docs/b.txt", "out/", "README")
	rec := &learn.Recorder{}
	for _, u := range []decision.Use{
		looked("src/a.txt"), read("src/a.txt"), // read a file: its folder
		looked("docs/missing.txt"),      // looked for a file that is not there: its folder
		wrote("out/x.txt"), read("out"), // wrote in out: writable, and it serves the read too
	} {
		rec.Use(u)
	}
	_, text, p := learned(t, root, learn.Run{Policy: ceiling(t, root, writeWork), Recorder: rec, Tool: "t"})
	if got, want := mounts(p), "/work/docs read, /work/out write, /work/src read"; got != want {
		t.Errorf("mounts %s, want %s\n%s", got, want, text)
	}
	for _, m := range p.Mounts {
		if m.Host != filepath.Join(root, strings.TrimPrefix(m.Guest, "/work/")) {
			t.Errorf("%s is the host directory %s", m.Guest, m.Host)
		}
	}
	if !strings.Contains(text, "# read /work/src/a.txt (open)\nmount \"/work/src\"") ||
		!strings.Contains(text, "# wrote /work/out/x.txt (open)\nmount \"/work/out\"") {
		t.Errorf("a mount lacks the comment naming its first use:\n%s", text)
	}
	// The first mount moved from /work to /work/docs: PWD keeps a Go
	// tool's working directory where it was.
	if p.Env.Set["PWD"] != "/work" {
		t.Errorf("PWD = %q, want /work", p.Env.Set["PWD"])
	}
}

func TestLearnAMountIsARealDirectoryNeverALink(t *testing.T) {
	root := tree(t, "real/a.txt", "link -> real", "hooks -> .git", ".git/")
	rec := &learn.Recorder{}
	rec.Use(read("link/a.txt"))    // through a symbolic link: the folder above
	rec.Use(wrote("link/new.txt")) // the same for a write
	rec.Use(looked("hooks/x"))     // a name the tool looked up through a link to .git
	_, text, p := learned(t, root, learn.Run{Policy: ceiling(t, root, writeWork), Recorder: rec})
	if got, want := mounts(p), "/work write"; got != want {
		t.Errorf("mounts %s, want %s\n%s", got, want, text)
	}
	for _, m := range p.Mounts {
		if real, _ := filepath.EvalSymlinks(m.Host); real != m.Host {
			t.Errorf("%s is mounted from %s, which leads to %s", m.Guest, m.Host, real)
		}
	}
}

func TestLearnNeverGrantsProtectedHiddenOrState(t *testing.T) {
	root := tree(t, ".git/config", ".airlock/policy.hcl", "secrets/key", "src/a.txt", ".env")
	c := ceiling(t, root, `mount "/work" {
  host             = "."
  access           = "write"
  protect_defaults = false
  hide             = ["./secrets"]
}
`)
	rec := &learn.Recorder{}
	for _, u := range []decision.Use{
		wrote(".git/config"),        // the ceiling let it (protect_defaults = false): never learned
		read(".airlock/policy.hcl"), // airlock's state
		wrote(".airlock/x"),         // the same
		looked("secrets/key"),       // hidden: denied below
		looked(".env"),              // hidden by default
		read("src/a.txt"),
	} {
		rec.Use(u)
	}
	denied := []decision.Decision{
		{Kind: decision.FSRead, Op: "open", Target: "/work/secrets/key", Rule: `hide "./secrets"`},
		{Kind: decision.FSRead, Op: "open", Target: "/work/.env", Rule: `hide ".env"`},
	}
	n, text, p := learned(t, root, learn.Run{Policy: c, Recorder: rec, Decisions: denied}, filepath.Join(root, ".airlock"))
	for _, m := range p.Mounts {
		if m.Access == policy.Write {
			t.Errorf("%s is writable:\n%s", m.Guest, text)
		}
		if strings.Contains(m.Host, ".airlock") || strings.Contains(m.Host, "secrets") {
			t.Errorf("%s mounts %s:\n%s", m.Guest, m.Host, text)
		}
	}
	if strings.Contains(text, "protect_defaults") {
		t.Errorf("the learned file drops the built-in protected list:\n%s", text)
	}
	for _, want := range []string{
		"not learned: the write to /work/.git/config (open): it is a protected path",
		"airlock's own state, which no policy grants",
		`denied while learning, not granted: fs.read open /work/.env (hide ".env")`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no note %q:\n%s", want, text)
		}
	}
	// The write to .git/config is learned as what it also was, a use of
	// the folder: read-only.
	if got := mounts(p); got != "/work/.git read, /work/src read" {
		t.Errorf("mounts %s, want /work/.git read, /work/src read\n%s", got, text)
	}
	_ = n
}

func hasPattern(ps []policy.Pattern, text string) bool {
	for _, p := range ps {
		if p.Text == text {
			return true
		}
	}
	return false
}

func TestLearnCarriesTheCeilingsPatternsIntoANarrowerMount(t *testing.T) {
	root := tree(t, "src/a.txt", "src/keys/k", "src/build/out/o")
	c := ceiling(t, root, `mount "/work" {
  host    = "."
  access  = "write"
  protect = ["src/build/out", "*.lock"]
  hide    = ["src/keys", "docs/private"]
}
`)
	rec := &learn.Recorder{}
	rec.Use(wrote("src/a.txt"))
	_, text, p := learned(t, root, learn.Run{Policy: c, Recorder: rec})
	if len(p.Mounts) != 1 || p.Mounts[0].Guest != "/work/src" {
		t.Fatalf("mounts %s\n%s", mounts(p), text)
	}
	m := p.Mounts[0]
	for _, want := range []string{"./keys"} {
		if !hasPattern(m.Hide, want) {
			t.Errorf("hide lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"build/out", "*.lock"} {
		if !hasPattern(m.Protect, want) {
			t.Errorf("protect lacks %q:\n%s", want, text)
		}
	}
	if hasPattern(m.Hide, "docs/private") || strings.Contains(text, "docs/private") {
		t.Errorf("a pattern for another folder came along:\n%s", text)
	}
}

func TestLearnedCommentsCannotBreakOut(t *testing.T) {
	evil := "x\nnetwork {\n  default = \"allow\"\n}\n#\u202e"
	root := tree(t, "a/"+evil+"/f", "b/${HOME}/g")
	rec := &learn.Recorder{}
	rec.Use(read("a/" + evil + "/f"))
	rec.Use(read("b/${HOME}/g"))
	_, text, p := learned(t, root, learn.Run{Policy: ceiling(t, root, writeWork), Recorder: rec, Tool: "t", Args: []string{evil}})
	if p.Network.Default != policy.Deny || len(p.Network.Allow) != 0 {
		t.Errorf("a file name opened the network:\n%s", text)
	}
	if strings.ContainsRune(text, '\u202e') {
		t.Errorf("a bidirectional override reached the file:\n%s", text)
	}
	// The folder whose name does not print as it is is no mount of its
	// own; the one with "${" in it is, quoted as it is.
	var guests []string
	for _, m := range p.Mounts {
		guests = append(guests, m.Guest)
	}
	if got := strings.Join(guests, " "); got != "/work/a /work/b/${HOME}" {
		t.Errorf("mounts %q\n%s", got, text)
	}
}

func TestMergeKeepsThePersonsEditsAndIsAUnion(t *testing.T) {
	root := tree(t, "src/a.txt", "out/", "docs/d")
	c := ceiling(t, root, writeWork)
	first := &learn.Recorder{}
	first.Use(read("src/a.txt"))
	n1 := learn.Learn(learn.Run{Policy: c, Recorder: first, Memory: 4 << 20, Duration: time.Second}, learn.Options{BaseDir: root})
	file := filepath.Join(root, "learned.hcl")
	out, _, err := learn.Merge(nil, file, root, n1)
	if err != nil {
		t.Fatal(err)
	}
	// A person edits it: a comment, a hide rule, a tighter timeout.
	edited := strings.Replace(string(out), "mount \"/work/src\" {", "# mine: keep this\nmount \"/work/src\" {\n  hide = [\"*.bak\"] # no backups", 1)
	edited = strings.Replace(edited, `timeout = "10s"`, `timeout = "12s" # CI is slow`, 1)

	second := &learn.Recorder{}
	second.Use(read("src/a.txt"))
	second.Use(wrote("out/x"))
	second.Use(read("docs/d"))
	n2 := learn.Learn(learn.Run{Policy: c, Recorder: second, Memory: 40 << 20, Duration: time.Second, Output: 10}, learn.Options{BaseDir: root})
	merged, added, err := learn.Merge([]byte(edited), file, root, n2)
	if err != nil {
		t.Fatal(err)
	}
	text := string(merged)
	for _, keep := range []string{"# mine: keep this", `hide   = ["*.bak"] # no backups`, `timeout = "12s" # CI is slow`, "# read /work/src/a.txt (open)"} {
		if !strings.Contains(text, keep) {
			t.Errorf("the merge lost %q:\n%s", keep, text)
		}
	}
	p, diags := policy.Parse(merged, file, policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got, want := mounts(p), "/work/src read, /work/docs read, /work/out write"; got != want {
		t.Errorf("mounts %s, want %s\n%s", got, want, text)
	}
	if p.Limits.Memory != 80<<20 || p.Limits.Timeout != 12*time.Second {
		t.Errorf("limits %v %v: the memory should be raised to 80 MiB, the person's timeout kept:\n%s", p.Limits.Memory, p.Limits.Timeout, text)
	}
	if len(added) == 0 {
		t.Error("nothing reported added")
	}
	// Learning the same run again changes nothing, to the byte.
	again, added, err := learn.Merge(merged, file, root, n2)
	if err != nil || string(again) != text || len(added) != 0 {
		t.Errorf("a second merge of the same run changed the file (%v, %q):\n%s", err, added, again)
	}
}

func TestMergeRespectsWhatThePersonRefused(t *testing.T) {
	root := tree(t, "src/a.txt", "src/secret/s")
	file := filepath.Join(root, "learned.hcl")
	src := `mount "/work" {
  host   = "."
  access = "read"
  hide   = ["src/secret"] # I said no
}

network {
  deny = ["tcp://127.0.0.1:9"]
}
`
	n := &learn.Needs{
		Mounts: []learn.MountNeed{
			{Guest: "/work/src/secret", Host: filepath.Join(root, "src/secret"), Access: policy.Read, Why: "read it"},
			{Guest: "/work/src", Host: filepath.Join(root, "src"), Access: policy.Write, Why: "wrote it"},
		},
		Net: []learn.NetNeed{{Rule: "tcp://127.0.0.1:9", Dest: policy.Dest{Scheme: "tcp", Host: "127.0.0.1", Port: 9, IP: netip.MustParseAddr("127.0.0.1")}, Why: "connected"}},
	}
	out, _, err := learn.Merge([]byte(src), file, root, n)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := policy.Parse(out, file, policy.LayerProject, root)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got, want := mounts(p), "/work read, /work/src write"; got != want {
		t.Errorf("mounts %s, want %s\n%s", got, want, out)
	}
	// The new writable /work/src nests in /work and is served by its own
	// rules: the person's hide rule comes along, re-anchored.
	for _, m := range p.Mounts {
		if m.Guest == "/work/src" && !hasPattern(m.Hide, "./secret") {
			t.Errorf("/work/src does not hide ./secret:\n%s", out)
		}
	}
	if len(p.Network.Allow) != 0 || !strings.Contains(string(out), "not added: tcp://127.0.0.1:9, which this file denies") {
		t.Errorf("the person's deny rule did not win:\n%s", out)
	}
	if !strings.Contains(string(out), "not added: /work/src/secret, which this file hides") {
		t.Errorf("no note for the hidden folder:\n%s", out)
	}
}

func TestLearnNetworkRules(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		name  string
		use   decision.Use
		rules []string
	}{
		{"a name at a public address: the name, scheme and port",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpHTTP, Scheme: "https", Host: "api.example.com", Port: 443, Addr: a("93.184.216.34")},
			[]string{"https://api.example.com"}},
		{"another port is written",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpHTTP, Scheme: "https", Host: "api.example.com", Port: 8443, Addr: a("93.184.216.34")},
			[]string{"https://api.example.com:8443"}},
		{"a raw connection always names its port",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpConnect, Scheme: "tcp", Host: "db.example.com", Port: 5432, Addr: a("93.184.216.35")},
			[]string{"tcp://db.example.com:5432"}},
		{"an address asked for (0x7f.1, normalised by the host): the address",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpConnect, Scheme: "tcp", Host: "127.0.0.1", Port: 7000, Addr: a("127.0.0.1")},
			[]string{"tcp://127.0.0.1:7000"}},
		{"IPv6 in brackets",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpConnect, Scheme: "tcp", Host: "::1", Port: 7000, Addr: a("::1")},
			[]string{"tcp://[::1]:7000"}},
		{"a name that led to loopback: the name, and the address it needs",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpHTTP, Scheme: "http", Host: "localhost", Port: 8080, Addr: a("127.0.0.1")},
			[]string{"http://localhost:8080", "http://127.0.0.1:8080"}},
		{"a name that led to this machine's own public address",
			decision.Use{Kind: decision.NetConnect, Op: decision.OpHTTP, Scheme: "http", Host: "me.example.com", Port: 80, Addr: a("203.0.113.7"), Local: true},
			[]string{"http://me.example.com", "http://203.0.113.7:80"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &learn.Recorder{}
			rec.Use(c.use)
			rec.Use(c.use) // twice: one rule
			n := learn.Learn(learn.Run{Policy: policy.Default(t.TempDir()), Recorder: rec}, learn.Options{})
			var got []string
			for _, r := range n.Net {
				got = append(got, r.Rule)
				if _, err := policy.NewNetRule(r.Rule, policy.Origin{}); err != nil {
					t.Error(err)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.rules, " ") {
				t.Errorf("rules %q, want %q", got, c.rules)
			}
			// Together the rules allow the connection made, and nothing
			// wider than it: another port, another host, another scheme.
			var rules []policy.NetRule
			for _, r := range got {
				nr, _ := policy.NewNetRule(r, policy.Origin{})
				rules = append(rules, nr)
			}
			net := policy.Network{Allow: rules}
			d := policy.Dest{Scheme: c.use.Scheme, Host: c.use.Host, Port: c.use.Port, IP: c.use.Addr, Local: c.use.Local}
			if v := net.Check(d).Verdict; v != policy.Allow {
				t.Errorf("the connection made is %v", v)
			}
			for _, other := range []policy.Dest{
				{Scheme: d.Scheme, Host: d.Host, Port: d.Port + 1, IP: d.IP, Local: d.Local},
				{Scheme: d.Scheme, Host: "other.example.com", Port: d.Port, IP: a("93.184.216.99")},
				{Scheme: map[string]string{"tcp": "https", "https": "tcp", "http": "tcp"}[d.Scheme], Host: d.Host, Port: d.Port, IP: d.IP, Local: d.Local},
			} {
				if v := net.Check(other).Verdict; v == policy.Allow {
					t.Errorf("%s is allowed too", other)
				}
			}
		})
	}
}

func TestLearnLimitsAMarginAboveUse(t *testing.T) {
	c := policy.Default(t.TempDir())
	n := learn.Learn(learn.Run{Policy: c, Memory: 30 << 20, Duration: 3 * time.Second, Output: 100 << 10}, learn.Options{})
	if n.Limits.Memory != 60<<20 || n.Limits.Timeout != 15*time.Second || n.Limits.Output != 200<<10 {
		t.Errorf("limits %+v", n.Limits)
	}
	// Never above the limits the run had; a limit it reached stays.
	n = learn.Learn(learn.Run{Policy: c, Memory: 200 << 20, Duration: time.Minute, TimedOut: true, Output: 100, OutputCut: true}, learn.Options{})
	if n.Limits.Memory != c.Limits.Memory || n.Limits.Timeout != c.Limits.Timeout || n.Limits.Output != c.Limits.Output {
		t.Errorf("limits %+v, want the ceiling's", n.Limits)
	}
}

func TestLearnEnvironmentIsWhatThePolicyGave(t *testing.T) {
	c := ceiling(t, tree(t), "env {\n  pass = [\"LANG\", \"UNSET_HERE\"]\n  set  = { CI = \"1\", API_TOKEN = \"abc\" }\n}\n")
	n := learn.Learn(learn.Run{Policy: c}, learn.Options{LookupEnv: func(k string) (string, bool) { return "C", k == "LANG" }})
	if strings.Join(n.Env.Pass, " ") != "LANG" || n.Env.Set["CI"] != "1" || n.Env.Set["API_TOKEN"] != "" || strings.Join(n.Env.Withheld, " ") != "API_TOKEN" {
		t.Errorf("env %+v", n.Env)
	}
}
