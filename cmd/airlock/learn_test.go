package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/policy"
)

// learnProject makes a project for the learn tests: sources, docs, an
// output folder, a repository's .git, a secret, and airlock's own folder.
func learnProject(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	for name, body := range map[string]string{
		"src/a.txt":           "alpha\n// TODO: one\n",
		"src/b.go":            "package b // TODO: two\n",
		"docs/readme.md":      "the docs, TODO too\n",
		"out/.keep":           "",
		".git/config":         "[core]\n",
		".git/HEAD":           "ref: refs/heads/main\n",
		".env":                "API_KEY=do-not-leak\n",
		".airlock/grants.hcl": "# grants\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// learnEnv keeps a test's airlock away from the machine's configuration.
func learnEnv(t *testing.T) []string {
	return []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
}

func tool(name string) string { return filepath.Join(repoRoot, "tools", name) }

// The learned policy is proven for each sample tool: airlock policy check
// passes it; the same command under it, headless, failing on any denial,
// succeeds with the same output; and what the tool did not do while
// learning (write where it read, read a folder it did not use) is denied.
func TestLearnedPolicyIsProvenForTheSampleTools(t *testing.T) {
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		reset string // a file the run changes, put back before the proof
		// beyond is a command the tool did not learn, run under the
		// learned policy; it must fail, and leave mustStay unchanged.
		beyond    []string
		beyondIn  string
		mustStay  string
		notInOut  string // nor show this
		inProject bool   // learn into .airlock/learned.hcl, not a file outside
	}{
		{name: "cat", args: []string{tool("cat"), "--", "/work/src/a.txt"},
			beyond: []string{tool("write"), "--", "/work/src/a.txt"}, beyondIn: "overwritten\n", mustStay: "src/a.txt"},
		{name: "grep", args: []string{tool("grep"), "--", "-rn", "TODO", "/work/src"},
			beyond: []string{tool("cat"), "--", "/work/docs/readme.md"}, notInOut: "the docs"},
		{name: "ls", args: []string{tool("ls"), "--", "-l", "/work/src"},
			beyond: []string{tool("write"), "--", "/work/src/new.txt"}, beyondIn: "x", mustStay: "src/new.txt", inProject: true},
		{name: "wc", args: []string{tool("wc"), "--", "/work/src/a.txt", "/work/src/b.go"},
			beyond: []string{tool("cat"), "--", "/work/.env"}, notInOut: "do-not-leak"},
		{name: "write", stdin: "new contents\n", args: []string{tool("write"), "--", "/work/out/x.txt"}, reset: "out/x.txt",
			beyond: []string{tool("write"), "--", "/work/src/a.txt"}, beyondIn: "overwritten\n", mustStay: "src/a.txt", inProject: true},
		{name: "patch", stdin: "<<<<<<< SEARCH\nalpha\n=======\nbeta\n>>>>>>> REPLACE\n", args: []string{tool("patch"), "--", "/work/src/a.txt"}, reset: "src/a.txt",
			beyond: []string{tool("write"), "--", "/work/docs/readme.md"}, beyondIn: "overwritten\n", mustStay: "docs/readme.md"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := learnProject(t)
			env := learnEnv(t)
			file := filepath.Join(t.TempDir(), "learned.hcl")
			if c.inProject {
				file = filepath.Join(dir, ".airlock", "learned.hcl")
			}
			var before []byte
			if c.reset != "" {
				before, _ = os.ReadFile(filepath.Join(dir, c.reset))
			}
			learnRun := runCLI(t, dir, c.stdin, env, append([]string{"run", "--learn", file}, c.args...)...)
			if learnRun.code != 0 {
				t.Fatalf("learning: exit %d\n%s%s", learnRun.code, learnRun.stdout, learnRun.stderr)
			}
			src, err := os.ReadFile(file)
			if err != nil || !learn.IsLearned(src) {
				t.Fatalf("no learned policy (%v):\n%s", err, src)
			}
			if r := runCLI(t, dir, "", env, "policy", "check", file); r.code != 0 {
				t.Fatalf("policy check: exit %d\n%s%s", r.code, r.stderr, src)
			}
			if c.reset != "" {
				if before == nil {
					os.Remove(filepath.Join(dir, c.reset))
				} else {
					os.WriteFile(filepath.Join(dir, c.reset), before, 0o644)
				}
			}
			proof := runCLI(t, dir, c.stdin, env, append([]string{"run", "--policy", file, "--headless", "--fail-on-deny"}, c.args...)...)
			if proof.code != 0 || proof.stdout != learnRun.stdout {
				t.Fatalf("under the learned policy: exit %d, stdout %q, want 0 and %q\n%s\n%s", proof.code, proof.stdout, learnRun.stdout, proof.stderr, src)
			}

			var kept []byte
			if c.mustStay != "" {
				kept, _ = os.ReadFile(filepath.Join(dir, c.mustStay))
			}
			r := runCLI(t, dir, c.beyondIn, env, append([]string{"run", "--policy", file, "--headless", "--fail-on-deny"}, c.beyond...)...)
			if r.code == 0 {
				t.Errorf("%v under the learned policy succeeded:\n%s%s\n%s", c.beyond, r.stdout, r.stderr, src)
			}
			if c.mustStay != "" {
				if now, _ := os.ReadFile(filepath.Join(dir, c.mustStay)); !bytes.Equal(now, kept) {
					t.Errorf("%s is now %q", c.mustStay, now)
				}
			}
			if c.notInOut != "" && strings.Contains(r.stdout+r.stderr, c.notInOut) {
				t.Errorf("%q reached the output: %s%s", c.notInOut, r.stdout, r.stderr)
			}
		})
	}
}

