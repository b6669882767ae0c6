package mcp_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
)

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// badManifest names an output format that does not exist, on line 3.
const badManifest = "tool \"broken\" {\n  module = \"nowhere.wasm\"\n  output = \"yaml\"\n}\n"

var fileLineCol = regexp.MustCompile(`bad\.tool\.hcl:3:12: error: Invalid output`)

// TestMalformedManifest: a malformed manifest is reported as file:line:col
// while the others load.
func TestMalformedManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.tool.hcl"), []byte(badManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	e := newEnv(t, func(o *mcp.Options) {
		o.ToolsDir = dir
		o.Logger = slogTo(&log)
	})
	writeManifests(t, dir, grepTool(t))
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); !slices.Equal(got, []string{"grep"}) {
		t.Errorf("tools = %v, want grep alone", got)
	}
	problems := e.srv.Problems()
	if len(problems) != 1 || !fileLineCol.MatchString(problems[0]) {
		t.Errorf("problems = %q, want one at bad.tool.hcl:line:col", problems)
	}
	if !fileLineCol.MatchString(log.String()) {
		t.Errorf("the log does not report bad.tool.hcl:line:col:\n%s", log.String())
	}
	// A module that cannot be loaded is reported at its manifest too.
	missing := guestTool(t, "missing")
	missing.module, missing.digest = filepath.Join(dir, "missing.wasm"), ""
	writeManifests(t, dir, missing)
	if err := e.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Tools(); !slices.Equal(got, []string{"grep"}) {
		t.Errorf("tools = %v: a tool whose module cannot be loaded is still listed", got)
	}
	if got := e.srv.Problems(); len(got) != 2 || !fileLineCol.MatchString(got[0]) || !strings.Contains(strings.Join(got, "\n"), "missing.tool.hcl:1:1: tool \"missing\" not loaded") {
		t.Errorf("problems = %q, want the missing module reported at its manifest", got)
	}
}

// TestWatch: the tool list follows the folder, and connected clients are
// told (notifications/tools/list_changed), on each protocol and transport.
func TestWatch(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		legacy bool
	}{{inMemory, false}, {overHTTP, false}, {overHTTP, true}, {inMemory, true}} {
		name := tc.kind + "/2026-07-28"
		if tc.legacy {
			name = tc.kind + "/2025-11-25"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *mcp.Options) {
				o.PollInterval = 50 * time.Millisecond
				if tc.legacy {
					legacy(o)
				}
			}, grepTool(t))
			ctx, stop := context.WithCancel(t.Context())
			defer stop()
			go e.srv.Watch(ctx)

			changed := make(chan struct{}, 10)
			logs := make(chan string, 10)
			cs := e.connect(t, tc.kind, &sdk.ClientOptions{
				ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
				//lint:ignore SA1019 logging is tested on the protocol before 2026-07-28
				LoggingMessageHandler: func(_ context.Context, r *sdk.LoggingMessageRequest) {
					s, _ := r.Params.Data.(string)
					logs <- s
				},
			})
			if tc.legacy {
				//lint:ignore SA1019 logging is tested on the protocol before 2026-07-28
				if err := cs.SetLoggingLevel(t.Context(), &sdk.SetLoggingLevelParams{Level: "warning"}); err != nil {
					t.Fatal(err)
				}
			}
			wait := func(what string) {
				t.Helper()
				select {
				case <-changed:
				case <-expiry(t):
					t.Fatalf("no list_changed after %s", what)
				}
			}

			writeManifests(t, e.tools, guestTool(t, "json", "json"))
			writeWhole(t, filepath.Join(e.tools, "bad.tool.hcl"), badManifest)
			wait("adding a tool")
			waitFor(t, "json to be listed", func() bool { return slices.Contains(e.srv.Tools(), "json") })
			if got := toolNames(t, cs); !slices.Equal(got, []string{"grep", "json"}) {
				t.Errorf("tools after adding = %v", got)
			}
			if tc.legacy {
				select {
				case msg := <-logs:
					if !fileLineCol.MatchString(msg) {
						t.Errorf("log notification %q, want bad.tool.hcl:line:col", msg)
					}
				case <-expiry(t):
					t.Error("no log notification of the malformed manifest")
				}
			}

			if !tc.legacy {
				select {
				case msg := <-logs:
					t.Errorf("log notification %q on protocol 2026-07-28, which deprecates logging", msg)
				default:
				}
			}

			if err := os.Remove(filepath.Join(e.tools, "grep.tool.hcl")); err != nil {
				t.Fatal(err)
			}
			wait("removing a tool")
			waitFor(t, "grep to go", func() bool { return !slices.Contains(e.srv.Tools(), "grep") })
			if got := toolNames(t, cs); !slices.Equal(got, []string{"json"}) {
				t.Errorf("tools after removing = %v", got)
			}
		})
	}
}
