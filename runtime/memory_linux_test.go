package runtime_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// residentBytes is this process's resident memory, from /proc/self/statm.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// A guest's memory is a mapping of its own, given back to the system when
// the run ends: a host that runs many tools one after another (the MCP
// server) holds none of their memory between runs, whatever its garbage
// collector does.
func TestGuestMemoryIsGivenBackWhenTheRunEnds(t *testing.T) {
	const mib = 200
	base := residentBytes(t)
	for i := range 3 {
		res, out, stderr, _ := runProbe(t, run{
			args:   []string{"alloc", strconv.Itoa(mib)},
			mutate: func(p *policy.Policy) { p.Limits.Memory = 256 << 20 },
		})
		if res.Reason != runtime.Exited || res.ExitCode != 0 || !strings.HasPrefix(out, "allocated") {
			t.Fatalf("run %d: %s %d %q %q", i, res.Reason, res.ExitCode, out, stderr)
		}
		if res.Memory < mib<<20 {
			t.Fatalf("run %d: the guest's memory was %d bytes, want at least %d MiB", i, res.Memory, mib)
		}
		if grew := residentBytes(t) - base; grew > mib<<20/2 {
			t.Fatalf("after run %d the host holds %d MiB more than before it (the guest touched %d MiB): its memory was not given back", i, grew>>20, mib)
		}
	}
}

// memoryImages counts this process's descriptors of memory images.
func memoryImages(t *testing.T) int {
	return countFDs(t, func(link string) bool { return strings.HasPrefix(link, "/memfd:airlock-memory-image") })
}

// countFDs counts this process's descriptors whose /proc/self/fd link
// match says yes to.
func countFDs(t *testing.T, match func(link string) bool) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + f.Name()); match(l) {
			n++
		}
	}
	return n
}

// A compiled module holds one memory image, however many times it runs,
// and closing the engine closes it.
func TestMemoryImagesLiveWithTheEngine(t *testing.T) {
	before := memoryImages(t)
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Default(t.TempDir())
	for range 5 {
		if res, err := e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"exit", "0"}, Policy: p}); err != nil || res.ExitCode != 0 {
			t.Fatal(err, res)
		}
	}
	if n := memoryImages(t) - before; n != 1 {
		t.Errorf("after 5 runs of one module: %d memory images, want 1", n)
	}
	e.Close(context.Background())
	if n := memoryImages(t) - before; n != 0 {
		t.Errorf("after the engine closed: %d memory images left open", n)
	}
}

