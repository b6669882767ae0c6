package policy

import (
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// Explain writes the effective policy in plain words, one fact per line.
// The wording is stable: tests and the documentation quote it. Each fact
// ends with where it came from: "(built-in)", "(flag)" or "(file:line:col)".
//
//	/work is the host directory /home/x/proj; the tool may read and write there (built-in).
//	In /work, these stay read-only (built-in): .git, .airlock, ….
//	In /work, these cannot be read or listed (built-in): .env, .env.*, *.pem, ….
//	No other host path exists for the tool.
//	Environment: no host variable passes in.
//	Limits: memory 256 MiB (built-in), wall time 2m (built-in), output 16 MiB per stream (built-in), open files 256 (built-in).
//	Network: none.
func Explain(w io.Writer, p *Policy) error {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	for _, m := range p.Mounts {
		if m.Access == Write {
			line("%s is the host directory %s; the tool may read and write there (%s).", m.Guest, hostText(m), originText(m.Origin))
			if len(m.Protect) == 0 {
				line("In %s, nothing is protected: the tool may change every file it can see.", m.Guest)
			}
			for _, g := range groupPatterns(m.Protect) {
				line("In %s, these stay read-only (%s): %s.", m.Guest, g.origin, strings.Join(g.texts, ", "))
			}
		} else {
			line("%s is the host directory %s; the tool may read there and change nothing (%s).", m.Guest, hostText(m), originText(m.Origin))
		}
		if len(m.Hide) == 0 {
			line("In %s, nothing is hidden.", m.Guest)
		}
		for _, g := range groupPatterns(m.Hide) {
			line("In %s, these cannot be read or listed (%s): %s.", m.Guest, g.origin, strings.Join(g.texts, ", "))
		}
	}
	// Nested mounts: which one serves what (docs/filesystem.md, "Nested mounts").
	for _, m := range p.Mounts {
		for _, o := range p.Mounts {
			if o.Guest == m.Guest {
				continue
			}
			if _, ok := GuestRel(o.Guest, m.Guest); ok {
				line("%s lies inside %s: below it, only %s's rules apply.", m.Guest, o.Guest, m.Guest)
			}
			if rel, err := filepath.Rel(o.Host, m.Host); err == nil && rel != "." && rel != ".." &&
				!strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				line("%s lies inside the host directory of %s, which refuses it: it is reached through %s only.", m.Host, o.Guest, m.Guest)
			}
		}
	}
	if len(p.Mounts) == 0 {
		line("No host path exists for the tool.")
	} else {
		line("No other host path exists for the tool.")
	}

	if len(p.Env.Pass) == 0 {
		line("Environment: no host variable passes in.")
	}
	var pass []group
	for _, name := range p.Env.Pass {
		pass = appendGroup(pass, p.Env.Origins[name], name)
	}
	for _, g := range pass {
		line("Environment: passed in from the host (%s): %s.", g.origin, strings.Join(g.texts, ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Env.Set)) {
		line("Environment: %s is set to %q (%s).", name, p.Env.Set[name], originText(p.Env.Origins[name]))
	}

	l := p.Limits
	line("Limits: memory %s (%s), wall time %s (%s), output %s per stream (%s), open files %d (%s).",
		formatSize(l.Memory), originText(l.MemoryOrigin),
		FormatDuration(l.Timeout), originText(l.TimeoutOrigin),
		formatSize(uint64(l.Output)), originText(l.OutputOrigin),
		l.OpenFiles, originText(l.OpenFilesOrigin))
	explainNetwork(line, &p.Network)
	explainCredentials(line, p.Credentials)

	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explaining the policy: %w", err)
	}
	return nil
}

// A group is a run of rules from one place: the built-in layer, flags, or
// one file, named by where its first rule was written.
type group struct {
	key    string
	origin string
	texts  []string
}

func appendGroup(gs []group, o Origin, text string) []group {
	key := string(o.Layer) + "\x00" + o.Range.Filename
	if n := len(gs); n > 0 && gs[n-1].key == key {
		gs[n-1].texts = append(gs[n-1].texts, text)
		return gs
	}
	return append(gs, group{key: key, origin: originText(o), texts: []string{text}})
}

func groupPatterns(ps []Pattern) []group {
	var gs []group
	for _, p := range ps {
		gs = appendGroup(gs, p.Origin, p.Text)
	}
	return gs
}
