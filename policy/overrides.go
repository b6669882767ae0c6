package policy

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Overrides are one-off changes from command-line flags. They add to a
// policy; they never silently widen what it already says.
type Overrides struct {
	// Mounts are "HOST:GUEST", "HOST:GUEST:rw" (write access, the default)
	// or "HOST:GUEST:ro" (read only). A relative HOST resolves against the
	// cwd given to With. A mount may nest inside another or contain one
	// (GUEST "/" included). At the guest path of a mount of the built-in
	// default policy it replaces that mount; at the guest path of any other
	// mount (a policy file's, another flag's) it is an error.
	Mounts []string
	// Protect and Hide are absolute guest paths, anchored in the mount that
	// contains them ("/work/build" protects build at the root of /work), or
	// patterns, added to every mount (".cache", "*.key").
	Protect, Hide []string
	// Env entries are "KEY=VALUE", which sets KEY, or "KEY", which passes the
	// host's KEY. A flag replaces whatever the policy said of the same KEY.
	Env []string
	// Timeout, Memory and Output replace the policy's limits when set.
	// Memory and Output are sizes like "512MiB".
	Timeout time.Duration
	Memory  string
	Output  string
	// NetAllow and NetDeny are network rules (the syntax of a network
	// block's allow and deny lists) added after the policy's own. Deny
	// still wins: an allow flag cannot open what a deny rule closes.
	NetAllow, NetDeny []string
}

// With returns a new Policy: p with o applied. p is not changed. Every rule o
// adds has Origin{Layer: LayerFlag}. A relative --mount host resolves against
// cwd. As with Parse, the *Policy is nil exactly when diags has errors.
func (p *Policy) With(o Overrides, cwd string) (*Policy, hcl.Diagnostics) {
	q := p.clone()
	flag := Origin{Layer: LayerFlag}
	var diags hcl.Diagnostics
	fail := func(summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail})
	}
	if abs, err := filepath.Abs(cwd); err == nil {
		cwd = abs
	}

	for _, spec := range o.Mounts {
		summary := fmt.Sprintf("Invalid --mount %q", spec)
		m, err := parseMountFlag(spec, cwd)
		if err != nil {
			fail(summary, sentence(err.Error()))
			continue
		}
		m.Origin = flag
		m.Protect = builtinPatterns(defaultProtect)
		m.Hide = builtinPatterns(defaultHide)
		switch i := q.mountAt(m.Guest); {
		case i < 0:
			q.Mounts = append(q.Mounts, m)
		case q.Mounts[i].Origin.Layer == LayerBuiltin:
			// The built-in default's mount is a convenience, not a rule:
			// the flag takes its place (and its place in the order, so
			// that it stays the first preopen, the cwd of Go tools).
			q.Mounts[i] = m
		default:
			fail(summary, duplicateMount(q.Mounts[i])+" A flag can add a mount, never replace one that a policy file or another flag made; change the policy file instead.")
		}
	}

	for _, list := range []struct {
		flag    string
		specs   []string
		protect bool
	}{{"--protect", o.Protect, true}, {"--hide", o.Hide, false}} {
		for _, spec := range list.specs {
			summary := fmt.Sprintf("Invalid %s %q", list.flag, spec)
			if !strings.HasPrefix(spec, "/") {
				pat, err := NewPattern(spec, flag)
				if err != nil {
					fail(summary, sentence(err.Error()))
					continue
				}
				for i := range q.Mounts {
					q.Mounts[i].addPattern(pat, list.protect)
				}
				continue
			}
			i, text, err := q.anchoredPattern(spec)
			if err != nil {
				fail(summary, sentence(err.Error()))
				continue
			}
			pat, err := NewPattern(text, flag)
			if err != nil {
				fail(summary, sentence(err.Error()))
				continue
			}
			q.Mounts[i].addPattern(pat, list.protect)
		}
	}

	for _, spec := range o.Env {
		name, value, set := strings.Cut(spec, "=")
		if err := checkEnvName(name); err != nil {
			fail(fmt.Sprintf("Invalid --env %q", spec), sentence(err.Error())+` Write KEY=VALUE to set a variable, or KEY to pass the host's.`)
			continue
		}
		q.Env.Pass = slices.DeleteFunc(q.Env.Pass, func(s string) bool { return s == name })
		delete(q.Env.Set, name)
		if set {
			q.Env.Set[name] = value
		} else {
			q.Env.Pass = append(q.Env.Pass, name)
		}
		q.Env.Origins[name] = flag
	}

	switch {
	case o.Timeout < 0:
		fail(fmt.Sprintf("Invalid --timeout %s", o.Timeout), "The timeout must be greater than zero.")
	case o.Timeout > 0:
		q.Limits.Timeout, q.Limits.TimeoutOrigin = o.Timeout, flag
	}
	if o.Memory != "" {
		n, err := parseSize(o.Memory)
		if err == nil {
			err = checkMemory(n)
		}
		if err != nil {
			fail(fmt.Sprintf("Invalid --memory %q", o.Memory), sentence(err.Error()))
		} else {
			q.Limits.Memory, q.Limits.MemoryOrigin = n, flag
		}
	}
	if o.Output != "" {
		n, err := parseSize(o.Output)
		if err == nil {
			err = checkOutput(n)
		}
		if err != nil {
			fail(fmt.Sprintf("Invalid --output %q", o.Output), sentence(err.Error()))
		} else {
			q.Limits.Output, q.Limits.OutputOrigin = int64(n), flag
		}
	}

	for _, list := range []struct {
		flag  string
		specs []string
		rules *[]NetRule
	}{{"--deny-net", o.NetDeny, &q.Network.Deny}, {"--allow-net", o.NetAllow, &q.Network.Allow}} {
		for _, spec := range list.specs {
			r, err := NewNetRule(spec, flag)
			if err != nil {
				fail(fmt.Sprintf("Invalid %s %q", list.flag, spec), sentence(err.Error()))
				continue
			}
			*list.rules = append(*list.rules, r)
		}
	}

	// A flag may not hand a credential's secret to the tool (--env of its
	// variable, --mount of its file's directory).
	for _, l := range credentialLeaks(q) {
		fail("Secret reachable by the tool", l.detail)
	}

	if diags.HasErrors() {
		return nil, diags
	}
	return q, diags
}

