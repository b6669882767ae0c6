package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// netSchemes are the schemes a guest may name on the raw path, by code.
var netSchemes = [...]string{0: "tcp", 1: "http", 2: "https"}

func netSchemeOf(code uint32) (string, netErrno) {
	if code >= uint32(len(netSchemes)) {
		return "", netEINVAL
	}
	return netSchemes[code], netOK
}

// errNetDenied is the error a dial returns when the policy (or the person
// asked) refused every address; the guest sees EACCES.
var errNetDenied = errors.New("connection denied by policy")

// netCandidate is one address a name resolved to, with the policy's verdict.
type netCandidate struct {
	ip  netip.Addr
	dec policy.NetDecision
}

// candidates normalises host, resolves it (unless it is an IP literal)
// and checks every address with the policy, telling it which addresses
// are this machine's own (special, like loopback). A name that no rule could
// allow whatever it resolves to is not resolved at all: looking it up
// would already send it out (see mayResolve); then the one candidate has
// no address and the deciding denial.
func (s *netRun) candidates(ctx context.Context, scheme, host string, port int) (name string, cs []netCandidate, e netErrno) {
	name, ip, isIP, err := policy.NormalizeHost(host)
	if err != nil || port < 1 || port > 65535 {
		return "", nil, netEINVAL
	}
	d := policy.Dest{Scheme: scheme, Host: name, Port: port}
	if isIP {
		d.IP, d.Local = ip, s.eng.local.has(ip)
		return name, []netCandidate{{ip, s.pol.CheckNetwork(d)}}, netOK
	}
	if dec, ok := mayResolve(s.pol, d); !ok {
		return name, []netCandidate{{netip.Addr{}, dec}}, netOK
	}
	addrs, err := s.eng.resolver.LookupNetIP(ctx, "ip", name)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return name, nil, netECANCELED
		}
		return name, nil, netENOENT
	}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if seen[a] {
			continue
		}
		seen[a] = true
		d.IP, d.Local = a, s.eng.local.has(a)
		cs = append(cs, netCandidate{a, s.pol.CheckNetwork(d)})
	}
	return name, cs, netOK
}

// mayResolve reports whether some address of d's name could be allowed, or
// asked about; when none could, it returns the denial that decides. A
// lookup is itself a message to the world (a name can carry data to
// whoever serves its domain), so a name is resolved only if the answer can
// matter, in the policy and in every managed ceiling over it.
func mayResolve(p *policy.Policy, d policy.Dest) (policy.NetDecision, bool) {
	ok := mayResolveIn(&p.Network, d)
	for i := range p.ManagedNetwork {
		ok = ok && mayResolveIn(&p.ManagedNetwork[i], d)
	}
	if ok {
		return policy.NetDecision{}, true
	}
	// Some layer can allow no address of this name: it denies an ordinary
	// public address by a deny rule or its default, and that is the
	// decision (no allow rule of that layer names an address).
	d.IP = netip.AddrFrom4([4]byte{192, 0, 2, 1})
	dec := p.CheckNetwork(d)
	if dec.Verdict != policy.Deny {
		return dec, true // cannot happen; resolve and let CheckNetwork decide
	}
	return dec, false
}

// mayResolveIn reports whether n could allow (or ask about) some address
// of d's name: no deny rule for names matches it, and the default is not
// deny, or an allow rule names it, or some allow rule names addresses.
func mayResolveIn(n *policy.Network, d policy.Dest) bool {
	for _, r := range n.Deny {
		if !r.NamesAddress() && r.Match(d) {
			return false
		}
	}
	if n.Default != policy.Deny {
		return true
	}
	for _, r := range n.Allow {
		if r.NamesAddress() || r.Match(d) {
			return true
		}
	}
	return false
}

// netTarget renders a destination for decision records: "host:port (ip)",
// or "ip:port" when the host was an IP literal.
func netTarget(name string, port int, ip netip.Addr) string {
	hp := net.JoinHostPort(name, strconv.Itoa(port))
	if !ip.IsValid() || ip.String() == name {
		return hp
	}
	return hp + " (" + ip.String() + ")"
}