// A network tool's learned policy names the scheme, host and port it
// connected to, and nothing wider: the same request succeeds under it, a
// server the ceiling allowed but the tool never contacted is denied, and
// never receives a connection.
func TestLearnedNetworkPolicyIsProven(t *testing.T) {
	dir := learnProject(t)
	env := learnEnv(t)
	used, unused := newFixedServer(t), newFixedServer(t)
	file := filepath.Join(t.TempDir(), "fetch.hcl")
	url := fmt.Sprintf("http://localhost:%d/x", used.port())
	ceiling := []string{
		"--allow-net", fmt.Sprintf("http://localhost:%d", used.port()),
		"--allow-net", fmt.Sprintf("http://127.0.0.1:%d", used.port()),
		"--allow-net", fmt.Sprintf("http://127.0.0.1:%d", unused.port()),
		"--allow-net", "https://example.com",
	}
	args := []string{tool("fetch"), "--", url}
	l := runCLI(t, dir, "", env, append(append([]string{"run", "--learn", file}, ceiling...), args...)...)
	if l.code != 0 || !strings.Contains(l.stdout, "fixed") {
		t.Fatalf("learning: exit %d\n%s%s", l.code, l.stdout, l.stderr)
	}
	src, _ := os.ReadFile(file)
	p, diags := policy.Parse(src, file, policy.LayerProject, filepath.Dir(file))
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, src)
	}
	var rules []string
	for _, r := range p.Network.Allow {
		rules = append(rules, r.Text)
	}
	want := fmt.Sprintf("http://localhost:%d http://127.0.0.1:%d", used.port(), used.port())
	if strings.Join(rules, " ") != want || p.Network.Default != policy.Deny || len(p.Mounts) != 0 {
		t.Fatalf("rules %q (default %v, %d mounts), want %q\n%s", rules, p.Network.Default, len(p.Mounts), want, src)
	}

	before := used.n.Load()
	proof := runCLI(t, dir, "", env, append([]string{"run", "--policy", file, "--headless", "--fail-on-deny"}, args...)...)
	if proof.code != 0 || proof.stdout != l.stdout {
		t.Fatalf("under the learned policy: exit %d, stdout %q, want %q\n%s", proof.code, proof.stdout, l.stdout, proof.stderr)
	}
	if n := used.n.Load() - before; n != 1 {
		t.Errorf("the server the tool used accepted %d connections under the learned policy, want 1", n)
	}
	r := runCLI(t, dir, "", env, "run", "--policy", file, "--headless", "--fail-on-deny", tool("fetch"), "--", fmt.Sprintf("http://127.0.0.1:%d/", unused.port()))
	if r.code == 0 || !strings.Contains(r.stderr, "denied net.connect") {
		t.Errorf("a server the tool never contacted: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := unused.n.Load(); n != 0 {
		t.Errorf("the server the tool never contacted accepted %d connections", n)
	}
}

