package runtime

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

// exitModule is a tiny WASI module whose _start calls proc_exit(code).
// Modules for different codes have the same shape (one function of the
// same size), so the native code compiled for one loads in place of the
// other's: the crafted cache entry of an attacker.
func exitModule(code byte) []byte {
	if code >= 64 {
		panic("one-byte signed LEB128 only")
	}
	var b bytes.Buffer
	b.WriteString("\x00asm\x01\x00\x00\x00")
	b.Write([]byte{0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00}) // types: (i32)->(), ()->()
	imp := []byte{0x01, 22}
	imp = append(imp, "wasi_snapshot_preview1"...)
	imp = append(imp, 9)
	imp = append(imp, "proc_exit"...)
	imp = append(imp, 0x00, 0x00)
	b.Write([]byte{0x02, byte(len(imp))})
	b.Write(imp)
	b.Write([]byte{0x03, 0x02, 0x01, 0x01})       // one function of type 1
	b.Write([]byte{0x05, 0x03, 0x01, 0x00, 0x01}) // one page of memory
	exp := []byte{0x02, 6}
	exp = append(exp, "_start"...)
	exp = append(exp, 0x00, 0x01, 6)
	exp = append(exp, "memory"...)
	exp = append(exp, 0x02, 0x00)
	b.Write([]byte{0x07, byte(len(exp))})
	b.Write(exp)
	b.Write([]byte{0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, code, 0x10, 0x00, 0x0b}) // i32.const code; call proc_exit
	return b.Bytes()
}

// ExitModule is exitModule for the external tests (the start-up
// benchmark's smallest tool, exitModule(0)).
func ExitModule(code byte) []byte { return exitModule(code) }

// cacheProbe is an Engine on a cache folder that counts compiles and
// keeps what it warns about.
type cacheProbe struct {
	e        *Engine
	mu       sync.Mutex
	compiles int
	warnings []string
}

