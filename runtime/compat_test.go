package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// wazeroDir is the wazero module's folder in the module cache, whose
// testdata holds WASI modules built by other toolchains (Rust, Zig, C,
// TinyGo) and hand-written ones.
var wazeroDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
})

func wazeroModule(t *testing.T, rel string) *runtime.Module {
	t.Helper()
	dir, err := wazeroDir()
	if err != nil || dir == "" {
		t.Fatalf("finding the wazero module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return runtime.NewModule(filepath.Base(rel), b)
}

// TestModulesBuiltElsewhereRunUnchanged runs WASI commands from wazero's
// testdata, built by rustc, zig, zig cc (clang with wasi-libc) and TinyGo,
// under the default policy, and checks what they print.
func TestModulesBuiltElsewhereRunUnchanged(t *testing.T) {
	e := sharedEngine()
	for _, c := range []struct {
		module string
		args   []string
		want   string
	}{
		// cat in four languages. wasi-libc (C, Rust, TinyGo) resolves
		// absolute paths through the preopens; Zig's std opens relative
		// to the first preopen, its "current directory".
		{"imports/wasi_snapshot_preview1/example/testdata/cargo-wasi/cat.wasm", []string{"/work/test.txt"}, "greet filesystem\n"},
		{"imports/wasi_snapshot_preview1/example/testdata/zig-cc/cat.wasm", []string{"/work/test.txt"}, "greet filesystem\n"},
		{"imports/wasi_snapshot_preview1/example/testdata/tinygo/cat.wasm", []string{"/work/test.txt"}, "greet filesystem\n"},
		{"imports/wasi_snapshot_preview1/example/testdata/zig/cat.wasm", []string{"test.txt"}, "greet filesystem\n"},
		// Directory listing, stat of the standard streams, preopens, sleep.
		{"imports/wasi_snapshot_preview1/testdata/cargo-wasi/wasi.wasm", []string{"ls", "/work/sub"}, "/work/sub/x.txt\n"},
		{"imports/wasi_snapshot_preview1/testdata/tinygo/wasi.wasm", []string{"ls", "/work/sub"}, "./x.txt\n"},
		{"imports/wasi_snapshot_preview1/testdata/zig-cc/wasi.wasm", []string{"ls", "/work/sub"}, "./.\n./..\n./x.txt\n"},
		{"imports/wasi_snapshot_preview1/testdata/zig/wasi.wasm", []string{"ls", "sub"}, "./x.txt\n"},
		{"imports/wasi_snapshot_preview1/testdata/zig-cc/wasi.wasm", []string{"stat"}, "stdin isatty: false\nstdout isatty: false\nstderr isatty: false\n/ isatty: false\n"},
		{"imports/wasi_snapshot_preview1/testdata/zig/wasi.wasm", []string{"preopen"}, "0: stdin\n1: stdout\n2: stderr\n3: /work\n"},
		{"imports/wasi_snapshot_preview1/testdata/zig-cc/wasi.wasm", []string{"sleepmillis", "20"}, "OK\n"},
		// Hand-written WebAssembly text, one WASI call family each.
		{"cmd/wazero/testdata/wasi_arg.wasm", []string{"a", "b"}, "wasi_arg\x00a\x00b\x00"},
		{"cmd/wazero/testdata/wasi_env.wasm", nil, "A=b\x00"},
		{"imports/wasi_snapshot_preview1/testdata/print_prestat_dirname.wasm", nil, "/work"},
		{"examples/cli/testdata/cli.wasm", []string{"3", "4"}, "result: 7\n"},
	} {
		t.Run(strings.TrimSuffix(c.module, ".wasm")+" "+strings.Join(c.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "test.txt"), []byte("greet filesystem\n"), 0o644)
			os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
			os.WriteFile(filepath.Join(dir, "sub", "x.txt"), nil, 0o644)
			p := policy.Default(dir)
			p.Env.Set = map[string]string{"A": "b"}
			m := wazeroModule(t, c.module)
			m.Name = strings.TrimSuffix(m.Name, ".wasm")
			var stdout, stderr bytes.Buffer
			res, err := e.Run(context.Background(), runtime.Spec{Module: m, Args: c.args, Stdout: &stdout, Stderr: &stderr,
				Policy: p, Interrupt: runtime.InterruptInstrument})
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != runtime.Exited || res.ExitCode != 0 || stdout.String() != c.want {
				t.Fatalf("%s %d, stdout %q (want %q), stderr %q", res.Reason, res.ExitCode, stdout.String(), c.want, stderr.String())
			}
		})
	}

	// wasi_fd reads bear.txt relative to the first preopen; exit_on_start
	// calls proc_exit(2) from _start.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bear.txt"), []byte("pooh\n"), 0o644)
	var stdout bytes.Buffer
	res, err := e.Run(context.Background(), runtime.Spec{Module: wazeroModule(t, "cmd/wazero/testdata/wasi_fd.wasm"),
		Stdout: &stdout, Policy: policy.Default(dir), Interrupt: runtime.InterruptInstrument})
	if err != nil || res.ExitCode != 0 || stdout.String() != "pooh\n" {
		t.Fatalf("wasi_fd: %v %+v %q", err, res, stdout.String())
	}
	res, err = e.Run(context.Background(), runtime.Spec{Module: wazeroModule(t, "imports/wasi_snapshot_preview1/testdata/exit_on_start.wasm"),
		Policy: policy.Default(dir), Interrupt: runtime.InterruptInstrument})
	if err != nil || res.Reason != runtime.Exited || res.ExitCode != 2 {
		t.Fatalf("exit_on_start: %v %+v", err, res)
	}
}

