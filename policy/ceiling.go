package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The managed layer: an administrator's policy that bounds every other
// layer (docs/approvals.md, "Managed ceiling").
const (
	// ManagedPolicyPath is the system-wide managed policy. When it exists
	// it always applies.
	ManagedPolicyPath = "/etc/airlock/policy.hcl"
	// ManagedPolicyEnv names an environment variable holding the path of a
	// further managed policy (for CI runners and containers, whose
	// environment the administrator controls). It adds a ceiling; it never
	// removes the system one.
	ManagedPolicyEnv = "AIRLOCK_MANAGED_POLICY"
	// ManagedFilePrefix starts the filename of a managed policy in origins
	// and diagnostics, so that every decision it makes names its layer:
	// "managed:/etc/airlock/policy.hcl:4:3".
	ManagedFilePrefix = "managed:"
)

// Ceiling is the managed layer: zero or more administrator policies. Each
// bounds everything below it (project policy, flags, remembered grants,
// prompt answers), which can only narrow what it allows:
//
//   - a mount must lie inside one of the managed policy's mounts (when it
//     has any), and is read-only where that one is;
//   - every protect and hide pattern of the managed policy's mounts covers
//     the host places it names in every mount that exposes them (a mount
//     of the same folder, of one inside it, of one around it); a mount
//     inside a hidden place is refused, one inside a protected place is
//     read-only (places.go). Resolve the policy and the ceiling first, so
//     that places are compared where they really are;
//   - each limit the managed policy sets is a maximum;
//   - when the managed policy has an env block, only the host variables it
//     passes may pass, and what it sets wins;
//   - when it has a network block, anything its network would deny is
//     denied, and what it would ask about is at most asked about
//     (Policy.CheckNetwork);
//   - what its approvals block sets wins (a headless "deny" always wins);
//   - its sandbox.landlock is a floor (sandbox.go).
//
// The zero Ceiling bounds nothing.
type Ceiling []*Policy

// ManagedPaths returns the managed policy files that apply: ManagedPolicyPath
// when it exists (or cannot be checked, so that loading reports why), then
// the file named by $AIRLOCK_MANAGED_POLICY when that is set.
func ManagedPaths(lookupEnv func(string) (string, bool)) []string {
	var paths []string
	if _, err := os.Stat(ManagedPolicyPath); !errors.Is(err, fs.ErrNotExist) {
		paths = append(paths, ManagedPolicyPath)
	}
	if lookupEnv != nil {
		if p, ok := lookupEnv(ManagedPolicyEnv); ok && p != "" {
			paths = append(paths, p)
		}
	}
	return paths
}

// LoadCeiling loads each managed policy file in paths (see ManagedPaths) as
// a policy of LayerManaged, named ManagedFilePrefix+path. A file that cannot
// be read is an error: a ceiling that silently vanished would bound nothing.
func (l *Loader) LoadCeiling(paths []string) (Ceiling, hcl.Diagnostics) {
	var c Ceiling
	var diags hcl.Diagnostics
	for _, path := range paths {
		src, err := ReadFile(path)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read the managed policy " + path,
				Detail:   err.Error() + ". airlock does not run without its administrator's policy.",
			})
			continue
		}
		p, pdiags := l.parse(src, ManagedFilePrefix+path, LayerManaged, BaseDir(path), true)
		diags = append(diags, pdiags...)
		if p != nil {
			c = append(c, p)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return c, diags
}

// Apply returns p bounded by every policy of c, in turn. p is not changed.
func (c Ceiling) Apply(p *Policy) (*Policy, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	for _, m := range c {
		q, d := ApplyCeiling(m, p)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		p = q
	}
	return p, diags
}

