//go:build wasmtime

package runtime

import (
	"bytes"
	"errors"
	"io"
)

// read returns the content of the sealed entry of slot if its MAC matches
// (wasmtime's serialized modules, which it loads from memory).
func (c *codeCache) read(slot string) ([]byte, error) {
	f, n, _, mac, err := c.open(slot)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.CopyN(io.MultiWriter(&buf, mac), f, n); err != nil {
		return nil, errors.New("it is truncated")
	}
	if err := verify(f, mac); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
