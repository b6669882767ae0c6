package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/learn"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// maxLearnFile bounds a learned policy airlock reads back to merge into.
const maxLearnFile = 4 << 20

// learnFile is airlock run --learn FILE (docs/learn.md): the file, opened
// before anything runs as the --json report is (openReport: never through
// a symbolic link, never a FIFO, and writable behind the second wall
// through this descriptor), what it held, and what the run used.
type learnFile struct {
	path    string
	f       *os.File
	src     []byte
	created bool   // FILE did not exist: removed again if nothing is learned
	madeDir string // its folder, made for it (removed with it when empty)

	mu   sync.Mutex
	rec  learn.Recorder
	pol  *policy.Policy // the policy of the run (the last one, after on-failure reruns)
	tool string
	dig  string
	args []string
}

// openLearn opens FILE for --learn and reads what it holds. The file is a
// state path of the run (learnFile.statePath): no tool can change it
// through a mount while it runs.
func openLearn(path string) (*learnFile, error) {
	_, statErr := os.Lstat(path)
	madeDir := ""
	if _, err := os.Lstat(filepath.Dir(path)); errors.Is(err, os.ErrNotExist) {
		// .airlock/learned.hcl in a project that has no .airlock yet.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		madeDir = filepath.Dir(path)
	}
	f, err := openPolicyRW(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() > maxLearnFile {
		f.Close()
		return nil, fmt.Errorf("%s is larger than %d bytes; it is not a policy airlock wrote", path, maxLearnFile)
	}
	src := make([]byte, fi.Size())
	if _, err := f.ReadAt(src, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	l := &learnFile{path: path, f: f, src: src, created: errors.Is(statErr, os.ErrNotExist), madeDir: madeDir}
	if len(strings.TrimSpace(string(src))) > 0 {
		// Merging needs a valid file: say so before the tool runs.
		if _, diags := policy.Parse(src, path, policy.LayerProject, policy.BaseDir(path)); diags.HasErrors() {
			f.Close()
			policy.WriteDiagnostics(io.Discard, nil, diags)
			return nil, fmt.Errorf("%s is not a valid policy (see airlock policy check %s); fix it, or learn into another file", path, path)
		}
	}
	return l, nil
}

// openPolicyRW opens a learned policy to read and rewrite it, with the
// care openReport takes: never through a symbolic link in its last
// component (a tool may have planted one), never anything but a regular
// file (a FIFO would block airlock, a device is no policy).
func openPolicyRW(path string) (*os.File, error) {
	return openOwnFile(path, "a policy", os.O_RDWR)
}

// statePath keeps FILE out of every mount's reach for the run.
func (l *learnFile) statePaths() []host.StatePath {
	if l == nil {
		return nil
	}
	return []host.StatePath{{Path: l.path, What: "learned policy"}}
}

// prepareRun is runtime.Config.PrepareRun for a learning run: it watches
// the run's gate. nil without --learn.
func (l *learnFile) prepareRun() func(context.Context, *runtime.Spec, *host.Run) (context.Context, func(*runtime.Result)) {
	if l == nil {
		return nil
	}
	return func(ctx context.Context, spec *runtime.Spec, run *host.Run) (context.Context, func(*runtime.Result)) {
		run.Gate.Observe(l.rec.Use)
		l.mu.Lock()
		l.pol, l.tool, l.dig, l.args = spec.Policy, spec.Module.Name, spec.Module.Digest, spec.Args
		l.mu.Unlock()
		return ctx, nil
	}
}

// finish writes what res needed into FILE and says what it added. It
// returns false when FILE could not be written.
func (l *learnFile) finish(res *runtime.Result, state []host.StatePath, quiet bool, stderr io.Writer) bool {
	l.mu.Lock()
	pol := l.pol
	l.mu.Unlock()
	if res == nil || pol == nil {
		return true
	}
	n := learn.Learn(learnRun(res, pol, &l.rec, l.tool, l.dig, l.args), learn.Options{BaseDir: policy.BaseDir(l.path), State: statePathList(state, l.path)})
	out, added, err := learn.Merge(l.src, l.path, policy.BaseDir(l.path), n)
	if err != nil {
		fmt.Fprintf(stderr, "airlock: learning into %s: %v\n", l.path, err)
		return false
	}
	if string(out) != string(l.src) {
		if err := writeThrough(l.f, out); err != nil {
			fmt.Fprintf(stderr, "airlock: writing %s: %v\n", l.path, err)
			return false
		}
	}
	if quiet {
		return true
	}
	switch {
	case len(added) == 0:
		fmt.Fprintf(stderr, "airlock: learned nothing new: %s already allows what the tool did\n", l.path)
	default:
		fmt.Fprintf(stderr, "airlock: learned into %s (review it; docs/learn.md):\n", l.path)
		for _, a := range added {
			fmt.Fprintf(stderr, "airlock:   %s\n", approvals.NeutraliseLine(a))
		}
	}
	return true
}

// close closes FILE, and removes it again when airlock made it and
// nothing was learned (the tool never ran). Safe on nil.
func (l *learnFile) close() {
	if l == nil {
		return
	}
	if l.created {
		if fi, err := l.f.Stat(); err == nil && fi.Size() == 0 {
			os.Remove(l.path)
			if l.madeDir != "" {
				os.Remove(l.madeDir) // only if still empty
			}
		}
	}
	l.f.Close()
}

// learnRun is what learn.Learn needs of a finished run.
func learnRun(res *runtime.Result, pol *policy.Policy, rec *learn.Recorder, tool, digest string, args []string) learn.Run {
	r := learn.Run{
		Policy: pol, Recorder: rec, Decisions: res.Decisions,
		Tool: tool, Digest: digest, Args: args,
		Memory: res.Memory, Duration: res.Duration,
		Output:    max(res.Stdout.Bytes, res.Stderr.Bytes),
		OutputCut: res.Stdout.Truncated || res.Stderr.Truncated,
		TimedOut:  res.Reason == runtime.Timeout,
	}
	switch {
	case res.Reason != runtime.Exited:
		r.Failed = "ended: " + string(res.Reason)
		r.Memory = 0 // not measured, or the limit: the ceiling's stays
	case res.ExitCode != 0:
		r.Failed = fmt.Sprintf("exited with status %d", res.ExitCode)
	}
	return r
}

// statePathList is airlock's state as plain host paths, with extra ones.
func statePathList(state []host.StatePath, extra ...string) []string {
	var out []string
	for _, s := range state {
		out = append(out, s.Path)
	}
	out = append(out, extra...)
	if c := runtime.DefaultCacheDir(); c != "" && c != "-" {
		out = append(out, c)
	}
	return out
}

// writeThrough replaces f's contents with b through the open descriptor.
func writeThrough(f *os.File, b []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Sync()
}

// learnDir is airlock mcp --learn DIR: one learned policy per tool,
// DIR/TOOL.hcl, merged into after each call.
type learnDir struct {
	dir   string
	state []host.StatePath
	log   *slog.Logger
	mu    sync.Mutex // one merge at a time
}

// refuseToolWritten refuses to merge into path, which already holds a
// policy, when it lies in a mount of pol a tool may write: a tool run
// there earlier could have written rules into it (with comments that read
// as learned), and merging keeps whatever the file holds. A new file is
// fine: it is airlock's state while the run lasts.
func refuseToolWritten(path string, holds bool, pol *policy.Policy) error {
	if link, m, ok := linkInWritableMount(path, pol); ok {
		return fmt.Errorf("%s is reached through the symbolic link %s, inside the writable mount %s (%s), which a tool could have made to send what airlock learns into a file of its choosing (%s); "+
			"name the real place, or remove the link", path, link, m.Guest, m.Host, realPath(path))
	}
	if !holds {
		return nil
	}
	if m, ok := runtime.WritableMount(pol, path); ok {
		return fmt.Errorf("%s already holds a policy and lies inside the writable mount %s (%s), so a tool could have written rules into it that learning would keep; "+
			"review it and move it out of the mount, or remove it to learn afresh", path, m.Guest, m.Host)
	}
	return nil
}

// refuseLinkOnWay refuses path, a file airlock writes (what: "the report"),
// when a folder on the way to it is a symbolic link inside a writable
// mount of pol: a tool could have made it (out -> .git) to send the file
// into a protected folder, under the name the person chose.
func refuseLinkOnWay(path, what string, pol *policy.Policy) error {
	if link, m, ok := linkInWritableMount(path, pol); ok {
		return fmt.Errorf("%s is reached through the symbolic link %s, inside the writable mount %s (%s), which a tool could have made to send %s into a file of its choosing (%s); "+
			"name the real place, or remove the link", path, link, m.Guest, m.Host, what, realPath(path))
	}
	return nil
}

// linkInWritableMount finds a folder on the way to path (as given) that is
// a symbolic link lying in a mount of pol a tool may write: the tool could
// have made it in an earlier run, pointing into .airlock/ or .git/, where
// it may not write itself, and airlock would merge what it learns into a
// policy there (a person's CI policy, say).
func linkInWritableMount(path string, pol *policy.Policy) (link string, m policy.Mount, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", policy.Mount{}, false
	}
	for _, dir := range linksOnTheWay(filepath.Dir(abs)) {
		if m, ok := mountHolding(pol, filepath.Dir(dir)); ok {
			return dir, m, true
		}
	}
	return "", policy.Mount{}, false
}

// mountHolding returns a writable mount of pol whose host folder holds
// dir (or is it), outside its protect and hide patterns: a tool there can
// make or replace dir's entries. A folder that merely contains a mount (a
// /home that is a link, above the project) is not one: no tool can touch
// its entries.
func mountHolding(pol *policy.Policy, dir string) (policy.Mount, bool) {
	real := realPath(dir)
	for _, m := range pol.Mounts {
		rel, err := filepath.Rel(realPath(m.Host), real)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		// WritableMount of this mount alone: its access and its patterns.
		if wm, ok := runtime.WritableMount(&policy.Policy{Mounts: []policy.Mount{m}}, real); ok {
			return wm, true
		}
	}
	return policy.Mount{}, false
}

// linksOnTheWay returns every folder on the way to abs, an absolute path,
// abs included, that is a symbolic link, nearest to the root first.
func linksOnTheWay(abs string) []string {
	var links []string
	for p := abs; p != filepath.Dir(p); p = filepath.Dir(p) {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			links = append([]string{p}, links...)
		}
	}
	return links
}

