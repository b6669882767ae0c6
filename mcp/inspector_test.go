package mcp_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inspector finds the MCP Inspector's CLI, installed by .ci/setup-mcp.sh
// into $HOME/.cache/airlock-test/inspector (or named by AIRLOCK_INSPECTOR).
// Without it the test is skipped, except under CI, where it fails.
func inspector(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("AIRLOCK_INSPECTOR")
	if bin == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(home, ".cache", "airlock-test", "inspector", "node_modules", ".bin", "mcp-inspector")
	}
	_, statErr := os.Stat(bin)
	_, nodeErr := exec.LookPath("node")
	if statErr == nil && nodeErr == nil {
		return bin
	}
	msg := fmt.Sprintf("the MCP Inspector CLI is not installed at %s (or node is not on PATH); run .ci/setup-mcp.sh", bin)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// inspect runs the Inspector's CLI mode with args and decodes the JSON it
// prints. A tool result with isError set makes the Inspector exit non-zero
// and say tool_is_error on stderr; that is accepted when toolError is set.
func inspect(t *testing.T, bin string, toolError bool, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := deadline(t, t.Context())
	defer cancel()
	// The Inspector gives a server 15 s to answer its initialize by
	// default; a loaded 2-core machine building and compiling a tool can
	// take longer, which is not what this test is about: give it until the
	// test's own deadline (80 s without one).
	wait := "80000"
	if end, ok := ctx.Deadline(); ok {
		wait = strconv.FormatInt(time.Until(end).Milliseconds(), 10)
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--cli", "--connect-timeout", wait}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "MCP_CATALOG_PATH="+filepath.Join(t.TempDir(), "mcp.json"))
	if err := cmd.Run(); err != nil && !(toolError && strings.Contains(stderr.String(), "tool_is_error")) {
		t.Fatalf("mcp-inspector %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("mcp-inspector printed no JSON (%v):\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return out
}

// resultText is the text of a tools/call result as the Inspector prints it.
func resultText(out map[string]any) (string, bool) {
	var parts []string
	content, _ := out["content"].([]any)
	for _, c := range content {
		if m, _ := c.(map[string]any); m["type"] == "text" {
			s, _ := m["text"].(string)
			parts = append(parts, s)
		}
	}
	isError, _ := out["isError"].(bool)
	return strings.Join(parts, "\n"), isError
}

func listedTools(out map[string]any) []string {
	var names []string
	tools, _ := out["tools"].([]any)
	for _, tl := range tools {
		m, _ := tl.(map[string]any)
		n, _ := m["name"].(string)
		names = append(names, n)
	}
	return names
}

// TestInspector drives airlock mcp with a client no one here wrote, the MCP
// Inspector's CLI mode: over stdio, it lists the tools and calls one that
// is allowed and one that is denied; over Streamable HTTP with a bearer
// token, the same.
func TestInspector(t *testing.T) {
	bin := inspector(t)
	t.Parallel()
	b := newBinEnv(t, grepTool(t), writeTool(t))
	airlock := airlockBinary(t)
	check := func(t *testing.T, target []string) {
		list := inspect(t, bin, false, append(target, "--method", "tools/list")...)
		if got := strings.Join(listedTools(list), ","); got != "grep,write" {
			t.Errorf("tools/list: %v", got)
		}
		allowed := inspect(t, bin, false, append(target, "--method", "tools/call", "--tool-name", "grep", "--tool-arg", "pattern=TODO")...)
		if text, isErr := resultText(allowed); isErr || !strings.Contains(text, "notes.txt:2:TODO: beta") {
			t.Errorf("grep: isError=%v %q", isErr, text)
		}
		denied := inspect(t, bin, true, append(target, "--method", "tools/call", "--tool-name", "write", "--tool-arg", "file=/work/.git/config")...)
		if text, isErr := resultText(denied); !isErr || !strings.Contains(text, "airlock: denied fs.write") {
			t.Errorf("write into .git: isError=%v %q", isErr, text)
		}
	}
	env := []string{"-e", "AIRLOCK_CACHE_DIR=" + compileCache()}

	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		check(t, append(env, "--cwd", b.work, airlock, "mcp", "--tools", b.tools, "--policy", b.policy, "--headless"))
	})

	t.Run("http", func(t *testing.T) {
		t.Parallel()
		token := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(token, []byte("t0ken-for-the-inspector\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := b.command(t, "--http", "127.0.0.1:0", "--token-file", token)
		cmd.Stderr = nil
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}()
		url := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			t.Log(line)
			if u, ok := strings.CutPrefix(line, "airlock: MCP endpoint "); ok {
				url = u
				break
			}
		}
		if url == "" {
			t.Fatal("airlock mcp --http did not say where it listens")
		}
		go func() { // keep reading, so the server never blocks on its log
			for sc.Scan() {
			}
		}()
		check(t, []string{"--transport", "http", "--server-url", url, "--header", "Authorization: Bearer t0ken-for-the-inspector"})
	})
}
