//go:build wasmtime

package runtime_test

// Tests of the wasmtime engine, compiled only with -tags wasmtime:
//
//	go test -tags wasmtime -run Wasmtime ./runtime/
//	go test -tags wasmtime -run '^$' -bench Engines -benchtime 5x ./runtime/

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// sampleTools builds the sample tools once per test binary.
var sampleTools = sync.OnceValues(func() (map[string]*runtime.Module, error) {
	dir, err := os.MkdirTemp("", "airlock-wasmtime-tools")
	if err != nil {
		return nil, err
	}
	out := map[string]*runtime.Module{}
	for _, name := range []string{"ls", "cat", "grep", "wc", "write", "patch"} {
		p, err := wasmbuild.Build(filepath.Join("..", "tools", name), dir, name)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[name] = runtime.NewModule(name, b)
	}
	return out, nil
})

func engineNamed(t testing.TB, name string) *runtime.Engine {
	t.Helper()
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: engineCache, Engine: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// plainPolicy mounts dir at /work with no patterns: what both engines
// enforce alike.
func plainPolicy(dir string) *policy.Policy {
	p := policy.Default(dir)
	for i := range p.Mounts {
		p.Mounts[i].Protect, p.Mounts[i].Hide = nil, nil
	}
	return p
}

// sampleTree writes the same small project into dir.
func sampleTree(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"a.txt":          "alpha\nbeta TODO\ngamma\n",
		"b.txt":          "one two three\nfour\n",
		"src/main.go":    "package main\n\n// TODO: more\nfunc main() {}\n",
		"src/util/u.go":  "package util\n",
		"docs/readme.md": "# readme\nno todos here\n",
		"patch.me":       "line 1\nline 2\nline 3\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWasmtimeSampleToolsMatchWazero runs each sample tool on both engines
// over the same tree and compares exit status, output and the tree after.
func TestWasmtimeSampleToolsMatchWazero(t *testing.T) {
	tools, err := sampleTools()
	if err != nil {
		t.Fatal(err)
	}
	engines := map[string]*runtime.Engine{
		runtime.EngineWazero:   engineNamed(t, runtime.EngineWazero),
		runtime.EngineWasmtime: engineNamed(t, runtime.EngineWasmtime),
	}
	cases := []struct {
		tool  string
		args  []string
		stdin string
	}{
		{"ls", []string{"-R", "/work"}, ""},
		{"ls", []string{"-l", "/work/src"}, ""},
		{"ls", []string{"/work/nope"}, ""},
		{"cat", []string{"-n", "/work/a.txt", "/work/b.txt"}, ""},
		{"cat", []string{"--lines", "2:3", "/work/patch.me"}, ""},
		{"cat", []string{"-"}, "from stdin\n"},
		{"grep", []string{"-rn", "TODO", "/work"}, ""},
		{"grep", []string{"-c", "o", "/work/b.txt"}, ""},
		{"grep", []string{"zzz", "/work/a.txt"}, ""},
		{"wc", []string{"/work/a.txt", "/work/b.txt"}, ""},
		{"wc", []string{"-l"}, "x\ny\n"},
		{"write", []string{"--mkdir", "/work/new/dir/f.txt"}, "written\n"},
		{"write", []string{"--append", "/work/a.txt"}, "delta\n"},
		{"patch", []string{"/work/patch.me"}, "<<<<<<< SEARCH\nline 2\n=======\nline two\n>>>>>>> REPLACE\n"},
		{"write", []string{"/etc/passwd"}, "x"},
	}
	for _, c := range cases {
		name := c.tool + " " + strings.Join(c.args, " ")
		t.Run(name, func(t *testing.T) {
			type got struct {
				code           uint32
				reason         runtime.Reason
				stdout, stderr string
				tree           string
			}
			results := map[string]got{}
			for ename, e := range engines {
				dir := t.TempDir()
				sampleTree(t, dir)
				var stdout, stderr bytes.Buffer
				res, err := e.Run(context.Background(), runtime.Spec{
					Module: tools[c.tool], Args: c.args, Stdin: strings.NewReader(c.stdin),
					Stdout: &stdout, Stderr: &stderr, Policy: plainPolicy(dir), Interrupt: runtime.InterruptInstrument,
				})
				if err != nil {
					t.Fatalf("%s: %v", ename, err)
				}
				results[ename] = got{res.ExitCode, res.Reason, stdout.String(), stderr.String(), folderTree(t, dir)}
			}
			a, b := results[runtime.EngineWazero], results[runtime.EngineWasmtime]
			if a != b {
				t.Errorf("engines differ:\nwazero:   %+v\nwasmtime: %+v", a, b)
			}
		})
	}
}

func TestWasmtimeEnforcesMountsLimitsAndEnv(t *testing.T) {
	e := engineNamed(t, runtime.EngineWasmtime)
	tools, err := sampleTools()
	if err != nil {
		t.Fatal(err)
	}

	// A read-only mount refuses writes, natively.
	dir := t.TempDir()
	p := plainPolicy(dir)
	p.Mounts[0].Access = policy.Read
	res, err := e.Run(context.Background(), runtime.Spec{Module: tools["write"], Args: []string{"/work/f"}, Stdin: strings.NewReader("x"), Policy: p})
	if err != nil || res.ExitCode != 2 {
		t.Fatalf("write to a read-only mount: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); err == nil {
		t.Fatal("the file was written through a read-only mount")
	}

	// A symlink planted in the mount does not lead out of it.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape"))
	var out bytes.Buffer
	res, err = e.Run(context.Background(), runtime.Spec{Module: tools["cat"], Args: []string{"/work/escape/secret"}, Stdout: &out, Policy: plainPolicy(dir)})
	if err != nil || res.ExitCode == 0 || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("symlink escape: %v %+v %q", err, res, out.String())
	}

	// Environment: only what the policy passes.
	out.Reset()
	p = plainPolicy(dir)
	p.Env.Set = map[string]string{"FOO": "bar"}
	_, err = e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"env"}, Stdout: &out, Policy: p,
		LookupEnv: func(string) (string, bool) { return "leak", true }})
	if err != nil || out.String() != "FOO=bar\n" {
		t.Fatalf("env: %v %q", err, out.String())
	}

	// Wall time: an endless loop stops at the limit.
	p = plainPolicy(dir)
	p.Limits.Timeout = 300 * time.Millisecond
	start := time.Now()
	res, err = e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"loop"}, Policy: p})
	if err != nil || res.Reason != runtime.Timeout || time.Since(start) > 3*time.Second {
		t.Fatalf("spin: %v %+v after %v", err, res, time.Since(start))
	}

	// Memory: a guest that allocates without end fails at the limit.
	p = plainPolicy(dir)
	p.Limits.Memory = 64 << 20
	res, err = e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"alloc", "1024"}, Policy: p})
	if err != nil || res.Reason != runtime.MemoryLimit || res.Memory > 64<<20 {
		t.Fatalf("alloc: %v %+v", err, res)
	}

	// Output: capped at the limit; the tool still runs to its end.
	out.Reset()
	p = plainPolicy(dir)
	p.Limits.Output = 1000
	res, err = e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"flood", "100000"}, Stdout: &out, Policy: p})
	if err != nil || !res.Stdout.Truncated || out.Len() != 1000 {
		t.Fatalf("output: %v %+v, %d bytes", err, res, out.Len())
	}
}

