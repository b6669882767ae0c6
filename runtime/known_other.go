//go:build !linux

package runtime

import (
	"os"

	"github.com/airlockhq/airlock/policy"
)

// fileIDOf knows no file here: Preload remembers nothing.
func fileIDOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }

func readModuleFile(path string, size int64) ([]byte, fileID, bool, error) {
	max := int64(MaxModuleSize)
	if size > 0 {
		max = size
	}
	b, err := policy.ReadRegular(path, max, "the module had when it last ran")
	return b, fileID{}, false, err
}
