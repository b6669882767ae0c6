package host

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// netConn is a raw TCP connection handle.
type netConn struct {
	conn net.Conn
	peer netip.AddrPort
	rd   *netPump
}

func (c *netConn) close() {
	c.rd.close()
	c.conn.Close()
}

// resolve(name_ptr, name_len, port, scheme, out_ptr, out_cap, out_len_ptr):
// the addresses of name that the policy allows or would ask about for
// scheme on port, one per line. No decision is recorded: nothing connects.
func netResolve(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	name, e := m.str(a.u32(0), a.u32(1), netMaxHost)
	if e != netOK {
		return e
	}
	scheme, e := netSchemeOf(a.u32(3))
	if e != netOK {
		return e
	}
	outPtr, outCap, lenPtr := a.u32(4), a.u32(5), a.u32(6)
	if e := m.writable(lenPtr, 4); e != netOK {
		return e
	}
	if s.run.Gate.Revoked() {
		return netEACCES
	}
	_, cs, e := s.candidates(ctx, scheme, name, int(a.u32(2)))
	if e != netOK {
		return e
	}
	var b strings.Builder
	for _, c := range cs {
		if c.ip.IsValid() && c.dec.Verdict != policy.Deny {
			b.WriteString(c.ip.String())
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return netEACCES
	}
	m.putU32(lenPtr, uint32(b.Len()))
	if uint32(b.Len()) > outCap {
		return netENOBUFS
	}
	return m.put(outPtr, []byte(b.String()))
}

// connect(host_ptr, host_len, port, scheme, timeout_ms, handle_ptr).
func netConnect(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	host, e := m.str(a.u32(0), a.u32(1), netMaxHost)
	if e != netOK {
		return e
	}
	scheme, e := netSchemeOf(a.u32(3))
	if e != netOK {
		return e
	}
	handlePtr := a.u32(5)
	if e := m.writable(handlePtr, 4); e != netOK {
		return e
	}
	conn, ap, err := s.dial(ctx, decision.OpConnect, scheme, host, int(a.u32(2)), timeoutOf(a.i32(4)))
	if err != nil {
		return netErrnoOf(err)
	}
	c := &netConn{conn: conn, peer: ap, rd: newNetPump(conn)}
	h, e := s.add(c)
	if e != netOK {
		c.close()
		return e
	}
	return m.putU32(handlePtr, h)
}

func (s *netRun) conn(h uint32) (*netConn, netErrno) {
	c, ok := s.get(h).(*netConn)
	if !ok {
		return nil, netEBADF
	}
	return c, netOK
}

// read(handle, buf_ptr, buf_len, timeout_ms, n_ptr).
func netRead(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	c, e := s.conn(a.u32(0))
	if e != netOK {
		return e
	}
	buf, e := m.ioView(a.u32(1), a.u32(2))
	if e != netOK {
		return e
	}
	nPtr := a.u32(4)
	if e := m.writable(nPtr, 4); e != netOK {
		return e
	}
	n, e := c.rd.read(ctx, buf, a.i32(3))
	if e != netOK {
		return e
	}
	s.bytesIn.Add(int64(n))
	return m.putU32(nPtr, uint32(n))
}

// write(handle, buf_ptr, buf_len, timeout_ms, n_ptr).
func netWrite(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	c, e := s.conn(a.u32(0))
	if e != netOK {
		return e
	}
	buf, e := m.ioView(a.u32(1), a.u32(2))
	if e != netOK {
		return e
	}
	nPtr := a.u32(4)
	if e := m.writable(nPtr, 4); e != netOK {
		return e
	}
	var deadline time.Time
	if t := timeoutOf(a.i32(3)); t > 0 {
		deadline = time.Now().Add(t)
	}
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return netErrnoOf(err)
	}
	n, err := c.conn.Write(buf)
	s.bytesOut.Add(int64(n))
	if err != nil && n == 0 {
		return netErrnoOf(err)
	}
	return m.putU32(nPtr, uint32(n))
}

// shutdown(handle, how): how is 1 (reading), 2 (writing) or 3 (both), as
// WASI's sdflags.
func netShutdown(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	c, e := s.conn(a.u32(0))
	if e != netOK {
		return e
	}
	how := a.u32(1)
	if how == 0 || how > 3 {
		return netEINVAL
	}
	tc, ok := c.conn.(interface {
		CloseRead() error
		CloseWrite() error
	})
	if !ok {
		return netENOTCONN
	}
	if how&1 != 0 {
		if err := tc.CloseRead(); err != nil {
			return netErrnoOf(err)
		}
	}
	if how&2 != 0 {
		if err := tc.CloseWrite(); err != nil {
			return netErrnoOf(err)
		}
	}
	return netOK
}

// close(handle).
func netClose(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	c, e := s.conn(a.u32(0))
	if e != netOK {
		return e
	}
	s.remove(a.u32(0))
	c.close()
	return netOK
}

// peer_addr(handle, out_ptr, out_cap, out_len_ptr): the address the
// connection was made to, "ip:port".
func netPeerAddr(ctx context.Context, m netMem, s *netRun, a netArgs) netErrno {
	c, e := s.conn(a.u32(0))
	if e != netOK {
		return e
	}
	lenPtr := a.u32(3)
	if e := m.writable(lenPtr, 4); e != netOK {
		return e
	}
	txt := c.peer.String()
	m.putU32(lenPtr, uint32(len(txt)))
	if uint32(len(txt)) > a.u32(2) {
		return netENOBUFS
	}
	return m.put(a.u32(1), []byte(txt))
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
