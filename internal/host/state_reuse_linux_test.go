package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/policy"
)

// A run reuses the last run's State (its index of the state's folders by
// device and inode) only while nothing in the state changed: a folder made
// in the compile cache after the index was built, and shown elsewhere by a
// bind mount, is refused to the tool all the same.
func TestStateIsReusedOnlyWhileUnchanged(t *testing.T) {
	w := newStateWorld(t)
	guard := func(s *State, host string) *FS {
		t.Helper()
		f, err := NewFS(policy.Mount{Guest: "/work", Host: host, Access: policy.Write, Origin: testOrigin}, NewGate(context.Background(), nil, nil), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := f.GuardState(s); err != nil {
			t.Fatal(err)
		}
		return f
	}
	prev := NewState(w.paths)
	guard(prev, w.home) // builds the index
	if s := NewStateLike(w.paths, prev); s != prev {
		t.Fatal("nothing changed, yet the State was not reused")
	}

	// A new folder in the cache, shown elsewhere.
	fresh := filepath.Join(w.home, ".cache/airlock/compiled/fresh")
	if err := os.Mkdir(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(w.home), "other")
	if err := os.MkdirAll(filepath.Join(other, "fresh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(fresh, filepath.Join(other, "fresh"), "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mounts need root and a kernel that allows them here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(other, "fresh"), unix.MNT_DETACH) })

	s := NewStateLike(w.paths, prev)
	if s == prev {
		t.Error("a folder was added to the compile cache, yet the old State was reused")
	}
	got := runGuest(t, guard(s, other), "write:/work/fresh/crafted:x")
	if got[0] != "write err EACCES perm=true notexist=false" {
		t.Fatalf("writing into the new cache folder through a bind mount: %s", got[0])
	}
	if _, err := os.Stat(filepath.Join(fresh, "crafted")); err == nil {
		t.Fatal("the tool wrote into the compile cache")
	}
	// And the new State is reused in turn.
	if s2 := NewStateLike(w.paths, s); s2 != s {
		t.Error("nothing changed since, yet the new State was not reused")
	}
}
