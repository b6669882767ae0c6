package host

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// StatePath is a host path that holds airlock's own state: its compile
// cache, grants files, audit log, policy files, configuration folder. What
// is written there decides what airlock does next time (or is native code
// it runs), so no tool may change it, whatever mount exposes it; a Secret
// one may not be read either.
type StatePath struct {
	Path   string // host path; relative paths are taken from the working directory
	What   string // for people and decision records: "compile cache", "user grants", …
	Secret bool   // unreadable too (the compile cache and its key, grants)
}

// ErrProcessFS is in the error of NewFS for a mount whose host directory
// is in the process filesystem (/proc): airlock's own process, which no
// tool may reach (fs_proc_linux.go).
var ErrProcessFS = errors.New("process filesystem")

// StateRulePrefix starts the Rule of every decision that keeps a tool
// away from airlock's state: "airlock state: compile cache".
const StateRulePrefix = "airlock state: "

// State is a set of state paths resolved to where they really are on the
// host. One State serves every mount of a run (FS.GuardState); it is safe
// for concurrent use.
type State struct {
	objs    []stateObj
	anchors []stateAnchor // every entry on the way to a state path, sorted

	index stateIndex // by (device, inode), Linux only
}

// stateObj is one state path where it really is.
type stateObj struct {
	real   string // absolute, symlinks resolved as far as the path exists
	asked  string // absolute, as given: what airlock itself opens
	what   string
	secret bool
}

// stateAnchor is an entry on the way to a state path: a directory that
// holds it, or a symlink that leads to it.
type stateAnchor struct {
	path string // absolute host path of the entry itself
	obj  int    // index in State.objs of the state path it leads to
}

// maxStateHops bounds the symlinks followed while resolving a state path.
const maxStateHops = 40

// NewState resolves paths: each is made absolute and its symlinks are
// followed as far as it exists, so that a mount that reaches the same
// place under another name is still recognised. Every entry met on the way
// (each directory, and each symlink and what it names) is kept as an
// anchor: renaming or replacing one of those would make airlock's next
// lookup of the path land somewhere a tool chose. Empty paths are skipped.
func NewState(paths []StatePath) *State {
	s := &State{}
	type resolved struct {
		obj     stateObj
		visited []string
	}
	var rs []resolved
	for _, p := range paths {
		if p.Path == "" {
			continue
		}
		abs, err := filepath.Abs(p.Path)
		if err != nil {
			continue
		}
		real, visited := resolveHostPath(abs)
		rs = append(rs, resolved{stateObj{real: real, asked: filepath.Clean(abs), what: p.What, secret: p.Secret}, visited})
	}
	// The most specific path first: a grants file inside the configuration
	// folder is named as the grants file.
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].obj.real) > len(rs[j].obj.real) })
	seen := map[string]bool{}
	for i, r := range rs {
		s.objs = append(s.objs, r.obj)
		for _, a := range r.visited {
			if !seen[a] {
				seen[a] = true
				s.anchors = append(s.anchors, stateAnchor{path: a, obj: i})
			}
		}
	}
	sort.Slice(s.anchors, func(i, j int) bool { return s.anchors[i].path < s.anchors[j].path })
	return s
}

// NewStateLike is NewState(paths), or prev when prev resolved the same
// paths to the same places and nothing in them changed since prev built
// its index by device and inode (Linux: no folder it walked gained, lost
// or renamed an entry, which inotify watches tell, and every anchor is the
// same inode), so a new walk would find the same folders. Building the
// index walks every folder of the state, about five system calls each, at
// every run; checking it costs one read and an lstat per anchor. A prev
// that is not returned is closed: the caller gives it up.
func NewStateLike(paths []StatePath, prev *State) *State {
	s := NewState(paths)
	if prev == nil {
		return s
	}
	if slices.Equal(s.objs, prev.objs) && slices.Equal(s.anchors, prev.anchors) && prev.index.unchanged() {
		return prev
	}
	prev.Close()
	return s
}

// NewStateOnce is NewState for a State that guards one run only, in a
// process that then ends (runtime.Config.OneShot): nothing will ask
// whether it changed since (NewStateLike), so its index keeps no inotify
// watch. Closing an inotify descriptor that watches waits for the kernel's
// grace period (synchronize_srcu): 7-13 ms of a cold run that takes 21.
// Such a State is never found unchanged.
func NewStateOnce(paths []StatePath) *State {
	s := NewState(paths)
	s.Close() // before its index is built: it then never watches
	return s
}

// Close releases what the State holds to tell whether it changed (an
// inotify descriptor on Linux). Mounts it already guards keep working.
func (s *State) Close() {
	if s != nil {
		s.index.close()
	}
}

// Within returns the state paths at or below host directory dir (what a
// mount of dir exposes).
func (s *State) Within(dir string) []StatePath {
	if s == nil {
		return nil
	}
	var out []StatePath
	for _, o := range s.objs {
		if under(o.real, dir) || under(dir, o.real) {
			out = append(out, StatePath{Path: o.real, What: o.what, Secret: o.secret})
		}
	}
	return out
}

// stateRule is the Rule of a decision that keeps a tool away from state.
func stateRule(what, how string) string { return StateRulePrefix + what + how }

// stateOrigin is where the state rules are written: nowhere; airlock
// always applies them.
var stateOrigin = policy.Origin{Layer: policy.LayerBuiltin}

// under reports whether host path p is dir or lies beneath it (both clean
// and absolute).
func under(p, dir string) bool {
	if dir == "/" || dir == string(filepath.Separator) {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// resolveHostPath resolves the symlinks in abs as far as it exists and
// returns where it really is, and every entry visited on the way: each
// directory entry walked through, and each symlink (and the entries on the
// way to what it names). What does not exist yet is appended as written.
func resolveHostPath(abs string) (real string, visited []string) {
	vol := filepath.VolumeName(abs)
	cur := vol + string(filepath.Separator)
	queue := splitPath(abs[len(vol):])
	hops := 0
	missing := false
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		visited = append(visited, next)
		if missing {
			cur = next
			continue
		}
		fi, err := os.Lstat(next)
		switch {
		case err != nil:
			missing = true
			cur = next
		case fi.Mode()&os.ModeSymlink != 0 && hops < maxStateHops:
			hops++
			target, err := os.Readlink(next)
			if err != nil {
				missing = true
				cur = next
				continue
			}
			if filepath.IsAbs(target) {
				v := filepath.VolumeName(target)
				cur = v + string(filepath.Separator)
				target = target[len(v):]
			}
			queue = append(splitPath(target), queue...)
		default:
			cur = next
		}
	}
	return cur, visited
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == filepath.Separator })
}
