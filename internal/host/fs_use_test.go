//go:build linux

package host

import (
	"slices"
	"sync"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/airlockhq/airlock/decision"
)

// The policy filesystem reports to the gate's observer what succeeded, as
// read or write, and nothing that a rule refused: a refused operation can
// never be learned as a grant.
func TestFSReportsUsesThatSucceededOnly(t *testing.T) {
	w := newWorld(t)
	w.file("src/a.txt", "a")
	w.file(".env", "SECRET=1")
	w.file(".git/config", "[core]")
	f, gate := w.fs(defaultOpts())
	var mu sync.Mutex
	var got []string
	gate.Observe(func(u decision.Use) {
		mu.Lock()
		defer mu.Unlock()
		if u.Done {
			got = append(got, string(u.Kind)+" "+u.Op+" "+u.Mount+" "+u.Path)
		}
	})
	if _, e := readAll(t, f, "src/a.txt"); e != 0 {
		t.Fatal(e)
	}
	wantFail(t, "read .env", openErr(f, ".env", experimentalsys.O_RDONLY))
	wantFail(t, "write .git/config", openErr(f, ".git/config", experimentalsys.O_WRONLY))
	wantErrno(t, "create out.txt", openErr(f, "out.txt", experimentalsys.O_WRONLY|experimentalsys.O_CREAT), 0)
	wantErrno(t, "mkdir d", f.Mkdir("d", 0o755), 0)
	wantFail(t, "mkdir .git/hooks", f.Mkdir(".git/hooks", 0o755))
	wantErrno(t, "rename", f.Rename("out.txt", "d/out.txt"), 0)
	wantFail(t, "rename onto .env", f.Rename("d/out.txt", "x/.env"))
	if _, e := f.Stat("missing"); e == 0 {
		t.Fatal("missing exists")
	}
	want := []string{
		"fs.read open /work src/a.txt",
		"fs.write open /work out.txt",
		"fs.write mkdir /work d",
		"fs.write rename /work d/out.txt", "fs.write rename /work out.txt",
	}
	if !slices.Equal(got, want) {
		t.Errorf("uses\n%q\nwant\n%q", got, want)
	}
	// A revoked gate reports nothing more: the operation fails, and fails
	// before any use is noted.
	gate.Revoke()
	if _, e := readAll(t, f, "src/a.txt"); e == 0 {
		t.Error("a read after Revoke succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("a use was reported after Revoke: %q", got[len(want):])
	}
}
