package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxHostLen is the longest host name DNS can carry.
const maxHostLen = 253

// NormalizeHost turns any form of a host into one canonical form, so that a
// rule and a destination are compared as the same thing however either was
// written:
//
//   - a name is lowercased and loses one trailing dot ("API.GitHub.com." is
//     "api.github.com"). Labels are letters, digits, "-" and "_", 1 to 63
//     bytes each; non-ASCII names must be written in their "xn--" form.
//   - an IPv4 literal is parsed the way inet_aton and browsers parse it:
//     dotted decimal, one to four parts, each decimal, octal (leading 0) or
//     hex (leading 0x), the last part filling the remaining bytes. So
//     "2130706433", "0177.0.0.1", "0x7f.1" and "127.1" are all 127.0.0.1.
//     A host whose last label is a number is an IPv4 literal or an error:
//     "1.2.3.4.5", "256.1.1.1" and "08.1.1.1" are errors, never names.
//   - an IPv6 literal may be bracketed ("[::1]"); an IPv4-mapped one
//     ("::ffff:127.0.0.1") becomes the IPv4 address it maps. Zones
//     ("fe80::1%eth0") are refused.
//
// For an IP literal, host is ip.String() and isIP is true. NormalizeHost
// does not allocate for a host that is already canonical.
func NormalizeHost(s string) (host string, ip netip.Addr, isIP bool, err error) {
	if s == "" {
		return "", netip.Addr{}, false, errors.New("the host is empty")
	}
	if s[0] == '[' || strings.IndexByte(s, ':') >= 0 {
		ip, err := parseIPv6Literal(s)
		if err != nil {
			return "", netip.Addr{}, false, err
		}
		return ip.String(), ip, true, nil
	}
	h := strings.ToLower(s) // returns s itself when there is nothing to change
	if len(h) > 1 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if endsInNumber(h) {
		ip, err := parseIPv4Literal(h)
		if err != nil {
			return "", netip.Addr{}, false, fmt.Errorf("%q is not a valid IPv4 address: %v", s, err)
		}
		return ip.String(), ip, true, nil
	}
	if err := checkHostName(h); err != nil {
		return "", netip.Addr{}, false, fmt.Errorf("%q is not a valid host name: %v", s, err)
	}
	return h, netip.Addr{}, false, nil
}

func parseIPv6Literal(s string) (netip.Addr, error) {
	inner := s
	if s[0] == '[' {
		if len(s) < 2 || s[len(s)-1] != ']' {
			return netip.Addr{}, fmt.Errorf("%q opens a bracket it does not close", s)
		}
		inner = s[1 : len(s)-1]
		if strings.IndexByte(inner, ':') < 0 {
			return netip.Addr{}, fmt.Errorf("%q: brackets are for IPv6 addresses; write an IPv4 address or a name without them", s)
		}
	}
	if strings.IndexByte(inner, '%') >= 0 {
		return netip.Addr{}, fmt.Errorf("%q has an IPv6 zone: zones are not allowed, write the address alone", s)
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || !ip.Is6() {
		return netip.Addr{}, fmt.Errorf("%q is neither a host name nor an IP address (a port is not part of a host)", s)
	}
	return ip.Unmap(), nil
}

// endsInNumber reports whether the last label of h (lowercased, without a
// trailing dot) is a number, decimal or hex: then h is an IPv4 literal or
// invalid, never a name. This is the URL standard's rule.
func endsInNumber(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if allDigits(last, 10) {
		return true
	}
	if strings.HasPrefix(last, "0x") {
		return allDigits(last[2:], 16)
	}
	return false
}

func allDigits(s string, base int) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
		case base == 16 && 'a' <= c && c <= 'f':
		default:
			return false
		}
	}
	return true
}

// parseIPv4Literal parses h (lowercased) in any of inet_aton's forms.
func parseIPv4Literal(h string) (netip.Addr, error) {
	var parts [4]uint64
	n := 0
	for rest := h; ; {
		part, tail, more := strings.Cut(rest, ".")
		if n == 4 {
			return netip.Addr{}, errors.New("it has more than four parts")
		}
		v, err := parseIPv4Part(part)
		if err != nil {
			return netip.Addr{}, err
		}
		parts[n] = v
		n++
		if !more {
			break
		}
		rest = tail
	}
	var v uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 255 {
			return netip.Addr{}, fmt.Errorf("part %d is %d, more than 255", i+1, parts[i])
		}
		v = v<<8 | parts[i]
	}
	lastBits := uint(8 * (5 - n))
	if parts[n-1] >= 1<<lastBits {
		return netip.Addr{}, fmt.Errorf("the last part, %d, does not fit in %d bytes", parts[n-1], 5-n)
	}
	v = v<<lastBits | parts[n-1]
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

