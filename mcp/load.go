package mcp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Reload reads the tools folder again and brings the tools on offer up to
// date: new and changed tools are added, removed ones dropped, and
// connected clients told (notifications/tools/list_changed). A tool is
// listed as soon as its manifest is read; its module is loaded (built, for
// Go source) and compiled in the background, and a call that comes first
// waits for it. A manifest or module that cannot be used is reported
// (Problems, the log, a log notification to clients that asked for them)
// and left out while the others load. Reload fails only when the folder
// cannot be read at the start (New); once serving, a folder that cannot be
// read (removed, renamed, its permissions changed) withdraws every tool
// and is reported once, like a malformed manifest, and the tools come back
// when the folder does.
func (s *Server) Reload(ctx context.Context) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()

	// The fingerprint is taken before reading, so that a change made while
	// the folder is read is seen by the next poll.
	s.mu.Lock()
	roots := s.watched()
	s.mu.Unlock()
	seen := scan(roots)
	var problems []string
	var ms []*manifest.Manifest
	var diags hcl.Diagnostics
	if _, err := os.ReadDir(s.opts.ToolsDir); err != nil {
		if !s.serving {
			return fmt.Errorf("loading tools: %w", err)
		}
		problems = append(problems, s.folderProblem(err))
	} else {
		ms, diags = manifest.LoadDir(s.opts.ToolsDir)
		if diags.HasErrors() && s.serving {
			_, err = os.ReadDir(s.opts.ToolsDir)
		}
		if err != nil {
			// The folder went away while it was read (found in CI: its
			// removal raced this reload): the same problem as above, in
			// the same words, so that it is reported once, as such.
			ms, diags = nil, nil
			problems = append(problems, s.folderProblem(err))
		}
	}
	writable := writableView(s.opts.Policy, ms)

	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			problems = append(problems, diagLine(d))
		} else if !s.warned[diagLine(d)] {
			s.warned[diagLine(d)] = true
			s.log.Warn("mcp: " + diagLine(d))
		}
	}

	s.mu.Lock()
	old := s.tools
	s.mu.Unlock()
	tools := map[string]*tool{}
	var fresh []*tool
	for _, m := range ms {
		// Checked for every tool, changed or not: another manifest may
		// have made its folder writable (requests.write).
		untrusted, err := s.checkBuild(ctx, m, writable)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: tool %q not loaded: %v", hclx.Pos(m.Range), m.Name, err))
			continue
		}
		modSeen := scan([]string{m.Module})
		if o := old[m.Name]; o != nil && o.loadErr == nil && reflect.DeepEqual(o.manifest, m) && o.modSeen == modSeen && o.untrusted == untrusted {
			tools[m.Name] = o // unchanged: keep it, compiled module and all
			continue
		}
		t, err := s.newTool(m, modSeen)
		if err == nil {
			t.untrusted = untrusted
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: tool %q not loaded: %v", hclx.Pos(m.Range), m.Name, err))
			continue
		}
		tools[m.Name] = t
		fresh = append(fresh, t)
	}
	sort.Strings(problems)

	s.mu.Lock()
	before := s.problemsLocked()
	s.tools, s.problems = tools, problems
	clear(s.failed) // fresh tools retry; a removed one is no longer a problem
	if now := s.watched(); !slices.Equal(roots, now) {
		seen = scan(now) // new module paths, fingerprinted as read
	}
	s.seen = seen
	s.mu.Unlock()

	var gone []string
	for name := range old {
		if _, ok := tools[name]; !ok {
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 {
		s.sdk.RemoveTools(gone...)
	}
	for _, t := range fresh {
		s.sdk.AddTool(t.def, s.handler(t))
		s.loading.Add(1)
		go s.load(t)
	}

	var news []string
	for _, p := range problems {
		if !slices.Contains(before, p) {
			s.log.Error("mcp: tool not loaded: " + p)
			news = append(news, p)
		}
	}
	if len(news) > 0 {
		s.broadcastProblems(ctx, news)
	}
	if len(gone) > 0 || len(fresh) > 0 {
		s.log.Info("mcp: tools listed", "dir", s.opts.ToolsDir, "tools", len(tools), "new", len(fresh), "gone", len(gone), "problems", len(problems))
	}
	return nil
}

// newTool makes the tool a manifest describes, with its schema checked; its
// module is loaded later (load).
func (s *Server) newTool(m *manifest.Manifest, modSeen fingerprint) (*tool, error) {
	schema, err := m.Schema()
	if err != nil {
		return nil, err
	}
	pol := *s.opts.Policy
	if pol.Limits.Output <= 0 || pol.Limits.Output > s.opts.MaxOutput {
		pol.Limits.Output = s.opts.MaxOutput
	}
	return &tool{
		name:     m.Name,
		manifest: m,
		def:      &sdk.Tool{Name: m.Name, Description: m.Description, InputSchema: schema.JSON, Annotations: annotations(m.Annotations)},
		schema:   schema,
		policy:   &pol,
		modSeen:  modSeen,
		ready:    make(chan struct{}),
	}, nil
}

// load loads a tool's module (building Go source), and compiles it for the
// memory limit its calls run with, so that calls share one compiled module
// and the first pays no compile cost. A manifest that requests more memory
// gets a second copy, compiled for the raised limit. A module that does not
// match its pinned digest stays listed: each call says why it does not run.
// A module that cannot be loaded takes its tool off the list.
func (s *Server) load(t *tool) {
	defer s.loading.Done()
	s.loadTurn <- struct{}{}
	err := func() error {
		defer func() { <-s.loadTurn }()
		m := t.manifest
		mod, err := s.opts.Engine.LoadWith(s.ctx, m.Module, runtime.LoadOptions{Untrusted: t.untrusted, Hidden: runtime.HiddenFrom(t.policy)})
		if be := (*runtime.BuildError)(nil); t.untrusted && errors.As(err, &be) {
			// The compiler quotes the sources it read, and a tool could
			// have made one a symlink to any file of the person's: its
			// words go to airlock's own log, not to the clients.
			s.log.Error("mcp: " + err.Error())
			return fmt.Errorf("building %s failed; the go command's words are in airlock's log (its source lies in a writable mount, and may quote files a tool chose)", m.Module)
		}
		if err != nil {
			return err
		}
		t.module = mod
		if err := t.checkDigest(); err != nil {
			s.log.Error("mcp: " + err.Error())
			return nil
		}
		if err := s.opts.Engine.Precompile(s.ctx, mod, t.policy.Limits.Memory, runtime.InterruptInstrument); err != nil {
			return err
		}
		if mem := m.Requests.Memory; mem > t.policy.Limits.Memory {
			return s.opts.Engine.Precompile(s.ctx, mod, mem, runtime.InterruptInstrument)
		}
		return nil
	}()
	if err == nil {
		close(t.ready)
		return
	}
	t.loadErr = err
	close(t.ready)
	if s.ctx.Err() != nil {
		return // closing
	}
	p := fmt.Sprintf("%s: tool %q not loaded: %v", hclx.Pos(t.manifest.Range), t.name, err)
	s.log.Error("mcp: tool not loaded: " + p)
	s.reloading.Lock()
	s.mu.Lock()
	current := s.tools[t.name] == t
	if current {
		delete(s.tools, t.name)
		s.failed[t.name] = failure{problem: p, module: t.manifest.Module}
	}
	s.mu.Unlock()
	if current {
		s.sdk.RemoveTools(t.name)
	}
	s.reloading.Unlock()
	if current {
		s.broadcastProblems(s.ctx, []string{p})
	}
}

// checkBuild decides whether the module of m may be built: a Go source
// folder that a served tool could have written (it lies in a mount some
// tool may write; runtime.BuildExposures) is refused unless the manifest
// pins the module's digest, since the build would otherwise be automatic
// and what it produced would be served under the tool's name; a Go
// toolchain a tool could have replaced is refused always (airlock would
// run it natively). A module file (.wasm) in such a mount is refused
// unless pinned, for the same reason. untrusted says the folder is exposed
// but pinned.
func (s *Server) checkBuild(ctx context.Context, m *manifest.Manifest, writable *policy.Policy) (untrusted bool, err error) {
	if fi, err := os.Stat(m.Module); err == nil && !fi.IsDir() {
		// A module file a tool could rewrite would be served, with the
		// grants of the tool it names, by the next call.
		if mt, ok := runtime.WritableMount(writable, m.Module); ok && m.Digest == "" {
			return false, fmt.Errorf("the module %s is inside the writable mount %s (%s), so a tool could have rewritten what airlock serves; "+
				"pin the module's digest in the manifest (digest = \"sha256:…\", which `airlock inspect %s` prints) or move the tool out of the mount",
				m.Module, mt.Guest, mt.Host, m.Module)
		}
		return false, nil
	}
	xs, err := s.opts.Engine.BuildExposures(ctx, m.Module, writable)
	if err != nil {
		return false, nil // not a Go folder airlock can build: loading says why
	}
	for _, x := range xs {
		if x.Toolchain {
			return false, fmt.Errorf("building %s: %v, so a tool could replace the compiler that airlock runs outside the sandbox; "+
				"build the tool yourself (airlock build) and serve the .wasm", m.Module, x)
		}
	}
	if len(xs) == 0 {
		return false, nil
	}
	if m.Digest == "" {
		return false, fmt.Errorf("%v, so a tool could have rewritten what airlock builds and serves; "+
			"pin the module's digest in the manifest (digest = \"sha256:…\", which `airlock inspect %s` prints) or move the tool out of the mount",
			xs[0], m.Module)
	}
	return true, nil
}

// writableView is p with every mount that a served tool may ask to write
// (requests.write in any manifest) counted as writable: a person may grant
// it, and then that tool can change what lies there.
func writableView(p *policy.Policy, ms []*manifest.Manifest) *policy.Policy {
	var guests []string
	for _, m := range ms {
		guests = append(guests, m.Requests.Write...)
	}
	return runtime.WithWritable(p, guests)
}

// Ready waits until every tool listed now has its module loaded and
// compiled (or has failed to), or ctx ends.
func (s *Server) Ready(ctx context.Context) error {
	s.mu.Lock()
	var waits []chan struct{}
	for _, t := range s.tools {
		waits = append(waits, t.ready)
	}
	s.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// problemsLocked is Problems with s.mu held.
func (s *Server) problemsLocked() []string {
	out := append([]string(nil), s.problems...)
	for _, f := range s.failed {
		out = append(out, f.problem)
	}
	sort.Strings(out)
	return out
}

// failure is a tool whose module could not be loaded: off the list until
// the next reload.
type failure struct {
	problem string
	module  string // still watched: fixing it reloads the folder
}

// watched is what Watch fingerprints: the folder and the module path of
// every tool, loaded or failed. s.mu must be held.
func (s *Server) watched() []string {
	roots := []string{s.opts.ToolsDir}
	for _, t := range s.tools {
		roots = append(roots, t.manifest.Module)
	}
	for _, f := range s.failed {
		roots = append(roots, f.module)
	}
	sort.Strings(roots[1:])
	return slices.Compact(roots)
}

// diagLine renders a manifest diagnostic on one line, the way `airlock
// policy check` does: "file:line:col: error: Summary; Detail".
func diagLine(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		b.WriteString(hclx.Pos(*d.Subject) + ": ")
	}
	if d.Severity == hcl.DiagWarning {
		b.WriteString("warning: ")
	} else {
		b.WriteString("error: ")
	}
	b.WriteString(d.Summary)
	if d.Detail != "" {
		b.WriteString("; " + strings.Join(strings.Fields(d.Detail), " "))
	}
	return b.String()
}

// annotations are a manifest's MCP tool annotations, or nil. Hints the
// manifest leaves out keep MCP's defaults.
func annotations(a *manifest.Annotations) *sdk.ToolAnnotations {
	if a == nil {
		return nil
	}
	t := &sdk.ToolAnnotations{Title: a.Title, DestructiveHint: a.Destructive, OpenWorldHint: a.OpenWorld}
	if a.ReadOnly != nil {
		t.ReadOnlyHint = *a.ReadOnly
	}
	if a.Idempotent != nil {
		t.IdempotentHint = *a.Idempotent
	}
	return t
}

// folderProblem is the problem of a tools folder that cannot be read.
func (s *Server) folderProblem(err error) string {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("%s: the tools folder cannot be read (%v); its tools are withdrawn until it can", s.opts.ToolsDir, err)
}
