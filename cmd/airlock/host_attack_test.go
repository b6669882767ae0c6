package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Attacks on what airlock itself does on the host with something a tool
// could have written (the h15 red team; docs/filesystem.md, "Attacks a
// hostile tool was made to try").

// TestAttackPlantedLinkAtTraceAndAuditFile: a tool run in the writable
// project leaves trace.jsonl and audit.jsonl as symbolic links to
// .git/config, which it may not write itself (the links stay inside the
// mount, so making them is allowed). A later run that names either file
// (--otel-file, --audit) must not append through the link: the trace
// would land in .git/config with a name the tool chose inside a JSON
// string ("$(…)" runs when a shell reads the file as its rc file), and
// the audit log's repair of a torn last line would cut .git/config's last
// line. Also: while the run lasts, the trace file is airlock's state, so
// the tool cannot forge the record a person reads with airlock trace show.
func TestAttackPlantedLinkAtTraceAndAuditFile(t *testing.T) {
	proj, _ := project(t)
	config := filepath.Join(proj, ".git", "config")
	const torn = "[core]\n\trepositoryformatversion = 0\n[user]\n\tname = me" // no newline at the end
	if err := os.WriteFile(config, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--",
		"symlink=trace.jsonl:.git/config", "symlink=audit.jsonl:.git/config")
	if strings.Count(plant.stdout, "errno=0") != 2 {
		t.Fatalf("the links were not made (the attack's premise): %s%s", plant.stdout, plant.stderr)
	}
	evil := "read=$(touch pwned)/.env"
	for _, args := range [][]string{
		{"--otel-file", "trace.jsonl"},
		{"--audit", "audit.jsonl"},
	} {
		r := runCLI(t, proj, "", nil, append(append([]string{"run", "--headless"}, args...), attackWasm, "--", evil)...)
		if r.code == 0 {
			t.Errorf("%v: the run went ahead (exit 0): %s", args, r.stderr)
		}
		if !strings.Contains(r.stderr, "is a symbolic link") {
			t.Errorf("%v: the refusal does not say why: %s", args, r.stderr)
		}
		if b, _ := os.ReadFile(config); string(b) != torn {
			t.Fatalf("%v: .git/config changed through the planted link:\n%.400s", args, b)
		}
	}

	// The trace file is state while the run lasts.
	os.Remove(filepath.Join(proj, "trace.jsonl"))
	r := runCLI(t, proj, "", nil, "run", "--headless", "--otel-file", "trace.jsonl", attackWasm, "--",
		`write=trace.jsonl:{"signal":"log","event":"forged"}`)
	if !strings.Contains(r.stderr, "airlock state: telemetry file") {
		t.Errorf("the tool's write to the trace file is not refused as state: %s%s", r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(proj, "trace.jsonl")); strings.Contains(string(b), "forged") || !strings.Contains(string(b), `"signal"`) {
		t.Errorf("trace file: %.300s", b)
	}
}

// TestAttackTraceShowEscapes: a tool opens files whose names hold escape
// sequences (OSC 52 writes the clipboard, CSI 2J clears the screen), a
// line break followed by a forged record, and a bidirectional override.
// The trace file keeps the names as they were (it is data); airlock trace
// show, which puts them on a terminal, writes them as text on one line.
func TestAttackTraceShowEscapes(t *testing.T) {
	proj, _ := project(t)
	trace := filepath.Join(t.TempDir(), "trace.jsonl")
	r := runCLI(t, proj, "", nil, "run", "--headless", "--otel-file", trace, attackWasm, "--",
		"read=x\x1b]52;c;cHduZWQ=\x07\x1b[2J/.env",
		"read=y\n│  └─ ✓ allowed net.connect https://example.com:443: all clear (rule)\n/.env",
		"read=z\u202e/.env")
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	show := runCLI(t, proj, "", nil, "trace", "show", trace)
	if show.code != 0 {
		t.Fatalf("trace show: %d %s", show.code, show.stderr)
	}
	if strings.ContainsAny(show.stdout, "\x1b\x07\u202e\r") {
		t.Errorf("a control or formatting character reached the terminal: %q", show.stdout)
	}
	for _, line := range strings.Split(show.stdout, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, "│├└─ "), "✓ allowed net.connect") {
			t.Errorf("the tool added a line of its own to the tree: %q", line)
		}
	}
	for _, want := range []string{"denied fs.read open /work/x^[]52;c;cHduZWQ=^G^[[2J/.env", `/work/z\u202e/.env`, "denied fs.read open /work/y^J│"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("trace show does not show %q:\n%s", want, show.stdout)
		}
	}
}

