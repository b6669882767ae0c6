package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/approvals"
)

// The attacks of these tests were reproduced against airlock before its
// own state was kept out of reach: a tool with a writable mount of the
// home folder wrote itself an "always allow" and its next headless run
// wrote into a read-only mount; a tool rewrote the policy airlock reads
// next time; a tool rewrote a compiled module that airlock maps and runs.

// fsguest is internal/host/testdata/fsguest: one filesystem action per
// argument ("rename:A:B", "read:P", …), one line of result each.
var fsguest = guestOnce(filepath.Join("..", "..", "internal", "host", "testdata", "fsguest"), "fsguest")

func digestOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// grantText is an "always allow" for a write to the read-only mount's
// path, for the module with digest: what the tool would write.
func grantText(target, digest string) string {
	return `grant "` + approvals.GrantID("fs.write", target, digest) + `" {
  answer = "allow"
  kind   = "fs.write"
  target = "` + target + `"
  digest = "` + digest + `"
}
`
}

// homeProject makes a home folder with a project inside (a read-only
// mount at /ro, approvals never asked) and returns them with an
// environment whose configuration folder is inside that home.
func homeProject(t *testing.T) (home, proj string, env []string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	proj = filepath.Join(home, "proj")
	for _, d := range []string{filepath.Join(proj, "ro"), filepath.Join(home, ".config", "airlock")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pol := strings.Replace(roPolicy, "%s", "never", 1)
	pol = strings.Replace(pol, "%s", "60s", 1)
	if err := os.WriteFile(filepath.Join(proj, "policy.hcl"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	return home, proj, []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "AIRLOCK_MANAGED_POLICY="}
}

// TestRunToolCannotGrantItself: with the home folder mounted writable, a
// tool writes the very grant that would let its next headless run write
// into the read-only mount. The write is refused by the state rule, the
// grants files stay as they were, and the next headless run is denied.
// The same grant written by the host is honoured: the attack is real.
func TestRunToolCannotGrantItself(t *testing.T) {
	wasm := asker(t)
	home, proj, env := homeProject(t)
	userGrants := filepath.Join(home, ".config", "airlock", "grants.hcl")
	projGrants := filepath.Join(proj, ".airlock", "grants.hcl")
	grant := grantText("/ro/x", digestOf(t, wasm))
	headless := []string{"run", "--headless", "--policy", "policy.hcl", wasm, "--", "write:/ro/x:1"}

	// The fixture: a grant in the user's file lets the headless write through.
	if err := os.WriteFile(userGrants, []byte(grant), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, proj, "", env, headless...); !strings.Contains(r.stdout, "write /ro/x ok") {
		t.Fatalf("a grant written by the host was not honoured (exit %d): %s%s", r.code, r.stdout, r.stderr)
	}
	os.Remove(userGrants)
	os.Remove(filepath.Join(proj, "ro", "x"))

	// The attack: the tool writes that grant, through a writable mount of
	// the home folder, into both grants files.
	r := runCLI(t, proj, "", env, "run", "--headless", "--policy", "policy.hcl", "--mount", home+":/home", wasm, "--",
		"write:/home/.config/airlock/grants.hcl:"+grant,
		"write:/home/proj/.airlock/grants.hcl:"+grant,
		"write:/home/proj/.airlock/.grants-1.hcl:"+grant)
	if n := strings.Count(r.stdout, " err "); n != 3 {
		t.Errorf("%d of 3 writes to the grants were refused: %s", n, r.stdout)
	}
	for _, want := range []string{"airlock state: user grants", "airlock state: project grants", "airlock state: project .airlock folder"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no denial by %q: %s", want, r.stderr)
		}
	}
	for _, f := range []string{userGrants, projGrants, filepath.Join(proj, ".airlock", ".grants-1.hcl")} {
		if _, err := os.Stat(f); err == nil {
			b, _ := os.ReadFile(f)
			t.Errorf("%s exists after the tool's run: %q", f, b)
		}
	}
	// The denials are in the audit log, with their rule.
	recs := readAudit(t, filepath.Join(proj, ".airlock", "audit.jsonl"))
	found := false
	for _, rec := range recs {
		if rec.Rule == "airlock state: user grants" && rec.Decision == "deny" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit record of the refused grant write: %+v", recs)
	}

	// Its next headless run is denied.
	r = runCLI(t, proj, "", env, headless...)
	if !strings.Contains(r.stdout, "write /ro/x err") {
		t.Errorf("the headless run after the attack wrote into the read-only mount: %s%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(proj, "ro", "x")); err == nil {
		t.Error("/ro/x was written")
	}
}

// TestRunToolCannotRewriteItsPolicy: the policy's own folder is the
// tool's writable mount (--policy conf/policy.hcl, host = "."), with the
// built-in protect list turned off. Every way to change the policy fails;
// its bytes are what they were. The audit log and the project's .airlock
// folder hold the same.
func TestRunToolCannotRewriteItsPolicy(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			wasm := fsguest(t)
			dir, _ := project(t)
			conf := filepath.Join(dir, "conf")
			os.MkdirAll(conf, 0o755)
			const pol = `mount "/work" {
  host             = "."
  access           = "write"
  protect_defaults = false
}

approvals {
  mode  = "never"
  audit = "audit.jsonl"
}
`
			policyFile := filepath.Join(conf, "policy.hcl")
			if err := os.WriteFile(policyFile, []byte(pol), 0o644); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(conf, "note.txt"), []byte("the tool's own"), 0o644)
			env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "AIRLOCK_MANAGED_POLICY="}
			actions := []struct{ action, want string }{
				{"write:/work/policy.hcl:mount {}", "write err EACCES"},
				{"append:/work/policy.hcl:mount {}", "append err EACCES"},
				{"truncate:/work/policy.hcl:0", "truncate err EACCES"},
				{"rename:/work/note.txt:/work/policy.hcl", "rename err EACCES"},
				{"rename:/work/policy.hcl:/work/old.hcl", "rename err EACCES"},
				{"remove:/work/policy.hcl", "remove err EACCES"},
				{"link:/work/policy.hcl:/work/twin.hcl", "link err EACCES"},
				{"chtimes:/work/policy.hcl", "chtimes err EACCES"},
				{"read:/work/policy.hcl", "read ok"},
				{"append:/work/audit.jsonl:{}", "append err EACCES"},
				{"truncate:/work/audit.jsonl:0", "truncate err EACCES"},
				{"rename:/work/note.txt:/work/audit.jsonl", "rename err EACCES"},
				{"write:/work/note.txt:still mine", "write ok"},
			}
			args := []string{"run", "--engine", engine, "--policy", policyFile, wasm, "--"}
			for _, a := range actions {
				args = append(args, a.action)
			}
			r := runCLI(t, conf, "", env, args...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != len(actions) {
				t.Fatalf("%d lines for %d actions: %s%s", len(lines), len(actions), r.stdout, r.stderr)
			}
			for i, a := range actions {
				if !strings.HasPrefix(lines[i], a.want) {
					t.Errorf("%s: got %q, want %q…", a.action, lines[i], a.want)
				}
			}
			if b, _ := os.ReadFile(policyFile); string(b) != pol {
				t.Errorf("the policy changed: %q", b)
			}
			for _, want := range []string{"airlock state: policy", "airlock state: audit log"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("no denial by %q: %s", want, r.stderr)
				}
			}
			recs := readAudit(t, filepath.Join(conf, "audit.jsonl"))
			if len(recs) < 10 {
				t.Errorf("the audit log holds %d records, want every denial", len(recs))
			}
		})
	}
}

