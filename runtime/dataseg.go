package runtime

import (
	"cmp"
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

// dataSeg is one active segment: its offset in memory, and where its
// bytes are in the module (no pointers: tens of thousands of them are
// sorted at every start).
type dataSeg struct {
	off, pos, n uint32
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
	segs, ok := parseData(b, start, end)
	if !ok || len(segs) < coalesceMin {
		return nil, false
	}
	// Go's linker writes two sorted runs. With no two segments
	// overlapping (checked next), the order of writes does not matter,
	// and neither does the order of segments at one offset (empty ones).
	segs = sortByOffset(segs)
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].off)+uint64(segs[i-1].n) > uint64(segs[i].off) {
			return nil, false // overlapping: the order of writes would matter
		}
	}
	last := segs[len(segs)-1]
	return &dataSection{b: b, hdr: hdr, end: end, segs: segs, imageBytes: uint64(last.off) + uint64(last.n)}, true
}

// sortByOffset sorts segs by offset. Go's linker writes a few sorted runs
// (two, for the sample tools), which are merged in linear time; anything
// else is sorted.
func sortByOffset(segs []dataSeg) []dataSeg {
	var runs []int // where each run after the first starts
	for i := 1; i < len(segs); i++ {
		if segs[i].off < segs[i-1].off {
			runs = append(runs, i)
		}
	}
	if len(runs) == 0 {
		return segs
	}
	if len(runs) > 8 {
		slices.SortFunc(segs, func(x, y dataSeg) int { return cmp.Compare(x.off, y.off) })
		return segs
	}
	out := segs[:runs[0]]
	for k, start := range runs {
		end := len(segs)
		if k+1 < len(runs) {
			end = runs[k+1]
		}
		out = mergeRuns(out, segs[start:end])
	}
	return out
}

// mergeRuns merges two runs sorted by offset into a new slice.
func mergeRuns(a, b []dataSeg) []dataSeg {
	out := make([]dataSeg, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].off < a[0].off {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// withSegments returns the module with its data section replaced by
// segments at offs, with contents inits.
func (d *dataSection) withSegments(offs []uint32, inits [][]byte) []byte {
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(offs)))
	for i, off := range offs {
		sec = append(sec, 0x00, 0x41) // active in memory 0; i32.const
		sec = appendSleb32(sec, int32(off))
		sec = append(sec, 0x0b) // end
		sec = binary.AppendUvarint(sec, uint64(len(inits[i])))
		sec = append(sec, inits[i]...)
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
	var offs []uint32
	var inits [][]byte
	for _, s := range d.segs {
		init := d.b[s.pos : s.pos+s.n]
		if n := len(offs); n > 0 {
			lastEnd := uint64(offs[n-1]) + uint64(len(inits[n-1]))
			if uint64(s.off)-lastEnd <= coalesceGap {
				inits[n-1] = append(inits[n-1], make([]byte, uint64(s.off)-lastEnd)...)
				inits[n-1] = append(inits[n-1], init...)
				continue
			}
		}
		offs = append(offs, s.off)
		inits = append(inits, slices.Clip(append([]byte(nil), init...)))
	}
	return d.withSegments(offs, inits)
}

// image writes the initial memory the segments make into p, which must
// be at least imageBytes long and zero.
func (d *dataSection) image(p []byte) {
	for _, s := range d.segs {
		copy(p[s.off:], d.b[s.pos:s.pos+s.n])
	}
}

// parseData reads the segments of the data section b[start:end], if every
// one is active in memory 0 at an i32.const offset and fits below 4 GiB.
func parseData(b []byte, start, end int) ([]dataSeg, bool) {
	p := b[start:end]
	count, k := uleb(p)
	if k == 0 || count > uint64(len(p)) {
		return nil, false
	}
	i := k
	segs := make([]dataSeg, 0, count)
	for range count {
		// flags 0: active, memory 0, then the offset expression
		if len(p)-i < 2 || p[i] != 0x00 || p[i+1] != 0x41 {
			return nil, false
		}
		off, k := sleb32(p[i+2:])
		if k == 0 || len(p)-i < 2+k+1 || p[i+2+k] != 0x0b {
			return nil, false
		}
		i += 2 + k + 1
		n, k := uleb(p[i:])
		if k == 0 || uint64(len(p)-i-k) < n {
			return nil, false
		}
		if uint64(uint32(off))+n > 1<<32 {
			return nil, false
		}
		segs = append(segs, dataSeg{off: uint32(off), pos: uint32(start + i + k), n: uint32(n)})
		i += k + int(n)
	}
	if i != len(p) {
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
