package host

import (
	"context"
	"io/fs"
	"math"
	"time"

	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	sysapi "github.com/tetratelabs/wazero/sys"
)

// The fd_* functions of WASI preview 1 that read or change what a
// descriptor is (its type, flags, rights, times, size, preopen name), and
// the WASI records they write.

// ---- WASI types ----

// filetype values.
const (
	filetypeUnknown         = 0
	filetypeBlockDevice     = 1
	filetypeCharacterDevice = 2
	filetypeDirectory       = 3
	filetypeRegularFile     = 4
	filetypeSocketStream    = 6
	filetypeSymbolicLink    = 7
)

// fdflags values.
const (
	fdflagAppend   = 1
	fdflagDsync    = 2
	fdflagNonblock = 4
	fdflagRsync    = 8
	fdflagSync     = 16
	fdflagsAll     = fdflagAppend | fdflagDsync | fdflagNonblock | fdflagRsync | fdflagSync
)

// fstflags values.
const (
	fstAtim    = 1
	fstAtimNow = 2
	fstMtim    = 4
	fstMtimNow = 8
)

func filetypeOf(m fs.FileMode) uint8 {
	switch {
	case m.IsDir():
		return filetypeDirectory
	case m.IsRegular():
		return filetypeRegularFile
	case m&fs.ModeSymlink != 0:
		return filetypeSymbolicLink
	case m&fs.ModeCharDevice != 0:
		return filetypeCharacterDevice
	case m&fs.ModeDevice != 0:
		return filetypeBlockDevice
	case m&fs.ModeSocket != 0:
		return filetypeSocketStream
	}
	return filetypeUnknown
}

// putFilestat writes a 64-byte filestat.
func putFilestat(mem api.Memory, ptr uint32, st *sysapi.Stat_t) wasiErrno {
	b, ok := mem.Read(ptr, 64)
	if !ok {
		return errFAULT
	}
	put64(b[0:], st.Dev)
	put64(b[8:], st.Ino)
	b[16] = filetypeOf(st.Mode)
	for i := 17; i < 24; i++ {
		b[i] = 0
	}
	put64(b[24:], st.Nlink)
	put64(b[32:], uint64(st.Size))
	put64(b[40:], uint64(st.Atim))
	put64(b[48:], uint64(st.Mtim))
	put64(b[56:], uint64(st.Ctim))
	return 0
}

// streamStat is what fd_filestat_get says of a standard stream: airlock
// hands the guest pipes of its own, neither a file nor a terminal.
var streamStat = sysapi.Stat_t{Nlink: 1}

// ---- fdstat ----

func fdFdstatGet(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		b, ok := mod.Memory().Read(uint32(stack[1]), 24)
		if !ok {
			return errFAULT
		}
		var typ uint8
		switch e.kind {
		case fdDir:
			typ = filetypeDirectory
		case fdFile:
			st, errno := e.file.Stat()
			if errno != 0 {
				return toWASIErrno(errno)
			}
			typ = filetypeOf(st.Mode)
		default:
			typ = filetypeUnknown
		}
		for i := range b {
			b[i] = 0
		}
		b[0] = typ
		put16(b[2:], uint16(e.flags.Load()))
		put64(b[8:], e.base.Load())
		put64(b[16:], e.inheriting.Load())
		return 0
	})
}

func fdFdstatSetFlags(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		flags := uint16(stack[1])
		if errno := e.need(rightFdFdstatSetFlags); errno != 0 {
			return errno
		}
		if flags&^fdflagsAll != 0 {
			return errINVAL
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		old := uint16(e.flags.Load())
		// The synchronous-write flags cannot be changed on an open file
		// (Linux ignores them in fcntl); asking for a change is refused.
		const syncFlags = fdflagDsync | fdflagRsync | fdflagSync
		if (flags^old)&syncFlags != 0 {
			return errNOTSUP
		}
		switch e.kind {
		case fdFile:
			if (flags^old)&fdflagAppend != 0 {
				if errno := e.file.SetAppend(flags&fdflagAppend != 0); errno != 0 {
					return toWASIErrno(errno)
				}
			}
			if (flags^old)&fdflagNonblock != 0 {
				pf, ok := e.file.(experimentalsys.PollableFile)
				if !ok {
					return errNOTSUP
				}
				if errno := pf.SetNonblock(flags&fdflagNonblock != 0); errno != 0 {
					return toWASIErrno(errno)
				}
			}
		case fdDir:
			if (flags^old)&fdflagAppend != 0 {
				return errISDIR
			}
		}
		// A stream keeps what was asked for; reads and writes of airlock's
		// streams block either way, which is what a guest without
		// non-blocking support does too.
		e.flags.Store(uint32(flags))
		return 0
	})
}