func openProbe(t *testing.T, dir string) *cacheProbe {
	t.Helper()
	p := &cacheProbe{}
	e, err := New(context.Background(), Config{CacheDir: dir,
		OnCompile: func(string, int) func() { p.mu.Lock(); p.compiles++; p.mu.Unlock(); return func() {} },
		Warn:      func(s string) { p.mu.Lock(); p.warnings = append(p.warnings, s); p.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	p.e = e
	t.Cleanup(func() { e.Close(context.Background()) })
	return p
}

// exit runs m and returns its exit code.
func (p *cacheProbe) exit(t *testing.T, m *Module) uint32 {
	t.Helper()
	res, err := p.e.Run(context.Background(), Spec{Module: m, Policy: policy.Default(t.TempDir()), Interrupt: InterruptInstrument})
	if err != nil {
		t.Fatalf("run %s: %v", m.Name, err)
	}
	if res.Reason != Exited {
		t.Fatalf("run %s: %s %v", m.Name, res.Reason, res.Err)
	}
	return res.ExitCode
}

func (p *cacheProbe) slotPath(m *Module) string {
	c := p.e.code
	return c.path(c.slot(c.wazero, m.Digest, instrumentVariant(m)))
}

// TestCompileCacheHealsItself: every kind of damage to a stored entry,
// made from the host by changing its bytes, is discarded with one line,
// the module is compiled again and runs; the run after that is quiet and
// compiles nothing.
func TestCompileCacheHealsItself(t *testing.T) {
	damages := []struct {
		name string
		do   func(b []byte) []byte
	}{
		// A few bytes of the native code flipped (CRC and seal both wrong).
		{"flipped code bytes", func(b []byte) []byte { b[len(b)/2] ^= 0xff; b[len(b)/2+1] ^= 0x55; return b }},
		// Only the seal changed.
		{"flipped seal", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated inside the header", func(b []byte) []byte { return b[:5] }},
		{"empty", func(b []byte) []byte { return nil }},
		// Sealed by a future airlock in a format this one does not read.
		{"foreign format version", func(b []byte) []byte { b[len(sealMagic)] = sealVersion + 1; return b }},
		// wazero's bare entry where airlock's sealed one should be (the
		// layout of older airlocks, or a forgery without a seal).
		{"not sealed", func(b []byte) []byte { return b[len(sealMagic)+2+64 : len(b)-macSize] }},
		// A name that would lead out of wazero's folder.
		{"path in the name", func(b []byte) []byte {
			copy(b[len(sealMagic)+2:], "../../../../../../../../../../../../../../../../../../../../etc/x")
			return b
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			m := NewModule("exit7", exitModule(7))
			first := openProbe(t, dir)
			if code := first.exit(t, m); code != 7 || first.compiles != 1 {
				t.Fatalf("first run: exit %d, %d compiles", code, first.compiles)
			}
			slot := first.slotPath(m)
			b, err := os.ReadFile(slot)
			if err != nil {
				t.Fatalf("no sealed entry after the first run: %v", err)
			}
			if err := os.WriteFile(slot, d.do(b), 0o600); err != nil {
				t.Fatal(err)
			}

			second := openProbe(t, dir)
			if code := second.exit(t, m); code != 7 {
				t.Errorf("run after damage: exit %d, want 7", code)
			}
			if second.compiles != 1 {
				t.Errorf("run after damage compiled %d times, want 1", second.compiles)
			}
			if len(second.warnings) != 1 || !strings.Contains(second.warnings[0], "discarded the compiled copy of exit7") {
				t.Errorf("warnings %q, want one line about exit7", second.warnings)
			}

			third := openProbe(t, dir)
			if code := third.exit(t, m); code != 7 || third.compiles != 0 || len(third.warnings) != 0 {
				t.Errorf("run after healing: exit %d, %d compiles, warnings %q; want 7, 0, none", code, third.compiles, third.warnings)
			}
		})
	}
}

// seal makes a sealed entry for slot under key, as an attacker who has
// some key would.
func seal(key []byte, slot, name string, content []byte) []byte {
	head := append([]byte(sealMagic), sealVersion, byte(len(name)))
	head = append(head, name...)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(slot))
	mac.Write(head)
	mac.Write(content)
	return append(append(head, content...), mac.Sum(nil)...)
}

// TestCompileCacheCraftedEntryNeverRuns: the attack. Module A exits 1,
// module B of the same shape exits 2. A crafted entry puts B's native code
// (wazero's valid entry, with its CRC) in A's place. Sealed with any key
// but the cache's own, it is discarded and A runs its own code. The same
// entry sealed with the cache's key does run B's code when A is asked
// for: the fixture is a real attack, and the key is what stops it.
func TestCompileCacheCraftedEntryNeverRuns(t *testing.T) {
	dir := t.TempDir()
	a, b := NewModule("a", exitModule(1)), NewModule("b", exitModule(2))
	p := openProbe(t, dir)
	if p.exit(t, a) != 1 || p.exit(t, b) != 2 || p.compiles != 2 {
		t.Fatalf("setting up: %d compiles", p.compiles)
	}
	read := func(path string) (name string, content []byte) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := int(raw[len(sealMagic)+1])
		h := len(sealMagic) + 2 + n
		return string(raw[len(sealMagic)+2 : h]), raw[h : len(raw)-macSize]
	}
	aSlot, bSlot := p.slotPath(a), p.slotPath(b)
	aName, _ := read(aSlot)
	_, bCode := read(bSlot)
	slot := p.e.code.slot(p.e.code.wazero, a.Digest, instrumentVariant(a))

	wrongKey := make([]byte, sealKeySize)
	rand.Read(wrongKey)
	if err := os.WriteFile(aSlot, seal(wrongKey, slot, aName, bCode), 0o600); err != nil {
		t.Fatal(err)
	}
	q := openProbe(t, dir)
	if code := q.exit(t, a); code != 1 {
		t.Fatalf("module a ran the crafted code: exit %d", code)
	}
	if q.compiles != 1 || len(q.warnings) != 1 || !strings.Contains(q.warnings[0], "its seal does not match") {
		t.Errorf("crafted entry: %d compiles, warnings %q; want 1 compile and one line about the seal", q.compiles, q.warnings)
	}

	// The fixture: sealed with the right key, the crafted entry is loaded.
	key, err := os.ReadFile(filepath.Join(dir, sealKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aSlot, seal(key, slot, aName, bCode), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openProbe(t, dir)
	if code := r.exit(t, a); code != 2 {
		t.Fatalf("with the cache's own key the crafted entry should load (exit 2), got exit %d: the fixture proves nothing", code)
	}
}

// TestCompileCacheLayout: wazero's folder is private to the process and
// empty between compiles, removed at Close; what older airlocks left
// unsealed is removed, never loaded; the key is the owner's alone.
func TestCompileCacheLayout(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "compiled", "wazero-v1.12.0-amd64-linux")
	os.MkdirAll(legacy, 0o755)
	os.WriteFile(filepath.Join(legacy, strings.Repeat("ab", 32)), []byte("WAZEVO unsealed"), 0o644)
	os.MkdirAll(filepath.Join(dir, "compiled", "seen"), 0o755)
	oldWazero := filepath.Join(dir, "compiled", "sealed", "wazero-v0.9.0-amd64-linux")
	os.MkdirAll(oldWazero, 0o700)
	os.WriteFile(filepath.Join(oldWazero, strings.Repeat("cd", 32)), []byte("sealed by an older wazero"), 0o600)
	unused := time.Now().Add(-2 * staleAfter)
	os.Chtimes(oldWazero, unused, unused)
	// Another airlock on the machine, built with another wazero and in use
	// today: its entries stay, or each of the two would remove the other's
	// on every start.
	otherWazero := filepath.Join(dir, "compiled", "sealed", "wazero-v9.9.9-amd64-linux")
	os.MkdirAll(otherWazero, 0o700)
	otherEntry := filepath.Join(otherWazero, strings.Repeat("ef", 32))
	os.WriteFile(otherEntry, []byte("sealed by another airlock in use"), 0o600)

	p := openProbe(t, dir)
	for _, gone := range []string{legacy, oldWazero, filepath.Join(dir, "compiled", "seen")} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s, left by an older airlock, is still there", gone)
		}
	}
	if _, err := os.Stat(otherEntry); err != nil {
		t.Errorf("the entries of another airlock in use were removed: %v", err)
	}
	p.exit(t, NewModule("exit3", exitModule(3)))
	private := p.e.code.private
	// Between compiles the private folder is not there at all: a process
	// that never reaches Close (an abandoned guest, a run behind Landlock,
	// where the cache is out of reach) leaves nothing behind.
	procs, _ := filepath.Glob(filepath.Join(dir, "compiled", ".proc-*"))
	if len(procs) != 0 {
		t.Errorf("private folders left between compiles: %q", procs)
	}
	p.exit(t, NewModule("exit4", exitModule(4))) // a second compile makes it again
	if procs, _ := filepath.Glob(filepath.Join(dir, "compiled", ".proc-*")); len(procs) != 0 {
		t.Errorf("private folders left after a second compile: %q", procs)
	}
	fi, err := os.Stat(filepath.Join(dir, sealKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seal key: %v %v, want mode 0600", fi, err)
	}
	p.e.Close(context.Background())
	if _, err := os.Stat(private); err == nil {
		t.Error("the private folder outlived Close")
	}

	// A key others can read is replaced, with one line.
	os.Chmod(filepath.Join(dir, sealKeyFile), 0o644)
	q := openProbe(t, dir)
	if len(q.warnings) != 1 || !strings.Contains(q.warnings[0], "readable by others") {
		t.Errorf("warnings %q", q.warnings)
	}
	if code := q.exit(t, NewModule("exit3", exitModule(3))); code != 3 {
		t.Errorf("exit %d", code)
	}
}

// TestCompileCacheConcurrentEngines: six engines (as six processes would)
// open an empty cache and compile the same module at once: one key is
// made, every run succeeds, and nobody sees a damaged entry.
func TestCompileCacheConcurrentEngines(t *testing.T) {
	dir := t.TempDir()
	m := NewModule("exit5", exitModule(5))
	var wg sync.WaitGroup
	probes := make([]*cacheProbe, 6)
	for i := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &cacheProbe{}
			e, err := New(context.Background(), Config{CacheDir: dir, Warn: func(s string) { p.mu.Lock(); p.warnings = append(p.warnings, s); p.mu.Unlock() }})
			if err != nil {
				t.Error(err)
				return
			}
			p.e = e
			probes[i] = p
			res, err := e.Run(context.Background(), Spec{Module: m, Policy: policy.Default(t.TempDir()), Interrupt: InterruptInstrument})
			if err != nil || res.ExitCode != 5 {
				t.Errorf("engine %d: %v %+v", i, err, res)
			}
		}()
	}
	wg.Wait()
	for i, p := range probes {
		if p == nil {
			continue
		}
		if len(p.warnings) != 0 {
			t.Errorf("engine %d warned: %q", i, p.warnings)
		}
		p.e.Close(context.Background())
	}
	// And a later engine finds one good entry.
	q := openProbe(t, dir)
	if code := q.exit(t, m); code != 5 || len(q.warnings) != 0 || q.compiles != 0 {
		t.Errorf("later engine: exit %d, warnings %q, %d compiles; want 5, none, 0", code, q.warnings, q.compiles)
	}
}