// dial connects to host:port for op (NetOpConnect or NetOpHTTP). It tries
// the addresses the policy allows, in the resolver's order, putting each
// to the gate before dialing it; an address the policy leaves to a person
// is asked about only when none is allowed outright, and the next is tried
// only while the answers are yes. When no address may be tried, the first
// denial is recorded and the error is errNetDenied.
func (s *netRun) dial(ctx context.Context, op, scheme, host string, port int, timeout time.Duration) (net.Conn, netip.AddrPort, error) {
	name, cs, e := s.candidates(ctx, scheme, host, port)
	if e != netOK {
		return nil, netip.AddrPort{}, netErr{e}
	}
	anyAllowed := false
	for _, c := range cs {
		anyAllowed = anyAllowed || c.dec.Verdict == policy.Allow
	}
	if timeout <= 0 {
		timeout = s.eng.dialTimeout
	}
	gate := s.run.Gate
	tried := false
	var last error = errNetDenied
	for _, c := range cs {
		if c.dec.Verdict == policy.Deny || (c.dec.Verdict == policy.Ask && anyAllowed) {
			continue
		}
		tried = true
		req := decision.Request{Kind: decision.NetConnect, Op: op, Target: netTarget(name, port, c.ip),
			Policy: c.dec.Verdict, Rule: c.dec.Rule, Origin: c.dec.Origin}
		if !gate.DecideContext(ctx, req, "EACCES") {
			last = errNetDenied
			break
		}
		gate.used(decision.Use{Kind: decision.NetConnect, Op: op, Scheme: scheme, Host: name, Port: port, Addr: c.ip, Local: s.eng.local.has(c.ip)}) // learn mode (use.go)
		ap := netip.AddrPortFrom(c.ip, uint16(port))
		conn, err := dialExact(ctx, ap, timeout)
		if err == nil {
			s.conns.Add(1)
			return conn, ap, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	if !tried {
		c := cs[0]
		gate.Decide(decision.Request{Kind: decision.NetConnect, Op: op, Target: netTarget(name, port, c.ip),
			Policy: policy.Deny, Rule: c.dec.Rule, Origin: c.dec.Origin}, "EACCES")
	}
	return nil, netip.AddrPort{}, last
}

// dialExact connects to ap and to nothing else: the address is a literal,
// so nothing resolves it again, and the dialer's Control hook refuses any
// socket whose destination is not ap.
func dialExact(ctx context.Context, ap netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		got, err := netip.ParseAddrPort(address)
		if err != nil || got.Addr().Unmap() != ap.Addr() || got.Port() != ap.Port() {
			return fmt.Errorf("dialing %s: the socket's destination %s is not the address checked", ap, address)
		}
		return nil
	}}
	return d.DialContext(ctx, "tcp", ap.String())
}

// netErr carries an errno through an error chain.
type netErr struct{ e netErrno }

func (e netErr) Error() string { return "network: " + e.e.String() }

// netErrnoOf maps a host error to the guest's errno.
func netErrnoOf(err error) netErrno {
	var ne netErr
	switch {
	case err == nil:
		return netOK
	case errors.As(err, &ne):
		return ne.e
	case errors.Is(err, errNetDenied):
		return netEACCES
	case errors.Is(err, errNetTooLarge):
		return netEFBIG
	case errors.Is(err, context.Canceled):
		return netECANCELED
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return netETIMEDOUT
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe):
		return netEBADF
	case errors.Is(err, syscall.ECONNREFUSED):
		return netECONNREFUSED
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
		return netECONNRESET
	case errors.Is(err, syscall.EPIPE):
		return netEPIPE
	case errors.Is(err, syscall.EHOSTUNREACH):
		return netEHOSTUNREACH
	case errors.Is(err, syscall.ENETUNREACH):
		return netENETUNREACH
	case errors.Is(err, syscall.ETIMEDOUT):
		return netETIMEDOUT
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return netETIMEDOUT
	}
	return netEIO
}
