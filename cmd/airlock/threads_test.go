package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// threadsWasm is testdata/threads: a C guest that spawns real threads
// (wasi-threads) on a shared memory it imports.
func threadsWasm() string { return filepath.Join(repoRoot, "testdata", "threads", "threads.wasm") }

// TestThreadsThroughTheCLI runs the threads guest with the real airlock
// binary on every engine, as a tool author would: threads run under the run's policy (a
// read-only mount keeps its bytes, every thread's write is denied and
// said so), a spinning thread is stopped by the time limit (exit 124),
// proc_exit in a thread is the run's exit status, a trap in one is a crash
// (121), and a flood of threads past the cap is refused, not fatal.
func TestThreadsThroughTheCLI(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) { threadsThroughTheCLI(t, engine) })
	}
}

func threadsThroughTheCLI(t *testing.T, engine string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "in.txt"), []byte("input data\n"), 0o644)
	os.WriteFile(filepath.Join(data, "victim.txt"), []byte("original\n"), 0o644)

	reportFile := filepath.Join(dir, "report.json")
	r := runCLI(t, dir, "", nil, withEngine(engine, []string{"run", "--headless", "--audit=off", "--json=" + reportFile, "--mount", data + ":/work:ro", threadsWasm(), "--", "run", "4"})...)
	if r.code != 0 {
		t.Fatalf("run 4: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Threads int `json:"threads"`
		Denied  int `json:"denied"`
	}
	if b, err := os.ReadFile(reportFile); err != nil || json.Unmarshal(b, &rep) != nil || rep.Threads != 4 || rep.Denied != 5 {
		t.Errorf("report: %+v (%v), want 4 threads and 5 denials", rep, err)
	}
	for i := 0; i < 4; i++ {
		for _, want := range []string{fmt.Sprintf("thread %d hello", i), fmt.Sprintf("thread %d: write victim.txt: errno 69\n", i)} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("no %q in\n%s", want, r.stdout)
			}
		}
	}
	if !strings.Contains(r.stdout, "sum=10 threads=4\n") {
		t.Errorf("no sum in\n%s", r.stdout)
	}
	if n := strings.Count(r.stderr, "denied fs.write open /work/victim.txt"); n != 5 {
		t.Errorf("%d denials on stderr, want 5 (4 threads and the main one):\n%s", n, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "victim.txt")); string(b) != "original\n" {
		t.Fatalf("victim.txt on the host is now %q", b)
	}

	for _, c := range []struct {
		args []string
		code int
		out  string // on stdout
		err  string // on stderr
	}{
		{[]string{"spin"}, ExitTimeout, "spawned 1\n", "limits.timeout"},
		// The thread exits at once, so the main thread's line may or may
		// not be written before the run ends: only the status is checked.
		{[]string{"exit", "7"}, 7, "", ""},
		{[]string{"trap"}, ExitTrap, "spawned 1\n", "thread 1: "},
		{[]string{"flood", "100"}, 0, "started=64 refused=36 first refusal=-6\n", ""},
	} {
		r := runCLI(t, dir, "", nil, withEngine(engine, append([]string{"run", "--headless", "--audit=off", "--timeout", "1s", threadsWasm(), "--"}, c.args...))...)
		racy := c.args[0] == "exit" && (r.stdout == "" || r.stdout == "spawned 1\n")
		if r.code != c.code || (r.stdout != c.out && !racy) || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%v: exit %d %q %q, want %d %q and %q on stderr", c.args, r.code, r.stdout, r.stderr, c.code, c.out, c.err)
		}
		if r.elapsed > 20*time.Second {
			t.Errorf("%v took %v", c.args, r.elapsed)
		}
	}
}

// wasiThreadsTestsuiteEnv names the folder of the wasi-threads tests of the
// official WASI test suite: tests/proposals/wasi-threads of
// github.com/WebAssembly/wasi-testsuite, branch prod/testsuite-all (built
// .wasm files beside their .wat and .json).
const wasiThreadsTestsuiteEnv = "AIRLOCK_WASI_THREADS_TESTSUITE"