// A module encoded by hand: section builds one section, vec a vector,
// name a name.
func section(id byte, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	return append(append([]byte{id}, uleb(len(body))...), body...)
}

func vec(items ...[]byte) []byte { return append(uleb(len(items)), bytes.Join(items, nil)...) }

func name(s string) []byte { return append(uleb(len(s)), s...) }

func uleb(n int) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func wasm(sections ...[]byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(sections, nil)...)
}

// threadsModule imports wasi.thread-spawn, as wasm32-wasip1-threads
// toolchains emit, but exports no wasi_thread_start for its threads.
//
//	(module
//	  (type (func (param i32) (result i32))) (type (func))
//	  (import "wasi" "thread-spawn" (func (type 0)))
//	  (memory (export "memory") 1 1 shared)
//	  (func (export "_start") (type 1)))
var threadsModule = wasm(
	section(1, vec([]byte{0x60, 1, 0x7f, 1, 0x7f}, []byte{0x60, 0, 0})),
	section(2, vec(append(append(name("wasi"), name("thread-spawn")...), 0, 0))),
	section(3, vec([]byte{1})),
	section(5, vec([]byte{0x03, 1, 1})),
	section(7, vec(append(name("_start"), 0, 1), append(name("memory"), 2, 0))),
	section(10, vec([]byte{2, 0, 0x0b})),
)

// TestThreadsAndOtherTargetsAreRefusedByName checks that what airlock
// cannot run is refused before it starts, with a message that names the
// import or feature and says what to do.
func TestThreadsAndOtherTargetsAreRefusedByName(t *testing.T) {
	e := sharedEngine()
	for _, c := range []struct {
		name    string
		module  *runtime.Module
		feature string
		want    []string
	}{
		{"wasi-threads without a thread entry", runtime.NewModule("threads", threadsModule), "threads",
			[]string{"wasi.thread-spawn", "wasi_thread_start", "wasm32-wasip1-threads"}},
		{"shared memory imported from WASI's module", runtime.NewModule("wasimem", wasm(
			section(1, vec([]byte{0x60, 0, 0})),
			section(2, vec(append(append(name("wasi_snapshot_preview1"), name("memory")...), 2, 0x03, 1, 1))),
			section(3, vec([]byte{0})),
			section(7, vec(append(name("_start"), 0, 0))),
			section(10, vec([]byte{2, 0, 0x0b})),
		)), "missing-import", []string{"wasi_snapshot_preview1.memory", "env.memory"}},
		// Shared memory is no longer a reason by itself (threads run);
		// these two are still refused for what they are.
		{"shared memory only (wazero testdata)", wazeroModule(t, "internal/integration_test/engine/testdata/threads/add.wasm"), "no-start",
			[]string{"no _start"}},
		{"pthread reactor with imported shared memory (wazero testdata)", wazeroModule(t, "experimental/testdata/pthread.wasm"), "no-start",
			[]string{"_initialize"}},
		{"wasi_unstable", wazeroModule(t, "imports/wasi_snapshot_preview1/testdata/exit_on_start_unstable.wasm"), "wasi-unstable",
			[]string{"wasi_unstable.proc_exit", "wasip1"}},
		{"emscripten", wazeroModule(t, "imports/emscripten/testdata/grow.wasm"), "missing-import",
			[]string{"env.emscripten_notify_memory_growth", "Emscripten"}},
		{"component", runtime.NewModule("component", []byte("\x00asm\x0d\x00\x01\x00")), "component",
			[]string{"component", "wasm32-wasip1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := e.Run(context.Background(), runtime.Spec{Module: c.module, Policy: policy.Default(dir)})
			var me *runtime.ModuleError
			var ie *runtime.IncompatibleError
			if !errors.As(err, &me) || !errors.As(err, &ie) {
				t.Fatalf("err %v, want a ModuleError holding an IncompatibleError", err)
			}
			found := false
			for _, p := range ie.Problems {
				found = found || p.Feature == c.feature
			}
			if !found {
				t.Errorf("no %s problem in %+v", c.feature, ie.Problems)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not say %q:\n%v", w, err)
				}
			}
			problems, err := e.Check(context.Background(), c.module)
			if err != nil || len(problems) != len(ie.Problems) {
				t.Errorf("Check: %v %+v, want the same %d problems", err, problems, len(ie.Problems))
			}
		})
	}

	// A module airlock can run has no problems.
	if ps, err := e.Check(context.Background(), probe); err != nil || len(ps) != 0 {
		t.Fatalf("probe: %v %+v", err, ps)
	}
}

// A module that imports the same function twice (Go does, once per
// package that declares it with //go:wasmimport) hears about it once.
func TestAnImportNamedTwiceIsOneProblem(t *testing.T) {
	imp := append(append(name("airlock_net_v9"), name("connect")...), 0, 0)
	m := runtime.NewModule("twice", wasm(
		section(1, vec([]byte{0x60, 0, 0})),
		section(2, vec(imp, imp)),
		section(3, vec([]byte{0})),
		section(7, vec(append(name("_start"), 0, 2))),
		section(10, vec([]byte{2, 0, 0x0b})),
	))
	ps, err := sharedEngine().Check(context.Background(), m)
	if err != nil || len(ps) != 1 || ps[0].Import != "airlock_net_v9.connect" {
		t.Fatalf("Check: %v %+v, want one problem naming airlock_net_v9.connect", err, ps)
	}
}
