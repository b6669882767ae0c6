package runtime

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A run's memory is made where the last run of the same module left it,
// once that run has stopped and its memory has been put back exactly as a
// fresh instance finds it: the image over the start, zeros after it (see
// RATIONALE.md, "Why does a run reuse the memory of the last run of its
// module?"). A fresh mapping costs a page fault for every page the guest
// touches (a Go guest's runtime touches about 140 as it starts), each
// several microseconds on a virtual machine; a reset mapping keeps its
// pages, and the reset writes only the pages the last run used.
const (
	// poolKeep is how much memory past the image a reset keeps, zeroed in
	// place; the rest is given back to the system (MADV_DONTNEED) as a
	// fresh mapping would be. A Go guest's runtime starts within it.
	poolKeep = 4 << 20
	// poolIdle is how many reset mappings each module keeps, and
	// poolIdleFor how long one stays unused before it is unmapped.
	poolIdle    = 2
	poolIdleFor = 30 * time.Second
	// poolImageMax is the largest image whose mappings are reused: the
	// reset compares the whole image with each run's memory.
	poolImageMax = 16 << 20
)

// memPool holds the reset mappings of one memory image, each of a
// maximum size.
type memPool struct {
	use    sync.RWMutex // held for reading by a reset, for writing by close
	mu     sync.Mutex
	idle   []*imageMemory // pristine: the image, then zeros
	closed bool           // written under both locks
	timer  *time.Timer
	made   atomic.Int64 // mappings handed out, new or reused
}

// imageMemory is one instance's memory: a mapping of its maximum size, the
// image mapped privately over its start. high is the most of it the guest
// was ever given (Reallocate): it cannot have touched anything past that.
type imageMemory struct {
	mappedMemory
	img       *memImage
	high      int
	inUse     bool      // handed to an instance and not freed since
	group     string    // Spec.MemoryGroup of the run it was last handed to
	populated bool      // by its first reset
	oneOff    bool      // Spec.FreshMemory: unmapped when freed, never reset and kept
	unused    time.Time // when it went back to the pool
}

func (m *imageMemory) Reallocate(size uint64) []byte {
	b := m.mappedMemory.Reallocate(size)
	if b != nil {
		m.mu.Lock()
		m.high = max(m.high, len(b))
		m.mu.Unlock()
	}
	return b
}

// Free puts the mapping back, reset, for the next instance, or unmaps it.
// It is called (through runMemory) only once the guest has stopped:
// nothing writes to the memory any more.
// A second Free does nothing: the mapping may be the next instance's by
// then.
func (m *imageMemory) Free() {
	m.mu.Lock()
	b, high, inUse := m.mem, m.high, m.inUse
	m.inUse, m.high = false, 0
	m.mu.Unlock()
	if b == nil || !inUse {
		return
	}
	if m.oneOff || !m.img.reusable(len(b)) || !m.img.pool.reset(b, m.img.view, high, &m.populated) || !m.img.pool.put(m) {
		m.mappedMemory.Free()
	}
}

// use marks m handed to an instance.
func (m *imageMemory) use(group string) *imageMemory {
	m.img.pool.made.Add(1)
	m.mu.Lock()
	m.inUse, m.group = true, group
	m.mu.Unlock()
	return m
}

// reset resets b (resetMemory) unless the pool is closed: the image's view
// is unmapped once it is.
func (p *memPool) reset(b, image []byte, high int, populated *bool) bool {
	p.use.RLock()
	defer p.use.RUnlock()
	return !p.closed && resetMemory(b, image, high, populated)
}

// reusable reports whether mappings of size bytes of this image are reused:
// once the module has run more than once in this process. A process that
// runs it once (airlock run) unmaps its memory as before, and pays no
// reset.
func (img *memImage) reusable(size int) bool {
	return poolIdle > 0 && img.size <= poolImageMax && size >= img.size && img.pool.made.Load() > 1
}

// get returns an idle mapping of size bytes that a run of group left, or
// nil.
func (p *memPool) get(size int, group string) *imageMemory {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if m := p.idle[i]; len(m.mem) == size && m.group == group {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return m
		}
	}
	return nil
}

// put keeps m for the next instance, unmapping the longest idle mapping
// when the pool is full (the latest run's group is the likeliest to run
// next); false when the pool is closed.
func (p *memPool) put(m *imageMemory) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if len(p.idle) >= poolIdle {
		p.idle[0].mappedMemory.Free()
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	m.unused = time.Now()
	p.idle = append(p.idle, m)
	if p.timer == nil {
		p.timer = time.AfterFunc(poolIdleFor, p.trim)
	}
	return true
}

// trim unmaps the mappings unused for poolIdleFor.
func (p *memPool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	keep := p.idle[:0]
	var next time.Duration
	for _, m := range p.idle {
		if idle := time.Since(m.unused); idle >= poolIdleFor {
			m.mappedMemory.Free()
		} else {
			keep = append(keep, m)
			if left := poolIdleFor - idle; next == 0 || left < next {
				next = left
			}
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(p.idle) > 0 {
		p.timer = time.AfterFunc(next, p.trim)
	}
}

// close unmaps every idle mapping; mappings in use are unmapped when freed.
func (p *memPool) close() {
	p.use.Lock()
	defer p.use.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	for _, m := range p.idle {
		m.mappedMemory.Free()
	}
	p.idle = nil
}

// resetMemory puts b, an instance's memory of which the guest was given
// the first high bytes, back to what a fresh instance finds: the image at
// its start, zeros after it. It returns false if it could not (the caller
// then unmaps b).
//
// Every byte below high is made right whatever the kernel did with its
// page (never touched, shared with the image, copied on write, swapped
// out): each page of the image is compared with the image and copied back
// where it differs; the poolKeep bytes after the image are zeroed in
// place; what the guest was given past them is given back (MADV_DONTNEED:
// zeros at its next touch). Nothing past high was reachable by the guest.
//
// What stays resident does not depend on what the guest did either, so
// the next run cannot learn it from its page faults: the first reset
// makes every page of the image a private copy and every page of the
// zeroed window resident (populated); later resets keep it so.
//
// The memory past the window is given back first and the window written
// after: on a paravirtualised machine, giving back pages made the host
// take back what backed their resident neighbours, whose first touch then
// cost the next run microseconds a page; written after, the reset pays
// that itself, and the next run cannot time how much the last one used
// (TestNextRunCannotTimeTheLastRunsMemory).
func resetMemory(b, image []byte, high int, populated *bool) bool {
	page := unix.Getpagesize()
	high = min((high+page-1)/page*page, len(b))
	start := len(image)
	keep := min(start+poolKeep, len(b))
	if !*populated {
		if populate(b[:keep]) != nil {
			return false
		}
		*populated = true
	}
	if high > keep && unix.Madvise(b[keep:high], unix.MADV_DONTNEED) != nil {
		return false
	}
	for off := 0; off < start; off += page {
		end := min(off+page, start)
		if string(b[off:end]) != string(image[off:end]) {
			copy(b[off:end], image[off:end])
		}
	}
	if high > start {
		clear(b[start:min(high, keep)])
	}
	return true
}

// populate makes every page of b resident and the process's own (a page
// of a private file mapping is copied), as a write to each would, without
// changing its contents.
func populate(b []byte) error {
	err := unix.Madvise(b, unix.MADV_POPULATE_WRITE)
	if err == unix.EINVAL { // before Linux 5.14
		page := unix.Getpagesize()
		for off := 0; off < len(b); off += page {
			atomic.AddUint32((*uint32)(unsafe.Pointer(&b[off])), 0) // a write of what is there
		}
		err = nil
	}
	return err
}
