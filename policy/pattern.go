package policy

import (
	"errors"
	"fmt"
	"math/bits"
	"path"
	"strings"
)

// maxPatternNames bounds the number of names in one pattern, so that the
// matcher can track its states in one machine word.
const maxPatternNames = 63

// compiled is a pattern split into names once, when it is made, so that
// matching a path allocates nothing. It is never changed after it is built
// and may be shared between copies of a Pattern.
type compiled struct {
	names    []string
	kinds    []nameKind // how to match names[i]
	parts    []string   // the literal part of names[i], for the fast kinds
	star     uint64     // bit i: names[i] is "**"
	anchored bool
	// floating is set for anchored patterns of the form "**/a/b…" with no
	// other "**": they match anywhere, so only a match that straddles a
	// directory's own path depends on where that directory is.
	floating bool
}

// NewPattern validates text and returns it compiled for fast matching. The
// rules are those of protect and hide lists: not empty, relative to the mount
// root (no leading "/"), no "." or ".." names, no empty names, at most 63
// names, each a valid path.Match pattern or "**".
func NewPattern(text string, origin Origin) (Pattern, error) {
	c, err := compilePattern(text)
	if err != nil {
		return Pattern{}, err
	}
	return Pattern{Text: text, Origin: origin, c: c}, nil
}

func compilePattern(text string) (*compiled, error) {
	switch {
	case text == "":
		return nil, errors.New("a pattern may not be empty")
	case strings.HasPrefix(text, "/"):
		return nil, fmt.Errorf("pattern %q starts with \"/\": patterns are relative to the mount root, so write %q (a name at any depth) or %q (only at the mount root)",
			text, strings.TrimLeft(text, "/"), "./"+strings.TrimLeft(text, "/"))
	case strings.HasSuffix(text, "/"):
		return nil, fmt.Errorf("pattern %q ends with \"/\": a pattern matches files and directories alike, so drop the trailing slash", text)
	}
	anchored := strings.Contains(text, "/")
	body := strings.TrimPrefix(text, "./")
	if body == "" {
		return nil, fmt.Errorf("pattern %q names nothing", text)
	}
	raw := strings.Split(body, "/")
	names := make([]string, 0, len(raw))
	for _, name := range raw {
		switch name {
		case "":
			return nil, fmt.Errorf("pattern %q has an empty name (\"//\")", text)
		case ".":
			return nil, fmt.Errorf("pattern %q has a \".\" name; write it without", text)
		case "..":
			return nil, fmt.Errorf("pattern %q has a \"..\" name: a pattern cannot reach outside its mount", text)
		}
		if _, err := path.Match(name, ""); err != nil {
			return nil, fmt.Errorf("pattern %q: %q is not a valid glob (see path.Match)", text, name)
		}
		// "**/**" means the same as "**"; keeping one keeps the matcher small.
		if name == "**" && len(names) > 0 && names[len(names)-1] == "**" {
			continue
		}
		names = append(names, name)
	}
	if len(names) > maxPatternNames {
		return nil, fmt.Errorf("pattern %q has more than %d names", text, maxPatternNames)
	}
	// "**/name" means the same as "name": a name at any depth.
	if anchored && len(names) == 2 && names[0] == "**" && names[1] != "**" {
		names, anchored = names[1:], false
	}
	c := &compiled{names: names, anchored: anchored}
	for i, name := range names {
		if name == "**" {
			c.star |= 1 << i
		}
		kind, part := classify(name)
		c.kinds = append(c.kinds, kind)
		c.parts = append(c.parts, part)
	}
	c.floating = anchored && names[0] == "**" && c.star == 1
	return c, nil
}

// compiledOf returns p's compiled form. A Pattern made by this package always
// has one; a Pattern built by hand as a literal is compiled on each call, and
// an invalid one is a bug in the calling program.
func (p *Pattern) compiledOf() *compiled {
	if p.c != nil {
		return p.c
	}
	c, err := compilePattern(p.Text)
	if err != nil {
		panic("policy: Pattern not made by NewPattern is invalid: " + err.Error())
	}
	return c
}

// Anchored reports whether the pattern is tied to a place under the mount
// root (it has a "/" in it) rather than matching a name at any depth.
// "**/name" counts as a name at any depth.
func (p Pattern) Anchored() bool { return p.compiledOf().anchored }

// Match reports whether rel, a clean slash-separated path relative to the
// mount root, or any of its ancestors matches the pattern. The mount root
// itself (".") never matches. Match does not allocate.
func (p Pattern) Match(rel string) bool { return p.compiledOf().match(rel) }

// MatchAny returns the first pattern in ps that matches rel (see
// Pattern.Match).
func MatchAny(ps []Pattern, rel string) (Pattern, bool) {
	for i := range ps {
		if ps[i].compiledOf().match(rel) {
			return ps[i], true
		}
	}
	return Pattern{}, false
}

