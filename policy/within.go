package policy

// Within says what the pattern p, written for a mount, covers in a mount
// of the folder rel below that mount's root (a clean slash-separated path;
// "." is the root itself): all is true when p covers rel itself (rel or an
// ancestor matches), and then the whole narrower mount is covered;
// otherwise below holds the patterns, relative to rel, that cover what p
// covers beneath it (none when p can match nothing there). A pattern that
// matches a name at any depth is itself; an anchored one is cut down to
// what it still matches below rel ("keys/**" seen from "data" is nothing;
// "data/keys" is "./keys"). Learn mode uses it to narrow a mount to the
// folders a tool used and keep every protect and hide rule that applied
// there.
func (p Pattern) Within(rel string) (all bool, below []Pattern, err error) {
	if rel == "." || rel == "" {
		return false, []Pattern{p}, nil
	}
	if p.Match(rel) {
		return true, nil, nil
	}
	if !p.Anchored() {
		return false, []Pattern{p}, nil
	}
	below, err = p.below(rel)
	return false, below, err
}
