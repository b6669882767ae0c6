package learn

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// learnNet turns the connections the network allowed into allow rules:
// one per scheme, host and port the tool connected to. A rule names the
// host as the tool asked for it (normalised: "EXAMPLE.com." is
// "example.com", "0x7f.1" is 127.0.0.1), never a wildcard; only where a
// rule naming the host could not allow the connection, because the name
// led to a special address (loopback, private, this machine's), does it
// name the address dialed, which is what airlock requires there.
func learnNet(conns map[connKey]connUse, cut int) ([]NetNeed, []string) {
	type entry struct {
		k connKey
		u connUse
	}
	var es []entry
	for k, u := range conns {
		es = append(es, entry{k, u})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].u.seq < es[j].u.seq })
	var out []NetNeed
	var notes []string
	index := map[string]int{}
	for _, e := range es {
		d := policy.Dest{Scheme: strings.ToLower(e.k.scheme), Host: e.k.host, Port: e.k.port, IP: e.k.addr, Local: e.u.local}
		rule, why, err := ruleFor(d)
		if err != nil {
			notes = append(notes, fmt.Sprintf("not learned: a connection to %s: %v", d, err))
			continue
		}
		what := "an HTTP request"
		if e.u.op == decision.OpConnect {
			what = "a raw connection"
		}
		add := func(n NetNeed) {
			if i, ok := index[n.Rule]; ok {
				out[i].Why = strings.TrimSuffix(out[i].Why, "; and others") + "; and others"
				return
			}
			index[n.Rule] = len(out)
			out = append(out, n)
		}
		if why != "" {
			// A name that led to a special address: the address rule
			// allows the connection, and a rule naming the host is what
			// has airlock look the name up at all (and the second wall
			// let it read the resolver's files). Both name only what the
			// tool used.
			named := policy.Dest{Scheme: d.Scheme, Host: d.Host, Port: d.Port, IP: publicAddr}
			if nameRule, _, err := ruleFor(named); err == nil {
				add(NetNeed{Rule: nameRule, Dest: named, Why: fmt.Sprintf("the name in %s to %s, so that airlock looks it up; the rule for the address it led to follows", what, hostPort(e.k.host, e.k.port))})
			}
		}
		add(NetNeed{Rule: rule, Dest: d, Why: fmt.Sprintf("%s to %s%s", what, hostPort(e.k.host, e.k.port), why)})
	}
	if cut > 0 {
		notes = append(notes, fmt.Sprintf("not learned: %d more destinations (over %d in one run)", cut, maxConns))
	}
	return out, notes
}

// publicAddr stands for an ordinary public address (TEST-NET-1), to ask
// whether a rule naming a host allows it where the name leads somewhere
// that is not special.
var publicAddr = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// ruleFor is the narrowest rule that allows d.
func ruleFor(d policy.Dest) (rule, why string, err error) {
	port := ""
	switch {
	case d.Scheme == "https" && d.Port == 443, d.Scheme == "http" && d.Port == 80:
	default:
		port = ":" + strconv.Itoa(d.Port)
	}
	byName := d.Scheme + "://" + bracket(d.Host) + port
	if ok, err := allows(byName, d); err != nil {
		return "", "", err
	} else if ok {
		return byName, "", nil
	}
	byAddr := d.Scheme + "://" + bracket(d.IP.String()) + ":" + strconv.Itoa(d.Port)
	if ok, err := allows(byAddr, d); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("no rule of its own could allow it")
		}
		return "", "", err
	}
	kind, special := policy.SpecialAddress(d.IP)
	if !special && d.Local {
		kind = "this machine"
	}
	if _, isIP, _ := isAddr(d.Host); isIP {
		return byAddr, "", nil
	}
	return byAddr, fmt.Sprintf(", which resolved to %s (%s): a special address needs a rule naming it", d.IP, kind), nil
}

// allows reports whether the rule text alone allows d.
func allows(text string, d policy.Dest) (bool, error) {
	r, err := policy.NewNetRule(text, policy.Origin{Layer: policy.LayerProject})
	if err != nil {
		return false, err
	}
	n := policy.Network{Default: policy.Deny, Allow: []policy.NetRule{r}}
	return n.Check(d).Verdict == policy.Allow, nil
}

func isAddr(host string) (netip.Addr, bool, error) {
	a, err := netip.ParseAddr(host)
	return a, err == nil, err
}

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// learnCredentials is each credential the host added to a request, with its
// hosts narrowed to those it was added for.
func learnCredentials(p *policy.Policy, ds []decision.Decision) []CredentialNeed {
	var out []CredentialNeed
	index := map[string]int{}
	for _, d := range ds {
		if !d.Allowed || d.Kind != decision.NetCredential || d.Op != "add" {
			continue
		}
		name, ok := strings.CutPrefix(d.Rule, `credential "`)
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, `"`)
		_, dest, ok := strings.Cut(d.Target, " to ")
		if !ok {
			continue
		}
		scheme, host, ok := strings.Cut(dest, "://")
		if !ok {
			continue
		}
		var c *policy.Credential
		for i := range p.Credentials {
			if p.Credentials[i].Name == name {
				c = &p.Credentials[i]
			}
		}
		if c == nil {
			continue
		}
		i, seen := index[name]
		if !seen {
			i = len(out)
			index[name] = i
			cc := *c
			cc.AllowHTTP = false
			out = append(out, CredentialNeed{Credential: cc, Why: "added to " + dest})
		}
		if scheme == "http" {
			out[i].AllowHTTP = true
		}
		if !contains(out[i].Hosts, host) {
			out[i].Hosts = append(out[i].Hosts, host)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
