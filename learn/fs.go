package learn

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/airlockhq/airlock/policy"
)

// maxFolders bounds the mounts learned from one mount of the ceiling for
// reading, and again for writing: past it, the folders are joined into the
// one that holds them all.
const maxFolders = 8

// defaultProtect is the built-in protected list. It holds in every learned
// mount (a learned file never says protect_defaults = false), and a write
// the ceiling let through to one of its paths is not learned.
var defaultProtect = func() []policy.Pattern {
	var ps []policy.Pattern
	for _, t := range policy.DefaultProtect() {
		p, err := policy.NewPattern(t, policy.Origin{Layer: policy.LayerBuiltin})
		if err != nil {
			panic("learn: built-in pattern " + t + ": " + err.Error())
		}
		ps = append(ps, p)
	}
	return ps
}()

// evidence is one path of a mount and what it says about the folders the
// tool needs.
type evidence struct {
	path  string
	seq   int
	write bool   // a change made there: its folder must be writable
	why   string // "read /work/a.txt (open)"
}

// learnMount narrows the ceiling mount m to the folders the tool used in
// it: a read-only mount for each folder it read or looked in, a writable
// one for each folder it changed something in, each a real directory
// below m's host directory (no symbolic link on the way), none hidden or
// inside airlock's state; at most maxFolders of each kind, else the
// folder that holds them. whole, when not nil, says the recorder kept too
// many paths to narrow, and what was done in m after that: m is learned at
// its root.
func learnMount(m *policy.Mount, p *policy.Policy, paths map[pathKey]pathUse, whole *overflowUse, denied map[string]bool, st stateSet) ([]MountNeed, []string) {
	guest := mountName(m.Guest)
	root := m.Real
	if root == "" {
		root = filepath.Clean(m.Host)
		if r, err := filepath.EvalSymlinks(root); err == nil {
			root = r
		}
	}
	var notes, state []string
	var ev []evidence
	for k, u := range paths {
		if k.mount != guest {
			continue
		}
		host := filepath.Join(root, filepath.FromSlash(k.path))
		target := guestJoin(guest, k.path)
		if st.holds(host) || st.holds(realOf(host)) {
			if u.read || u.write {
				state = append(state, target)
			}
			continue
		}
		switch {
		case u.write && matchesAny(defaultProtect, k.path):
			notes = append(notes, "not learned: the write to "+target+" ("+u.firstWrite+"): it is a protected path, which a learned policy never makes writable; grant it yourself if you mean it (docs/learn.md)")
			ev = append(ev, evidence{path: k.path, seq: u.seq, why: "read " + target + " (" + u.firstWrite + ")"})
		case u.write:
			ev = append(ev, evidence{path: k.path, seq: u.seq, write: true, why: "wrote " + target + " (" + u.firstWrite + ")"})
		case u.read:
			ev = append(ev, evidence{path: k.path, seq: u.seq, why: "read " + target + " (" + u.firstRead + ")"})
		case u.look && !denied[target]:
			ev = append(ev, evidence{path: k.path, seq: u.seq, why: "looked up " + target + " (" + u.firstLook + ")"})
		}
	}
	if whole != nil {
		// The first read and write after the recorder's bound: the rest
		// went uncounted, and the mount is learned whole.
		if w := whole.write; w.seq != 0 {
			target := guestJoin(guest, w.path)
			ev = append(ev, evidence{path: w.path, seq: w.seq, write: true, why: "wrote " + target + " (" + w.op + ")"})
		}
		if r := whole.read; r.seq != 0 {
			target := guestJoin(guest, r.path)
			ev = append(ev, evidence{path: r.path, seq: r.seq, why: "read " + target + " (" + r.op + ")"})
		}
		notes = append(notes, fmt.Sprintf("learned whole: %s, the run used more paths than the %d learning keeps, so it is not narrowed to folders", guest, maxPaths))
		if whole.protectedWrites > 0 {
			notes = append(notes, fmt.Sprintf("not learned: %d writes to protected paths in %s, which a learned policy never makes writable", whole.protectedWrites, guest))
		}
	}
	if len(state) > 0 {
		sort.Strings(state)
		more := ""
		if len(state) > 4 {
			more = fmt.Sprintf(" and %d more", len(state)-4)
			state = state[:4]
		}
		notes = append(notes, "not learned: "+strings.Join(state, ", ")+more+": airlock's own state, which no policy grants")
	}
	sort.Strings(notes)
	if len(ev) == 0 {
		return nil, notes
	}
	sort.Slice(ev, func(i, j int) bool { return ev[i].seq < ev[j].seq })
	n := narrower{m: m, p: p, root: root, st: st}

	var reads, writes []folder
	for _, e := range ev {
		if whole != nil {
			f := folder{rel: ".", why: e.why, n: 1}
			if e.write {
				writes = addFolder(writes, f)
			} else {
				reads = addFolder(reads, f)
			}
			continue
		}
		if e.write {
			dir := "."
			if e.path != "." {
				dir = path.Dir(e.path)
			}
			if w, ok := n.writable(dir); ok {
				writes = addFolder(writes, folder{rel: w, why: e.why, n: 1})
				continue
			}
			notes = append(notes, "learned read-only: "+guestJoin(guest, dir)+" is protected or hidden, so the write to "+guestJoin(guest, e.path)+" is not learned")
		}
		reads = addFolder(reads, folder{rel: n.readable(e.path), why: e.why, n: 1})
	}
	writes = n.bound(minimal(writes), true)
	reads = n.bound(minimal(reads), false)
	// A folder read inside one written is served by the writable mount.
	var kept []folder
	for _, r := range reads {
		inside := false
		for _, w := range writes {
			if within(r.rel, w.rel) {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, r)
		}
	}
	var out []MountNeed
	for _, f := range append(kept, writes...) {
		access := policy.Read
		for _, w := range writes {
			if w.rel == f.rel {
				access = policy.Write
			}
		}
		need := MountNeed{Guest: guestJoin(guest, f.rel), Host: hostJoin(root, f.rel), Access: access, Why: f.words()}
		if access == policy.Write {
			need.Protect = n.patterns(m.Protect, f.rel)
		}
		need.Hide = n.patterns(m.Hide, f.rel)
		out = append(out, need)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Guest < out[j].Guest })
	return out, notes
}

