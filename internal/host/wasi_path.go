package host

import (
	"context"
	"path"
	"strings"

	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/airlockhq/airlock/decision"
)

// The path_* functions of WASI preview 1, and how a path given relative to
// a directory descriptor finds its mount.
//
// A path is resolved as WASI's capability model asks: relative to the
// directory, never absolute, never climbing above that directory (".."
// that would is refused, EPERM, and recorded as a boundary decision of the
// directory's mount). Then, by guest path, the innermost mount decides: a
// path in an outer mount that reaches the mount point of an inner one
// ("/" mounted, "/work" mounted, "work/x" asked of "/") is handed to the
// inner mount. What the path meets on the way (symlinks, and where a
// directory really is) is FS's to check, in the mount that serves it.

// maxPath bounds the length of a path a guest may pass (Linux's PATH_MAX).
const maxPath = 4096

// lookupflags
const lookupSymlinkFollow = 1

// oflags
const (
	oflagCreat     = 1
	oflagDirectory = 2
	oflagExcl      = 4
	oflagTrunc     = 8
)

// resolved is a path after resolution: the mount that serves it and the
// path inside that mount (ending in "/" when the guest's did).
type resolved struct {
	m   *wasiMount
	rel string
}

// guestPath is where a directory entry is, as the guest sees it.
func (e *fdEntry) guestPath() string {
	return path.Join(e.mount.guest, e.rel)
}

// resolve finds the mount and the path inside it that p names relative to
// the directory entry e. kind and op name the operation in a refusal.
func (w *WASI) resolve(e *fdEntry, kind decision.Kind, op, p string) (resolved, wasiErrno) {
	if e.kind != fdDir {
		return resolved{}, errNOTDIR
	}
	switch {
	case p == "":
		return resolved{}, errNOENT
	case strings.IndexByte(p, 0) >= 0:
		return resolved{}, errINVAL
	case len(p) > maxPath:
		return resolved{}, errNAMETOOLONG
	case p[0] == '/':
		return resolved{}, toWASIErrno(e.mount.fs.escape(kind, op, p))
	}
	slash := strings.HasSuffix(p, "/")
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		// The decision shows the path as asked, not cleaned.
		return resolved{}, toWASIErrno(e.mount.fs.escape(kind, op, strings.TrimSuffix(e.guestPath(), "/")+"/"+p))
	}
	full := c
	if e.rel != "." {
		full = path.Join(e.rel, c)
	}
	m := e.mount
	for moved := true; moved; {
		moved = false
		for _, ch := range m.children {
			if rest, ok := relBelow(ch.at, full); ok {
				m, full, moved = ch.m, rest, true
				break
			}
		}
	}
	if slash {
		full += "/"
	}
	return resolved{m: m, rel: full}, 0
}

// relBelow returns p relative to dir when p is dir or lies below it (both
// clean relative paths).
func relBelow(dir, p string) (string, bool) {
	if p == dir {
		return ".", true
	}
	if rest, ok := strings.CutPrefix(p, dir+"/"); ok {
		return rest, true
	}
	return "", false
}

// pathArg reads the path at (ptr, n) and resolves it relative to e, after
// checking that e holds the rights in need.
func (w *WASI) pathArg(mem api.Memory, e *fdEntry, need uint64, kind decision.Kind, op string, ptr, n uint32) (resolved, wasiErrno) {
	if e.kind != fdDir {
		return resolved{}, errNOTDIR
	}
	if errno := e.need(need); errno != 0 {
		return resolved{}, errno
	}
	if n > maxPath {
		return resolved{}, errNAMETOOLONG // before copying it out of guest memory
	}
	p, errno := guestString(mem, ptr, n)
	if errno != 0 {
		return resolved{}, errno
	}
	r, errno := w.resolve(e, kind, op, p)
	if errno == 0 {
		r.m.fs.noteLook(kind, op, r.rel) // learn mode (fs_use.go)
	}
	return r, errno
}

