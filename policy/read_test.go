package policy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// ReadRegular returns a file whole, at its size and at the bound, and
// refuses one byte more and anything not a regular file.
func TestReadRegularWholeAndBounded(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 511, 512, 4096, 3<<20 + 7} {
		content := bytes.Repeat([]byte("abcdefg"), size/7+1)[:size]
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := policy.ReadRegular(path, int64(size), "a test allows")
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("size %d: %d bytes, %v", size, len(got), err)
		}
		if size > 0 {
			if _, err := policy.ReadRegular(path, int64(size-1), "a test allows"); err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Fatalf("size %d, bound one less: %v", size, err)
			}
		}
	}
	if _, err := policy.ReadRegular(dir, 1<<20, "a test allows"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a folder: %v", err)
	}
}
