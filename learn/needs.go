package learn

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
)

// Run is one tool run as Learn needs it: the policy it ran under (the
// ceiling: nothing learned reaches past it), what the Recorder saw, its
// decisions, and what it measured.
type Run struct {
	Policy    *policy.Policy
	Recorder  *Recorder
	Decisions []decision.Decision

	Tool   string   // the tool's name, for the file's header
	Digest string   // its module's digest
	Args   []string // its arguments

	Memory    uint64        // bytes of linear memory at the end (its peak: WebAssembly memory never shrinks)
	Duration  time.Duration // wall time of the run
	Output    int64         // bytes written to the larger of stdout and stderr
	OutputCut bool          // an output stream reached the limit
	TimedOut  bool          // the run reached its time limit
	// Failed says how the run failed ("exit status 2", "timeout"), empty
	// when it exited 0: what it learned then covers only what the tool did
	// before it stopped.
	Failed string
}

// Options say where the learned policy goes and what must never be in it.
type Options struct {
	// BaseDir is the folder relative hosts of the learned file resolve
	// against (policy.BaseDir of the file), absolute.
	BaseDir string
	// State lists host paths of airlock's own state (its policy files,
	// grants, audit log, caches, the learned file itself): nothing at or
	// below one is learned, whatever the tool did there.
	State []string
	// LookupEnv reads the host environment, for the variables the policy
	// passes; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
}

// Needs is the narrowest policy that lets the run happen again with no
// question, before it is written (Merge).
type Needs struct {
	Tool, Digest string
	Args         []string
	Failed       string

	Mounts      []MountNeed
	Env         EnvNeed
	Net         []NetNeed
	Credentials []CredentialNeed
	Limits      LimitsNeed
	// Notes are what was not learned, and why: denials, writes to
	// protected paths, airlock's state. Each becomes a comment.
	Notes []string
}

// MountNeed is one folder the tool used.
type MountNeed struct {
	Guest   string // its guest path
	Host    string // its host directory, absolute, with no symbolic link below the ceiling mount's
	Access  policy.Access
	Protect []string // the ceiling mount's own protect patterns that still apply there
	Hide    []string // and hide patterns
	Why     string   // the first use that needed it
}

// EnvNeed is the environment the tool was given.
type EnvNeed struct {
	Pass []string
	Set  map[string]string
	Why  map[string]string // per name, for the comment
	// Withheld lists names set in the ceiling that were not copied
	// (their values look like secrets).
	Withheld []string
}

// NetNeed is one network rule, with the connection that needed it.
type NetNeed struct {
	Rule string
	Dest policy.Dest
	Why  string
}

// CredentialNeed is a credential the host added to the tool's requests,
// narrowed to the hosts it was added for.
type CredentialNeed struct {
	policy.Credential
	Hosts []string
	Why   string
}

// LimitsNeed holds limits a margin above what the run used. A zero field is
// not written.
type LimitsNeed struct {
	Memory    uint64
	Timeout   time.Duration
	Output    int64
	OpenFiles int
	Why       string
}

// Learn works out what run needed, bounded by the policy it ran under.
func Learn(run Run, opt Options) *Needs {
	if opt.LookupEnv == nil {
		opt.LookupEnv = os.LookupEnv
	}
	rec := run.Recorder
	if rec == nil {
		rec = &Recorder{}
	}
	paths, overflow, conns, connsCut := rec.snapshot()
	n := &Needs{Tool: run.Tool, Digest: run.Digest, Args: run.Args, Failed: run.Failed}
	st := newStateSet(opt.State)
	denied := deniedTargets(run.Decisions)
	for i := range run.Policy.Mounts {
		m := &run.Policy.Mounts[i]
		var whole *overflowUse
		if o, ok := overflow[mountName(m.Guest)]; ok {
			whole = &o
		}
		ms, notes := learnMount(m, run.Policy, paths, whole, denied, st)
		n.Mounts = append(n.Mounts, ms...)
		n.Notes = append(n.Notes, notes...)
	}
	n.Env = learnEnv(run.Policy, opt.LookupEnv)
	if len(n.Mounts) > 0 && len(run.Policy.Mounts) > 0 {
		// Go's WASI runtime takes the first mount as its working
		// directory when there is no PWD: narrowing it moves where
		// relative paths lead, so PWD keeps it where it was.
		first := run.Policy.Mounts[0].Guest
		_, pass := passes(run.Policy.Env, "PWD")
		if _, set := run.Policy.Env.Set["PWD"]; !set && !pass && n.Mounts[0].Guest != first {
			if n.Env.Set == nil {
				n.Env.Set = map[string]string{}
			}
			n.Env.Set["PWD"] = first
			n.Env.Why["PWD"] = "the working directory a Go tool had (the first mount, " + first + "), now that the first mount is narrower"
		}
	}
	var netNotes []string
	n.Net, netNotes = learnNet(conns, connsCut)
	n.Notes = append(n.Notes, netNotes...)
	n.Credentials = learnCredentials(run.Policy, run.Decisions)
	n.Limits = learnLimits(run)
	n.Notes = append(n.Notes, deniedNotes(run.Decisions)...)
	return n
}