// folder is a folder of a mount the tool needs, with the first use that
// needed it and how many uses it covers.
type folder struct {
	rel string
	why string
	n   int
}

func (f folder) words() string {
	if f.n > 1 {
		return fmt.Sprintf("%s, first of %d paths used here", f.why, f.n)
	}
	return f.why
}

func addFolder(fs []folder, f folder) []folder {
	for i := range fs {
		if fs[i].rel == f.rel {
			fs[i].n++
			return fs
		}
	}
	return append(fs, f)
}

// minimal drops every folder that lies inside another of fs, counting its
// uses there.
func minimal(fs []folder) []folder {
	var out []folder
	for i, f := range fs {
		outer := -1
		for j, g := range fs {
			if i != j && within(f.rel, g.rel) && (f.rel != g.rel || j < i) {
				outer = j
				break
			}
		}
		if outer < 0 {
			out = append(out, f)
		}
	}
	for i := range out {
		n := 0
		for _, f := range fs {
			if within(f.rel, out[i].rel) {
				n += f.n
			}
		}
		out[i].n = n
	}
	return out
}

// narrower narrows one ceiling mount.
type narrower struct {
	m    *policy.Mount
	p    *policy.Policy
	root string // where m's host directory really is
	st   stateSet
}

// readable is the folder to mount for a use of rel: rel itself when it is
// a directory the tool may see, else the nearest such folder above it.
func (n narrower) readable(rel string) string {
	for {
		if n.mountable(rel, false) {
			return rel
		}
		rel = parent(rel)
	}
}

// writable is the folder to mount writable for a change in dir: dir
// itself, or, when dir is no real directory of its own (a symbolic link, a
// name that does not print as it is, gone by the end of the run), the
// nearest folder above it that is. ok is false when dir, or the folder
// that would have to be writable, is protected or hidden: that is never
// learned.
func (n narrower) writable(dir string) (string, bool) {
	for {
		if n.mountable(dir, true) {
			return dir, true
		}
		if n.refused(dir) || dir == "." {
			return "", false
		}
		dir = parent(dir)
	}
}

