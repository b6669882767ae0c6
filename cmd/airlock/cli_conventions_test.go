package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpAtEveryLevel: -h, --help and help print the usage on stdout and
// exit 0, for every command and subcommand; nothing is run.
func TestHelpAtEveryLevel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	levels := [][]string{{}, {"run"}, {"policy"}, {"policy", "check"}, {"policy", "explain"}, {"mcp"}, {"grants"},
		{"grants", "list"}, {"grants", "revoke"}, {"trace"}, {"init"}, {"build"}, {"inspect"}, {"completion"}, {"version"}}
	for _, level := range levels {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, level...), h)
			r := runCLI(t, dir, "", nil, args...)
			want := "usage: airlock " + strings.Join(level, " ")
			if len(level) == 0 {
				want = "airlock runs agent tools"
			}
			if r.code != 0 || !strings.HasPrefix(r.stdout, want) || r.stderr != "" {
				t.Errorf("airlock %s: exit %d\nstdout %q\nstderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
		if len(level) > 0 {
			r := runCLI(t, dir, "", nil, append([]string{"help"}, level...)...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: airlock "+strings.Join(level, " ")) {
				t.Errorf("airlock help %s: exit %d %q %q", strings.Join(level, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
	// Flags are shown as --name, with what they take.
	r := runCLI(t, dir, "", nil, "run", "--help")
	for _, want := range []string{"--policy FILE", "--timeout LIMIT", "--json [FILE]", "--headless "} {
		if !strings.Contains(r.stdout, "  "+want) {
			t.Errorf("airlock run --help lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCommandLineMistakes: an unknown command or flag, or a bad value, is
// one line starting "airlock:", with a suggestion when one is close, and
// exit 125; a duration or size says what the policy file would say.
func TestCommandLineMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.hcl")
	os.WriteFile(pol, []byte("limits {\n  timeout = \"5\"\n}\n"), 0o644)
	policyMsg := runCLI(t, dir, "", nil, "policy", "check", pol).stderr
	const durationMsg = `"5" is not a duration: write a number with a unit, like "30s", "2m" or "1h30m"`
	if !strings.Contains(policyMsg, durationMsg) {
		t.Fatalf("the policy file's message changed: %s", policyMsg)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rnu"}, `airlock: unknown command "rnu" (did you mean run?)`},
		{[]string{"--verison"}, "airlock: unknown flag --verison for airlock (did you mean --version?)"},
		{[]string{"policy", "chek", "x"}, `airlock: unknown command "chek" (did you mean check?); airlock policy takes check or explain`},
		{[]string{"grants", "lst"}, `airlock: unknown command "lst" (did you mean list?)`},
		{[]string{"run", "--jsno", "x.wasm"}, "airlock: unknown flag --jsno for airlock run (did you mean --json?)"},
		{[]string{"run", "x.wasm", "-n"}, "airlock: unknown flag --n for airlock run; if it is the tool's, put it after --, e.g. airlock run x.wasm -- -n"},
		{[]string{"mcp", "--tool", "x"}, "airlock: unknown flag --tool for airlock mcp (did you mean --tools?)"},
		{[]string{"run", "--timeout", "5", "x.wasm"}, "airlock: --timeout: " + durationMsg},
		{[]string{"run", "--memory", "5X", "x.wasm"}, `airlock: --memory: "5X" has an unknown unit "X": use B, KiB, MiB, GiB, KB, MB or GB`},
		{[]string{"run", "--policy"}, "airlock: --policy needs a value"},
		{[]string{"completion", "tcsh"}, `airlock: unknown shell "tcsh"; airlock completion takes bash, zsh or fish`},
		{[]string{"run"}, "airlock: airlock run needs a MODULE or TOOLDIR"},
	} {
		r := runCLI(t, dir, "", nil, c.args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != ExitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], c.want) || r.stdout != "" {
			t.Errorf("airlock %s: exit %d, stderr:\n%s\nwant one line starting %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// TestJSONFileFlag: --json FILE and --json=FILE both write the report to
// FILE; --json alone writes it to stderr, and the word after it is its
// file only when it ends in .json (else it is the module).
func TestJSONFileFlag(t *testing.T) {
	t.Parallel()
	dir, _ := project(t)
	for _, c := range []struct {
		args   []string
		file   string // where the report goes; "" for stderr
		stdout string
	}{
		{[]string{"run", "--json", "r1.json", probeWasm, "--", "exit", "0"}, "r1.json", ""},
		{[]string{"run", "--json=r2.txt", probeWasm, "--", "exit", "0"}, "r2.txt", ""},
		{[]string{"run", probeWasm, "--json", "r3.json", "--", "exit", "0"}, "r3.json", ""},
		{[]string{"run", "--json", probeWasm, "--", "exit", "0"}, "", ""},
	} {
		r := runCLI(t, dir, "", nil, c.args...)
		if r.code != 0 {
			t.Errorf("airlock %s: exit %d: %s", strings.Join(c.args, " "), r.code, r.stderr)
			continue
		}
		report := lastLine(r.stderr)
		if c.file != "" {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Errorf("airlock %s: no report in %s: %v", strings.Join(c.args, " "), c.file, err)
				continue
			}
			report = string(b)
		}
		if !strings.HasPrefix(report, `{"tool":"probe"`) {
			t.Errorf("airlock %s: report %q", strings.Join(c.args, " "), report)
		}
	}
}

// TestVersion: airlock --version and airlock version print the version
// from the build information: the module's, wazero's and Go's.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := runCLI(t, t.TempDir(), "", nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "airlock (devel)\n") || !strings.Contains(r.stdout, "wazero   v1.") ||
			!strings.Contains(r.stdout, "go       go1.") {
			t.Errorf("airlock %s: exit %d:\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
	}
	var b strings.Builder
	writeVersion(&b, versionInfo{Version: "v0.3.0", Revision: "0123abc", Time: "2026-12-01T10:00:00Z", Modified: true, Wazero: "v1.12.0", Go: "go1.26.8", Platform: "linux/amd64"})
	want := "airlock v0.3.0\n  revision 0123abc (modified), 2026-12-01T10:00:00Z\n  wazero   v1.12.0\n  go       go1.26.8 linux/amd64\n"
	if b.String() != want {
		t.Errorf("version:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestCompletion loads each shell's script and asks it for completions;
// the words come from this binary.
func TestCompletion(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(airlockBin, filepath.Join(bin, "airlock")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	sh := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed (.ci/setup-shells.sh installs it)", name)
		}
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Dir = env, t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	cases := []struct{ line, want string }{
		{"airlock ru", "run"},
		{"airlock run --jso", "--json"},
		{"airlock policy ", "check explain"},
		{"airlock run --approvals on", "on-request on-failure"},
		{"airlock completion ", "bash zsh fish"},
		{"airlock grants revoke --a", "--all"},
	}
	t.Run("bash", func(t *testing.T) {
		for _, c := range cases {
			got := sh(t, "bash", "-c", `source <(airlock completion bash)
read -ra COMP_WORDS <<< "$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _airlock; echo "${COMPREPLY[*]}"`, "bash", c.line)
			if strings.TrimSpace(got) != c.want {
				t.Errorf("bash %q: %q, want %q", c.line, got, c.want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		for _, c := range cases {
			got := sh(t, "fish", "-c", "airlock completion fish | source; complete -C $argv[1]", c.line)
			for _, w := range strings.Fields(c.want) {
				if !strings.Contains("\n"+got, "\n"+w+"\n") && !strings.Contains("\n"+got, "\n"+w+"\t") {
					t.Errorf("fish %q: %q lacks %q", c.line, got, w)
				}
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		// zsh's completion needs a terminal to run; check the script loads
		// and registers its function, and that what it calls answers.
		got := sh(t, "zsh", "-c", `autoload -U compinit && compinit -u -D && source <(airlock completion zsh) && print -r -- ${+functions[_airlock]} ${_comps[airlock]}`)
		if strings.TrimSpace(got) != "1 _airlock" {
			t.Errorf("zsh: %q", got)
		}
	})
}
