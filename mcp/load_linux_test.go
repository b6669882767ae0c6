package mcp_test

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/mcp"
)

// Load on the server: many callers at once, memory under the cap, and a
// long run of calls that leaves nothing behind.
//
//	go test ./mcp -run TestSixtyFour
//	go test ./mcp -run '^$' -bench 'Load|Soak' -benchtime 10000x

// residentBytes is this process's resident memory (/proc/self/statm).
func residentBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// peakSampler samples resident memory and the runs in progress until
// stopped.
type peakSampler struct {
	stop        chan struct{}
	done        chan struct{}
	rss         atomic.Int64
	running     atomic.Int64
	base        int64
	samples     atomic.Int64
	sampleEvery time.Duration
}

func samplePeaks(t testing.TB, e *env) *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{}), base: residentBytes(t), sampleEvery: 2 * time.Millisecond}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(s.sampleEvery):
			}
			if r := residentBytes(t); r > s.rss.Load() {
				s.rss.Store(r)
			}
			if n := int64(e.srv.Stats().Running); n > s.running.Load() {
				s.running.Store(n)
			}
			s.samples.Add(1)
		}
	}()
	return s
}

func (s *peakSampler) end() (rssGrowth int64, maxRunning int64) {
	close(s.stop)
	<-s.done
	return s.rss.Load() - s.base, s.running.Load()
}

// sessions connects n clients.
func sessions(t testing.TB, e *env, n int) []*sdk.ClientSession {
	var css []*sdk.ClientSession
	for range n {
		css = append(css, e.connect(t, inMemory, nil))
	}
	return css
}

// hammer makes n calls from callers goroutines spread over the sessions
// css, and returns how many failed and how long it took.
func hammer(t testing.TB, css []*sdk.ClientSession, callers, n int, tool string, args func(i int) map[string]any, check func(*sdk.CallToolResult) bool) (failed int64, took time.Duration) {
	t.Helper()
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := css[c%len(css)]
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args(int(i))})
				cancel()
				if err != nil || !check(res) {
					if bad.Add(1) <= 3 {
						msg := fmt.Sprint(err)
						if res != nil {
							msg = texts(res)
						}
						t.Errorf("call %d: %s", i, msg)
					}
				}
			}
		}()
	}
	wg.Wait()
	return bad.Load(), time.Since(start)
}

// Sixty-four callers at once, each run touching most of its memory limit:
// every call is answered, no more runs than the cap are ever in progress,
// and the host's resident memory grows by no more than the cap times the
// memory limit (guest memory is mapped per run and given back at its end).
func TestSixtyFourCallersAllAnsweredMemoryBounded(t *testing.T) {
	const (
		callers = 64
		cap     = 4
		limit   = 64 << 20
		touch   = 40 // MiB each run allocates and makes resident
	)
	e := newEnv(t, func(o *mcp.Options) {
		o.MaxConcurrent = cap
		o.Policy.Limits.Memory = limit
	}, guestTool(t, "touch", "touch", "{mib}"))
	call(t, e.connect(t, inMemory, nil), "touch", map[string]any{"mib": "1"}) // compiled, warm
	goruntime.GC()
	peaks := samplePeaks(t, e)
	failed, took := hammer(t, sessions(t, e, 8), callers, callers, "touch", func(int) map[string]any { return map[string]any{"mib": fmt.Sprint(touch)} },
		func(r *sdk.CallToolResult) bool { return !r.IsError && strings.Contains(texts(r), "touched") })
	growth, running := peaks.end()
	t.Logf("%d calls from %d callers in %v; peak resident growth %d MiB (cap × limit = %d MiB); at most %d running at once; %d samples",
		callers, callers, took.Round(time.Millisecond), growth>>20, cap*limit>>20, running, peaks.samples.Load())
	if failed > 0 {
		t.Fatalf("%d of %d calls failed", failed, callers)
	}
	if running > cap {
		t.Errorf("%d runs at once, over the cap of %d", running, cap)
	}
	// The host's own work (the SDK, results, one compiled module) comes on
	// top: 64 MiB of slack.
	if growth > cap*limit+64<<20 {
		t.Errorf("resident memory grew by %d MiB, over cap × limit (%d MiB) + 64 MiB", growth>>20, cap*limit>>20)
	}
}

// BenchmarkLoad: 64 callers at once against caps of 1, 2 and 4 runs (the
// default cap is 2 × GOMAXPROCS): calls/s, and its ratio to a cap of 1,
// which shows the scaling with cores up to the cap.
func BenchmarkLoad(b *testing.B) {
	per := map[int]float64{}
	for _, cap := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("cap=%d", cap), func(b *testing.B) {
			e := newEnv(b, func(o *mcp.Options) { o.MaxConcurrent = cap }, guestTool(b, "json", "json", "{word}"))
			call(b, e.connect(b, inMemory, nil), "json", map[string]any{"word": "warm"})
			css := sessions(b, e, 8)
			cpu0 := cpuTime()
			b.ResetTimer()
			failed, took := hammer(b, css, 64, b.N, "json", func(i int) map[string]any { return map[string]any{"word": strconv.Itoa(i)} },
				func(r *sdk.CallToolResult) bool { return !r.IsError })
			b.StopTimer()
			if failed > 0 {
				b.Fatalf("%d of %d calls failed", failed, b.N)
			}
			per[cap] = float64(b.N) / took.Seconds()
			b.ReportMetric(per[cap], "calls/s")
			// CPU time per call: flat across caps means the server adds no
			// contention, and calls/s grows with the cores there are.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
			if base := per[1]; base > 0 && cap > 1 {
				b.ReportMetric(per[cap]/base, "x-cap1")
			}
		})
	}
}

// BenchmarkSoak: b.N calls (run it with -benchtime 10000x) from 8 callers;
// afterwards goroutines and file descriptors must be back at their
// baseline, and the live heap within the slack the faults test allows.
func BenchmarkSoak(b *testing.B) {
	e := newEnv(b, nil, guestTool(b, "json", "json", "{word}"))
	css := sessions(b, e, 2)
	for _, cs := range css {
		call(b, cs, "json", map[string]any{"word": "warm"})
	}
	base := measure(b)
	b.ResetTimer()
	failed, took := hammer(b, css, 8, b.N, "json", func(i int) map[string]any { return map[string]any{"word": strconv.Itoa(i)} },
		func(r *sdk.CallToolResult) bool { return !r.IsError })
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d calls failed", failed, b.N)
	}
	after := settled(b, base, 20*time.Second)
	b.ReportMetric(float64(b.N)/took.Seconds(), "calls/s")
	b.ReportMetric(float64(after.goroutines-base.goroutines), "goroutines-delta")
	b.ReportMetric(float64(after.fds-base.fds), "fds-delta")
	b.ReportMetric(float64(int64(after.heap)-int64(base.heap))/(1<<20), "heap-delta-MiB")
	b.Logf("%d calls in %v: baseline %s, after %s", b.N, took.Round(time.Millisecond), base, after)
	if after.goroutines > base.goroutines || after.fds > base.fds || after.images > base.images {
		b.Fatalf("after %d calls the server holds %s, baseline %s", b.N, after, base)
	}
}

// settled returns the server's resources once they are back at base, or
// what they are at the deadline.
func settled(tb testing.TB, base resources, wait time.Duration) resources {
	deadline := time.Now().Add(wait)
	for {
		now := measure(tb)
		if (now.goroutines <= base.goroutines && now.fds <= base.fds && now.images <= base.images) || time.Now().After(deadline) {
			return now
		}
		time.Sleep(50 * time.Millisecond)
	}
}
