package runtime

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// sliceMemory is a guest's linear memory as a Go slice, grown by copying:
// what wazero does without an allocator, for systems where a mapping
// cannot be had.
type sliceMemory struct{ b []byte }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.b)) {
		b := make([]byte, size, size+size/4)
		copy(b, m.b)
		m.b = b
	}
	m.b = m.b[:size]
	return m.b
}

func (m *sliceMemory) Free() { m.b = nil }

// runMemory is the allocator of one run's guest: the memory it makes is
// given back (Free) only once the guest no longer runs. wazero frees a
// module's memory when the module closes, and closing the runtime closes
// every module, an abandoned guest's too (InterruptAbandon: it may still
// spin, with no capability left, until the process exits). Unmapping
// memory that compiled code still uses would crash the whole process with
// SIGSEGV, where a Go slice would have stayed alive for it.
type runMemory struct {
	base  experimental.MemoryAllocator
	group string // Spec.MemoryGroup, for a base that reuses memory (groupAllocator)
	fresh bool   // Spec.FreshMemory

	mu       sync.Mutex
	running  bool
	mem      experimental.LinearMemory // what base made
	freeLate bool                      // Free was called while the guest ran
	freed    bool                      // mem.Free was called: it may be another run's now
}

func newRunMemory(base experimental.MemoryAllocator, group string, fresh bool) *runMemory {
	return &runMemory{base: base, group: group, fresh: fresh, running: true}
}

// groupAllocator is an allocator that reuses the memory of finished runs
// (mempool_linux.go): it hands a run only memory that runs of the same
// group left; with fresh, a new one that it does not keep once freed.
type groupAllocator interface {
	allocateIn(group string, fresh bool, cap, max uint64) experimental.LinearMemory
}

// Allocate implements experimental.MemoryAllocator.
func (r *runMemory) Allocate(cap, max uint64) experimental.LinearMemory {
	var m experimental.LinearMemory
	if g, ok := r.base.(groupAllocator); ok {
		m = g.allocateIn(r.group, r.fresh, cap, max)
	} else {
		m = r.base.Allocate(cap, max)
	}
	r.mu.Lock()
	r.mem = m
	r.mu.Unlock()
	return runLinear{m, r}
}

// stopped says the guest no longer runs: a Free that came while it did
// happens now, and later ones at once.
func (r *runMemory) stopped() {
	r.mu.Lock()
	r.running = false
	free := r.freeLate && !r.freed
	r.freeLate = false
	r.freed = r.freed || free
	m := r.mem
	r.mu.Unlock()
	if free && m != nil {
		m.Free()
	}
}

type runLinear struct {
	experimental.LinearMemory
	r *runMemory
}

// Free frees the memory once the guest has stopped, and at most once: a
// reused mapping (mempool_linux.go) freed twice would be reset under the
// run it went to next, or handed to two runs at once.
func (l runLinear) Free() {
	l.r.mu.Lock()
	if l.r.freed {
		l.r.mu.Unlock()
		return
	}
	if l.r.running {
		l.r.freeLate = true
		l.r.mu.Unlock()
		return
	}
	l.r.freed = true
	l.r.mu.Unlock()
	l.LinearMemory.Free()
}