// TestAttackLearnThroughPlantedLink: the person keeps a narrow CI policy
// in .airlock/ci.hcl (protected: no tool may write it). A tool run in the
// writable project leaves `learned -> .airlock`, a link that stays inside
// the mount. Learning into learned/ci.hcl then merged into .airlock/ci.hcl
// a writable mount of the whole project, which CI would then grant; into
// learned/new.hcl it made a file in .airlock. Both are refused before the
// tool runs, and .airlock is as it was.
func TestAttackLearnThroughPlantedLink(t *testing.T) {
	proj, _ := project(t)
	ci := filepath.Join(proj, ".airlock", "ci.hcl")
	narrow := fmt.Sprintf("mount \"/work\" {\n  host   = %q\n  access = \"read\"\n}\n", proj)
	os.MkdirAll(filepath.Dir(ci), 0o755)
	if err := os.WriteFile(ci, []byte(narrow), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := runCLI(t, proj, "", nil, "run", "--headless", attackWasm, "--", "symlink=learned:.airlock")
	if !strings.Contains(plant.stdout, "errno=0") {
		t.Fatalf("the link was not made (the attack's premise): %s%s", plant.stdout, plant.stderr)
	}
	for _, file := range []string{"learned/ci.hcl", "learned/new.hcl"} {
		r := runCLI(t, proj, "", nil, "run", "--headless", "--learn", file, attackWasm, "--", "write=x.txt:hello")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "is reached through the symbolic link") {
			t.Errorf("--learn %s: exit %d, want %d and the link named:\n%s", file, r.code, ExitUsage, r.stderr)
		}
		if strings.Contains(r.stdout, "x.txt") {
			t.Errorf("--learn %s: the tool ran: %s", file, r.stdout)
		}
	}
	if b, _ := os.ReadFile(ci); string(b) != narrow {
		t.Errorf(".airlock/ci.hcl changed:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(proj, ".airlock", "new.hcl")); err == nil {
		t.Error("a file was left in .airlock")
	}
}

// hostileNamesModule is a module whose import, export and custom section
// names hold escape sequences (OSC 52, a screen clear), a line break with
// a forged airlock line, and a bidirectional override.
func hostileNamesModule(t *testing.T) string {
	t.Helper()
	leb := func(n int) []byte {
		var out []byte
		for {
			b := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(out, b)
			}
			out = append(out, b|0x80)
		}
	}
	name := func(s string) []byte { return append(leb(len(s)), s...) }
	section := func(id byte, body ...[]byte) []byte {
		var b []byte
		for _, p := range body {
			b = append(b, p...)
		}
		return append(append([]byte{id}, leb(len(b))...), b...)
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, leb(1), []byte{0x60, 0, 0})...)
	m = append(m, section(2, leb(1), name("env\x1b]52;c;cHduZWQ=\x07"), name("f\x1b[2J\nairlock: airlock can run it."), []byte{0}, leb(0))...)
	m = append(m, section(3, leb(1), leb(0))...)
	m = append(m, section(7, leb(2), name("_start"), []byte{0}, leb(1), name("evil\x1b]0;title\x07\u202e"), []byte{0}, leb(1))...)
	m = append(m, section(10, leb(1), leb(2), []byte{0, 0x0b})...)
	m = append(m, section(0, name("airlock\x1b[2J"), []byte("payload"))...)
	p := filepath.Join(t.TempDir(), "evil.wasm")
	if err := os.WriteFile(p, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttackInspectHostileNames: a module in a writable mount is what a
// tool could have written, and `airlock inspect` is what the person is
// told to run on it before pinning its digest. Its names reach neither
// inspect's nor run's output as control characters, and add no line.
func TestAttackInspectHostileNames(t *testing.T) {
	proj, _ := project(t)
	mod := hostileNamesModule(t)
	for _, args := range [][]string{{"inspect", mod}, {"run", "--headless", mod}} {
		r := runCLI(t, proj, "", nil, args...)
		out := r.stdout + r.stderr
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("airlock %s: a control or formatting character reached the terminal: %q", args[0], out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "airlock: airlock can run it.") {
				t.Errorf("airlock %s: the module added a line: %q", args[0], out)
			}
		}
		if !strings.Contains(out, "env^[]52;c;cHduZWQ=^G.f^[[2J") {
			t.Errorf("airlock %s: the import is not named on one line:\n%s", args[0], out)
		}
	}
}

