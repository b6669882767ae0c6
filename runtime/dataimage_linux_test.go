package runtime

import "testing"

// Each instance's memory is its own: what one writes, the image and the
// next instance never see.
func TestImageMemoryIsCopyOnWrite(t *testing.T) {
	var segs []seg
	for i := range 100 {
		segs = append(segs, seg{off: uint32(64 * i), init: []byte("image")})
	}
	b := testModule{pages: 2, segs: segs}.bytes()
	_, img, _ := prepareModule(b)
	if img == nil {
		t.Skip("no memory image on this system")
	}
	defer img.close()
	a := img.allocator().Allocate(0, 4*wasmPage)
	mem := a.Reallocate(2 * wasmPage)
	copy(mem, "secret")
	a2 := img.allocator().Allocate(0, 4*wasmPage)
	mem2 := a2.Reallocate(2 * wasmPage)
	if string(mem2[:5]) != "image" || string(img.view[:5]) != "image" {
		t.Fatalf("a write by one instance reached another (%q) or the image (%q)", mem2[:6], img.view[:6])
	}
	a.Free()
	a2.Free()
}
