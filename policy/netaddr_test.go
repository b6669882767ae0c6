package policy_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/policy"
)

func TestNormalizeHost(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		isIP     bool
	}{
		// Names.
		{"api.github.com", "api.github.com", false},
		{"API.GitHub.COM.", "api.github.com", false},
		{"localhost", "localhost", false},
		{"_srv.example-1.org", "_srv.example-1.org", false},
		{"xn--bcher-kva.de", "xn--bcher-kva.de", false},
		{"1.2.3.example", "1.2.3.example", false}, // the last label is not a number
		{"0x.example", "0x.example", false},
		// IPv4, dotted decimal.
		{"127.0.0.1", "127.0.0.1", true},
		{"1.2.3.4.", "1.2.3.4", true},
		// One decimal integer.
		{"2130706433", "127.0.0.1", true},
		{"2852039166", "169.254.169.254", true},
		{"0", "0.0.0.0", true},
		{"4294967295", "255.255.255.255", true},
		// Octal.
		{"0177.0.0.1", "127.0.0.1", true},
		{"017700000001", "127.0.0.1", true},
		{"0251.0376.0251.0376", "169.254.169.254", true},
		{"00", "0.0.0.0", true},
		// Hex.
		{"0x7f.1", "127.0.0.1", true},
		{"0X7F000001", "127.0.0.1", true},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254", true},
		{"0x", "0.0.0.0", true}, // as in the URL standard
		{"0x7f.0x", "127.0.0.0", true},
		// Short forms: the last part fills the remaining bytes.
		{"127.1", "127.0.0.1", true},
		{"10.1.1", "10.1.0.1", true},
		{"10.65535", "10.0.255.255", true},
		{"169.254.43518", "169.254.169.254", true},
		{"0x7f.0.1", "127.0.0.1", true},
		// IPv6, bracketed or not; IPv4-mapped becomes IPv4.
		{"::1", "::1", true},
		{"[::1]", "::1", true},
		{"[FD00:EC2::254]", "fd00:ec2::254", true},
		{"::ffff:127.0.0.1", "127.0.0.1", true},
		{"[::ffff:7f00:1]", "127.0.0.1", true},
		{"0:0:0:0:0:ffff:a9fe:a9fe", "169.254.169.254", true},
		{"::", "::", true},
		{"::127.0.0.1", "::7f00:1", true}, // IPv4-compatible stays IPv6 (SpecialAddress sees through it)
	} {
		host, ip, isIP, err := policy.NormalizeHost(tc.in)
		if err != nil {
			t.Errorf("NormalizeHost(%q): %v", tc.in, err)
			continue
		}
		if host != tc.host || isIP != tc.isIP {
			t.Errorf("NormalizeHost(%q) = %q, isIP %v; want %q, %v", tc.in, host, isIP, tc.host, tc.isIP)
		}
		if isIP != ip.IsValid() || (isIP && ip.String() != tc.host) {
			t.Errorf("NormalizeHost(%q): ip %v does not agree with host %q", tc.in, ip, host)
		}
		if ip.Is4In6() {
			t.Errorf("NormalizeHost(%q) = %v, still IPv4-mapped", tc.in, ip)
		}
	}
}

func TestNormalizeHostInvalid(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     `the host is empty`,
		"1.2.3.4.5":                            `"1.2.3.4.5" is not a valid IPv4 address: it has more than four parts`,
		"256.1.1.1":                            `"256.1.1.1" is not a valid IPv4 address: part 1 is 256, more than 255`,
		"1.2.3.256":                            `"1.2.3.256" is not a valid IPv4 address: the last part, 256, does not fit in 1 bytes`,
		"1.2.65536":                            `"1.2.65536" is not a valid IPv4 address: the last part, 65536, does not fit in 2 bytes`,
		"4294967296":                           `"4294967296" is not a valid IPv4 address: the last part, 4294967296, does not fit in 4 bytes`,
		"99999999999999999999":                 `"99999999999999999999" is not a valid IPv4 address: "99999999999999999999" is too large`,
		"08.1.1.1":                             `"08.1.1.1" is not a valid IPv4 address: "08" is not a number`,
		"0x1g.1":                               `"0x1g.1" is not a valid IPv4 address: "0x1g" is not a number`,
		"1..2":                                 `"1..2" is not a valid IPv4 address: it has an empty part`,
		"example.123":                          `"example.123" is not a valid IPv4 address: "example" is not a number`,
		"a..b":                                 `"a..b" is not a valid host name: it has an empty label`,
		".":                                    `"." is not a valid host name: it has no labels`,
		"a.b..":                                `"a.b.." is not a valid host name: it has an empty label`,
		"exa mple.com":                         `"exa mple.com" is not a valid host name: " " may not appear in a host name`,
		"a/b":                                  `"a/b" is not a valid host name: "/" may not appear in a host name`,
		"*.example.com":                        `"*.example.com" is not a valid host name: "*" may not appear in a host name`,
		"bücher.de":                            `"bücher.de" is not a valid host name: it is not ASCII; write an internationalised name in its xn-- form`,
		strings.Repeat("a", 64) + ".com":       `"` + strings.Repeat("a", 64) + `.com" is not a valid host name: the label "` + strings.Repeat("a", 64) + `" is longer than 63 bytes`,
		strings.Repeat("abcdefghi.", 26) + "a": `"` + strings.Repeat("abcdefghi.", 26) + `a" is not a valid host name: it is longer than 253 bytes`,
		"[127.0.0.1]":                          `"[127.0.0.1]": brackets are for IPv6 addresses; write an IPv4 address or a name without them`,
		"[::1":                                 `"[::1" opens a bracket it does not close`,
		"[::1]:443":                            `"[::1]:443" opens a bracket it does not close`,
		"fe80::1%eth0":                         `"fe80::1%eth0" has an IPv6 zone: zones are not allowed, write the address alone`,
		"example.com:80":                       `"example.com:80" is neither a host name nor an IP address (a port is not part of a host)`,
		"::ffff:0x7f.1":                        `"::ffff:0x7f.1" is neither a host name nor an IP address (a port is not part of a host)`,
	} {
		host, _, _, err := policy.NormalizeHost(in)
		if err == nil {
			t.Errorf("NormalizeHost(%q) = %q, want an error", in, host)
			continue
		}
		if err.Error() != want {
			t.Errorf("NormalizeHost(%q):\n got %s\nwant %s", in, err, want)
		}
	}
}