// An abandoned guest (InterruptAbandon: its time is up, it spins on with
// no capability until the process exits) keeps its memory mapped even when
// the engine closes, which closes every module: unmapping it under the
// spinning guest crashed the whole process with SIGSEGV before the
// process could write its report and exit. Checked in a child process.
func TestAbandonedGuestKeepsItsMemoryWhenTheEngineCloses(t *testing.T) {
	if os.Getenv("AIRLOCK_TEST_ABANDON_CHILD") == "1" {
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: "-"})
		if err != nil {
			panic(err)
		}
		p := policy.Default(os.TempDir())
		p.Limits.Timeout = 300 * time.Millisecond
		res, err := e.Run(context.Background(), runtime.Spec{Module: probe, Args: []string{"churn"}, Policy: p, Interrupt: runtime.InterruptAbandon})
		if err != nil || res.Reason != runtime.Timeout {
			panic(fmt.Sprint(err, res))
		}
		e.Close(context.Background())
		time.Sleep(500 * time.Millisecond) // the guest spins on meanwhile
		fmt.Println("still alive")
		os.Exit(0) // the spinning guest dies with the process, as under airlock run
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAbandonedGuestKeepsItsMemoryWhenTheEngineCloses$")
	// Under -race the detector sees Close clear the abandoned module's
	// state while its guest still calls WASI (wazero's
	// ensureResourcesClosed against clock_time_get), which is what
	// abandoning a guest means, and would end the child with status 66;
	// what this test checks is that the process survives.
	cmd.Env = append(os.Environ(), "AIRLOCK_TEST_ABANDON_CHILD=1", "GORACE=exitcode=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "still alive") {
		t.Fatalf("the process did not survive closing the engine under an abandoned guest: %v\n%s", err, firstLines(string(out), 8))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// pageTimes runs the probe's pagetimes mode on e and returns the address
// of its allocation and the nanoseconds each 64 KiB of it took to read.
func pageTimes(t *testing.T, e *runtime.Engine, mib int) (uint64, []int64) {
	t.Helper()
	res, out, stderr, _ := runProbe(t, run{engine: e, args: []string{"pagetimes", strconv.Itoa(mib)},
		mutate: func(p *policy.Policy) { p.Limits.Memory = 256 << 20 }})
	if res.Reason != runtime.Exited || res.ExitCode != 0 {
		t.Fatalf("pagetimes: %s %d %q", res.Reason, res.ExitCode, stderr)
	}
	f := strings.Fields(out)
	addr, _ := strconv.ParseUint(f[0], 10, 64)
	ns := make([]int64, len(f)-1)
	for i, s := range f[1:] {
		ns[i], _ = strconv.ParseInt(s, 10, 64)
	}
	return addr, ns
}

// A tool cannot learn from the time its first reads take how much memory
// the last run of it used. The guest reads one byte of each page of a
// large fresh allocation, timing each 64 KiB; the pages it reads first are
// the window a reset keeps resident. Found by the red-team pass on reused
// memory: on this machine (a paravirtualised guest), after a last run that
// used 20 MiB the part of the window in the 2 MiB around its end cost
// about 6 us a page on first touch, after one that used 8 MiB not, though
// the guest kernel counted those pages resident and no fault for them:
// giving back the memory past the window (MADV_DONTNEED) made the host
// take back what backed its neighbours. The reset now gives it back first
// and writes the window after, so it pays that cost itself
// (resetMemory). A block counts only if it differs in both of two rounds:
// one slow read in a thousand is the scheduler, not the last run. It also
// runs with huge pages "always" (HugePagesAlways), which the
// MADV_NOHUGEPAGE of a reusable mapping covers.
func TestNextRunCannotTimeTheLastRunsMemory(t *testing.T) {
	runtime.HugePagesAlways(t)
	e := engine(t)
	limit := func(p *policy.Policy) { p.Limits.Memory = 256 << 20 }
	for range 2 { // the first run's mapping is never reused
		runProbe(t, run{engine: e, args: []string{"exit", "0"}, mutate: limit})
	}
	// times[victim][round] is each block's time, by address.
	times := map[int]*[2]map[uint64]int64{8: {}, 20: {}}
	measure := func(victim, round int) {
		res, _, stderr, _ := runProbe(t, run{engine: e, args: []string{"alloc", strconv.Itoa(victim)}, mutate: limit})
		if res.ExitCode != 0 {
			t.Fatalf("alloc %d: %q", victim, stderr)
		}
		addr, ns := pageTimes(t, e, 64)
		times[victim][round] = map[uint64]int64{}
		for i, d := range ns {
			times[victim][round][addr+uint64(i)<<16] = d
		}
	}
	measure(8, 0)
	measure(20, 0)
	measure(8, 1)
	measure(20, 1)
	// 16 reads of resident pages take 1-4 us on the machines of the CI
	// kind, 16 page faults 15-30 us, the one block the window's end
	// cuts 5-10. A block tells the last run's size when it reads
	// several times faster after one size than after the other, in
	// both rounds (one slow read in a thousand is the scheduler). A
	// fixed line at 20 us instead counted the faults of a quicker
	// machine as resident reads (CI, 2026-12-04: 292 blocks past the
	// window "fast" after one size and not the other, where no page
	// can be resident after MADV_DONTNEED), and a line at a third of
	// the median put the cut block on either side by chance. A reset
	// that kept resident half of what the last run used past the window
	// fails it (about 50 blocks, in each of 3 tries).
	const factor = 3
	var diff []uint64
	for a, s0 := range times[8][0] {
		s1, l0, l1 := times[8][1][a], times[20][0][a], times[20][1][a]
		if min(l0, l1) >= factor*max(s0, s1) || min(s0, s1) >= factor*max(l0, l1) {
			diff = append(diff, a)
		}
	}
	slices.Sort(diff)
	if len(diff) > 0 {
		var shown []string
		for _, a := range diff[:min(len(diff), 8)] {
			shown = append(shown, fmt.Sprintf("%#x (ns after 8, 20, 8, 20 MiB: %d %d %d %d)", a, times[8][0][a], times[20][0][a], times[8][1][a], times[20][1][a]))
		}
		t.Fatalf("%d of the guest's 64 KiB blocks read %dx faster after both runs of 8 MiB than after both of 20 MiB, or the reverse: %s", len(diff), factor, strings.Join(shown, ", "))
	}
}
