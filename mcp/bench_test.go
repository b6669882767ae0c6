package mcp_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Benchmarks of the MCP server (figures in the README):
//
//	go test ./mcp -run '^$' -bench . -benchtime 200x
//
// BenchmarkInstantiate is the cost below MCP: one run of a Go guest that
// exits at once (instantiate, _start, close), from the compiled module.
// BenchmarkCall is a whole tools/call of the same kind of small tool
// (argv template, run, result), over the in-memory transport, at 1, 8 and
// 64 calls in flight; the server's cap is its default, 2 × GOMAXPROCS, so
// at 8 and 64 calls wait in its queue. BenchmarkMemoryPerCall holds 32 calls
// running at once and reports the memory each adds.

func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	mod, err := engine.Load(ctx, guestWasm)
	if err != nil {
		b.Fatal(err)
	}
	pol := policy.Default(b.TempDir())
	if err := engine.Precompile(ctx, mod, pol.Limits.Memory, runtime.InterruptInstrument); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := engine.Run(ctx, runtime.Spec{Module: mod, Args: []string{"noop"}, Policy: pol, Interrupt: runtime.InterruptInstrument})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(err, res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/run")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/run")
}

func BenchmarkCall(b *testing.B) {
	for _, conc := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			e := newEnv(b, nil, guestTool(b, "json", "json", "{word}"))
			cs := e.connect(b, inMemory, nil)
			call(b, cs, "json", map[string]any{"word": "warm"})

			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "json", Arguments: map[string]any{"word": strconv.Itoa(int(i))}})
						lat[i] = time.Since(t0)
						if err != nil || res.IsError {
							b.Errorf("call %d: %v %s", i, err, texts(res))
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
			// The server's and the client's CPU per call: on a busy machine,
			// what a call costs when latency says little.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
		})
	}
}

func BenchmarkMemoryPerCall(b *testing.B) {
	const n = 32
	e := newEnv(b, func(o *mcp.Options) { o.MaxConcurrent = n }, guestTool(b, "sleep", "sleep", "{ms}"))
	cs := e.connect(b, inMemory, nil)
	call(b, cs, "sleep", map[string]any{"ms": "1"})
	// One measurement, whatever b.N: each holds n calls for over a second.
	// The live Go heap is what counts: a guest's linear memory is a Go
	// slice. (Resident memory says less: heap freed by earlier work is
	// reused and hides the growth.)
	var heapPerCall float64
	{
		goruntime.GC()
		var ms0 goruntime.MemStats
		goruntime.ReadMemStats(&ms0)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				call(b, cs, "sleep", map[string]any{"ms": "1500"})
			}()
		}
		// Sample while all n are sleeping.
		var peakHeap uint64
		maxRunning := 0
		deadline := time.Now().Add(1200 * time.Millisecond)
		for time.Now().Before(deadline) {
			st := e.srv.Stats()
			maxRunning = max(maxRunning, st.Running)
			if st.Running == n {
				var m goruntime.MemStats
				goruntime.ReadMemStats(&m)
				peakHeap = max(peakHeap, m.HeapAlloc)
			}
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		if peakHeap == 0 {
			b.Fatalf("never saw all %d calls running at once (at most %d)", n, maxRunning)
		}
		heapPerCall = float64(peakHeap-ms0.HeapAlloc) / n
	}
	b.ReportMetric(heapPerCall/(1<<20), "MiB-heap/call")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkHeavyCall: a compute-heavy grep (an RE2 pattern over 15 MB of
// text) as a tools/call through the server, against the same grep as a
// one-shot `airlock run` process (abandon mode: no interruption cost), in
// one run. x-airlock-run is what stopping runaways inside a long-lived
// server costs a heavy call (the target is at most 1.2).
func BenchmarkHeavyCall(b *testing.B) {
	e := newEnv(b, nil, grepTool(b))
	var text bytes.Buffer
	words := []string{"alpha", "beta", "gamma", "delta", "TODO", "x12", "q", "lorem", "ipsum", "func", "return"}
	for i := 0; text.Len() < 15<<20; i++ {
		text.WriteString(words[(i*7+i/13)%len(words)])
		if i%300_000 == 0 {
			text.WriteString(" x123qmatch") // a few lines match
		}
		if i%9 == 8 {
			text.WriteByte('\n')
		} else {
			text.WriteByte(' ')
		}
	}
	if err := os.WriteFile(filepath.Join(e.work, "big.txt"), text.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	const pattern = `x1[0-9]{2}q[a-z]+`
	per := map[string]float64{}
	measure := func(name string, f func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			f(b) // warm: compiled, cached, file in the page cache
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				f(b)
			}
			per[name] = float64(time.Since(start)) / float64(b.N)
			if base := per["airlock-run"]; base > 0 && name != "airlock-run" {
				b.ReportMetric(per[name]/base, "x-airlock-run")
			}
		})
	}
	bin := airlockBinary(b)
	measure("airlock-run", func(b *testing.B) {
		cmd := exec.Command(bin, "run", grepWasm, "--headless", "--audit=off", "--", "-c", pattern, "/work/big.txt")
		cmd.Dir = e.work
		cmd.Env = append(os.Environ(), "AIRLOCK_CACHE_DIR="+compileCache())
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	})
	cs := e.connect(b, inMemory, nil)
	measure("mcp", func(b *testing.B) {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "grep", Arguments: map[string]any{"pattern": pattern, "paths": []string{"/work/big.txt"}}})
		if err != nil {
			b.Fatal(err)
		}
		if res.IsError || !strings.Contains(texts(res), "x123qmatch") {
			b.Fatalf("grep: %s", texts(res))
		}
	})
}