// TestCompileCacheSealedButUnusable: entries that carry the cache's own
// seal (an older airlock's bug, a key that leaked) are still checked: an
// entry wazero cannot read is discarded and the module compiled again, and
// a stored name that would lead out of wazero's private folder is never
// used as a path.
func TestCompileCacheSealedButUnusable(t *testing.T) {
	dir := t.TempDir()
	m := NewModule("exit9", exitModule(9))
	p := openProbe(t, dir)
	if p.exit(t, m) != 9 {
		t.Fatal("setting up")
	}
	slotPath := p.slotPath(m)
	slot := p.e.code.slot(p.e.code.wazero, m.Digest, instrumentVariant(m))
	raw, _ := os.ReadFile(slotPath)
	name := string(raw[len(sealMagic)+2 : len(sealMagic)+2+64])
	key, err := os.ReadFile(filepath.Join(dir, sealKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	// Not wazero's format at all, under the right name and seal.
	os.WriteFile(slotPath, seal(key, slot, name, []byte("not wazero's format")), 0o600)
	q := openProbe(t, dir)
	if code := q.exit(t, m); code != 9 || q.compiles != 1 || len(q.warnings) != 1 || !strings.Contains(q.warnings[0], "wazero could not load it") {
		t.Errorf("unreadable sealed entry: exit %d, %d compiles, warnings %q", code, q.compiles, q.warnings)
	}
	// What wazero judges made by another version of itself, it compiles
	// again on its own; airlock seals the new entry.
	os.WriteFile(slotPath, seal(key, slot, name, []byte("WAZEVO\x07v0.0.0-x")), 0o600)
	q2 := openProbe(t, dir)
	if code := q2.exit(t, m); code != 9 {
		t.Errorf("stale sealed entry: exit %d", code)
	}
	q3 := openProbe(t, dir)
	if code := q3.exit(t, m); code != 9 || q3.compiles != 0 || len(q3.warnings) != 0 {
		t.Errorf("after a stale entry: exit %d, %d compiles, warnings %q; want 9, 0, none", code, q3.compiles, q3.warnings)
	}
	if b, _ := os.ReadFile(slotPath); bytes.Contains(b, []byte("v0.0.0-x")) {
		t.Error("the stale entry was not replaced")
	}

	// A name that climbs out of the private folder.
	planted := filepath.Join(dir, "planted")
	climb := "../../planted"
	os.WriteFile(slotPath, seal(key, slot, climb, []byte("x")), 0o600)
	r := openProbe(t, dir)
	if code := r.exit(t, m); code != 9 || len(r.warnings) != 1 || !strings.Contains(r.warnings[0], "names no wazero entry") {
		t.Errorf("climbing name: exit %d, warnings %q", code, r.warnings)
	}
	if _, err := os.Stat(planted); err == nil {
		t.Error("a sealed entry's name was used as a path out of the private folder")
	}
}

// instrumentVariant is the slot variant of m compiled for
// InterruptInstrument, as the engine prepares it (with yield checks when
// the module takes them).
func instrumentVariant(m *Module) string {
	bin, img, prepared := prepareModule(m.Bytes)
	img.close()
	if _, err := addYieldChecks(bin); err == nil {
		return variantOf(interruptYield, false, strings.TrimSpace(prepared+" yield=2"))
	}
	return variantOf(InterruptInstrument, false, prepared)
}

// The private folder made as the cache opens is kept for the first
// compile only while nothing can have been put in it: a compile that fails
// before it takes the folder gives it back (a process may end behind
// Landlock, where the cache is out of reach), and a file planted in it
// between the opening and the first compile is never read as compiled
// code: the compile refuses the folder.
func TestCompileCacheHeldFolder(t *testing.T) {
	procs := func(dir string) []string {
		ps, _ := filepath.Glob(filepath.Join(dir, "compiled", ".proc-*"))
		return ps
	}
	t.Run("a failed compile gives it back", func(t *testing.T) {
		dir := t.TempDir()
		p := openProbe(t, dir)
		if n := len(procs(dir)); n != 1 {
			t.Fatalf("%d private folders after the cache opened, want the one kept", n)
		}
		component := NewModule("component", []byte("\x00asm\x0d\x00\x01\x00"))
		if err := p.e.Precompile(context.Background(), component, 64<<20, InterruptInstrument); err == nil {
			t.Fatal("a component compiled")
		}
		if ps := procs(dir); len(ps) != 0 {
			t.Errorf("private folders left by a compile that failed before it took one: %q", ps)
		}
		if got := p.exit(t, NewModule("exit5", exitModule(5))); got != 5 {
			t.Errorf("exit %d after the folder was given back, want 5", got)
		}
	})
	t.Run("a planted file is never read", func(t *testing.T) {
		dir := t.TempDir()
		p := openProbe(t, dir)
		m := NewModule("exit6", exitModule(6))
		planted := filepath.Join(p.e.code.private, p.e.code.wazero, "planted")
		if err := os.WriteFile(planted, []byte("WAZEVO not sealed"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := p.e.Precompile(context.Background(), m, 64<<20, InterruptInstrument)
		if err == nil || !strings.Contains(err.Error(), "not using it") {
			t.Fatalf("the compile used a folder with a file planted in it: %v", err)
		}
	})
}