// refused reports whether rel may never be a writable mount: hidden,
// protected (by the ceiling or the built-in list), or airlock's state.
func (n narrower) refused(rel string) bool {
	return matchesAny(n.m.Hide, rel) || matchesAny(n.m.Protect, rel) || matchesAny(defaultProtect, rel) ||
		n.st.holds(hostJoin(n.root, rel))
}

// mountable reports whether the folder rel of the ceiling mount may be
// mounted on its own: the mount root always (it is the ceiling's own);
// below it, a directory reached without a symbolic link, not hidden (nor,
// to write, protected), not at or inside airlock's state or another
// mount's host directory, whose names print as they are.
func (n narrower) mountable(rel string, write bool) bool {
	if rel == "." {
		return true // the ceiling's own mount root
	}
	if _, ok := policy.MatchAny(n.m.Hide, rel); ok {
		return false
	}
	if write {
		if _, ok := policy.MatchAny(n.m.Protect, rel); ok {
			return false
		}
		if matchesAny(defaultProtect, rel) {
			return false
		}
	}
	host := hostJoin(n.root, rel)
	if n.st.holds(host) {
		return false
	}
	for _, o := range n.p.Mounts {
		if o.Guest == n.m.Guest {
			continue
		}
		oh := o.Real
		if oh == "" {
			oh = filepath.Clean(o.Host)
		}
		if oh != n.root && (oh == host || strings.HasPrefix(oh, n.root+string(filepath.Separator)) && strings.HasPrefix(host, oh+string(filepath.Separator))) {
			return false // another mount serves it
		}
	}
	p := n.root
	for _, name := range strings.Split(rel, "/") {
		if !printable(name) {
			return false
		}
		p = filepath.Join(p, name)
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			return false // missing, a file, or a symbolic link
		}
	}
	return true
}

// bound joins folders past maxFolders into the one that holds them all.
func (n narrower) bound(fs []folder, write bool) []folder {
	if len(fs) <= maxFolders {
		return fs
	}
	c := fs[0].rel
	total := 0
	for _, f := range fs {
		c = common(c, f.rel)
		total += f.n
	}
	for !n.mountable(c, write) {
		if write && c == "." {
			break
		}
		c = parent(c)
	}
	return []folder{{rel: c, why: fs[0].why, n: total}}
}

// patterns are the ceiling mount's own patterns (not the built-in ones,
// which every mount has, nor the managed ceiling's, which airlock places
// on every run) as they apply to the folder rel.
func (n narrower) patterns(ps []policy.Pattern, rel string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Origin.Layer == policy.LayerBuiltin || p.Origin.Layer == policy.LayerManaged {
			continue
		}
		all, below, err := p.Within(rel)
		if err != nil || all {
			continue // the folder was checked not to be covered
		}
		for _, q := range below {
			if !seen[q.Text] {
				seen[q.Text] = true
				out = append(out, q.Text)
			}
		}
	}
	return out
}

func matchesAny(ps []policy.Pattern, rel string) bool {
	_, ok := policy.MatchAny(ps, rel)
	return ok
}

// printable reports whether a name shows as it is: no control character,
// no bidirectional override or other invisible formatting a reader of the
// learned file could be misled by.
func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

func parent(rel string) string {
	if rel == "." {
		return "."
	}
	return path.Dir(rel)
}

// within reports whether rel is base or below it (clean relative paths).
func within(rel, base string) bool {
	return base == "." || rel == base || strings.HasPrefix(rel, base+"/")
}

// common is the deepest folder holding both a and b.
func common(a, b string) string {
	for !within(b, a) {
		a = parent(a)
	}
	return a
}

func guestJoin(guest, rel string) string {
	if rel == "." {
		return guest
	}
	return path.Join(guest, rel)
}

func hostJoin(root, rel string) string {
	if rel == "." {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// realOf is where p really is, as far as it exists.
func realOf(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
