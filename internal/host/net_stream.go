package host

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// netPump reads one stream (a connection, a response body) on a goroutine
// of its own into a few buffers, so that a guest's read returns at once
// with what has arrived, or EAGAIN: a guest that polls never holds its only
// thread while data is on the way (see "Why do reads poll?" in RATIONALE.md).
//
// Host memory per stream is bounded by netPumpChunks buffers of
// netPumpChunk bytes.
type netPump struct {
	full chan []byte   // filled chunks; closed after the last, with err set
	free chan []byte   // emptied buffers, back to the reader goroutine
	stop chan struct{} // closed by close: the goroutine stops sending
	once sync.Once
	err  error // what ended the stream (io.EOF at a clean end); valid once full is closed

	// Owned by the consumer (the guest's calls, one at a time).
	cur  []byte // the unread part of the chunk being consumed
	buf  []byte // cur's whole buffer, returned to free when cur is empty
	done bool   // full is closed and drained
}

const (
	netPumpChunk  = 256 << 10
	netPumpChunks = 4
)

func newNetPump(r io.Reader) *netPump {
	p := &netPump{
		full: make(chan []byte, netPumpChunks),
		free: make(chan []byte, netPumpChunks),
		stop: make(chan struct{}),
	}
	go p.loop(r)
	return p
}

func (p *netPump) loop(r io.Reader) {
	made := 0
	var b []byte
	for {
		if b == nil {
			select {
			case b = <-p.free:
			default:
				if made < netPumpChunks {
					b, made = make([]byte, netPumpChunk), made+1
					break
				}
				select {
				case b = <-p.free:
				case <-p.stop:
					return
				}
			}
		}
		n, err := r.Read(b[:cap(b)])
		if n > 0 {
			select {
			case p.full <- b[:n]:
				b = nil
			case <-p.stop:
				return
			}
		}
		if err != nil {
			p.err = err
			close(p.full)
			return
		}
	}
}

// close stops the goroutine from sending; the owner closes the stream
// itself, which ends a Read the goroutine is blocked in.
func (p *netPump) close() { p.once.Do(func() { close(p.stop) }) }

// read copies what has arrived into dst. It waits as the ABI's timeout
// says: timeoutMs < 0 until something arrives, 0 not at all, > 0 at most
// that many milliseconds; when nothing arrived in that time it returns
// EAGAIN. At the end of the stream it returns 0 bytes and netOK; a broken
// stream gives its errno.
func (p *netPump) read(ctx context.Context, dst []byte, timeoutMs int32) (int, netErrno) {
	if len(dst) == 0 {
		return 0, netOK
	}
	if len(p.cur) == 0 && !p.done {
		if e := p.next(ctx, timeoutMs); e != netOK {
			return 0, e
		}
	}
	if p.done {
		return 0, p.endErrno()
	}
	n := 0
	for {
		c := copy(dst[n:], p.cur)
		n += c
		p.cur = p.cur[c:]
		if n == len(dst) {
			break
		}
		// Take more only if it is already there.
		if p.next(ctx, 0) != netOK || p.done {
			break
		}
	}
	if len(p.cur) == 0 && p.buf != nil {
		p.free <- p.buf
		p.buf = nil
	}
	return n, netOK
}

// next makes the next chunk current, or sets done at the end of the
// stream. The current chunk must be empty.
func (p *netPump) next(ctx context.Context, timeoutMs int32) netErrno {
	if p.buf != nil {
		p.free <- p.buf
		p.buf = nil
	}
	take := func(b []byte, ok bool) netErrno {
		if !ok {
			p.done = true
			return netOK
		}
		p.cur, p.buf = b, b[:cap(b)]
		return netOK
	}
	select {
	case b, ok := <-p.full:
		return take(b, ok)
	default:
	}
	if timeoutMs == 0 {
		return netEAGAIN
	}
	var expire <-chan time.Time
	if timeoutMs > 0 {
		t := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
		defer t.Stop()
		expire = t.C
	}
	select {
	case b, ok := <-p.full:
		return take(b, ok)
	case <-expire:
		return netEAGAIN
	case <-p.stop:
		return netEBADF
	case <-ctx.Done():
		return netECANCELED
	}
}

func (p *netPump) endErrno() netErrno {
	if errors.Is(p.err, io.EOF) {
		return netOK
	}
	return netErrnoOf(p.err)
}

// netWait waits for ch to be closed, as the ABI's timeout says (see read).
func netWait(ctx context.Context, ch <-chan struct{}, timeoutMs int32) netErrno {
	select {
	case <-ch:
		return netOK
	default:
	}
	if timeoutMs == 0 {
		return netEAGAIN
	}
	var expire <-chan time.Time
	if timeoutMs > 0 {
		t := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-ch:
		return netOK
	case <-expire:
		return netEAGAIN
	case <-ctx.Done():
		return netECANCELED
	}
}
