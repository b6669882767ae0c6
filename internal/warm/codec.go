package warm

import "errors"

// enc and dec are the payloads' encoding: length-prefixed strings and
// little-endian integers (not with encoding/binary: doc.go).
type enc struct{ b []byte }

func (e *enc) u64(v uint64) {
	for i := range 8 {
		e.b = append(e.b, byte(v>>(8*i)))
	}
}
func (e *enc) str(s string) { e.u64(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) strs(ss []string) {
	e.u64(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) u64() uint64 {
	if len(d.b) < 8 {
		d.err = errShortPayload
		return 0
	}
	var v uint64
	for i := range 8 {
		v |= uint64(d.b[i]) << (8 * i)
	}
	d.b = d.b[8:]
	return v
}

func (d *dec) str() string {
	n := d.u64()
	if n > uint64(len(d.b)) {
		d.err = errShortPayload
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) strs() []string {
	n := d.u64()
	if n > uint64(len(d.b))/8 {
		d.err = errShortPayload
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

var errShortPayload = errors.New("warm: short payload")
