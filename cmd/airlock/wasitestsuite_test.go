package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

// wasiTestsuiteEnv names the folder of the official WASI test suite's
// built tests: the "tests" folder of github.com/WebAssembly/wasi-testsuite,
// branch prod/testsuite-base (docs/wasi.md says how to get it).
const wasiTestsuiteEnv = "AIRLOCK_WASI_TESTSUITE"

// wasiTestSpec is a test's JSON file, in the suite's legacy form (every
// preview 1 test uses it): what to run it with and what it must give.
type wasiTestSpec struct {
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	Root     string            `json:"root"`
	ExitCode int               `json:"exit_code"`
	Stdout   *string           `json:"stdout"`
	Stderr   *string           `json:"stderr"`
}

// TestWASITestsuite runs every WASI preview 1 test of the official suite
// through the real airlock run, as the suite's own runner does with
// wasmtime or wazero: on the built-in default policy, the test's root (a
// fresh copy) mounted at "/" with --mount, its environment with --env, its
// arguments after --. A test passes when its exit status, and its stdout
// where the test names one, are what its JSON file says. It runs on every
// engine of the binary (--engine): wazero, and wasmtime under
// `go test -tags wasmtime`.
//
// The suite is not part of this repository and CI cannot fetch it: the test
// is skipped unless $AIRLOCK_WASI_TESTSUITE names its tests folder.
func TestWASITestsuite(t *testing.T) {
	root := os.Getenv(wasiTestsuiteEnv)
	if root == "" {
		t.Skip("the WASI test suite is not here: set " + wasiTestsuiteEnv +
			" to the tests folder of github.com/WebAssembly/wasi-testsuite (branch prod/testsuite-base) to run it")
	}
	var modules []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".wasm") && filepath.Base(filepath.Dir(p)) == "wasm32-wasip1" {
			modules = append(modules, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) == 0 {
		t.Fatalf("no wasm32-wasip1 test module under %s", root)
	}
	sort.Strings(modules)
	for _, engine := range runtime.Engines() {
		t.Run(engine, func(t *testing.T) { runWASITestsuite(t, engine, modules) })
	}
}

// runWASITestsuite runs the suite's modules on one engine.
func runWASITestsuite(t *testing.T, engine string, modules []string) {
	passed := 0
	for _, module := range modules {
		suite := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(module)))) // c, rust, assemblyscript
		name := strings.TrimSuffix(filepath.Base(module), ".wasm")
		ok := t.Run(suite+"/"+name, func(t *testing.T) {
			var spec wasiTestSpec
			if b, err := os.ReadFile(strings.TrimSuffix(module, ".wasm") + ".json"); err == nil {
				if err := json.Unmarshal(b, &spec); err != nil {
					t.Fatalf("%s.json: %v", name, err)
				}
			} else if !os.IsNotExist(err) {
				t.Fatal(err)
			}
			cwd := t.TempDir() // the built-in default mounts it at /work
			args := []string{"run", "--engine", engine}
			if spec.Root != "" {
				guestRoot := filepath.Join(t.TempDir(), "root")
				if err := os.CopyFS(guestRoot, os.DirFS(filepath.Join(filepath.Dir(module), spec.Root))); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--mount", guestRoot+":/")
			}
			keys := make([]string, 0, len(spec.Env))
			for k := range spec.Env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				args = append(args, "--env", k+"="+spec.Env[k])
			}
			args = append(append(args, module, "--"), spec.Args...)
			r := runCLI(t, cwd, "", nil, args...)
			if r.code != spec.ExitCode {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, spec.ExitCode, r.stdout, r.stderr)
			}
			if spec.Stdout != nil && r.stdout != *spec.Stdout {
				t.Errorf("stdout %q, want %q", r.stdout, *spec.Stdout)
			}
			if spec.Stderr != nil && r.stderr != *spec.Stderr {
				t.Errorf("stderr %q, want %q", r.stderr, *spec.Stderr)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("WASI test suite (preview 1) on %s: %d/%d passed", engine, passed, len(modules))
}
