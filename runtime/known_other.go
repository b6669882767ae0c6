//go:build !linux

package runtime

import "os"

// fileIDOf knows no file here: Preload remembers nothing.
func fileIDOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }
