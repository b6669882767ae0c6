package policy

// PortRange is a range of TCP ports, Lo to Hi inclusive.
type PortRange struct{ Lo, Hi int }

// Ports returns the ports r can match: the ports it names, 443 for an
// https rule and 80 for an http rule without ports, or nil when it matches
// any port. The second wall (Landlock, which allows TCP connections by port
// only) reads it.
func (r NetRule) Ports() []PortRange {
	c := r.compiledOf()
	if c.ports == nil {
		return nil
	}
	out := make([]PortRange, len(c.ports))
	for i, p := range c.ports {
		out[i] = PortRange{p.lo, p.hi}
	}
	return out
}
