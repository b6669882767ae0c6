package host

import (
	"context"
	"errors"
	"io"
	"math"

	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// The fd_* functions of WASI preview 1. Each takes its parameters from the
// stack in the order of wazero's definition (the WASI witx order) and
// leaves the errno in stack[0].

// withFd runs f on the entry of descriptor fd, held for the call.
func withFd(ctx context.Context, stack []uint64, f func(w *WASI, e *fdEntry) wasiErrno) {
	w := wasiFrom(ctx)
	if w == nil {
		result(stack, errBADF)
		return
	}
	e, errno := w.get(uint32(stack[0]))
	if errno != 0 {
		result(stack, errno)
		return
	}
	defer w.put(e)
	result(stack, f(w, e))
}

// fileOf returns the open file of a file or directory entry; streams have none.
func fileOf(e *fdEntry) (experimentalsys.File, wasiErrno) {
	switch e.kind {
	case fdFile:
		return e.file, 0
	case fdDir:
		return e.dirFile()
	}
	return nil, errBADF
}

// ---- close, renumber ----

func fdClose(ctx context.Context, _ api.Module, stack []uint64) {
	w := wasiFrom(ctx)
	if w == nil {
		result(stack, errBADF)
		return
	}
	result(stack, w.remove(uint32(stack[0])))
}

func fdRenumber(ctx context.Context, _ api.Module, stack []uint64) {
	w := wasiFrom(ctx)
	if w == nil {
		result(stack, errBADF)
		return
	}
	from, to := uint32(stack[0]), uint32(stack[1])
	w.mu.Lock()
	ef, et := w.fds[from], w.fds[to]
	if ef == nil || et == nil {
		w.mu.Unlock()
		result(stack, errBADF)
		return
	}
	if from == to {
		w.mu.Unlock()
		result(stack, 0)
		return
	}
	w.fds[to] = ef
	delete(w.fds, from)
	closeNow := et.refs == 0
	if !closeNow {
		et.closing = true
	}
	w.mu.Unlock()
	if closeNow {
		et.close()
	}
	result(stack, 0)
}

// ---- reading and writing ----

func fdRead(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		return readv(w, e, mod.Memory(), uint32(stack[1]), uint32(stack[2]), -1, uint32(stack[3]))
	})
}

func fdPread(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		off := int64(stack[3])
		if off < 0 {
			return errINVAL
		}
		return readv(w, e, mod.Memory(), uint32(stack[1]), uint32(stack[2]), off, uint32(stack[4]))
	})
}

// readv reads into the iovecs at iovs (at off, or at the file position
// when off is -1) and stores the count at resultPtr.
func readv(w *WASI, e *fdEntry, mem api.Memory, iovs, n uint32, off int64, resultPtr uint32) wasiErrno {
	need := uint64(rightFdRead)
	if off >= 0 {
		need |= rightFdSeek
	}
	if errno := e.need(need); errno != 0 {
		return errno
	}
	bufs, errno := iovecs(mem, iovs, n)
	if errno != 0 {
		return errno
	}
	var total uint64
	switch e.kind {
	case fdStdin:
		if off >= 0 {
			return errSPIPE
		}
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			k, err := w.stdin.Read(b)
			total += uint64(k)
			if err != nil && !errors.Is(err, io.EOF) && total == 0 {
				return streamErrno(err)
			}
			if k < len(b) {
				break // what the stream had; do not wait for more
			}
		}
	case fdFile:
		for _, b := range bufs {
			var k int
			var errno experimentalsys.Errno
			if off >= 0 {
				k, errno = e.file.Pread(b, off)
				off += int64(k)
			} else {
				k, errno = e.file.Read(b)
			}
			total += uint64(k)
			if errno != 0 {
				if total == 0 {
					return toWASIErrno(errno)
				}
				break
			}
			if k < len(b) {
				break
			}
		}
	case fdDir:
		return errISDIR
	default:
		return errBADF
	}
	if !mem.WriteUint32Le(resultPtr, uint32(total)) {
		return errFAULT
	}
	return 0
}

func fdWrite(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		return writev(w, e, mod.Memory(), uint32(stack[1]), uint32(stack[2]), -1, uint32(stack[3]))
	})
}

func fdPwrite(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		off := int64(stack[3])
		if off < 0 {
			return errINVAL
		}
		return writev(w, e, mod.Memory(), uint32(stack[1]), uint32(stack[2]), off, uint32(stack[4]))
	})
}

