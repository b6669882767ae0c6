package policy

import (
	"fmt"
	"math/bits"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The managed ceiling's protect and hide patterns name places on the host,
// not texts. A managed pattern is relative to the host directory of the
// managed mount that wrote it, its anchor; every mount below the ceiling
// (the project's, a flag's, the built-in default) exposes a host directory
// of its own, which may be the anchor, lie inside it, or contain it. For
// each pair this file works out what the pattern covers in that mount's own
// coordinates, so that a sub-mount, a second mount of the same folder, a
// parent mount or a mount reached through a symbolic link hides and
// protects exactly the host files the administrator named:
//
//   - the mount is the anchor: the pattern as written;
//   - the mount lies inside the anchor, at rel: when the pattern covers rel
//     itself, the whole mount is covered (hidden: the mount is refused;
//     protected: it is read-only, by the managed layer); otherwise what
//     the pattern still matches below rel, re-anchored at the mount root
//     ("secrets/**" seen from a mount of "data" is nothing; "data/keys/**"
//     is "keys/**");
//   - the anchor lies inside the mount, at rel: the pattern prefixed with
//     rel ("secrets/**" seen from the parent of the anchor "proj" is
//     "proj/secrets/**");
//   - neither: an anchored pattern names nothing there.
//
// A pattern without "/" (a name: ".env", "*.pem") matches that name at any
// depth in every mount, and a mount whose own directory, or a directory
// between it and a managed mount's host directory, has that name lies
// inside it.
//
// Places are compared by where they really are: Policy.Resolve and
// Ceiling.Resolve set each mount's Real (symbolic links resolved) with a
// function the caller gives, so that this package does no I/O of its own.

// Resolve returns a copy of p with each mount's Real set to where its host
// directory really is, as real says (filepath.EvalSymlinks on the host). A
// host real cannot resolve is an error naming the mount.
func (p *Policy) Resolve(real func(string) (string, error)) (*Policy, hcl.Diagnostics) {
	q := p.clone()
	var diags hcl.Diagnostics
	for i := range q.Mounts {
		m := &q.Mounts[i]
		r, err := real(m.Host)
		if err == nil && !filepath.IsAbs(r) {
			err = fmt.Errorf("it resolved to the relative path %q", r)
		}
		if err != nil {
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot resolve a mount's host directory",
				Detail:   fmt.Sprintf("%s is the host directory %s (%s): %v.", m.Guest, m.Host, originText(m.Origin), err),
			}
			if m.Origin.Range.Filename != "" {
				d.Subject = m.Origin.Range.Ptr()
			}
			diags = append(diags, d)
			continue
		}
		m.Real = filepath.Clean(r)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return q, nil
}

// Resolve returns a copy of c with the mounts of every managed policy
// resolved (see Policy.Resolve).
func (c Ceiling) Resolve(real func(string) (string, error)) (Ceiling, hcl.Diagnostics) {
	out := make(Ceiling, 0, len(c))
	var diags hcl.Diagnostics
	for _, m := range c {
		q, d := m.Resolve(real)
		diags = append(diags, d...)
		if q != nil {
			out = append(out, q)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return out, nil
}

// place is where m's host directory is: Real when it was resolved, else
// Host as written (absolute and clean).
func place(m Mount) string {
	if m.Real != "" {
		return m.Real
	}
	return filepath.Clean(m.Host)
}

// hostText is m's host directory in messages, with where it really is when
// that differs.
func hostText(m Mount) string {
	if m.Real != "" && m.Real != m.Host {
		return m.Host + " (really " + m.Real + ")"
	}
	return m.Host
}

// within returns where p lies below dir, relative and slash-separated, "."
// when they are the same; ok is false when p is not dir or below it. Both
// are absolute and clean.
func within(dir, p string) (rel string, ok bool) {
	if p == dir {
		return ".", true
	}
	prefix := dir
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok || rest == "" {
		return "", false
	}
	return filepath.ToSlash(rest), true
}

// managedRule is one anchored protect or hide pattern of a managed mount,
// with the place it is relative to.
type managedRule struct {
	anchor string  // where the managed mount's host directory is
	pat    Pattern // origin: the managed layer
	hide   bool
}

// placeManaged adds the managed policy's protect and hide patterns to every
// mount of q, each translated to that mount's coordinates (see the top of
// this file). A mount inside a managed hidden path is an error naming the
// rule; one inside a managed protected path becomes read-only, decided by
// the managed layer. declared are the mounts as they were before the
// ceiling narrowed them (q's mounts, in the same order), for messages that
// name where a mount was declared.
func placeManaged(managed, q *Policy, declared []Mount) hcl.Diagnostics {
	var rules []managedRule
	var names [2][]Pattern // patterns without "/": [0] protect, [1] hide
	for _, mm := range managed.Mounts {
		for h, ps := range [2][]Pattern{mm.Protect, mm.Hide} {
			for _, p := range ps {
				if p.Origin.Layer != LayerManaged {
					p.Origin = mm.Origin // a built-in pattern the managed layer enforces
				}
				if p.Anchored() {
					rules = append(rules, managedRule{anchor: place(mm), pat: p, hide: h == 1})
				} else {
					names[h] = appendMissing(names[h], []Pattern{p})
				}
			}
		}
	}

	var diags hcl.Diagnostics
	for i := range q.Mounts {
		m := &q.Mounts[i]
		r := place(*m)
		decl := declared[i].Origin
		refused := false
		covered := func(p Pattern, hide bool) {
			if !hide {
				m.Access, m.Origin = Read, p.Origin
				return
			}
			if refused {
				return // one refusal per mount is enough
			}
			refused = true
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Mount inside a path the managed policy hides",
				Detail: fmt.Sprintf("%s is the host directory %s (%s), which lies inside what the managed rule hide %q (%s) keeps from every tool; no project policy, flag or grant can mount it.",
					m.Guest, hostText(*m), originText(decl), p.Text, p.Origin),
			}
			if decl.Range.Filename != "" {
				d.Subject = decl.Range.Ptr()
			}
			diags = append(diags, d)
		}

		// Names: at any depth in every mount, and on the way down to it.
		m.Protect = appendMissing(m.Protect, names[0])
		m.Hide = appendMissing(m.Hide, names[1])
		for _, mm := range managed.Mounts {
			rel, ok := within(place(mm), r)
			if !ok || rel == "." {
				continue
			}
			for h := range names {
				if p, ok := MatchAny(names[h], rel); ok {
					covered(p, h == 1)
				}
			}
		}

		// Anchored patterns: where their anchor and the mount meet.
		for _, rule := range rules {
			var add []Pattern
			var err error
			if rel, ok := within(rule.anchor, r); ok {
				switch {
				case rel == ".":
					add = []Pattern{rule.pat}
				case rule.pat.Match(rel):
					covered(rule.pat, rule.hide)
					continue
				default:
					add, err = rule.pat.below(rel)
				}
			} else if rel, ok := within(r, rule.anchor); ok {
				var p Pattern
				p, err = rule.pat.under(rel)
				add = []Pattern{p}
			}
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cannot place a managed pattern",
					Detail: fmt.Sprintf("The managed rule %q (%s) cannot be expressed in the mount %s, the host directory %s: %v. Mount a directory closer to %s.",
						rule.pat.Text, rule.pat.Origin, m.Guest, hostText(*m), err, rule.anchor),
				})
				continue
			}
			if rule.hide {
				m.Hide = appendMissing(m.Hide, add)
			} else {
				m.Protect = appendMissing(m.Protect, add)
			}
		}
	}
	return diags
}

