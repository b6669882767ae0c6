package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/internal/wall"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

// runWall is the second wall of one airlock run (package internal/wall,
// docs/filesystem.md "Second wall: Landlock"): chosen by the policy's
// sandbox.landlock, raised by session.run once the module is compiled and
// what its manifest requests is settled, just before the guest starts.
type runWall struct {
	mode   policy.LandlockMode
	origin policy.Origin
	status wall.Status
	stderr io.Writer
}

// newRunWall reads the policy's sandbox.landlock and asks the kernel
// whether it has Landlock. A policy that requires the wall on a machine
// without it ends the command here (the error), before anything is built;
// where it is only missing, airlock says so once (noteOnce) unless quiet.
func newRunWall(pol *policy.Policy, cacheDir string, quiet bool, stderr io.Writer) (*runWall, error) {
	w := &runWall{mode: pol.Sandbox.Landlock, origin: pol.Sandbox.LandlockOrigin, stderr: stderr}
	if w.mode == "" {
		w.mode = policy.LandlockAuto
	}
	w.status.Mode = string(w.mode)
	if w.mode == policy.LandlockOff {
		w.status.Reason = fmt.Sprintf(`sandbox.landlock = "off" (%s)`, originWords(w.origin))
		return w, nil
	}
	abi, why := wall.Probe()
	w.status.ABI = abi
	if abi > 0 {
		return w, nil
	}
	w.status.Reason = why
	if w.mode == policy.LandlockRequire {
		return w, fail(ExitUsage, `the policy requires the Landlock wall (sandbox.landlock = "require", %s), but %s; nothing ran`, originWords(w.origin), why)
	}
	if !quiet {
		noteOnce(cacheDir, "landlock", why, stderr,
			"airlock: running without the second wall: "+why+" (this note is shown once; docs/filesystem.md, \"Second wall: Landlock\")")
	}
	return w, nil
}

// wallNeeds is what a run still needs once the wall is up, besides its
// policy: who may answer, what is remembered, and airlock's own files.
type wallNeeds struct {
	eng       *runtime.Engine
	mod       *runtime.Module
	interrupt runtime.Interrupt
	tel       *telemetry.Provider
	cwd       string
}

// raise compiles the module for pol's limits (nothing is compiled behind
// the wall) and raises the wall around what a run under pol needs. It
// returns an error only when the run must not go on: the module does not
// compile, or the policy requires the wall and it could not be raised.
func (w *runWall) raise(ctx context.Context, s *session, pol *policy.Policy, n wallNeeds) error {
	if err := n.eng.Precompile(ctx, n.mod, pol.Limits.Memory, n.interrupt); err != nil {
		return err
	}
	if w.mode == policy.LandlockOff || w.status.ABI == 0 {
		return nil
	}
	var plan wall.Plan
	answers := wall.Answers{AskMayAllow: s.mode != policy.ModeNever && (s.canAsk || pol.Approvals.Headless == policy.Allow)}
	for _, g := range s.broker.Grants().List() {
		if !g.Allow || g.Digest != n.mod.Digest {
			continue
		}
		switch g.Kind {
		case decision.FSWrite:
			answers.Writes = append(answers.Writes, g.Target)
		case decision.NetConnect:
			answers.Connects = append(answers.Connects, g.Target)
		}
	}
	plan.AddPolicy(pol, answers)
	if s.canAsk {
		// A person may answer "always": the project's grants file is
		// rewritten in its folder (a temporary file, then a rename).
		dir := filepath.Dir(approvals.ProjectGrantsFile(n.cwd))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			plan.Add(dir, wall.Write, "grants")
		}
	}
	plan.AddEndpoints("telemetry endpoint", n.tel.Endpoints(os.Getenv)...)

	st, err := wall.Restrict(&plan)
	st.Mode = string(w.mode)
	w.status = st
	switch {
	case err != nil && w.mode == policy.LandlockRequire:
		return &wallError{fmt.Errorf("the policy requires the Landlock wall (sandbox.landlock = \"require\", %s): %w; nothing ran", originWords(w.origin), err)}
	case err != nil:
		w.status.Reason = err.Error()
		fmt.Fprintf(w.stderr, "airlock: running without the second wall: %v\n", err)
	}
	return nil
}

