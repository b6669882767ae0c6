package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
)

// The compile cache holds native code that this process maps and runs, so
// a changed entry must never load (see RATIONALE.md, "Why are compiled
// modules sealed, and loaded from a private copy?"). wazero's own file
// cache checks only a CRC, and its interface is internal, so airlock keeps
// its own store and gives wazero nothing but verified copies:
//
//   - compiled/sealed/ENGINE/KEY holds one compiled module: a header,
//     wazero's entry (or wasmtime's serialized module) and an HMAC-SHA256
//     over ENGINE/KEY, the header and the bytes, under a 32-byte key made once
//     per cache (CACHE/seal.key, 0600). A tool cannot compute the MAC
//     without the key, and airlock's state rules keep the whole cache
//     folder unreadable and unwritable to every tool.
//   - wazero's file cache is a private folder of this process
//     (compiled/.proc-PID-RANDOM), made for each compile and removed after
//     (the first compile uses the one made as the cache opens). Before a compile, the
//     sealed entry is copied there while its MAC is computed; the copy is
//     moved into wazero's place only when the MAC matches. After a compile
//     that missed, wazero's new entry is sealed into the store and the
//     private copy removed. wazero reads exactly the bytes that were
//     verified: the store can change afterwards without effect.
//   - A missing, truncated, foreign or changed entry is discarded with one
//     line through Config.Warn, and the module compiled again.

const (
	sealMagic   = "airlock sealed code\n"
	sealVersion = 1
	sealKeyFile = "seal.key"
	sealKeySize = 32
	macSize     = sha256.Size
	// staleAfter is how old a private folder left by a process that
	// ended without cleaning up (killed) must be before another removes it.
	staleAfter = 24 * time.Hour
)

// codeCache is the sealed store of compiled modules and the private folder
// wazero reads them from.
type codeCache struct {
	dir     string // CACHE/compiled
	sealed  string // CACHE/compiled/sealed: a folder per engine version
	private string // CACHE/compiled/.proc-*: wazero's file cache
	wazero  string // the folder wazero made in private (version, arch, OS)
	key     []byte
	warn    func(string)

	mu     sync.Mutex      // one compile at a time through the private folder
	loaded map[string]bool // slots compiled or loaded by this process
	// The private folder openCodeCache made, kept for the first compile
	// (take) while it is the very folder made, empty, and young.
	held   bool
	heldAt time.Time
	heldFI [2]fs.FileInfo // the private folder and wazero's in it, as made
}

// heldFor is how long the private folder made as the cache opens is kept
// for the first compile: a run compiles within milliseconds of opening
// the cache. Past it the folder is made again, fresh, as after a release;
// it could by then look stale (staleAfter) to another process.
const heldFor = time.Minute

// openCodeCache opens (making what is missing) the sealed store in
// cacheDir, and returns it with the wazero compilation cache that reads
// from its private folder.
func openCodeCache(cacheDir string, warn func(string)) (*codeCache, wazero.CompilationCache, error) {
	c := &codeCache{
		dir:    filepath.Join(cacheDir, "compiled"),
		warn:   warn,
		loaded: map[string]bool{},
	}
	c.sealed = filepath.Join(c.dir, "sealed")
	if err := os.MkdirAll(c.sealed, 0o700); err != nil {
		return nil, nil, err
	}
	os.Chmod(c.dir, 0o700) // older airlocks made it readable by others
	key, err := loadSealKey(filepath.Join(cacheDir, sealKeyFile), warn)
	if err != nil {
		return nil, nil, err
	}
	c.key = key
	c.tidyLegacy()
	// The private folder is this process's alone: named after its pid (no
	// other live process has it) and a random number, made with Mkdir so
	// that a name that is taken fails rather than shares.
	var rnd [6]byte
	rand.Read(rnd[:])
	c.private = filepath.Join(c.dir, fmt.Sprintf(".proc-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])))
	if err := os.Mkdir(c.private, 0o700); err != nil {
		return nil, nil, err
	}
	wc, err := wazero.NewCompilationCacheWithDir(c.private)
	if err != nil {
		os.RemoveAll(c.private)
		return nil, nil, err
	}
	ents, err := os.ReadDir(c.private)
	if err == nil && len(ents) == 1 && ents[0].IsDir() {
		c.wazero = ents[0].Name()
	} else {
		wc.Close(context.Background())
		os.RemoveAll(c.private)
		return nil, nil, fmt.Errorf("wazero's cache folder in %s is not what airlock expects (%d entries, %v)", c.private, len(ents), err)
	}
	c.tidyOldWazero()
	// Kept for the first compile (take), which every run makes before
	// its Landlock wall or its tool starts: removing it here and making
	// it again there cost a cold run about 1 ms of mkdir and rmdir. What
	// compiles nothing gives it back (dropHeld).
	fi0, err0 := os.Lstat(c.private)
	fi1, err1 := os.Lstat(filepath.Join(c.private, c.wazero))
	if err0 == nil && err1 == nil {
		c.held, c.heldAt, c.heldFI = true, time.Now(), [2]fs.FileInfo{fi0, fi1}
	} else {
		c.release()
	}
	return c, wc, nil
}

// dropHeld removes the private folder made as the cache opened if no
// compile took it: a compile that failed before it reached the folder,
// an engine that never uses it (wasmtime). Nothing must be left for the
// process's end, which may come behind Landlock, where the cache is out
// of reach.
func (c *codeCache) dropHeld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.release()
	}
}