// with2Fds runs f with the entries of two descriptors held.
func with2Fds(ctx context.Context, stack []uint64, fd1, fd2 uint32, f func(w *WASI, e1, e2 *fdEntry) wasiErrno) {
	w := wasiFrom(ctx)
	if w == nil {
		result(stack, errBADF)
		return
	}
	e1, errno := w.get(fd1)
	if errno != 0 {
		result(stack, errno)
		return
	}
	defer w.put(e1)
	e2, errno := w.get(fd2)
	if errno != 0 {
		result(stack, errno)
		return
	}
	defer w.put(e2)
	result(stack, f(w, e1, e2))
}

// ---- path_open ----

func pathOpen(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		dirflags, pathPtr, pathLen := uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
		oflags, base, inheriting, fdflags := uint16(stack[4]), stack[5], stack[6], uint16(stack[7])
		resultPtr := uint32(stack[8])
		mem := mod.Memory()

		if oflags&^(oflagCreat|oflagDirectory|oflagExcl|oflagTrunc) != 0 || fdflags&^fdflagsAll != 0 {
			return errINVAL
		}
		need := uint64(rightPathOpen)
		if oflags&oflagCreat != 0 {
			need |= rightPathCreateFile
		}
		if oflags&oflagTrunc != 0 {
			need |= rightPathFilestatSetSize
		}
		// A guest that asks for no rights at all (hand-written modules do)
		// gets what the directory passes on, opened for reading, as wazero
		// gives it; rights asked for are kept to (docs/wasi.md).
		if base == 0 {
			base = e.inheriting.Load() &^ (rightFdWrite | rightFdAllocate | rightFdFilestatSetSize | rightFdDatasync)
		}
		read := base&(rightFdRead|rightFdReaddir) != 0
		write := base&rightFdWrite != 0 || fdflags&fdflagAppend != 0
		kind := decision.FSRead
		if write || oflags&(oflagCreat|oflagTrunc) != 0 {
			kind = decision.FSWrite
		}
		r, errno := w.pathArg(mem, e, need, kind, "open", pathPtr, pathLen)
		if errno != 0 {
			return errno
		}

		var flag experimentalsys.Oflag
		switch {
		case oflags&oflagDirectory != 0 && write:
			return errISDIR // a directory is never opened for writing
		case oflags&oflagDirectory != 0:
			flag = experimentalsys.O_RDONLY | experimentalsys.O_DIRECTORY
		case read && write:
			flag = experimentalsys.O_RDWR
		case write:
			flag = experimentalsys.O_WRONLY
		default:
			flag = experimentalsys.O_RDONLY
		}
		for _, f := range []struct {
			set  bool
			flag experimentalsys.Oflag
		}{
			{oflags&oflagCreat != 0, experimentalsys.O_CREAT},
			{oflags&oflagExcl != 0, experimentalsys.O_EXCL},
			{oflags&oflagTrunc != 0, experimentalsys.O_TRUNC},
			{dirflags&lookupSymlinkFollow == 0, experimentalsys.O_NOFOLLOW},
			{fdflags&fdflagAppend != 0, experimentalsys.O_APPEND},
			{fdflags&fdflagNonblock != 0, experimentalsys.O_NONBLOCK},
			{fdflags&fdflagDsync != 0, experimentalsys.O_DSYNC},
			{fdflags&fdflagRsync != 0, experimentalsys.O_RSYNC},
			{fdflags&fdflagSync != 0, experimentalsys.O_SYNC},
		} {
			if f.set {
				flag |= f.flag
			}
		}
		// WASI has no permission bits: a new file gets 0o666 less the umask.
		file, ferr := r.m.fs.OpenFile(r.rel, flag, 0o666)
		if ferr != 0 {
			return toWASIErrno(ferr)
		}
		isDir, ferr := file.IsDir()
		if ferr != 0 {
			file.Close()
			return toWASIErrno(ferr)
		}
		passes := e.inheriting.Load()
		ne := &fdEntry{kind: fdFile, mount: r.m, file: file}
		mask := fileRights
		if isDir {
			ne.kind, mask = fdDir, dirRights
			ne.rel = strings.TrimSuffix(r.rel, "/")
			if rf, ok := file.(interface{ mountRel() string }); ok {
				ne.rel = rf.mountRel() // where it really is, symlinks followed
			}
			ne.rel = path.Clean(ne.rel)
		}
		newEntry(ne, base&passes&mask, inheriting&passes, fdflags)
		fd, errno := w.add(ne)
		if errno != 0 {
			file.Close()
			return errno
		}
		if !mem.WriteUint32Le(resultPtr, fd) {
			w.remove(fd)
			return errFAULT
		}
		return 0
	})
}

