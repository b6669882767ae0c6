package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMCPFlags: airlock mcp refuses what it must not do, in one line, with
// the usage exit status. (The server itself is tested in the mcp package,
// through this binary too.)
func TestMCPFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp"}, "usage: airlock mcp --tools DIR"},
		{[]string{"mcp", "--tools", dir, "--http", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"mcp", "--tools", dir, "--http", ":0"}, "not a loopback address"},
		{[]string{"mcp", "--tools", dir, "--http", "0.0.0.0:0", "--allow-remote"}, "--allow-remote needs --token-file"},
		{[]string{"mcp", "--tools", dir, "--token-file", token}, "go with --http"},
		{[]string{"mcp", "--tools", dir, "--http", "127.0.0.1:0", "--token-file", empty}, "is empty"},
		{[]string{"mcp", "--tools", filepath.Join(dir, "missing")}, "loading tools"},
		{[]string{"mcp", "--tools", dir, "extra"}, `unexpected argument "extra"`},
	} {
		r := runCLI(t, dir, "", nil, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("airlock %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, ExitUsage, tc.want)
		}
	}
}
