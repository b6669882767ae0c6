package host

import (
	"context"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// airlock serves the file, directory, stream, poll and socket functions of
// WASI preview 1 itself, over the policy filesystem (FS) of each mount;
// wazero's own serve the rest (arguments, environment, clocks, random
// bytes, proc_exit, sched_yield). See RATIONALE.md, "Why does airlock
// serve WASI's file functions itself?", and docs/wasi.md.
//
// The pieces, one file each:
//   - wasi.go: the per-run state (the descriptor table, the mounts), rights
//     and guest memory helpers; wasi_errno.go: errno numbers;
//   - wasi_fd.go: fd_* that read, write, seek, sync, close and renumber;
//   - wasi_stat.go: fd_* that read or change what a descriptor is (type,
//     flags, rights, times, size, preopen name);
//   - wasi_readdir.go: fd_readdir;
//   - wasi_path.go: path_* and path resolution across nested mounts;
//   - wasi_poll.go: poll_oneoff and sock_*.
//
// Every check of what a guest may do with a path stays in FS: this layer
// only decides which mount serves a path, and keeps the descriptors, their
// rights and their flags, as WASI specifies them.

// wasiFuncs are the WASI preview 1 functions airlock serves itself,
// replacing wazero's. Instantiate gives each the parameter and result types
// of wazero's definition of the same name.
var wasiFuncs = map[string]api.GoModuleFunction{
	"fd_advise":               api.GoModuleFunc(fdAdvise),
	"fd_allocate":             api.GoModuleFunc(fdAllocate),
	"fd_close":                api.GoModuleFunc(fdClose),
	"fd_datasync":             api.GoModuleFunc(fdDatasync),
	"fd_fdstat_get":           api.GoModuleFunc(fdFdstatGet),
	"fd_fdstat_set_flags":     api.GoModuleFunc(fdFdstatSetFlags),
	"fd_fdstat_set_rights":    api.GoModuleFunc(fdFdstatSetRights),
	"fd_filestat_get":         api.GoModuleFunc(fdFilestatGet),
	"fd_filestat_set_size":    api.GoModuleFunc(fdFilestatSetSize),
	"fd_filestat_set_times":   api.GoModuleFunc(fdFilestatSetTimes),
	"fd_pread":                api.GoModuleFunc(fdPread),
	"fd_prestat_get":          api.GoModuleFunc(fdPrestatGet),
	"fd_prestat_dir_name":     api.GoModuleFunc(fdPrestatDirName),
	"fd_pwrite":               api.GoModuleFunc(fdPwrite),
	"fd_read":                 api.GoModuleFunc(fdRead),
	"fd_readdir":              api.GoModuleFunc(fdReaddir),
	"fd_renumber":             api.GoModuleFunc(fdRenumber),
	"fd_seek":                 api.GoModuleFunc(fdSeek),
	"fd_sync":                 api.GoModuleFunc(fdSync),
	"fd_tell":                 api.GoModuleFunc(fdTell),
	"fd_write":                api.GoModuleFunc(fdWrite),
	"path_create_directory":   api.GoModuleFunc(pathCreateDirectory),
	"path_filestat_get":       api.GoModuleFunc(pathFilestatGet),
	"path_filestat_set_times": api.GoModuleFunc(pathFilestatSetTimes),
	"path_link":               api.GoModuleFunc(pathLink),
	"path_open":               api.GoModuleFunc(pathOpen),
	"path_readlink":           api.GoModuleFunc(pathReadlink),
	"path_remove_directory":   api.GoModuleFunc(pathRemoveDirectory),
	"path_rename":             api.GoModuleFunc(pathRename),
	"path_symlink":            api.GoModuleFunc(pathSymlink),
	"path_unlink_file":        api.GoModuleFunc(pathUnlinkFile),
	"poll_oneoff":             api.GoModuleFunc(pollOneoff),
	"sock_accept":             api.GoModuleFunc(sockAccept),
	"sock_recv":               api.GoModuleFunc(sockRecv),
	"sock_send":               api.GoModuleFunc(sockSend),
	"sock_shutdown":           api.GoModuleFunc(sockShutdown),
}

// WASIMount is one mount as the guest sees it: a guest path and the policy
// filesystem that serves it.
type WASIMount struct {
	Guest string // clean absolute guest path, "/" included
	FS    *FS
}

// WASI is the WASI preview 1 state of one run: its descriptor table (the
// standard streams, one preopened directory per mount, and what the guest
// opens), shared by every thread of the run. The runtime makes one per run
// with NewWASI and puts it in the Run (Run.WASI).
//
// It is safe for concurrent use. A descriptor closed while another thread
// is using it is released when that use ends.
type WASI struct {
	mounts []*wasiMount // in policy order: preopens 3, 4, …
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	mu     sync.Mutex
	fds    map[uint32]*fdEntry
	closed bool
}

// wasiMount is a mount with the mounts nested directly or deeper inside it
// (by guest path), innermost first, so that path resolution can hand a path
// below one of them over to it.
type wasiMount struct {
	guest    string
	fs       *FS
	children []wasiChild
}

type wasiChild struct {
	at string // the child's guest path relative to this mount's root
	m  *wasiMount
}

// NewWASI returns the WASI state of a run with these mounts (preopened in
// this order, as file descriptors 3, 4, …) and standard streams. Nil
// streams read nothing and discard what is written. Mounts nest by guest
// path: the innermost one serves the paths below it, and the parts of an
// outer mount that an inner one covers (its mount point, or its host
// directory where that lies inside the outer one's) are refused through
// the outer one (FS.cover).
func NewWASI(mounts []WASIMount, stdin io.Reader, stdout, stderr io.Writer) *WASI {
	if stdin == nil {
		stdin = eofReader{}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	w := &WASI{stdin: stdin, stdout: stdout, stderr: stderr, fds: map[uint32]*fdEntry{}}
	for _, m := range mounts {
		w.mounts = append(w.mounts, &wasiMount{guest: path.Clean("/" + m.Guest), fs: m.FS})
	}
	for _, outer := range w.mounts {
		for _, inner := range w.mounts {
			if inner == outer {
				continue
			}
			if at, ok := guestRel(outer.guest, inner.guest); ok && at != "." {
				outer.children = append(outer.children, wasiChild{at: at, m: inner})
				outer.fs.cover(at, inner.guest)
			}
			if at, ok := outer.fs.hostRel(inner.fs); ok && at != "." {
				outer.fs.cover(at, inner.guest)
			}
		}
		// Innermost first: the longest mount point that matches wins.
		sort.SliceStable(outer.children, func(i, j int) bool { return len(outer.children[i].at) > len(outer.children[j].at) })
	}
	w.fds[0] = newEntry(&fdEntry{kind: fdStdin}, stdinRights, 0, 0)
	w.fds[1] = newEntry(&fdEntry{kind: fdStdout}, stdoutRights, 0, 0)
	w.fds[2] = newEntry(&fdEntry{kind: fdStderr}, stdoutRights, 0, 0)
	for i, m := range w.mounts {
		w.fds[uint32(3+i)] = newEntry(&fdEntry{kind: fdDir, mount: m, rel: ".", preopen: m.guest}, dirRights, dirRights|fileRights, 0)
	}
	return w
}

// newEntry sets e's rights and flags and returns it.
func newEntry(e *fdEntry, base, inheriting uint64, flags uint16) *fdEntry {
	e.base.Store(base)
	e.inheriting.Store(inheriting)
	e.flags.Store(uint32(flags))
	return e
}

// guestRel is policy.GuestRel for paths already clean.
func guestRel(mountGuest, guest string) (string, bool) {
	if guest == mountGuest {
		return ".", true
	}
	prefix := mountGuest + "/"
	if mountGuest == "/" {
		prefix = "/"
	}
	if rel, ok := strings.CutPrefix(guest, prefix); ok && rel != "" {
		return rel, true
	}
	return "", false
}

// Close closes every descriptor the guest still holds (those in use by a
// host call close when it returns). It is called when the run ends.
func (w *WASI) Close() {
	w.mu.Lock()
	w.closed = true
	fds := w.fds
	w.fds = map[uint32]*fdEntry{}
	var now []*fdEntry
	for _, e := range fds {
		if e.refs == 0 {
			now = append(now, e)
		} else {
			e.closing = true
		}
	}
	w.mu.Unlock()
	for _, e := range now {
		e.close()
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// wasiFrom returns the WASI state of the run ctx belongs to, nil outside one.
func wasiFrom(ctx context.Context) *WASI {
	if r := RunFrom(ctx); r != nil {
		return r.WASI
	}
	return nil
}

// ---- descriptors ----

type fdKind uint8

const (
	fdStdin fdKind = iota
	fdStdout
	fdStderr
	fdFile
	fdDir
)

// fdEntry is one descriptor of the guest's table.
type fdEntry struct {
	kind fdKind
	// mount and rel say where a directory is (rel inside mount; "." for a
	// preopen); for a file, which mount it came from.
	mount   *wasiMount
	rel     string
	preopen string // the guest path of a preopened directory, else ""
	// file is the open file; for a preopen it is opened on first use.
	file experimentalsys.File
	// Rights and fdflags (as set by path_open or fd_fdstat_set_flags), read
	// by any thread; changed under mu.
	base, inheriting atomic.Uint64
	flags            atomic.Uint32

	mu  sync.Mutex // serialises changes of rights and flags, directory reading and the preopen's first open
	dir *dirStream

	// guarded by WASI.mu
	refs    int
	closing bool
}

// close releases what the entry holds.
func (e *fdEntry) close() experimentalsys.Errno {
	if e.file != nil {
		return e.file.Close()
	}
	return 0
}

// get looks fd up and holds it until put.
func (w *WASI) get(fd uint32) (*fdEntry, wasiErrno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.fds[fd]
	if e == nil {
		return nil, errBADF
	}
	e.refs++
	return e, 0
}

// put ends a use begun by get, closing an entry closed meanwhile.
func (w *WASI) put(e *fdEntry) {
	w.mu.Lock()
	e.refs--
	last := e.refs == 0 && e.closing
	w.mu.Unlock()
	if last {
		e.close()
	}
}

// add puts e at the lowest free descriptor number, as POSIX does.
func (w *WASI) add(e *fdEntry) (uint32, wasiErrno) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errBADF
	}
	for fd := uint32(0); ; fd++ {
		if _, used := w.fds[fd]; !used {
			w.fds[fd] = e
			return fd, 0
		}
		if fd == maxFd {
			return 0, errMFILE
		}
	}
}

// maxFd is the largest descriptor number handed out or accepted.
const maxFd = 1<<31 - 1

// remove takes fd out of the table and closes it, or, while a host call
// uses it, marks it to be closed when that call ends.
func (w *WASI) remove(fd uint32) wasiErrno {
	w.mu.Lock()
	e := w.fds[fd]
	if e == nil {
		w.mu.Unlock()
		return errBADF
	}
	delete(w.fds, fd)
	if e.refs > 0 {
		e.closing = true
		w.mu.Unlock()
		return 0
	}
	w.mu.Unlock()
	return toWASIErrno(e.close())
}

// dirFile returns the open directory of a directory entry, opening a
// preopen's root on first use.
func (e *fdEntry) dirFile() (experimentalsys.File, wasiErrno) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		if e.mount == nil {
			return nil, errBADF
		}
		// O_RDONLY with mode 0 is how FS recognises the preopen: it is not
		// counted against the open-file limit.
		f, errno := e.mount.fs.OpenFile(".", experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			return nil, toWASIErrno(errno)
		}
		e.file = f
	}
	return e.file, 0
}

