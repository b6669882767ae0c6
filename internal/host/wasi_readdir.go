package host

import (
	"context"
	"io"

	"github.com/tetratelabs/wazero/api"
)

// fd_readdir. WASI names a place in a directory by a cookie, which airlock
// makes the index of the entry in the listing: 0 and 1 are "." and "..",
// then the directory's entries in the order the kernel gives them (hidden
// ones left out by FS). A directory keeps the entries read but not yet
// passed (dirStream), at most a batch; asking from cookie 0, or from a
// cookie already passed, reads the directory again from its start.

// dirStream is the part of a directory listing read and not yet passed.
type dirStream struct {
	base uint64   // cookie of ents[0]
	ents []dirEnt // entries from base on
	eof  bool
}

type dirEnt struct {
	name string
	ino  uint64
	typ  uint8
}

// direntSize is the size of a dirent record without its name.
const direntSize = 24

// readdirBatch is how many entries are read from the directory at a time.
const readdirBatch = 128

func fdReaddir(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		bufPtr, bufLen, cookie, usedPtr := uint32(stack[1]), uint32(stack[2]), stack[3], uint32(stack[4])
		if errno := e.need(rightFdReaddir); errno != 0 {
			return errno
		}
		switch e.kind {
		case fdDir:
		case fdFile:
			return errNOTDIR
		default:
			return errBADF
		}
		mem := mod.Memory()
		buf, ok := mem.Read(bufPtr, bufLen)
		if !ok {
			return errFAULT
		}
		f, errno := e.dirFile()
		if errno != 0 {
			return errno
		}
		e.mu.Lock()
		defer e.mu.Unlock()

		s := e.dir
		if s == nil || cookie == 0 || cookie < s.base {
			if _, errno := f.Seek(0, io.SeekStart); errno != 0 {
				return toWASIErrno(errno)
			}
			st, errno := f.Stat()
			if errno != 0 {
				return toWASIErrno(errno)
			}
			s = &dirStream{ents: []dirEnt{{".", st.Ino, filetypeDirectory}, {"..", 0, filetypeDirectory}}}
			e.dir = s
		}
		fill := func() wasiErrno {
			if s.eof {
				return 0
			}
			ds, errno := f.Readdir(readdirBatch)
			if errno != 0 {
				return toWASIErrno(errno)
			}
			if len(ds) == 0 {
				s.eof = true
			}
			for _, d := range ds {
				s.ents = append(s.ents, dirEnt{d.Name, d.Ino, filetypeOf(d.Type)})
			}
			return 0
		}
		// Pass what comes before the cookie.
		for s.base < cookie {
			if len(s.ents) == 0 {
				if errno := fill(); errno != 0 {
					return errno
				}
				if len(s.ents) == 0 {
					break // the cookie is past the end
				}
			}
			s.ents[0] = dirEnt{}
			s.ents = s.ents[1:]
			s.base++
		}
		// Write entries while there is room; the last may be cut short,
		// which tells the guest to ask again from its cookie. An entry
		// written whole is passed: dropped at once, so that a descriptor
		// holds at most a batch, however large the buffer and the directory
		// (a guest asking again from an earlier cookie gets the directory
		// read again from its start).
		used := 0
		for used < len(buf) {
			if len(s.ents) == 0 {
				if errno := fill(); errno != 0 {
					return errno
				}
				if len(s.ents) == 0 {
					break
				}
			}
			d := s.ents[0]
			var rec [direntSize]byte
			put64(rec[0:], s.base+1)
			put64(rec[8:], d.ino)
			put32(rec[16:], uint32(len(d.name)))
			rec[20] = d.typ
			n := copy(buf[used:], rec[:])
			n += copy(buf[used+n:], d.name)
			used += n
			if n < direntSize+len(d.name) {
				break // cut short: kept for the next call
			}
			s.ents[0] = dirEnt{}
			s.ents = s.ents[1:]
			s.base++
		}
		if !mem.WriteUint32Le(usedPtr, uint32(used)) {
			return errFAULT
		}
		return 0
	})
}
