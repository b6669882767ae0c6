package policy_test

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

// checkSrc has one rule per line, so that each origin is p.hcl:LINE:5.
const checkSrc = `network {
  default = "ask"
  deny = [
    "169.254.169.254/32",
    "https://evil.githubusercontent.com",
    "tcp://*:25",
    "10.1.99.0/24",
  ]
  allow = [
    "https://api.github.com",
    "https://*.githubusercontent.com:443",
    "tcp://db.internal:5432-5440",
    "example.org",
    "http://plain.test:80,8080",
    "tcp://127.0.0.1:5432",
    "10.1.0.0/16",
    "[fd00:1::/32]:443",
    "tcp://[::1]:6000",
    "https://*.corp.test",
    "tcp://0x7f.0.0.2:7000",
    "https://any.test:*",
  ]
}
`

func parseNet(t testing.TB, src string) *policy.Policy {
	t.Helper()
	p, diags := policy.Parse([]byte(src), "p.hcl", policy.LayerProject, t.TempDir())
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	return p
}

const public = "140.82.112.6"

func dest(scheme, host string, port int, ip string) policy.Dest {
	d := policy.Dest{Scheme: scheme, Host: host, Port: port}
	if ip != "" {
		d.IP = netip.MustParseAddr(ip)
	}
	return d
}