// writev writes the iovecs at iovs (at off, or at the file position when
// off is -1) and stores the count at resultPtr.
func writev(w *WASI, e *fdEntry, mem api.Memory, iovs, n uint32, off int64, resultPtr uint32) wasiErrno {
	need := uint64(rightFdWrite)
	if off >= 0 {
		need |= rightFdSeek
	}
	if errno := e.need(need); errno != 0 {
		return errno
	}
	bufs, errno := iovecs(mem, iovs, n)
	if errno != 0 {
		return errno
	}
	var total uint64
	switch e.kind {
	case fdStdout, fdStderr:
		if off >= 0 {
			return errSPIPE
		}
		out := w.stdout
		if e.kind == fdStderr {
			out = w.stderr
		}
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			k, err := out.Write(b)
			total += uint64(k)
			if err != nil {
				if total == 0 {
					return streamErrno(err)
				}
				break
			}
		}
	case fdFile:
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			var k int
			var errno experimentalsys.Errno
			if off >= 0 {
				k, errno = e.file.Pwrite(b, off)
				off += int64(k)
			} else {
				k, errno = e.file.Write(b)
			}
			total += uint64(k)
			if errno != 0 {
				if total == 0 {
					return toWASIErrno(errno)
				}
				break
			}
			if k < len(b) {
				break
			}
		}
	case fdDir:
		return errISDIR
	default:
		return errBADF
	}
	if !mem.WriteUint32Le(resultPtr, uint32(total)) {
		return errFAULT
	}
	return 0
}

// streamErrno is what a failed read or write of a standard stream gives
// the guest: the stream's own errno when it has one (EBADF once the run is
// over), else EIO (the output limit, a broken pipe).
func streamErrno(err error) wasiErrno {
	var e experimentalsys.Errno
	if errors.As(err, &e) {
		return toWASIErrno(e)
	}
	return errIO
}

// ---- position ----

func fdSeek(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		off, whence, resultPtr := int64(stack[1]), uint32(stack[2]), uint32(stack[3])
		need := uint64(rightFdSeek)
		if off == 0 && whence == io.SeekCurrent && e.base.Load()&rightFdTell != 0 {
			need = rightFdTell
		}
		if errno := e.need(need); errno != 0 {
			return errno
		}
		if whence > io.SeekEnd {
			return errINVAL
		}
		if e.kind != fdFile {
			if e.kind == fdDir {
				return errISDIR
			}
			return errSPIPE
		}
		pos, errno := e.file.Seek(off, int(whence))
		if errno != 0 {
			return toWASIErrno(errno)
		}
		if !mod.Memory().WriteUint64Le(resultPtr, uint64(pos)) {
			return errFAULT
		}
		return 0
	})
}

func fdTell(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if errno := e.need(rightFdTell); errno != 0 {
			return errno
		}
		if e.kind != fdFile {
			if e.kind == fdDir {
				return errISDIR
			}
			return errSPIPE
		}
		pos, errno := e.file.Seek(0, io.SeekCurrent)
		if errno != 0 {
			return toWASIErrno(errno)
		}
		if !mod.Memory().WriteUint64Le(uint32(stack[1]), uint64(pos)) {
			return errFAULT
		}
		return 0
	})
}

// ---- hints, allocation, sync ----

func fdAdvise(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		off, length, advice := stack[1], stack[2], uint32(stack[3])
		if errno := e.need(rightFdAdvise); errno != 0 {
			return errno
		}
		if advice > 5 || off > math.MaxInt64 || length > math.MaxInt64 || off+length > math.MaxInt64 {
			return errINVAL
		}
		if e.kind != fdFile {
			return errBADF
		}
		return 0 // advice only: nothing to do
	})
}

func fdAllocate(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		off, length := stack[1], stack[2]
		if errno := e.need(rightFdAllocate); errno != 0 {
			return errno
		}
		if e.kind != fdFile {
			return errBADF
		}
		if length == 0 || off > math.MaxInt64 || length > math.MaxInt64 || off+length > math.MaxInt64 {
			return errINVAL
		}
		st, errno := e.file.Stat()
		if errno != 0 {
			return toWASIErrno(errno)
		}
		if end := int64(off + length); end > st.Size {
			return toWASIErrno(e.file.Truncate(end))
		}
		return 0
	})
}

func fdSync(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if errno := e.need(rightFdSync); errno != 0 {
			return errno
		}
		f, errno := fileOf(e)
		if errno != 0 {
			return errno
		}
		return toWASIErrno(f.Sync())
	})
}

func fdDatasync(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if errno := e.need(rightFdDatasync); errno != 0 {
			return errno
		}
		f, errno := fileOf(e)
		if errno != 0 {
			return errno
		}
		return toWASIErrno(f.Datasync())
	})
}
