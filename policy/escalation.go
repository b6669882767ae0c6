package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Escalation is what a tool asks for beyond a policy (a manifest's
// requests). Each part, when granted, widens the policy.
type Escalation struct {
	Network []string      // network rules to allow, e.g. "https://api.github.com"
	Env     []string      // host variables to pass
	Write   []string      // guest paths of mounts to make writable
	Memory  uint64        // limits.memory to raise to; 0 for no change
	Timeout time.Duration // limits.timeout to raise to; 0 for no change
}

// The kinds of Capability.
const (
	CapNetwork = "network"        // Target: a network rule
	CapEnv     = "env"            // Target: a variable name
	CapWrite   = "mount.write"    // Target: a mount's guest path
	CapMemory  = "limits.memory"  // Target: a size, "512 MiB"
	CapTimeout = "limits.timeout" // Target: a duration, "5m"
)

// Capability is one way a policy may be widened: its kind and exactly what
// (a network rule, a variable name, a mount, a limit).
type Capability struct {
	Kind   string
	Target string
}

func (c Capability) String() string { return c.Kind + " " + c.Target }

// Needs returns the capabilities of e that p does not grant yet, in the
// order network, env, write, memory, timeout. A malformed request (a bad
// network rule or variable name, a write to a path that is no mount, a
// limit out of range) is an error naming it.
func (p *Policy) Needs(e Escalation) ([]Capability, error) {
	var caps []Capability
	for _, text := range e.Network {
		if _, err := NewNetRule(text, Origin{}); err != nil {
			return nil, fmt.Errorf("network request: %w", err)
		}
		c := Capability{CapNetwork, text}
		if !p.grants(c) {
			caps = append(caps, c)
		}
	}
	for _, name := range e.Env {
		if err := checkEnvName(name); err != nil {
			return nil, fmt.Errorf("env request: %w", err)
		}
		c := Capability{CapEnv, name}
		if !p.grants(c) {
			caps = append(caps, c)
		}
	}
	for _, g := range e.Write {
		if p.mountAt(g) < 0 {
			return nil, fmt.Errorf("write request: %s is not a mount (the mounts are %s); a tool may ask for write access to a whole mount", g, p.guestList())
		}
		c := Capability{CapWrite, g}
		if !p.grants(c) {
			caps = append(caps, c)
		}
	}
	if e.Memory > 0 {
		if err := checkMemory(e.Memory); err != nil {
			return nil, fmt.Errorf("memory request: %w", err)
		}
		c := Capability{CapMemory, formatSize(e.Memory)}
		if !p.grants(c) {
			caps = append(caps, c)
		}
	}
	if e.Timeout < 0 {
		return nil, fmt.Errorf("timeout request: %s is not a duration greater than zero", e.Timeout)
	}
	if e.Timeout > 0 {
		c := Capability{CapTimeout, FormatDuration(e.Timeout)}
		if !p.grants(c) {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

// Grant returns a copy of p widened by caps; every rule it adds or value
// it raises has origin o. It does not apply a ceiling: apply it afterwards
// (Ceiling.Apply), and check with Ceiling.Refuses before offering.
func (p *Policy) Grant(caps []Capability, o Origin) (*Policy, error) {
	q := p.clone()
	for _, c := range caps {
		switch c.Kind {
		case CapNetwork:
			r, err := NewNetRule(c.Target, o)
			if err != nil {
				return nil, fmt.Errorf("granting %s: %w", c, err)
			}
			q.Network.Allow = append(q.Network.Allow, r)
		case CapEnv:
			if err := checkEnvName(c.Target); err != nil {
				return nil, fmt.Errorf("granting %s: %w", c, err)
			}
			if !slices.Contains(q.Env.Pass, c.Target) {
				if _, set := q.Env.Set[c.Target]; !set {
					q.Env.Pass = append(q.Env.Pass, c.Target)
					q.Env.Origins[c.Target] = o
				}
			}
		case CapWrite:
			i := q.mountAt(c.Target)
			if i < 0 {
				return nil, fmt.Errorf("granting %s: no mount at %s", c, c.Target)
			}
			q.Mounts = slices.Clone(q.Mounts)
			if q.Mounts[i].Access != Write {
				q.Mounts[i].Access, q.Mounts[i].Origin = Write, o
			}
		case CapMemory:
			n, err := parseSize(c.Target)
			if err == nil {
				err = checkMemory(n)
			}
			if err != nil {
				return nil, fmt.Errorf("granting %s: %w", c, err)
			}
			if n > q.Limits.Memory {
				q.Limits.Memory, q.Limits.MemoryOrigin = n, o
			}
		case CapTimeout:
			t, err := time.ParseDuration(c.Target)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("granting %s: not a duration greater than zero", c)
			}
			if t > q.Limits.Timeout {
				q.Limits.Timeout, q.Limits.TimeoutOrigin = t, o
			}
		default:
			return nil, fmt.Errorf("granting %s: unknown kind of capability %q", c, c.Kind)
		}
	}
	return q, nil
}

// Refuses reports whether granting capability c to p would not hold: the
// managed ceiling takes it away again, or a rule of p itself still refuses
// it (a network deny rule, a credential that reads the variable). rule and
// origin say which. A prompt never offers a refused capability.
func (c Ceiling) Refuses(p *Policy, cap Capability) (refused bool, rule string, origin Origin) {
	q, err := p.Grant([]Capability{cap}, Origin{Layer: LayerGrant})
	if err != nil {
		return true, err.Error(), Origin{Layer: LayerBuiltin}
	}
	if cap.Kind == CapEnv {
		for _, l := range credentialLeaks(q) {
			if strings.Contains(l.detail, " reads "+cap.Target+",") {
				return true, "a credential reads " + cap.Target + ": its value never enters the sandbox", Origin{Layer: LayerProject, Range: l.at}
			}
		}
	}
	r, diags := c.Apply(q)
	if diags.HasErrors() {
		return true, diags.Error(), Origin{Layer: LayerManaged}
	}
	if r.grants(cap) {
		return false, "", Origin{}
	}
	switch cap.Kind {
	case CapNetwork:
		if d, ok := repDest(cap.Target); ok {
			dec := r.checkNetwork(d.dest, d.ipKnown)
			return true, dec.Rule, dec.Origin
		}
	case CapEnv:
		for _, m := range c {
			if m.Env.Origin.Layer == LayerManaged {
				return true, "env pass (managed) does not list " + cap.Target, m.Env.Origin
			}
		}
	case CapWrite:
		if i := r.mountAt(cap.Target); i >= 0 {
			return true, "mount " + cap.Target + ` access = "read"`, r.Mounts[i].Origin
		}
	case CapMemory:
		return true, "limits.memory " + formatSize(r.Limits.Memory), r.Limits.MemoryOrigin
	case CapTimeout:
		return true, "limits.timeout " + FormatDuration(r.Limits.Timeout), r.Limits.TimeoutOrigin
	}
	return true, "the managed policy", Origin{Layer: LayerManaged}
}

// grants reports whether p already grants c.
func (p *Policy) grants(c Capability) bool {
	switch c.Kind {
	case CapNetwork:
		d, ok := repDest(c.Target)
		if !ok {
			// A wildcard or scheme-less rule: granted when p allows it in
			// exactly those words.
			for _, r := range p.Network.Allow {
				if r.Text == c.Target {
					return true // the managed ceiling still bounds it at use
				}
			}
			return false
		}
		return p.checkNetwork(d.dest, d.ipKnown).Verdict == Allow
	case CapEnv:
		_, set := p.Env.Set[c.Target]
		return set || slices.Contains(p.Env.Pass, c.Target)
	case CapWrite:
		i := p.mountAt(c.Target)
		return i >= 0 && p.Mounts[i].Access == Write
	case CapMemory:
		n, err := parseSize(c.Target)
		return err == nil && n <= p.Limits.Memory
	case CapTimeout:
		t, err := time.ParseDuration(c.Target)
		return err == nil && t <= p.Limits.Timeout
	}
	return false
}

type rep struct {
	dest    Dest
	ipKnown bool
}

// repDest turns a network rule naming one destination (scheme://host[:port])
// into that destination, to check it against a policy.
func repDest(rule string) (rep, bool) {
	if !strings.Contains(rule, "://") || strings.Contains(rule, "*") {
		return rep{}, false
	}
	d, _, isIP, err := parseDestURL(rule)
	if err != nil || d.Port == 0 {
		return rep{}, false
	}
	return rep{d, isIP}, true
}

func (p *Policy) mountAt(guest string) int {
	for i, m := range p.Mounts {
		if m.Guest == guest {
			return i
		}
	}
	return -1
}

func (p *Policy) guestList() string {
	var gs []string
	for _, m := range p.Mounts {
		gs = append(gs, m.Guest)
	}
	if len(gs) == 0 {
		return "none"
	}
	return strings.Join(gs, ", ")
}