func passes(e policy.Env, name string) (int, bool) {
	for i, p := range e.Pass {
		if p == name {
			return i, true
		}
	}
	return -1, false
}

func mountName(guest string) string {
	if guest == "" {
		return "/"
	}
	return guest
}

// deniedTargets is every filesystem target a decision denied, as guest
// paths: a name the tool looked up there is not evidence of a folder it
// used.
func deniedTargets(ds []decision.Decision) map[string]bool {
	out := map[string]bool{}
	for _, d := range ds {
		if d.Allowed || !strings.HasPrefix(string(d.Kind), "fs.") {
			continue
		}
		for _, t := range strings.Split(d.Target, " -> ") {
			out[t] = true
		}
	}
	return out
}

// maxNotes bounds the denials written as comments for one run.
const maxNotes = 12

// deniedNotes says, one line each, what the run was refused: none of it is
// learned.
func deniedNotes(ds []decision.Decision) []string {
	var out []string
	seen := map[string]bool{}
	more := 0
	for _, d := range ds {
		if d.Allowed {
			continue
		}
		line := fmt.Sprintf("denied while learning, not granted: %s %s %s", d.Kind, d.Op, d.Target)
		if d.Rule != "" {
			line += " (" + d.Rule + ")"
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		if len(out) == maxNotes {
			more++
			continue
		}
		out = append(out, line)
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("… and %d more denials (the audit log has them all)", more))
	}
	return out
}

// learnEnv is the environment the policy gave the tool. WASI's environ_get
// hands a tool every variable at once, and what it then reads stays inside
// the guest: no host can see which it used. So this is what the policy
// passed (the pass names set on the host now) and set, except values that
// look like secrets, which a person must copy themselves.
func learnEnv(p *policy.Policy, lookup func(string) (string, bool)) EnvNeed {
	e := EnvNeed{Set: map[string]string{}, Why: map[string]string{}}
	for _, name := range p.Env.Pass {
		if _, ok := lookup(name); ok {
			e.Pass = append(e.Pass, name)
			e.Why[name] = "passed by " + originWords(p.Env.Origins[name])
		}
	}
	for name, v := range p.Env.Set {
		if secretName(name) {
			e.Withheld = append(e.Withheld, name)
			continue
		}
		e.Set[name] = v
		e.Why[name] = "set by " + originWords(p.Env.Origins[name])
	}
	sort.Strings(e.Withheld)
	return e
}

// secretName reports whether a variable's name says it holds a secret
// (the words Codex drops by default).
func secretName(name string) bool {
	u := strings.ToUpper(name)
	for _, w := range []string{"KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

func originWords(o policy.Origin) string {
	switch o.Layer {
	case policy.LayerBuiltin, "":
		return "the built-in default"
	case policy.LayerFlag:
		return "a flag"
	}
	if o.Range.Filename != "" {
		return o.String()
	}
	return string(o.Layer)
}

// stateSet is airlock's own state, by where each path really is.
type stateSet []string

func newStateSet(paths []string) stateSet {
	var s stateSet
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		s = append(s, filepath.Clean(abs))
		if r, err := filepath.EvalSymlinks(abs); err == nil && r != abs {
			s = append(s, r)
		}
	}
	return s
}

// holds reports whether the host path p is at or below a state path.
func (s stateSet) holds(p string) bool {
	for _, st := range s {
		if p == st || strings.HasPrefix(p, st+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
