//go:build linux

package host

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// roAsk is a read-only mount whose writes are asked about; answer decides
// each question, and every question is kept.
type roAsk struct {
	mu     sync.Mutex
	asked  []decision.Request
	answer func(decision.Request) bool
	// seen, if set, is called with each question, while it is open.
	seen func(decision.Request)
}

func (a *roAsk) Ask(_ context.Context, r decision.Request) decision.Reply {
	a.mu.Lock()
	a.asked = append(a.asked, r)
	a.mu.Unlock()
	if a.seen != nil {
		a.seen(r)
	}
	return decision.Reply{Allowed: a.answer(r), Source: decision.SourceUser, Ended: decision.EndedAnswered}
}

func (a *roAsk) targets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.asked {
		out = append(out, r.Op+" "+r.Target)
	}
	return out
}

func roFS(t *testing.T, w *world, a *roAsk, protect ...string) (*FS, *Gate) {
	t.Helper()
	o := defaultOpts()
	o.access = policy.Read
	o.asker = a
	o.protect = protect
	f, g := w.fs(o)
	f.ReadOnlyVerdict = policy.Ask
	return f, g
}

// entries lists the mount's host directory dir.
func (w *world) entries(dir string) string {
	ents, err := os.ReadDir(filepath.Join(w.mount, dir))
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// atomicWrite does what os.CreateTemp + rename writers do.
func atomicWrite(f *FS, dir, name, tmp, data string) (created, renamed experimentalsys.Errno) {
	file, e := f.OpenFile(filepath.Join(dir, tmp), rdwr|creat|excl, 0o600)
	if e != 0 {
		return e, 0
	}
	if _, e := file.Write([]byte(data)); e != 0 {
		return e, 0
	}
	if e := file.Sync(); e != 0 {
		return e, 0
	}
	file.Close()
	return 0, f.Rename(filepath.Join(dir, tmp), filepath.Join(dir, name))
}

// A temporary file renamed into place is one question, about the
// destination; the temporary name never exists on the host, not even while
// the question is open.
func TestStagedWriteAsksAboutTheDestination(t *testing.T) {
	w := newWorld(t)
	w.file("docs/out.txt", "old")
	os.Chmod(filepath.Join(w.mount, "docs/out.txt"), 0o640)
	var during string
	a := &roAsk{answer: func(decision.Request) bool { return true }}
	a.seen = func(decision.Request) { during = w.entries("docs") }
	f, g := roFS(t, w, a)

	created, renamed := atomicWrite(f, "docs", "out.txt", ".out.txt.3038583543.tmp", "new")
	if created != 0 || renamed != 0 {
		t.Fatalf("create %v, rename %v", created, renamed)
	}
	if got := a.targets(); len(got) != 1 || got[0] != "rename /work/docs/out.txt" {
		t.Errorf("questions %q, want one about /work/docs/out.txt", got)
	}
	if during != "out.txt" {
		t.Errorf("while the question was open the host folder held %q", during)
	}
	if w.content("docs/out.txt") != "new" || w.entries("docs") != "out.txt" {
		t.Errorf("after: %q, folder %q", w.content("docs/out.txt"), w.entries("docs"))
	}
	if fi, _ := os.Stat(filepath.Join(w.mount, "docs/out.txt")); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the replaced file's 0640", fi.Mode().Perm())
	}
	g.End(decision.ErrRunEnded)
	if ds := g.Decisions(); len(ds) != 1 || !ds[0].Allowed || ds[0].Target != "/work/docs/out.txt" {
		t.Errorf("decisions:\n%s", dumpDecisions(g))
	}
	w.checkOutside()
}

// Refused, the rename fails, nothing reaches the host, and the refusal is
// the one record; the tool can still read back and remove its own file.
func TestStagedWriteRefused(t *testing.T) {
	w := newWorld(t)
	w.file("out.txt", "old")
	a := &roAsk{answer: func(decision.Request) bool { return false }}
	f, g := roFS(t, w, a)
	created, renamed := atomicWrite(f, ".", "out.txt", "out.txt.tmp", "new")
	if created != 0 || renamed != experimentalsys.EROFS {
		t.Fatalf("create %v, rename %v; want 0, EROFS", created, renamed)
	}
	if got, e := readAll(t, f, "out.txt.tmp"); e != 0 || got != "new" {
		t.Errorf("reading back the provisional file: %q %v", got, e)
	}
	if st, e := f.Stat("out.txt.tmp"); e != 0 || st.Size != 3 {
		t.Errorf("stat of the provisional file: %+v %v", st, e)
	}
	if e := f.Unlink("out.txt.tmp"); e != 0 {
		t.Errorf("unlink: %v", e)
	}
	if _, e := f.Stat("out.txt.tmp"); e != experimentalsys.ENOENT {
		t.Errorf("stat after unlink: %v", e)
	}
	g.End(decision.ErrRunEnded)
	if w.content("out.txt") != "old" || w.entries(".") != "out.txt" {
		t.Errorf("host changed: %q %q", w.content("out.txt"), w.entries("."))
	}
	if ds := g.Decisions(); len(ds) != 1 || ds[0].Allowed || ds[0].Target != "/work/out.txt" || ds[0].Errno != "EROFS" {
		t.Errorf("decisions:\n%s", dumpDecisions(g))
	}
}

