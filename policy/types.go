package policy

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Access is what a mount lets the tool do.
type Access int

const (
	// Read lets the tool read and list, never change.
	Read Access = iota
	// Write lets the tool create, change and remove, outside protected paths.
	Write
)

func (a Access) String() string {
	if a == Write {
		return "write"
	}
	return "read"
}

// Verdict is what a rule says of a request.
type Verdict int

const (
	Deny Verdict = iota
	Allow
	Ask
)

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Ask:
		return "ask"
	}
	return "deny"
}

// Layer names where a rule came from. A managed layer is a ceiling over the
// others (see the approvals package).
type Layer string

const (
	LayerBuiltin Layer = "builtin"
	LayerManaged Layer = "managed"
	LayerProject Layer = "project"
	LayerFlag    Layer = "flag"
	LayerGrant   Layer = "grant"
)

// Origin says where a rule was written: its layer and its source range, so a
// decision can say "decided by policy.hcl:12:3".
type Origin struct {
	Layer Layer
	Range hcl.Range
}

// String renders the origin as "file:line:col" or the layer name for rules
// that have no file (flags, built-in defaults).
func (o Origin) String() string {
	if o.Range.Filename == "" {
		return string(o.Layer)
	}
	return o.Range.Filename + ":" + itoa(o.Range.Start.Line) + ":" + itoa(o.Range.Start.Column)
}

// Policy is a parsed, validated policy. It holds no open resources; the
// internal/host package turns mounts into filesystems.
type Policy struct {
	Mounts      []Mount
	Env         Env
	Limits      Limits
	Network     Network      // outbound connections (network.go)
	Credentials []Credential // secrets the host adds to HTTP requests (credential.go)
	Telemetry   Telemetry    // where spans, log records and metrics go (telemetry.go)
	Approvals   Approvals    // who answers "ask", and when (approvals.go)
	Sandbox     Sandbox      // the walls around airlock's own process (sandbox.go)
	// ManagedNetwork holds the network blocks of the managed ceiling
	// (ceiling.go): CheckNetwork consults them before Network.
	ManagedNetwork []Network
}

// Mount exposes one host directory to the tool at Guest.
type Mount struct {
	Guest   string // absolute guest path, cleaned, e.g. "/work"
	Host    string // absolute host path
	Access  Access
	Protect []Pattern // read-only inside a write mount
	Hide    []Pattern // never readable, never listed
	Origin  Origin

	// Real is where Host really is, every symbolic link resolved, as
	// found by Policy.Resolve on the host; empty until then. The managed
	// ceiling places its rules by it (places.go), and the filesystem that
	// mounts Host refuses to when Host no longer leads there.
	Real string
}

// Pattern is a gitignore-like path pattern relative to a mount root. A pattern
// without "/" matches a name at any depth; with "/" it is anchored at the
// mount root; "**" matches any number of names. A path matches if it or any
// of its ancestors matches.
//
// Make patterns with NewPattern (or get them from Parse, Load, Default and
// Policy.With): those are compiled once, so that matching allocates nothing.
type Pattern struct {
	Text   string
	Origin Origin

	c *compiled // nil only for a Pattern written as a literal
}

// Env is the environment the tool sees: host variables passed by name, and
// fixed values. Nothing else enters.
type Env struct {
	Pass   []string
	Set    map[string]string
	Origin Origin // the env block, or the built-in layer when there is none

	// Origins says where each name in Pass or Set was written.
	Origins map[string]Origin
}

// Limits bound one tool run. Zero means the built-in default; a Policy from
// this package always has every value filled in.
type Limits struct {
	Memory    uint64        // bytes of linear memory
	Timeout   time.Duration // wall time
	Output    int64         // bytes per stream (stdout, stderr)
	OpenFiles int           // files and directories open at once
	Origin    Origin        // the limits block, or the built-in layer when there is none

	// Where each value came from: its attribute, a flag, or the built-in
	// default (Layer LayerBuiltin, no range).
	MemoryOrigin, TimeoutOrigin, OutputOrigin, OpenFilesOrigin Origin
}
