//go:build !unix

package runtime

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator makes each guest's memory a Go slice, as wazero would,
// where airlock does not map guest memory itself.
func memoryAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, _ uint64) experimental.LinearMemory {
		return &sliceMemory{}
	})
}
