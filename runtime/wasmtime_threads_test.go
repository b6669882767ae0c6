//go:build wasmtime

package runtime

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkWasmtimeThreadsSetup measures what a run with threads costs on
// wasmtime beyond any run: its shared memory and its copy of the engine's
// linker (newWasmtimeThreads, then close), against what every run pays,
// a store with its stop switch and one instantiation of the same module.
// It reports the extra cost as a ratio of that baseline.
//
//	go test -tags wasmtime -run '^$' -bench WasmtimeThreadsSetup ./runtime/
func BenchmarkWasmtimeThreadsSetup(b *testing.B) {
	ctx := context.Background()
	bytes, err := os.ReadFile("../testdata/threads/threads.wasm")
	if err != nil {
		b.Fatal(err)
	}
	be, err := newWasmtime(ctx, Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	wb := be.(*wasmtimeBackend)
	defer wb.close()
	m := NewModule("threads", bytes)
	mod, err := wb.compile(m)
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{}
	ti := e.threadsOf(m)
	var base float64
	b.Run("store and instance (every run)", func(b *testing.B) {
		t, err := wb.newWasmtimeThreads(mod, ti, -1, pagesFor(0))
		if err != nil {
			b.Fatal(err)
		}
		defer t.close()
		start := time.Now()
		for b.Loop() {
			gs, err := wb.newGuestStore(ctx, -1, t.shared)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := t.instantiate(gs); err != nil {
				b.Fatal(err)
			}
			gs.close()
		}
		base = float64(time.Since(start)) / float64(b.N)
	})
	b.Run("shared memory and linker copy (threads only)", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			t, err := wb.newWasmtimeThreads(mod, ti, -1, pagesFor(0))
			if err != nil {
				b.Fatal(err)
			}
			t.close()
		}
		if base > 0 {
			b.ReportMetric(float64(time.Since(start))/float64(b.N)/base, "x-store-and-instance")
		}
	})
	// Waking the waiters of a memory of 64 pages (4 MiB), what a run that
	// ends with threads still alive does every 20 ms until they are gone.
	b.Run("wake 4 MiB (threads left at the end)", func(b *testing.B) {
		mem, err := newSharedMemory(wb.engine, 64, 64)
		if err != nil {
			b.Fatal(err)
		}
		defer mem.close()
		w, err := wb.newMemoryWaker(mem)
		if err != nil {
			b.Fatal(err)
		}
		defer w.close()
		start := time.Now()
		for b.Loop() {
			if err := w.wake(mem.size()); err != nil {
				b.Fatal(err)
			}
		}
		if base > 0 {
			b.ReportMetric(float64(time.Since(start))/float64(b.N)/base, "x-store-and-instance")
		}
	})
}

// TestWasmtimeWakeModuleRuns: the module that wakes a shared memory's
// waiters compiles and notifies every aligned address of a memory without
// going past its end (which would trap). That it wakes a waiter is
// TestThreadsStopWhenTheRunEnds's "a waiting thread".
func TestWasmtimeWakeModuleRuns(t *testing.T) {
	be, err := newWasmtime(context.Background(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wb := be.(*wasmtimeBackend)
	defer wb.close()
	mem, err := newSharedMemory(wb.engine, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.close()
	w, err := wb.newMemoryWaker(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if got := len(mem.data()); got != 64<<10 {
		t.Fatalf("memory of %d bytes", got)
	}
	if err := w.wake(mem.size()); err != nil {
		t.Fatal(err)
	}
	if err := w.wake(mem.size() + 4); err == nil {
		t.Fatal("a wake past the end did not trap: the module does not notify up to the end it is given")
	}
}
