package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// A one-shot `airlock run` of a 3 MB Go tool collects no garbage: its
// start makes about 11 MB, which Go's first goals (4, 7, 8, 11 MB) made
// four collections of, a fifth of the start's CPU (runtime.Config.OneShot).
// The person's GOGC still decides when they set it.
func TestOneShotRunCollectsNothing(t *testing.T) {
	dir := t.TempDir()
	gcLine := regexp.MustCompile(`(?m)^gc \d+ @`)
	runCLI(t, dir, "", nil, "run", probeWasm, "--", "exit", "0") // compiled and cached
	r := runCLI(t, dir, "", []string{"GODEBUG=gctrace=1", "GOGC=", "GOMEMLIMIT="}, "run", probeWasm, "--", "exit", "0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := len(gcLine.FindAllString(r.stderr, -1)); n != 0 {
		t.Fatalf("%d collections in a one-shot run:\n%s", n, r.stderr)
	}
	r = runCLI(t, dir, "", []string{"GODEBUG=gctrace=1", "GOGC=100"}, "run", probeWasm, "--", "exit", "0")
	if r.code != 0 || !gcLine.MatchString(r.stderr) {
		t.Fatalf("with GOGC=100 set, no collection (exit %d):\n%s", r.code, r.stderr)
	}
}

// sharedMemoryModule is a module that imports a shared memory of
// maxPages wasm pages (as a module with threads does) and exits 0: airlock
// makes that memory, and wazero keeps it on the Go heap.
func sharedMemoryModule(maxPages int) []byte {
	leb := func(n int) []byte {
		var out []byte
		for {
			b := byte(n & 0x7f)
			if n >>= 7; n == 0 {
				return append(out, b)
			}
			out = append(out, b|0x80)
		}
	}
	var b []byte
	b = append(b, "\x00asm\x01\x00\x00\x00"...)
	b = append(b, 0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00) // types: (i32)->(), ()->()
	imp := []byte{0x02, 22}
	imp = append(imp, "wasi_snapshot_preview1"...)
	imp = append(imp, 9)
	imp = append(imp, "proc_exit"...)
	imp = append(imp, 0x00, 0x00, 3)
	imp = append(imp, "env"...)
	imp = append(imp, 6)
	imp = append(imp, "memory"...)
	imp = append(imp, 0x02, 0x03) // a memory: shared, with a maximum
	imp = append(append(imp, leb(maxPages)...), leb(maxPages)...)
	b = append(b, 0x02)
	b = append(append(b, leb(len(imp))...), imp...)
	b = append(b, 0x03, 0x02, 0x01, 0x01) // one function of type 1
	exp := []byte{0x01, 6}
	exp = append(exp, "_start"...)
	exp = append(exp, 0x00, 0x01)
	b = append(b, 0x07, byte(len(exp)))
	b = append(b, exp...)
	b = append(b, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0x10, 0x00, 0x0b) // i32.const 0; call proc_exit
	return b
}

// A module whose 256 MiB shared memory lives on the Go heap (threads) does
// not make a one-shot run collect at every chance: the collector's limit
// holds the guest's memory too (found in review: three collections with a
// goal of 0 MB before the guest ran).
func TestOneShotRunWithASharedMemoryDoesNotThrash(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "shared.wasm")
	if err := os.WriteFile(wasm, sharedMemoryModule(4096), 0o644); err != nil {
		t.Fatal(err)
	}
	gcLine := regexp.MustCompile(`(?m)^gc \d+ @`)
	env := []string{"GODEBUG=gctrace=1", "GOGC=", "GOMEMLIMIT="}
	runCLI(t, dir, "", env, "run", "--memory", "256MiB", wasm) // compiled and cached
	r := runCLI(t, dir, "", env, "run", "--memory", "256MiB", wasm)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := len(gcLine.FindAllString(r.stderr, -1)); n != 0 {
		t.Fatalf("%d collections in a one-shot run of a module with a 256 MiB shared memory:\n%s", n, r.stderr)
	}
}
