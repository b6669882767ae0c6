package approvals

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Escalate settles, before the tool runs, what it requests beyond its
// policy (a manifest's requests, e): each requested capability the
// managed ceiling or the policy itself refuses is denied without asking; a
// remembered grant answers for its capability; in on-request mode the rest
// are asked about in one question; in the other modes they are not granted.
//
// It returns the policy to run with (p widened by what was granted, then
// bounded by the ceiling again) and one decision per requested capability
// (Op "request"), which are also written to the audit log. A decision the
// audit log could not record (approvals.audit_failure = "stop") makes it
// return an *UnrecordedError with the decisions, and the tool must not run.
// p must already be bounded by the broker's ceiling.
func (r *Run) Escalate(ctx context.Context, p *policy.Policy, e policy.Escalation) (*policy.Policy, []decision.Decision, error) {
	caps, err := p.Needs(e)
	if err != nil {
		return nil, nil, fmt.Errorf("the tool's requests: %w", err)
	}
	var decisions []decision.Decision
	var unrecorded error
	decide := func(c policy.Capability, allowed bool, ans Answer, rule string, origin policy.Origin) {
		d := decision.Decision{Time: time.Now(), Kind: decision.Kind(c.Kind), Op: "request", Target: c.Target, Verdict: policy.Ask,
			Allowed: allowed, Source: ans.Source, Rule: rule, Origin: origin.String(), Ended: ans.Ended}
		if err := r.write(d, ans); err != nil {
			d.Allowed, d.Source = false, decision.SourceUnrecorded
			if unrecorded == nil {
				unrecorded = err
			}
		}
		decisions = append(decisions, d)
	}
	notInPolicy := func(c policy.Capability) (string, policy.Origin) {
		return "requested by the tool; not in the policy", policy.Origin{Layer: policy.LayerProject}
	}

	var granted []policy.Capability
	var grantOrigins []policy.Origin
	var ask []policy.Capability
	for _, c := range caps {
		if refused, rule, origin := r.b.cfg.Ceiling.Refuses(p, c); refused {
			decide(c, false, Answer{Choice: Deny, Source: decision.SourceRule, Note: "refused by a rule; never offered"}, rule, origin)
			continue
		}
		if g, ok := r.b.cfg.Grants.Lookup(decision.Kind(c.Kind), c.Target, r.info.Digest); ok {
			rule, origin := notInPolicy(c)
			ans := Answer{Choice: AlwaysDeny, Source: decision.SourceGrant, Note: "grant " + g.ID + " (" + g.File + ")"}
			if g.Allow {
				ans.Choice = AlwaysAllow
				granted = append(granted, c)
				grantOrigins = append(grantOrigins, g.Origin())
			}
			decide(c, g.Allow, ans, rule, origin)
			continue
		}
		ask = append(ask, c)
	}

	if len(ask) > 0 {
		var ans Answer
		switch r.info.Mode {
		case policy.ModeOnRequest, "":
			items := make([]Item, len(ask))
			for i, c := range ask {
				rule, origin := notInPolicy(c)
				items[i] = Item{Kind: decision.Kind(c.Kind), Op: "request", Target: c.Target, Rule: rule, Origin: origin}
			}
			ans = r.b.ask(ctx, Question{Tool: r.info.Tool, Digest: r.info.Digest, Items: items, Why: WhyManifest, Offer: r.b.offer(items...)})
		default:
			ans = Answer{Choice: Deny, Source: decision.SourceRule, Note: fmt.Sprintf("approvals.mode = %q: a manifest's requests are not granted", r.info.Mode)}
		}
		for _, c := range ask {
			rule, origin := notInPolicy(c)
			if ans.Choice.Allows() {
				granted = append(granted, c)
				grantOrigins = append(grantOrigins, policy.Origin{Layer: policy.LayerGrant})
			}
			decide(c, ans.Choice.Allows(), ans, rule, origin)
		}
	}

	if unrecorded != nil {
		// Nothing is granted that left no record: the tool does not run.
		return nil, decisions, unrecorded
	}
	q := p
	for i, c := range granted {
		if q, err = q.Grant([]policy.Capability{c}, grantOrigins[i]); err != nil {
			return nil, nil, err
		}
	}
	q, diags := r.b.cfg.Ceiling.Apply(q)
	if diags.HasErrors() {
		return nil, nil, fmt.Errorf("applying the managed policy: %w", diags)
	}
	return q, decisions, nil
}

// Origin is where a remembered grant is written, as a policy origin of the
// grant layer: "grant:.airlock/grants.hcl:12:1".
func (g Grant) Origin() policy.Origin {
	return policy.Origin{Layer: policy.LayerGrant, Range: hcl.Range{
		Filename: "grant:" + g.File, Start: g.Pos, End: g.Pos}}
}
