package runtime

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poolImage is a memory image of 24 wasm pages with data all over them.
func poolImage(t *testing.T) *memImage {
	t.Helper()
	var segs []seg
	for i := range 24 * 4 { // coalesceMin or more
		segs = append(segs, seg{off: uint32(i*wasmPage/4 + 100), init: []byte("image data")})
	}
	_, img, _ := prepareModule(testModule{pages: 24, segs: segs}.bytes())
	if img == nil {
		t.Fatal("no memory image")
	}
	return img
}

// A mapping a run leaves is reused by the next run of its module only as
// a fresh instance would find it: whatever the last run wrote, in the
// image, in the zeroed memory after it (within what a reset keeps and past
// it), the next run sees the image, then zeros.
func TestReusedMemoryIsAsFresh(t *testing.T) {
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	const max = 4*poolKeep + 64*wasmPage
	want := make([]byte, max)
	copy(want, img.view)
	if !bytes.Contains(want, []byte("image data")) {
		t.Fatal("the image holds no data")
	}
	secret := bytes.Repeat([]byte("secret!"), max/7+1)
	// The first run's mapping is unmapped (a process may run a module
	// once); reuse starts with the second.
	first := alloc.Allocate(24*wasmPage, max)
	copy(first.Reallocate(24*wasmPage), secret)
	first.Free()
	for _, high := range []int{max, img.size, img.size + 3*wasmPage, img.size + poolKeep + wasmPage, 2 * poolKeep} {
		high = (high + wasmPage - 1) / wasmPage * wasmPage
		a := alloc.Allocate(24*wasmPage, max)
		a.Reallocate(24 * wasmPage)       // wazero's first, the initial size
		mem := a.Reallocate(uint64(high)) // memory.grow
		copy(mem, secret)
		mem[0], mem[len(mem)-1] = 1, 1
		a.Free()

		b := alloc.Allocate(24*wasmPage, max)
		mem2 := b.Reallocate(max)
		if unsafe.SliceData(mem2) != unsafe.SliceData(mem) {
			t.Fatalf("high %d: the next instance did not reuse the mapping; this test checks nothing", high)
		}
		if !bytes.Equal(mem2, want) {
			i := 0
			for mem2[i] == want[i] {
				i++
			}
			t.Fatalf("high %d: the next instance finds %q at %d (image ends at %d), want %q", high, mem2[i:i+min(8, max-i)], i, img.size, want[i:i+min(8, max-i)])
		}
		b.Free()
	}
}

// A mapping freed twice goes back once: the second Free must not hand it
// to two instances (or reset it under the one that has it).
func TestReusedMemoryFreedTwiceGoesBackOnce(t *testing.T) {
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	alloc.Allocate(0, 64*wasmPage).Free() // the first is unmapped
	a := alloc.Allocate(0, 64*wasmPage)
	a.Reallocate(24 * wasmPage)
	a.Free()
	a.Free()
	x := alloc.Allocate(0, 64*wasmPage).Reallocate(24 * wasmPage)
	y := alloc.Allocate(0, 64*wasmPage).Reallocate(24 * wasmPage)
	if unsafe.SliceData(x) == unsafe.SliceData(y) {
		t.Fatal("one mapping went to two instances")
	}
	x[0] = 7
	if y[0] == 7 {
		t.Fatal("two instances share memory")
	}
}

// A run still holding its memory when the engine closes (the image with
// it) frees it afterwards without touching the unmapped image.
func TestReusedMemoryFreedAfterTheImageCloses(t *testing.T) {
	img := poolImage(t)
	img.allocator().Allocate(0, 64*wasmPage).Free() // the first is unmapped
	a := img.allocator().Allocate(0, 64*wasmPage)
	copy(a.Reallocate(24*wasmPage), "secret")
	img.close()
	a.Free() // would fault reading the unmapped image
}

// A run's memory is freed once: a second Free of a finished run, after
// its mapping went to the next run, must not reset the next run's memory
// under it (nor put it back in the pool while in use).
func TestRunMemoryIsFreedOnce(t *testing.T) {
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	alloc.Allocate(0, 64*wasmPage).Free() // the first is unmapped

	first := newRunMemory(alloc, "", false)
	l1 := first.Allocate(0, 64*wasmPage)
	m1 := l1.Reallocate(24 * wasmPage)
	first.stopped()
	l1.Free()

	next := newRunMemory(alloc, "", false)
	l2 := next.Allocate(0, 64*wasmPage)
	m2 := l2.Reallocate(24 * wasmPage)
	if unsafe.SliceData(m1) != unsafe.SliceData(m2) {
		t.Fatal("the next run did not reuse the mapping; this test checks nothing")
	}
	copy(m2, "the next run's")
	l1.Free() // late, again
	if string(m2[:14]) != "the next run's" {
		t.Fatalf("a second Free of the first run reset the next run's memory: %q", m2[:14])
	}
	if other := alloc.Allocate(0, 64*wasmPage).Reallocate(24 * wasmPage); unsafe.SliceData(other) == unsafe.SliceData(m2) {
		t.Fatal("the next run's mapping went to another run too")
	}
	next.stopped()
	l2.Free()
}

// resident reports, for each system page of b, whether it is resident
// (mincore).
func resident(t *testing.T, b []byte) []bool {
	t.Helper()
	page := unix.Getpagesize()
	v := make([]byte, (len(b)+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&v[0]))); e != 0 {
		t.Fatal("mincore:", e)
	}
	r := make([]bool, len(v))
	for i, x := range v {
		r[i] = x&1 != 0
	}
	return r
}

