package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/manifest"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// approvalFlags are the flags of airlock run that concern approvals,
// manifests and the audit log (docs/approvals.md).
type approvalFlags struct {
	mode       string
	accessible bool
	audit      string
	input      string
}

func addApprovalFlags(fs *flag.FlagSet) *approvalFlags {
	a := &approvalFlags{}
	fs.StringVar(&a.mode, "approvals", "", "approval `MODE`: untrusted, on-request, on-failure or never (default from the policy, else on-request)")
	fs.BoolVar(&a.accessible, "accessible", false, "show prompts in accessible mode: plain lines and a numbered choice (also when TERM=dumb)")
	fs.StringVar(&a.audit, "audit", "", "append every decision to the audit log `FILE`, or off (default from the policy, else .airlock/audit.jsonl)")
	fs.StringVar(&a.input, "input", "", "with a tool manifest: the tool's input as `JSON`, passed through its argv template (or on stdin)")
	return a
}

// maxReruns bounds the on-failure loop.
const maxReruns = 3

// toolSpec is what airlock run runs: a module, or a tool manifest naming one.
type toolSpec struct {
	module string
	args   []string
	stdin  []byte // from --input, for a manifest with input = "stdin"
	man    *manifest.Manifest
}

// resolveTool finds the manifest for path (a tool.hcl, or a folder holding
// one) and, with --input, renders the tool's arguments from it.
func (a *approvalFlags) resolveTool(path string, args []string, stderr io.Writer) (toolSpec, error) {
	t := toolSpec{module: path, args: args}
	mf := manifest.Find(path)
	if mf == "" {
		if a.input != "" {
			return t, fail(ExitUsage, "--input needs a tool manifest (tool.hcl); %s has none", path)
		}
		return t, nil
	}
	m, diags := manifest.Load(mf)
	if err := diagnosed(stderr, diags); err != nil {
		return t, err
	}
	t.man, t.module = m, m.Module
	if a.input != "" {
		if len(args) > 0 {
			return t, fail(ExitUsage, "give the tool's input with --input or its arguments after --, not both")
		}
		// The same check as the MCP server's: the schema's defaults, then
		// validation; a refusal names the field.
		schema, err := m.Schema()
		if err != nil {
			return t, fail(ExitUsage, "%s: %v", m.File, err)
		}
		input, err := schema.Decode([]byte(a.input))
		if err != nil {
			return t, fail(ExitUsage, "%s: invalid --input: %v; the tool did not run", m.Name, err)
		}
		if t.args, err = m.Args(input); err != nil {
			return t, fail(ExitUsage, "%s: %v", m.Name, err)
		}
		if t.stdin, err = m.Stdin(input); err != nil {
			return t, fail(ExitUsage, "%v", err)
		}
	}
	return t, nil
}

// session is the approvals side of one airlock run: the managed ceiling,
// the broker with its terminal or headless answer, the grants, the audit
// log and the guard around the tool's streams.
type session struct {
	std     stdio
	tool    toolSpec
	mode    policy.Mode
	canAsk  bool
	term    *approvals.Terminal
	guard   *approvals.Guard
	audit   *approvals.AuditLog
	broker  *approvals.Broker
	closed  bool
	auditOK bool
	// auditPath is the audit log in use (policy.AuditOff for none).
	auditPath string

	// What a decision the audit log cannot record does (approvals.audit_failure).
	auditFailure policy.AuditFailure
	auditOrigin  policy.Origin
	auditMu      sync.Mutex
	auditErr     error // the first error of the audit log, once said

	// beforeRun, if set, is called once, after what the manifest requests
	// is settled and before the tool first runs, with the policy it runs
	// under: the second wall goes up there (wall.go).
	beforeRun func(ctx context.Context, pol *policy.Policy) error
}

