package mcp

import (
	"path/filepath"
	"slices"

	"github.com/airlockhq/airlock/policy"
)

// Reach is what the tools on offer may reach on the host, for airlock's
// second wall (package internal/wall): the policies their calls may run
// under, each widened by everything its manifest requests, and the folders
// the server reads manifests and modules from.
type Reach struct {
	Policies []*policy.Policy
	Dirs     []string
}

// Reach returns what the tools listed now may reach. A tool added later
// that needs more than this union is refused by the wall when it reaches
// further (docs/mcp.md).
func (s *Server) Reach() Reach {
	r := Reach{Dirs: []string{s.opts.ToolsDir}}
	if abs, err := filepath.Abs(s.opts.ToolsDir); err == nil {
		r.Dirs[0] = abs
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tools {
		pol := t.policy
		if caps, err := pol.Needs(t.manifest.Requests.Escalation()); err == nil && len(caps) > 0 {
			if q, err := pol.Grant(caps, policy.Origin{Layer: policy.LayerGrant}); err == nil {
				pol = q
			}
		}
		r.Policies = append(r.Policies, pol)
		dir := filepath.Dir(t.manifest.Module)
		if !slices.Contains(r.Dirs, dir) {
			r.Dirs = append(r.Dirs, dir)
		}
	}
	if len(r.Policies) == 0 {
		r.Policies = append(r.Policies, s.opts.Policy)
	}
	return r
}
