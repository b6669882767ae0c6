package decision

import "net/netip"

// Use is one capability a run used, as the policy filesystem or the
// network saw it (Observe of a hostfuncs.Run's Gate), for learn mode
// (package learn): what a tool did, so that the narrowest policy that lets
// it do that again can be written.
//
// Uses are not decisions. A mount is itself the grant, so allowed file
// operations are no decision records (RATIONALE.md, "Why are only denials
// recorded for the filesystem?"); a Use says what was done, or looked up,
// without adding a line to the audit log. Nothing reports uses unless an
// observer is set (run.Gate.Observe).
type Use struct {
	Kind Kind   // FSRead, FSWrite or NetConnect
	Op   string // "open", "stat", "mkdir", "rename", …; for the network OpConnect or OpHTTP

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