// startApprovals loads the managed ceiling and bounds pol with it (after the
// --approvals flag), decides who can be asked, and opens the grants and the
// audit log. It returns the bounded policy, or the error that ends the
// command.
func startApprovals(pol *policy.Policy, cwd string, a *approvalFlags, headless bool, tool toolSpec, std stdio) (*session, *policy.Policy, error) {
	s := &session{std: std, tool: tool, auditOK: true, guard: approvals.NewGuard(0)}
	if a.mode != "" {
		m, err := policy.ParseMode(a.mode)
		if err != nil {
			return s, nil, fail(ExitUsage, "--approvals: %v", err)
		}
		q := *pol
		q.Approvals.Mode, q.Approvals.ModeOrigin = m, policy.Origin{Layer: policy.LayerFlag}
		pol = &q
	}
	ceiling, bounded, err := boundByCeiling(pol, std.err)
	if err != nil {
		return s, nil, err
	}
	pol = bounded
	if a.mode != "" && pol.Approvals.ModeOrigin.Layer == policy.LayerManaged && string(pol.Approvals.Mode) != a.mode {
		fmt.Fprintf(std.err, "airlock: --approvals %s is overridden by the managed policy: mode %s (%s)\n", a.mode, pol.Approvals.Mode, pol.Approvals.ModeOrigin)
	}
	s.mode = pol.Approvals.Mode
	if s.mode == "" {
		s.mode = policy.ModeOnRequest
	}

	// Who can be asked: a person at this terminal, unless --headless or
	// stdin is not a terminal (CI, pipes).
	if !headless && isTerminal(std.in) {
		if t, err := std.openTerminal(); err == nil {
			s.term, s.canAsk = t, true
			t.Guard, t.Accessible, t.Timeout = s.guard, a.accessible, pol.Approvals.Timeout
		}
	}

	grants, gdiags := approvals.LoadGrants(approvals.ProjectGrantsFile(cwd), approvals.UserGrantsFile())
	policy.WriteDiagnostics(std.err, nil, gdiags)
	if gdiags.HasErrors() {
		s.close()
		return s, nil, fail(ExitUsage, "a grants file is malformed: fix it, or revoke with airlock grants revoke")
	}

	auditPath := pol.Approvals.Audit
	switch {
	case pol.Approvals.AuditOrigin.Layer == policy.LayerManaged:
		if a.audit != "" && a.audit != auditPath {
			fmt.Fprintf(std.err, "airlock: --audit %s is overridden by the managed policy: the audit log is %s (%s)\n", a.audit, auditPath, pol.Approvals.AuditOrigin)
		}
	case a.audit != "":
		auditPath = a.audit
	}
	if auditPath == "" {
		auditPath = approvals.DefaultAuditFile(cwd)
	} else if auditPath != policy.AuditOff {
		if err := refuseLinkOnWay(auditPath, "the audit log", pol); err != nil {
			s.close()
			return s, nil, fail(ExitUsage, "%v", err)
		}
	}
	s.auditPath = auditPath
	s.auditFailure, s.auditOrigin = pol.Approvals.AuditFailure, pol.Approvals.AuditFailureOrigin
	if auditPath != policy.AuditOff {
		log, err := approvals.OpenAudit(auditPath, approvals.DefaultSyncInterval)
		switch {
		case err != nil && s.auditFailure == policy.AuditContinue:
			fmt.Fprintf(std.err, "airlock: %v; running without an audit log (approvals.audit_failure = \"continue\", %s)\n", err, s.auditOrigin)
		case err != nil:
			// No decision could be recorded: the tool does not run.
			s.close()
			return s, nil, fail(ExitAuditFailed, "%v; no decision could be recorded, so the tool did not run (give another file with --audit FILE)", err)
		default:
			if n := log.Repaired(); n > 0 {
				fmt.Fprintf(std.err, "airlock: audit log %s: removed a torn last record (%d bytes) left by a crash\n", auditPath, n)
			}
			s.audit = log
		}
	}

	var approver approvals.Approver
	if s.canAsk {
		approver = s.term
	}
	s.broker = approvals.NewBroker(approvals.Config{
		Approver: approver, Headless: pol.Approvals.Headless,
		Grants: grants, Audit: s.audit, Ceiling: ceiling,
		AuditFailure: s.auditFailure, OnAuditError: s.auditError,
	})
	return s, pol, nil
}

