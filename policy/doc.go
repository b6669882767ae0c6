// Package policy owns airlock's policy language: it parses HCL policy files,
// validates them into a Policy (every problem a diagnostic with
// file:line:col), evaluates paths and destinations to allow, deny or ask,
// and explains the effective policy in plain words.
//
// The package is pure: it reads its own files and nothing else (and stats a
// mount's host directory to check that it exists), and imports no other
// airlock package and no engine. Where a host directory really is (symbolic
// links followed) is asked of a function the caller passes in
// (Policy.Resolve, Ceiling.Resolve); the managed ceiling places its patterns
// by it (places.go).
//
// The language is documented in docs/policy.md. Each top-level block type has
// a file of its own (mount.go, env.go, limits.go) with its schema and decoder;
// load.go holds the table of block types. Patterns (pattern.go) are compiled
// when they are made, so matching a path allocates nothing; so are network
// rules (network.go), whose hosts and addresses are normalized by
// netaddr.go, so that Network.Check allocates nothing.
package policy

import "strconv"

func itoa(i int) string { return strconv.Itoa(i) }
