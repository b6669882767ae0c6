package runtime_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

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