// hugePagesAlways stands in for a system whose transparent huge pages are
// "always" (many distributions' default): every anonymous mapping may get
// 2 MiB pages, as one advised with MADV_HUGEPAGE does under "madvise".
func hugePagesAlways(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(b, []byte("[never]")) {
		t.Skip("no transparent huge pages on this system")
	}
	old := mapAnon
	mapAnon = func(size int) ([]byte, error) {
		b, err := old(size)
		if err == nil {
			unix.Madvise(b, unix.MADV_HUGEPAGE)
		}
		return b, err
	}
	t.Cleanup(func() { mapAnon = old })
}

// What of a reused mapping is resident must not depend on what the last
// run did (RATIONALE.md: the next run could tell from its page faults),
// also where the system backs anonymous memory with transparent huge
// pages: a run's last page past the zeroed window, given back with
// MADV_DONTNEED, splits the 2 MiB page it lay in, and the rest of that
// page (past the run's memory, never reachable by it) stayed resident, so
// the next run could read the last run's memory size, to the wasm page,
// from which pages fault.
func TestReusedMemoryResidencyWithHugePages(t *testing.T) {
	hugePagesAlways(t)
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	const max = 64 << 20
	page := unix.Getpagesize()
	keep := img.size + poolKeep
	alloc.Allocate(24*wasmPage, max).Free() // the first is unmapped
	var base uintptr
	for _, high := range []int{img.size + wasmPage, keep + 3<<20 + wasmPage, keep + 10<<20 + 5*wasmPage, keep + 2*wasmPage} {
		high = (high + wasmPage - 1) / wasmPage * wasmPage
		a := alloc.Allocate(24*wasmPage, max)
		a.Reallocate(24 * wasmPage)
		mem := a.Reallocate(uint64(high))
		for i := 0; i < len(mem); i += page {
			mem[i] = 1 // the last run uses all it was given
		}
		a.Free()

		b := alloc.Allocate(24*wasmPage, max)
		next := b.Reallocate(max)
		if base != 0 && uintptr(unsafe.Pointer(&next[0])) != base {
			t.Fatal("the next run did not reuse the mapping; this test checks nothing")
		}
		base = uintptr(unsafe.Pointer(&next[0]))
		r := resident(t, next)
		for i, in := range r {
			if want := i*page < keep; in != want {
				j := i
				for j < len(r) && r[j] == in {
					j++
				}
				t.Errorf("after a run of %d KiB: pages %d to %d KiB are resident=%v (the zeroed window ends at %d KiB)",
					high>>10, i*page>>10, j*page>>10, in, keep>>10)
				break
			}
		}
		// The next run uses none of it past the window: its reset
		// gives back nothing, and the loop's next run starts from what
		// this one left.
		b.(*imageMemory).mu.Lock()
		b.(*imageMemory).high = keep
		b.(*imageMemory).mu.Unlock()
		b.Free()
	}
}

// A mapping goes only to a later run of the group that left it (the MCP
// server's client session): another group's run gets a fresh one, so one
// client cannot time what another client's call left behind.
func TestReusedMemoryStaysInItsGroup(t *testing.T) {
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	alloc.Allocate(0, 64*wasmPage).Free() // the first is unmapped

	take := func(group string) (*runMemory, []byte) {
		r := newRunMemory(alloc, group, false)
		m := r.Allocate(0, 64*wasmPage).Reallocate(24 * wasmPage)
		return r, m
	}
	give := func(r *runMemory) {
		r.stopped()
		r.mem.Free()
	}
	ra, a := take("session a")
	give(ra)
	rb, b := take("session b")
	if unsafe.SliceData(b) == unsafe.SliceData(a) {
		t.Fatal("a run of another group got the mapping session a left")
	}
	ra2, a2 := take("session a")
	if unsafe.SliceData(a2) != unsafe.SliceData(a) {
		t.Fatal("session a's next run did not get its mapping back; this test checks nothing")
	}
	give(ra2)
	give(rb)
}

// A run no later run shares a group with (Spec.FreshMemory: the MCP
// server's stateless HTTP calls) leaves no mapping: kept, it cost a reset
// (the first populating the image and the zeroed window, milliseconds
// here) for nothing, and a full pool gave up a session's mapping for it.
func TestFreshRunsLeaveNoMemory(t *testing.T) {
	img := poolImage(t)
	defer img.close()
	alloc := img.allocator()
	alloc.Allocate(0, 64*wasmPage).Free() // the first is unmapped

	take := func(group string, fresh bool) (*runMemory, []byte) {
		r := newRunMemory(alloc, group, fresh)
		m := r.Allocate(0, 64*wasmPage).Reallocate(24 * wasmPage)
		return r, m
	}
	give := func(r *runMemory) {
		r.stopped()
		r.mem.Free()
	}
	ra, a := take("session a", false)
	give(ra)
	for i := range poolIdle {
		r, m := take("call "+string(rune('0'+i)), true)
		if unsafe.SliceData(m) == unsafe.SliceData(a) {
			t.Fatal("a fresh run got session a's mapping")
		}
		give(r)
	}
	img.pool.mu.Lock()
	idle := len(img.pool.idle)
	img.pool.mu.Unlock()
	if idle != 1 {
		t.Errorf("%d idle mappings after a session's run and %d fresh ones, want the session's alone", idle, poolIdle)
	}
	ra2, a2 := take("session a", false)
	if unsafe.SliceData(a2) != unsafe.SliceData(a) {
		t.Error("session a's mapping was given up for fresh runs' mappings")
	}
	give(ra2)
}