// ---- stat and times ----

func pathFilestatGet(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		flags, ptr, n, out := uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4])
		op := "lstat"
		if flags&lookupSymlinkFollow != 0 {
			op = "stat"
		}
		r, errno := w.pathArg(mod.Memory(), e, rightPathFilestatGet, decision.FSRead, op, ptr, n)
		if errno != 0 {
			return errno
		}
		stat := r.m.fs.Lstat
		if flags&lookupSymlinkFollow != 0 {
			stat = r.m.fs.Stat
		}
		st, ferr := stat(r.rel)
		if ferr != 0 {
			return toWASIErrno(ferr)
		}
		return putFilestat(mod.Memory(), out, &st)
	})
}

func pathFilestatSetTimes(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		flags, ptr, n := uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
		atim, mtim, errno := wasiTimes(stack[4], stack[5], uint16(stack[6]))
		if errno != 0 {
			return errno
		}
		r, errno := w.pathArg(mod.Memory(), e, rightPathFilestatSetTimes, decision.FSWrite, "utimens", ptr, n)
		if errno != 0 {
			return errno
		}
		if flags&lookupSymlinkFollow != 0 {
			return toWASIErrno(r.m.fs.Utimens(r.rel, atim, mtim))
		}
		return toWASIErrno(r.m.fs.utimensNoFollow(r.rel, atim, mtim))
	})
}

// ---- directories, links, names ----

func pathCreateDirectory(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		r, errno := w.pathArg(mod.Memory(), e, rightPathCreateDirectory, decision.FSWrite, "mkdir", uint32(stack[1]), uint32(stack[2]))
		if errno != 0 {
			return errno
		}
		return toWASIErrno(r.m.fs.Mkdir(r.rel, 0o777))
	})
}

func pathRemoveDirectory(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		r, errno := w.pathArg(mod.Memory(), e, rightPathRemoveDirectory, decision.FSWrite, "rmdir", uint32(stack[1]), uint32(stack[2]))
		if errno != 0 {
			return errno
		}
		return toWASIErrno(r.m.fs.Rmdir(r.rel))
	})
}

func pathUnlinkFile(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		r, errno := w.pathArg(mod.Memory(), e, rightPathUnlinkFile, decision.FSWrite, "unlink", uint32(stack[1]), uint32(stack[2]))
		if errno != 0 {
			return errno
		}
		return toWASIErrno(r.m.fs.Unlink(r.rel))
	})
}

func pathReadlink(ctx context.Context, mod api.Module, stack []uint64) {
	withFd(ctx, stack, func(w *WASI, e *fdEntry) wasiErrno {
		ptr, n, buf, bufLen, usedPtr := uint32(stack[1]), uint32(stack[2]), uint32(stack[3]), uint32(stack[4]), uint32(stack[5])
		mem := mod.Memory()
		r, errno := w.pathArg(mem, e, rightPathReadlink, decision.FSRead, "readlink", ptr, n)
		if errno != 0 {
			return errno
		}
		target, ferr := r.m.fs.Readlink(r.rel)
		if ferr != 0 {
			return toWASIErrno(ferr)
		}
		// Like readlink(2): as much as fits, no terminating NUL.
		if uint32(len(target)) > bufLen {
			target = target[:bufLen]
		}
		if !mem.WriteString(buf, target) || !mem.WriteUint32Le(usedPtr, uint32(len(target))) {
			return errFAULT
		}
		return 0
	})
}