// A tool cannot get a write by naming it like a temporary file: a
// provisional file never renamed is discarded when the run ends, with a
// record; nothing was asked and nothing reached the host.
func TestStagedFileNeverRenamedIsDiscarded(t *testing.T) {
	w := newWorld(t)
	a := &roAsk{answer: func(decision.Request) bool { return true }}
	f, g := roFS(t, w, a)
	if e := writeFile(f, "payload.tmp", wronly|creat|excl, "x"); e != 0 {
		t.Fatal(e)
	}
	if w.exists("payload.tmp") || w.entries(".") != "" {
		t.Fatalf("a provisional file is on the host: %q", w.entries("."))
	}
	g.End(decision.ErrRunEnded)
	if len(a.asked) != 0 || w.entries(".") != "" {
		t.Errorf("asked %q; host %q", a.targets(), w.entries("."))
	}
	wantDecision(t, g, decision.FSWrite, "open", "/work/payload.tmp", "a provisional file in a read-only mount, never renamed into place: discarded", "")
	// After the run's end nothing provisional is reachable.
	if _, e := f.Stat("payload.tmp"); e == 0 {
		t.Error("the discarded file is still there")
	}
}

// The rules of the destination hold for a provisional file: a protected or
// hidden destination is refused without a question, and so is a rename
// out of the mount.
func TestStagedRenameKeepsTheRules(t *testing.T) {
	w := newWorld(t)
	w.file(".git/config", "[core]")
	a := &roAsk{answer: func(decision.Request) bool { return true }}
	f, g := roFS(t, w, a, ".git")
	for _, dst := range []string{".git/config", ".git/hooks/pre-commit", "../outside/secret.txt"} {
		if e := writeFile(f, ".x.tmp", wronly|creat|excl, "evil"); e != 0 {
			t.Fatal(e)
		}
		if e := f.Rename(".x.tmp", dst); e == 0 {
			t.Errorf("rename to %s allowed", dst)
		}
		f.Unlink(".x.tmp")
	}
	if len(a.asked) != 0 {
		t.Errorf("asked %q", a.targets())
	}
	if w.content(".git/config") != "[core]" {
		t.Error(".git/config changed")
	}
	g.End(decision.ErrRunEnded)
	w.checkOutside()
}

// A name that does not look temporary, or a create that is not exclusive,
// is asked about at once, naming itself.
func TestOrdinaryCreateAskedAtOnce(t *testing.T) {
	w := newWorld(t)
	a := &roAsk{answer: func(decision.Request) bool { return true }}
	f, _ := roFS(t, w, a)
	if e := writeFile(f, "report.txt", wronly|creat|excl, "a"); e != 0 || w.content("report.txt") != "a" {
		t.Errorf("exclusive create of report.txt: %v", e)
	}
	if e := writeFile(f, "notes.tmp", wronly|creat|trunc, "b"); e != 0 || w.content("notes.tmp") != "b" {
		t.Errorf("create of notes.tmp: %v", e)
	}
	if got := strings.Join(a.targets(), ","); got != "open /work/report.txt,open /work/notes.tmp" {
		t.Errorf("questions %q", got)
	}
}

// A write into a read-only mount is asked about where it really lands: a
// symlink in the path does not make it look like somewhere else. So a
// grant for one folder cannot be used through a link to another.
func TestReadOnlyQuestionNamesTheRealLocation(t *testing.T) {
	w := newWorld(t)
	w.file("granted/keep.txt", "k")
	w.file("other/x.txt", "x")
	w.symlink("../other", "granted/link")
	w.symlink("../other/x.txt", "granted/file-link")
	a := &roAsk{answer: func(r decision.Request) bool { return strings.HasPrefix(r.Target, "/work/granted/") }}
	f, _ := roFS(t, w, a)
	wantErrno(t, "through a directory link", writeFile(f, "granted/link/x.txt", wronly|trunc, "evil"), experimentalsys.EROFS)
	wantErrno(t, "through a file link", writeFile(f, "granted/file-link", wronly|trunc, "evil"), experimentalsys.EROFS)
	wantErrno(t, "new file through a link", writeFile(f, "granted/link/new.txt", wronly|creat, "evil"), experimentalsys.EROFS)
	wantErrno(t, "mkdir through a link", f.Mkdir("granted/link/d", 0o755), experimentalsys.EROFS)
	wantErrno(t, "unlink through a link", f.Unlink("granted/link/x.txt"), experimentalsys.EROFS)
	if e := writeFile(f, "granted/keep.txt", wronly|trunc, "ok"); e != 0 {
		t.Errorf("a write inside the granted folder: %v", e)
	}
	want := "open /work/other/x.txt,open /work/other/x.txt,open /work/other/new.txt,mkdir /work/other/d,unlink /work/other/x.txt,open /work/granted/keep.txt"
	if got := strings.Join(a.targets(), ","); got != want {
		t.Errorf("questions\n %s\nwant\n %s", got, want)
	}
	if w.content("other/x.txt") != "x" || w.exists("other/new.txt") || w.exists("other/d") {
		t.Error("a write through a link landed")
	}
}

// Provisional files take space on the mount's filesystem until the run
// ends, so they are bounded: a write past the budget is refused.
func TestStagedBudget(t *testing.T) {
	w := newWorld(t)
	a := &roAsk{answer: func(decision.Request) bool { return true }}
	f, g := roFS(t, w, a)
	file, e := f.OpenFile(".big.tmp", rdwr|creat|excl, 0o600)
	if e != 0 {
		t.Fatal(e)
	}
	defer file.Close()
	if _, e := file.Pwrite([]byte("x"), stageBudget+1); e != experimentalsys.EIO {
		t.Errorf("a write past the budget: %v, want EIO", e)
	}
	if e := file.Truncate(stageBudget + 1); e != experimentalsys.EIO {
		t.Errorf("truncate past the budget: %v, want EIO", e)
	}
	if _, e := file.Pwrite([]byte("x"), 1<<20); e != 0 {
		t.Errorf("a write within the budget: %v", e)
	}
	wantDecision(t, g, decision.FSWrite, "write", "/work/.big.tmp", "provisional files in a read-only mount hold at most 256 MiB", "EIO")
}
