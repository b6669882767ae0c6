package runtime

import (
	"bytes"
	"testing"
	"unsafe"
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
		mem := a.Reallocate(24 * wasmPage) // wazero's first, the initial size
		mem = a.Reallocate(uint64(high))   // memory.grow
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

	first := newRunMemory(alloc)
	l1 := first.Allocate(0, 64*wasmPage)
	m1 := l1.Reallocate(24 * wasmPage)
	first.stopped()
	l1.Free()

	next := newRunMemory(alloc)
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