func pathSymlink(ctx context.Context, mod api.Module, stack []uint64) {
	w := wasiFrom(ctx)
	if w == nil {
		result(stack, errBADF)
		return
	}
	mem := mod.Memory()
	if uint32(stack[1]) > maxPath {
		result(stack, errNAMETOOLONG)
		return
	}
	target, errno := guestString(mem, uint32(stack[0]), uint32(stack[1]))
	if errno != 0 {
		result(stack, errno)
		return
	}
	e, errno := w.get(uint32(stack[2]))
	if errno != 0 {
		result(stack, errno)
		return
	}
	defer w.put(e)
	r, errno := w.pathArg(mem, e, rightPathSymlink, decision.FSWrite, "symlink", uint32(stack[3]), uint32(stack[4]))
	switch {
	case errno != 0:
	case target == "":
		errno = errNOENT
	case strings.IndexByte(target, 0) >= 0:
		errno = errINVAL
	case strings.HasSuffix(r.rel, "/"):
		errno = slashedName(r)
	default:
		errno = toWASIErrno(r.m.fs.Symlink(target, r.rel))
	}
	result(stack, errno)
}

// slashedName is why a symlink or hard link cannot be made at a name
// written with a trailing slash, which asks for a directory: the name is
// missing (ENOENT), a directory already (EEXIST) or something else
// (ENOTDIR). Nothing is made, so checking first leaves no race.
func slashedName(r resolved) wasiErrno {
	st, errno := r.m.fs.Lstat(strings.TrimRight(r.rel, "/"))
	switch {
	case errno != 0:
		return toWASIErrno(errno)
	case st.Mode.IsDir():
		return errEXIST
	}
	return errNOTDIR
}

func pathLink(ctx context.Context, mod api.Module, stack []uint64) {
	with2Fds(ctx, stack, uint32(stack[0]), uint32(stack[4]), func(w *WASI, olde, newe *fdEntry) wasiErrno {
		flags := uint32(stack[1])
		mem := mod.Memory()
		from, errno := w.pathArg(mem, olde, rightPathLinkSource, decision.FSWrite, "link", uint32(stack[2]), uint32(stack[3]))
		if errno != 0 {
			return errno
		}
		to, errno := w.pathArg(mem, newe, rightPathLinkTarget, decision.FSWrite, "link", uint32(stack[5]), uint32(stack[6]))
		if errno != 0 {
			return errno
		}
		if flags&lookupSymlinkFollow != 0 {
			// Linking what a symlink points to would need a second,
			// unchecked resolution; airlock links the name itself only.
			return errINVAL
		}
		if from.m != to.m {
			return errXDEV
		}
		if strings.HasSuffix(from.rel, "/") {
			// "file/" names no file; a directory cannot be linked.
			if _, errno := from.m.fs.Stat(from.rel); errno != 0 {
				return toWASIErrno(errno)
			}
			return errPERM
		}
		if strings.HasSuffix(to.rel, "/") {
			return slashedName(to)
		}
		return toWASIErrno(from.m.fs.Link(from.rel, to.rel))
	})
}

func pathRename(ctx context.Context, mod api.Module, stack []uint64) {
	with2Fds(ctx, stack, uint32(stack[0]), uint32(stack[3]), func(w *WASI, olde, newe *fdEntry) wasiErrno {
		mem := mod.Memory()
		from, errno := w.pathArg(mem, olde, rightPathRenameSource, decision.FSWrite, "rename", uint32(stack[1]), uint32(stack[2]))
		if errno != 0 {
			return errno
		}
		to, errno := w.pathArg(mem, newe, rightPathRenameTarget, decision.FSWrite, "rename", uint32(stack[4]), uint32(stack[5]))
		if errno != 0 {
			return errno
		}
		if from.m != to.m {
			return errXDEV
		}
		return toWASIErrno(from.m.fs.Rename(from.rel, to.rel))
	})
}
