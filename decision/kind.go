package decision

import "github.com/airlockhq/airlock/policy"

// Kind is the kind of capability a decision is about. A grant remembers it
// (approvals), the wall plans from it (the second wall), and the prompt
// words its question by it.
type Kind string

// The capabilities the gate decides at the moment of use.
const (
	FSRead        Kind = "fs.read"        // reading a file or a folder in a mount (a hidden one)
	FSWrite       Kind = "fs.write"       // changing anything in a mount (a read-only one, or a protected path)
	NetConnect    Kind = "net.connect"    // a connection, raw or for HTTP, to host:port
	NetCredential Kind = "net.credential" // a credential added to a request, or an encoded response refused
	// LimitsDecisions is the one decision that ends a run whose decisions
	// reached their bound: every capability is revoked.
	LimitsDecisions Kind = "limits.decisions"
)

// The capabilities a tool's manifest requests before it runs, which widen
// the policy (policy.Escalation, policy.Capability).
const (
	Network      = Kind(policy.CapNetwork) // a network rule
	Env          = Kind(policy.CapEnv)     // an environment variable
	MountWrite   = Kind(policy.CapWrite)   // a mount made writable
	LimitsMemory = Kind(policy.CapMemory)  // a higher memory limit
	LimitsTime   = Kind(policy.CapTimeout) // a longer time limit
)

// Operations of the network decisions (Request.Op, Use.Op).
const (
	OpConnect = "connect" // the raw TCP path
	OpHTTP    = "http"    // the host's HTTP path
)
