package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

// ceilingProject makes the host side of the managed-ceiling attacks: a
// project whose managed policy hides secrets/** and data/private/** and
// protects conf/locked/** and ro/**, host symbolic links to it and into
// it, and the managed policy itself. It returns the root (proj is
// root/proj), the managed file, the secret's text and the environment.
func ceilingProject(t *testing.T) (root, managed, secret string, env []string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret = fmt.Sprintf("MANAGED-SECRET-%d", os.Getpid())
	for name, body := range map[string]string{
		"proj/secrets/key.txt":        secret,
		"proj/secrets/inner/deep.txt": secret,
		"proj/data/private/k.txt":     secret,
		"proj/data/public/ok.txt":     "public data",
		"proj/conf/locked/a.txt":      "locked v1",
		"proj/conf/free/b.txt":        "free v1",
		"proj/ro/x.txt":               "ro v1",
		"proj/main.go":                "package main\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{"link": "proj", "slink": "proj/secrets"} {
		if err := os.Symlink(filepath.Join(root, to), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	managed = filepath.Join(t.TempDir(), "managed.hcl")
	if err := os.WriteFile(managed, []byte(`mount "/proj" {
  host    = "`+filepath.Join(root, "proj")+`"
  access  = "write"
  hide    = ["secrets/**", "data/private/**"]
  protect = ["conf/locked/**", "ro/**"]
}

mount "/up" {
  host   = "`+root+`"
  access = "write"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	env = []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY=" + managed}
	return root, managed, secret, env
}

// TestManagedHideHoldsOnPlaces: a managed hide covers the host files it
// names under every route a project policy or a flag could take to them.
// Each row is an attack: a guest reads the hidden file through another
// mount. The secret's bytes never reach stdout or stderr, and a mount
// inside the hidden folder is refused with the managed rule named.
func TestManagedHideHoldsOnPlaces(t *testing.T) {
	root, managed, secret, env := ceilingProject(t)
	proj := filepath.Join(root, "proj")
	rule := func(pat string, col int) string {
		return fmt.Sprintf("hide %q (managed:%s:4:%d)", pat, managed, col)
	}
	otherPolicy := func(name, body string) string {
		p := filepath.Join(root, "cfg", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The fixture is a real attack: without the managed policy, a
	// sub-mount of the hidden folder hands the secret over.
	r := runCLI(t, proj, "", []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="},
		"run", "--mount", filepath.Join(proj, "secrets")+":/s", probeWasm, "--", "read", "/s/key.txt")
	if !strings.Contains(r.stdout, secret) {
		t.Fatalf("without the managed policy the sub-mount did not leak: the fixture proves nothing: %s %s", r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		name   string
		args   []string // before the module
		read   string   // the guest path the tool reads
		refuse string   // "": the run goes ahead and the read is denied; else the refusal names this rule
	}{
		// A mount inside the hidden folder: refused before the tool runs.
		{"a sub-mount by --mount", []string{"--mount", filepath.Join(proj, "secrets") + ":/s"}, "/s/key.txt", rule("secrets/**", 14)},
		{"a deeper sub-mount by --mount", []string{"--mount", filepath.Join(proj, "secrets/inner") + ":/s"}, "/s/deep.txt", rule("secrets/**", 14)},
		{"a sub-mount by a project policy", []string{"--policy", otherPolicy("sub.hcl", "mount \"/s\" {\n  host = \"../proj/secrets\"\n}\n")}, "/s/key.txt", rule("secrets/**", 14)},
		{"a host symlink into the hidden folder", []string{"--mount", filepath.Join(root, "slink") + ":/s"}, "/s/key.txt", rule("secrets/**", 14)},
		{"a sub-mount of a deeper hidden folder", []string{"--mount", filepath.Join(proj, "data/private") + ":/s"}, "/s/k.txt", rule("data/private/**", 28)},
		// Mounts that expose it from elsewhere: the run goes ahead, the read is denied.
		{"a second mount of the same folder", []string{"--mount", proj + ":/again"}, "/again/secrets/key.txt", ""},
		{"a parent mount", []string{"--mount", root + ":/up"}, "/up/proj/secrets/key.txt", ""},
		{"a parent mount by a project policy", []string{"--policy", otherPolicy("parent.hcl", "mount \"/up\" {\n  host = \"..\"\n}\n")}, "/up/proj/data/private/k.txt", ""},
		{"a host symlink to the folder", []string{"--mount", filepath.Join(root, "link") + ":/l"}, "/l/secrets/inner/deep.txt", ""},
		{"a sub-mount the rule continues into", []string{"--mount", filepath.Join(proj, "data") + ":/d"}, "/d/private/k.txt", ""},
	} {
		for _, engine := range engines() {
			t.Run(tc.name+"/"+engine, func(t *testing.T) {
				args := append([]string{"run", "--engine", engine}, tc.args...)
				args = append(args, probeWasm, "--", "read", tc.read)
				r := runCLI(t, proj, "", env, args...)
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Fatalf("the secret reached the output: %s %s", r.stdout, r.stderr)
				}
				// The file route: copy it into a writable mount of its own.
				loot := filepath.Join(root, "loot")
				os.MkdirAll(loot, 0o755)
				args = append(append([]string{"run", "--engine", engine, "--mount", loot + ":/loot"}, tc.args...), asker(t), "--", "copy:"+tc.read+":/loot/got.txt")
				c := runCLI(t, proj, "", env, args...)
				if b, err := os.ReadFile(filepath.Join(loot, "got.txt")); err == nil || strings.Contains(c.stdout+c.stderr, secret) {
					t.Fatalf("the secret reached a file (%q) or the output: %s %s", b, c.stdout, c.stderr)
				}
				if tc.refuse == "" && !strings.Contains(c.stdout, "copy "+tc.read+" err") {
					t.Errorf("copy: %s %s", c.stdout, c.stderr)
				}
				if tc.refuse != "" {
					if r.code != ExitUsage || !strings.Contains(r.stderr, "Mount inside a path the managed policy hides") || !strings.Contains(r.stderr, tc.refuse) {
						t.Errorf("exit %d, want %d and a refusal naming %s: %s", r.code, ExitUsage, tc.refuse, r.stderr)
					}
					return
				}
				if r.code == 0 || !strings.Contains(r.stdout, "error:") || !strings.Contains(r.stderr, "(managed:"+managed) {
					t.Errorf("exit %d, want the read denied by the managed layer: %s %s", r.code, r.stdout, r.stderr)
				}
			})
		}
	}

	// The same routes still reach what the managed policy does not hide.
	r = runCLI(t, proj, "", env, "run", "--mount", filepath.Join(proj, "data")+":/d", probeWasm, "--", "read", "/d/public/ok.txt")
	if r.code != 0 || r.stdout != "public data" {
		t.Errorf("a file the managed policy does not hide: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, proj, "", env, "run", "--mount", filepath.Join(root, "loot")+":/loot", "--mount", filepath.Join(proj, "data")+":/d", asker(t), "--", "copy:/d/public/ok.txt:/loot/got.txt")
	if b, _ := os.ReadFile(filepath.Join(root, "loot", "got.txt")); string(b) != "public data" {
		t.Errorf("the copy route does not work at all (%q): %s %s", b, r.stdout, r.stderr)
	}

	// The project's own policy, found by itself, with a parent mount.
	os.MkdirAll(filepath.Join(proj, ".airlock"), 0o755)
	os.WriteFile(filepath.Join(proj, ".airlock", "policy.hcl"), []byte("mount \"/up\" {\n  host = \"..\"\n}\n"), 0o644)
	defer os.RemoveAll(filepath.Join(proj, ".airlock"))
	r = runCLI(t, proj, "", env, "run", probeWasm, "--", "read", "/up/proj/secrets/key.txt")
	if strings.Contains(r.stdout+r.stderr, secret) || r.code == 0 {
		t.Errorf("project policy with a parent mount: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// explain shows the placed rule, with the managed origin.
	r = runCLI(t, proj, "", env, "policy", "explain")
	if !strings.Contains(r.stdout, "/up is the host directory "+root+";") || !strings.Contains(r.stdout, "proj/secrets/**") {
		t.Errorf("explain:\n%s%s", r.stdout, r.stderr)
	}
}

// TestManagedProtectHoldsOnPlaces: a managed protect holds in a sub-mount,
// and a mount inside a protected folder is read-only by the managed layer,
// so that neither the headless answer nor a person can open it. The file's
// bytes are unchanged.
func TestManagedProtectHoldsOnPlaces(t *testing.T) {
	root, managed, _, env := ceilingProject(t)
	proj := filepath.Join(root, "proj")
	wasm := asker(t)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(proj, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// approvals.headless = "allow" answers every question when nobody can
	// be asked: a write into a read-only mount the project declared is one.
	pol := filepath.Join(root, "cfg.hcl")
	os.WriteFile(pol, []byte(`mount "/r" {
  host   = "proj/ro"
  access = "read"
}

mount "/c" {
  host   = "proj/conf"
  access = "write"
}

approvals {
  headless = "allow"
}
`), 0o644)
	args := []string{"run", "--headless", "--policy", pol, wasm, "--", "write:/c/locked/a.txt:PWNED", "write:/r/x.txt:PWNED", "write:/c/free/b.txt:free v2"}

	// Without the managed policy, both writes go through: the fixture is
	// a real attack.
	r := runCLI(t, proj, "", []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}, args...)
	if read("conf/locked/a.txt") != "PWNED" || read("ro/x.txt") != "PWNED" {
		t.Fatalf("without the managed policy the writes did not land: the fixture proves nothing: %s %s", r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(proj, "conf/locked/a.txt"), []byte("locked v1"), 0o644)
	os.WriteFile(filepath.Join(proj, "ro/x.txt"), []byte("ro v1"), 0o644)

	for _, engine := range engines() {
		os.WriteFile(filepath.Join(proj, "conf/free/b.txt"), []byte("free v1"), 0o644)
		r = runCLI(t, proj, "", env, withEngine(engine, args)...)
		if got := read("conf/locked/a.txt"); got != "locked v1" {
			t.Errorf("%s: a managed-protected file written through a sub-mount: %q: %s %s", engine, got, r.stdout, r.stderr)
		}
		if got := read("ro/x.txt"); got != "ro v1" {
			t.Errorf("%s: a file in a mount inside a managed-protected folder written (the headless answer opened it): %q: %s %s", engine, got, r.stdout, r.stderr)
		}
		if got := read("conf/free/b.txt"); got != "free v2" {
			t.Errorf("%s: the control write beside them failed: %q: %s %s", engine, got, r.stdout, r.stderr)
		}
		if strings.Count(r.stderr, "(managed:"+managed) < 2 {
			t.Errorf("%s: the denials do not name the managed layer: %s", engine, r.stderr)
		}
	}
}

// TestRelativeHostOneMeaning: the project's .airlock/policy.hcl mounts the
// same folder whether airlock found it or it was named with --policy, from
// the project or from elsewhere; explain prints that folder, absolute.
func TestRelativeHostOneMeaning(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(root, "proj")
	os.MkdirAll(filepath.Join(proj, ".airlock"), 0o755)
	os.WriteFile(filepath.Join(proj, "marker.txt"), []byte("the project folder"), 0o644)
	os.WriteFile(filepath.Join(proj, ".airlock", "policy.hcl"), []byte("mount \"/work\" {\n  host   = \".\"\n  access = \"read\"\n}\n"), 0o644)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	for _, tc := range []struct {
		name, cwd string
		policy    []string
	}{
		{"found by itself", proj, nil},
		{"--policy, relative", proj, []string{"--policy", ".airlock/policy.hcl"}},
		{"--policy, from elsewhere", root, []string{"--policy", "proj/.airlock/policy.hcl"}},
		{"--policy, absolute", t.TempDir(), []string{"--policy", filepath.Join(proj, ".airlock", "policy.hcl")}},
	} {
		args := append(append([]string{"run"}, tc.policy...), probeWasm, "--", "read", "/work/marker.txt")
		r := runCLI(t, tc.cwd, "", env, args...)
		if r.code != 0 || r.stdout != "the project folder" {
			t.Errorf("%s: exit %d: %q %s", tc.name, r.code, r.stdout, r.stderr)
		}
		explain := []string{"policy", "explain"}
		if tc.policy != nil {
			explain = append(explain, tc.policy[1])
		}
		r = runCLI(t, tc.cwd, "", env, explain...)
		if !strings.Contains(r.stdout, "/work is the host directory "+proj+";") {
			t.Errorf("%s: explain:\n%s%s", tc.name, r.stdout, r.stderr)
		}
	}
	// A policy anywhere else: "." is its own folder.
	conf := filepath.Join(root, "conf")
	os.MkdirAll(conf, 0o755)
	os.WriteFile(filepath.Join(conf, "marker.txt"), []byte("the conf folder"), 0o644)
	os.WriteFile(filepath.Join(conf, "p.hcl"), []byte("mount \"/work\" {\n  host = \".\"\n}\n"), 0o644)
	r := runCLI(t, proj, "", env, "run", "--policy", filepath.Join(conf, "p.hcl"), probeWasm, "--", "read", "/work/marker.txt")
	if r.code != 0 || r.stdout != "the conf folder" {
		t.Errorf("a policy outside .airlock: exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
}

// TestBroadWorkDir: with no policy, airlock mcp refuses to serve / or the
// home folder (or a folder containing it) as every tool's writable /work;
// airlock run mounts it read-only and says so, so a tool's write there is
// denied (headless) and the folder is unchanged.
func TestBroadWorkDir(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "home")
	proj := filepath.Join(home, "proj")
	tools := filepath.Join(base, "tools")
	for _, d := range []string{proj, tools} {
		os.MkdirAll(d, 0o755)
	}
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(base, "config"), "AIRLOCK_MANAGED_POLICY=", "AIRLOCK_CACHE_DIR=" + cacheDir}

	for _, dir := range []string{home, base, "/"} {
		r := runCLI(t, dir, "", env, "mcp", "--tools", tools)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "--policy") || !strings.Contains(r.stderr, `"cwd"`) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("mcp in %s: exit %d, want %d and one line naming --policy and the client's cwd: %s", dir, r.code, ExitUsage, r.stderr)
		}
	}
	// In a project folder, or with a policy, it serves (and ends with its
	// client's stdin).
	r := runCLI(t, proj, "", env, "mcp", "--tools", tools)
	if r.code != 0 {
		t.Errorf("mcp in a project: exit %d: %s", r.code, r.stderr)
	}
	pol := filepath.Join(base, "p.hcl")
	os.WriteFile(pol, []byte("mount \"/work\" {\n  host = \"home/proj\"\n}\n"), 0o644)
	if r := runCLI(t, home, "", env, "mcp", "--tools", tools, "--policy", pol); r.code != 0 {
		t.Errorf("mcp in the home folder with --policy: exit %d: %s", r.code, r.stderr)
	}

	// airlock run in the home folder: read-only, and it says so.
	r = runCLI(t, home, "", env, "run", "--headless", asker(t), "--", "write:/work/planted.txt:x")
	if _, err := os.Stat(filepath.Join(home, "planted.txt")); err == nil {
		t.Errorf("a tool wrote into the home folder: %s %s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "is your home folder: /work is read-only") || !strings.Contains(r.stdout, "write /work/planted.txt err") {
		t.Errorf("run in the home folder: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, home, "", env, "policy", "explain")
	if !strings.Contains(r.stdout, "/work is the host directory "+home+"; the tool may read there and change nothing") {
		t.Errorf("explain in the home folder:\n%s%s", r.stdout, r.stderr)
	}
	// In a project folder below it, the default is unchanged.
	r = runCLI(t, proj, "", env, "run", "--headless", asker(t), "--", "write:/work/made.txt:x")
	if !strings.Contains(r.stdout, "write /work/made.txt ok") || strings.Contains(r.stderr, "read-only") {
		t.Errorf("run in a project: %s %s", r.stdout, r.stderr)
	}
}

// TestManagedHideHoldsOnEveryEngine: every engine enforces the managed
// policy's patterns; --allow-unenforced, which once let wasmtime run
// without patterns, is accepted, says it changes nothing, and lifts
// nothing.
func TestManagedHideHoldsOnEveryEngine(t *testing.T) {
	root, managed, secret, env := ceilingProject(t)
	proj := filepath.Join(root, "proj")
	for _, engine := range runtime.Engines() {
		for _, flags := range [][]string{nil, {"--allow-unenforced"}} {
			args := append(append([]string{"run", "--engine", engine}, flags...), probeWasm, "--", "read", "/work/secrets/key.txt")
			r := runCLI(t, proj, "", env, args...)
			if r.code == 0 || strings.Contains(r.stdout+r.stderr, secret) || !strings.Contains(r.stderr, "(managed:"+managed) {
				t.Errorf("%s %v: exit %d: %s %s", engine, flags, r.code, r.stdout, r.stderr)
			}
			if (flags != nil) != strings.Contains(r.stderr, "--allow-unenforced is no longer needed and changes nothing") {
				t.Errorf("%s %v: the note about the flag: %s", engine, flags, r.stderr)
			}
		}
	}
}
