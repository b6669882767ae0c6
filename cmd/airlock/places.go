package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/policy"
)

// boundByCeiling loads the managed ceiling, resolves where every mount of
// pol and of the ceiling really is (symbolic links followed, on the host:
// the policy package does no I/O of its own), and bounds pol by it. The
// managed rules then hold on the places they name, whichever mount exposes
// them. It returns the resolved ceiling (for the broker, which bounds
// grants with it) and the bounded policy; the diagnostics are written to
// stderr.
func boundByCeiling(pol *policy.Policy, stderr io.Writer) (policy.Ceiling, *policy.Policy, error) {
	var l policy.Loader
	ceiling, diags := l.LoadCeiling(policy.ManagedPaths(os.LookupEnv))
	if err := diagnosed(stderr, diags); err != nil {
		return nil, nil, err
	}
	ceiling, diags = ceiling.Resolve(filepath.EvalSymlinks)
	if err := diagnosed(stderr, diags); err != nil {
		return nil, nil, err
	}
	pol, diags = pol.Resolve(filepath.EvalSymlinks)
	if err := diagnosed(stderr, diags); err != nil {
		return nil, nil, err
	}
	if err := mountThroughLink(pol); err != nil {
		return nil, nil, err
	}
	pol, diags = ceiling.Apply(pol)
	if err := diagnosed(stderr, diags); err != nil {
		return nil, nil, err
	}
	return ceiling, pol, nil
}

// mountThroughLink refuses a mount whose host folder, as written, is
// really somewhere else because of a symbolic link a tool may have made in
// an earlier run:
//   - a mount that reaches a protected folder (.git, .airlock, …) only
//     through a link (build -> .git): protect patterns match names below a
//     mount's root, never the folders of the root itself;
//   - a writable mount through a link inside the working folder, where a
//     tool under the built-in default could write (out -> . turned a
//     writable ./out into the whole project, read-only in the policy).
//
// A link above the working folder (a /home that is a link) is the
// machine's and stays allowed; so does a link the person names as the
// host itself outside the working folder. The error says to name the
// real place, which is always accepted.
func mountThroughLink(pol *policy.Policy) error {
	protected := policy.DefaultProtect()
	sep := string(filepath.Separator)
	wd, _ := os.Getwd()
	for _, m := range pol.Mounts {
		written := strings.Split(filepath.Clean(m.Host), sep)
		for _, c := range strings.Split(m.Real, sep) {
			if slices.Contains(protected, c) && !slices.Contains(written, c) {
				return fail(ExitUsage, "mount %s: the host folder %s is really %s, inside the protected %s, reached through a symbolic link a tool could have made; "+
					"name the real place, or remove the link", m.Guest, m.Host, m.Real, c)
			}
		}
		if m.Access != policy.Write || wd == "" {
			continue
		}
		if link := linkBelow(wd, filepath.Clean(m.Host)); link != "" {
			to, _ := filepath.EvalSymlinks(link)
			return fail(ExitUsage, "mount %s: the writable host folder %s passes through the symbolic link %s (to %s), inside the working folder, where a tool could have made it; "+
				"name the real place (%s) if that is what you mean, or remove the link", m.Guest, m.Host, link, to, m.Real)
		}
	}
	return nil
}

// linkBelow returns the first folder on the way to path (path included)
// that is a symbolic link strictly below dir; "" if there is none.
func linkBelow(dir, path string) string {
	for _, l := range linksOnTheWay(path) {
		if rel, err := filepath.Rel(dir, l); err == nil && rel != "." && filepath.IsLocal(rel) {
			return l
		}
	}
	return ""
}

// projectPolicy returns the project's policy file in cwd,
// .airlock/policy.hcl, or "" when there is none.
func projectPolicy(cwd string) string {
	if p := filepath.Join(cwd, policy.ProjectDir, "policy.hcl"); exists(p) {
		return p
	}
	return ""
}

// broadWorkDir says whether cwd is a folder the built-in default must not
// hand to a tool writable: the root of the filesystem, the user's home
// folder, or a folder that contains it. what says which, for messages.
func broadWorkDir(cwd string) (what string, broad bool) {
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return filepath.Clean(p)
	}
	dir := real(cwd)
	if dir == string(filepath.Separator) || filepath.Dir(dir) == dir {
		return "the root of the filesystem", true
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" || !filepath.IsAbs(home) {
		return "", false
	}
	home = real(home)
	switch {
	case home == dir:
		return "your home folder", true
	case strings.HasPrefix(home, dir+string(filepath.Separator)):
		return "a folder that contains your home folder " + home, true
	}
	return "", false
}

// readOnlyDefault returns the built-in default policy for cwd, with /work
// read-only when cwd is too broad a folder to hand to a tool writable (see
// broadWorkDir), and says so on stderr. A write there is then a question
// (a person at a terminal may allow it), never done silently.
func readOnlyDefault(cwd string, stderr io.Writer) *policy.Policy {
	p := policy.Default(cwd)
	what, broad := broadWorkDir(cwd)
	if !broad {
		return p
	}
	for i := range p.Mounts {
		p.Mounts[i].Access = policy.Read
	}
	fmt.Fprintf(stderr, "airlock: no policy, and %s is %s: /work is read-only for this run (writes are asked about); run in a project folder, or give --policy FILE\n", cwd, what)
	return p
}