func parseIPv4Part(p string) (uint64, error) {
	digits, base := p, 10
	switch {
	case p == "":
		return 0, errors.New("it has an empty part")
	case strings.HasPrefix(p, "0x"):
		digits, base = p[2:], 16
		if digits == "" {
			return 0, nil // "0x" is zero, as in the URL standard
		}
	case len(p) > 1 && p[0] == '0':
		digits, base = p[1:], 8
	}
	if !allDigits(digits, base) || (base == 8 && strings.ContainsAny(digits, "89")) {
		return 0, fmt.Errorf("%q is not a number", p)
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", p)
	}
	return v, nil
}

// checkHostName checks a lowercased name without a trailing dot.
func checkHostName(h string) error {
	if h == "." {
		return errors.New("it has no labels")
	}
	if len(h) > maxHostLen {
		return fmt.Errorf("it is longer than %d bytes", maxHostLen)
	}
	for rest := h; ; {
		label, tail, more := strings.Cut(rest, ".")
		switch {
		case label == "":
			return errors.New("it has an empty label")
		case len(label) > 63:
			return fmt.Errorf("the label %q is longer than 63 bytes", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return errors.New("it is not ASCII; write an internationalised name in its xn-- form")
			default:
				return fmt.Errorf("%q may not appear in a host name", string(c))
			}
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// Kinds of special address, as SpecialAddress names them.
const (
	KindLoopback    = "loopback"
	KindPrivate     = "private"
	KindLinkLocal   = "link-local"
	KindUnspecified = "unspecified"
	KindMetadata    = "cloud metadata"
	KindMulticast   = "multicast"
	KindBroadcast   = "broadcast"
	KindInvalid     = "invalid"
	// KindLocal is an address of one of this machine's own interfaces
	// that is in no special range (Dest.Local): special all the same.
	KindLocal = "this machine"
)

var (
	metadataV4 = netip.AddrFrom4([4]byte{169, 254, 169, 254})
	metadataV6 = netip.MustParseAddr("fd00:ec2::254")
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")
	broadcast  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	// IPv6 prefixes whose last 32 bits (or bits 16 to 47, for 6to4) carry
	// an IPv4 address that the network may deliver to.
	v4Compatible = netip.MustParsePrefix("::/96")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
)

// SpecialAddress says whether ip is an address a tool should not reach just
// because a name resolved there, and which kind it is:
//
//   - "loopback": 127.0.0.0/8, ::1
//   - "private": 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10
//     (carrier-grade NAT), fc00::/7
//   - "link-local": 169.254.0.0/16, fe80::/10
//   - "unspecified": 0.0.0.0/8, :: (a connection to 0.0.0.0 reaches the
//     local host on Linux)
//   - "cloud metadata": 169.254.169.254, fd00:ec2::254
//   - "multicast" (224.0.0.0/4, ff00::/8), "broadcast" (255.255.255.255)
//   - "invalid": the zero netip.Addr
//
// An IPv4-mapped address is judged as the IPv4 address it maps; an IPv6
// address that embeds an IPv4 one (IPv4-compatible ::/96, NAT64
// 64:ff9b::/96, 6to4 2002::/16) is special, with the embedded address's
// kind, when the embedded address is.
func SpecialAddress(ip netip.Addr) (kind string, special bool) {
	if !ip.IsValid() {
		return KindInvalid, true
	}
	ip = ip.Unmap()
	if kind := specialKind(ip); kind != "" {
		return kind, true
	}
	if ip.Is6() {
		if v4, ok := embeddedIPv4(ip); ok {
			if kind := specialKind(v4); kind != "" {
				return kind, true
			}
		}
	}
	return "", false
}

func specialKind(ip netip.Addr) string {
	switch {
	case ip == metadataV4 || ip == metadataV6:
		return KindMetadata
	case ip.IsLoopback():
		return KindLoopback
	case ip.IsUnspecified() || (ip.Is4() && thisNet.Contains(ip)):
		return KindUnspecified
	case ip.IsPrivate() || cgnat.Contains(ip):
		return KindPrivate
	case ip.IsLinkLocalUnicast():
		return KindLinkLocal
	case ip.IsMulticast():
		return KindMulticast
	case ip == broadcast:
		return KindBroadcast
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address carried inside an IPv6 address of a
// transition prefix, if ip has one.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case v4Compatible.Contains(ip), nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
