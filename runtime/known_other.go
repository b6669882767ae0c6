//go:build !linux

package runtime

import (
	"os"

	"github.com/airlockhq/airlock/policy"
)

// fileIDOf knows no file here: Preload remembers nothing.
func fileIDOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }

func readModuleFile(path string) ([]byte, fileID, bool, error) {
	b, err := policy.ReadRegular(path, MaxModuleSize, "a module may have")
	return b, fileID{}, false, err
}