// realPath is path with its symbolic links resolved as far as it exists.
func realPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(r, filepath.Base(abs))
	}
	return abs
}

// openLearnDir makes DIR if needed and checks it is a directory.
func openLearnDir(dir string) (*learnDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return &learnDir{dir: abs}, nil
}

// path is DIR, "" without --learn.
func (d *learnDir) path() string {
	if d == nil {
		return ""
	}
	return d.dir
}

// toolNameObserver puts the MCP tool of each request in its context, where
// learnDir.prepareRun finds it, and passes the request on to inner.
type toolNameObserver struct{ inner mcp.Observer }

func (o toolNameObserver) Start(ctx context.Context, r mcp.RequestStart) context.Context {
	if r.Tool != "" {
		ctx = context.WithValue(ctx, learnToolKey{}, r.Tool)
	}
	if o.inner != nil {
		return o.inner.Start(ctx, r)
	}
	return ctx
}

func (o toolNameObserver) End(ctx context.Context, r mcp.RequestRecord) {
	if o.inner != nil {
		o.inner.End(ctx, r)
	}
}

func (d *learnDir) statePaths() []host.StatePath {
	if d == nil {
		return nil
	}
	return []host.StatePath{{Path: d.dir, What: "learned policies"}}
}

// learnToolKey carries the MCP tool a call is for, in the context of its
// run (toolNameObserver).
type learnToolKey struct{}

