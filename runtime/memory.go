package runtime

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
