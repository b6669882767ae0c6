package runtime_test

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/runtime"
)

// inotifyFDs counts this process's inotify descriptors.
func inotifyFDs(t *testing.T) int {
	return countFDs(t, func(link string) bool { return link == "anon_inode:inotify" })
}

// The one run of a OneShot engine (airlock run, a warm worker) keeps no
// inotify watch on airlock's state: nothing runs after it to reuse the
// state's index (host.NewStateOnce), and closing a descriptor that watched
// took 7-13 ms of a 21 ms cold run. An engine that runs again (airlock
// mcp) keeps one, for its next run to find the state unchanged. A OneShot
// engine still guards its state: the cold runs of cmd/airlock's
// TestRunToolCannotTouchTheCompileCache and TestGuestCannotWriteGrants
// are OneShot.
func TestOneShotRunWatchesNothing(t *testing.T) {
	for _, tc := range []struct {
		oneShot bool
		want    int
	}{{true, 0}, {false, 1}} {
		before := inotifyFDs(t)
		e, err := runtime.New(context.Background(), runtime.Config{CacheDir: t.TempDir(), OneShot: tc.oneShot})
		if err != nil {
			t.Fatal(err)
		}
		res, _, stderr, _ := runProbe(t, run{engine: e, args: []string{"exit", "0"}})
		if res.ExitCode != 0 {
			t.Fatalf("OneShot %v: %q", tc.oneShot, stderr)
		}
		if got := inotifyFDs(t) - before; got != tc.want {
			t.Errorf("OneShot %v: %d inotify descriptors after its run, want %d", tc.oneShot, got, tc.want)
		}
		e.Close(context.Background())
		if got := inotifyFDs(t) - before; got != 0 {
			t.Errorf("OneShot %v: %d inotify descriptors after Close", tc.oneShot, got)
		}
	}
}