// ApplyCeiling returns p bounded by the managed policy (see Ceiling). p is
// not changed. Every value the ceiling changes takes the managed origin, so
// that explanations and decisions name the managed layer. A mount that lies
// outside every managed mount, or inside a path it hides, is an error.
//
// Mounts are compared by their Real place when it is set (Policy.Resolve),
// else by their host path as written: resolve both p and managed first
// whenever a host path could lead through a symbolic link.
func ApplyCeiling(managed, p *Policy) (*Policy, hcl.Diagnostics) {
	q := p.clone()
	if managed == nil {
		return q, nil
	}
	var diags hcl.Diagnostics

	// Mounts: containment and access, then every managed pattern, placed
	// where it belongs in each mount (places.go).
	for i := range q.Mounts {
		m := &q.Mounts[i]
		if len(managed.Mounts) > 0 {
			mm, ok := containingMount(managed.Mounts, place(*m))
			if !ok {
				d := &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Mount outside the managed policy",
					Detail: fmt.Sprintf("%s is the host directory %s (%s), which no mount of the managed policy %s contains; the administrator's policy allows only %s.",
						m.Guest, hostText(*m), originText(m.Origin), managedName(managed), mountHosts(managed.Mounts)),
				}
				if m.Origin.Range.Filename != "" {
					d.Subject = m.Origin.Range.Ptr()
				}
				diags = append(diags, d)
				continue
			}
			// Read-only by the managed layer, also when the mount was
			// read-only already: a write there is then never asked about
			// (a person's answer or a remembered grant cannot open it).
			if mm.Access == Read {
				m.Access, m.Origin = Read, mm.Origin
			}
		}
	}
	diags = append(diags, placeManaged(managed, q, p.Mounts)...)

	// Environment.
	if managed.Env.Origin.Layer == LayerManaged {
		q.Env.Pass = slices.DeleteFunc(q.Env.Pass, func(name string) bool {
			if slices.Contains(managed.Env.Pass, name) {
				return false
			}
			delete(q.Env.Origins, name)
			return true
		})
		for name, v := range managed.Env.Set {
			q.Env.Pass = slices.DeleteFunc(q.Env.Pass, func(s string) bool { return s == name })
			q.Env.Set[name] = v
			q.Env.Origins[name] = managed.Env.Origins[name]
		}
	}

	// Limits: each one the managed policy sets is a maximum.
	ml, l := managed.Limits, &q.Limits
	if ml.MemoryOrigin.Layer == LayerManaged && ml.Memory < l.Memory {
		l.Memory, l.MemoryOrigin = ml.Memory, ml.MemoryOrigin
	}
	if ml.TimeoutOrigin.Layer == LayerManaged && ml.Timeout < l.Timeout {
		l.Timeout, l.TimeoutOrigin = ml.Timeout, ml.TimeoutOrigin
	}
	if ml.OutputOrigin.Layer == LayerManaged && ml.Output < l.Output {
		l.Output, l.OutputOrigin = ml.Output, ml.OutputOrigin
	}
	if ml.OpenFilesOrigin.Layer == LayerManaged && ml.OpenFiles < l.OpenFiles {
		l.OpenFiles, l.OpenFilesOrigin = ml.OpenFiles, ml.OpenFilesOrigin
	}

	// Network: consulted first by CheckNetwork.
	q.ManagedNetwork = slices.Clone(q.ManagedNetwork)
	if managed.Network.Origin.Layer == LayerManaged {
		n := managed.Network
		if n.DefaultOrigin.Layer != LayerManaged {
			n.DefaultOrigin = n.Origin // "default deny" of the managed block, not of the built-in layer
		}
		q.ManagedNetwork = append(q.ManagedNetwork, n)
	}
	q.ManagedNetwork = append(q.ManagedNetwork, managed.ManagedNetwork...)

	// Approvals.
	ma, a := managed.Approvals, &q.Approvals
	if ma.ModeOrigin.Layer == LayerManaged {
		a.Mode, a.ModeOrigin = ma.Mode, ma.ModeOrigin
	}
	if ma.HeadlessOrigin.Layer == LayerManaged && ma.Headless == Deny {
		a.Headless, a.HeadlessOrigin = Deny, ma.HeadlessOrigin
	}
	if ma.TimeoutOrigin.Layer == LayerManaged {
		a.Timeout, a.TimeoutOrigin = ma.Timeout, ma.TimeoutOrigin
	}
	if ma.AuditOrigin.Layer == LayerManaged {
		a.Audit, a.AuditOrigin = ma.Audit, ma.AuditOrigin
	}
	if ma.AuditFailureOrigin.Layer == LayerManaged && ma.AuditFailure == AuditStop {
		a.AuditFailure, a.AuditFailureOrigin = AuditStop, ma.AuditFailureOrigin
	}
	applySandboxCeiling(managed, q) // sandbox.go

	if diags.HasErrors() {
		return nil, diags
	}
	return q, diags
}

// ExplainCeiling writes what the managed layer adds that Explain does not
// show: which managed files apply, and their network ceilings.
func ExplainCeiling(w io.Writer, c Ceiling, p *Policy) error {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	for _, m := range c {
		line("Managed: %s bounds every other layer; no project policy, flag, grant or answer can allow what it does not.", managedName(m))
	}
	for i := range p.ManagedNetwork {
		n := &p.ManagedNetwork[i]
		explainNetwork(func(format string, args ...any) { line("Managed n"+strings.TrimPrefix(format, "N"), args...) }, n)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explaining the managed policy: %w", err)
	}
	return nil
}

// appendMissing adds each pattern of add whose text dst lacks.
func appendMissing(dst, add []Pattern) []Pattern {
	dst = slices.Clone(dst)
	for _, p := range add {
		if !slices.ContainsFunc(dst, func(q Pattern) bool { return q.Text == p.Text }) {
			dst = append(dst, p)
		}
	}
	return dst
}

// containingMount finds the managed mount whose host directory contains
// the place host (see place).
func containingMount(ms []Mount, host string) (Mount, bool) {
	for _, m := range ms {
		if _, ok := within(place(m), host); ok {
			return m, true
		}
	}
	return Mount{}, false
}

func mountHosts(ms []Mount) string {
	var hs []string
	for _, m := range ms {
		hs = append(hs, m.Host)
	}
	return strings.Join(hs, ", ")
}

// managedName is the managed policy's file, from any origin it has.
func managedName(p *Policy) string {
	for _, o := range []Origin{p.Approvals.Origin, p.Network.Origin, p.Env.Origin, p.Limits.Origin} {
		if o.Layer == LayerManaged && o.Range.Filename != "" {
			return o.Range.Filename
		}
	}
	for _, m := range p.Mounts {
		if m.Origin.Range.Filename != "" {
			return m.Origin.Range.Filename
		}
	}
	return "the managed policy"
}
