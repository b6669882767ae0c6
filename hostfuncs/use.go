package hostfuncs

import "net/netip"

// Use is one capability a run used, as the policy filesystem or the
// network saw it, for learn mode (package learn): what a tool did, so that
// the narrowest policy that lets it do that again can be written.
//
// Uses are not decisions. A mount is itself the grant, so allowed file
// operations are no decision records (RATIONALE.md, "Why are only denials
// recorded for the filesystem?"); a Use says what was done, or looked up,
// without adding a line to the audit log. Nothing reports uses unless an
// observer is set (Gate.Observe).
type Use struct {
	Kind string // "fs.read", "fs.write" or NetKind
	Op   string // "open", "stat", "mkdir", "rename", …; for the network NetOpConnect or NetOpHTTP

	// The filesystem: the guest path of the mount that served the
	// operation, and the path inside it ("." for its root), clean and
	// relative, as the tool named it. Done says whether the operation
	// passed every rule and succeeded; a Use with Done false is a name the
	// tool looked up (resolved, before any rule), whatever came of it.
	Mount string
	Path  string
	Done  bool

	// The network: a connection the policy allowed (or a person did),
	// reported just before it is dialed. Host is the name or address the
	// tool asked for, normalised (policy.NormalizeHost); Addr the address
	// dialed.
	Scheme string
	Host   string
	Port   int
	Addr   netip.Addr
	Local  bool // Addr is one of this machine's own (policy.Dest.Local)
}

// Observe makes f receive every Use of the gate's run from now on (nil
// stops it). Set it before the guest starts (runtime.Config.PrepareRun is
// the place); f runs on the guest's host calls, so it must be quick and
// safe for concurrent use.
func (g *Gate) Observe(f func(Use)) {
	if f == nil {
		g.observe.Store(nil)
		return
	}
	g.observe.Store(&f)
}

// used reports u to the observer, if there is one and the run still holds
// its capabilities.
func (g *Gate) used(u Use) {
	if f := g.observe.Load(); f != nil && !g.revoked.Load() {
		(*f)(u)
	}
}