// ---- rights (WASI preview 1 "rights" flags) ----

const (
	rightFdDatasync = 1 << iota
	rightFdRead
	rightFdSeek
	rightFdFdstatSetFlags
	rightFdSync
	rightFdTell
	rightFdWrite
	rightFdAdvise
	rightFdAllocate
	rightPathCreateDirectory
	rightPathCreateFile
	rightPathLinkSource
	rightPathLinkTarget
	rightPathOpen
	rightFdReaddir
	rightPathReadlink
	rightPathRenameSource
	rightPathRenameTarget
	rightPathFilestatGet
	rightPathFilestatSetSize
	rightPathFilestatSetTimes
	rightFdFilestatGet
	rightFdFilestatSetSize
	rightFdFilestatSetTimes
	rightPathSymlink
	rightPathRemoveDirectory
	rightPathUnlinkFile
	rightPollFdReadwrite
	rightSockShutdown
	rightSockAccept
)

// The rights a descriptor of each kind can have at most. A directory
// cannot be read, written, seeked or told (WASI leaves its position to
// fd_readdir's cookies); a file has no path rights; a stream can only be
// read or written.
const (
	fileRights uint64 = rightFdDatasync | rightFdRead | rightFdSeek | rightFdFdstatSetFlags | rightFdSync |
		rightFdTell | rightFdWrite | rightFdAdvise | rightFdAllocate | rightFdFilestatGet |
		rightFdFilestatSetSize | rightFdFilestatSetTimes | rightPollFdReadwrite
	dirRights uint64 = rightFdFdstatSetFlags | rightFdSync | rightPathCreateDirectory | rightPathCreateFile |
		rightPathLinkSource | rightPathLinkTarget | rightPathOpen | rightFdReaddir | rightPathReadlink |
		rightPathRenameSource | rightPathRenameTarget | rightPathFilestatGet | rightPathFilestatSetSize |
		rightPathFilestatSetTimes | rightFdFilestatGet | rightFdFilestatSetTimes | rightPathSymlink |
		rightPathRemoveDirectory | rightPathUnlinkFile
	stdioRights  uint64 = rightFdFdstatSetFlags | rightFdFilestatGet | rightPollFdReadwrite
	stdinRights         = stdioRights | rightFdRead
	stdoutRights        = stdioRights | rightFdWrite
)

