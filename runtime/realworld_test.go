package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// realworldEnv names a folder of WebAssembly programs built elsewhere
// (docs/wasi.md, "Real-world modules", says how to fill it). They are not
// part of this repository; without the variable the test is skipped.
const realworldEnv = "AIRLOCK_REALWORLD_DIR"

// addWasm is (module (func (export "add") (param i32 i32) (result i32)
// local.get 0 local.get 1 i32.add)), the input of the wabt tools.
var addWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 7, 1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f,
	3, 2, 1, 0,
	7, 7, 1, 3, 'a', 'd', 'd', 0, 0,
	10, 9, 1, 7, 0, 0x20, 0, 0x20, 1, 0x6a, 0x0b}

// answerWasm is (module (func (export "answer") (result i32) i32.const 42)).
var answerWasm = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 5, 1, 0x60, 0, 1, 0x7f,
	3, 2, 1, 0,
	7, 10, 1, 6, 'a', 'n', 's', 'w', 'e', 'r', 0, 0,
	10, 6, 1, 4, 0, 0x41, 42, 0x0b}

const addWAT = "(module\n  (func (export \"add\") (param i32 i32) (result i32)\n    local.get 0\n    local.get 1\n    i32.add))\n"

const counterV = `module counter(input clk, input rst, output reg [3:0] q);
  always @(posedge clk)
    if (rst) q <= 0; else q <= q + 1;
endmodule
`

// realworldCase is one run of a program built elsewhere: its module (a
// path under $AIRLOCK_REALWORLD_DIR), its arguments and input, and the
// files of its folder, which is mounted at "/" (as the wasilibs runners
// and the WASI test suite do) and is the working directory.
type realworldCase struct {
	name   string
	module string
	args   []string
	stdin  string
	files  map[string][]byte
	// want is in what the run printed or wrote under stock wazero: the
	// program really did its work there (a failure both sides share would
	// prove nothing).
	want string
}

