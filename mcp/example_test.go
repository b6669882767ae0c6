package mcp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// ExampleNew serves the sample grep tool (its folder holds its manifest,
// tool.hcl, and its prebuilt module) and calls it as an MCP client would,
// here over an in-memory connection: the call runs in its own sandbox,
// under the policy, with /work mounted read-only.
func ExampleNew() {
	ctx := context.Background()
	project, err := os.MkdirTemp("", "airlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(project)
	if err := os.WriteFile(filepath.Join(project, "notes.txt"), []byte("alpha\nTODO: serve the example\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	pol, diags := policy.Parse([]byte(`mount "/work" {
  host   = "`+project+`"
  access = "read"
}`), "example.hcl", policy.LayerProject, ".")
	if diags.HasErrors() {
		log.Fatal(diags)
	}

	eng, err := runtime.New(ctx, runtime.Config{CacheDir: "-"})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(ctx)
	srv, err := mcp.New(ctx, mcp.Options{ToolsDir: "../tools/grep", Engine: eng, Policy: pol})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fmt.Println("tools:", srv.Tools())

	// A client: airlock mcp serves the same sdk.Server over stdio
	// (Server.ServeStdio) or Streamable HTTP (Server.Handler).
	clientEnd, serverEnd := sdk.NewInMemoryTransports()
	if _, err := srv.SDK().Connect(ctx, serverEnd, nil); err != nil {
		log.Fatal(err)
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "v1"}, nil)
	cs, err := client.Connect(ctx, clientEnd, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{
		Name:      "grep",
		Arguments: map[string]any{"pattern": "TODO", "paths": []string{"/work"}},
	})
	if err != nil {
		log.Fatal(err) // a protocol error; a failing tool sets res.IsError
	}
	for _, c := range res.Content {
		if text, ok := c.(*sdk.TextContent); ok {
			fmt.Print(text.Text)
		}
	}
	// Output:
	// tools: [grep]
	// /work/notes.txt:2:TODO: serve the example
}
