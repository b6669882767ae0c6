//go:build !unix

package approvals

import (
	"context"
	"os"
	"time"
)

// ttyReader reads the terminal for huh's accessible mode. Without poll(2)
// it has no timeout.
type ttyReader struct{ f *os.File }

func newTTYReader(ctx context.Context, f *os.File, timeout time.Duration) *ttyReader {
	return &ttyReader{f: f}
}

func (r *ttyReader) expired() bool { return false }

func (r *ttyReader) Read(p []byte) (int, error) { return r.f.Read(p) }
