package telemetry_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

// TestThreadHostCallsCarryTheThreadID runs the wasi-threads guest
// (testdata/threads) with eight threads on a read-only mount: every host
// call's span says which thread made it (thread.id; 0 is the main thread),
// and each of the nine denied writes is either on the span of the
// path_open that caused it or, when calls of several threads overlapped,
// an event of the run span: never on the span of another call.
func TestThreadHostCallsCarryTheThreadID(t *testing.T) {
	b, err := os.ReadFile("../testdata/threads/threads.wasm")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, telemetry.Config{})
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "in.txt"), []byte("input data\n"), 0o644)
	os.WriteFile(filepath.Join(work, "victim.txt"), []byte("original\n"), 0o644)
	p := policy.Default(work)
	p.Mounts = p.Mounts[:1]
	p.Mounts[0].Access = policy.Read
	var out bytes.Buffer
	res, err := h.eng.Run(context.Background(), runtime.Spec{Module: runtime.NewModule("threads", b), Args: []string{"run", "8"},
		Stdout: &out, Policy: p, Interrupt: runtime.InterruptInstrument})
	if err != nil || res.ExitCode != 0 || res.Threads != 8 {
		t.Fatalf("%v %+v\n%s", err, res, out.String())
	}
	h.shutdown(t)

	threads := map[int64]int{}
	onSpans, onRun := 0, 0
	for _, s := range h.spans.GetSpans().Snapshots() {
		a := spanAttrs(s)
		if s.Name() == telemetry.SpanRun {
			for _, ev := range s.Events() {
				if ev.Name == telemetry.EventDecision {
					onRun++
				}
			}
			continue
		}
		tid, ok := a[telemetry.AttrThread]
		if !ok {
			t.Errorf("span %s has no %s: %v", s.Name(), telemetry.AttrThread, s.Attributes())
			continue
		}
		threads[tid.AsInt64()]++
		if _, ok := a[telemetry.AttrDecision]; ok {
			if s.Name() != "path_open" || a[telemetry.AttrPath].AsString() != "victim.txt" {
				t.Errorf("a decision on the wrong span: %s %v", s.Name(), s.Attributes())
			}
			onSpans++
		}
	}
	for tid := int64(0); tid <= 8; tid++ {
		if threads[tid] == 0 {
			t.Errorf("no span of thread %d (spans by thread: %v)", tid, threads)
		}
	}
	if onSpans+onRun != 9 {
		t.Errorf("%d decisions on call spans and %d on the run span, want 9 in all", onSpans, onRun)
	}
	t.Logf("decisions on their call's span: %d, on the run span: %d", onSpans, onRun)
}