// release removes the private folder, empty between compiles, so that a
// process that ends without close (an abandoned guest, a run behind
// Landlock, where the cache is out of reach) leaves nothing behind; the
// next compile makes it again (take).
func (c *codeCache) release() {
	c.held, c.heldFI = false, [2]fs.FileInfo{}
	syscall.Rmdir(filepath.Join(c.private, c.wazero))
	syscall.Rmdir(c.private)
}

// take makes the private folder again for a compile and returns wazero's
// folder in it. The folder must not exist: this process removed it. The
// first compile takes the one openCodeCache made, still a folder.
func (c *codeCache) take() (string, error) {
	if c.held {
		c.held = false
		dir := filepath.Join(c.private, c.wazero)
		if c.heldStill(dir) {
			return dir, nil
		}
		c.release() // gone, changed or old: made again below, as after a release
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil { // the cache may have been deleted
		return "", err
	}
	if err := os.Mkdir(c.private, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	} else if err != nil {
		return "", fmt.Errorf("%s exists, though this process removed it: not using it", c.private)
	}
	dir := filepath.Join(c.private, c.wazero)
	return dir, os.Mkdir(dir, 0o700)
}

// heldStill reports whether the private folder made as the cache opened
// is still the very folder made, with wazero's folder dir in it, the same
// and empty, and was made less than heldFor ago.
func (c *codeCache) heldStill(dir string) bool {
	if time.Since(c.heldAt) >= heldFor {
		return false
	}
	fi0, err0 := os.Lstat(c.private)
	fi1, err1 := os.Lstat(dir)
	if err0 != nil || err1 != nil || !fi0.IsDir() || !fi1.IsDir() || !os.SameFile(fi0, c.heldFI[0]) || !os.SameFile(fi1, c.heldFI[1]) {
		return false
	}
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 0
}

// close removes the private folder.
func (c *codeCache) close() error {
	return os.RemoveAll(c.private)
}

// tidyLegacy removes what older airlocks left in the cache: wazero's own
// unsealed cache folders, wasmtime's unsealed files, the "seen" markers,
// and private folders of processes that were killed long ago.
func (c *codeCache) tidyLegacy() {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "wazero-"), name == "wasmtime", name == "seen":
			os.RemoveAll(filepath.Join(c.dir, name))
		case strings.HasPrefix(name, ".proc-"):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
				os.RemoveAll(filepath.Join(c.dir, name))
			}
		}
	}
}

// tidyOldWazero marks this wazero version's sealed folder as used now and
// removes those of other versions unused for staleAfter: no airlock built
// with this one reads them, but another airlock on the machine (an older
// release beside a newer one, a test binary beside the built program) may
// still, and removing its entries on every start would make each recompile
// all the time and fail to store what it compiled.
func (c *codeCache) tidyOldWazero() {
	now := time.Now()
	os.Chtimes(filepath.Join(c.sealed, c.wazero), now, now)
	ents, err := os.ReadDir(c.sealed)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "wazero-") || n == c.wazero {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(c.sealed, n))
		}
	}
}