func (d *learnDir) prepareRun() func(context.Context, *runtime.Spec, *host.Run) (context.Context, func(*runtime.Result)) {
	if d == nil {
		return nil
	}
	return func(ctx context.Context, spec *runtime.Spec, run *host.Run) (context.Context, func(*runtime.Result)) {
		rec := &learn.Recorder{}
		run.Gate.Observe(rec.Use)
		tool, _ := ctx.Value(learnToolKey{}).(string)
		if tool == "" {
			tool = spec.Module.Name
		}
		pol, digest, args := spec.Policy, spec.Module.Digest, spec.Args
		return ctx, func(res *runtime.Result) {
			if res == nil {
				return
			}
			if err := d.write(tool, learnRun(res, pol, rec, tool, digest, args)); err != nil {
				d.log.Error("mcp: learning for "+tool+": "+err.Error(), "tool", tool)
			}
		}
	}
}

// write merges run into DIR/TOOL.hcl.
func (d *learnDir) write(tool string, run learn.Run) error {
	name := strings.TrimLeft(tool, ".")
	if name == "" || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("no file name for the tool %q", tool)
	}
	path := filepath.Join(d.dir, name+".hcl")
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := openPolicyRW(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > maxLearnFile {
		return fmt.Errorf("%s is larger than %d bytes", path, maxLearnFile)
	}
	src := make([]byte, fi.Size())
	if _, err := f.ReadAt(src, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	base := policy.BaseDir(path)
	n := learn.Learn(run, learn.Options{BaseDir: base, State: statePathList(d.state, d.dir)})
	out, added, err := learn.Merge(src, path, base, n)
	if err != nil {
		return err
	}
	if string(out) == string(src) {
		return nil
	}
	if err := writeThrough(f, out); err != nil {
		return err
	}
	d.log.Info("mcp: learned", "tool", tool, "file", path, "added", len(added))
	return nil
}
