package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestInputSchemaShared: `airlock run --input` checks the input against
// the manifest's schema, with the same check as the MCP server: the same
// inputs are refused, with the same message naming the field, and the
// tool does not run.
func TestInputSchemaShared(t *testing.T) {
	dir, _ := project(t)
	grep := filepath.Join(repoRoot, "tools", "grep")
	srv := startMCP(t, dir, nil, airlockBin, "mcp", "--tools", filepath.Join(repoRoot, "tools"), "--headless")
	for _, c := range []struct {
		input string
		want  string
	}{
		{`{"paths":["/work"]}`, `field "pattern": required, missing`},
		{`{"pattern":42}`, `field "pattern": type: 42 has type "integer", want "string"`},
		{`{"pattern":"x","paths":[1]}`, `field "paths[]": type: 1 has type "integer", want "string"`},
		{`{"pattern":"x","max_count":-1}`, `field "max_count": minimum: `},
	} {
		// stdin would be read by grep without a pattern: give it something
		// that would show if it ran.
		r := runCLI(t, dir, "TODO from stdin\n", nil, "run", grep, "--input", c.input)
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "airlock: grep: invalid --input: "+c.want) || !strings.HasSuffix(r.stderr, "; the tool did not run\n") {
			t.Errorf("airlock run --input %s: exit %d\nstdout %q\nstderr %q\nwant %q", c.input, r.code, r.stdout, r.stderr, c.want)
		}
		var args map[string]any
		json.Unmarshal([]byte(c.input), &args)
		text, isErr := srv.callTool("grep", args)
		if !isErr || !strings.Contains(text, "grep: invalid arguments: "+c.want) || !strings.HasSuffix(text, "; the tool did not run") {
			t.Errorf("MCP tools/call %s: isError %v, %q\nwant %q", c.input, isErr, text, c.want)
		}
	}
	// Defaults apply the same way: paths defaults to ["."] (the current
	// directory, /work), not to stdin.
	r := runCLI(t, dir, "TODO from stdin\n", nil, "run", grep, "--input", `{"pattern":"TODO"}`)
	if r.code != 0 || !strings.Contains(r.stdout, "main.go:3:// TODO: write main") || strings.Contains(r.stdout, "from stdin") {
		t.Errorf("with defaults: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}