// loadSealKey reads the cache's key, making it when there is none. A key
// that is damaged, or that others than its owner could read, is replaced
// (every sealed entry then fails its check and is compiled again).
func loadSealKey(path string, warn func(string)) ([]byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		b, err := os.ReadFile(path)
		switch {
		case err == nil && len(b) == sealKeySize && keyPrivate(path):
			return b, nil
		case err == nil:
			why := "damaged"
			if len(b) == sealKeySize {
				why = "readable by others"
			}
			warn(fmt.Sprintf("compile cache: the key that seals compiled modules (%s) was %s; made a new one, so every module is compiled again", path, why))
			os.Remove(path)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("reading the compile cache's key: %w", err)
		}
		// Made whole under another name, then linked into place: two
		// processes making the key at once agree on one.
		key := make([]byte, sealKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), sealKeyFile+".*.tmp")
		if err != nil {
			return nil, fmt.Errorf("making the compile cache's key: %w", err)
		}
		_, werr := tmp.Write(key)
		if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("making the compile cache's key: %w", err)
		}
		err = os.Link(tmp.Name(), path)
		os.Remove(tmp.Name())
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("making the compile cache's key: %w", err)
		}
	}
	return nil, fmt.Errorf("making the compile cache's key %s: it keeps changing", path)
}

// slot names the store entry of a module's digest compiled by one engine
// (its version, the folder the entry lives in) with what else changes the
// code: "ENGINE/KEY", relative to the sealed folder.
func (c *codeCache) slot(engine, digest, variant string) string {
	h := sha256.New()
	for _, s := range []string{sealMagic, engine, digest, variant} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return engine + "/" + hex.EncodeToString(h.Sum(nil))
}

// path is where the entry of slot is stored.
func (c *codeCache) path(slot string) string {
	return filepath.Join(c.sealed, filepath.FromSlash(slot))
}

// errNoEntry says the store has nothing for a slot.
var errNoEntry = errors.New("no entry")

// open opens the sealed entry of slot and checks its header, returning the
// file positioned at the content, the content's length, the name it
// stores (wazero's file name, or ""), and the MAC with the header
// written. errNoEntry when there is none.
func (c *codeCache) open(slot string) (*os.File, int64, string, hash.Hash, error) {
	f, err := os.Open(c.path(slot))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, "", nil, errNoEntry
	}
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("reading it: %w", err)
	}
	fail := func(err error) (*os.File, int64, string, hash.Hash, error) {
		f.Close()
		return nil, 0, "", nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("reading it: %w", err))
	}
	head := make([]byte, len(sealMagic)+2)
	if _, err := io.ReadFull(f, head); err != nil {
		return fail(errors.New("it is truncated"))
	}
	if string(head[:len(sealMagic)]) != sealMagic {
		return fail(errors.New("it is not a sealed airlock cache entry"))
	}
	if head[len(sealMagic)] != sealVersion {
		return fail(fmt.Errorf("it was sealed by another version of airlock (format %d, this one reads %d)", head[len(sealMagic)], sealVersion))
	}
	name := make([]byte, head[len(sealMagic)+1])
	if _, err := io.ReadFull(f, name); err != nil {
		return fail(errors.New("it is truncated"))
	}
	if len(name) > 0 && !isHexName(name) {
		return fail(errors.New("it names no wazero entry"))
	}
	n := fi.Size() - int64(len(head)+len(name)+macSize)
	if n < 0 {
		return fail(errors.New("it is truncated"))
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(slot))
	mac.Write(head)
	mac.Write(name)
	return f, n, string(name), mac, nil
}

// verify reads the MAC that ends the entry and compares it with mac.
func verify(f *os.File, mac hash.Hash) error {
	want := make([]byte, macSize)
	if _, err := io.ReadFull(f, want); err != nil {
		return errors.New("it is truncated")
	}
	if extra, _ := f.Read(make([]byte, 1)); extra > 0 {
		return errors.New("it grew while it was read")
	}
	if !hmac.Equal(mac.Sum(nil), want) {
		return errors.New("its seal does not match: it was changed after airlock stored it, or sealed with another key")
	}
	return nil
}

