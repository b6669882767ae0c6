package policy

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
)

// Network says which outbound connections a tool may make. The zero
// Network denies everything.
//
// Check evaluates a destination in this order (docs/policy.md):
//
//  1. a deny rule that matches: deny. Deny always wins.
//  2. the address to be dialed is special (SpecialAddress) and no allow
//     rule that names an address or a range matches it: deny. A rule naming
//     a host does not count, even when the name resolved there: that is the
//     defence against DNS rebinding.
//  3. an allow rule that matches: allow.
//  4. Default.
type Network struct {
	Default Verdict // allow, deny or ask; Deny when there is no network block
	Allow   []NetRule
	Deny    []NetRule
	Origin  Origin // the network block, or the built-in layer when there is none

	// DefaultOrigin is where Default was written: its attribute, or the
	// built-in layer when it was left out.
	DefaultOrigin Origin
}

// NetRule is one network rule: a scheme, a host and ports, or an address
// range. Its forms:
//
//	api.github.com                 any scheme, any port
//	https://api.github.com         https, port 443 (http: port 80)
//	https://*.github.com:443       any name below github.com, not github.com itself
//	tcp://db.internal:5432-5440    a raw TCP connection, ports 5432 to 5440
//	https://example.com:443,8443   a list of ports; ":*" is any port
//	10.0.0.0/8                     every address in a CIDR range (IPv4 or IPv6)
//	tcp://127.0.0.1:5432           an IP literal, in any form NormalizeHost reads
//	[fd00::/8]:443                 an IPv6 address or range takes brackets before a port
//	*                              any host
//
// Make rules with NewNetRule (or get them from Parse and Policy.With): those
// are compiled once, so that Network.Check allocates nothing.
type NetRule struct {
	Text   string // as written
	Origin Origin

	c *netMatcher // nil only for a NetRule written as a literal
}

// Dest is one connection the host is about to make.
type Dest struct {
	Scheme string     // "https", "http", or "tcp" for a raw socket
	Host   string     // the name as the guest asked for it (lowercased, no trailing dot), or the IP literal as given
	Port   int        // 1 to 65535
	IP     netip.Addr // the address that will be dialed, after the host's own resolution
	// Local says IP is one of this machine's own addresses (an address of
	// one of its network interfaces). The host finds that out (policy
	// does no I/O); Check then treats IP as special, like loopback
	// (KindLocal): a service listening on every interface is this
	// machine's, whatever range its address is in.
	Local bool
}

// String renders d as scheme://host:port, with an IPv6 host in brackets.
func (d Dest) String() string {
	host := d.Host
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	return d.Scheme + "://" + host + ":" + strconv.Itoa(d.Port)
}

// NetDecision is what Network.Check decided, and why.
type NetDecision struct {
	Verdict Verdict
	// Rule is the deciding rule in words: `deny "169.254.169.254/32"`,
	// `allow "https://*.github.com"`, `special address 127.0.0.1
	// (loopback) needs a rule naming it`, `network.default = "deny"`.
	Rule   string
	Origin Origin // where that rule was written
}

// The schemes a rule may name.
var netSchemes = []string{"https", "http", "tcp"}

// netMatcher is a rule compiled once, when it is made. It is never changed
// after it is built and may be shared between copies of a NetRule.
type netMatcher struct {
	scheme   string // "" for any
	anyHost  bool   // "*"
	wildcard bool   // host is a suffix, ".github.com"
	host     string // an exact name, or the wildcard's suffix
	addr     bool   // an IP literal or CIDR range: prefix matches Dest.IP
	prefix   netip.Prefix
	ports    []portRange // nil for any port

	allowWords, denyWords string // `allow "TEXT"`, `deny "TEXT"`
}

type portRange struct{ lo, hi int }

// NewNetRule validates text as a network rule and returns it compiled.
func NewNetRule(text string, origin Origin) (NetRule, error) {
	c, err := compileNetRule(text)
	if err != nil {
		return NetRule{}, err
	}
	return NetRule{Text: text, Origin: origin, c: c}, nil
}

func (r *NetRule) compiledOf() *netMatcher {
	if r.c != nil {
		return r.c
	}
	c, err := compileNetRule(r.Text)
	if err != nil {
		panic("policy: NetRule not made by NewNetRule is invalid: " + err.Error())
	}
	return c
}

