package runtime

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// wasmModule writes a small module: functions of type () -> () or
// (i64) -> () (with param), an optional memory, _start exporting function
// start.
type wasmModule struct {
	memory bool
	funcs  []wasmFunc
	start  int
}

type wasmFunc struct {
	param bool   // one i64 parameter
	body  []byte // locals declaration and instructions, end included
}

func (m wasmModule) bytes() []byte {
	section := func(out []byte, id byte, content []byte) []byte {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(content)))
		return append(out, content...)
	}
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = section(b, 1, []byte{2, 0x60, 0, 0, 0x60, 1, 0x7e, 0}) // () -> (), (i64) -> ()
	fn := binary.AppendUvarint(nil, uint64(len(m.funcs)))
	for _, f := range m.funcs {
		if f.param {
			fn = append(fn, 1)
		} else {
			fn = append(fn, 0)
		}
	}
	b = section(b, 3, fn)
	if m.memory {
		b = section(b, 5, []byte{1, 0, 1})
	}
	exp := []byte{1, 6}
	exp = append(exp, "_start"...)
	exp = append(exp, 0)
	exp = binary.AppendUvarint(exp, uint64(m.start))
	b = section(b, 7, exp)
	code := binary.AppendUvarint(nil, uint64(len(m.funcs)))
	for _, f := range m.funcs {
		code = binary.AppendUvarint(code, uint64(len(f.body)))
		code = append(code, f.body...)
	}
	return section(b, 10, code)
}

// spinLoop is a body that loops forever without calling anything.
var spinLoop = []byte{0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // no locals; loop; br 0; end; end

// twoCalls is f(n): if n > 0 { f(n-1); f(n-1) }: 2^n calls and no loop, so
// only the checks at function entry can stop it.
var twoCalls = []byte{0,
	0x20, 0x00, 0x50, 0x45, 0x04, 0x40, // local.get 0; i64.eqz; i32.eqz; if
	0x20, 0x00, 0x42, 0x01, 0x7d, 0x10, 0x00, // local.get 0; i64.const 1; i64.sub; call 0
	0x20, 0x00, 0x42, 0x01, 0x7d, 0x10, 0x00, // again
	0x0b, 0x0b} // end; end

// runFor runs b with InterruptInstrument under a timeout and fails the test
// if Run does not return within the limit.
func runFor(t *testing.T, e *Engine, b []byte, timeout, limit time.Duration) *Result {
	t.Helper()
	p := policy.Default(t.TempDir())
	p.Limits.Timeout = timeout
	type ret struct {
		res *Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := e.Run(context.Background(), Spec{Module: NewModule("m", b), Policy: p, Interrupt: InterruptInstrument})
		done <- ret{res, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.res
	case <-time.After(limit):
		t.Fatalf("the run did not stop within %v of a %v limit", limit, timeout)
		return nil
	}
}

// With yield checks, a loop that never calls the host and a recursion
// that has no loop at all are both stopped at the time limit; so is a
// module that cannot take them (no memory), by wazero's instrumentation.
func TestYieldChecksStopWhatNeverCallsTheHost(t *testing.T) {
	e, err := New(context.Background(), Config{CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	call60 := []byte{0, 0x42, 60, 0x10, 0x00, 0x0b} // i64.const 60; call 0
	for _, c := range []struct {
		name  string
		m     wasmModule
		yield bool
	}{
		{"loop", wasmModule{memory: true, funcs: []wasmFunc{{body: spinLoop}}}, true},
		{"recursion without a loop", wasmModule{memory: true, funcs: []wasmFunc{{param: true, body: twoCalls}, {body: call60}}, start: 1}, true},
		{"no memory: wazero's instrumentation", wasmModule{funcs: []wasmFunc{{body: spinLoop}}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.m.bytes()
			if _, err := addYieldChecks(b); (err == nil) != c.yield {
				t.Fatalf("addYieldChecks: %v, want it to work: %v", err, c.yield)
			}
			res := runFor(t, e, b, 300*time.Millisecond, 10*time.Second)
			if res.Reason != Timeout || !errors.Is(res.Err, context.DeadlineExceeded) {
				t.Fatalf("reason %s err %v, want a timeout", res.Reason, res.Err)
			}
			if res.Duration > 2*time.Second {
				t.Errorf("took %v to stop a 300ms run", res.Duration)
			}
		})
	}
}

// Every sample tool (Go and C) takes yield checks, and wazero compiles what
// comes out: no opcode of theirs is unknown to the rewrite.
func TestYieldChecksTakeEverySampleTool(t *testing.T) {
	paths, _ := filepath.Glob("../tools/*/*.wasm")
	if len(paths) == 0 {
		t.Fatal("no sample modules in ../tools")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bin, img, _ := prepareModule(b)
		img.close()
		out, err := addYieldChecks(bin)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if bytes.Count(out, []byte(stopExport)) != 1 {
			t.Errorf("%s: the stop flag is not exported once", filepath.Base(p))
		}
	}
}

// A guest that spins must not stall the host's garbage collector: a
// collection needs every goroutine at a safe point, and Go cannot preempt
// compiled WebAssembly, so without the exits to Go a collection started
// while the guest spins would wait for it, with every other goroutine (the
// timer that stops the guest included) stopped. The check runs in a child
// process, which the parent kills if it hangs.
func TestSpinningGuestDoesNotStallTheCollector(t *testing.T) {
	if os.Getenv("AIRLOCK_TEST_GC_CHILD") == "1" {
		gcChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpinningGuestDoesNotStallTheCollector$", "-test.v")
	cmd.Env = append(os.Environ(), "AIRLOCK_TEST_GC_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil || !strings.Contains(out.String(), "collections done") {
			t.Fatalf("child: %v\n%s", err, out.String())
		}
		t.Log(strings.TrimSpace(out.String()))
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatalf("the host hung: a collection waited for the spinning guest\n%s", out.String())
	}
}

// gcChild runs a guest that spins for 2 s (then its time is up) and forces
// collections meanwhile; each must finish long before the guest does.
func gcChild() {
	e, err := New(context.Background(), Config{CacheDir: "-"})
	if err != nil {
		panic(err)
	}
	m := NewModule("spin", wasmModule{memory: true, funcs: []wasmFunc{{body: spinLoop}}}.bytes())
	if err := e.Precompile(context.Background(), m, 0, InterruptInstrument); err != nil {
		panic(err)
	}
	p := policy.Default(os.TempDir())
	p.Limits.Timeout = 2 * time.Second
	done := make(chan *Result, 1)
	go func() {
		res, err := e.Run(context.Background(), Spec{Module: m, Policy: p, Interrupt: InterruptInstrument})
		if err != nil {
			panic(err)
		}
		done <- res
	}()
	time.Sleep(300 * time.Millisecond) // the guest is spinning
	var slowest time.Duration
	for range 5 {
		start := time.Now()
		goruntime.GC()
		slowest = max(slowest, time.Since(start))
	}
	res := <-done
	fmt.Printf("collections done while the guest spun, slowest %v; the run ended: %s after %v\n", slowest, res.Reason, res.Duration.Round(time.Millisecond))
	if slowest > time.Second || res.Reason != Timeout {
		fmt.Println("FAIL")
		os.Exit(1)
	}
}
