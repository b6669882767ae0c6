//go:build unix

package runtime

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryAllocator backs every guest's linear memory with an anonymous
// mapping of its own, outside the Go heap (see RATIONALE.md, "Why is a
// guest's memory a mapping of its own?"). The whole maximum is reserved at
// once (MAP_NORESERVE: address space, no memory), so growing never moves
// or copies it; pages the guest never touches cost nothing; closing the
// module gives every page back at once. When the system refuses the
// mapping, the memory is a Go slice as wazero would make it.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		if max == 0 {
			max = wasmPage
		}
		b, err := unix.Mmap(-1, 0, int(max), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
		if err != nil {
			return &sliceMemory{}
		}
		return &mappedMemory{mem: b}
	})
}

// mappedMemory is one guest's memory: a mapping of its maximum size, of
// which the first size bytes are the guest's.
type mappedMemory struct {
	mu  sync.Mutex
	mem []byte // the whole mapping; nil once freed
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem == nil || size > uint64(len(m.mem)) {
		return nil
	}
	return m.mem[:size:size]
}

func (m *mappedMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem != nil {
		unix.Munmap(m.mem)
		m.mem = nil
	}
}
