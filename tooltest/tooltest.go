// Package tooltest runs a tool under the real airlock runtime from a Go
// test, in a few lines: a throwaway workspace with the files you give,
// mounted at /work under the policy you give (the built-in default if none),
// and back come the exit status, the output, every decision the policy
// made, and the files as the tool left them.
//
//	func TestCountsLines(t *testing.T) {
//		res := tooltest.Run(t, ".", tooltest.Options{
//			Files: map[string]string{"a.txt": "one\ntwo\n"},
//			Args:  []string{"/work/a.txt"},
//		})
//		if res.ExitCode != 0 || res.Stdout != "/work/a.txt: 2 lines\n" {
//			t.Fatalf("%+v", res)
//		}
//	}
//
// The tool is a folder of Go source (built for wasip1, through Go's build
// cache), a .wasm file, or a folder with a tool manifest (tool.hcl) whose
// module is used. Nothing is mocked: the policy filesystem, the gate, the
// limits and airlock's network host functions are the ones `airlock run`
// uses. Compiled modules are cached in airlock's cache directory
// ($AIRLOCK_CACHE_DIR), so only the first run of a tool pays to compile it.
package tooltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Options describe one run.
type Options struct {
	// Files are written into the workspace before the run, by path
	// relative to it ("src/main.go"); folders are made as needed.
	Files map[string]string
	// Policy is an HCL policy. Relative mount hosts resolve against the
	// workspace, so `host = "."` is the workspace. Empty: the built-in
	// default (the workspace as /work, writable, default protect and hide
	// patterns, no network).
	Policy string
	// Args are the tool's arguments (argv[1:]).
	Args []string
	// Stdin is the tool's standard input.
	Stdin string
	// Env is the host environment the policy's env.pass reads; nothing
	// else of the test process's environment reaches the tool.
	Env map[string]string
	// Asker answers what the policy leaves to a person; nil denies.
	Asker decision.Asker
}

// Result is what the run did.
type Result struct {
	ExitCode int
	Reason   runtime.Reason // exited, timeout, trapped, memory-limit, …
	Stdout   string
	Stderr   string
	// Decisions are every decision the policy made during the run
	// (refusals, and what was asked).
	Decisions []decision.Decision
	// Files are the workspace's regular files after the run, by path
	// relative to it, with their contents.
	Files map[string]string
	// Workspace is the host folder mounted by the default policy.
	Workspace string
}

// Denied returns the decisions that refused something.
func (r *Result) Denied() []decision.Decision {
	var out []decision.Decision
	for _, d := range r.Decisions {
		if !d.Allowed {
			out = append(out, d)
		}
	}
	return out
}

// Run runs the tool in toolDir once, as described by opts, in a workspace
// that is removed when the test ends. Problems of the test's own making
// (a bad policy, a tool that does not build) fail the test at once.
func Run(t testing.TB, toolDir string, opts Options) *Result {
	t.Helper()
	ws := t.TempDir()
	res, err := run(context.Background(), toolDir, ws, opts)
	if err != nil {
		t.Fatalf("tooltest: %v", err)
	}
	return res
}

// Exec is Run for code without a *testing.T (examples, scripts): the
// workspace is a new temporary folder, res.Workspace, which the caller
// removes.
func Exec(ctx context.Context, toolDir string, opts Options) (*Result, error) {
	ws, err := os.MkdirTemp("", "tooltest-")
	if err != nil {
		return nil, err
	}
	res, err := run(ctx, toolDir, ws, opts)
	if err != nil {
		os.RemoveAll(ws)
		return nil, err
	}
	return res, nil
}

// engine is one Engine per test binary: every tool compiles once.
var engine = sync.OnceValues(func() (*runtime.Engine, error) {
	return runtime.New(context.Background(), runtime.Config{})
})

var (
	modMu   sync.Mutex
	modules = map[string]*runtime.Module{} // by tool path, built once per test binary
)

func run(ctx context.Context, toolDir, ws string, opts Options) (*Result, error) {
	e, err := engine()
	if err != nil {
		return nil, err
	}
	m, err := load(ctx, e, toolDir)
	if err != nil {
		return nil, err
	}
	for name, body := range opts.Files {
		p := filepath.Join(ws, filepath.FromSlash(name))
		if !strings.HasPrefix(p, ws+string(filepath.Separator)) {
			return nil, fmt.Errorf("file %q lies outside the workspace", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	p := policy.Default(ws)
	if opts.Policy != "" {
		var diags hcl.Diagnostics
		p, diags = policy.Parse([]byte(opts.Policy), "tooltest.hcl", policy.LayerProject, ws)
		if diags.HasErrors() {
			var b strings.Builder
			policy.WriteDiagnostics(&b, nil, diags)
			return nil, fmt.Errorf("the policy is invalid:\n%s", b.String())
		}
	}
	var stdout, stderr bytes.Buffer
	res, err := e.Run(ctx, runtime.Spec{
		Module: m, Args: opts.Args, Stdin: strings.NewReader(opts.Stdin),
		Stdout: &stdout, Stderr: &stderr, Policy: p, Asker: opts.Asker,
		LookupEnv: func(k string) (string, bool) { v, ok := opts.Env[k]; return v, ok },
		Interrupt: runtime.InterruptInstrument,
	})
	if err != nil {
		return nil, err
	}
	out := &Result{ExitCode: int(res.ExitCode), Reason: res.Reason, Stdout: stdout.String(), Stderr: stderr.String(),
		Decisions: res.Decisions, Files: map[string]string{}, Workspace: ws}
	err = filepath.WalkDir(ws, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ws, path)
		out.Files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out, err
}

// load returns the tool's module: Go source is built, a manifest names
// its module, a .wasm file is read.
func load(ctx context.Context, e *runtime.Engine, toolDir string) (*runtime.Module, error) {
	abs, err := filepath.Abs(toolDir)
	if err != nil {
		return nil, err
	}
	modMu.Lock()
	defer modMu.Unlock()
	if m, ok := modules[abs]; ok {
		return m, nil
	}
	path := abs
	if goFiles, _ := filepath.Glob(filepath.Join(abs, "*.go")); len(goFiles) == 0 {
		if mf := manifest.Find(abs); mf != "" {
			man, diags := manifest.Load(mf)
			if diags.HasErrors() {
				return nil, errors.New(diags.Error())
			}
			path = man.Module
		}
	}
	m, err := e.Load(ctx, path)
	if err != nil {
		return nil, err
	}
	modules[abs] = m
	return m, nil
}
