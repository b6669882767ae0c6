package policy_test

import (
	"fmt"
	"os"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// A policy with mistakes: every one is reported, each with file:line:col,
// in the one-line shape `airlock policy check` prints.
func ExampleParse() {
	src := `
mount "/work" {
  host   = "."
  acess  = "write"
  hide   = ["/secrets"]
}

limits {
  timeout = "30"
}
`
	_, diags := policy.Parse([]byte(src), "policy.hcl", policy.LayerProject, os.TempDir())
	policy.WriteDiagnostics(os.Stdout, nil, diags)
	// Output:
	// policy.hcl:4:3: error: Unsupported argument; An argument named "acess" is not expected in a mount block. Did you mean "access"?
	// policy.hcl:5:13: error: Invalid pattern; Pattern "/secrets" starts with "/": patterns are relative to the mount root, so write "secrets" (a name at any depth) or "./secrets" (only at the mount root).
	// policy.hcl:9:13: error: Invalid timeout; "30" is not a duration: write a number with a unit, like "30s", "2m" or "1h30m".
}

// The default policy with a few one-off flags, in plain words.
func ExampleExplain() {
	p := policy.Default("/home/me/proj")
	p, diags := p.With(policy.Overrides{
		Protect: []string{"/work/dist"},
		Hide:    []string{"*.key"},
		Env:     []string{"LANG", "CI=1"},
		Timeout: 30 * time.Second,
	}, "/home/me/proj")
	if diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	policy.Explain(os.Stdout, p)
	// Output:
	// /work is the host directory /home/me/proj; the tool may read and write there (built-in).
	// In /work, these stay read-only (built-in): .git, .airlock, .envrc, .bashrc, .bash_profile, .zshrc, .zprofile, .profile, .gitconfig.
	// In /work, these stay read-only (flag): ./dist.
	// In /work, these cannot be read or listed (built-in): .env, .env.*, *.pem, .netrc, id_rsa, id_ecdsa, id_ed25519.
	// In /work, these cannot be read or listed (flag): *.key.
	// No other host path exists for the tool.
	// Environment: passed in from the host (flag): LANG.
	// Environment: CI is set to "1" (flag).
	// Limits: memory 256 MiB (built-in), wall time 30s (flag), output 16 MiB per stream (built-in), open files 256 (built-in).
	// Network: none.
}

// A pattern without "/" matches a name at any depth; with "/" it is anchored
// at the mount root. A path matches when it or any ancestor does.
func ExamplePattern_Match() {
	git, _ := policy.NewPattern(".git", policy.Origin{})
	out, _ := policy.NewPattern("build/out", policy.Origin{})
	for _, rel := range []string{".git/config", "vendor/x/.git/HEAD", "build/out/a.o", "src/build/out"} {
		fmt.Println(rel, git.Match(rel), out.Match(rel))
	}
	// Output:
	// .git/config true false
	// vendor/x/.git/HEAD true false
	// build/out/a.o false true
	// src/build/out false false
}