// Match reports whether the rule matches d on its own, without the order
// of evaluation: Network.Check is what decides.
func (r NetRule) Match(d Dest) bool {
	d.Host = strings.TrimSuffix(d.Host, ".")
	d.IP = d.IP.Unmap()
	return r.compiledOf().match(&d, true)
}

// NamesAddress reports whether the rule names an IP address or range, the
// only kind of allow rule that lets a tool reach a special address.
func (r NetRule) NamesAddress() bool { return r.compiledOf().addr }

func compileNetRule(text string) (*netMatcher, error) {
	if text == "" {
		return nil, errors.New("a network rule may not be empty")
	}
	if strings.ContainsAny(text, " \t\r\n") {
		return nil, fmt.Errorf("%q has a space in it", text)
	}
	c := &netMatcher{
		allowWords: "allow " + strconv.Quote(text),
		denyWords:  "deny " + strconv.Quote(text),
	}
	rest := text
	if i := strings.Index(rest, "://"); i >= 0 {
		c.scheme = strings.ToLower(rest[:i])
		if !slices.Contains(netSchemes, c.scheme) {
			hint := ""
			if s := hclx.DidYouMean(c.scheme, netSchemes); s != "" {
				hint = fmt.Sprintf(": did you mean %q?", s)
			}
			return nil, fmt.Errorf("%q has an unknown scheme %q%s The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any",
				text, rest[:i], orFullStop(hint))
		}
		rest = rest[i+3:]
	}
	if rest == "" {
		return nil, fmt.Errorf("%q names no host", text)
	}
	if strings.IndexByte(rest, '@') >= 0 {
		return nil, fmt.Errorf("%q has a user name in it: rules match a scheme, a host and ports", text)
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return nil, pathError(text, c.scheme, rest[:i])
	}

	// Split rest into the host (or address range) and the ports.
	var host, bits, ports string
	hasPort := false
	switch {
	case rest[0] == '[':
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return nil, fmt.Errorf("%q opens a bracket it does not close", text)
		}
		host = rest[:j+1]
		inner := rest[1:j]
		if k := strings.IndexByte(inner, '/'); k >= 0 {
			host, bits = "["+inner[:k]+"]", inner[k+1:]
			if bits == "" || !allDigits(bits, 10) {
				return nil, fmt.Errorf("%q: %q is not a prefix length", text, inner[k:])
			}
		}
		switch after := rest[j+1:]; {
		case after == "":
		case after[0] == ':':
			ports, hasPort = after[1:], true
		case after[0] == '/':
			return nil, pathError(text, c.scheme, rest[:j+1])
		default:
			return nil, fmt.Errorf("%q: after %q comes a port, as in %q", text, rest[:j+1], rest[:j+1]+":443")
		}
	case strings.Count(rest, ":") > 1:
		// An IPv6 address or range without brackets: no port.
		host = rest
		if k := strings.IndexByte(rest, '/'); k >= 0 {
			host, bits = rest[:k], rest[k+1:]
			if bits == "" || !allDigits(bits, 10) {
				return nil, pathError(text, c.scheme, host)
			}
		}
	default:
		host = rest
		if k := strings.IndexByte(rest, '/'); k >= 0 {
			host = rest[:k]
			digits, tail := leadingDigits(rest[k+1:])
			if digits == "" || strings.IndexByte(host, ':') >= 0 || (tail != "" && tail[0] != ':') {
				return nil, pathError(text, c.scheme, host)
			}
			bits = digits
			if tail != "" {
				ports, hasPort = tail[1:], true
			}
		} else if h, p, ok := strings.Cut(rest, ":"); ok {
			host, ports, hasPort = h, p, true
		}
	}

	if err := c.compileHost(text, host, bits); err != nil {
		return nil, err
	}
	if hasPort {
		ps, err := parsePorts(text, ports)
		if err != nil {
			return nil, err
		}
		c.ports = ps
	} else {
		switch c.scheme {
		case "https":
			c.ports = []portRange{{443, 443}}
		case "http":
			c.ports = []portRange{{80, 80}}
		}
	}
	return c, nil
}