// TestWASIThreadsTestsuite runs every wasi-threads test of the official
// suite through the real airlock run on the built-in default policy, as
// the suite's runner does with wasmtime: the exit status must be what the
// test's JSON says (0 without one). Standard input is a pipe that stays
// open and empty, so a read of it blocks, as the *_wasi_read tests expect.
func TestWASIThreadsTestsuite(t *testing.T) {
	root := os.Getenv(wasiThreadsTestsuiteEnv)
	if root == "" {
		t.Skip("the wasi-threads tests are not here: set " + wasiThreadsTestsuiteEnv +
			" to tests/proposals/wasi-threads of github.com/WebAssembly/wasi-testsuite (branch prod/testsuite-all) to run them")
	}
	modules, err := filepath.Glob(filepath.Join(root, "*.wasm"))
	if err != nil || len(modules) == 0 {
		t.Fatalf("no test module in %s (%v)", root, err)
	}
	sort.Strings(modules)
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			passed := 0
			for _, module := range modules {
				name := strings.TrimSuffix(filepath.Base(module), ".wasm")
				ok := t.Run(name, func(t *testing.T) {
					var spec struct {
						ExitCode int `json:"exit_code"`
					}
					if b, err := os.ReadFile(strings.TrimSuffix(module, ".wasm") + ".json"); err == nil {
						if err := json.Unmarshal(b, &spec); err != nil {
							t.Fatal(err)
						}
					}
					code, stderr := runBlockedStdin(t, t.TempDir(), withEngine(engine, []string{"run", "--headless", "--audit=off", module})...)
					if code != spec.ExitCode {
						t.Errorf("exit status %d, want %d\n%s", code, spec.ExitCode, stderr)
					}
				})
				if ok {
					passed++
				}
			}
			t.Logf("wasi-threads tests on %s: %d/%d passed", engine, passed, len(modules))
		})
	}
}

// runBlockedStdin runs airlock with a standard input that never delivers
// a byte (a pipe whose write end stays open) and returns its exit status
// and stderr.
func runBlockedStdin(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	cmd := exec.Command(airlockBin, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir)
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("airlock %v did not finish in a minute", args)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// jqWasmEnv names jq built for wasm32-wasip1-threads, as wasilibs/go-jq
// ships it (internal/wasm/jq.wasm); it is not part of this repository.
const jqWasmEnv = "AIRLOCK_JQ_WASM"

// TestJQMatchesNative runs jq, a C program built with wasi-threads, through
// airlock run on every engine, on a JSON file in a read-only mount, and compares its output
// byte for byte with the native jq (/usr/bin/jq or jq on PATH) on the same
// file. The filters use what jq 1.6 and 1.7 print alike.
func TestJQMatchesNative(t *testing.T) {
	wasm := os.Getenv(jqWasmEnv)
	if wasm == "" {
		t.Skip("jq.wasm is not here: set " + jqWasmEnv + " to jq built for wasm32-wasip1-threads (github.com/wasilibs/go-jq, internal/wasm/jq.wasm)")
	}
	native, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("no native jq to compare with (apt-get install jq)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	doc := `{"items":[{"name":"a","n":1,"tags":["x","y"]},{"name":"b","n":2,"tags":[]},` +
		`{"name":"c","n":35,"tags":["z"],"extra":{"deep":[1,2,{"q":null,"s":"caf\u00e9 \"quoted\""}]}}],` +
		`"meta":{"count":3,"ok":true,"list":[3,1,2]}}`
	os.WriteFile(filepath.Join(data, "in.json"), []byte(doc+"\n"), 0o644)
	before, _ := os.ReadFile(filepath.Join(data, "in.json"))
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) { jqMatchesNative(t, engine, native, wasm, dir, data) })
	}
	if after, _ := os.ReadFile(filepath.Join(data, "in.json")); !bytes.Equal(before, after) {
		t.Fatal("the input file changed")
	}
}

// jqMatchesNative compares jq's output on engine with the native jq's.
func jqMatchesNative(t *testing.T, engine, native, wasm, dir, data string) {
	for _, args := range [][]string{
		{"."},
		{"-c", ".items[] | select(.n > 1) | {name, tags}"},
		{"-r", ".items[].name"},
		{"-S", ".meta"},
		{"[.items[].n] | add"},
		{"-c", ".meta.list | sort"},
		{"-c", "[paths] | length"},
		{"-c", "to_entries | map(.key)"},
	} {
		want, err := exec.Command(native, append(args, filepath.Join(data, "in.json"))...).Output()
		if err != nil {
			t.Fatalf("native jq %v: %v", args, err)
		}
		runArgs := append([]string{"run", "--headless", "--audit=off", "--mount", data + ":/data:ro", wasm, "--"}, args...)
		r := runCLI(t, dir, "", nil, withEngine(engine, append(runArgs, "/data/in.json"))...)
		if r.code != 0 || r.stdout != string(want) {
			t.Errorf("jq %v under airlock on %s: exit %d\n%s\nstderr: %s\nnative:\n%s", args, engine, r.code, r.stdout, r.stderr, want)
		}
	}
}