var realworldCases = []realworldCase{
	{"wat2wasm", "wabt/wat2wasm.wasm", []string{"add.wat", "-o", "add.wasm"}, "", map[string][]byte{"add.wat": []byte(addWAT)}, "add.wasm: \x00asm"},
	{"wasm2wat", "wabt/wasm2wat.wasm", []string{"add.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, "(export \"add\" (func 0))"},
	{"wasm-objdump", "wabt/wasm-objdump.wasm", []string{"-x", "-d", "add.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, "i32.add"},
	{"wasm-validate", "wabt/wasm-validate.wasm", []string{"add.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, ""},
	{"wasm-validate (invalid)", "wabt/wasm-validate.wasm", []string{"bad.wasm"}, "", map[string][]byte{"bad.wasm": []byte("\x00asm\x01\x00\x00\x00\x01\xff")}, "error"},
	{"wasm-stats", "wabt/wasm-stats.wasm", []string{"add.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, "Total opcodes"},
	{"wasm-decompile", "wabt/wasm-decompile.wasm", []string{"add.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, "export function add(a:int, b:int):int"},
	{"wasm-interp", "wabt/wasm-interp.wasm", []string{"answer.wasm", "--run-all-exports"}, "", map[string][]byte{"answer.wasm": answerWasm}, "answer() => i32:42"},
	{"wasm-strip", "wabt/wasm-strip.wasm", []string{"add.wasm", "-o", "stripped.wasm"}, "", map[string][]byte{"add.wasm": addWasm}, "stripped.wasm: \x00asm"},
	{"wasm2c", "wabt/wasm2c.wasm", []string{"add.wasm", "-o", "add.c"}, "", map[string][]byte{"add.wasm": addWasm}, "add.c: "},
	{"wat-desugar", "wabt/wat-desugar.wasm", []string{"add.wat"}, "", map[string][]byte{"add.wat": []byte(addWAT)}, "i32.add"},
	{"wast2json", "wabt/wast2json.wasm", []string{"add.wast", "-o", "add.json"}, "", map[string][]byte{"add.wast": []byte(addWAT + "(assert_return (invoke \"add\" (i32.const 1) (i32.const 2)) (i32.const 3))\n")}, "assert_return"},
	{"sql-formatter", "sql-formatter-cli.wasm", []string{"--language", "postgresql", "q.sql"}, "", map[string][]byte{"q.sql": []byte("select a, b from t where x = 1 and y in (select z from u) order by a;\n")}, "select\n  a,\n  b\nfrom"},
	{"sql-formatter (stdin to a file)", "sql-formatter-cli.wasm", []string{"-o", "out.sql"}, "SELECT * FROM t JOIN u ON t.id = u.id;", nil, "out.sql: SELECT"},
	{"jq", "jq.wasm", []string{".a[1]"}, `{"a": [1, 2, 3]}`, nil, "2\n"},
	{"jq (file)", "jq.wasm", []string{"-r", ".[] | .name", "in.json"}, "", map[string][]byte{"in.json": []byte(`[{"name": "x"}, {"name": "y"}]`)}, "x\ny\n"},
	{"yosys", "yosys.wasm", []string{"-q", "-p", "read_verilog counter.v; proc; opt; write_verilog -noattr out.v"}, "", map[string][]byte{"counter.v": []byte(counterV)}, "out.v: "},
	{"flite", "flite.wasm", []string{"-t", "hello from airlock", "-o", "hello.wav"}, "", nil, "hello.wav: RIFF"},
}

// TestRealworldModules runs programs built elsewhere (the wabt tools,
// sql-formatter, jq from the wasilibs builds; yosys and flite from their
// npm packages) under stock wazero, as the wasilibs runners do, and under
// airlock on every engine of the build. Each must give the same exit
// status, output and files as under stock wazero.
func TestRealworldModules(t *testing.T) {
	root := os.Getenv(realworldEnv)
	if root == "" {
		t.Skip("no real-world modules here: set " + realworldEnv + " to a folder holding them (docs/wasi.md, \"Real-world modules\")")
	}
	ctx := context.Background()
	// As the wasilibs runners: jq is built with wasi-threads, and runs with
	// the threads feature and a thread-spawn that is never called.
	stock := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(stockCache(t)).
		WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesThreads))
	defer stock.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, stock)
	if _, err := stock.NewHostModuleBuilder("wasi").NewFunctionBuilder().
		WithFunc(func(uint32) uint32 { panic("thread-spawn is not supported by the baseline") }).
		Export("thread-spawn").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}

	for _, c := range realworldCases {
		t.Run(c.name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(root, c.module))
			if errors.Is(err, fs.ErrNotExist) {
				t.Skipf("%s is not in %s", c.module, root)
			}
			if err != nil {
				t.Fatal(err)
			}
			mod := runtime.NewModule(strings.TrimSuffix(filepath.Base(c.module), ".wasm"), wasm)
			want, ok := stockRun(t, stock, mod, c)
			if !ok {
				return
			}
			if !strings.Contains(want.stdout+want.stderr+want.tree, c.want) {
				t.Fatalf("under stock wazero it did not do its work (want %q): %+v", c.want, want)
			}
			for _, name := range runtime.Engines() {
				t.Run(name, func(t *testing.T) {
					got, ok := airlockRun(t, sharedEngines()[name], name, mod, c)
					if ok && got != want {
						t.Errorf("differs from stock wazero:\nstock:   %+v\nairlock: %+v", want, got)
					}
				})
			}
		})
	}
}

// realworldOutcome is what one run did: exit status, output, and the
// files of its folder after.
type realworldOutcome struct {
	code           uint32
	stdout, stderr string
	tree           string
}

func realworldDir(t *testing.T, c realworldCase) string {
	dir := t.TempDir()
	for name, b := range c.files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stockRun runs c under stock wazero: its own WASI, the folder mounted at
// "/", real clocks and random bytes, no environment. ok is false when
// stock wazero cannot run the module at all (the test then says why).
func stockRun(t *testing.T, r wazero.Runtime, m *runtime.Module, c realworldCase) (realworldOutcome, bool) {
	ctx := context.Background()
	dir := realworldDir(t, c)
	cm, err := r.CompileModule(ctx, m.Bytes)
	if err != nil {
		t.Skipf("stock wazero cannot compile it (%v): nothing to compare with", err)
		return realworldOutcome{}, false
	}
	defer cm.Close(ctx)
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").WithArgs(append([]string{m.Name}, c.args...)...).
		WithStdin(strings.NewReader(c.stdin)).WithStdout(&stdout).WithStderr(&stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/"))
	mod, err := r.InstantiateModule(ctx, cm, cfg)
	if mod != nil {
		mod.Close(ctx)
	}
	out := realworldOutcome{stdout: stdout.String(), stderr: stderr.String(), tree: folderTree(t, dir)}
	var ee *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		out.code = ee.ExitCode()
	default:
		t.Skipf("stock wazero cannot run it (%v): nothing to compare with", err)
		return out, false
	}
	return out, true
}

// airlockRun runs c on an airlock engine: the built-in default policy with
// its mount at "/" over the folder. ok is false when airlock refuses the
// module for a feature it does not serve (the test is then skipped, naming
// it).
func airlockRun(t *testing.T, e *runtime.Engine, engine string, m *runtime.Module, c realworldCase) (realworldOutcome, bool) {
	dir := realworldDir(t, c)
	p := policy.Default(dir)
	p.Mounts[0].Guest = "/"
	var stdout, stderr bytes.Buffer
	res, err := e.Run(context.Background(), runtime.Spec{Module: m, Args: c.args, Stdin: strings.NewReader(c.stdin),
		Stdout: &stdout, Stderr: &stderr, Policy: p, Interrupt: runtime.InterruptInstrument})
	var ie *runtime.IncompatibleError
	if errors.As(err, &ie) {
		var features []string
		for _, p := range ie.Problems {
			features = append(features, p.Feature)
		}
		t.Skipf("airlock does not run it on %s: it needs %s (%v)", engine, strings.Join(features, ", "), err)
		return realworldOutcome{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != runtime.Exited {
		t.Fatalf("%s: %v (stderr %q)", res.Reason, res.Err, stderr.String())
	}
	for _, d := range res.Decisions {
		if !d.Allowed {
			t.Errorf("denied: %+v", d)
		}
	}
	return realworldOutcome{code: res.ExitCode, stdout: stdout.String(), stderr: stderr.String(), tree: folderTree(t, dir)}, true
}

// folderTree lists the files under dir with their contents.
func folderTree(t *testing.T, dir string) string {
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		b, _ := os.ReadFile(p)
		lines = append(lines, rel+": "+string(b))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// stockCache keeps stock wazero's compiled code beside the engines' for
// this test (yosys and flite are 20-30 MB modules).
func stockCache(t *testing.T) wazero.CompilationCache {
	c, err := wazero.NewCompilationCacheWithDir(filepath.Join(engineCache, "stock-wazero"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