// auditError is told of the first record the audit log could not write.
// With audit_failure = "continue" it says so at once, in one line; with
// "stop" the run's end says it (stopText).
func (s *session) auditError(err error) {
	if s.auditFailure == policy.AuditContinue {
		fmt.Fprintf(s.std.err, "airlock: %v; the run goes on, its decisions unrecorded (approvals.audit_failure = \"continue\", %s)\n", err, s.auditOrigin)
	}
	s.auditMu.Lock()
	s.auditErr = err
	s.auditMu.Unlock()
}

// checkModule refuses a module whose digest is not the one its manifest pins.
func (s *session) checkModule(mod *runtime.Module) error {
	if s.tool.man == nil {
		return nil
	}
	if err := s.tool.man.CheckDigest(mod.Digest); err != nil {
		return &exitError{Code: ExitNoModule, Err: err}
	}
	mod.Name = s.tool.man.Name
	return nil
}

// run runs spec under the session: what the manifest requests is settled
// first (one prompt in on-request mode), the tool's streams go through the
// guard, questions go to the broker; in on-failure mode a run that failed
// after denials is offered again with them granted.
//
// A decision the audit log cannot record stops the run (unless
// approvals.audit_failure = "continue"): the gate denies it and revokes
// the run, and the run's context is cancelled with the
// *approvals.UnrecordedError as its cause. A cancelled run's Result.Err is
// the cause: a signal, a closed pipe, or that error.
func (s *session) run(ctx context.Context, eng *runtime.Engine, spec runtime.Spec) (*runtime.Result, error) {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// ctrl+c at a prompt (the terminal is in raw mode, so it is a key, not
	// a signal) denies that question and stops the run, like SIGINT.
	if s.term != nil {
		s.term.Interrupt = func() { stop(decision.ErrInterrupted) }
	}
	info := approvals.RunInfo{Tool: spec.Module.Name, Digest: spec.Module.Digest, Mode: s.mode, Args: spec.Args}
	r := s.broker.NewRun(info)
	var requested []decision.Decision
	if m := s.tool.man; m != nil && !m.Requests.Empty() {
		pol, ds, err := r.Escalate(ctx, spec.Policy, m.Requests.Escalation())
		if err != nil {
			return nil, err
		}
		spec.Policy, requested = pol, ds
	}
	if s.tool.stdin != nil {
		spec.Stdin = bytes.NewReader(s.tool.stdin)
	}
	if s.beforeRun != nil {
		if err := s.beforeRun(ctx, spec.Policy); err != nil {
			return nil, err
		}
	}
	// A write into a read-only mount is a question, like network "ask":
	// remembered grants answer it in every mode, a person in the modes
	// that ask, the headless answer when nobody can be asked.
	spec.ReadOnlyVerdict = policy.Ask
	if s.canAsk {
		spec.Stdin = s.guard.Reader(orEmpty(spec.Stdin))
	}
	spec.Stdout = s.wrap(spec.Stdout)
	spec.Stderr = s.wrap(spec.Stderr)

	var granted []approvals.Item
	for attempt := 0; ; attempt++ {
		spec.Asker, spec.Record = r, stopUnrecorded(r, stop)
		res, err := eng.Run(ctx, spec)
		s.guard.Flush()
		if err != nil {
			return nil, err
		}
		if res.Reason == runtime.Canceled || (res.Reason == runtime.Exited && pipeClosed(context.Cause(ctx))) {
			// A tool that exits after its output pipe closed is exiting
			// because of it: the run was stopped, as SIGPIPE stops a
			// native program.
			res.Reason, res.Err = runtime.Canceled, context.Cause(ctx)
		}
		denied := r.Denied()
		failed := res.Reason != runtime.Exited || res.ExitCode != 0
		if s.mode != policy.ModeOnFailure || !failed || len(denied) == 0 || attempt == maxReruns || ctx.Err() != nil {
			res.Decisions = append(requested, res.Decisions...)
			return res, nil
		}
		summarize(s.std.err, res, spec.Policy)
		ans := r.OfferRerun(ctx, denied)
		if !ans.Choice.Allows() {
			res.Decisions = append(requested, res.Decisions...)
			return res, nil
		}
		granted = append(granted, denied...)
		fmt.Fprintf(s.std.err, "airlock: running %s again with %d more capabilities granted\n", info.Tool, len(denied))
		r = s.broker.NewRun(info)
		r.Allow(granted)
	}
}

