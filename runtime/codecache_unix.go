//go:build unix

package runtime

import "os"

// keyPrivate reports whether only its owner can read or write the file.
func keyPrivate(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o077 == 0
}
