package runtime_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/runtime"
)

// Preload looks at the module's path, reads the path, and looks again; a
// tool that may rename folders where the module lies (a writable mount)
// swaps the module's folder for one of its own between the looks and back:
// both looks see the original, settled file, while the bytes read are the
// tool's. A later warm run whose file is still the original runs the
// tool's bytes, which the file never held.
func TestRedTeamPreloadReadsAnotherFileThanItLooksAt(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "tools")
	evil := filepath.Join(base, "evil")
	aside := filepath.Join(base, "aside")
	good := []byte("\x00asm\x01\x00\x00\x00good")
	bad := []byte("\x00asm\x01\x00\x00\x00evil")
	for _, d := range []struct {
		dir string
		b   []byte
	}{{dir, good}, {evil, bad}} {
		os.Mkdir(d.dir, 0o755)
		if err := os.WriteFile(filepath.Join(d.dir, "m.wasm"), d.b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond) // the original settles
	path := filepath.Join(dir, "m.wasm")

	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // the tool: swap the folders, and back, again and again
		defer close(done)
		for !stop.Load() {
			os.Rename(dir, aside)
			os.Rename(evil, dir)
			os.Rename(dir, evil)
			os.Rename(aside, dir)
		}
	}()
	e, err := runtime.New(context.Background(), runtime.Config{CacheDir: t.TempDir(), OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	deadline := time.Now().Add(4 * time.Second) // before the fix, a swap was won within a second
	for time.Now().Before(deadline) {
		e.Preload(path, 0)
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != int64(len(good)) {
			continue
		}
		// The tool stops; the file at path is the original.
		stop.Store(true)
		<-done
		if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
			t.Fatalf("the folders did not end as they began: %q", b)
		}
		m, err := e.Load(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(m.Bytes, bad) {
			t.Fatalf("the run of %s gets %q, the file holds %q", path, m.Bytes, good)
		}
		stop.Store(false)
		done = make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				os.Rename(dir, aside)
				os.Rename(evil, dir)
				os.Rename(dir, evil)
				os.Rename(aside, dir)
			}
		}()
	}
	stop.Store(true)
	<-done
}
