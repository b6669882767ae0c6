package policy_test

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/airlockhq/airlock/policy"
)

// The order of evaluation: a deny rule wins; a special address needs an
// allow rule naming it, even when an allowed name resolved there; then the
// allow rules; then the default.
func ExampleNetwork_Check() {
	src := `
network {
  default = "deny"
  allow   = ["https://api.github.com", "tcp://127.0.0.1:5432"]
  deny    = ["169.254.169.254/32"]
}
`
	p, diags := policy.Parse([]byte(src), "policy.hcl", policy.LayerProject, os.TempDir())
	if diags.HasErrors() {
		fmt.Println(diags)
		return
	}
	for _, d := range []policy.Dest{
		{Scheme: "https", Host: "api.github.com", Port: 443, IP: netip.MustParseAddr("140.82.112.6")},
		{Scheme: "https", Host: "api.github.com", Port: 443, IP: netip.MustParseAddr("127.0.0.1")},
		{Scheme: "https", Host: "api.github.com", Port: 443, IP: netip.MustParseAddr("169.254.169.254")},
		{Scheme: "tcp", Host: "localhost", Port: 5432, IP: netip.MustParseAddr("127.0.0.1")},
		{Scheme: "tcp", Host: "api.github.com", Port: 443, IP: netip.MustParseAddr("140.82.112.6")},
	} {
		dec := p.Network.Check(d)
		fmt.Printf("%s at %s: %s by %s (%s)\n", d, d.IP, dec.Verdict, dec.Rule, dec.Origin)
	}
	// Output:
	// https://api.github.com:443 at 140.82.112.6: allow by allow "https://api.github.com" (policy.hcl:4:14)
	// https://api.github.com:443 at 127.0.0.1: deny by special address 127.0.0.1 (loopback) needs a rule naming it (builtin)
	// https://api.github.com:443 at 169.254.169.254: deny by deny "169.254.169.254/32" (policy.hcl:5:14)
	// tcp://localhost:5432 at 127.0.0.1: allow by allow "tcp://127.0.0.1:5432" (policy.hcl:4:40)
	// tcp://api.github.com:443 at 140.82.112.6: deny by network.default = "deny" (policy.hcl:3:3)
}

// Every form of an IP literal is one address.
func ExampleNormalizeHost() {
	for _, s := range []string{"API.GitHub.com.", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "1.2.3.4.5"} {
		host, _, isIP, err := policy.NormalizeHost(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "->", host, isIP)
	}
	// Output:
	// API.GitHub.com. -> api.github.com false
	// 2130706433 -> 127.0.0.1 true
	// 0177.0.0.1 -> 127.0.0.1 true
	// 0x7f.1 -> 127.0.0.1 true
	// 127.1 -> 127.0.0.1 true
	// [::ffff:127.0.0.1] -> 127.0.0.1 true
	// "1.2.3.4.5" is not a valid IPv4 address: it has more than four parts
}