func TestNormalizeHostDoesNotAllocate(t *testing.T) {
	for _, in := range []string{"api.github.com", "a.b.c.example.org"} {
		if n := testing.AllocsPerRun(100, func() { policy.NormalizeHost(in) }); n != 0 {
			t.Errorf("NormalizeHost(%q) allocates %v times", in, n)
		}
	}
}

func TestSpecialAddress(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":       "loopback",
		"127.255.255.254": "loopback",
		"::1":             "loopback",
		"10.1.2.3":        "private",
		"172.16.0.1":      "private",
		"172.31.255.255":  "private",
		"192.168.1.1":     "private",
		"100.64.0.1":      "private", // carrier-grade NAT
		"100.127.255.254": "private",
		"fc00::1":         "private",
		"fd12:3456::1":    "private",
		"169.254.1.1":     "link-local",
		"fe80::1":         "link-local",
		"0.0.0.0":         "unspecified",
		"0.1.2.3":         "unspecified",
		"::":              "unspecified",
		"169.254.169.254": "cloud metadata",
		"fd00:ec2::254":   "cloud metadata",
		"224.0.0.1":       "multicast",
		"ff02::1":         "multicast",
		"255.255.255.255": "broadcast",
		// Mapped and embedding forms are judged by the IPv4 address inside.
		"::ffff:127.0.0.1":       "loopback",
		"::ffff:169.254.169.254": "cloud metadata",
		"::7f00:1":               "loopback",       // IPv4-compatible
		"::a00:1":                "private",        // IPv4-compatible 10.0.0.1
		"64:ff9b::a9fe:a9fe":     "cloud metadata", // NAT64
		"64:ff9b::7f00:1":        "loopback",
		"2002:7f00:1::1":         "loopback", // 6to4
		"2002:c0a8:101::":        "private",
		// Ordinary public addresses.
		"8.8.8.8":            "",
		"140.82.112.6":       "",
		"172.32.0.1":         "",
		"100.128.0.1":        "",
		"169.255.0.1":        "",
		"2606:4700::1111":    "",
		"64:ff9b::808:808":   "",
		"2002:808:808::1":    "",
		"::ffff:8.8.8.8":     "",
		"fd00:ec2::253":      "private",
		"1.0.0.0":            "",
		"223.255.255.255":    "",
		"2001:4860:4860::88": "",
	} {
		kind, special := policy.SpecialAddress(netip.MustParseAddr(in))
		if kind != want || special != (want != "") {
			t.Errorf("SpecialAddress(%s) = %q, %v; want %q", in, kind, special, want)
		}
	}
	if kind, special := policy.SpecialAddress(netip.Addr{}); !special || kind != "invalid" {
		t.Errorf("SpecialAddress(zero) = %q, %v", kind, special)
	}
}

// FuzzNormalizeHost checks that NormalizeHost never panics, that what it
// calls an IP literal round-trips through its canonical form, and that
// what it returns is already normalized.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"api.github.com", "API.GitHub.com.", "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1",
		"127.1", "10.1.1", "[::1]", "::ffff:127.0.0.1", "[fd00:ec2::254]", "1.2.3.4.5", "256.1.1.1",
		"0x", "08.1", "fe80::1%eth0", "[127.0.0.1]", "a..b", "", ".", "::", "99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, ip, isIP, err := policy.NormalizeHost(s)
		if err != nil {
			if host != "" || ip.IsValid() || isIP {
				t.Fatalf("NormalizeHost(%q) returned %q, %v, %v with error %v", s, host, ip, isIP, err)
			}
			return
		}
		if isIP != ip.IsValid() {
			t.Fatalf("NormalizeHost(%q): isIP %v, ip %v", s, isIP, ip)
		}
		if isIP {
			if ip.Is4In6() || ip.Zone() != "" || host != ip.String() {
				t.Fatalf("NormalizeHost(%q) = %q, %v: not canonical", s, host, ip)
			}
			_, again, isIP2, err := policy.NormalizeHost(ip.String())
			if err != nil || !isIP2 || again != ip {
				t.Fatalf("NormalizeHost(%q) = %v, but NormalizeHost(%q) = %v, %v, %v", s, ip, ip.String(), again, isIP2, err)
			}
			policy.SpecialAddress(ip)
			return
		}
		h2, _, isIP2, err := policy.NormalizeHost(host)
		if err != nil || isIP2 || h2 != host {
			t.Fatalf("NormalizeHost(%q) = %q, which normalizes to %q, %v, %v", s, host, h2, isIP2, err)
		}
	})
}