// need checks that e holds every right in r.
func (e *fdEntry) need(r uint64) wasiErrno {
	if e.base.Load()&r != r {
		return errNOTCAPABLE
	}
	return 0
}

// ---- guest memory ----

// guestString copies n bytes at ptr out of the guest's memory.
func guestString(mem api.Memory, ptr, n uint32) (string, wasiErrno) {
	b, ok := mem.Read(ptr, n)
	if !ok {
		return "", errFAULT
	}
	return string(b), 0
}

// iovecs returns the guest buffers an iovec array names (each a view of
// guest memory, not a copy).
func iovecs(mem api.Memory, ptr, n uint32) ([][]byte, wasiErrno) {
	if n > 1024 {
		return nil, errINVAL // IOV_MAX
	}
	raw, ok := mem.Read(ptr, n*8)
	if !ok {
		return nil, errFAULT
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		p := le32(raw[i*8:])
		l := le32(raw[i*8+4:])
		b, ok := mem.Read(p, l)
		if !ok {
			return nil, errFAULT
		}
		bufs[i] = b
	}
	return bufs, 0
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func put16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func put64(b []byte, v uint64) { put32(b, uint32(v)); put32(b[4:], uint32(v>>32)) }

// result writes errno as the function's result.
func result(stack []uint64, e wasiErrno) { stack[0] = uint64(e) }
