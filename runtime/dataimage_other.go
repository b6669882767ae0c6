//go:build !linux

package runtime

import "github.com/tetratelabs/wazero/experimental"

// memImage is only made on Linux (memfd); elsewhere a Go module's data
// segments are coalesced and wazero copies them into each instance.
type memImage struct{}

func prepareModule(b []byte) ([]byte, *memImage, string) {
	d, ok := dataOf(b)
	if !ok {
		return b, nil, ""
	}
	return d.coalesced(), nil, "data=merge1"
}

func (*memImage) close() {}

func (*memImage) allocator() experimental.MemoryAllocator { return memoryAllocator() }
