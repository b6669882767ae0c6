package host

import (
	"bytes"
	"errors"
	"io"
	"strings"
)

// NetRedacted replaces every exact occurrence of a credential's secret in
// what the HTTP path hands back to the guest (response headers and body).
const NetRedacted = "[airlock:redacted]"

// netRedactor replaces exact occurrences of the secrets in a stream, even
// when one straddles two reads: it holds back the last len(longest)-1 raw
// bytes until it knows they do not begin a secret.
type netRedactor struct {
	r       io.Reader
	secrets [][]byte
	keep    int    // len(longest secret) - 1
	raw     []byte // read, not yet scanned past
	out     []byte // scanned, ready to hand out
	eof     error
	buf     []byte
}

func newNetRedactor(r io.Reader, secrets []string) io.Reader {
	x := &netRedactor{r: r, buf: make([]byte, 32<<10)}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		x.secrets = append(x.secrets, []byte(s))
		x.keep = max(x.keep, len(s)-1)
	}
	if len(x.secrets) == 0 {
		return r
	}
	return x
}

func (x *netRedactor) Read(p []byte) (int, error) {
	for len(x.out) == 0 {
		if x.eof != nil {
			return 0, x.eof
		}
		n, err := x.r.Read(x.buf)
		x.raw = append(x.raw, x.buf[:n]...)
		if err != nil {
			x.eof = err
		}
		x.scan(err != nil)
	}
	n := copy(p, x.out)
	x.out = x.out[n:]
	if len(x.out) == 0 {
		x.out = x.out[:0:0]
	}
	return n, nil
}

// scan moves what is known to be free of secrets from raw to out,
// replacing the secrets found; at the end everything moves.
func (x *netRedactor) scan(end bool) {
	for {
		i, s := netFirstSecret(x.raw, x.secrets)
		if i < 0 {
			break
		}
		x.out = append(x.out, x.raw[:i]...)
		x.out = append(x.out, NetRedacted...)
		x.raw = x.raw[i+len(s):]
	}
	keep := x.keep
	if end {
		keep = 0
	}
	if len(x.raw) > keep {
		cut := len(x.raw) - keep
		x.out = append(x.out, x.raw[:cut]...)
		x.raw = append(x.raw[:0], x.raw[cut:]...)
	}
}

// netFirstSecret finds the earliest secret in b (the longest, at a tie).
func netFirstSecret(b []byte, secrets [][]byte) (int, []byte) {
	at, which := -1, []byte(nil)
	for _, s := range secrets {
		if i := bytes.Index(b, s); i >= 0 && (at < 0 || i < at || (i == at && len(s) > len(which))) {
			at, which = i, s
		}
	}
	return at, which
}

// netRedactString replaces the secrets in s.
func netRedactString(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, NetRedacted)
		}
	}
	return s
}

// errNetTooLarge ends a response body at the size limit (EFBIG).
var errNetTooLarge = errors.New("response body larger than the limit")

// netCapped passes at most max bytes of r, then fails with errNetTooLarge
// if r had more.
type netCapped struct {
	r    io.Reader
	left int64
}

func (c *netCapped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errNetTooLarge
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