// BenchmarkEngines runs the compute-heavy guest natively and on both
// engines, each compiled once and run per iteration with its wall-time
// limit on (wazero: instrumented loops; wasmtime: epoch interruption).
func BenchmarkEngines(b *testing.B) {
	bb := bins()
	if bb.err != nil {
		b.Fatal(bb.err)
	}
	wasm, err := os.ReadFile(bb.computeWasm)
	if err != nil {
		b.Fatal(err)
	}
	m := runtime.NewModule("compute", wasm)
	per := map[string]float64{}
	measure := func(name string, f func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				f(b)
			}
			per[name] = float64(time.Since(start)) / float64(b.N)
			if base := per["native"]; base > 0 && name != "native" {
				b.ReportMetric(per[name]/base, "x-native")
			}
		})
	}
	measure("native", func(b *testing.B) {
		if out, err := exec.Command(bb.computeNative, computeN).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	})
	for _, c := range []struct {
		name   string
		engine string
		in     runtime.Interrupt
	}{
		{"wazero-abandon", runtime.EngineWazero, runtime.InterruptAbandon},
		{"wazero-instrument", runtime.EngineWazero, runtime.InterruptInstrument},
		{"wasmtime-epoch", runtime.EngineWasmtime, runtime.InterruptInstrument},
	} {
		e := engineNamed(b, c.engine)
		p := plainPolicy(b.TempDir())
		if err := e.Precompile(context.Background(), m, p.Limits.Memory, c.in); err != nil {
			b.Fatal(err)
		}
		measure(c.name, func(b *testing.B) {
			res, err := e.Run(context.Background(), runtime.Spec{Module: m, Args: []string{computeN}, Policy: p, Interrupt: c.in, Stdout: &bytes.Buffer{}})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("%v %+v", err, res)
			}
		})
	}
}

