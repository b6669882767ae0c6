package host

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// WASI has no permission bits and wazero asks for 0o600/0o700; the FS
// creates files as ordinary programs do, and an atomic replace keeps the
// replaced file's mode (an executable stays executable).
func TestCreateModeAndAtomicReplaceKeepMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	w := newWorld(t)
	w.file("run.sh", "#!/bin/sh\necho old\n")
	if err := os.Chmod(filepath.Join(w.mount, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, _ := w.fs(defaultOpts())

	// wazero's path_open passes 0o600 for every created file.
	file, e := f.OpenFile("new.txt", creat|wronly, 0o600)
	if e != 0 {
		t.Fatal(e)
	}
	file.Close()
	if e := f.Mkdir("newdir", 0o700); e != 0 {
		t.Fatal(e)
	}
	mode := func(rel string) os.FileMode {
		fi, err := os.Stat(filepath.Join(w.mount, rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode("new.txt"); m != 0o644 {
		t.Errorf("new file mode %o, want 644 (0666 under umask 022)", m)
	}
	if m := mode("newdir"); m != 0o755 {
		t.Errorf("new dir mode %o, want 755", m)
	}

	if e := writeFile(f, "run.sh.tmp", creat|wronly|excl, "#!/bin/sh\necho new\n"); e != 0 {
		t.Fatal(e)
	}
	if e := f.Rename("run.sh.tmp", "run.sh"); e != 0 {
		t.Fatal(e)
	}
	if m := mode("run.sh"); m != 0o755 {
		t.Errorf("replaced executable has mode %o, want 755 kept", m)
	}
	if got := w.content("run.sh"); got != "#!/bin/sh\necho new\n" {
		t.Errorf("content %q", got)
	}
	w.checkOutside()
}