// place copies the sealed entry of slot into wazero's private folder dir,
// under the name it stores, if its MAC matches; it returns that name, or
// errNoEntry.
func (c *codeCache) place(slot, dir string) (string, error) {
	f, n, name, mac, err := c.open(slot)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if name == "" {
		return "", errors.New("it names no wazero entry")
	}
	tmp, err := os.CreateTemp(dir, ".verifying-*")
	if err != nil {
		return "", fmt.Errorf("copying it: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.CopyBuffer(io.MultiWriter(tmp, mac), io.LimitReader(f, n), make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("copying it: %w", err)
	}
	if st, err := tmp.Stat(); err != nil || st.Size() != n {
		return "", errors.New("it is truncated")
	}
	if err := verify(f, mac); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("copying it: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("copying it: %w", err)
	}
	done = true
	return name, nil
}

// store seals content (n bytes) as the entry of slot, naming wazero's file
// name (or "" for wasmtime), and moves it into place whole.
func (c *codeCache) store(slot, name string, content io.Reader) error {
	final := c.path(slot)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)[:16]+".*.tmp")
	if err != nil {
		return err
	}
	head := append([]byte(sealMagic), sealVersion, byte(len(name)))
	head = append(head, name...)
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(slot))
	mac.Write(head)
	_, err = tmp.Write(head)
	if err == nil {
		_, err = io.Copy(io.MultiWriter(tmp, mac), content)
	}
	if err == nil {
		_, err = tmp.Write(mac.Sum(nil))
	}
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// discard removes the entry of slot and says why, once.
func (c *codeCache) discard(slot, module string, why error) {
	os.Remove(c.path(slot))
	c.warn(fmt.Sprintf("compile cache: discarded the compiled copy of %s (%v); compiling it again", module, why))
}

// compileWazero compiles m on rt through the sealed store. onCompile (may
// be nil) brackets a compile that no cache entry spares.
func (c *codeCache) compileWazero(ctx context.Context, rt wazero.Runtime, m *Module, variant string, onCompile func(string, int) func()) (wazero.CompiledModule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := c.slot(c.wazero, m.Digest, variant)
	dir, err := c.take()
	if err != nil {
		return nil, fmt.Errorf("compile cache: %w", err)
	}
	defer c.release()

	placed := ""
	var placedInfo fs.FileInfo // to see whether wazero replaced it
	if !c.loaded[slot] {
		name, err := c.place(slot, dir)
		switch {
		case err == nil:
			placed = name
			placedInfo, _ = os.Stat(filepath.Join(dir, name))
		case err != errNoEntry:
			c.discard(slot, m.Name, err)
		}
	}
	compile := func() (wazero.CompiledModule, error) {
		var done func()
		if placed == "" && !c.loaded[slot] && onCompile != nil {
			done = onCompile(m.Name, len(m.Bytes))
		}
		mod, err := rt.CompileModule(ctx, m.Bytes)
		if done != nil {
			done()
		}
		return mod, err
	}
	mod, err := compile()
	if err != nil && placed != "" {
		// Sealed by this key, yet wazero refuses it: discard it all the same.
		c.discard(slot, m.Name, fmt.Errorf("wazero could not load it: %v", firstLineOf(err)))
		c.clear(dir)
		placed = ""
		mod, err = compile()
	}
	if err == nil {
		c.loaded[slot] = true
		if placed != "" {
			// wazero deletes and rewrites an entry it judges stale (made by
			// another version of itself): then it is new, to be sealed.
			// (Its inode number may be reused at once: compare more.)
			if fi, err := os.Stat(filepath.Join(dir, placed)); err != nil || placedInfo == nil || !os.SameFile(fi, placedInfo) ||
				fi.Size() != placedInfo.Size() || !fi.ModTime().Equal(placedInfo.ModTime()) {
				placed = ""
			}
		}
		c.harvest(slot, dir, placed)
	}
	c.clear(dir)
	return mod, err
}

// harvest seals what wazero added to dir during a compile: the entry for
// the module just compiled.
func (c *codeCache) harvest(slot, dir, placed string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var added []string
	for _, e := range ents {
		if n := e.Name(); n != placed && isHexName([]byte(n)) && e.Type().IsRegular() {
			added = append(added, n)
		}
	}
	if len(added) != 1 {
		return // nothing new (a hit), or not one entry: store nothing
	}
	f, err := os.Open(filepath.Join(dir, added[0]))
	if err != nil {
		return
	}
	defer f.Close()
	if err := c.store(slot, added[0], f); err != nil {
		c.warn(fmt.Sprintf("compile cache: could not store a compiled module: %v", err))
	}
}

// clear empties wazero's private folder.
func (c *codeCache) clear(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// isHexName reports whether b is a wazero cache file name: 64 hex digits.
func isHexName(b []byte) bool {
	if len(b) != 2*sha256.Size {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func firstLineOf(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// variantOf says what besides the module changes the code wazero makes:
// the interrupt mode, the threads feature, and how the module was
// prepared (prepareModule).
func variantOf(in Interrupt, threads bool, prepared string) string {
	v := "interrupt=" + strconv.Itoa(int(in))
	if threads {
		v += ",threads"
	}
	if prepared != "" {
		v += " " + prepared
	}
	return v
}