// TestCheck walks every step of the evaluation order: deny rules, special
// addresses, allow rules, the default.
func TestCheck(t *testing.T) {
	n := parseNet(t, checkSrc).Network
	const ask = `network.default = "ask"`
	for _, tc := range []struct {
		d       policy.Dest
		verdict policy.Verdict
		rule    string
		origin  string
	}{
		// Allow by name; the default port of https is 443 and only 443.
		{dest("https", "api.github.com", 443, public), policy.Allow, `allow "https://api.github.com"`, "p.hcl:10:5"},
		{dest("https", "API.GitHub.com.", 443, public), policy.Allow, `allow "https://api.github.com"`, "p.hcl:10:5"},
		{dest("https", "api.github.com", 8443, public), policy.Ask, ask, "p.hcl:2:3"},
		// Schemes are exact: an https rule says nothing of http or raw TCP.
		{dest("http", "api.github.com", 80, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("tcp", "api.github.com", 443, public), policy.Ask, ask, "p.hcl:2:3"},
		// A wildcard covers names below, at any depth, never the apex.
		{dest("https", "raw.githubusercontent.com", 443, public), policy.Allow, `allow "https://*.githubusercontent.com:443"`, "p.hcl:11:5"},
		{dest("https", "a.b.githubusercontent.com", 443, public), policy.Allow, `allow "https://*.githubusercontent.com:443"`, "p.hcl:11:5"},
		{dest("https", "githubusercontent.com", 443, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("https", "xgithubusercontent.com", 443, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("https", "a.corp.test", 443, public), policy.Allow, `allow "https://*.corp.test"`, "p.hcl:19:5"},
		{dest("https", "a.corp.test", 8443, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("https", "corp.test", 443, public), policy.Ask, ask, "p.hcl:2:3"},
		// Deny wins over an allow rule that also matches.
		{dest("https", "evil.githubusercontent.com", 443, public), policy.Deny, `deny "https://evil.githubusercontent.com"`, "p.hcl:5:5"},
		{dest("tcp", "example.org", 25, public), policy.Deny, `deny "tcp://*:25"`, "p.hcl:6:5"},
		{dest("tcp", "mail.example.net", 25, public), policy.Deny, `deny "tcp://*:25"`, "p.hcl:6:5"},
		{dest("tcp", "10.1.99.5", 22, "10.1.99.5"), policy.Deny, `deny "10.1.99.0/24"`, "p.hcl:7:5"},
		// A deny rule for an address applies to what an allowed name resolved to.
		{dest("https", "api.github.com", 443, "169.254.169.254"), policy.Deny, `deny "169.254.169.254/32"`, "p.hcl:4:5"},
		// Ports: a range, a list, any.
		{dest("tcp", "db.internal", 5432, public), policy.Allow, `allow "tcp://db.internal:5432-5440"`, "p.hcl:12:5"},
		{dest("tcp", "db.internal", 5440, public), policy.Allow, `allow "tcp://db.internal:5432-5440"`, "p.hcl:12:5"},
		{dest("tcp", "db.internal", 5431, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("tcp", "db.internal", 5441, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("https", "db.internal", 5432, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("http", "plain.test", 80, public), policy.Allow, `allow "http://plain.test:80,8080"`, "p.hcl:14:5"},
		{dest("http", "plain.test", 8080, public), policy.Allow, `allow "http://plain.test:80,8080"`, "p.hcl:14:5"},
		{dest("http", "plain.test", 8081, public), policy.Ask, ask, "p.hcl:2:3"},
		{dest("https", "any.test", 1, public), policy.Allow, `allow "https://any.test:*"`, "p.hcl:21:5"},
		{dest("http", "any.test", 80, public), policy.Ask, ask, "p.hcl:2:3"},
		// No scheme and no port: any of either.
		{dest("tcp", "example.org", 22, public), policy.Allow, `allow "example.org"`, "p.hcl:13:5"},
		{dest("https", "example.org", 443, public), policy.Allow, `allow "example.org"`, "p.hcl:13:5"},
		{dest("http", "example.org", 8080, public), policy.Allow, `allow "example.org"`, "p.hcl:13:5"},
		// A name rule never matches an IP literal, even one the name has.
		{dest("https", public, 443, public), policy.Ask, ask, "p.hcl:2:3"},
		// Special addresses need an allow rule that names the address or a range.
		{dest("tcp", "127.0.0.1", 5432, "127.0.0.1"), policy.Allow, `allow "tcp://127.0.0.1:5432"`, "p.hcl:15:5"},
		{dest("tcp", "localhost", 5432, "127.0.0.1"), policy.Allow, `allow "tcp://127.0.0.1:5432"`, "p.hcl:15:5"},
		{dest("tcp", "127.0.0.1", 5432, "::ffff:127.0.0.1"), policy.Allow, `allow "tcp://127.0.0.1:5432"`, "p.hcl:15:5"},
		{dest("tcp", "127.0.0.2", 7000, "127.0.0.2"), policy.Allow, `allow "tcp://0x7f.0.0.2:7000"`, "p.hcl:20:5"},
		{dest("tcp", "10.1.2.3", 22, "10.1.2.3"), policy.Allow, `allow "10.1.0.0/16"`, "p.hcl:16:5"},
		{dest("https", "intranet.test", 443, "10.1.2.3"), policy.Allow, `allow "10.1.0.0/16"`, "p.hcl:16:5"},
		{dest("https", "fd00:1::5", 443, "fd00:1::5"), policy.Allow, `allow "[fd00:1::/32]:443"`, "p.hcl:17:5"},
		{dest("tcp", "::1", 6000, "::1"), policy.Allow, `allow "tcp://[::1]:6000"`, "p.hcl:18:5"},
		// … and a rule naming the address but not this port or scheme does
		// not fall through to the default.
		{dest("tcp", "127.0.0.1", 5433, "127.0.0.1"), policy.Deny, "special address 127.0.0.1 (loopback) needs a rule naming it", "builtin"},
		{dest("http", "fd00:1::5", 80, "fd00:1::5"), policy.Deny, "special address fd00:1::5 (private) needs a rule naming it", "builtin"},
		{dest("tcp", "::1", 6001, "::1"), policy.Deny, "special address ::1 (loopback) needs a rule naming it", "builtin"},
		// DNS rebinding: an allowed name that resolves to a special address.
		{dest("https", "api.github.com", 443, "127.0.0.1"), policy.Deny, "special address 127.0.0.1 (loopback) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "::ffff:127.0.0.1"), policy.Deny, "special address 127.0.0.1 (loopback) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "10.0.0.1"), policy.Deny, "special address 10.0.0.1 (private) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "169.254.1.1"), policy.Deny, "special address 169.254.1.1 (link-local) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "fd00:ec2::254"), policy.Deny, "special address fd00:ec2::254 (cloud metadata) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "0.0.0.0"), policy.Deny, "special address 0.0.0.0 (unspecified) needs a rule naming it", "builtin"},
		{dest("https", "api.github.com", 443, "64:ff9b::7f00:1"), policy.Deny, "special address 64:ff9b::7f00:1 (loopback) needs a rule naming it", "builtin"},
		// The default.
		{dest("https", "other.test", 443, public), policy.Ask, ask, "p.hcl:2:3"},
		// No address: nothing to check, so no connection.
		{dest("https", "api.github.com", 443, ""), policy.Deny, "no address to check: the host decides on the address it will dial", "builtin"},
	} {
		got := n.Check(tc.d)
		if got.Verdict != tc.verdict || got.Rule != tc.rule || got.Origin.String() != tc.origin {
			t.Errorf("Check(%s at %v) = %v, %s (%s); want %v, %s (%s)",
				tc.d, tc.d.IP, got.Verdict, got.Rule, got.Origin, tc.verdict, tc.rule, tc.origin)
		}
	}
}

// TestCheckRebinding: with no deny rules at all, every kind of special
// address is refused to an allowed name, also with default = "allow".
func TestCheckRebinding(t *testing.T) {
	for _, src := range []string{
		"network {\n  allow = [\"https://api.github.com\", \"*.example.com\"]\n}\n",
		"network {\n  default = \"allow\"\n}\n",
	} {
		n := parseNet(t, src).Network
		for _, ip := range []string{"127.0.0.1", "127.9.9.9", "::1", "10.0.0.1", "172.16.5.4", "192.168.0.1", "100.64.0.1",
			"fc00::1", "169.254.169.254", "fd00:ec2::254", "169.254.0.1", "fe80::1", "0.0.0.0", "::", "::ffff:10.0.0.1"} {
			for _, d := range []policy.Dest{dest("https", "api.github.com", 443, ip), dest("tcp", "a.example.com", 22, ip)} {
				got := n.Check(d)
				if got.Verdict != policy.Deny || !strings.HasPrefix(got.Rule, "special address ") || got.Origin.Layer != policy.LayerBuiltin {
					t.Errorf("%q: Check(%s at %s) = %v by %s (%s), want a special-address denial", src, d, ip, got.Verdict, got.Rule, got.Origin)
				}
			}
		}
		if got := n.Check(dest("https", "api.github.com", 443, public)); got.Verdict != policy.Allow {
			t.Errorf("%q: a public address: %v by %s", src, got.Verdict, got.Rule)
		}
	}
}

// TestCheckAllAddresses: a range that covers everything names every special
// address too, on purpose.
func TestCheckAllAddresses(t *testing.T) {
	n := parseNet(t, "network {\n  allow = [\"0.0.0.0/0\", \"::/0\"]\n}\n").Network
	for _, ip := range []string{"127.0.0.1", "169.254.169.254", "8.8.8.8"} {
		if got := n.Check(dest("tcp", ip, 1, ip)); got.Verdict != policy.Allow || got.Rule != `allow "0.0.0.0/0"` {
			t.Errorf("%s: %v by %s", ip, got.Verdict, got.Rule)
		}
	}
	if got := n.Check(dest("tcp", "::1", 1, "::1")); got.Verdict != policy.Allow || got.Rule != `allow "::/0"` {
		t.Errorf("::1: %v by %s", got.Verdict, got.Rule)
	}
}

func TestCheckNoNetwork(t *testing.T) {
	for name, n := range map[string]policy.Network{
		"default policy":   policy.Default(t.TempDir()).Network,
		"no network block": parseNet(t, "mount \"/w\" {}\n").Network,
		"zero Network":     {},
	} {
		got := n.Check(dest("https", "api.github.com", 443, public))
		if got.Verdict != policy.Deny || got.Rule != `network.default = "deny"` || got.Origin.String() != "builtin" {
			t.Errorf("%s: %v by %s (%s)", name, got.Verdict, got.Rule, got.Origin)
		}
		if n.Origin.Layer != "" && n.Origin.Layer != policy.LayerBuiltin {
			t.Errorf("%s: origin %+v", name, n.Origin)
		}
	}
}

func TestNewNetRule(t *testing.T) {
	for _, tc := range []struct {
		rule     string
		addr     bool
		match    []policy.Dest
		nomatch  []policy.Dest
		sameAs   string // another spelling that must match the same way
		explains string
	}{
		{rule: "API.GitHub.com.", match: []policy.Dest{dest("tcp", "api.github.com", 1, public), dest("http", "api.github.com", 65535, public)},
			nomatch: []policy.Dest{dest("https", "github.com", 443, public), dest("https", "x.api.github.com", 443, public)}},
		{rule: "HTTPS://api.github.com", match: []policy.Dest{dest("https", "api.github.com", 443, public)},
			nomatch: []policy.Dest{dest("https", "api.github.com", 80, public), dest("http", "api.github.com", 443, public)}},
		{rule: "http://a.test", match: []policy.Dest{dest("http", "a.test", 80, public)}, nomatch: []policy.Dest{dest("http", "a.test", 443, public)}},
		{rule: "tcp://a.test", match: []policy.Dest{dest("tcp", "a.test", 1, public), dest("tcp", "a.test", 5432, public)},
			nomatch: []policy.Dest{dest("https", "a.test", 443, public)}},
		{rule: "*", match: []policy.Dest{dest("tcp", "a.test", 1, public), dest("https", public, 443, public)}},
		{rule: "*.a.test:22", match: []policy.Dest{dest("tcp", "b.a.test", 22, public)},
			nomatch: []policy.Dest{dest("tcp", "a.test", 22, public), dest("tcp", "b.a.test", 23, public)}},
		{rule: "10.0.0.0/8", addr: true, match: []policy.Dest{dest("tcp", "x", 1, "10.255.0.1"), dest("https", "10.0.0.1", 443, "::ffff:10.0.0.1")},
			nomatch: []policy.Dest{dest("tcp", "10.0.0.1", 1, "11.0.0.1")}},
		{rule: "10.0.0.0/8:443", addr: true, match: []policy.Dest{dest("https", "x", 443, "10.1.1.1")}, nomatch: []policy.Dest{dest("https", "x", 80, "10.1.1.1")}},
		{rule: "tcp://10.0.0.0/8:5432-5433,6000", addr: true, match: []policy.Dest{dest("tcp", "x", 5433, "10.1.1.1"), dest("tcp", "x", 6000, "10.1.1.1")},
			nomatch: []policy.Dest{dest("tcp", "x", 5434, "10.1.1.1"), dest("https", "x", 6000, "10.1.1.1")}},
		{rule: "::ffff:10.0.0.0/104", addr: true, match: []policy.Dest{dest("tcp", "x", 1, "10.0.0.1")}, nomatch: []policy.Dest{dest("tcp", "x", 1, "11.0.0.1")}},
		{rule: "fd00::/8", addr: true, match: []policy.Dest{dest("tcp", "x", 1, "fd12::1")}, nomatch: []policy.Dest{dest("tcp", "x", 1, "fc00::1")}},
		{rule: "[fd00::/8]:443", addr: true, match: []policy.Dest{dest("https", "x", 443, "fd12::1")}, nomatch: []policy.Dest{dest("https", "x", 444, "fd12::1")}},
		{rule: "[::1]", addr: true, match: []policy.Dest{dest("tcp", "localhost", 9, "::1")}, nomatch: []policy.Dest{dest("tcp", "localhost", 9, "127.0.0.1")}},
		{rule: "2130706433", addr: true, match: []policy.Dest{dest("tcp", "x", 9, "127.0.0.1")}, nomatch: []policy.Dest{dest("tcp", "x", 9, "127.0.0.2")}},
		{rule: "tcp://127.1:5432", addr: true, match: []policy.Dest{dest("tcp", "127.0.0.1", 5432, "127.0.0.1")}},
	} {
		r, err := policy.NewNetRule(tc.rule, policy.Origin{})
		if err != nil {
			t.Errorf("NewNetRule(%q): %v", tc.rule, err)
			continue
		}
		if r.NamesAddress() != tc.addr {
			t.Errorf("%q: NamesAddress = %v", tc.rule, r.NamesAddress())
		}
		for _, d := range tc.match {
			if !r.Match(d) {
				t.Errorf("%q does not match %s at %v", tc.rule, d, d.IP)
			}
		}
		for _, d := range tc.nomatch {
			if r.Match(d) {
				t.Errorf("%q matches %s at %v", tc.rule, d, d.IP)
			}
		}
	}
	// A rule written as a literal is compiled when it is first used.
	lit := policy.NetRule{Text: "https://a.test"}
	if !lit.Match(dest("https", "a.test", 443, public)) {
		t.Error("literal rule does not match")
	}
}

// TestNetRuleErrors covers each way a rule can be wrong, as NewNetRule
// (and so --allow-net and --deny-net) words it.
func TestNetRuleErrors(t *testing.T) {
	for rule, want := range map[string]string{
		"":                           `a network rule may not be empty`,
		"https://a.test ":            `"https://a.test " has a space in it`,
		"htps://a.test":              `"htps://a.test" has an unknown scheme "htps": did you mean "https"? The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any`,
		"ftp://a.test":               `"ftp://a.test" has an unknown scheme "ftp": did you mean "http"? The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any`,
		"wss://a.test":               `"wss://a.test" has an unknown scheme "wss". The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any`,
		"https://":                   `"https://" names no host`,
		":443":                       `":443" names no host`,
		"https://u:p@a.test":         `"https://u:p@a.test" has a user name in it: rules match a scheme, a host and ports`,
		"https://a.test/x":           `"https://a.test/x" has a path: rules match a scheme, a host and ports, never a path; write "https://a.test"`,
		"https://a.test:443/":        `"https://a.test:443/" has a path: rules match a scheme, a host and ports, never a path; write "https://a.test:443"`,
		"https://a.test?q":           `"https://a.test?q" has a path: rules match a scheme, a host and ports, never a path; write "https://a.test"`,
		"[::1]/x":                    `"[::1]/x" has a path: rules match a scheme, a host and ports, never a path; write "[::1]"`,
		"https://a.test:":            `"https://a.test:" has no port after ":"; write one, as in "https://a.test:443", or leave the colon out`,
		"https://a.test:0":           `"https://a.test:0": port 0 is out of range; a port is a number from 1 to 65535`,
		"https://a.test:65536":       `"https://a.test:65536": port 65536 is out of range; a port is a number from 1 to 65535`,
		"https://a.test:https":       `"https://a.test:https": "https" is not a port; a port is a number from 1 to 65535`,
		"tcp://db:5440-5432":         `"tcp://db:5440-5432": the port range "5440-5432" runs backwards; write "5432-5440"`,
		"tcp://db:80,,81":            `"tcp://db:80,,81" has an empty element in its port list "80,,81"`,
		"tcp://db:80-":               `"tcp://db:80-": "" is not a port; a port is a number from 1 to 65535`,
		"api.*.com":                  `"api.*.com": a wildcard may only be the whole first label of a name, as in "*.example.com"`,
		"*github.com":                `"*github.com": a wildcard may only be the whole first label of a name, as in "*.example.com"`,
		"*.*.github.com":             `"*.*.github.com": a wildcard may only be the whole first label of a name, as in "*.example.com"`,
		"*.":                         `"*.": the wildcard "*." covers no domain; write a name after it, as in "*.example.com"`,
		"*.1.2.3":                    `"*.1.2.3": a wildcard covers names, not IP addresses; write a CIDR range such as "10.0.0.0/8"`,
		"10.0.0.0/33":                `"10.0.0.0/33": /33 is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128`,
		"fd00::/129":                 `"fd00::/129": /129 is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128`,
		"10.0.0.1/8":                 `"10.0.0.1/8" has bits set beyond its /8 prefix: write "10.0.0.0/8" for the range, or "10.0.0.1" for the one address`,
		"example.com/8":              `"example.com/8": "example.com" is not an IP address, so /8 is not a CIDR range`,
		"[fd00::/x]":                 `"[fd00::/x]": "/x" is not a prefix length`,
		"fd00::/x":                   `"fd00::/x" has a path: rules match a scheme, a host and ports, never a path; write "fd00::"`,
		"[::1":                       `"[::1" opens a bracket it does not close`,
		"[::1]443":                   `"[::1]443": after "[::1]" comes a port, as in "[::1]:443"`,
		"[127.0.0.1]:80":             `"[127.0.0.1]:80": "[127.0.0.1]": brackets are for IPv6 addresses; write an IPv4 address or a name without them`,
		"https://256.1.1.1":          `"https://256.1.1.1": "256.1.1.1" is not a valid IPv4 address: part 1 is 256, more than 255`,
		"https://1.2.3.4.5":          `"https://1.2.3.4.5": "1.2.3.4.5" is not a valid IPv4 address: it has more than four parts`,
		"https://exa_mple!.com":      `"https://exa_mple!.com": "exa_mple!.com" is not a valid host name: "!" may not appear in a host name`,
		"https://fe80::1%25eth0":     `"https://fe80::1%25eth0": "fe80::1%25eth0" has an IPv6 zone: zones are not allowed, write the address alone`,
		"::ffff:10.0.0.0/90":         `"::ffff:10.0.0.0/90": /90 is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128`,
		"10.0.0.0/99999999999999999": `"10.0.0.0/99999999999999999": /99999999999999999 is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128`,
	} {
		_, err := policy.NewNetRule(rule, policy.Origin{})
		if err == nil {
			t.Errorf("NewNetRule(%q) = nil error, want %s", rule, want)
			continue
		}
		if err.Error() != want {
			t.Errorf("NewNetRule(%q):\n got %s\nwant %s", rule, err, want)
		}
	}
}

// TestNetworkDiagnostics covers each diagnostic of network and credential
// blocks, with its exact position and wording.
func TestNetworkDiagnostics(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src string
		want      []string // "{dir}" stands for the base directory
	}{
		{"misspelt argument", "network {\n  alow = []\n}\n",
			[]string{`p.hcl:2:3: error: Unsupported argument; An argument named "alow" is not expected in a network block. Did you mean "allow"?`}},
		{"misspelt default", "network {\n  defualt = \"deny\"\n}\n",
			[]string{`p.hcl:2:3: error: Unsupported argument; An argument named "defualt" is not expected in a network block. Did you mean "default"?`}},
		{"default value", "network {\n  default = \"dney\"\n}\n",
			[]string{`p.hcl:2:13: error: Invalid default; default must be "allow", "deny" or "ask", not "dney". Did you mean "deny"?`}},
		{"default value, no hint", "network {\n  default = \"maybe\"\n}\n",
			[]string{`p.hcl:2:13: error: Invalid default; default must be "allow", "deny" or "ask", not "maybe".`}},
		{"default not a string", "network {\n  default = true\n}\n",
			[]string{`p.hcl:2:13: error: Invalid default; default must be a string, like "deny".`}},
		{"allow not a list", "network {\n  allow = \"https://a.test\"\n}\n",
			[]string{`p.hcl:2:11: error: Invalid allow; allow must be a list of strings, like ["https://api.github.com", "10.0.0.0/8"].`}},
		{"rule not a string", "network {\n  deny = [\"a.test\", 443]\n}\n",
			[]string{`p.hcl:2:21: error: Invalid deny; Each element of deny must be a string, like ["https://api.github.com", "10.0.0.0/8"].`}},
		{"empty list entry", "network {\n  allow = [\"a.test\", \"\"]\n}\n",
			[]string{`p.hcl:2:22: error: Invalid network rule; A network rule may not be empty.`}},
		{"bad CIDR", "network {\n  deny = [\"10.0.0.0/33\"]\n}\n",
			[]string{`p.hcl:2:11: error: Invalid network rule; "10.0.0.0/33": /33 is not a prefix length for this address: an IPv4 range has 0 to 32 bits, an IPv6 range 0 to 128.`}},
		{"bad port", "network {\n  allow = [\n    \"https://a.test:99999\",\n  ]\n}\n",
			[]string{`p.hcl:3:5: error: Invalid network rule; "https://a.test:99999": port 99999 is out of range; a port is a number from 1 to 65535.`}},
		{"bad range", "network {\n  allow = [\"tcp://db:9-1\"]\n}\n",
			[]string{`p.hcl:2:12: error: Invalid network rule; "tcp://db:9-1": the port range "9-1" runs backwards; write "1-9".`}},
		{"wildcard not at the start", "network {\n  allow = [\"api.*.com\"]\n}\n",
			[]string{`p.hcl:2:12: error: Invalid network rule; "api.*.com": a wildcard may only be the whole first label of a name, as in "*.example.com".`}},
		{"unknown scheme", "network {\n  allow = [\"htps://a.test\"]\n}\n",
			[]string{`p.hcl:2:12: error: Invalid network rule; "htps://a.test" has an unknown scheme "htps": did you mean "https"? The schemes are https, http and tcp (a raw TCP connection); leave the scheme out for any.`}},
		{"every bad rule", "network {\n  allow = [\"a.test:0\", \"ok.test\", \"b.test/x\"]\n  deny = [\"1.2.3.4.5\"]\n}\n",
			[]string{
				`p.hcl:2:12: error: Invalid network rule; "a.test:0": port 0 is out of range; a port is a number from 1 to 65535.`,
				`p.hcl:2:35: error: Invalid network rule; "b.test/x" has a path: rules match a scheme, a host and ports, never a path; write "b.test".`,
				`p.hcl:3:11: error: Invalid network rule; "1.2.3.4.5": "1.2.3.4.5" is not a valid IPv4 address: it has more than four parts.`,
			}},
		{"listed twice", "network {\n  allow = [\"a.test\", \"a.test\"]\n}\n",
			[]string{`p.hcl:2:22: warning: Rule listed twice; "a.test" is already in allow at p.hcl:2:12.`}},
		{"allowed and denied", "network {\n  allow = [\"a.test\"]\n  deny  = [\"a.test\"]\n}\n",
			[]string{`p.hcl:2:12: warning: Rule both allowed and denied; "a.test" is also in deny at p.hcl:3:12, and deny wins: this allow rule never applies.`}},
		{"duplicate block", "network {}\nnetwork {}\n",
			[]string{`p.hcl:2:1: error: Duplicate network block; A policy file has at most one network block, and one is already at p.hcl:1:1; merge the two.`}},
		{"network label", "network \"x\" {}\n",
			[]string{`p.hcl:1:9: error: Extraneous label for network; No labels are expected for network blocks.`}},

		{"credential without secret", "credential \"gh\" {\n  hosts  = [\"api.github.com\"]\n  header = \"Authorization: Bearer {value}\"\n}\n",
			[]string{`p.hcl:1:1: error: Credential without a secret; Credential "gh" says nowhere where its secret is: set env = "NAME" (a host environment variable) or file = "path" (a host file).`}},
		{"credential with two secrets", "credential \"gh\" {\n  env    = \"T\"\n  file   = \"t\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:3: error: Credential with two secrets; Credential "gh" sets both env and file; keep one of the two.`}},
		{"header without value", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"Authorization: Bearer\"\n}\n",
			[]string{`p.hcl:4:12: error: Invalid header; Header "Authorization: Bearer" has no {value}: write {value} where the secret goes, as in "Authorization: Bearer {value}".`}},
		{"header without colon", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"Bearer {value}\"\n}\n",
			[]string{`p.hcl:4:12: error: Invalid header; Header "Bearer {value}" has no ":": write "Name: template", as in "Authorization: Bearer {value}".`}},
		{"header name", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"X Key: {value}\"\n}\n",
			[]string{`p.hcl:4:12: error: Invalid header; Header name "X Key" has " " in it, which a header name may not contain.`}},
		{"framing header", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"host: {value}\"\n}\n",
			[]string{`p.hcl:4:12: error: Invalid header; The header host belongs to the HTTP client; a credential may not set it.`}},
		{"header control character", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\\r\\nX: y\"\n}\n",
			[]string{`p.hcl:4:12: error: Invalid header; The value of header A has a control character in it.`}},
		{"hosts empty", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = []\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:12: error: Credential without hosts; hosts is empty: list the hosts the header is added for, as in ["api.github.com"].`}},
		{"hosts missing", "credential \"gh\" {\n  env    = \"T\"\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:1:1: error: Credential without hosts; Credential "gh" names no host to add it for: list them, as in hosts = ["api.github.com"].`}},
		{"header missing", "credential \"gh\" {\n  env   = \"T\"\n  hosts = [\"a.test\"]\n}\n",
			[]string{`p.hcl:1:1: error: Credential without a header; Credential "gh" says not how to send the secret: add header = "Name: template", as in "Authorization: Bearer {value}".`}},
		{"host is a URL", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"https://api.github.com/x\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:13: error: Invalid host; "https://api.github.com/x" is a URL; hosts are names, so write "api.github.com" (the scheme is https unless allow_http = true).`}},
		{"host every", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"*\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:13: error: Invalid host; "*" would send the secret to every host the tool reaches; name the hosts.`}},
		{"host wildcard", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.*.test\", \"\"]\n  header = \"A: {value}\"\n}\n",
			[]string{
				`p.hcl:3:13: error: Invalid host; "a.*.test": a wildcard may only be the whole first label of a name, as in "*.example.com".`,
				`p.hcl:3:25: error: Invalid host; A host may not be empty.`,
			}},
		{"host with port", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test:443\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:13: error: Invalid host; "a.test:443" is neither a host name nor an IP address (a port is not part of a host).`}},
		{"env name", "credential \"gh\" {\n  env    = \"GH-TOKEN\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:2:12: error: Invalid variable name; "GH-TOKEN" is not a variable name: use letters, digits and underscores, not starting with a digit.`}},
		{"file empty", "credential \"gh\" {\n  file   = \"\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:2:12: error: Invalid file; File may not be empty; write the path of the file holding the secret.`}},
		{"file tilde", "credential \"gh\" {\n  file   = \"~/.token\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:2:12: error: Invalid file; File "~/.token" starts with "~", which is not expanded; write the path out.`}},
		{"misspelt credential argument", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  hedaer = \"A: {value}\"\n}\n",
			[]string{
				`p.hcl:1:1: error: Credential without a header; Credential "gh" says not how to send the secret: add header = "Name: template", as in "Authorization: Bearer {value}".`,
				`p.hcl:4:3: error: Unsupported argument; An argument named "hedaer" is not expected in a credential block. Did you mean "header"?`,
			}},
		{"host instead of hosts", "credential \"gh\" {\n  env    = \"T\"\n  host   = \"a.test\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:3: error: Unsupported argument; An argument named "host" is not expected in a credential block. Did you mean "hosts"?`}},
		{"allow_http warns", "credential \"gh\" {\n  env        = \"T\"\n  hosts      = [\"a.test\"]\n  header     = \"A: {value}\"\n  allow_http = true\n}\n",
			[]string{`p.hcl:5:3: warning: Secret sent in clear text; allow_http = true adds Credential "gh" to plain http requests too, where anyone on the path can read it. Leave it out unless the hosts are reached over a network you trust.`}},
		{"allow_http not bool", "credential \"gh\" {\n  env        = \"T\"\n  hosts      = [\"a.test\"]\n  header     = \"A: {value}\"\n  allow_http = \"yes\"\n}\n",
			[]string{`p.hcl:5:16: error: Invalid allow_http; allow_http must be true or false.`}},
		{"credential name", "credential \"a b\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:1:12: error: Invalid credential name; "a b" is not a credential name: use letters, digits, "-", "_" and ".".`}},
		{"credential missing label", "credential {\n}\n",
			[]string{`p.hcl:1:12: error: Missing name for credential; All credential blocks must have 1 labels (name).`}},
		{"duplicate credential", "credential \"gh\" {\n  env    = \"T\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\ncredential \"gh\" {\n  env    = \"U\"\n  hosts  = [\"b.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:6:12: error: Duplicate credential; A credential named "gh" is already declared at p.hcl:1:1.`}},
		{"two credentials, one header", "credential \"a\" {\n  env    = \"T\"\n  hosts  = [\"x.test\"]\n  header = \"Authorization: {value}\"\n}\ncredential \"b\" {\n  env    = \"U\"\n  hosts  = [\"X.test\"]\n  header = \"authorization: Bearer {value}\"\n}\n",
			[]string{`p.hcl:6:12: error: Two credentials for one header; Credential "a" (p.hcl:1:1) already adds the header Authorization for x.test; one host gets one value per header.`}},
		{"variable passed in", "env {\n  pass = [\"GITHUB_TOKEN\"]\n}\ncredential \"gh\" {\n  env    = \"GITHUB_TOKEN\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:5:12: error: Secret reachable by the tool; Credential "gh" reads GITHUB_TOKEN, and the environment passes GITHUB_TOKEN into the sandbox (p.hcl:2:11), where the tool can read it. Remove it from env.pass.`}},
		{"file in a mount", "mount \"/work\" {}\ncredential \"gh\" {\n  file   = \"secrets/token\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
			[]string{`p.hcl:3:12: error: Secret reachable by the tool; Credential "gh" reads the file {dir}/secrets/token, which the tool can read at /work/secrets/token (mount /work, p.hcl:1:1). Keep the file outside every mount, or hide it: hide = ["./secrets/token"].`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := policy.Parse([]byte(tc.src), "p.hcl", policy.LayerProject, dir)
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "{dir}", dir))
			}
			if got := diagLines(t, diags); !slices.Equal(got, want) {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if diags.HasErrors() != (p == nil) {
				t.Errorf("policy %v with errors %v", p != nil, diags.HasErrors())
			}
		})
	}
}

func TestLoadNetwork(t *testing.T) {
	p, diags := policy.Load("testdata/policies/network.hcl", policy.LayerProject)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	dir := mustAbs(t, "testdata/policies")
	n := p.Network
	if n.Default != policy.Ask || n.Origin.String() != "testdata/policies/network.hcl:8:1" || n.DefaultOrigin.String() != "testdata/policies/network.hcl:9:3" {
		t.Errorf("network = %v %s %s", n.Default, n.Origin, n.DefaultOrigin)
	}
	var allow, deny []string
	for _, r := range n.Allow {
		allow = append(allow, r.Text+" "+r.Origin.String())
	}
	for _, r := range n.Deny {
		deny = append(deny, r.Text+" "+r.Origin.String())
	}
	wantAllow := []string{
		"https://api.github.com testdata/policies/network.hcl:10:14",
		"https://*.githubusercontent.com:443 testdata/policies/network.hcl:10:40",
		"tcp://127.0.0.1:5432 testdata/policies/network.hcl:10:79",
	}
	if !slices.Equal(allow, wantAllow) || !slices.Equal(deny, []string{"169.254.169.254/32 testdata/policies/network.hcl:11:14"}) {
		t.Errorf("allow %q\ndeny %q", allow, deny)
	}
	if len(p.Credentials) != 2 {
		t.Fatalf("%d credentials", len(p.Credentials))
	}
	gh, in := p.Credentials[0], p.Credentials[1]
	if gh.Name != "github" || gh.Env != "GITHUB_TOKEN" || gh.File != "" || !slices.Equal(gh.Hosts, []string{"api.github.com"}) ||
		gh.Header != "Authorization" || gh.Template != "Bearer {value}" || gh.AllowHTTP || gh.Origin.String() != "testdata/policies/network.hcl:14:1" {
		t.Errorf("github = %+v", gh)
	}
	if in.Name != "internal" || in.Env != "" || in.File != filepath.Join(dir, "secrets", "token") ||
		!slices.Equal(in.Hosts, []string{"*.corp.test", "10.0.0.1"}) || in.Header != "X-Api-Key" || in.Template != "{value}" {
		t.Errorf("internal = %+v", in)
	}
	if got := gh.Value("s3cret"); got != "Bearer s3cret" {
		t.Errorf("Value = %q", got)
	}
}

func TestCredentialAppliesTo(t *testing.T) {
	c := policy.Credential{Hosts: []string{"api.github.com", "*.corp.test", "10.0.0.1"}}
	for _, tc := range []struct {
		scheme, host string
		want         bool
	}{
		{"https", "api.github.com", true},
		{"HTTPS", "API.GitHub.com.", true},
		{"http", "api.github.com", false}, // TLS only by default
		{"tcp", "api.github.com", false},
		{"https", "github.com", false},
		{"https", "x.api.github.com", false},
		{"https", "a.corp.test", true},
		{"https", "a.b.corp.test", true},
		{"https", "corp.test", false}, // a wildcard does not cover the apex
		{"https", "xcorp.test", false},
		{"https", "10.0.0.1", true},
		{"https", "0xa.1", true}, // 10.0.0.1 in another form
		{"https", "10.0.0.2", false},
		{"https", "api.github.com:443", false},
		{"https", "", false},
	} {
		if got := c.AppliesTo(tc.scheme, tc.host); got != tc.want {
			t.Errorf("AppliesTo(%q, %q) = %v", tc.scheme, tc.host, got)
		}
	}
	c.AllowHTTP = true
	if !c.AppliesTo("http", "api.github.com") || c.AppliesTo("tcp", "api.github.com") {
		t.Error("allow_http: want http and not tcp")
	}
}

func TestCredentialFileHidden(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []string{
		// Hidden by the mount's own list, or by a built-in pattern.
		"mount \"/work\" {\n  hide = [\"secrets\"]\n}\ncredential \"a\" {\n  file   = \"secrets/token\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
		"mount \"/work\" {}\ncredential \"a\" {\n  file   = \"keys/token.pem\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
		// Outside every mount.
		"mount \"/work\" {\n  host = \"sub\"\n}\ncredential \"a\" {\n  file   = \"token\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, diags := policy.Parse([]byte(src), "p.hcl", policy.LayerProject, dir); len(diags) != 0 {
			t.Errorf("%s: %v", src, diagLines(t, diags))
		}
	}
}

func TestWithNetwork(t *testing.T) {
	p := parseNet(t, "network {\n  deny = [\"a.test\"]\n}\n")
	q, diags := p.With(policy.Overrides{
		NetAllow: []string{"a.test", "https://b.test", "tcp://127.0.0.1:8080"},
		NetDeny:  []string{"c.test"},
	}, t.TempDir())
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	if len(p.Network.Allow) != 0 || len(p.Network.Deny) != 1 {
		t.Errorf("With changed the policy it was called on: %+v", p.Network)
	}
	for _, tc := range []struct {
		d      policy.Dest
		want   policy.Verdict
		origin string
	}{
		{dest("https", "a.test", 443, public), policy.Deny, "p.hcl:2:11"}, // deny in the file still wins
		{dest("https", "b.test", 443, public), policy.Allow, "flag"},
		{dest("https", "c.test", 443, public), policy.Deny, "flag"},
		{dest("tcp", "localhost", 8080, "127.0.0.1"), policy.Allow, "flag"},
		{dest("https", "d.test", 443, public), policy.Deny, "builtin"},
	} {
		got := q.Network.Check(tc.d)
		if got.Verdict != tc.want || got.Origin.String() != tc.origin {
			t.Errorf("Check(%s) = %v by %s (%s)", tc.d, got.Verdict, got.Rule, got.Origin)
		}
	}

	_, diags = p.With(policy.Overrides{NetAllow: []string{"a.*.test"}, NetDeny: []string{"10.0.0.1/8"}}, t.TempDir())
	want := []string{
		`error: Invalid --deny-net "10.0.0.1/8"; "10.0.0.1/8" has bits set beyond its /8 prefix: write "10.0.0.0/8" for the range, or "10.0.0.1" for the one address.`,
		`error: Invalid --allow-net "a.*.test"; "a.*.test": a wildcard may only be the whole first label of a name, as in "*.example.com".`,
	}
	if got := diagLines(t, diags); !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWithKeepsSecretsOut: a flag cannot pass a credential's variable in,
// or mount its file's directory.
func TestWithKeepsSecretsOut(t *testing.T) {
	dir := t.TempDir()
	src := "credential \"gh\" {\n  env    = \"GITHUB_TOKEN\"\n  hosts  = [\"a.test\"]\n  header = \"A: {value}\"\n}\n" +
		"credential \"f\" {\n  file   = \"token\"\n  hosts  = [\"b.test\"]\n  header = \"B: {value}\"\n}\n"
	p, diags := policy.Parse([]byte(src), "p.hcl", policy.LayerProject, dir)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	_, diags = p.With(policy.Overrides{Env: []string{"GITHUB_TOKEN"}, Mounts: []string{dir + ":/d:ro"}}, dir)
	want := []string{
		`error: Secret reachable by the tool; Credential "gh" reads GITHUB_TOKEN, and the environment passes GITHUB_TOKEN into the sandbox (flag), where the tool can read it. Remove it from env.pass.`,
		`error: Secret reachable by the tool; Credential "f" reads the file ` + dir + `/token, which the tool can read at /d/token (mount /d, flag). Keep the file outside every mount, or hide it: hide = ["./token"].`,
	}
	if got := diagLines(t, diags); !slices.Equal(got, want) {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Setting the variable to a fixed value is not a leak.
	if _, diags := p.With(policy.Overrides{Env: []string{"GITHUB_TOKEN=x"}}, dir); len(diags) != 0 {
		t.Error(diagLines(t, diags))
	}
}

// netLines returns the Network and Credential lines of Explain.
func netLines(t *testing.T, p *policy.Policy) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(explain(t, p), "\n") {
		if strings.HasPrefix(l, "Network:") || strings.HasPrefix(l, "Credential ") {
			out = append(out, l)
		}
	}
	return out
}

func TestExplainNetwork(t *testing.T) {
	p, diags := policy.Load("testdata/policies/network.hcl", policy.LayerProject)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	dir := mustAbs(t, "testdata/policies")
	f := "testdata/policies/network.hcl"
	want := []string{
		`Network: denied (` + f + `:11:14): 169.254.169.254/32.`,
		`Network: loopback, private, link-local and cloud-metadata addresses are denied unless an allow rule names the address or a range containing it (built-in).`,
		`Network: allowed (` + f + `:10:14): https://api.github.com, https://*.githubusercontent.com:443, tcp://127.0.0.1:5432.`,
		`Network: anything else is asked about (` + f + `:9:3).`,
		`Credential github: the host adds the header Authorization to HTTPS requests to api.github.com, with the secret from the host variable GITHUB_TOKEN; the tool never sees it (` + f + `:14:1).`,
		`Credential internal: the host adds the header X-Api-Key to HTTPS requests to *.corp.test, 10.0.0.1, with the secret from the host file ` + dir + `/secrets/token; the tool never sees it (` + f + `:20:1).`,
	}
	if got := netLines(t, p); !slices.Equal(got, want) {
		t.Errorf("Explain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Rules from flags, a default of allow, and allow_http.
	q := parseNet(t, "network {\n  default = \"allow\"\n}\n")
	q, diags = q.With(policy.Overrides{NetDeny: []string{"a.test", "b.test"}}, t.TempDir())
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	q.Credentials = []policy.Credential{{Name: "c", Env: "C", Hosts: []string{"c.test"}, Header: "X-C", Template: "{value}", AllowHTTP: true, Origin: policy.Origin{Layer: policy.LayerFlag}}}
	want = []string{
		`Network: denied (flag): a.test, b.test.`,
		`Network: loopback, private, link-local and cloud-metadata addresses are denied unless an allow rule names the address or a range containing it (built-in).`,
		`Network: anything else is allowed (p.hcl:2:3).`,
		`Credential c: the host adds the header X-C to HTTP and HTTPS requests to c.test, with the secret from the host variable C; the tool never sees it (flag).`,
	}
	if got := netLines(t, q); !slices.Equal(got, want) {
		t.Errorf("Explain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// No rules and the default deny: one line, as for the default policy.
	if got := netLines(t, parseNet(t, "network {}\n")); !slices.Equal(got, []string{"Network: none."}) {
		t.Errorf("empty network block: %q", got)
	}
	// A network block with only a default "deny" written still says where.
	if got := netLines(t, parseNet(t, "network {\n  default = \"deny\"\n  deny = [\"x.test\"]\n}\n")); got[len(got)-1] != "Network: anything else is denied (p.hcl:2:3)." {
		t.Errorf("default deny: %q", got)
	}
}

func explainDest(t *testing.T, p *policy.Policy, url string) string {
	t.Helper()
	var b strings.Builder
	if err := policy.ExplainDest(&b, p, url); err != nil {
		t.Fatalf("ExplainDest(%q): %v", url, err)
	}
	return b.String()
}

const resolvedNote = "That holds if %s resolves to an ordinary public address. The host resolves the name itself and checks the address it will dial: " +
	"rules naming addresses and ranges apply to it, and a loopback, private, link-local or cloud-metadata address is denied " +
	"unless an allow rule names that address or a range containing it, whatever rule names the host.\n"

func TestExplainDest(t *testing.T) {
	p, diags := policy.Load("testdata/policies/network.hcl", policy.LayerProject)
	if len(diags) != 0 {
		t.Fatal(diagLines(t, diags))
	}
	f := "testdata/policies/network.hcl"
	for _, tc := range []struct{ url, want string }{
		{"https://api.github.com/repos/x?y#z", "Destination: https://api.github.com:443\n" +
			`Decision: allow, by allow "https://api.github.com" (` + f + ":10:14).\n" +
			strings.ReplaceAll(resolvedNote, "%s", "api.github.com")},
		{"HTTPS://user@API.GitHub.com.:443", "Destination: https://api.github.com:443 (written \"API.GitHub.com.\")\n" +
			`Decision: allow, by allow "https://api.github.com" (` + f + ":10:14).\n" +
			strings.ReplaceAll(resolvedNote, "%s", "api.github.com")},
		{"https://example.com:8443", "Destination: https://example.com:8443\n" +
			`Decision: ask, by network.default = "ask" (` + f + ":9:3).\n" +
			strings.ReplaceAll(resolvedNote, "%s", "example.com")},
		{"https://0x7f.1/", "Destination: https://127.0.0.1:443 (written \"0x7f.1\")\n" +
			"127.0.0.1 is a special address (loopback): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
			"Decision: deny, by special address 127.0.0.1 (loopback) needs a rule naming it (built-in).\n"},
		{"tcp://2130706433:5432", "Destination: tcp://127.0.0.1:5432 (written \"2130706433\")\n" +
			"127.0.0.1 is a special address (loopback): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
			`Decision: allow, by allow "tcp://127.0.0.1:5432" (` + f + ":10:79).\n"},
		{"http://[::ffff:169.254.169.254]/latest/meta-data", "Destination: http://169.254.169.254:80 (written \"::ffff:169.254.169.254\")\n" +
			"169.254.169.254 is a special address (cloud metadata): only an allow rule naming it or a range containing it lets the tool reach it.\n" +
			`Decision: deny, by deny "169.254.169.254/32" (` + f + ":11:14).\n"},
		{"https://[2606:4700::1111]", "Destination: https://[2606:4700::1111]:443\n" +
			`Decision: ask, by network.default = "ask" (` + f + ":9:3).\n"},
	} {
		if got := explainDest(t, p, tc.url); got != tc.want {
			t.Errorf("ExplainDest(%q):\n%s\nwant:\n%s", tc.url, got, tc.want)
		}
	}

	// A name a deny rule names is denied whatever it resolves to: no note.
	q := parseNet(t, "network {\n  deny = [\"*.evil.test\"]\n}\n")
	want := "Destination: tcp://a.evil.test:1\nDecision: deny, by deny \"*.evil.test\" (p.hcl:2:11).\n"
	if got := explainDest(t, q, "tcp://a.evil.test:1"); got != want {
		t.Errorf("denied name:\n%s\nwant:\n%s", got, want)
	}
	// The default policy: no network.
	want = "Destination: https://a.test:443\nDecision: deny, by network.default = \"deny\" (built-in).\n" + strings.ReplaceAll(resolvedNote, "%s", "a.test")
	if got := explainDest(t, policy.Default(t.TempDir()), "https://a.test"); got != want {
		t.Errorf("default policy:\n%s\nwant:\n%s", got, want)
	}
}

func TestExplainDestErrors(t *testing.T) {
	p := policy.Default(t.TempDir())
	for url, want := range map[string]string{
		"api.github.com":       `"api.github.com" is not a URL: write scheme://host[:port], as in https://api.github.com`,
		"ftp://a.test":         `"ftp://a.test" has the scheme "ftp": use https, http or tcp`,
		"tcp://db.internal":    `"tcp://db.internal" has no port: a tcp destination needs one, as in tcp://db.internal:5432`,
		"https://a.test:0":     `"https://a.test:0": port 0 is out of range; a port is a number from 1 to 65535`,
		"https://a.test:x":     `"https://a.test:x": "x" is not a port; a port is a number from 1 to 65535`,
		"https://[::1":         `"https://[::1" opens a bracket it does not close`,
		"https://[::1]x":       `"https://[::1]x": after "[::1]" comes a port`,
		"https://::1/":         `"https://::1/": put an IPv6 address in brackets, as in https://[::1]:443`,
		"https://1.2.3.4.5/":   `"https://1.2.3.4.5/": "1.2.3.4.5" is not a valid IPv4 address: it has more than four parts`,
		"https:///x":           `"https:///x": the host is empty`,
		"https://[127.0.0.1]/": `"https://[127.0.0.1]/": "[127.0.0.1]": brackets are for IPv6 addresses; write an IPv4 address or a name without them`,
	} {
		err := policy.ExplainDest(io.Discard, p, url)
		if err == nil || err.Error() != want {
			t.Errorf("ExplainDest(%q):\n got %v\nwant %s", url, err, want)
		}
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	n := parseNet(t, checkSrc).Network
	for _, d := range []policy.Dest{
		dest("https", "api.github.com", 443, public),             // allowed by a name
		dest("https", "raw.githubusercontent.com", 443, public),  // allowed by a wildcard
		dest("tcp", "localhost", 5432, "127.0.0.1"),              // a special address a rule names
		dest("https", "evil.githubusercontent.com", 443, public), // denied by a rule
		dest("https", "other.test", 443, public),                 // the default
	} {
		if a := testing.AllocsPerRun(100, func() { n.Check(d) }); a != 0 {
			t.Errorf("Check(%s) allocates %v times", d, a)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	n := parseNet(b, checkSrc).Network
	for _, bc := range []struct {
		name string
		d    policy.Dest
	}{
		{"allow-name", dest("https", "api.github.com", 443, public)},
		{"allow-wildcard", dest("https", "raw.githubusercontent.com", 443, public)},
		{"special-named", dest("tcp", "localhost", 5432, "127.0.0.1")},
		{"special-denied", dest("https", "api.github.com", 443, "10.0.0.1")},
		{"default", dest("https", "other.test", 443, public)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n.Check(bc.d)
			}
		})
	}
}

// TestCheckLocalAddress: an address of this machine's own (Dest.Local,
// which the host sets) is special like loopback, whatever its range: only
// a rule naming the address or a range lets it through, never a host rule
// or the default.
func TestCheckLocalAddress(t *testing.T) {
	const own = "192.0.2.2" // a documentation address, in no special range
	if _, special := policy.SpecialAddress(netip.MustParseAddr(own)); special {
		t.Fatalf("%s is special by itself: the test proves nothing", own)
	}
	local := func(scheme, host string, port int) policy.Dest {
		d := dest(scheme, host, port, own)
		d.Local = true
		return d
	}
	for _, c := range []struct {
		src, rule string
		d         policy.Dest
		verdict   policy.Verdict
	}{
		{"network {\n  default = \"allow\"\n}\n", "special address 192.0.2.2 (this machine) needs a rule naming it", local("tcp", own, 8080), policy.Deny},
		{"network {\n  default = \"ask\"\n}\n", "special address 192.0.2.2 (this machine) needs a rule naming it", local("tcp", own, 8080), policy.Deny},
		{"network {\n  allow = [\"https://myhost.test\"]\n}\n", "special address 192.0.2.2 (this machine) needs a rule naming it", local("https", "myhost.test", 443), policy.Deny},
		{"network {\n  allow = [\"*\"]\n}\n", "special address 192.0.2.2 (this machine) needs a rule naming it", local("https", "myhost.test", 443), policy.Deny},
		{"network {\n  allow = [\"tcp://192.0.2.2:8080\"]\n}\n", `allow "tcp://192.0.2.2:8080"`, local("tcp", own, 8080), policy.Allow},
		{"network {\n  allow = [\"192.0.2.0/24\"]\n}\n", `allow "192.0.2.0/24"`, local("https", "myhost.test", 443), policy.Allow},
		{"network {\n  default = \"allow\"\n}\n", `network.default = "allow"`, dest("tcp", own, 8080, own), policy.Allow}, // not this machine's
	} {
		got := parseNet(t, c.src).CheckNetwork(c.d)
		if got.Verdict != c.verdict || got.Rule != c.rule {
			t.Errorf("%q: Check(%s, local %v) = %v by %s, want %v by %s", c.src, c.d, c.d.Local, got.Verdict, got.Rule, c.verdict, c.rule)
		}
	}
	var b strings.Builder
	if err := policy.ExplainDestOn(&b, parseNet(t, "network {\n  default = \"allow\"\n}\n"), "tcp://192.0.2.2:80",
		func(a netip.Addr) bool { return a.String() == own }); err != nil {
		t.Fatal(err)
	}
	if want := "192.0.2.2 is a special address (this machine)"; !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "Decision: deny") {
		t.Errorf("ExplainDestOn:\n%s\nwant %q and a denial", b.String(), want)
	}
}