// wallError ends a run before the guest starts, with ExitUsage.
type wallError struct{ err error }

func (e *wallError) Error() string { return e.err.Error() }
func (e *wallError) Unwrap() error { return e.err }

// originWords is where a setting was written, for messages: "policy.hcl:3:3",
// "managed:/etc/airlock/policy.hcl:2:3", or "the default".
func originWords(o policy.Origin) string {
	if o.Layer == policy.LayerBuiltin || o.Layer == "" {
		return "the default"
	}
	return o.String()
}

// noteOnce prints line on stderr unless the same note (key, with the same
// text) was printed before for this user: a fact about the machine that
// does not change between runs is said once, not on every run. It
// remembers in the cache folder; where that cannot be written, it says it
// every time rather than never.
func noteOnce(cacheDir, key, text string, stderr io.Writer, line string) {
	marker := filepath.Join(cacheDir, "notes", key)
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == text {
		return
	}
	fmt.Fprintln(stderr, line)
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err == nil {
		_ = os.WriteFile(marker, []byte(text+"\n"), 0o644)
	}
}

// raiseForMCP raises the wall around an MCP server once the tools listed at
// start are loaded: the union of what every tool's calls may reach (its
// policy widened by all its manifest requests), the folders manifests and
// modules are read from, the compile cache, the grants folder and the
// telemetry endpoints. Nothing is executed behind the wall, so a Go tool
// folder changed later is not rebuilt until the server restarts
// (docs/mcp.md). It returns an error only when the policy requires the
// wall and it could not be raised.
func (w *runWall) raiseForMCP(reach mcp.Reach, pol *policy.Policy, grants *approvals.Grants, tel *telemetry.Provider, cacheDir, cwd, learnDir string) error {
	if w.mode == policy.LandlockOff || w.status.ABI == 0 {
		return nil
	}
	var plan wall.Plan
	answers := wall.Answers{AskMayAllow: pol.Approvals.Mode != policy.ModeNever || pol.Approvals.Headless == policy.Allow}
	for _, g := range grants.List() {
		switch {
		case !g.Allow:
		case g.Kind == decision.FSWrite:
			answers.Writes = append(answers.Writes, g.Target)
		case g.Kind == decision.NetConnect:
			answers.Connects = append(answers.Connects, g.Target)
		}
	}
	for _, p := range reach.Policies {
		plan.AddPolicy(p, answers)
	}
	for _, d := range reach.Dirs {
		plan.Add(d, wall.Read, "tools")
	}
	if cacheDir != "" && cacheDir != "-" {
		if abs, err := filepath.Abs(cacheDir); err == nil && os.MkdirAll(abs, 0o755) == nil {
			plan.Add(abs, wall.Write, "compile cache")
		}
	}
	dir := filepath.Dir(approvals.ProjectGrantsFile(cwd))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		plan.Add(dir, wall.Write, "grants")
	}
	if learnDir != "" {
		plan.Add(learnDir, wall.Write, "learned policies (--learn)")
	}
	plan.AddEndpoints("telemetry endpoint", tel.Endpoints(os.Getenv)...)
	st, err := wall.Restrict(&plan)
	st.Mode = string(w.mode)
	w.status = st
	switch {
	case err != nil && w.mode == policy.LandlockRequire:
		return fmt.Errorf("the policy requires the Landlock wall (sandbox.landlock = \"require\", %s): %w", originWords(w.origin), err)
	case err != nil:
		w.status.Reason = err.Error()
		fmt.Fprintf(w.stderr, "airlock: serving without the second wall: %v\n", err)
	}
	return nil
}
