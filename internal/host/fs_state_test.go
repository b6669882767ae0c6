//go:build linux

package host

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// stateWorld is a home folder holding every kind of airlock state, as a
// mounted home would: the compile cache, the user's configuration folder
// with its grants, a project with its grants, audit log and a policy in a
// folder of its own, and a managed policy. The mount is the whole home,
// writable, so only the state rules stand between the tool and the state.
type stateWorld struct {
	t     *testing.T
	home  string
	paths []StatePath
	snap  map[string]string // host path -> content or "<dir>" at the start
}

func newStateWorld(t *testing.T) *stateWorld {
	t.Helper()
	w := &stateWorld{t: t, home: filepath.Join(t.TempDir(), "home")}
	files := map[string]string{
		".cache/airlock/key":                   "0123456789abcdef0123456789abcdef",
		".cache/airlock/compiled/sealed/entry": "native code",
		".cache/airlock/build/tool.wasm":       "\x00asm",
		".realconfig/airlock/grants.hcl":       "# user grants\n",
		".realconfig/airlock/notes.txt":        "config folder file\n",
		"proj/.airlock/grants.hcl":             "# project grants\n",
		"proj/.airlock/audit.jsonl":            "{}\n",
		"proj/conf/policy.hcl":                 `mount "/work" { host = "." }` + "\n",
		"proj/src/main.go":                     "package main\n",
		"etc/airlock/policy.hcl":               "# managed\n",
	}
	for name, body := range files {
		p := filepath.Join(w.home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The configuration folder is reached through a symlink, as it often
	// is in dotfile setups: the state path names .config, airlock must
	// protect both the link and where it leads.
	if err := os.Symlink(".realconfig", filepath.Join(w.home, ".config")); err != nil {
		t.Fatal(err)
	}
	// A hard link made earlier (by a person, or by a tool before airlock
	// protected the file) gives the user grants and the policy a second,
	// ordinary name.
	for old, twin := range map[string]string{".realconfig/airlock/grants.hcl": "grants-twin", "proj/conf/policy.hcl": "policy-twin"} {
		if err := os.Link(filepath.Join(w.home, old), filepath.Join(w.home, twin)); err != nil {
			t.Fatal(err)
		}
	}
	h := func(rel string) string { return filepath.Join(w.home, rel) }
	w.paths = []StatePath{
		{Path: h(".cache/airlock"), What: "compile cache", Secret: true},
		{Path: h(".config/airlock"), What: "config folder"},
		{Path: h(".config/airlock/grants.hcl"), What: "user grants", Secret: true},
		{Path: h("proj/.airlock/grants.hcl"), What: "project grants", Secret: true},
		{Path: h("proj/.airlock/audit.jsonl"), What: "audit log"},
		{Path: h("proj/conf/policy.hcl"), What: "policy"},
		{Path: h("etc/airlock/policy.hcl"), What: "managed policy"},
		// Not there yet: the tool may not make them either.
		{Path: h("proj/.airlock/missing-grants.hcl"), What: "missing grants", Secret: true},
		{Path: h("etc/managed.d/policy.hcl"), What: "missing managed policy"},
	}
	w.snap = w.snapshot()
	return w
}

// snapshot reads every file and folder under home (without following
// symlinks), with its bytes, mode and times.
func (w *stateWorld) snapshot() map[string]string {
	w.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(w.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		meta := fi.Mode().String() + " " + fi.ModTime().String() + " nlink=" + strconv.Itoa(int(st.Nlink))
		switch {
		case d.IsDir():
			// A folder's entries are compared one by one; its times change
			// when the tool makes its own files beside the state.
			out[p] = "<dir> " + fi.Mode().String()
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[p] = "<link " + l + ">"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = string(b) + " " + meta
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// stateUnchanged fails the test if any state path (or anything on the way
// to one) differs from the start; changes elsewhere in home are the tool's
// own business and are listed in allowed.
func (w *stateWorld) stateUnchanged(allowed ...string) {
	w.t.Helper()
	now := w.snapshot()
	var diffs []string
	for p, was := range w.snap {
		if now[p] != was && !w.allowed(p, allowed) {
			diffs = append(diffs, "changed or gone: "+p)
		}
	}
	for p := range now {
		if _, ok := w.snap[p]; !ok && !w.allowed(p, allowed) {
			diffs = append(diffs, "new: "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		w.t.Errorf("airlock's state changed:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func (w *stateWorld) allowed(p string, allowed []string) bool {
	rel, _ := filepath.Rel(w.home, p)
	for _, a := range allowed {
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	// The home folder itself and the project folders gain entries when the
	// tool makes its own files beside the state.
	return rel == "." || rel == "proj" || rel == "etc"
}

func (w *stateWorld) fs(access policy.Access) (*FS, *Gate) {
	w.t.Helper()
	gate := NewGate(context.Background(), nil, nil)
	f, err := NewFS(policy.Mount{Guest: "/work", Host: w.home, Access: access, Origin: testOrigin}, gate, nil, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { f.Close() })
	if err := f.GuardState(NewState(w.paths)); err != nil {
		w.t.Fatal(err)
	}
	return f, gate
}

// TestStateOutOfReach: a tool whose writable mount is the whole home folder
// tries every way to write, replace, move, remove, link or read airlock's
// own state; each is refused with a decision naming the state, and the
// host's files are byte for byte, mode and time what they were.
func TestStateOutOfReach(t *testing.T) {
	w := newStateWorld(t)
	f, g := w.fs(policy.Write)
	const acc = "err EACCES perm=true notexist=false"
	cases := []struct{ action, want string }{
		// The compile cache: not written, not read, not listed.
		{"write:/work/.cache/airlock/compiled/sealed/entry:crafted", "write " + acc},
		{"append:/work/.cache/airlock/compiled/sealed/entry:x", "append " + acc},
		{"truncate:/work/.cache/airlock/compiled/sealed/entry:0", "truncate " + acc},
		{"read:/work/.cache/airlock/key", "read " + acc},
		{"read:/work/.cache/airlock/compiled/sealed/entry", "read " + acc},
		{"readdir:/work/.cache/airlock", "readdir " + acc},
		{"write:/work/.cache/airlock/compiled/sealed/new:crafted", "write " + acc},
		{"create-excl:/work/.cache/airlock/new", "create-excl " + acc},
		{"mkdir:/work/.cache/airlock/compiled/x", "mkdir " + acc},
		{"remove:/work/.cache/airlock/key", "remove " + acc},
		{"rename:/work/.cache/airlock/key:/work/stolen", "rename " + acc},
		{"rename:/work/proj/src/main.go:/work/.cache/airlock/key", "rename " + acc},
		{"link:/work/.cache/airlock/key:/work/key-link", "link " + acc},
		{"link:/work/proj/src/main.go:/work/.cache/airlock/compiled/sealed/planted", "link " + acc},
		{"symlink:../../proj/src/main.go:/work/.cache/airlock/compiled/planted", "symlink " + acc},
		{"chtimes:/work/.cache/airlock/key", "chtimes " + acc},
		{"fchtimes:/work/.config/airlock/notes.txt", "fchtimes " + acc},
		// Renaming or removing what holds it.
		{"rename:/work/.cache:/work/cache-away", "rename " + acc},
		{"rename:/work/.cache/airlock:/work/cache-away", "rename " + acc},
		{"remove:/work/.cache", "remove " + acc},
		{"rename:/work/proj:/work/proj-away", "rename " + acc},
		{"rename:/work/proj/conf:/work/conf-away", "rename " + acc},
		{"rename:/work/etc:/work/etc-away", "rename " + acc},
		// The grants: not written, not read, by either name.
		{"write:/work/.config/airlock/grants.hcl:grant", "write " + acc},
		{"read:/work/.config/airlock/grants.hcl", "read " + acc},
		{"write:/work/.realconfig/airlock/grants.hcl:grant", "write " + acc},
		{"read:/work/.realconfig/airlock/grants.hcl", "read " + acc},
		{"write:/work/grants-twin:grant", "write " + acc},
		{"read:/work/grants-twin", "read " + acc},
		{"write:/work/proj/.airlock/grants.hcl:grant", "write " + acc},
		{"read:/work/proj/.airlock/grants.hcl", "read " + acc},
		{"rename:/work/proj/.airlock/grants.hcl:/work/proj/g", "rename " + acc},
		// The symlink on the way to the configuration folder, and what it
		// leads to.
		{"remove:/work/.config", "remove " + acc},
		{"rename:/work/.config:/work/config-away", "rename " + acc},
		{"rename:/work/.realconfig:/work/config-away", "rename " + acc},
		{"rename:/work/proj/src:/work/.config", "rename " + acc},
		// The configuration folder: readable, not writable.
		{"read:/work/.config/airlock/notes.txt", `read ok "config folder file\n"`},
		{"readdir:/work/.config/airlock", "readdir ok grants.hcl,notes.txt"},
		{"write:/work/.config/airlock/new.hcl:x", "write " + acc},
		{"write:/work/.config/airlock/notes.txt:x", "write " + acc},
		// The audit log and the policies: readable, not writable.
		{"read:/work/proj/conf/policy.hcl", `read ok "mount \"/work\" { host = \".\" }\n"`},
		{"write:/work/proj/conf/policy.hcl:mount {}", "write " + acc},
		{"write:/work/policy-twin:mount {}", "write " + acc},
		{"truncate:/work/policy-twin:0", "truncate " + acc},
		{"append:/work/proj/.airlock/audit.jsonl:{\"forged\":1}", "append " + acc},
		{"truncate:/work/proj/.airlock/audit.jsonl:0", "truncate " + acc},
		{"remove:/work/proj/.airlock/audit.jsonl", "remove " + acc},
		{"write:/work/etc/airlock/policy.hcl:x", "write " + acc},
		{"remove:/work/etc/airlock/policy.hcl", "remove " + acc},
		// State that does not exist yet cannot be made, nor anything that
		// would redirect airlock's lookup of it.
		{"write:/work/proj/.airlock/missing-grants.hcl:grant", "write " + acc},
		{"symlink:grants.hcl:/work/proj/.airlock/missing-grants.hcl", "symlink " + acc},
		{"link:/work/proj/src/main.go:/work/proj/.airlock/missing-grants.hcl", "link " + acc},
		{"rename:/work/proj/src/main.go:/work/proj/.airlock/missing-grants.hcl", "rename " + acc},
		{"symlink:../proj:/work/etc/managed.d", "symlink " + acc},
		{"write:/work/etc/managed.d:x", "write " + acc},
		{"mkdir:/work/etc/managed.d", "mkdir ok"},
		{"write:/work/etc/managed.d/policy.hcl:x", "write " + acc},
		{"rename:/work/etc/managed.d:/work/etc/m2", "rename " + acc},
		// A symlink the tool makes leads to the same place, and the same
		// refusal.
		{"symlink:.cache/airlock:/work/c", "symlink ok"},
		{"read:/work/c/key", "read " + acc},
		{"write:/work/c/key:x", "write " + acc},
		{"symlink:proj/conf/policy.hcl:/work/p", "symlink ok"},
		{"write:/work/p:x", "write " + acc},
		// Around the state, the home folder is the tool's.
		{"write:/work/proj/src/new.go:package main", "write ok"},
		{"rename:/work/proj/src/new.go:/work/proj/new.go", "rename ok"},
		{"write:/work/.cache/other-tool:x", "write ok"},
		{"mkdir:/work/.config/other", "mkdir ok"},
		{"remove:/work/grants-twin", "remove " + acc},
	}
	var actions []string
	for _, c := range cases {
		actions = append(actions, c.action)
	}
	got := runGuest(t, f, actions...)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.action, got[i], c.want)
		}
	}
	w.stateUnchanged("c", "p", "proj/src", "proj/new.go", ".cache/other-tool", ".config/other", ".realconfig/other", "etc/managed.d")
	wantDecision(t, g, decision.FSWrite, "open", "/work/.cache/airlock/compiled/sealed/entry", "airlock state: compile cache", "EACCES")
	wantDecision(t, g, decision.FSRead, "open", "/work/.cache/airlock/key", "airlock state: compile cache", "EACCES")
	wantDecision(t, g, decision.FSWrite, "open", "/work/.realconfig/airlock/grants.hcl", "airlock state: user grants", "EACCES")
	wantDecision(t, g, decision.FSRead, "open", "/work/grants-twin", "airlock state: user grants (another name)", "EACCES")
	wantDecision(t, g, decision.FSWrite, "open", "/work/policy-twin", "airlock state: policy (another name)", "EACCES")
	wantDecision(t, g, decision.FSWrite, "rename", "/work/.cache", "airlock state: compile cache (below)", "EACCES")
	wantDecision(t, g, decision.FSWrite, "unlink", "", "airlock state: audit log", "EACCES")
	for _, d := range g.Decisions() {
		if d.Allowed || !strings.HasPrefix(d.Rule, StateRulePrefix) || d.Origin != "builtin" {
			t.Errorf("decision %+v: want a denial by an airlock state rule", d)
		}
	}
}

// TestStateReadOnlyMountIsNotAsked: in a read-only mount whose writes are
// asked about, a write to airlock's state is refused before anyone is
// asked: no person is asked in vain, no grant could lift it.
func TestStateReadOnlyMountIsNotAsked(t *testing.T) {
	w := newStateWorld(t)
	asked := 0
	gate := NewGate(context.Background(), askerFunc(func(context.Context, decision.Request) (bool, decision.Source) {
		asked++
		return true, decision.SourceUser
	}), nil)
	f, err := NewFS(policy.Mount{Guest: "/work", Host: w.home, Access: policy.Read, Origin: testOrigin}, gate, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.ReadOnlyVerdict = policy.Ask
	if err := f.GuardState(NewState(w.paths)); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "write grants", writeFile(f, ".config/airlock/grants.hcl", wronly|trunc, "grant"), experimentalsys.EACCES)
	wantErrno(t, "rename cache", f.Rename(".cache", "x"), experimentalsys.EACCES)
	if asked != 0 {
		t.Errorf("the asker was asked %d times about writes to airlock's state", asked)
	}
	// An ordinary write is still asked about, and allowed.
	if e := writeFile(f, "proj/src/main.go", wronly|trunc, "package x\n"); e != 0 || asked != 1 {
		t.Errorf("ordinary write in a read-only mount: errno %v, asked %d", e, asked)
	}
	w.stateUnchanged("proj/src")
}

// TestStateMountInsideSecretStateIsRefused: a mount of the compile cache
// itself, or of a folder inside it, never starts.
func TestStateMountInsideSecretStateIsRefused(t *testing.T) {
	w := newStateWorld(t)
	for _, host := range []string{".cache/airlock", ".cache/airlock/compiled"} {
		f, err := NewFS(policy.Mount{Guest: "/c", Host: filepath.Join(w.home, host), Access: policy.Read}, NewGate(context.Background(), nil, nil), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = f.GuardState(NewState(w.paths))
		f.Close()
		if err == nil || !strings.Contains(err.Error(), "compile cache") {
			t.Errorf("mount of %s: %v, want a refusal naming the compile cache", host, err)
		}
	}
	// A mount inside the configuration folder (not secret) is read-only.
	f, err := NewFS(policy.Mount{Guest: "/c", Host: filepath.Join(w.home, ".config/airlock"), Access: policy.Write}, NewGate(context.Background(), nil, nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.GuardState(NewState(w.paths)); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "write in config folder mount", writeFile(f, "new.hcl", wronly|creat, "x"), experimentalsys.EACCES)
	if got, e := readAll(t, f, "notes.txt"); e != 0 || got != "config folder file\n" {
		t.Errorf("read in config folder mount: %q %v", got, e)
	}
	w.stateUnchanged()
}

// TestStateThroughBindMount: a bind mount shows the compile cache and the
// configuration folder under other paths; the device and inode checks
// still refuse every change and every read of the secret part.
func TestStateThroughBindMount(t *testing.T) {
	w := newStateWorld(t)
	other := filepath.Join(filepath.Dir(w.home), "other")
	for _, d := range []string{"cache", "config", "dotcache"} {
		if err := os.MkdirAll(filepath.Join(other, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{".cache/airlock": "cache", ".realconfig/airlock": "config", ".cache": "dotcache"} {
		if err := unix.Mount(filepath.Join(w.home, src), filepath.Join(other, dst), "", unix.MS_BIND, ""); err != nil {
			t.Skipf("bind mounts need root and a kernel that allows them here: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(filepath.Join(other, dst), unix.MNT_DETACH) })
	}
	gate := NewGate(context.Background(), nil, nil)
	f, err := NewFS(policy.Mount{Guest: "/work", Host: other, Access: policy.Write, Origin: testOrigin}, gate, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.GuardState(NewState(w.paths)); err != nil {
		t.Fatal(err)
	}
	const acc = "err EACCES perm=true notexist=false"
	cases := []struct{ action, want string }{
		{"write:/work/cache/compiled/sealed/entry:crafted", "write " + acc},
		{"read:/work/cache/key", "read " + acc},
		{"readdir:/work/cache", "readdir " + acc},
		{"write:/work/cache/compiled/sealed/new:crafted", "write " + acc},
		{"mkdir:/work/cache/x", "mkdir " + acc},
		{"remove:/work/cache/key", "remove " + acc},
		{"rename:/work/cache/build:/work/b", "rename " + acc},
		{"write:/work/config/grants.hcl:grant", "write " + acc},
		{"read:/work/config/grants.hcl", "read " + acc},
		{"write:/work/config/new.hcl:x", "write " + acc},
		{"read:/work/config/notes.txt", `read ok "config folder file\n"`},
		// The folder that holds the cache, shown elsewhere: the cache in it
		// cannot be moved away or removed.
		{"rename:/work/dotcache/airlock:/work/moved", "rename " + acc},
		{"remove:/work/dotcache/airlock", "remove " + acc},
		{"write:/work/dotcache/airlock/key:x", "write " + acc},
		{"write:/work/dotcache/mine:x", "write ok"},
	}
	var actions []string
	for _, c := range cases {
		actions = append(actions, c.action)
	}
	got := runGuest(t, f, actions...)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.action, got[i], c.want)
		}
	}
	w.stateUnchanged(".cache/mine")
	wantDecision(t, gate, decision.FSWrite, "open", "", "airlock state: compile cache (another name)", "EACCES")
	wantDecision(t, gate, decision.FSWrite, "rename", "/work/dotcache/airlock", "airlock state: compile cache (another name)", "EACCES")
}

// TestStateWithoutGuard: the fixture is a real attack. Without the state
// rules the same mount lets the tool rewrite the grants and the cache.
func TestStateWithoutGuard(t *testing.T) {
	w := newStateWorld(t)
	f, err := NewFS(policy.Mount{Guest: "/work", Host: w.home, Access: policy.Write}, NewGate(context.Background(), nil, nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := runGuest(t, f, "write:/work/grants-twin:grant", "write:/work/.cache/airlock/compiled/sealed/entry:crafted")
	if got[0] != "write ok" || got[1] != "write ok" {
		t.Fatalf("without GuardState the writes failed (%q): the fixture proves nothing", got)
	}
}
