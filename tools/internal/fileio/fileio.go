// Package fileio holds how the sample tools that change files (write,
// patch) write them: through a symbolic link to its target, and whole, by
// a rename, so that a reader never sees half a file.
package fileio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ResolveLink returns the file a symbolic link name finally points to, or
// name itself when it is not a link (or does not exist yet).
func ResolveLink(name string) (string, error) {
	info, err := os.Lstat(name)
	if err != nil || info.Mode()&fs.ModeSymlink == 0 {
		return name, nil
	}
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return "", fmt.Errorf("%s is a symbolic link that cannot be followed: %w", name, err)
	}
	return target, nil
}

// WriteAtomic replaces the contents of name with data through a temporary
// file in the same directory, keeping name's permission bits if it exists.
func WriteAtomic(name string, data []byte) (err error) {
	perm := fs.FileMode(0o644)
	if info, err := os.Stat(name); err == nil {
		if info.IsDir() {
			return fmt.Errorf("%s is a directory", name)
		}
		perm = info.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	// Under WASI there are no permission bits: Chmod succeeds and does
	// nothing, and the host decides the mode of the new file.
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