// BenchmarkEnginesHostCalls runs a host-call-heavy tool (grep -rn over 300
// small files: a path_open, fd_read, fd_filestat_get and fd_close per
// file, and a readdir per folder) on both engines, each compiled once, and
// reports each engine's time per run against wazero's in the same run.
func BenchmarkEnginesHostCalls(b *testing.B) {
	tools, err := sampleTools()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := 0; i < 300; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i/10), fmt.Sprintf("f%03d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.Repeat("some text\n", 20)+"TODO here\n"), 0o644)
	}
	per := map[string]float64{}
	for _, c := range []struct {
		name   string
		engine string
		in     runtime.Interrupt
	}{
		{"wazero-abandon", runtime.EngineWazero, runtime.InterruptAbandon},
		{"wazero-instrument", runtime.EngineWazero, runtime.InterruptInstrument},
		{"wasmtime-epoch", runtime.EngineWasmtime, runtime.InterruptInstrument},
	} {
		e := engineNamed(b, c.engine)
		p := plainPolicy(dir)
		if err := e.Precompile(context.Background(), tools["grep"], p.Limits.Memory, c.in); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var out bytes.Buffer
				res, err := e.Run(context.Background(), runtime.Spec{Module: tools["grep"], Args: []string{"-rn", "TODO", "/work"},
					Policy: p, Interrupt: c.in, Stdout: &out})
				if err != nil || res.ExitCode != 0 || strings.Count(out.String(), "\n") != 300 {
					b.Fatalf("%v %+v %d lines", err, res, strings.Count(out.String(), "\n"))
				}
			}
			per[c.name] = float64(time.Since(start)) / float64(b.N)
			if base := per["wazero-abandon"]; base > 0 {
				b.ReportMetric(per[c.name]/base, "x-wazero")
			}
		})
	}
}

// The wasmtime engine keeps what it compiles in memory and never uses the
// compile cache's private folder: the one made as the cache opens is given
// back at once, before any Landlock wall, behind which the process could
// not remove it (found by review: every `airlock run --engine wasmtime`
// left one behind).
func TestWasmtimeLeavesNoPrivateFolder(t *testing.T) {
	dir := t.TempDir()
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: dir, Engine: runtime.EngineWasmtime})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if ps, _ := filepath.Glob(filepath.Join(dir, "compiled", ".proc-*")); len(ps) != 0 {
		t.Errorf("private folders a wasmtime engine will never use: %q", ps)
	}
}
