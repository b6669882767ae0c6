package warm

import (
	"errors"
	"strconv"

	"io"
	"syscall"
)

// Frames on the sockets: one byte of kind, four of length (little endian),
// the payload, and the file descriptors riding with the first byte.
const (
	kindRequest  = 'Q' // client → server: a run (request payload; fds)
	kindDecline  = 'D' // server or worker → client: run it yourself (reason)
	kindStarted  = 'S' // worker → client: the run is mine (worker's pid)
	kindExit     = 'X' // worker → client: the run's exit status
	kindStatus   = 'T' // client → server: status query; server → client: the status text
	kindStop     = 'Z' // client → server: stop serving
	kindHints    = 'H' // server → worker: modules to prepare
	kindHand     = 'R' // server → worker: a request (client's fds and socket)
	kindReady    = 'Y' // worker → server: prepared
	kindRan      = 'M' // worker → server: what the run compiled (hints)
	kindAccounts = 'C' // worker → server: CPU the run used, in microseconds
)

const maxFrame = 8 << 20 // arguments and environment fit in 2 MiB (ARG_MAX)

var errShortFrame = errors.New("warm: short frame")

// send writes one frame with fds attached to its first byte.
func send(fd int, kind byte, payload []byte, fds ...int) error {
	if len(payload) > maxFrame {
		return errors.New("warm: frame of " + strconv.Itoa(len(payload)) + " bytes is too large")
	}
	b := make([]byte, 5+len(payload))
	b[0] = kind
	putU32(b[1:5], uint32(len(payload)))
	copy(b[5:], payload)
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	for len(b) > 0 {
		n, err := syscall.SendmsgN(fd, b, oob, nil, syscall.MSG_NOSIGNAL)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, oob = b[n:], nil
	}
	return nil
}

// recv reads one frame. Descriptors that came with it are returned, set
// close-on-exec; the caller owns them.
func recv(fd int) (kind byte, payload []byte, fds []int, err error) {
	var hdr [5]byte
	oob := make([]byte, syscall.CmsgSpace(8*4))
	got := 0
	for got < len(hdr) {
		n, oobn, _, _, err := syscall.Recvmsg(fd, hdr[got:], oob, syscall.MSG_CMSG_CLOEXEC)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			closeAll(fds)
			return 0, nil, nil, err
		}
		if oobn > 0 {
			more, perr := parseRights(oob[:oobn])
			fds = append(fds, more...)
			if perr != nil {
				closeAll(fds)
				return 0, nil, nil, perr
			}
		}
		if n == 0 {
			closeAll(fds)
			if got == 0 {
				return 0, nil, nil, io.EOF
			}
			return 0, nil, nil, errShortFrame
		}
		got += n
	}
	size := uint32(hdr[1]) | uint32(hdr[2])<<8 | uint32(hdr[3])<<16 | uint32(hdr[4])<<24
	if size > maxFrame {
		closeAll(fds)
		return 0, nil, nil, errors.New("warm: frame of " + strconv.Itoa(int(size)) + " bytes is too large")
	}
	payload = make([]byte, size)
	for off := 0; off < len(payload); {
		n, err := syscall.Read(fd, payload[off:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			closeAll(fds)
			return 0, nil, nil, errShortFrame
		}
		off += n
	}
	return hdr[0], payload, fds, nil
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		got, err := syscall.ParseUnixRights(&m)
		if err != nil {
			closeAll(fds)
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
