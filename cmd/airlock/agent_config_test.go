package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestAgentConfigSnippets takes the Codex and Claude Code snippets from
// docs/mcp.md, parses each as its client does (TOML, JSON), checks the
// keys the client reads, then starts the command line it gives, with no Go
// toolchain on PATH, from another directory, and checks that the sample
// tools are served for the project it names.
func TestAgentConfigSnippets(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "mcp.md"))
	if err != nil {
		t.Fatal(err)
	}
	snippets := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)<!-- snippet: ([a-z-]+) -->\n```[a-z]+\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		snippets[m[1]] = m[2]
	}
	for _, name := range []string{"codex", "codex-policy", "claude-code"} {
		t.Run(name, func(t *testing.T) {
			src, ok := snippets[name]
			if !ok {
				t.Fatalf("docs/mcp.md has no %q snippet", name)
			}
			var command string
			var args []string
			if strings.HasPrefix(name, "codex") {
				var cfg struct {
					MCPServers map[string]struct {
						Command string   `toml:"command"`
						Args    []string `toml:"args"`
					} `toml:"mcp_servers"`
				}
				md, err := toml.Decode(src, &cfg)
				if err != nil {
					t.Fatalf("not TOML: %v\n%s", err, src)
				}
				if un := md.Undecoded(); len(un) > 0 {
					t.Errorf("keys Codex would not read here: %v", un)
				}
				s, ok := cfg.MCPServers["airlock"]
				if !ok {
					t.Fatalf("no [mcp_servers.airlock]:\n%s", src)
				}
				command, args = s.Command, s.Args
			} else {
				var cfg struct {
					MCPServers map[string]struct {
						Type    string   `json:"type"`
						Command string   `json:"command"`
						Args    []string `json:"args"`
					} `json:"mcpServers"`
				}
				dec := json.NewDecoder(strings.NewReader(src))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&cfg); err != nil {
					t.Fatalf("not the JSON of .mcp.json: %v\n%s", err, src)
				}
				s, ok := cfg.MCPServers["airlock"]
				if !ok || s.Type != "stdio" {
					t.Fatalf("no stdio server airlock in mcpServers:\n%s", src)
				}
				command, args = s.Command, s.Args
			}
			if command != "airlock" || len(args) == 0 || args[0] != "mcp" || !slices.Contains(args, "--tools") {
				t.Fatalf("command %q args %q: want airlock mcp … --tools …", command, args)
			}
			if !slices.Contains(args, "--dir") && !slices.Contains(args, "--policy") {
				t.Errorf("args %q set neither the working directory (--dir) nor --policy", args)
			}

			// The project the snippet names, with a file to find and, for
			// the policy variant, the policy it names.
			proj, _ := project(t)
			if slices.Contains(args, "--policy") {
				os.MkdirAll(filepath.Join(proj, ".airlock"), 0o755)
				os.WriteFile(filepath.Join(proj, ".airlock", "agent.hcl"), []byte("mount \"/work\" {\n  host   = \".\"\n  access = \"read\"\n}\n"), 0o644)
			}
			for i, a := range args {
				a = strings.ReplaceAll(a, "/path/to/airlock/tools", filepath.Join(repoRoot, "tools"))
				args[i] = strings.ReplaceAll(a, "/path/to/project", proj)
			}
			elsewhere := t.TempDir() // agents start servers in a directory of their own
			noGo := []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
			c := startMCP(t, elsewhere, noGo, airlockBin, args...)

			var list struct {
				Tools []struct {
					Name        string          `json:"name"`
					Annotations json.RawMessage `json:"annotations"`
				} `json:"tools"`
			}
			json.Unmarshal(c.request("tools/list", map[string]any{}), &list)
			var names []string
			for _, tl := range list.Tools {
				names = append(names, tl.Name)
				if tl.Name == "fetch" && !strings.Contains(string(tl.Annotations), `"openWorldHint":true`) {
					t.Errorf("fetch's annotations: %s", tl.Annotations)
				}
				if tl.Name == "grep" && !strings.Contains(string(tl.Annotations), `"readOnlyHint":true`) {
					t.Errorf("grep's annotations: %s", tl.Annotations)
				}
			}
			if got := strings.Join(names, " "); got != "cat fetch grep ls patch urlcheck wc write" {
				t.Errorf("tools %q", got)
			}
			// Every tool runs without Go: grep finds the project's TODO, ls
			// lists it.
			text, isErr := c.callTool("grep", map[string]any{"pattern": "TODO", "paths": []string{"/work"}})
			if isErr || !strings.Contains(text, "/work/main.go:3:// TODO: write main") {
				t.Errorf("grep: isError %v: %s", isErr, text)
			}
			for _, tool := range []string{"cat", "ls", "wc"} {
				args := map[string]any{"files": []string{"/work/main.go"}}
				if tool == "ls" {
					args = map[string]any{"paths": []string{"/work"}}
				}
				if text, isErr := c.callTool(tool, args); isErr {
					t.Errorf("%s: %s", tool, text)
				}
			}
		})
	}
}
