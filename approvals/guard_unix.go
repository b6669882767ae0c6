//go:build unix

package approvals

import "golang.org/x/sys/unix"

// pollIn waits up to ms milliseconds for fd to have input, without taking
// it; an interrupted wait is "not yet".
func pollIn(fd uintptr, ms int) (ready bool, err error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, ms)
	if err == unix.EINTR {
		return false, nil
	}
	return n > 0, err
}