// CouldMatchBelow reports whether renaming or removing the directory rel could
// take a path that one of ps covers because of where it is, not what it is
// called: true when an anchored pattern matches rel or one of its ancestors,
// or could match a path strictly below rel in a way that depends on rel's
// location. Patterns that match a name at any depth (".git", "*.pem",
// "**/.env") travel with the directory and are not counted; the caller checks
// rel's own name and the destination with Match.
func CouldMatchBelow(ps []Pattern, rel string) bool {
	for i := range ps {
		if ps[i].compiledOf().couldMatchBelow(rel) {
			return true
		}
	}
	return false
}

// nameKind says how one name of a pattern is matched. Most names in practice
// are literal (".git") or a star and a literal ("*.pem", ".env.*"); those
// skip path.Match, which is several times slower.
type nameKind uint8

const (
	kindGlob    nameKind = iota // path.Match
	kindLiteral                 // equal to part
	kindAny                     // "*" or "**": any name
	kindSuffix                  // "*" followed by part
	kindPrefix                  // part followed by "*"
)

func classify(name string) (nameKind, string) {
	const meta = `*?[\`
	switch {
	case !strings.ContainsAny(name, meta):
		return kindLiteral, name
	case strings.Trim(name, "*") == "":
		return kindAny, ""
	case name[0] == '*' && !strings.ContainsAny(name[1:], meta):
		return kindSuffix, name[1:]
	case name[len(name)-1] == '*' && !strings.ContainsAny(name[:len(name)-1], meta):
		return kindPrefix, name[:len(name)-1]
	}
	return kindGlob, ""
}

func (c *compiled) nameMatch(i int, name string) bool {
	switch c.kinds[i] {
	case kindLiteral:
		return c.parts[i] == name
	case kindAny:
		return true
	case kindSuffix:
		return strings.HasSuffix(name, c.parts[i])
	case kindPrefix:
		return strings.HasPrefix(name, c.parts[i])
	}
	ok, _ := path.Match(c.names[i], name)
	return ok
}

// closure adds to states every state reachable by letting a "**" match no
// name. State i means "the first i names of the pattern have matched".
func (c *compiled) closure(states uint64) uint64 {
	for s := states & c.star; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		states |= 1 << (i + 1)
		// consecutive "**" are folded at compile time, so one step suffices
	}
	return states
}

// step consumes one name of the path.
func (c *compiled) step(states uint64, name string) uint64 {
	n := len(c.names)
	var next uint64
	for s := states; s != 0; s &= s - 1 {
		i := bits.TrailingZeros64(s)
		switch {
		case i >= n:
		case c.star&(1<<i) != 0:
			next |= 1 << i
		case c.nameMatch(i, name):
			next |= 1 << (i + 1)
		}
	}
	return c.closure(next)
}

func (c *compiled) match(rel string) bool {
	if rel == "" || rel == "." {
		return false
	}
	if !c.anchored {
		// A name that must contain a literal part cannot match a path that
		// does not: one fast scan rejects most patterns.
		if k := c.kinds[0]; k != kindGlob && k != kindAny && !strings.Contains(rel, c.parts[0]) {
			return false
		}
		for rest := rel; ; {
			name, tail, more := strings.Cut(rest, "/")
			if c.nameMatch(0, name) {
				return true
			}
			if !more {
				return false
			}
			rest = tail
		}
	}
	done := uint64(1) << len(c.names)
	states := c.closure(1)
	for rest := rel; ; {
		name, tail, more := strings.Cut(rest, "/")
		states = c.step(states, name)
		if states&done != 0 {
			return true // rel or an ancestor matched
		}
		if states == 0 || !more {
			return false
		}
		rest = tail
	}
}

func (c *compiled) couldMatchBelow(rel string) bool {
	if !c.anchored {
		return false
	}
	if c.match(rel) {
		return true
	}
	if c.floating {
		return c.straddles(rel)
	}
	done := uint64(1) << len(c.names)
	states := c.closure(1)
	if rel != "" && rel != "." {
		for rest := rel; ; {
			name, tail, more := strings.Cut(rest, "/")
			states = c.step(states, name)
			if states == 0 || !more {
				break
			}
			rest = tail
		}
	}
	// A state short of the end means some longer path could still match.
	return states&^done != 0
}

// straddles reports, for a floating pattern "**/q1/…/qk", whether some
// q1…qj (0 < j < k) matches the last j names of dir: then a match would
// begin at or above dir and end below it, and moving dir would break it.
func (c *compiled) straddles(dir string) bool {
	if dir == "" || dir == "." {
		return false
	}
	qs := c.names[1:]
	for j := 1; j < len(qs); j++ {
		rest, ok := dir, true
		for i := j - 1; i >= 0; i-- {
			if rest == "" {
				ok = false
				break
			}
			name := rest
			if k := strings.LastIndexByte(rest, '/'); k >= 0 {
				name, rest = rest[k+1:], rest[:k]
			} else {
				rest = ""
			}
			if !c.nameMatch(i+1, name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