// greedy is testdata/greedy built for wasip1 (see its doc comment).
var greedy = guestOnce(filepath.Join("testdata", "greedy"), "greedy")

// A hostile tool run under --learn reaches for everything that could widen
// what it is granted: hidden, protected and airlock's own paths, a symbolic
// link to .git, a folder whose name would write HCL into the file, a host
// in an odd spelling, the learn file itself. The learned file stays
// narrow, and a run under it of the same tool is denied every one of them,
// as seen from the host.
func TestLearnHostileToolStaysNarrow(t *testing.T) {
	t0 := t
	dir := learnProject(t)
	env := learnEnv(t)
	srv := newFixedServer(t)
	file := filepath.Join(dir, "learned.hcl") // inside the writable /work
	inject := "x\nnetwork {\n  default = \"allow\"\n}\n#"
	if err := os.MkdirAll(filepath.Join(dir, "sub", inject), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sub", inject, "f"), []byte("in a folder with a strange name\n"), 0o644)
	hostile := []string{
		"read:/work/.env",
		"write:/work/.git/config:pwned",
		"write:/work/.airlock/grants.hcl:pwned",
		"write:/work/learned.hcl:mount \"/\" {\n host = \"/\"\n access = \"write\"\n}\n",
		"write:/work/evil.hcl:# pwned\nmount \"/\" {\n host = \"/\"\n access = \"write\"\n}\n",
		"rename:/work/evil.hcl:/work/learned.hcl",
		"symlink:.git:/work/lnk",
		"write:/work/lnk/hooks-pre-commit:pwned",
		"read:/work/../../etc/hostname",
		"stat:/",
		"read:/work/sub/" + inject + "/f",
		fmt.Sprintf("connect:0x7f.1:%d", srv.port()),
		"read:/work/src/a.txt",
	}
	args := append([]string{"run", "--learn", file, "--allow-net", "tcp://127.0.0.1", greedy(t), "--"}, hostile...)
	l := runCLI(t, dir, "", env, args...)
	if l.code != 0 {
		t.Fatalf("learning: exit %d\n%s%s", l.code, l.stdout, l.stderr)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := policy.Parse(src, file, policy.LayerProject, policy.BaseDir(file))
	if diags.HasErrors() {
		t.Fatalf("%s\n%s", diags, src)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && (strings.Contains(t, "pwned") || strings.Contains(t, `host = "/"`)) {
			t0.Errorf("the tool wrote into the learned file: %q\n%s", line, src)
		}
	}
	for _, m := range p.Mounts {
		if m.Guest == "/" || strings.Contains(m.Guest, "\n") {
			t.Errorf("a mount at %q:\n%s", m.Guest, src)
		}
	}
	if strings.Contains(string(src), "protect_defaults") {
		t.Errorf("the learned file drops the protected list:\n%s", src)
	}
	for _, m := range p.Mounts {
		real, _ := filepath.EvalSymlinks(m.Host)
		for _, bad := range []string{".git", ".airlock", "lnk", ".env"} {
			if strings.Contains(real, bad) {
				t.Errorf("%s mounts %s (%s):\n%s", m.Guest, m.Host, real, src)
			}
		}
	}
	if p.Network.Default != policy.Deny || len(p.Network.Allow) != 1 || p.Network.Allow[0].Text != fmt.Sprintf("tcp://127.0.0.1:%d", srv.port()) {
		t.Errorf("network: default %v, allow %v; want only tcp://127.0.0.1:%d\n%s", p.Network.Default, p.Network.Allow, srv.port(), src)
	}
	for _, want := range []string{"denied while learning, not granted: fs.read open /work/.env", "not granted: fs.write open /work/learned.hcl (airlock state: learned policy)"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("the file lacks %q:\n%s", want, src)
		}
	}

	// Under the learned policy, the same tool is denied all of it.
	gitBefore, _ := os.ReadFile(filepath.Join(dir, ".git", "config"))
	grantsBefore, _ := os.ReadFile(filepath.Join(dir, ".airlock", "grants.hcl"))
	os.Remove(filepath.Join(dir, "lnk"))
	r := runCLI(t, dir, "", env, "run", "--policy", file, "--headless", greedy(t), "--",
		"read:/work/.env", "write:/work/.git/config:pwned", "write:/work/.airlock/grants.hcl:pwned", "symlink:.git:/work/lnk2",
		"write:/work/lnk2/x:pwned", "write:/work/learned.hcl:pwned", fmt.Sprintf("connect:127.0.0.1:%d", srv.port()+0))
	if strings.Contains(r.stdout, "do-not-leak") {
		t.Errorf("the secret was read:\n%s", r.stdout)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, ".git", "config")); !bytes.Equal(now, gitBefore) {
		t.Errorf(".git/config is now %q", now)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, ".airlock", "grants.hcl")); !bytes.Equal(now, grantsBefore) {
		t.Errorf("the grants are now %q", now)
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, src) {
		t.Errorf("the learned file was changed by a run under it:\n%s", now)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git", "x")); err == nil {
		t.Error("a file was written into .git")
	}
}