func fdFdstatSetRights(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		base, inheriting := stack[1], stack[2]
		// Rights can only be dropped.
		e.mu.Lock()
		defer e.mu.Unlock()
		if base&^e.base.Load() != 0 || inheriting&^e.inheriting.Load() != 0 {
			return errNOTCAPABLE
		}
		e.base.Store(base)
		e.inheriting.Store(inheriting)
		return 0
	})
}

// ---- filestat ----

func fdFilestatGet(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if errno := e.need(rightFdFilestatGet); errno != 0 {
			return errno
		}
		if e.kind != fdFile && e.kind != fdDir {
			st := streamStat
			return putFilestat(mod.Memory(), uint32(stack[1]), &st)
		}
		f, errno := fileOf(e)
		if errno != 0 {
			return errno
		}
		st, ferr := f.Stat()
		if ferr != 0 {
			return toWASIErrno(ferr)
		}
		return putFilestat(mod.Memory(), uint32(stack[1]), &st)
	})
}

func fdFilestatSetSize(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		size := stack[1]
		if errno := e.need(rightFdFilestatSetSize); errno != 0 {
			return errno
		}
		switch {
		case e.kind == fdDir:
			return errISDIR
		case e.kind != fdFile:
			return errINVAL
		case size > math.MaxInt64:
			return errFBIG
		}
		return toWASIErrno(e.file.Truncate(int64(size)))
	})
}

func fdFilestatSetTimes(ctx context.Context, _ api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if errno := e.need(rightFdFilestatSetTimes); errno != 0 {
			return errno
		}
		atim, mtim, errno := wasiTimes(stack[1], stack[2], uint16(stack[3]))
		if errno != 0 {
			return errno
		}
		f, errno := fileOf(e)
		if errno != 0 {
			return errno
		}
		return toWASIErrno(f.Utimens(atim, mtim))
	})
}

// wasiTimes turns fd_filestat_set_times' arguments into Utimens' (with
// UTIME_OMIT for a time left alone).
func wasiTimes(atim, mtim uint64, flags uint16) (int64, int64, wasiErrno) {
	if flags&^(fstAtim|fstAtimNow|fstMtim|fstMtimNow) != 0 ||
		flags&(fstAtim|fstAtimNow) == fstAtim|fstAtimNow || flags&(fstMtim|fstMtimNow) == fstMtim|fstMtimNow {
		return 0, 0, errINVAL
	}
	now := time.Now().UnixNano()
	pick := func(set, setNow uint16, v uint64) int64 {
		switch {
		case flags&setNow != 0:
			return now
		case flags&set != 0:
			return int64(v)
		}
		return experimentalsys.UTIME_OMIT
	}
	return pick(fstAtim, fstAtimNow, atim), pick(fstMtim, fstMtimNow, mtim), 0
}

// ---- preopens ----

func fdPrestatGet(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if e.preopen == "" {
			return errBADF
		}
		b, ok := mod.Memory().Read(uint32(stack[1]), 8)
		if !ok {
			return errFAULT
		}
		put32(b, 0) // tag 0: a directory, padding
		put32(b[4:], uint32(len(e.preopen)))
		return 0
	})
}

func fdPrestatDirName(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		if e.preopen == "" {
			return errBADF
		}
		ptr, n := uint32(stack[1]), uint32(stack[2])
		if n < uint32(len(e.preopen)) {
			return errNAMETOOLONG
		}
		if !mod.Memory().WriteString(ptr, e.preopen) {
			return errFAULT
		}
		return 0
	})
}
