package runtime

import (
	"fmt"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/internal/wasmfile"
)

// memImage is the initial memory of a module whose data segments were
// taken out of what wazero compiles: a sealed memfd that every instance
// maps privately (copy on write) at the start of its own memory. Pages the
// guest only reads are shared by all instances; a page it writes becomes
// its own; nothing it does reaches the image or another instance.
type memImage struct {
	fd   int     // the memfd, sealed: its size and bytes can no longer change
	size int     // its size, a whole number of system pages
	view []byte  // a read-only view of it, for the copying fallback and resets
	pool memPool // mappings of it the last runs left, reset (mempool_linux.go)
}

// prepareModule returns what wazero compiles for module bytes b, the image
// each instance's memory starts from (nil when wazero applies the data
// itself) and a name for the rewrite in the compile cache's slots.
func prepareModule(b []byte) ([]byte, *memImage, string) {
	d, ok := dataOf(b)
	if !ok {
		return b, nil, ""
	}
	if !ownsMemory(b, d.imageBytes) {
		return d.coalesced(), nil, "data=merge1"
	}
	img, err := newMemImage(d)
	if err != nil {
		return d.coalesced(), nil, "data=merge1"
	}
	return d.withSegments(nil, nil), img, "data=image1"
}

// ownsMemory reports whether the module defines its one memory itself
// (an imported memory is not allocated by the instance), unshared and
// 32-bit, with room for the image in its initial size: a segment past it
// fails instantiation, which only wazero applying the data reports.
func ownsMemory(b []byte, imageBytes uint64) bool {
	f, err := wasmfile.Parse(b)
	if err != nil || len(f.Memories) != 1 {
		return false
	}
	for _, im := range f.Imports {
		if im.Kind == wasmfile.KindMemory {
			return false
		}
	}
	m := f.Memories[0]
	return !m.Shared && !m.Is64 && imageBytes <= m.Min*wasmPage
}

func newMemImage(d *dataSection) (*memImage, error) {
	page := uint64(unix.Getpagesize())
	size := (d.imageBytes + page - 1) / page * page
	fd, err := unix.MemfdCreate("airlock-memory-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	img := &memImage{fd: fd, size: int(size)}
	fail := func(err error) (*memImage, error) {
		img.close()
		return nil, fmt.Errorf("making the memory image: %w", err)
	}
	// Made in the process's memory and written whole: faster than
	// writing it through a mapping of the memfd, page fault by page fault.
	buf := make([]byte, size)
	d.image(buf)
	for off := 0; off < len(buf); {
		n, err := unix.Pwrite(fd, buf[off:], int64(off))
		if err != nil {
			return fail(err)
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return fail(err)
	}
	if img.view, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return fail(err)
	}
	return img, nil
}

// close releases the image; instances still running keep their mappings.
func (img *memImage) close() {
	if img == nil {
		return
	}
	img.pool.close()
	if img.view != nil {
		unix.Munmap(img.view)
	}
	unix.Close(img.fd)
}

// allocator maps each instance's memory: the whole maximum reserved as in
// memoryAllocator, the image mapped privately over its start, or a mapping
// a finished run of the same group left, reset (mempool_linux.go).
func (img *memImage) allocator() experimental.MemoryAllocator { return imageAllocator{img} }

type imageAllocator struct{ img *memImage }

// Allocate is allocateIn for the group "".
func (a imageAllocator) Allocate(cap, max uint64) experimental.LinearMemory {
	return a.allocateIn("", false, cap, max)
}

func (a imageAllocator) allocateIn(group string, fresh bool, _, max uint64) experimental.LinearMemory {
	img := a.img
	if max < uint64(img.size) {
		max = uint64(img.size)
	}
	if !fresh {
		if m := img.pool.get(int(max), group); m != nil {
			return m.use(group)
		}
	}
	b, err := mapAnon(int(max))
	if err == nil {
		_, err = unix.MmapPtr(img.fd, 0, unsafe.Pointer(&b[0]), uintptr(img.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err != nil {
			unix.Munmap(b)
		}
	}
	if err == nil {
		// Never transparent huge pages, whatever the system's setting:
		// a reset gives back 4 KiB pages past its zeroed window, and
		// the rest of a 2 MiB page it cut would stay resident, telling
		// the next run how far the last one's memory reached
		// (mempool_linux.go). EINVAL: a kernel without them.
		if err = unix.Madvise(b, unix.MADV_NOHUGEPAGE); err == unix.EINVAL {
			err = nil
		} else if err != nil {
			unix.Munmap(b)
		}
	}
	if err != nil {
		// No mapping to be had: a Go slice holding a copy of the image.
		m := &sliceMemory{}
		copy(m.Reallocate(uint64(img.size)), img.view)
		return m
	}
	return (&imageMemory{mappedMemory: mappedMemory{mem: b}, img: img, oneOff: fresh}).use(group)
}

// mapAnon reserves size bytes of anonymous memory for a guest
// (MAP_NORESERVE: address space, not memory). A variable so that a test
// can stand in for a system whose transparent huge pages are "always".
var mapAnon = func(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
}