// Learning again into the same file adds what a new run needs, keeps what
// a person wrote there, and proves both runs; learning a run it already
// allows changes nothing.
func TestLearnAgainMergesAndKeepsEdits(t *testing.T) {
	dir := learnProject(t)
	env := learnEnv(t)
	file := filepath.Join(dir, ".airlock", "tools.hcl")
	catArgs := []string{tool("cat"), "--", "/work/src/a.txt"}
	if r := runCLI(t, dir, "", env, append([]string{"run", "--learn", file}, catArgs...)...); r.code != 0 {
		t.Fatalf("learning cat: %d %s", r.code, r.stderr)
	}
	src, _ := os.ReadFile(file)
	edited := strings.Replace(string(src), `access = "read"`, `access = "read" # reviewed by me`, 1) + "\n# my own note\n"
	os.WriteFile(file, []byte(edited), 0o644)

	writeArgs := []string{tool("write"), "--", "/work/out/new.txt"}
	r := runCLI(t, dir, "hello\n", env, append([]string{"run", "--learn", file}, writeArgs...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "mount /work/out (write)") {
		t.Fatalf("learning write: %d %s", r.code, r.stderr)
	}
	merged, _ := os.ReadFile(file)
	for _, keep := range []string{"# reviewed by me", "# my own note", "# read /work/src/a.txt (open)", "# wrote /work/out/new.txt"} {
		if !strings.Contains(string(merged), keep) {
			t.Errorf("the merged file lacks %q:\n%s", keep, merged)
		}
	}
	os.Remove(filepath.Join(dir, "out", "new.txt"))
	for _, c := range []struct {
		stdin string
		args  []string
	}{{"", catArgs}, {"hello\n", writeArgs}} {
		if r := runCLI(t, dir, c.stdin, env, append([]string{"run", "--policy", file, "--headless", "--fail-on-deny"}, c.args...)...); r.code != 0 {
			t.Errorf("%v under the merged policy: exit %d %s\n%s", c.args, r.code, r.stderr, merged)
		}
	}
	r = runCLI(t, dir, "", env, append([]string{"run", "--learn", file}, catArgs...)...)
	if again, _ := os.ReadFile(file); r.code != 0 || !bytes.Equal(again, merged) || !strings.Contains(r.stderr, "learned nothing new") {
		t.Errorf("learning cat again: exit %d, %s; file changed: %v", r.code, r.stderr, !bytes.Equal(again, merged))
	}
}

// airlock mcp --learn DIR writes one learned policy per tool from what its
// calls used, each valid and proven, and airlock policy explain DIR reads
// them all. The client is the official MCP SDK's.
func TestMCPLearnWritesOnePolicyPerTool(t *testing.T) {
	dir := learnProject(t)
	env := learnEnv(t)
	tools := t.TempDir()
	for _, name := range []string{"cat", "write"} {
		os.MkdirAll(filepath.Join(tools, name), 0o755)
		for _, f := range []string{"tool.hcl", name + ".wasm"} {
			b, err := os.ReadFile(filepath.Join(repoRoot, "tools", name, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(tools, name, f), b, 0o644)
		}
	}
	learned := filepath.Join(t.TempDir(), "learned")
	cmd := exec.Command(airlockBin, "mcp", "--tools", tools, "--learn", learned, "--headless")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "learn-test", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connecting: %v\n%s", err, stderr.String())
	}
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"cat", map[string]any{"files": []string{"/work/src/a.txt"}}},
		{"write", map[string]any{"path": "/work/out/mcp.txt", "content": "from mcp\n"}},
		{"cat", map[string]any{"files": []string{"/work/src/b.go"}}},
	} {
		res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v\n%s", c.tool, err, res, stderr.String())
		}
	}
	cs.Close()

	for _, c := range []struct {
		tool, mounts string
	}{
		{"cat", "/work/src read"},
		{"write", "/work/out write"},
	} {
		file := filepath.Join(learned, c.tool+".hcl")
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.tool, err, stderr.String())
		}
		p, diags := policy.Parse(src, file, policy.LayerProject, policy.BaseDir(file))
		if diags.HasErrors() {
			t.Fatalf("%s\n%s", diags, src)
		}
		var got []string
		for _, m := range p.Mounts {
			got = append(got, m.Guest+" "+m.Access.String())
		}
		if strings.Join(got, ", ") != c.mounts {
			t.Errorf("%s.hcl mounts %q, want %q\n%s", c.tool, got, c.mounts, src)
		}
	}
	os.Remove(filepath.Join(dir, "out", "mcp.txt"))
	if r := runCLI(t, dir, "", env, "run", "--policy", filepath.Join(learned, "cat.hcl"), "--headless", "--fail-on-deny", tool("cat"), "--", "/work/src/a.txt", "/work/src/b.go"); r.code != 0 {
		t.Errorf("cat under its learned policy: exit %d: %s", r.code, r.stderr)
	}
	r := runCLI(t, dir, "", env, "policy", "explain", learned)
	for _, want := range []string{
		"Policy: " + filepath.Join(learned, "cat.hcl"),
		"Policy: " + filepath.Join(learned, "write.hcl"),
		"  mount /work/src (read): read /work/src/a.txt (open)",
		"  mount /work/out (write): wrote /work/out/mcp.txt",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("policy explain %s lacks %q (exit %d):\n%s%s", learned, want, r.code, r.stdout, r.stderr)
		}
	}
}

