package runtime_test

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkFirstTouch: what the machine charges for the first write to a
// fresh page of memory (a page fault, and the kernel's zeroing; on some
// virtual machines the host backing the page too). Every figure of a cold
// start or a fresh guest memory is mostly this on a machine where it is
// slow: read them with it.
//
//	go test -run '^$' -bench FirstTouch ./runtime/
func BenchmarkFirstTouch(b *testing.B) {
	const size = 64 << 20
	page := os.Getpagesize()
	for b.Loop() {
		m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size; off += page {
			m[off] = 1
		}
		unix.Munmap(m)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size/page)/1000, "µs/page")
}
