//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wall"
)

// BenchmarkWall measures what the second wall costs a run, with the real
// binary: `airlock run --json probe.wasm -- exit 0` on the same project
// with sandbox.landlock "off" (the baseline) and "auto", interleaved so that
// a loaded machine weighs on both alike. It reports each one's wall time
// per run, their ratio, and the time raising the wall took inside airlock
// (the report's took_ms, free of process start-up noise), mean and median:
//
//	go test -run '^$' -bench Wall -benchtime 20x ./cmd/airlock/
func BenchmarkWall(b *testing.B) {
	if abi, why := wall.Probe(); abi == 0 {
		b.Skip(why)
	}
	dir := b.TempDir()
	for name, pol := range map[string]string{"off": "off", "auto": "auto"} {
		src := "mount \"/work\" {\n  host = \".\"\n  access = \"write\"\n}\nsandbox {\n  landlock = \"" + pol + "\"\n}\n"
		if err := os.WriteFile(filepath.Join(dir, name+".hcl"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	env := []string{"XDG_CONFIG_HOME=" + b.TempDir(), "AIRLOCK_MANAGED_POLICY="}
	run := func(name string) (time.Duration, float64) {
		start := time.Now()
		r := runCLI(b, dir, "", env, "run", "--headless", "--audit=off", "--policy", name+".hcl", "--json", probeWasm, "--", "exit", "0")
		d := time.Since(start)
		if r.code != 0 {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		rep := parseReport(b, r.stderr)
		if up := rep.Landlock.Up; up != (name == "auto") {
			b.Fatalf("%s: the wall up = %v", name, up)
		}
		return d, rep.Landlock.TookMS
	}
	run("off") // compile once
	run("auto")
	var off, auto time.Duration
	var took []float64
	for b.Loop() {
		d, _ := run("off")
		off += d
		d, ms := run("auto")
		auto += d
		took = append(took, ms)
	}
	n := float64(b.N)
	b.ReportMetric(float64(off.Microseconds())/1000/n, "off-ms/run")
	b.ReportMetric(float64(auto.Microseconds())/1000/n, "auto-ms/run")
	b.ReportMetric(float64(auto)/float64(off), "auto/off")
	// Raising the wall waits for every thread of the process to make the
	// system call: on a loaded machine a few runs wait for the scheduler,
	// so the median is reported beside the mean.
	sum := 0.0
	for _, ms := range took {
		sum += ms
	}
	slices.Sort(took)
	b.ReportMetric(sum/n, "wall-ms/run")
	b.ReportMetric(took[len(took)/2], "wall-p50-ms")
}