// TestRunToolCannotTouchTheCompileCache: a writable mount that contains
// the compile cache (a mounted home, ~/.cache/airlock) can neither read
// nor change it; a mount of the cache itself does not start.
func TestRunToolCannotTouchTheCompileCache(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			wasm := fsguest(t)
			home, proj, env := homeProject(t)
			cache := filepath.Join(home, ".cache", "airlock")
			env = append(env, "AIRLOCK_CACHE_DIR="+cache)
			// A first run fills the cache.
			if r := runCLI(t, proj, "", env, "run", "--engine", engine, "--policy", "policy.hcl", wasm, "--", "stat:/work"); r.code != 0 {
				t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
			}
			entries, _ := filepath.Glob(filepath.Join(cache, "compiled", "sealed", "*", "*"))
			if len(entries) != 1 {
				t.Fatalf("sealed entries after the first run: %v", entries)
			}
			rel, _ := filepath.Rel(cache, entries[0])
			entry := "/home/.cache/airlock/" + filepath.ToSlash(rel)
			before := map[string][]byte{}
			for _, f := range []string{entries[0], filepath.Join(cache, "seal.key")} {
				before[f], _ = os.ReadFile(f)
			}
			r := runCLI(t, proj, "", env, "run", "--engine", engine, "--policy", "policy.hcl", "--mount", home+":/home", wasm, "--",
				"read:/home/.cache/airlock/seal.key",
				"read:"+entry,
				"readdir:"+filepath.Dir(entry),
				"write:"+entry+":crafted",
				"truncate:"+entry+":10",
				"rename:/home/proj/policy.hcl:"+entry,
				"remove:"+entry,
				"rename:/home/.cache:/home/cache-away",
				"write:"+filepath.Dir(entry)+"/"+strings.Repeat("0", 64)+":crafted",
				"symlink:/home/proj:/home/.cache/airlock/build/x",
			)
			if n := strings.Count(r.stdout, " err EACCES"); n != 10 {
				t.Errorf("%d of 10 actions on the cache were refused: %s", n, r.stdout)
			}
			for f, b := range before {
				if now, _ := os.ReadFile(f); string(now) != string(b) {
					t.Errorf("%s changed", f)
				}
			}
			if _, err := os.Stat(filepath.Join(home, "cache-away")); err == nil {
				t.Error("the cache was moved")
			}
			if !strings.Contains(r.stderr, "airlock state: compile cache") {
				t.Errorf("no denial by the compile cache rule: %s", r.stderr)
			}
			// Mounting the cache itself is refused before the tool starts.
			r = runCLI(t, proj, "", env, "run", "--engine", engine, "--policy", "policy.hcl", "--mount", cache+":/c:ro", wasm, "--", "readdir:/c")
			if r.code != ExitUsage || !strings.Contains(r.stderr, "compile cache") || r.stdout != "" {
				t.Errorf("mount of the cache: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestRunCompileCacheHealsItself: bytes of the cached native code changed
// from the host make the next run discard it, say so in one line, compile
// again and run; the run after that says nothing. A truncated entry and
// one sealed in another format heal the same way.
func TestRunCompileCacheHealsItself(t *testing.T) {
	cache := t.TempDir()
	dir, _ := project(t)
	env := []string{"AIRLOCK_CACHE_DIR=" + cache}
	run := func() cliResult {
		return runCLI(t, dir, "", env, "run", probeWasm, "--", "args", "healed")
	}
	if r := run(); r.code != 0 || r.stdout != "healed\n" {
		t.Fatalf("first run: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "compiled", "sealed", "*", "*"))
	if len(entries) != 1 {
		t.Fatalf("sealed entries: %v", entries)
	}
	for _, damage := range []struct {
		name string
		do   func([]byte) []byte
	}{
		{"bytes flipped", func(b []byte) []byte {
			for i := len(b) / 3; i < len(b)/3+8; i++ {
				b[i] ^= 0xa5
			}
			return b
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"another format", func(b []byte) []byte { b[20] = 99; return b }},
	} {
		b, err := os.ReadFile(entries[0])
		if err != nil {
			t.Fatalf("%s: %v", damage.name, err)
		}
		if err := os.WriteFile(entries[0], damage.do(b), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run()
		if r.code != 0 || r.stdout != "healed\n" {
			t.Errorf("%s: the run after the damage: exit %d %q %s", damage.name, r.code, r.stdout, r.stderr)
		}
		if n := strings.Count(r.stderr, "airlock: compile cache: discarded the compiled copy of probe"); n != 1 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: want exactly one line about the discarded entry, got: %q", damage.name, r.stderr)
		}
		if r := run(); r.code != 0 || r.stderr != "" {
			t.Errorf("%s: the run after healing: exit %d, stderr %q", damage.name, r.code, r.stderr)
		}
	}
}