// A learn file that already holds a policy and lies in a mount the tool may
// write could hold rules a tool wrote there in an earlier run, with
// comments that read as learned: airlock refuses to merge into it, and it
// keeps its bytes; the same for airlock mcp --learn DIR. A new file in the
// same place is learned into as before.
func TestLearnRefusesAFileAToolCouldHaveWritten(t *testing.T) {
	dir := learnProject(t)
	env := learnEnv(t)
	planted := learn.Header + "\n\n# read /work/src/a.txt (open)\nmount \"/\" {\n  host   = \"/\"\n  access = \"write\"\n}\n"
	file := filepath.Join(dir, "learned.hcl") // inside the writable /work
	if err := os.WriteFile(file, []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, dir, "", env, "run", "--learn", file, tool("cat"), "--", "/work/src/a.txt")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "inside the writable mount /work") || strings.Contains(r.stdout, "alpha") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(file); string(b) != planted {
		t.Errorf("the file changed:\n%s", b)
	}

	learned := filepath.Join(dir, "learned")
	os.MkdirAll(learned, 0o755)
	os.WriteFile(filepath.Join(learned, "cat.hcl"), []byte(planted), 0o644)
	r = runCLI(t, dir, "", env, "mcp", "--tools", filepath.Join(repoRoot, "tools"), "--learn", learned)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "inside the writable mount /work") {
		t.Errorf("mcp: exit %d\n%s", r.code, r.stderr)
	}

	fresh := filepath.Join(dir, "fresh.hcl")
	if r := runCLI(t, dir, "", env, "run", "--learn", fresh, tool("cat"), "--", "/work/src/a.txt"); r.code != 0 || !strings.Contains(r.stdout, "alpha") {
		t.Errorf("a new file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error(err)
	}
}