// parseMountFlag parses HOST:GUEST[:ro|:rw]. The guest path is taken from
// the right, so a host path may itself contain ":".
func parseMountFlag(spec, cwd string) (Mount, error) {
	m := Mount{Access: Write}
	rest := spec
	if s, ok := strings.CutSuffix(rest, ":ro"); ok {
		rest, m.Access = s, Read
	} else if s, ok := strings.CutSuffix(rest, ":rw"); ok {
		rest = s
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return m, fmt.Errorf("write HOST:GUEST, HOST:GUEST:ro or HOST:GUEST:rw, like .:/work")
	}
	host, guest := rest[:i], rest[i+1:]
	if err := checkGuestPath(guest); err != nil {
		return m, err
	}
	abs, err := resolveHost(cwd, host)
	if err == nil {
		err = checkHostDir(host, abs)
	}
	if err != nil {
		return m, err
	}
	m.Guest, m.Host = guest, abs
	return m, nil
}

// anchoredPattern finds the mount that serves the absolute guest path spec
// (the innermost one that contains it) and returns its index and the
// pattern, relative to that mount's root, that names exactly that path.
func (p *Policy) anchoredPattern(spec string) (int, string, error) {
	guest := path.Clean(spec)
	i := p.Innermost(guest)
	if i < 0 {
		if len(p.Mounts) == 0 {
			return 0, "", fmt.Errorf("%s is not inside a mount, and there is no mount", spec)
		}
		return 0, "", fmt.Errorf("%s is not inside any mount (%s); write a guest path inside one, or a pattern without a leading \"/\" for every mount",
			spec, p.guestList())
	}
	rel, _ := GuestRel(p.Mounts[i].Guest, guest)
	if rel == "." {
		return 0, "", fmt.Errorf("%s is the root of a mount; a whole mount is made read-only with access = \"read\", and left out to hide it", spec)
	}
	if !strings.Contains(rel, "/") {
		rel = "./" + rel // a single name is anchored only with "./"
	}
	return i, rel, nil
}

func (m *Mount) addPattern(p Pattern, protect bool) {
	if protect {
		m.Protect = append(m.Protect, p)
	} else {
		m.Hide = append(m.Hide, p)
	}
}

// clone copies p deeply enough that changing the copy's slices and maps
// leaves p alone. Patterns share their compiled form, which never changes.
func (p *Policy) clone() *Policy {
	q := *p
	q.Mounts = slices.Clone(p.Mounts)
	for i := range q.Mounts {
		q.Mounts[i].Protect = slices.Clone(q.Mounts[i].Protect)
		q.Mounts[i].Hide = slices.Clone(q.Mounts[i].Hide)
	}
	q.Env.Pass = slices.Clone(p.Env.Pass)
	q.Env.Set = maps.Clone(p.Env.Set)
	if q.Env.Set == nil {
		q.Env.Set = map[string]string{}
	}
	q.Env.Origins = maps.Clone(p.Env.Origins)
	if q.Env.Origins == nil {
		q.Env.Origins = map[string]Origin{}
	}
	q.Network.Allow = slices.Clone(p.Network.Allow)
	q.Network.Deny = slices.Clone(p.Network.Deny)
	q.Credentials = slices.Clone(p.Credentials)
	return &q
}
