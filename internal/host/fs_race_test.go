//go:build linux

package host

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// TestSwapRace has a host goroutine swap a directory of the mount with a
// symlink to the outside directory, atomically and in a tight loop
// (renameat2 RENAME_EXCHANGE), while the filesystem works through that
// directory. Whatever the interleaving, nothing outside may be touched;
// both outcomes (the real directory, the refused link) must be seen, or the
// race did not happen.
func TestSwapRace(t *testing.T) {
	for _, link := range []string{"absolute", "relative"} {
		t.Run(link, func(t *testing.T) {
			w := newWorld(t)
			w.file("d/secret.txt", "inside")
			target := w.outside
			if link == "relative" {
				target = "../outside"
			}
			w.symlink(target, "swap")
			d, swap := filepath.Join(w.mount, "d"), filepath.Join(w.mount, "swap")
			f, _ := w.fs(defaultOpts())

			var stop atomic.Bool
			var swaps atomic.Int64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err != nil {
						t.Errorf("swap: %v", err)
						return
					}
					swaps.Add(1)
				}
			}()

			var ok, refused int
			count := func(e experimentalsys.Errno) {
				if e == 0 {
					ok++
				} else {
					refused++
				}
			}
			const rounds = 400
			for i := 0; i < rounds; i++ {
				count(writeFile(f, "d/secret.txt", experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, "written"))
				count(writeFile(f, "d/new.txt", experimentalsys.O_WRONLY|experimentalsys.O_CREAT|experimentalsys.O_TRUNC, "new"))
				_, e := readAll(t, f, "d/secret.txt")
				count(e)
				_, e = f.Stat("d/secret.txt")
				count(e)
				count(f.Utimens("d/secret.txt", 1e9, 1e9))
				count(f.Chmod("d/secret.txt", 0o644))
				count(f.Mkdir("d/sub", 0o755))
				count(f.Rmdir("d/sub"))
				count(f.Rename("d/new.txt", "d/renamed.txt"))
				count(f.Link("d/renamed.txt", "d/linked.txt"))
				count(f.Unlink("d/linked.txt"))
				count(f.Symlink("secret.txt", "d/sl"))
				count(f.Unlink("d/sl"))
				count(f.Unlink("d/renamed.txt"))
			}
			stop.Store(true)
			wg.Wait()
			t.Logf("%d swaps; %d operations succeeded, %d refused", swaps.Load(), ok, refused)
			if ok == 0 || refused == 0 || swaps.Load() < 100 {
				t.Fatalf("the race did not happen (%d ok, %d refused, %d swaps)", ok, refused, swaps.Load())
			}
			w.checkOutside()
			// Put the directory back where it was and check nothing but it changed.
			if fi, err := os.Lstat(d); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
			}
		})
	}
}