// airlock mcp --learn DIR, with DIR a new folder inside the writable
// mount: DIR is airlock's state for as long as the server runs, so a tool
// call cannot plant a policy there for the person to review as learned
// (the file stays absent), while airlock still writes the tool's learned
// policy into it.
func TestMCPLearnDirInsideTheMountIsOutOfTheToolsReach(t *testing.T) {
	dir := learnProject(t)
	learned := filepath.Join(dir, "learned") // new, inside /work
	cmd := exec.Command(airlockBin, "mcp", "--tools", filepath.Join(repoRoot, "tools"), "--learn", learned, "--headless")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), learnEnv(t)...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "learn-test", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connecting: %v\n%s", err, stderr.String())
	}
	planted := "mount \"/\" {\n  host   = \"/\"\n  access = \"write\"\n}\n"
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "write",
		Arguments: map[string]any{"path": "/work/learned/cat.hcl", "content": planted}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Errorf("the write into the learn folder succeeded: %+v", res)
	}
	if res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "cat",
		Arguments: map[string]any{"files": []string{"/work/src/a.txt"}}}); err != nil || res.IsError {
		t.Fatalf("cat: %v %+v\n%s", err, res, stderr.String())
	}
	cs.Close()
	src, err := os.ReadFile(filepath.Join(learned, "cat.hcl"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if strings.Contains(string(src), `host   = "/"`) || !strings.Contains(string(src), "read /work/src/a.txt") {
		t.Errorf("cat.hcl is not what airlock learned:\n%s", src)
	}
	if _, err := os.Stat(filepath.Join(learned, "write.hcl")); err != nil {
		t.Errorf("the refused write call left no learned policy: %v", err)
	}
}

// The learned file's name comes from the MCP tool's name: a name that
// would lead out of DIR, or hide the file, gets no file.
func TestMCPLearnFileNamesStayInTheFolder(t *testing.T) {
	root := t.TempDir()
	d, err := openLearnDir(filepath.Join(root, "learned"))
	if err != nil {
		t.Fatal(err)
	}
	d.log = slog.New(slog.DiscardHandler)
	for _, name := range []string{"../escape", "a/b", `a\b`, "..", "...", ""} {
		if err := d.write(name, learn.Run{Policy: policy.Default(root)}); err == nil {
			t.Errorf("tool %q: written", name)
		}
	}
	var found []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) > 0 {
		t.Errorf("files written: %q", found)
	}
	if err := d.write(".hidden", learn.Run{Policy: policy.Default(root)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "learned", "hidden.hcl")); err != nil {
		t.Errorf("a leading dot is dropped, not kept: %v", err)
	}
}
