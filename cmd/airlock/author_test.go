package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/runtime"
)

// Tests of the tool author's commands: init, build, inspect.

// offline keeps go mod tidy (run by airlock init) on the module cache.
var offline = []string{"GOFLAGS=-mod=mod", "GOPROXY=off"}

func TestInitBuildRun(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, dir, "", offline, "init", "--sdk", repoRoot, "counter")
	if r.code != 0 || !strings.Contains(r.stdout, "airlock build") {
		t.Fatalf("init: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	tool := filepath.Join(dir, "counter")
	for _, f := range []string{"main.go", "main_test.go", "tool.hcl", "go.mod", "go.sum"} {
		if _, err := os.Stat(filepath.Join(tool, f)); err != nil {
			t.Fatalf("init did not write %s: %v", f, err)
		}
	}
	if r := runCLI(t, dir, "", offline, "init", "counter"); r.code != ExitUsage || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("init over an existing tool: %d %s", r.code, r.stderr)
	}

	// The scaffold's own test passes: tooltest runs it under the runtime.
	if !testing.Short() {
		cmd := exec.Command("go", "test", "-count=1", ".")
		cmd.Dir = tool
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go test in the scaffold: %v\n%s", err, out)
		}
	}

	// A comment at the end of the module line must survive the pin.
	man := filepath.Join(tool, "tool.hcl")
	src, _ := os.ReadFile(man)
	src = bytes.Replace(src, []byte(`"module.wasm"`), []byte(`"module.wasm" # built by airlock build`), 1)
	os.WriteFile(man, src, 0o644)

	r = runCLI(t, dir, "", nil, "build", "counter")
	if r.code != 0 || !strings.Contains(r.stdout, "pinned the digest") {
		t.Fatalf("build: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wasm, err := os.ReadFile(filepath.Join(tool, "module.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	after, _ := os.ReadFile(man)
	want := bytes.Replace(src, []byte("# built by airlock build\n"),
		[]byte("# built by airlock build\n  digest       = \""+digest+"\"\n"), 1)
	if !bytes.Equal(after, want) {
		t.Fatalf("tool.hcl after build:\n%s\nwant:\n%s", after, want)
	}

	// The built tool runs through its manifest, digest checked.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("a\nb\nc\n"), 0o644)
	r = runCLI(t, dir, "", nil, "run", "counter", "--", "/work/notes.txt")
	if r.code != 0 || r.stdout != "/work/notes.txt: 3 lines\n" {
		t.Fatalf("run: %d %q %s", r.code, r.stdout, r.stderr)
	}

	// A rebuild of changed source pins the new digest in place of the old.
	mainGo := filepath.Join(tool, "main.go")
	b, _ := os.ReadFile(mainGo)
	os.WriteFile(mainGo, bytes.Replace(b, []byte("%d lines"), []byte("%d line(s)"), 1), 0o644)
	if r = runCLI(t, dir, "", nil, "build", "counter"); r.code != 0 {
		t.Fatalf("rebuild: %d %s", r.code, r.stderr)
	}
	again, _ := os.ReadFile(man)
	if bytes.Contains(again, []byte(digest)) || bytes.Count(again, []byte("digest       = ")) != 1 ||
		!bytes.Contains(again, []byte("# built by airlock build")) {
		t.Fatalf("tool.hcl after rebuild:\n%s", again)
	}
	if r = runCLI(t, dir, "", nil, "run", "counter", "--", "/work/notes.txt"); r.stdout != "/work/notes.txt: 3 line(s)\n" {
		t.Fatalf("run after rebuild: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

func TestBuildRefusesWhatItCannotBuild(t *testing.T) {
	dir := t.TempDir()
	if r := runCLI(t, dir, "", nil, "build", dir); r.code != ExitUsage || !strings.Contains(r.stderr, "no Go source") {
		t.Fatalf("empty dir: %d %s", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() { nope() }\n"), 0o644)
	if r := runCLI(t, dir, "", nil, "build", dir); r.code != ExitNoModule || !strings.Contains(r.stderr, "undefined: nope") {
		t.Fatalf("broken source: %d %s", r.code, r.stderr)
	}
}

// A module encoded by hand, for shapes no toolchain here emits.
func section(id byte, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	return append(append([]byte{id}, byte(len(body))), body...) // bodies < 128 bytes
}

func vec(items ...[]byte) []byte { return append([]byte{byte(len(items))}, bytes.Join(items, nil)...) }
func wname(s string) []byte      { return append([]byte{byte(len(s))}, s...) }

// commandImporting is a WASI command (memory, _start) importing module.name
// as a function of no parameters; shared makes its memory shared.
func commandImporting(module, name string, shared bool) []byte {
	mem := []byte{0x00, 1}
	if shared {
		mem = []byte{0x03, 1, 1}
	}
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join([][]byte{
		section(1, vec([]byte{0x60, 0, 0})),
		section(2, vec(append(append(wname(module), wname(name)...), 0, 0))),
		section(3, vec([]byte{0})),
		section(5, vec(mem)),
		section(7, vec(append(wname("_start"), 0, 1), append(wname("memory"), 2, 0))),
		section(10, vec([]byte{2, 0, 0x0b})),
	}, nil)...)
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}

	// A Go tool: runnable, with its capabilities and digest.
	r := runCLI(t, dir, "", nil, "inspect", probeWasm)
	b, _ := os.ReadFile(probeWasm)
	sum := sha256.Sum256(b)
	for _, want := range []string{"sha256:" + hex.EncodeToString(sum[:]), "filesystem", "randomness",
		"wasi_snapshot_preview1.path_open", "_start", "memory   min", "no maximum", "airlock can run it.", "language: Go"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect probe: no %q in\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Fatalf("inspect probe: exit %d %s", r.code, r.stderr)
	}

	// Threads: a real wasi-threads command runs, its memory shown shared,
	// thread-spawn as a capability.
	r = runCLI(t, dir, "", nil, "inspect", threadsWasm())
	for _, want := range []string{"env.memory (memory)", "SHARED", "threads", "wasi.thread-spawn", "wasi_thread_start", "airlock can run it."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect threads: no %q in\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Fatalf("inspect threads: exit %d\n%s", r.code, r.stdout)
	}
	// One that imports thread-spawn with no thread entry is refused, by
	// name, and airlock run refuses it with the same words.
	threads := write("threads.wasm", commandImporting("wasi", "thread-spawn", true))
	r = runCLI(t, dir, "", nil, "inspect", threads)
	for _, want := range []string{"! wasi.thread-spawn", "SHARED", "airlock cannot run it (1 problem(s))",
		"wasi.thread-spawn: the module imports thread-spawn but exports no wasi_thread_start"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect threads: no %q in\n%s", want, r.stdout)
		}
	}
	if r.code != 1 {
		t.Fatalf("inspect threads: exit %d, want 1", r.code)
	}
	if r := runCLI(t, dir, "", nil, "run", threads); r.code != ExitNoModule || !strings.Contains(r.stderr, "wasi_thread_start") {
		t.Fatalf("run threads: %d %s", r.code, r.stderr)
	}

	// An Emscripten-style import: named, with what to do, in JSON too.
	emcc := write("emcc.wasm", commandImporting("env", "emscripten_memcpy_big", false))
	r = runCLI(t, dir, "", nil, "inspect", "--json", emcc)
	var in inspection
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if in.Runnable || len(in.Problems) != 1 || in.Problems[0].Import != "env.emscripten_memcpy_big" ||
		!strings.Contains(in.Problems[0].Message, "Emscripten") || len(in.Imports) != 1 || in.Imports[0].Provided {
		t.Fatalf("inspect --json emcc: %+v", in)
	}

	// airlock's network module is provided, and is the network capability.
	netName := host.NetFuncs(host.NetConfig{})[0].Name
	netMod := write("net.wasm", commandImporting(host.NetModule, netName, false))
	r = runCLI(t, dir, "", nil, "inspect", "--json", netMod)
	in = inspection{}
	json.Unmarshal([]byte(r.stdout), &in)
	if !in.Runnable || len(in.Capabilities) != 1 || in.Capabilities[0].Name != "network" || !in.Imports[0].Provided {
		t.Fatalf("inspect --json net: %d %+v %s", r.code, in, r.stderr)
	}

	if r := runCLI(t, dir, "", nil, "inspect", filepath.Join(dir, "nope.wasm")); r.code != ExitNoModule {
		t.Fatalf("missing module: %d %s", r.code, r.stderr)
	}
}

func TestEngineFlagWithoutWasmtime(t *testing.T) {
	if slices.Contains(engines(), runtime.EngineWasmtime) {
		t.Skip("this airlock is built with -tags wasmtime")
	}
	dir, _ := project(t)
	r := runCLI(t, dir, "", nil, "run", "--engine", "wasmtime", probeWasm, "--", "exit", "0")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "rebuild with -tags wasmtime") {
		t.Fatalf("--engine wasmtime in a default build: %d %s", r.code, r.stderr)
	}
}