// spinModule is a WASI command without threads whose _start loops for
// ever: (module (memory (export "memory") 1) (func (export "_start")
// (loop (br 0)))).
var spinModule = []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 4, 1, 0x60, 0, 0,
	3, 2, 1, 0,
	5, 3, 1, 0, 1,
	7, 19, 2, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0, 6, '_', 's', 't', 'a', 'r', 't', 0, 0,
	10, 9, 1, 7, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b}

// TestSpinningGuestsEndAtTheTimeLimit: guest code that never calls the
// host cannot hold airlock run past --timeout, whatever the threads and
// the cores. Go cannot preempt a goroutine that runs compiled WebAssembly,
// so code that never leaves it holds its P: with as many spinning threads
// as the process has Ps (GOMAXPROCS: the cores, or fewer in a container
// or under taskset) the timer that ends the run never runs, and a
// collection that starts while one spins waits for it with every other
// goroutine stopped. Each run of the real binary must exit with the
// timeout status within 10 s; a hung one is killed and the test fails.
// Runs go four at a time, which also loads the machine (a collection
// racing the guest's start was seen in 2 of 12 runs under load).
func TestSpinningGuestsEndAtTheTimeLimit(t *testing.T) {
	dir := t.TempDir()
	spin := filepath.Join(dir, "spin.wasm")
	if err := os.WriteFile(spin, spinModule, 0o644); err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		env  []string
		args []string
	}
	variants := []variant{
		{"one spinning thread", nil, []string{threadsWasm(), "--", "spin"}},
		{"one spinning thread, one P", []string{"GOMAXPROCS=1"}, []string{threadsWasm(), "--", "spin"}},
		{"three spinning threads, two Ps", []string{"GOMAXPROCS=2"}, []string{threadsWasm(), "--", "spin", "3"}},
		{"three spinning threads, two Ps, instrument", []string{"GOMAXPROCS=2"}, []string{"--interrupt", "instrument", threadsWasm(), "--", "spin", "3"}},
		{"a spinning main thread without threads, one P", []string{"GOMAXPROCS=1"}, []string{spin}},
	}
	const runs, parallel, bound = 20, 4, 10 * time.Second
	runCLI(t, dir, "", nil, "run", "--audit=off", "--timeout", "1s", threadsWasm(), "--", "exit", "0") // compile once

	type outcome struct {
		v       variant
		code    int
		hung    bool
		elapsed time.Duration
		stderr  string
	}
	results := make(chan outcome, runs)
	slots := make(chan struct{}, parallel)
	for i := range runs {
		v := variants[i%len(variants)]
		slots <- struct{}{}
		go func() {
			defer func() { <-slots }()
			cmd := exec.Command(airlockBin, append([]string{"run", "--headless", "--audit=off", "--timeout", "1s"}, v.args...)...)
			cmd.SysProcAttr = childAttr() // never outlive the test
			cmd.Dir = dir
			cmd.Env = append(append(os.Environ(), "AIRLOCK_CACHE_DIR="+cacheDir), v.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				results <- outcome{v: v, code: -1, stderr: err.Error()}
				return
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			o := outcome{v: v}
			select {
			case <-done:
			case <-time.After(bound):
				o.hung = true
				cmd.Process.Kill()
				<-done
			}
			o.elapsed, o.code, o.stderr = time.Since(start), cmd.ProcessState.ExitCode(), stderr.String()
			results <- o
		}()
	}
	var slowest time.Duration
	failed := 0
	for range runs {
		o := <-results
		slowest = max(slowest, o.elapsed)
		switch {
		case o.hung:
			failed++
			t.Errorf("%s: still running after %v, killed (--timeout 1s)", o.v.name, bound)
		case o.code != ExitTimeout || !strings.Contains(o.stderr, "limits.timeout"):
			failed++
			t.Errorf("%s: exit %d after %v, want %d (timeout)\n%s", o.v.name, o.code, o.elapsed.Round(time.Millisecond), ExitTimeout, o.stderr)
		}
	}
	t.Logf("%d runs, %d failed; slowest %v", runs, failed, slowest.Round(time.Millisecond))
}
