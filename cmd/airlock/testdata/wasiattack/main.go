// Command wasiattack is a hostile WASI guest for cmd/airlock's attack
// tests (wasi_attack_test.go): each argument names one attack, run in
// order, and each prints one line `NAME "ARG" errno=N [detail]`. It calls the
// WASI preview 1 functions directly (go:wasmimport) so that it can pass
// what Go's os package never would: pointers past the end of memory, huge
// lengths and offsets, NUL bytes in paths, closed and renumbered
// descriptors.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -o wasiattack.wasm .
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 path_open
func pathOpen(fd, dirflags int32, path unsafe.Pointer, pathLen int32, oflags int32, base, inheriting int64, fdflags int32, out unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_read
func fdRead(fd int32, iovs unsafe.Pointer, n int32, out unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_pread
func fdPread(fd int32, iovs unsafe.Pointer, n int32, off int64, out unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_write
func fdWrite(fd int32, iovs unsafe.Pointer, n int32, out unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_close
func fdClose(fd int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_renumber
func fdRenumber(from, to int32) int32

//go:wasmimport wasi_snapshot_preview1 path_rename
func pathRename(fd int32, old unsafe.Pointer, oldLen int32, newFd int32, new unsafe.Pointer, newLen int32) int32

//go:wasmimport wasi_snapshot_preview1 path_symlink
func pathSymlink(old unsafe.Pointer, oldLen int32, fd int32, new unsafe.Pointer, newLen int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_get
func fdPrestatGet(fd int32, out unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_dir_name
func fdPrestatDirName(fd int32, buf unsafe.Pointer, n int32) int32

// preopenOf returns the preopened descriptor of the mount at guest path g.
func preopenOf(g string) int32 {
	for fd := int32(3); fd < 64; fd++ {
		var st [2]uint32
		if fdPrestatGet(fd, unsafe.Pointer(&st)) != 0 {
			continue
		}
		b := make([]byte, st[1]+1)
		if fdPrestatDirName(fd, unsafe.Pointer(&b[0]), int32(st[1])) == 0 && string(b[:st[1]]) == g {
			return fd
		}
	}
	return -1
}

// rawPtr is a guest address as the host sees it: any 32-bit value,
// inside memory or not.
func rawPtr(p uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(p)) }

func open(dirfd int32, p string, oflags int32, base int64, follow bool) (int32, int32) {
	var fd int32
	b := []byte(p)
	if len(b) == 0 {
		b = []byte{0}
	}
	var df int32
	if follow {
		df = 1
	}
	e := pathOpen(dirfd, df, unsafe.Pointer(&b[0]), int32(len(p)), oflags, base, -1, 0, unsafe.Pointer(&fd))
	return fd, e
}

const (
	rightRead  = 1 << 1
	rightSeek  = 1 << 2
	rightWrite = 1 << 6
)

// readAll reads fd to its end (at most 1 MiB).
func readAll(fd int32) (string, int32) {
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < 1<<20 {
		iov := [2]uint32{uint32(uintptr(unsafe.Pointer(&buf[0]))), uint32(len(buf))}
		var n uint32
		if e := fdRead(fd, unsafe.Pointer(&iov), 1, unsafe.Pointer(&n)); e != 0 {
			return string(out), e
		}
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return string(out), 0
}

func main() {
	for _, a := range os.Args[1:] {
		if g, ok := strings.CutPrefix(a, "mount="); ok {
			preopen = preopenOf(g) // later attacks start from this mount
			fmt.Printf("mount %s fd=%d\n", g, preopen)
			continue
		}
		name, arg, _ := strings.Cut(a, "=")
		e, detail := run(name, arg)
		if len(arg) > 80 {
			arg = arg[:80]
		}
		fmt.Printf("%s %q errno=%d %s\n", name, arg, e, detail)
	}
}

// preopen is the descriptor paths start from: the first mount, or the
// one chosen with mount=GUESTPATH.
var preopen int32 = 3

func run(name, arg string) (int32, string) {
	switch name {
	case "read": // read=PATH (relative to the first preopen, following links)
		fd, e := open(preopen, arg, 0, rightRead, true)
		if e != 0 {
			return e, ""
		}
		defer fdClose(fd)
		s, e := readAll(fd)
		return e, strconv.Quote(s)
	case "openwrite": // openwrite=PATH: open for writing, no create
		fd, e := open(preopen, arg, 0, rightWrite|rightRead|rightSeek, true)
		if e == 0 {
			fdClose(fd)
		}
		return e, ""
	case "openread":
		fd, e := open(preopen, arg, 0, rightRead, true)
		if e == 0 {
			fdClose(fd)
		}
		return e, ""
	case "write": // write=PATH:TEXT: create or truncate PATH and write TEXT
		p, text, _ := strings.Cut(arg, ":")
		fd, e := open(preopen, p, 1|8, rightWrite, true) // O_CREAT|O_TRUNC
		if e != 0 {
			return e, ""
		}
		defer fdClose(fd)
		b := []byte(text + "\x00")
		iov := [2]uint32{uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(text))}
		var n uint32
		return fdWrite(fd, unsafe.Pointer(&iov), 1, unsafe.Pointer(&n)), ""
	case "rename": // rename=FROM:TO
		from, to, _ := strings.Cut(arg, ":")
		a, b := []byte(from+"\x00"), []byte(to+"\x00")
		return pathRename(preopen, unsafe.Pointer(&a[0]), int32(len(from)), preopen, unsafe.Pointer(&b[0]), int32(len(to))), ""
	case "symlink": // symlink=LINK:TEXT: make LINK, a symbolic link whose text is TEXT
		link, text, _ := strings.Cut(arg, ":")
		a, b := []byte(text+"\x00"), []byte(link+"\x00")
		return pathSymlink(unsafe.Pointer(&a[0]), int32(len(text)), preopen, unsafe.Pointer(&b[0]), int32(len(link))), ""
	case "spin-create": // spin-create=N:PREFIX: create N files PREFIX0, PREFIX1, …
		ns, p, _ := strings.Cut(arg, ":")
		n, _ := strconv.Atoi(ns)
		var last int32
		for i := 0; i < n; i++ {
			fd, e := open(preopen, p+strconv.Itoa(i), 1, rightWrite, true)
			if e == 0 {
				fdClose(fd)
			}
			last = e
		}
		return last, ""
	case "spin-denied": // spin-denied=N:PATH: open a refused PATH N times
		ns, p, _ := strings.Cut(arg, ":")
		n, _ := strconv.Atoi(ns)
		var last int32
		for i := 0; i < n; i++ {
			fd, e := open(preopen, p, 0, rightRead, true)
			if e == 0 {
				fdClose(fd)
			}
			last = e
		}
		return last, ""
	}
	return -1, "unknown attack"
}
