package airlocknet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Transport is an http.RoundTripper that has the host make each request:
// the host resolves the URL's host, checks the address against the policy,
// connects, does TLS, adds the credentials the policy binds to that host
// (replacing a header of the same name the tool set) and streams the
// response back. The zero Transport is ready to use, and it is safe for
// concurrent use:
//
//	client := &http.Client{Transport: &airlocknet.Transport{}}
//
// What differs from http.Transport: the Host header and req.Host are not
// sent (the URL's host is); hop-by-hop headers are the host's; the host
// follows no redirects (http.Client does, asking again for each); the
// response body may be cut at the host's limit (ErrTooLarge); and a
// credential's value is replaced by "[airlock:redacted]" wherever the
// server echoes it back, so a response may differ from what was sent.
type Transport struct {
	// MaxHeaderBytes bounds the encoded response headers; 1 MiB if 0.
	MaxHeaderBytes int
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip makes one HTTP request through the host.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil && req.Body != nil {
		req.Body.Close()
	}
	return resp, err
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, errors.New("airlocknet: request has no URL")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("airlocknet: unsupported protocol scheme %q", req.URL.Scheme)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	head := encodeRequest(method, req)
	bodyLen := int64(0)
	if req.Body != nil && req.Body != http.NoBody {
		bodyLen = req.ContentLength
		if bodyLen <= 0 {
			bodyLen = -1 // length unknown: sent chunked
		}
	}
	deadline, _ := ctx.Deadline()
	ms := int32(-1)
	if !deadline.IsZero() {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		ms = int32(min((left+time.Millisecond-1)/time.Millisecond, 1<<31-1))
	}

	var h uint32
	if e := abiHTTPRequest(unsafe.Pointer(unsafe.StringData(head)), uint32(len(head)), bodyLen, ms, unsafe.Pointer(&h)); e != 0 {
		return nil, t.fail(req, "request", e)
	}
	ok := false
	defer func() {
		if !ok {
			abiHTTPClose(h)
		}
	}()

	if bodyLen != 0 {
		// When the host refuses the body, the exchange has failed (a
		// denial, say) or the server answered early: the response says
		// which. When reading the body fails, the request is abandoned.
		rerr := sendBody(h, req.Body)
		req.Body.Close()
		if rerr != nil {
			return nil, fmt.Errorf("airlocknet: reading the request body: %w", rerr)
		}
	}

	status, header, err := t.response(ctx, deadline, h)
	if err != nil {
		return nil, t.describe(req, err)
	}
	resp := &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          &body{h: h, ctx: ctx, deadline: deadline},
		ContentLength: -1,
		Request:       req,
	}
	if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		resp.ContentLength = n
	}
	if method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified {
		resp.ContentLength = 0
	}
	ok = true
	return resp, nil
}

// encodeRequest writes the request head of the ABI: the method and URL,
// then one "Name: value" line per header value.
func encodeRequest(method string, req *http.Request) string {
	u := *req.URL
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(u.String())
	b.WriteString("\r\n")
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range req.Header[k] {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

// sendBody streams the request body to the host, then ends it. It
// returns only the errors of reading r: when the host refuses a write it
// stops, and the response tells why.
func sendBody(h uint32, r io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		for off := 0; off < n; {
			var w uint32
			chunk := buf[off:n]
			if e := abiHTTPBodyWrite(h, unsafe.Pointer(unsafe.SliceData(chunk)), uint32(len(chunk)), unsafe.Pointer(&w)); e != 0 {
				return nil
			}
			off += int(w)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	abiHTTPBodyClose(h)
	return nil
}

// response waits for the response head and decodes it.
func (t *Transport) response(ctx context.Context, deadline time.Time, h uint32) (int, http.Header, error) {
	max := t.MaxHeaderBytes
	if max <= 0 {
		max = 1 << 20
	}
	buf := make([]byte, 4<<10)
	var status, n uint32
	for {
		e := poll(ctx, deadline, func(ms int32) uint32 {
			return abiHTTPResponse(h, ms, unsafe.Pointer(&status), unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n))
		})
		if e == eNOBUFS && int(n) > len(buf) && int(n) <= max {
			buf = make([]byte, n)
			continue
		}
		switch e {
		case 0:
		case eCANCELED:
			return 0, nil, ctx.Err()
		case eTIMEDOUT:
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				return 0, nil, context.DeadlineExceeded
			}
			return 0, nil, errFor(e)
		case eNOBUFS:
			return 0, nil, fmt.Errorf("airlocknet: response headers longer than %d bytes", max)
		default:
			return 0, nil, errFor(e)
		}
		header := http.Header{}
		for _, line := range strings.Split(string(buf[:n]), "\r\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				header[textproto.CanonicalMIMEHeaderKey(k)] = append(header[textproto.CanonicalMIMEHeaderKey(k)], v)
			}
		}
		return int(status), header, nil
	}
}

func (t *Transport) fail(req *http.Request, what string, e uint32) error {
	return t.describe(req, fmt.Errorf("%s: %w", what, errFor(e)))
}

func (t *Transport) describe(req *http.Request, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// http.Client names the method and URL already.
	return fmt.Errorf("airlocknet: %w", err)
}

// body is a response body streamed from the host.
type body struct {
	h        uint32
	ctx      context.Context
	deadline time.Time

	mu     sync.Mutex
	closed bool
	eof    bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	closed, eof := b.closed, b.eof
	b.mu.Unlock()
	switch {
	case closed:
		return 0, errors.New("http: read on closed response body")
	case eof:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if len(p) > maxIOChunk {
		p = p[:maxIOChunk]
	}
	var n uint32
	e := poll(b.ctx, b.deadline, func(ms int32) uint32 {
		return abiHTTPRead(b.h, unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)), ms, unsafe.Pointer(&n))
	})
	switch {
	case e == eCANCELED:
		return 0, b.ctx.Err()
	case e == eTIMEDOUT && !b.deadline.IsZero() && !time.Now().Before(b.deadline):
		return 0, os.ErrDeadlineExceeded
	case e != 0:
		return 0, errFor(e)
	case n == 0:
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
		return 0, io.EOF
	}
	return int(n), nil
}

func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	abiHTTPClose(b.h)
	return nil
}