// below returns what the anchored pattern p still matches under rel, a
// path relative to p's root that p does not match itself (neither rel nor
// an ancestor), as patterns relative to rel: for every state of p's
// matcher after rel, the rest of p from there. None when nothing below
// rel can match.
func (p Pattern) below(rel string) ([]Pattern, error) {
	c := p.compiledOf()
	states := c.closure(1)
	for rest := rel; ; {
		name, tail, more := strings.Cut(rest, "/")
		states = c.step(states, name)
		if states == 0 || !more {
			break
		}
		rest = tail
	}
	n := len(c.names)
	var out []Pattern
	for s := states &^ (1 << n); s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		if i > 0 && c.star&(1<<(i-1)) != 0 && states&(1<<(i-1)) != 0 {
			continue // the "**" before it matches what it does, and more
		}
		rest := c.names[i:]
		text := strings.Join(rest, "/")
		if len(rest) == 1 && rest[0] != "**" {
			text = "./" + text // one name, at the root only
		}
		q, err := NewPattern(text, p.Origin)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// under returns the anchored pattern p moved down to rel: what p matches,
// as seen from a directory of which p's root is rel.
func (p Pattern) under(rel string) (Pattern, error) {
	c := p.compiledOf()
	var b strings.Builder
	for name := range strings.SplitSeq(rel, "/") {
		b.WriteString(escapeName(name))
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(c.names, "/"))
	return NewPattern(b.String(), p.Origin)
}

// escapeName makes a directory's name a pattern that matches that name
// only.
func escapeName(name string) string {
	if !strings.ContainsAny(name, `*?[]\`) {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