// auditFailed is the first error of the audit log, for the report; "" when
// it kept every record.
func (s *session) auditFailed() string {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if s.auditErr == nil {
		return ""
	}
	return s.auditErr.Error()
}

// stopUnrecorded is r's Recorder, which also stops the run when a decision
// could not be recorded.
func stopUnrecorded(r *approvals.Run, stop context.CancelCauseFunc) decision.Recorder {
	return func(d decision.Decision) error {
		err := r.Record(d)
		if err != nil {
			stop(err)
		}
		return err
	}
}

// wrap guards one of the tool's output streams: escape sequences are made
// visible when it goes to a terminal, and it is held back while a prompt
// is open.
func (s *session) wrap(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	term := isTerminal(w)
	if !term && !s.canAsk {
		return w
	}
	return s.guard.Writer(w, term)
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}

// exit closes the session and returns code, or ExitAuditFailed when the
// audit log lost a record (a record that could not be written or synced)
// and approvals.audit_failure is "stop": a record that could not be
// written must not pass unnoticed.
func (s *session) exit(code int) int {
	if !s.close() && s.auditFailure != policy.AuditContinue {
		return ExitAuditFailed
	}
	return code
}

// close closes the audit log (syncing it) and the terminal; it reports
// whether the audit log kept every record. An error not said yet is said
// in one line. It is safe to call twice.
func (s *session) close() bool {
	if s.closed {
		return s.auditOK
	}
	s.closed = true
	if s.audit != nil {
		if err := s.audit.Close(); err != nil {
			s.auditMu.Lock()
			said := s.auditErr != nil
			if !said {
				s.auditErr = err
			}
			s.auditMu.Unlock()
			if !said {
				fmt.Fprintf(s.std.err, "airlock: audit log: %v\n", err)
			}
			s.auditOK = false
		}
	}
	s.term.Close()
	return s.auditOK
}

// explainLayers bounds p with the managed ceiling and writes the lines of
// `airlock policy explain` that name the layers: which managed files apply,
// where grants are remembered, and the approvals settings. It returns the
// bounded policy.
func explainLayers(w io.Writer, stderr io.Writer, cwd, source string, p *policy.Policy) (*policy.Policy, error) {
	ceiling, q, err := boundByCeiling(p, stderr)
	if err != nil {
		return nil, err
	}
	var layers []string
	for _, path := range policy.ManagedPaths(os.LookupEnv) {
		layers = append(layers, "managed "+path+" (bounds every other layer)")
	}
	layers = append(layers, "project "+source)
	var grantFiles []string
	g, _ := approvals.LoadGrants(approvals.ProjectGrantsFile(cwd), approvals.UserGrantsFile())
	for _, f := range g.Files() {
		n := 0
		for _, gr := range g.List() {
			if gr.File == f {
				n++
			}
		}
		grantFiles = append(grantFiles, fmt.Sprintf("%s (%d)", f, n))
	}
	layers = append(layers, "grants "+strings.Join(grantFiles, ", "))
	fmt.Fprintf(w, "Layers: %s. Each fact below ends with the layer or file that decided it.\n", strings.Join(layers, "; "))
	if err := policy.ExplainCeiling(w, ceiling, q); err != nil {
		return nil, err
	}
	return q, nil
}
