package host

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// poll_oneoff and the sock_* functions of WASI preview 1.
//
// poll_oneoff reports a descriptor ready at once when it is one that never
// makes a reader or writer wait for long: a regular file (as POSIX has it),
// the standard output and error (airlock's own pipes), and standard input
// (a read of it may still wait for the person or program feeding it, as it
// would on wazero or wasmtime). Otherwise it sleeps until the earliest clock
// subscription is due, or the run ends.
//
// airlock gives the guest no socket (network access goes through its own
// host functions, docs/network-abi.md), so every sock_* call fails: ENOTSOCK
// for a file or stream, EBADF for a directory or a descriptor that does
// not exist.

// eventtype values and subscription flags.
const (
	eventClock   = 0
	eventFdRead  = 1
	eventFdWrite = 2

	subclockAbstime = 1

	clockRealtime  = 0
	clockMonotonic = 1
)

// subscription and event record sizes.
const (
	subscriptionSize = 48
	eventSize        = 32
)

// maxSubscriptions bounds one poll_oneoff call.
const maxSubscriptions = 4096

type pollEvent struct {
	userdata uint64
	errno    wasiErrno
	typ      uint8
	nbytes   uint64
}

func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, n, neventsPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	result(stack, pollOneoffImpl(ctx, mod.Memory(), in, out, n, neventsPtr))
}

func pollOneoffImpl(ctx context.Context, mem api.Memory, in, out, n, neventsPtr uint32) wasiErrno {
	if n == 0 || n > maxSubscriptions {
		return errINVAL
	}
	subs, ok := mem.Read(in, n*subscriptionSize)
	if !ok {
		return errFAULT
	}
	outBuf, ok := mem.Read(out, n*eventSize)
	if !ok {
		return errFAULT
	}
	w := wasiFrom(ctx)

	type clockSub struct {
		userdata uint64
		deadline time.Time
	}
	var ready []pollEvent
	var clocks []clockSub
	now := time.Now()
	for i := uint32(0); i < n; i++ {
		s := subs[i*subscriptionSize : (i+1)*subscriptionSize]
		ud, tag := le64(s[0:]), s[8]
		switch tag {
		case eventClock:
			id, timeout, flags := le32(s[16:]), le64(s[24:]), uint16(s[40])|uint16(s[41])<<8
			var deadline time.Time
			switch {
			case id != clockRealtime && id != clockMonotonic:
				ready = append(ready, pollEvent{userdata: ud, errno: errINVAL, typ: eventClock})
				continue
			case flags&subclockAbstime == 0:
				deadline = now.Add(durationOf(timeout))
			case id == clockRealtime:
				deadline = now.Add(time.Duration(int64(timeout) - now.UnixNano()))
			default:
				deadline = now.Add(time.Duration(int64(timeout) - monotonicNow()))
			}
			clocks = append(clocks, clockSub{ud, deadline})
		case eventFdRead, eventFdWrite:
			fd := le32(s[16:])
			ev := pollEvent{userdata: ud, typ: tag}
			if w == nil {
				ev.errno = errBADF
			} else if e, errno := w.get(fd); errno != 0 {
				ev.errno = errno
			} else {
				ev.errno = pollReady(e, tag)
				w.put(e)
			}
			ready = append(ready, ev)
		default:
			return errINVAL
		}
	}
	if len(ready) == 0 && len(clocks) > 0 {
		earliest := clocks[0].deadline
		for _, c := range clocks[1:] {
			if c.deadline.Before(earliest) {
				earliest = c.deadline
			}
		}
		if d := time.Until(earliest); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return errINTR
			}
		}
	}
	now = time.Now()
	for _, c := range clocks {
		if !c.deadline.After(now) {
			ready = append(ready, pollEvent{userdata: c.userdata, typ: eventClock})
		}
	}
	for i, ev := range ready {
		b := outBuf[i*eventSize : (i+1)*eventSize]
		for j := range b {
			b[j] = 0
		}
		put64(b[0:], ev.userdata)
		put16(b[8:], uint16(ev.errno))
		b[10] = ev.typ
		put64(b[16:], ev.nbytes)
	}
	if !mem.WriteUint32Le(neventsPtr, uint32(len(ready))) {
		return errFAULT
	}
	return 0
}

// pollReady says whether e is ready for the event typ (0) or why not.
func pollReady(e *fdEntry, typ uint8) wasiErrno {
	need := uint64(rightFdRead)
	if typ == eventFdWrite {
		need = rightFdWrite
	}
	switch {
	case e.kind == fdDir:
		return errBADF
	case e.base.Load()&need == 0:
		return errNOTCAPABLE
	}
	switch e.kind {
	case fdStdin:
		if typ != eventFdRead {
			return errBADF
		}
	case fdStdout, fdStderr:
		if typ != eventFdWrite {
			return errBADF
		}
	}
	return 0
}

// durationOf is a relative timeout in nanoseconds, capped so that adding
// it to now cannot overflow.
func durationOf(ns uint64) time.Duration {
	const max = uint64(1<<63 - 1)
	if ns > max/2 {
		ns = max / 2
	}
	return time.Duration(ns)
}

// ---- sockets ----

func sockAccept(ctx context.Context, _ api.Module, stack []uint64)   { notSocket(ctx, stack) }
func sockRecv(ctx context.Context, _ api.Module, stack []uint64)     { notSocket(ctx, stack) }
func sockSend(ctx context.Context, _ api.Module, stack []uint64)     { notSocket(ctx, stack) }
func sockShutdown(ctx context.Context, _ api.Module, stack []uint64) { notSocket(ctx, stack) }

// notSocket answers a sock_* call on descriptor stack[0]: a file or stream
// is not a socket (ENOTSOCK); a directory descriptor supports directory
// operations only, so it is a bad descriptor for this one (EBADF), as it
// is for fd_read and fd_write.
func notSocket(ctx context.Context, stack []uint64) {
	withFd(ctx, stack, func(_ *WASI, e *fdEntry) wasiErrno {
		if e.kind == fdDir {
			return errBADF
		}
		return errNOTSOCK
	})
}
