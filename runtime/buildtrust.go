package runtime

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/airlockhq/airlock/internal/wasmbuild"
	"github.com/airlockhq/airlock/policy"
)

// Exposure is a place that a build of a Go tool folder reads and that a
// tool running under a policy can change: a writable mount reaches it.
type Exposure struct {
	What  string       // "the tool folder", "its module", "the module cache", "the build cache", "the go command", "GOROOT"
	Path  string       // the place on the host, symlinks resolved
	Mount policy.Mount // the write mount that reaches it
	// Toolchain is true for the go command and GOROOT: native code that
	// airlock runs, outside every sandbox.
	Toolchain bool
}

func (x Exposure) String() string {
	return fmt.Sprintf("%s %s is inside the writable mount %s (%s)", x.What, x.Path, x.Mount.Guest, x.Mount.Host)
}

// BuildExposures lists what of a build of the Go tool folder dir a tool
// running under p could have changed: the folder, its module (the folder
// of its go.mod), the module and build caches, and the Go toolchain
// itself. Places are compared by their real host locations (symlinks
// resolved) with every write mount of p, in both directions: a mount
// inside the module counts as much as the module inside a mount. A place
// covered by a protect or hide pattern of the mount is out of the tool's
// reach. A path that is not a folder (a .wasm file) has none.
//
// `airlock mcp` refuses to build an exposed tool folder unless its
// manifest pins the module's digest, and both commands refuse an exposed
// toolchain; `airlock run` warns about the rest.
func (e *Engine) BuildExposures(ctx context.Context, dir string, p *policy.Policy) ([]Exposure, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || p == nil {
		return nil, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The go command is checked where PATH finds it, before anything runs
	// it: finding the toolchain runs `go env`, natively. Its folder is
	// checked as found too, so that a link there to a real go, which a
	// tool could replace, is not taken for the go it leads to.
	if goPath, err := wasmbuild.LookGo(e.cfg.GoTool); err == nil {
		for _, at := range []string{goPath, filepath.Dir(goPath)} {
			if m, ok := WritableMount(p, at); ok {
				return []Exposure{{What: "the go command", Path: goPath, Mount: m, Toolchain: true}}, nil
			}
		}
	}
	tc, err := e.goToolchain(ctx)
	if err != nil {
		return nil, err
	}
	places := []struct {
		what, path string
		toolchain  bool
	}{
		{"the tool folder", abs, false},
		{"its module", wasmbuild.ModuleRoot(abs), false},
		{"the module cache", tc.GOMODCACHE, false},
		{"the build cache", tc.GOCACHE, false},
		{"the go command", tc.Go, true},
		{"GOROOT", tc.GOROOT, true},
	}
	var out []Exposure
	seen := map[string]bool{}
	for _, pl := range places {
		if pl.path == "" {
			continue
		}
		real := realPath(pl.path)
		if seen[real] {
			continue
		}
		seen[real] = true
		if m, ok := WritableMount(p, real); ok {
			out = append(out, Exposure{What: pl.what, Path: real, Mount: m, Toolchain: pl.toolchain})
		}
	}
	return out, nil
}

// WritableMount returns a write mount of p through which a tool can change
// path or something below it: the mount's host folder holds path, outside
// its protect and hide patterns, or lies inside path. Both are compared as
// real host locations, so a symlink on either side does not hide one from
// the other.
func WritableMount(p *policy.Policy, path string) (policy.Mount, bool) {
	real := realPath(path)
	for _, m := range p.Mounts {
		if m.Access != policy.Write {
			continue
		}
		root := realPath(m.Host)
		if within(real, root) {
			return m, true // the mount lies inside path (or is it)
		}
		if !within(root, real) {
			continue
		}
		rel, err := filepath.Rel(root, real)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		if _, ok := policy.MatchAny(m.Protect, rel); ok {
			continue
		}
		if _, ok := policy.MatchAny(m.Hide, rel); ok {
			continue
		}
		return m, true
	}
	return policy.Mount{}, false
}

// WithWritable returns p with the mounts at the guest paths given (a
// manifest's requests.write) counted as writable, for BuildExposures: a
// person may grant them, and then a tool can change what lies there. p is
// not changed.
func WithWritable(p *policy.Policy, guests []string) *policy.Policy {
	if len(guests) == 0 {
		return p
	}
	v := *p
	v.Mounts = slices.Clone(p.Mounts)
	for i := range v.Mounts {
		for _, g := range guests {
			if path.Clean(g) == v.Mounts[i].Guest {
				v.Mounts[i].Access = policy.Write
			}
		}
	}
	return &v
}

// HiddenFrom returns a function that says whether host path lies in a
// mount of p and matches one of its hide patterns, and which: a file the
// tool may not read, which a build of its folder must not compile or
// embed into it (LoadOptions.Hidden). "" when it is not hidden.
func HiddenFrom(p *policy.Policy) func(path string) string {
	return func(path string) string {
		real := realPath(path)
		for _, m := range p.Mounts {
			root := realPath(m.Host)
			if !within(root, real) {
				continue
			}
			rel, err := filepath.Rel(root, real)
			if err != nil {
				continue
			}
			if pat, ok := policy.MatchAny(m.Hide, filepath.ToSlash(rel)); ok {
				return fmt.Sprintf("hide %q of the mount %s", pat.Text, m.Guest)
			}
		}
		return ""
	}
}

// realPath is path absolute with its symlinks resolved; for a path that
// does not exist (yet), its longest existing ancestor is resolved and the
// rest appended.
func realPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for d := abs; ; {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		rest = filepath.Join(filepath.Base(d), rest)
		d = parent
	}
}
