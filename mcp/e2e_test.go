package mcp_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/mcp"
)

// runMeta reads what airlock reports of the run from a result's _meta; nil
// when the tool did not run.
func runMeta(t testing.TB, r *sdk.CallToolResult) *mcp.RunMeta {
	t.Helper()
	v, ok := r.Meta[mcp.MetaKey]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(v)
	var m mcp.RunMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding %s: %v", mcp.MetaKey, err)
	}
	return &m
}

// TestEndToEnd lists the tools and calls them with the SDK's own client,
// over each transport.
func TestEndToEnd(t *testing.T) {
	for _, kind := range []string{inMemory, overHTTP} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, grepTool(t), writeTool(t),
				guestTool(t, "json", "json", "{word}"), manifest{name: "echo", module: guestWasm, digest: digestOf(t, guestWasm),
					argv: []string{"echo"}, input: "stdin", output: "json"})
			cs := e.connect(t, kind, nil)

			t.Run("list", func(t *testing.T) {
				res, err := cs.ListTools(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tl := range res.Tools {
					names = append(names, tl.Name)
				}
				slices.Sort(names)
				if want := []string{"echo", "grep", "json", "write"}; !slices.Equal(names, want) {
					t.Fatalf("tools = %v, want %v", names, want)
				}
				for _, tl := range res.Tools {
					if tl.Name != "grep" {
						continue
					}
					schema, _ := json.Marshal(tl.InputSchema)
					if !strings.Contains(string(schema), `"pattern"`) || !strings.Contains(string(schema), `"required":["pattern"]`) {
						t.Errorf("grep's input schema = %s, want the manifest's", schema)
					}
				}
			})

			t.Run("allowed", func(t *testing.T) {
				res := call(t, cs, "grep", map[string]any{"pattern": "TODO"})
				if res.IsError {
					t.Fatalf("grep failed: %s", texts(res))
				}
				if got := texts(res); !strings.Contains(got, "notes.txt:2:TODO: beta") {
					t.Errorf("grep output = %q, want the matching line", got)
				}
				if m := runMeta(t, res); m == nil || m.Reason != "exited" || m.ExitCode != 0 {
					t.Errorf("run meta = %+v, want exited 0", m)
				}
			})

			t.Run("denied", func(t *testing.T) {
				res := call(t, cs, "write", map[string]any{"file": "/work/.git/config", "text": "[core]"})
				if !res.IsError {
					t.Fatalf("writing into .git succeeded: %s", texts(res))
				}
				got := texts(res)
				if !strings.Contains(got, "airlock: denied fs.write") || !strings.Contains(got, ".git") {
					t.Errorf("result = %q, want the denial named", got)
				}
				m := runMeta(t, res)
				if m == nil {
					t.Fatal("no run meta")
				}
				denied := false
				for _, d := range m.Decisions {
					if !d.Allowed && d.Kind == decision.FSWrite && strings.Contains(d.Target, ".git") {
						denied = true
					}
				}
				if !denied {
					t.Errorf("decisions = %+v, want a denied fs.write into .git", m.Decisions)
				}
				if _, err := os.Stat(filepath.Join(e.work, ".git", "config")); !os.IsNotExist(err) {
					t.Errorf(".git/config exists after a denied write (err %v)", err)
				}
			})

			t.Run("argv", func(t *testing.T) {
				res := call(t, cs, "json", map[string]any{"word": "hello world"})
				if res.IsError {
					t.Fatalf("json failed: %s", texts(res))
				}
				if got, want := strings.TrimSpace(texts(res)), `{"ok":true,"args":["hello world"]}`; got != want {
					t.Errorf("output = %q, want %q", got, want)
				}
			})

			t.Run("stdin and structured output", func(t *testing.T) {
				res := call(t, cs, "echo", map[string]any{"n": 7, "s": "x"})
				if res.IsError {
					t.Fatalf("echo failed: %s", texts(res))
				}
				got, _ := json.Marshal(res.StructuredContent)
				if string(got) != `{"n":7,"s":"x"}` {
					t.Errorf("structured content = %s, want the input back", got)
				}
			})

			t.Run("schema failure", func(t *testing.T) {
				res := call(t, cs, "grep", map[string]any{"paths": []any{"/work"}})
				if !res.IsError {
					t.Fatalf("a call without the required pattern ran: %s", texts(res))
				}
				if got := texts(res); !strings.Contains(got, "pattern") {
					t.Errorf("result = %q, want the missing field named", got)
				}
				if runMeta(t, res) != nil {
					t.Error("the tool ran despite invalid arguments")
				}
				res = call(t, cs, "grep", map[string]any{"pattern": 42})
				if !res.IsError || !strings.Contains(texts(res), `field "pattern"`) {
					t.Errorf("pattern = 42: result %q, want a tool error naming pattern", texts(res))
				}
			})

			t.Run("unknown tool", func(t *testing.T) {
				_, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "nope"})
				if err == nil {
					t.Fatal("calling an unknown tool succeeded")
				}
			})
		})
	}
}
