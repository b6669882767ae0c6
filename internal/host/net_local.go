package host

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// localAddrsMaxAge is how long the machine's own addresses are trusted
// before they are read again. Interfaces change rarely (a VPN comes up, a
// lease is renewed); a few seconds bounds how long a new address goes
// unnoticed without a system call per connection.
const localAddrsMaxAge = 2 * time.Second

// localAddrs is this machine's own addresses: every address of every
// network interface, IPv4 and IPv6, re-read when older than
// localAddrsMaxAge. A connection to one of them reaches a service of this
// machine (one listening on 0.0.0.0 answers on each), so the policy treats
// them as special, like loopback (policy.Dest.Local).
type localAddrs struct {
	read func() ([]netip.Addr, error)
	now  func() time.Time

	mu  sync.Mutex
	at  time.Time
	set map[netip.Addr]bool
	err error
}

func newLocalAddrs() *localAddrs {
	return &localAddrs{read: InterfaceAddrs, now: time.Now}
}

// has reports whether ip is one of this machine's addresses. When they
// cannot be read, every address counts as the machine's own: the policy
// then lets through only what a rule naming the address allows.
func (l *localAddrs) has(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); now.Sub(l.at) >= localAddrsMaxAge || now.Before(l.at) {
		addrs, err := l.read()
		l.at, l.err = now, err
		if err == nil {
			l.set = make(map[netip.Addr]bool, len(addrs))
			for _, a := range addrs {
				l.set[a.Unmap().WithZone("")] = true
			}
		}
	}
	if l.err != nil {
		return true
	}
	return l.set[ip]
}

// InterfaceAddrs returns the addresses of this machine's network
// interfaces (net.InterfaceAddrs), IPv4 and IPv6, without zones.
func InterfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		default:
			continue
		}
		if x, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, x.Unmap().WithZone(""))
		}
	}
	return out, nil
}

// OwnAddress reports whether ip is one of this machine's addresses now,
// read afresh (`airlock policy explain` uses it; the network functions
// keep their own set, refreshed every localAddrsMaxAge).
func OwnAddress(ip netip.Addr) bool { return newLocalAddrs().has(ip) }
