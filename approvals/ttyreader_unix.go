//go:build unix

package approvals

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ttyReader reads the terminal for huh's accessible mode, which has no
// timeout of its own: it waits for input with poll(2) in short steps and
// gives up (io error) when the timeout passes or ctx ends, without leaving
// a read behind that would swallow the next keystrokes.
type ttyReader struct {
	ctx      context.Context
	fd       int
	deadline time.Time // zero: none
	timedOut atomic.Bool
}

func newTTYReader(ctx context.Context, f *os.File, timeout time.Duration) *ttyReader {
	r := &ttyReader{ctx: ctx, fd: int(f.Fd())}
	if timeout > 0 {
		r.deadline = time.Now().Add(timeout)
	}
	return r
}

var errPromptTimeout = errors.New("prompt timed out")

func (r *ttyReader) expired() bool { return r.timedOut.Load() }

func (r *ttyReader) Read(p []byte) (int, error) {
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		wait := 100 * time.Millisecond
		if !r.deadline.IsZero() {
			left := time.Until(r.deadline)
			if left <= 0 {
				r.timedOut.Store(true)
				return 0, errPromptTimeout
			}
			wait = min(wait, left)
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(wait.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n > 0 {
			if fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0 {
				for {
					m, err := unix.Read(r.fd, p)
					if err == unix.EINTR {
						continue
					}
					if err == unix.EAGAIN {
						break
					}
					if m <= 0 && err == nil {
						return 0, io.EOF
					}
					if m < 0 {
						m = 0
					}
					return m, err
				}
			}
		}
	}
}
