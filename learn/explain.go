package learn

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// IsLearned reports whether src is a policy airlock learned: its first
// line is Header.
func IsLearned(src []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(src, "\ufeff"), []byte(Header))
}

// Explain writes, for a learned policy p parsed from src, what each of its
// rules was learned for (the comment written beside it: the first path,
// host or call that needed it), then what was not learned. Rules a person
// added have no such comment and are said to be theirs. The wording is
// stable, as policy.Explain's is.
func Explain(w io.Writer, src []byte, p *policy.Policy) error {
	lines := strings.Split(string(src), "\n")
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("What each rule was learned for (the comment beside it in the file):")
	for _, m := range p.Mounts {
		if m.Origin.Range.Filename == "" {
			continue
		}
		why := above(lines, m.Origin.Range.Start.Line)
		why = append(why, inside(lines, m.Origin.Range.Start.Line, m.Origin.Range.End.Line)...)
		line("  mount %s (%s): %s", m.Guest, m.Access, reason(why))
	}
	for _, name := range p.Env.Pass {
		line("  env pass %s: %s", name, reason(trailing(lines, p.Env.Origins[name])))
	}
	for _, name := range sortedKeys(p.Env.Set) {
		line("  env set %s = %q: %s", name, p.Env.Set[name], reason(trailing(lines, p.Env.Origins[name])))
	}
	for _, r := range p.Network.Allow {
		line("  network allow %s: %s", r.Text, reason(trailing(lines, r.Origin)))
	}
	for _, c := range p.Credentials {
		line("  credential %s: %s", c.Name, reason(above(lines, c.Origin.Range.Start.Line)))
	}
	if o := p.Limits.Origin; o.Layer == policy.LayerProject && o.Range.Filename != "" {
		why := append(above(lines, o.Range.Start.Line), inside(lines, o.Range.Start.Line, o.Range.End.Line)...)
		if len(why) > 0 {
			why[0] = strings.TrimPrefix(why[0], "Limits: ")
		}
		line("  limits: %s", reason(why))
	}
	var not []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		for _, prefix := range []string{"# not learned: ", "# not added: ", "# denied while learning, not granted: ", "# learned read-only: "} {
			if strings.HasPrefix(t, prefix) {
				not = append(not, strings.TrimPrefix(t, "# "))
			}
		}
	}
	if len(not) > 0 {
		line("Not learned, and why:")
		for _, n := range not {
			line("  %s", n)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explaining the learned policy: %w", err)
	}
	return nil
}

func reason(why []string) string {
	if len(why) == 0 {
		return "no comment: a person's rule, or one whose comment was removed"
	}
	return strings.Join(why, "; ")
}

// above is the comment lines right above line n (1-based), without "# ",
// nearest last; the file's header and notes are not a rule's comment.
func above(lines []string, n int) []string {
	var out []string
	for i := n - 2; i >= 0; i-- {
		t := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(t, "#") {
			break
		}
		out = append(out, strings.TrimSpace(strings.TrimPrefix(t, "#")))
	}
	slices.Reverse(out)
	if len(out) > 0 && strings.HasPrefix("# "+out[0], Header) {
		return nil
	}
	return out
}

// inside is the comment lines within a block (lines n to end), the notes
// a later learning added there.
func inside(lines []string, n, end int) []string {
	var out []string
	for i := n; i < end-1 && i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.HasPrefix(t, "#") {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(t, "#")))
		}
	}
	return out
}

// trailing is the comment at the end of the line where o starts.
func trailing(lines []string, o policy.Origin) []string {
	n := o.Range.Start.Line
	if n < 1 || n > len(lines) {
		return nil
	}
	l := lines[n-1]
	if o.Range.Start.Column-1 < len(l) && o.Range.Start.Column > 0 {
		l = l[o.Range.Start.Column-1:]
	}
	if c := commentStart(l); c >= 0 {
		return []string{strings.TrimSpace(l[c+1:])}
	}
	return nil
}

// commentStart is where a "#" comment starts in l, outside quoted
// strings; -1 when there is none.
func commentStart(l string) int {
	in := false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && c == '#':
			return i
		}
	}
	return -1
}
