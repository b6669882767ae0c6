package mcp_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
)

// helloFolder makes a Go tool folder at dir that prints "hello from
// source", with a go.mod of its own.
func helloFolder(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from source\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A Go tool folder inside the writable /work is not served unless its
// manifest pins the module's digest: a tool could rewrite the folder and
// the server would build and serve the result, with nobody involved. The
// refusal comes before any build. Pinned, it is served, and a rewrite of
// the source is refused at the call, by the digest.
func TestMCPRefusesUnpinnedToolFolderInWritableMount(t *testing.T) {
	work := workDir(t)
	folder := filepath.Join(work, "tools", "hello")
	helloFolder(t, folder)
	// A go.mod that needs a module the machine lacks: had the server
	// tried to build the folder, its problem would say so instead.
	if err := os.WriteFile(filepath.Join(folder, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n\nrequire exfil.example/c2VjcmV0 v1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	var log strings.Builder
	e := newEnv(t, func(o *mcp.Options) {
		o.ToolsDir = tools
		o.Policy = policy.Default(work)
		o.Logger = slogTo(&log)
	})
	writeManifests(t, tools, manifest{name: "hello", module: folder})
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); len(got) != 0 {
		t.Fatalf("tools = %v, want none", got)
	}
	probs := e.srv.Problems()
	want := `tool "hello" not loaded: the tool folder ` + folder + ` is inside the writable mount /work (` + work + `)`
	if len(probs) != 1 || !strings.Contains(probs[0], want) || !strings.Contains(probs[0], "pin the module's digest") ||
		strings.Contains(probs[0], "not on this machine") {
		t.Fatalf("problems = %q\nwant one containing %q", probs, want)
	}

	// Pinned: built (offline), served, and it runs.
	helloFolder(t, folder)
	mod, err := engine.Load(t.Context(), folder)
	if err != nil {
		t.Fatal(err)
	}
	writeManifests(t, tools, manifest{name: "hello", module: folder, digest: mod.Digest})
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("tools = %v, problems %q", got, e.srv.Problems())
	}
	cs := e.connect(t, inMemory, nil)
	if res := call(t, cs, "hello", nil); res.IsError || !strings.Contains(texts(res), "hello from source") {
		t.Fatalf("call: %s", texts(res))
	}

	// A tool rewrites the source: the rebuilt module is refused.
	if err := os.WriteFile(filepath.Join(folder, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"rewritten by a tool\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second) // a new mtime, whatever the file system's resolution
	os.Chtimes(filepath.Join(folder, "main.go"), later, later)
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := call(t, cs, "hello", nil)
	if !res.IsError || strings.Contains(texts(res), "rewritten by a tool") || !strings.Contains(texts(res), "pins "+mod.Digest) {
		t.Fatalf("the rewritten tool: %s", texts(res))
	}
}

// A mount that a served tool may ask to write (requests.write) counts as
// writable: a person may grant it.
func TestMCPCountsRequestedWriteMounts(t *testing.T) {
	work := workDir(t)
	folder := filepath.Join(work, "hello")
	helloFolder(t, folder)
	tools := t.TempDir()
	pol := policy.Default(work)
	pol.Mounts[0].Access = policy.Read
	e := newEnv(t, func(o *mcp.Options) {
		o.ToolsDir = tools
		o.Policy = pol
	})
	writeManifests(t, tools, manifest{name: "hello", module: folder})
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("read-only mount: tools = %v, problems %q", got, e.srv.Problems())
	}
	writeManifests(t, tools, manifest{name: "writer", module: writeWasm, digest: digestOf(t, writeWasm),
		extra: "  requests {\n    write = [\"/work\"]\n  }\n"})
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); slices.Contains(got, "hello") {
		t.Fatalf("tools = %v: hello is served although writer may be granted /work", got)
	}
}

// A module file (.wasm) inside the writable /work is not served unless its
// manifest pins its digest: a served tool could overwrite it, and the next
// call would run the tool's bytes under another tool's name and grants.
// Pinned, it is served, and overwritten it is refused at the call.
func TestMCPRefusesUnpinnedModuleFileInWritableMount(t *testing.T) {
	work := workDir(t)
	b, err := os.ReadFile(grepWasm)
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(work, "tools", "grep.wasm")
	os.MkdirAll(filepath.Dir(mod), 0o755)
	if err := os.WriteFile(mod, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	e := newEnv(t, func(o *mcp.Options) {
		o.ToolsDir = tools
		o.Policy = policy.Default(work)
	})
	g := grepTool(t)
	g.module, g.digest = mod, ""
	writeManifests(t, tools, g)
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); len(got) != 0 {
		t.Fatalf("tools = %v, want none", got)
	}
	want := `the module ` + mod + ` is inside the writable mount /work (` + work + `)`
	if probs := e.srv.Problems(); len(probs) != 1 || !strings.Contains(probs[0], want) || !strings.Contains(probs[0], "pin the module's digest") {
		t.Fatalf("problems = %q\nwant one containing %q", probs, want)
	}

	// Pinned: served; overwritten by a tool: refused at the call.
	g.digest = digestOf(t, mod)
	writeManifests(t, tools, g)
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); !slices.Equal(got, []string{"grep"}) {
		t.Fatalf("tools = %v, problems %q", got, e.srv.Problems())
	}
	cs := e.connect(t, inMemory, nil)
	args := map[string]any{"pattern": "TODO", "paths": []string{"/work/notes.txt"}}
	if res := call(t, cs, "grep", args); res.IsError || !strings.Contains(texts(res), "TODO: beta") {
		t.Fatalf("call: %s", texts(res))
	}
	other, err := os.ReadFile(writeWasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mod, other, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(mod, later, later)
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := call(t, cs, "grep", args); !res.IsError || !strings.Contains(texts(res), "pins "+g.digest) {
		t.Fatalf("the overwritten module: %s", texts(res))
	}
}
