package main

import (
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
