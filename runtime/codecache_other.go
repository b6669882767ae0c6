//go:build !unix

package runtime

// keyPrivate reports whether only its owner can read the file. Permission
// bits mean nothing here (Windows): the file lives in the user's own cache
// folder.
func keyPrivate(path string) bool { return true }