func (c *netMatcher) compileHost(text, host, bits string) error {
	switch {
	case host == "":
		return fmt.Errorf("%q names no host", text)
	case bits != "":
		_, ip, isIP, err := NormalizeHost(host)
		if err != nil || !isIP {
			return fmt.Errorf("%q: %q is not an IP address, so /%s is not a CIDR range", text, host, bits)
		}
		n, err := strconv.Atoi(bits)
		if err != nil {
			n = 1 << 10
		}
		if ip.Is4() && strings.IndexByte(host, ':') >= 0 {
			n -= 96 // written as IPv4-mapped IPv6; NormalizeHost unmapped it
		}
		if n < 0 || n > ip.BitLen() {
			return fmt.Errorf("%q: /%s is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128", text, bits)
		}
		p := netip.PrefixFrom(ip, n)
		if m := p.Masked(); m != p {
			return fmt.Errorf("%q has bits set beyond its /%d prefix: write %q for the range, or %q for the one address",
				text, n, m.String(), ip.String())
		}
		c.addr, c.prefix = true, p
	case host == "*":
		c.anyHost = true
	case strings.HasPrefix(host, "*."):
		name := host[2:]
		if strings.IndexByte(name, '*') >= 0 {
			return wildcardError(text)
		}
		if name == "" {
			return fmt.Errorf("%q: the wildcard %q covers no domain; write a name after it, as in \"*.example.com\"", text, host)
		}
		h, _, isIP, err := NormalizeHost(name)
		if err != nil {
			return fmt.Errorf("%q: %v", text, err)
		}
		if isIP {
			return fmt.Errorf("%q: a wildcard covers names, not IP addresses; write a CIDR range such as \"10.0.0.0/8\"", text)
		}
		c.wildcard, c.host = true, "."+h
	case strings.IndexByte(host, '*') >= 0:
		return wildcardError(text)
	default:
		h, ip, isIP, err := NormalizeHost(host)
		if err != nil {
			return fmt.Errorf("%q: %v", text, err)
		}
		if isIP {
			c.addr, c.prefix = true, netip.PrefixFrom(ip, ip.BitLen())
		} else {
			c.host = h
		}
	}
	return nil
}

func wildcardError(text string) error {
	return fmt.Errorf("%q: a wildcard may only be the whole first label of a name, as in \"*.example.com\"", text)
}

func pathError(text, scheme, hostport string) error {
	want := hostport
	if scheme != "" {
		want = scheme + "://" + hostport
	}
	return fmt.Errorf("%q has a path: rules match a scheme, a host and ports, never a path; write %q", text, want)
}

func orFullStop(hint string) string {
	if hint == "" {
		return "."
	}
	return hint
}

