package airlocknet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Dialer connects over airlock's raw TCP path. The zero Dialer is ready to
// use.
type Dialer struct {
	// Timeout bounds the connection attempt; zero means the host's own
	// bound (30 seconds by default). A context deadline also bounds it.
	Timeout time.Duration
	// Scheme is the protocol the tool says it will speak: "tcp" (or empty),
	// "http" or "https". The policy matches it against rules that name a
	// scheme; the host cannot look inside the connection, so it is a label
	// (the host adds no credentials on the raw path).
	Scheme string
}

// Dial connects to addr ("host:port") on network "tcp" with a zero Dialer.
func Dial(network, addr string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr ("host:port") on network "tcp" with a zero
// Dialer.
func DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d Dialer
	return d.DialContext(ctx, network, addr)
}

// Dial connects to addr; see DialContext.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr, "host:port", where host is a name or an IP
// literal and port a number (or "http", "https"). network must be "tcp",
// "tcp4" or "tcp6"; the host picks the address among those the policy
// allows, whatever the suffix. It fits http.Transport.DialContext.
//
// The host resolves the name itself; a connection the policy refuses
// fails with an error matching ErrDenied, and the server never sees it.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Addr: dialAddr(addr), Err: err} }
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, opErr(err)
	}
	port, err := parsePort(portText)
	if err != nil {
		return nil, opErr(err)
	}
	scheme, err := schemeCode(d.Scheme)
	if err != nil {
		return nil, opErr(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	timeout := d.Timeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, opErr(os.ErrDeadlineExceeded)
		}
		if timeout == 0 || left < timeout {
			timeout = left
		}
	}
	ms := int32(-1)
	if timeout > 0 {
		ms = int32(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<31-1))
	}
	var h uint32
	e := abiConnect(unsafe.Pointer(unsafe.StringData(host)), uint32(len(host)), uint32(port), scheme, ms, unsafe.Pointer(&h))
	if e != 0 {
		return nil, opErr(&os.SyscallError{Syscall: "connect", Err: errFor(e)})
	}
	c := &conn{h: h, network: network}
	c.remote = c.peer(host, port)
	return c, nil
}

func parsePort(s string) (int, error) {
	switch s {
	case "http":
		return 80, nil
	case "https":
		return 443, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return p, nil
}

// dialAddr is addr as a net.Addr for errors.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }

// conn is a connection on the raw path: a handle of the host.
type conn struct {
	h       uint32
	network string
	remote  net.Addr

	mu       sync.Mutex
	rdl, wdl time.Time
	closed   bool
}

var _ net.Conn = (*conn)(nil)

// peer asks the host which address it dialed.
func (c *conn) peer(host string, port int) net.Addr {
	buf := make([]byte, 64)
	var n uint32
	if abiPeerAddr(c.h, unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n)) == 0 {
		if ap, err := netip.ParseAddrPort(string(buf[:n])); err == nil {
			return net.TCPAddrFromAddrPort(ap)
		}
	}
	return dialAddr(net.JoinHostPort(host, strconv.Itoa(port)))
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.LocalAddr(), Addr: c.remote, Err: err}
}

func (c *conn) state() (closed bool, rdl, wdl time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.rdl, c.wdl
}

// Read reads what has arrived, waiting for something if nothing has, up to
// the read deadline.
func (c *conn) Read(p []byte) (int, error) {
	closed, dl, _ := c.state()
	if closed {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > maxIOChunk {
		p = p[:maxIOChunk]
	}
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, c.opErr("read", os.ErrDeadlineExceeded)
	}
	var n uint32
	e := poll(context.Background(), dl, func(ms int32) uint32 {
		return abiRead(c.h, unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)), ms, unsafe.Pointer(&n))
	})
	switch {
	case e == eTIMEDOUT && !dl.IsZero():
		return 0, c.opErr("read", os.ErrDeadlineExceeded)
	case e == eBADF:
		return 0, c.opErr("read", net.ErrClosed)
	case e != 0:
		return 0, c.opErr("read", errFor(e))
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p, unless the write deadline passes first.
func (c *conn) Write(p []byte) (int, error) {
	closed, _, dl := c.state()
	if closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	done := 0
	for done < len(p) {
		ms := int32(-1)
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return done, c.opErr("write", os.ErrDeadlineExceeded)
			}
			ms = int32(min((left+time.Millisecond-1)/time.Millisecond, 1<<31-1))
		}
		chunk := p[done:]
		if len(chunk) > maxIOChunk {
			chunk = chunk[:maxIOChunk]
		}
		var n uint32
		e := abiWrite(c.h, unsafe.Pointer(unsafe.SliceData(chunk)), uint32(len(chunk)), ms, unsafe.Pointer(&n))
		done += int(n)
		switch {
		case e == eTIMEDOUT && !dl.IsZero():
			return done, c.opErr("write", os.ErrDeadlineExceeded)
		case e == eBADF:
			return done, c.opErr("write", net.ErrClosed)
		case e != 0:
			return done, c.opErr("write", errFor(e))
		}
	}
	return done, nil
}

// Close closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	c.mu.Unlock()
	if e := abiClose(c.h); e != 0 {
		return c.opErr("close", errFor(e))
	}
	return nil
}

// CloseRead shuts down the reading side.
func (c *conn) CloseRead() error { return c.shutdown("close read", 1) }

// CloseWrite shuts down the writing side: the peer reads end of file.
func (c *conn) CloseWrite() error { return c.shutdown("close write", 2) }

func (c *conn) shutdown(op string, how uint32) error {
	if closed, _, _ := c.state(); closed {
		return c.opErr(op, net.ErrClosed)
	}
	if e := abiShutdown(c.h, how); e != 0 {
		return c.opErr(op, errFor(e))
	}
	return nil
}

// LocalAddr is the unspecified address: the tool does not learn the
// host's own address.
func (c *conn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// RemoteAddr is the address the host connected to.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl, c.wdl = t, t
	c.mu.Unlock()
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return nil
}
