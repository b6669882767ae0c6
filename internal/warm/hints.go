package warm

import "slices"

// Hint names a module a worker compiles before any request comes, because
// recent runs used it: the file, the memory limit and the interrupt mode
// it was compiled for, and the compile cache it came from. A run still
// reads and hashes its module itself: a hint only decides what is ready.
type Hint struct {
	CacheDir  string
	Path      string
	Memory    uint64
	Interrupt int
	Size      int64 // of the module file, in bytes, when it ran
}

const maxHints = 8

func encodeHints(hs []Hint) []byte {
	var e enc
	e.u64(uint64(len(hs)))
	for _, h := range hs {
		e.str(h.CacheDir)
		e.str(h.Path)
		e.u64(h.Memory)
		e.u64(uint64(h.Interrupt))
		e.u64(uint64(h.Size))
	}
	return e.b
}

func decodeHints(b []byte) ([]Hint, error) {
	d := dec{b: b}
	n := d.u64()
	if n > maxHints*4 {
		return nil, errShortPayload
	}
	hs := make([]Hint, 0, n)
	for range n {
		hs = append(hs, Hint{CacheDir: d.str(), Path: d.str(), Memory: d.u64(), Interrupt: int(d.u64()), Size: int64(d.u64())})
	}
	return hs, d.err
}

// remember puts got in front of hs, keeping each hint once and at most
// maxHints.
func remember(hs []Hint, got ...Hint) []Hint {
	out := append([]Hint(nil), got...)
	for _, h := range hs {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	if len(out) > maxHints {
		out = out[:maxHints]
	}
	return out
}