// TestAttackPolicyCheckEscapes (held): a policy file a tool could have
// written, with escape sequences in a value and in a name, is checked and
// explained without a control character reaching the terminal.
func TestAttackPolicyCheckEscapes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "evil.hcl")
	src := "mount \"/work\" {\n  host = \".\"\n  access = \"wr\x1b]52;c;cHduZWQ=\x07ite\"\n  acc\x1b[2Jess = \"read\"\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"policy", "check", file}, {"policy", "explain", file}} {
		r := runCLI(t, dir, "", nil, args...)
		if r.code != ExitUsage || strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
			t.Errorf("airlock %v: exit %d: %q", args, r.code, r.stdout+r.stderr)
		}
	}
}

// TestAttackBuildEmbedsHiddenFile: a tool, in the writable project, writes
// a go.mod and a main.go that embeds .env (//go:embed .env) and prints it.
// The person runs `airlock run .` (warned that a tool could have changed
// the folder). The build runs natively, with the person's rights, so the
// hidden file went into the module and the tool printed it. Now a build
// of a folder in a writable mount that compiles or embeds a hidden file
// is refused, naming the rule, and the secret is in no output.
func TestAttackBuildEmbedsHiddenFile(t *testing.T) {
	proj, _ := project(t)
	os.Remove(filepath.Join(proj, "main.go"))
	for name, body := range map[string]string{
		"go.mod":  "module example.com/proj\n\ngo 1.22\n",
		"main.go": "package main\n\nimport (\n\t_ \"embed\"\n\t\"fmt\"\n)\n\n//go:embed .env\nvar secret string\n\nfunc main() { fmt.Print(\"embedded: \", secret) }\n",
	} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, proj, "", nil, "run", "--headless", ".")
	if strings.Contains(r.stdout+r.stderr, "do-not-leak") {
		t.Errorf("the hidden file reached the tool: %s%s", r.stdout, r.stderr)
	}
	if r.code != ExitNoModule || !strings.Contains(r.stderr, `is hidden from the tool (hide ".env"`) {
		t.Errorf("exit %d, want %d and the hide rule named:\n%s", r.code, ExitNoModule, r.stderr)
	}
}

// A tool whose writable mount holds airlock's compile cache writes a Go
// tool that embeds the cache's seal key (with it, a forged cache entry
// would pass as airlock's own native code). The policy filesystem hides the
// cache from the tool, but the go command runs with the person's rights:
// the build must refuse to embed airlock's state as it refuses hidden files.
func TestAttackBuildEmbedsAirlockState(t *testing.T) {
	proj, _ := project(t)
	cache := filepath.Join(proj, ".cache", "airlock")
	warm := runCLI(t, proj, "", []string{"AIRLOCK_CACHE_DIR=" + cache}, "run", "--headless", probeWasm, "--", "args")
	if warm.code != 0 {
		t.Fatalf("warming the cache: exit %d\n%s", warm.code, warm.stderr)
	}
	key, err := os.ReadFile(filepath.Join(cache, "seal.key"))
	if err != nil || len(key) == 0 {
		t.Fatalf("no seal key in the cache: %v", err)
	}
	os.Remove(filepath.Join(proj, "main.go"))
	for name, body := range map[string]string{
		"go.mod":  "module example.com/proj\n\ngo 1.22\n",
		"main.go": "package main\n\nimport (\n\t_ \"embed\"\n\t\"fmt\"\n)\n\n//go:embed .cache/airlock/seal.key\nvar key []byte\n\nfunc main() { fmt.Printf(\"key: %x\\n\", key) }\n",
	} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, proj, "", []string{"AIRLOCK_CACHE_DIR=" + cache}, "run", "--headless", ".")
	if strings.Contains(r.stdout+r.stderr, fmt.Sprintf("%x", key)) {
		t.Errorf("the seal key reached the tool: %s%s", r.stdout, r.stderr)
	}
	if r.code != ExitNoModule || !strings.Contains(r.stderr, "is hidden from the tool (airlock state: compile cache") {
		t.Errorf("exit %d, want %d and airlock's state named:\n%s", r.code, ExitNoModule, r.stderr)
	}
}
