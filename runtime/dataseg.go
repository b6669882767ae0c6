package runtime

import (
	"encoding/binary"
	"slices"
)

// Go's linker writes a module's initial memory as tens of thousands of
// small data segments (one per run of non-zero bytes: 34,576 for
// tools/cat), and wazero decodes each one at every compile, then evaluates
// its offset (allocating) and copies it into fresh memory at every
// instantiation: most of a Go tool's start. prepareModule gives wazero the
// module without them and maps each instance's memory from one image of
// them (dataimage_linux.go), or, where that is not available, coalesces
// them into a few segments with the short runs of zeros between them
// written out. Either way the guest starts with exactly the same memory
// (see RATIONALE.md, "Why does airlock take a Go module's data segments
// out of what wazero compiles?").
//
// A module is rewritten only when that cannot change what the guest sees:
// every segment is active, in memory 0, at an i32.const offset; no two
// segments overlap (so the order they are written in does not matter);
// and there is no data count section (without one no instruction can name
// a segment by index: memory.init and data.drop need it). Anything else,
// and any module that does not parse, is given to wazero unchanged, and
// wazero decodes and validates what it is given as it would the original.

const (
	// coalesceMin is the number of segments below which a module is left
	// alone: C and Rust modules have a handful.
	coalesceMin = 64
	// coalesceGap is the longest run of zeros written out to join two
	// segments; a longer one starts a new segment.
	coalesceGap = 4 << 10
)

type dataSeg struct {
	off  uint32
	init []byte
}

// dataSection is a module's data section, parsed: the module's bytes
// before and after it, and its segments sorted by offset.
type dataSection struct {
	b          []byte
	hdr, end   int // the section, header included: b[hdr:end]
	segs       []dataSeg
	imageBytes uint64 // the end of the last segment
}

// dataOf parses b's data section if it may be rewritten: enough segments,
// all active in memory 0 at i32.const offsets, none overlapping, and no
// data count section.
func dataOf(b []byte) (*dataSection, bool) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || binary.LittleEndian.Uint32(b[4:8]) != 1 {
		return nil, false
	}
	var start, end int // the data section's content
	hdr := -1          // where the data section's header starts
	for i := 8; i < len(b); {
		id := b[i]
		n, k := uleb(b[i+1:])
		if k == 0 || uint64(len(b)-(i+1+k)) < n {
			return nil, false
		}
		content := i + 1 + k
		switch id {
		case 12: // data count: segments may be named by index
			return nil, false
		case 11:
			if hdr >= 0 {
				return nil, false
			}
			hdr, start, end = i, content, content+int(n)
		}
		i = content + int(n)
	}
	if hdr < 0 {
		return nil, false
	}
	segs, ok := parseData(b[start:end])
	if !ok || len(segs) < coalesceMin {
		return nil, false
	}
	slices.SortStableFunc(segs, func(x, y dataSeg) int {
		switch {
		case x.off < y.off:
			return -1
		case x.off > y.off:
			return 1
		}
		return 0
	})
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].off)+uint64(len(segs[i-1].init)) > uint64(segs[i].off) {
			return nil, false // overlapping: the order of writes would matter
		}
	}
	last := segs[len(segs)-1]
	return &dataSection{b: b, hdr: hdr, end: end, segs: segs, imageBytes: uint64(last.off) + uint64(len(last.init))}, true
}

// withSegments returns the module with its data section replaced by segs.
func (d *dataSection) withSegments(segs []dataSeg) []byte {
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(segs)))
	for _, s := range segs {
		sec = append(sec, 0x00, 0x41) // active in memory 0; i32.const
		sec = appendSleb32(sec, int32(s.off))
		sec = append(sec, 0x0b) // end
		sec = binary.AppendUvarint(sec, uint64(len(s.init)))
		sec = append(sec, s.init...)
	}
	out := make([]byte, 0, len(d.b)-(d.end-d.hdr)+len(sec)+6)
	out = append(out, d.b[:d.hdr]...)
	out = append(out, 11)
	out = binary.AppendUvarint(out, uint64(len(sec)))
	out = append(out, sec...)
	return append(out, d.b[d.end:]...)
}

// coalesced returns the module with runs of segments joined into one
// where the zeros between them are at most coalesceGap bytes.
func (d *dataSection) coalesced() []byte {
	var merged []dataSeg
	for _, s := range d.segs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			lastEnd := uint64(last.off) + uint64(len(last.init))
			if uint64(s.off)-lastEnd <= coalesceGap {
				last.init = append(last.init, make([]byte, uint64(s.off)-lastEnd)...)
				last.init = append(last.init, s.init...)
				continue
			}
		}
		merged = append(merged, dataSeg{off: s.off, init: slices.Clip(append([]byte(nil), s.init...))})
	}
	return d.withSegments(merged)
}

// image writes the initial memory the segments make into p, which must
// be at least imageBytes long and zero.
func (d *dataSection) image(p []byte) {
	for _, s := range d.segs {
		copy(p[s.off:], s.init)
	}
}

// coalesceData returns b with its data segments coalesced, or b itself
// when the module does not qualify.
func coalesceData(b []byte) []byte {
	d, ok := dataOf(b)
	if !ok {
		return b
	}
	return d.coalesced()
}

// parseData reads a data section's segments, if every one is active in
// memory 0 at an i32.const offset and fits below 4 GiB.
func parseData(p []byte) ([]dataSeg, bool) {
	count, k := uleb(p)
	if k == 0 || count > uint64(len(p)) {
		return nil, false
	}
	p = p[k:]
	segs := make([]dataSeg, 0, count)
	for range count {
		// flags 0: active, memory 0, then the offset expression
		if len(p) < 2 || p[0] != 0x00 || p[1] != 0x41 {
			return nil, false
		}
		off, k := sleb32(p[2:])
		if k == 0 || len(p) < 2+k+1 || p[2+k] != 0x0b {
			return nil, false
		}
		p = p[2+k+1:]
		n, k := uleb(p)
		if k == 0 || uint64(len(p)-k) < n {
			return nil, false
		}
		init := p[k : k+int(n)]
		p = p[k+int(n):]
		if uint64(uint32(off))+n > 1<<32 {
			return nil, false
		}
		segs = append(segs, dataSeg{off: uint32(off), init: init})
	}
	if len(p) != 0 {
		return nil, false
	}
	return segs, true
}

// uleb reads an unsigned LEB128 of at most 32 bits; k is 0 when it is
// malformed.
func uleb(p []byte) (v uint64, k int) {
	for i := 0; i < len(p) && i < 5; i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i] < 0x80 {
			if v > 1<<32-1 {
				return 0, 0
			}
			return v, i + 1
		}
	}
	return 0, 0
}

// sleb32 reads a signed LEB128 of at most 32 bits; k is 0 when it is
// malformed.
func sleb32(p []byte) (v int32, k int) {
	var r int64
	for i := 0; i < len(p) && i < 5; i++ {
		r |= int64(p[i]&0x7f) << (7 * i)
		if p[i] < 0x80 {
			shift := 7 * (i + 1)
			if shift < 64 && p[i]&0x40 != 0 {
				r |= -1 << shift
			}
			if r < -1<<31 || r > 1<<31-1 {
				return 0, 0
			}
			return int32(r), i + 1
		}
	}
	return 0, 0
}

func appendSleb32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if x == 0 && c&0x40 == 0 || x == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
