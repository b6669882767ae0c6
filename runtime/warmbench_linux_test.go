package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchWarm measures runs (name, then the command) handed to a warm
// worker, started with airlock warm start (not a child of this process,
// which runCounted waits for every child of).
func benchWarm(b *testing.B, airlock, work, cache string, per map[string]float64, runs [][]string) {
	env := append(os.Environ(), "AIRLOCK_CACHE_DIR="+cache, "AIRLOCK_WARM_SOCKET="+filepath.Join(b.TempDir(), "warm.sock"))
	start := exec.Command(airlock, "warm", "start", "--idle", "10m")
	start.Env = env
	if out, err := start.CombinedOutput(); err != nil {
		b.Logf("no warm server: %v: %s", err, out)
		return
	}
	defer func() {
		stop := exec.Command(airlock, "warm", "stop")
		stop.Env = env
		stop.Run()
	}()
	status := func() map[string]int {
		c := exec.Command(airlock, "warm", "status")
		c.Env = env
		out, err := c.Output()
		if err != nil {
			b.Fatalf("airlock warm status: %v", err)
		}
		st := map[string]int{}
		for line := range strings.Lines(string(out)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			st[k], _ = strconv.Atoi(v)
		}
		return st
	}
	// settled waits until one worker waits, prepared, and no other is left.
	settled := func() map[string]int {
		for deadline := time.Now().Add(time.Minute); ; {
			st := status()
			if st["ready"] == 1 && st["workers"] == 1 {
				return st
			}
			if time.Now().After(deadline) {
				b.Fatalf("the warm server never settled: %v", st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, r := range runs {
		name, argv := r[0], r[1:]
		b.Run(name, func(b *testing.B) {
			cmd := func() *exec.Cmd {
				c := exec.Command(argv[0], argv[1:]...)
				c.Dir = work
				c.Env = env
				return c
			}
			if out, err := cmd().CombinedOutput(); err != nil { // the next workers prepare it
				b.Skipf("%s: %v: %s", name, err, out)
			}
			before := settled()
			b.ResetTimer()
			var wall, cpu time.Duration
			for i := 0; i < b.N; i++ {
				if i > 0 {
					b.StopTimer()
					settled()
					b.StartTimer()
				}
				t := time.Now()
				used, out, err := runCounted(cmd())
				wall += time.Since(t)
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				cpu += used
			}
			b.StopTimer()
			after := settled()
			if served := after["served"] - before["served"]; served != b.N {
				b.Fatalf("the server served %d of %d runs", served, b.N)
			}
			bg := time.Duration(after["worker-cpu-us"]-before["worker-cpu-us"]+after["server-cpu-us"]-before["server-cpu-us"]) * time.Microsecond
			per[name] = float64(wall) / float64(b.N)
			all := float64(cpu+bg) / float64(b.N)
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms")
			b.ReportMetric(all/1e6, "all-cpu-ms")
			if base := per["bwrap-native"]; base > 0 {
				b.ReportMetric(per[name]/base, "x-bwrap")
				b.ReportMetric(all/per["bwrap-native/cpu"], "cpu-x-bwrap")
			}
		})
	}
}