func leadingDigits(s string) (digits, tail string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// parsePorts parses "443", "80,443", "5432-5440", a mix of those, or "*".
func parsePorts(text, spec string) ([]portRange, error) {
	switch spec {
	case "":
		return nil, fmt.Errorf("%q has no port after \":\"; write one, as in %q, or leave the colon out", text, text+"443")
	case "*":
		return nil, nil
	}
	var ps []portRange
	for _, elem := range strings.Split(spec, ",") {
		if elem == "" {
			return nil, fmt.Errorf("%q has an empty element in its port list %q", text, spec)
		}
		lo, hi, isRange := strings.Cut(elem, "-")
		l, err := parsePort(text, lo)
		if err != nil {
			return nil, err
		}
		h := l
		if isRange {
			if h, err = parsePort(text, hi); err != nil {
				return nil, err
			}
			if h < l {
				return nil, fmt.Errorf("%q: the port range %q runs backwards; write %q", text, elem, hi+"-"+lo)
			}
		}
		ps = append(ps, portRange{l, h})
	}
	return ps, nil
}

func parsePort(text, s string) (int, error) {
	if s == "" || !allDigits(s, 10) {
		return 0, fmt.Errorf("%q: %q is not a port; a port is a number from 1 to 65535", text, s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q: port %s is out of range; a port is a number from 1 to 65535", text, s)
	}
	return n, nil
}

// match reports whether d is covered by the rule. d.Host has no trailing
// dot and d.IP is unmapped. An address rule never matches when ipKnown is
// false.
func (c *netMatcher) match(d *Dest, ipKnown bool) bool {
	if c.scheme != "" && !strings.EqualFold(c.scheme, d.Scheme) {
		return false
	}
	if c.ports != nil {
		in := false
		for _, p := range c.ports {
			if p.lo <= d.Port && d.Port <= p.hi {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	switch {
	case c.addr:
		return ipKnown && c.prefix.Contains(d.IP)
	case c.anyHost:
		return true
	case c.wildcard:
		n := len(d.Host) - len(c.host)
		return n > 0 && strings.EqualFold(d.Host[n:], c.host)
	}
	return strings.EqualFold(d.Host, c.host)
}

// builtinOrigin is the origin of the built-in rules: the special-address
// rule, and the default when nothing says otherwise.
var builtinOrigin = Origin{Layer: LayerBuiltin}

// Check decides whether the host may make the connection d, in the order
// given on Network. It does not allocate unless it denies a special
// address. Check is safe for concurrent use.
func (n *Network) Check(d Dest) NetDecision { return n.decide(d, true) }

// decide is Check; with ipKnown false (a name not yet resolved) it leaves
// out the rules that depend on the address: address and range rules and
// the special-address step.
func (n *Network) decide(d Dest, ipKnown bool) NetDecision {
	if len(d.Host) > 1 && d.Host[len(d.Host)-1] == '.' {
		d.Host = d.Host[:len(d.Host)-1]
	}
	d.IP = d.IP.Unmap()
	for i := range n.Deny {
		r := &n.Deny[i]
		if c := r.compiledOf(); c.match(&d, ipKnown) {
			return NetDecision{Verdict: Deny, Rule: c.denyWords, Origin: r.Origin}
		}
	}
	if ipKnown {
		if !d.IP.IsValid() {
			return NetDecision{Verdict: Deny, Rule: "no address to check: the host decides on the address it will dial", Origin: builtinOrigin}
		}
		kind, special := SpecialAddress(d.IP)
		if !special && d.Local {
			kind, special = KindLocal, true
		}
		if special {
			for i := range n.Allow {
				r := &n.Allow[i]
				if c := r.compiledOf(); c.addr && c.match(&d, true) {
					return NetDecision{Verdict: Allow, Rule: c.allowWords, Origin: r.Origin}
				}
			}
			return NetDecision{
				Verdict: Deny,
				Rule:    "special address " + d.IP.String() + " (" + kind + ") needs a rule naming it",
				Origin:  builtinOrigin,
			}
		}
	}
	for i := range n.Allow {
		r := &n.Allow[i]
		if c := r.compiledOf(); c.match(&d, ipKnown) {
			return NetDecision{Verdict: Allow, Rule: c.allowWords, Origin: r.Origin}
		}
	}
	return NetDecision{Verdict: n.Default, Rule: defaultWords(n.Default), Origin: n.defaultOrigin()}
}

func defaultWords(v Verdict) string {
	switch v {
	case Allow:
		return `network.default = "allow"`
	case Ask:
		return `network.default = "ask"`
	}
	return `network.default = "deny"`
}

func (n *Network) defaultOrigin() Origin {
	switch {
	case n.DefaultOrigin.Layer != "":
		return n.DefaultOrigin
	case n.Origin.Layer != "":
		return n.Origin
	}
	return builtinOrigin
}

// none reports whether n allows nothing at all: no rules, default deny.
func (n *Network) none() bool {
	return n.Default == Deny && len(n.Allow) == 0 && len(n.Deny) == 0
}

// networkSchema is the body of the network { … } block.
var networkSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "default"},
		{Name: "allow"},
		{Name: "deny"},
	},
}

var verdictNames = []string{"allow", "deny", "ask"}

func decodeNetwork(d *decoder, b *hcl.Block) hcl.Diagnostics {
	n, diags := decodeNetworkBlock(d, b)
	d.p.Network = n
	return diags
}

func decodeNetworkBlock(d *decoder, b *hcl.Block) (Network, hcl.Diagnostics) {
	content, diags := hclx.Content(b.Body, networkSchema, "a network block")
	n := Network{Default: Deny, Origin: d.origin(b.DefRange), DefaultOrigin: builtinOrigin}
	if a := content.Attributes["default"]; a != nil {
		s, sdiags := stringAttr(a, `"deny"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			switch s {
			case "allow":
				n.Default = Allow
			case "deny":
				n.Default = Deny
			case "ask":
				n.Default = Ask
			default:
				detail := fmt.Sprintf("default must be \"allow\", \"deny\" or \"ask\", not %q.", s)
				if s := hclx.DidYouMean(s, verdictNames); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid default", detail))
			}
			n.DefaultOrigin = d.origin(a.Range)
		}
	}
	seen := map[string]string{} // rule text -> "allow" or "deny", for the warnings
	seenAt := map[string]hcl.Range{}
	for _, name := range []string{"deny", "allow"} {
		a := content.Attributes[name]
		if a == nil {
			continue
		}
		items, ldiags := stringListAttr(a, `["https://api.github.com", "10.0.0.0/8"]`)
		diags = append(diags, ldiags...)
		for _, it := range items {
			r, err := NewNetRule(it.Value, d.origin(it.Range))
			if err != nil {
				diags = append(diags, valueError(a, it.Range, "Invalid network rule", sentence(err.Error())))
				continue
			}
			switch prev, dup := seen[it.Value]; {
			case dup && prev == name:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Rule listed twice",
					Detail:   fmt.Sprintf("%q is already in %s at %s.", it.Value, name, hclx.Pos(seenAt[it.Value])),
					Subject:  it.Range.Ptr(),
				})
				continue
			case dup:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Rule both allowed and denied",
					Detail:   fmt.Sprintf("%q is also in deny at %s, and deny wins: this allow rule never applies.", it.Value, hclx.Pos(seenAt[it.Value])),
					Subject:  it.Range.Ptr(),
				})
			default:
				seen[it.Value], seenAt[it.Value] = name, it.Range
			}
			if name == "allow" {
				n.Allow = append(n.Allow, r)
			} else {
				n.Deny = append(n.Deny, r)
			}
		}
	}
	return n, diags
}

// finishNetwork gives a policy without a network block no network.
func finishNetwork(d *decoder) hcl.Diagnostics {
	if _, ok := d.once["network"]; !ok {
		d.p.Network = Network{Default: Deny, Origin: builtinOrigin, DefaultOrigin: builtinOrigin}
	}
	return nil
}

// explainNetwork writes the network lines of Explain, in the order Check
// evaluates.
func explainNetwork(line func(string, ...any), n *Network) {
	if n.none() {
		line("Network: none.")
		return
	}
	for _, g := range groupNetRules(n.Deny) {
		line("Network: denied (%s): %s.", g.origin, strings.Join(g.texts, ", "))
	}
	line("Network: loopback, private, link-local and cloud-metadata addresses are denied unless an allow rule names the address or a range containing it (built-in).")
	for _, g := range groupNetRules(n.Allow) {
		line("Network: allowed (%s): %s.", g.origin, strings.Join(g.texts, ", "))
	}
	what := map[Verdict]string{Allow: "allowed", Deny: "denied", Ask: "asked about"}[n.Default]
	line("Network: anything else is %s (%s).", what, originText(n.defaultOrigin()))
}

func groupNetRules(rs []NetRule) []group {
	var gs []group
	for _, r := range rs {
		gs = appendGroup(gs, r.Origin, r.Text)
	}
	return gs
}

// ExplainDest writes which rule of p decides a connection to rawURL, and
// why. rawURL is scheme://host[:port][/…] with the scheme https, http or tcp
// (tcp needs a port); the port defaults to 443 for https and 80 for http.
// The host may be a name or an IP literal in any form NormalizeHost reads.
//
//	Destination: https://127.0.0.1:443 (written "0x7f.1")
//	127.0.0.1 is a special address (loopback): only an allow rule naming it or a range containing it lets the tool reach it.
//	Decision: deny, by special address 127.0.0.1 (loopback) needs a rule naming it (built-in).
//
// For a host name the decision is the one for an ordinary public address,
// followed by a line saying that the address the name resolves to is
// checked too.
func ExplainDest(w io.Writer, p *Policy, rawURL string) error {
	return ExplainDestOn(w, p, rawURL, nil)
}

// ExplainDestOn is ExplainDest on a machine whose own addresses local
// reports (Dest.Local): an IP literal that is one of them is explained as
// the special address it is. local may be nil.
func ExplainDestOn(w io.Writer, p *Policy, rawURL string, local func(netip.Addr) bool) error {
	d, given, isIP, err := parseDestURL(rawURL)
	if err != nil {
		return err
	}
	if isIP && local != nil {
		d.Local = local(d.IP)
	}
	var b strings.Builder
	b.WriteString("Destination: " + d.String())
	if given != d.Host {
		fmt.Fprintf(&b, " (written %q)", given)
	}
	b.WriteString("\n")
	if isIP {
		kind, special := SpecialAddress(d.IP)
		if !special && d.Local {
			kind, special = KindLocal, true
		}
		if special {
			fmt.Fprintf(&b, "%s is a special address (%s): only an allow rule naming it or a range containing it lets the tool reach it.\n", d.IP, kind)
		}
	}
	dec := p.checkNetwork(d, isIP) // the managed ceilings too, as the host functions decide
	fmt.Fprintf(&b, "Decision: %s, by %s (%s).\n", dec.Verdict, dec.Rule, originText(dec.Origin))
	if byDenyRule := dec.Verdict == Deny && strings.HasPrefix(dec.Rule, "deny "); !isIP && !byDenyRule {
		fmt.Fprintf(&b, "That holds if %s resolves to an ordinary public address. The host resolves the name itself and checks the address it will dial: "+
			"rules naming addresses and ranges apply to it, and a loopback, private, link-local or cloud-metadata address is denied "+
			"unless an allow rule names that address or a range containing it, whatever rule names the host.\n", d.Host)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explaining a destination: %w", err)
	}
	return nil
}

// parseDestURL parses rawURL into a destination. given is the host as
// written; isIP says whether it was an IP literal (then d.IP is set).
func parseDestURL(rawURL string) (d Dest, given string, isIP bool, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return d, "", false, fmt.Errorf("%q is not a URL: write scheme://host[:port], as in https://api.github.com", rawURL)
	}
	d.Scheme = strings.ToLower(scheme)
	if !slices.Contains(netSchemes, d.Scheme) {
		return d, "", false, fmt.Errorf("%q has the scheme %q: use https, http or tcp", rawURL, scheme)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host, port := rest, ""
	switch {
	case strings.HasPrefix(rest, "["):
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return d, "", false, fmt.Errorf("%q opens a bracket it does not close", rawURL)
		}
		host = rest[:j+1]
		if after := rest[j+1:]; after != "" {
			if after[0] != ':' {
				return d, "", false, fmt.Errorf("%q: after %q comes a port", rawURL, host)
			}
			port = after[1:]
		}
	case strings.Count(rest, ":") > 1:
		return d, "", false, fmt.Errorf("%q: put an IPv6 address in brackets, as in https://[::1]:443", rawURL)
	default:
		host, port, _ = strings.Cut(rest, ":")
	}
	given = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	h, ip, isIP, err := NormalizeHost(host)
	if err != nil {
		return d, "", false, fmt.Errorf("%q: %w", rawURL, err)
	}
	d.Host, d.IP = h, ip
	switch {
	case port != "":
		n, err := parsePort(rawURL, port)
		if err != nil {
			return d, "", false, err
		}
		d.Port = n
	case d.Scheme == "https":
		d.Port = 443
	case d.Scheme == "http":
		d.Port = 80
	default:
		return d, "", false, fmt.Errorf("%q has no port: a tcp destination needs one, as in tcp://db.internal:5432", rawURL)
	}
	return d, given, isIP, nil
}

// CheckNetwork decides whether the host may make the connection d: the
// managed network ceilings first (a deny there is final; an ask there turns
// the policy's allow into an ask), then p.Network. Network host functions
// call this, never p.Network.Check directly, so that no layer below the
// managed one can open what it closes.
func (p *Policy) CheckNetwork(d Dest) NetDecision { return p.checkNetwork(d, true) }

func (p *Policy) checkNetwork(d Dest, ipKnown bool) NetDecision {
	dec := p.Network.decide(d, ipKnown)
	for i := range p.ManagedNetwork {
		n := &p.ManagedNetwork[i]
		m := n.decide(d, ipKnown)
		if m.Origin.Layer != LayerManaged {
			m.Origin = n.Origin // a built-in rule of the managed block decided
		}
		switch {
		case m.Verdict == Deny:
			return m
		case m.Verdict == Ask && dec.Verdict == Allow:
			dec = m
		}
	}
	return dec
}
