package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/mcp"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

type mcpFlags struct {
	tools         string
	policy        string
	http          string
	tokenFile     string
	allowRemote   bool
	maxConcurrent int
	headless      bool
	poll          time.Duration
	dir           string
	learn         string // --learn DIR (learn.go)
}

// mcpCmd serves the tools of a folder to an MCP client: over stdio (the
// default), or over Streamable HTTP on a loopback address.
func mcpCmd(ctx context.Context, args []string, std stdio) error {
	var f mcpFlags
	fs := newFlags("mcp", std.err)
	fs.StringVar(&f.dir, "dir", "", "work in the project `DIR`, as if started there: the default policy mounts it at /work, and .airlock/ (policy, grants, audit log) is read there (for agents that start servers elsewhere)")
	fs.StringVar(&f.tools, "tools", "", "the `DIR` of tool manifests (tool.hcl beside each module, or NAME.tool.hcl)")
	fs.StringVar(&f.policy, "policy", "", "policy `FILE` every call runs under (default: .airlock/policy.hcl if present, else the built-in default)")
	fs.StringVar(&f.http, "http", "", "serve Streamable HTTP on `ADDR` (127.0.0.1:PORT) at /mcp instead of stdio")
	fs.StringVar(&f.tokenFile, "token-file", "", "require the bearer token in `FILE` on every HTTP request")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow --http on a non-loopback address (needs --token-file)")
	fs.IntVar(&f.maxConcurrent, "max-concurrent", 0, "tool runs at once; more calls wait in a queue (default 2 × CPUs)")
	fs.BoolVar(&f.headless, "headless", false, "never prompt on this terminal; a client without elicitation gets the policy's headless answer")
	fs.StringVar(&f.learn, "learn", "", "write to `DIR` one learned policy per tool, TOOL.hcl, from what its calls used, for a person to review (docs/learn.md)")
	f.poll = mcp.DefaultPollInterval
	fs.Var(intervalFlag{&f.poll}, "poll", "how often to check DIR for changes, e.g. 1s (0: never)")
	const synopsis = `usage: airlock mcp --tools DIR [--policy FILE] [--http 127.0.0.1:PORT [--token-file F]] [--max-concurrent N]
Serve every tool in DIR to an agent over MCP: on stdio (the client starts
airlock), or Streamable HTTP with --http. Set-up for Codex and Claude Code:
docs/mcp.md.`
	if err := parseFlags(fs, args, std, synopsis); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fail(ExitUsage, "unexpected argument %q (see airlock mcp --help)", fs.Arg(0))
	}
	if f.tools == "" {
		return missingArg(synopsis, "mcp")
	}
	if f.http == "" && (f.tokenFile != "" || f.allowRemote) {
		return fail(ExitUsage, "--token-file and --allow-remote go with --http")
	}
	var token string
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return fail(ExitUsage, "reading the token: %v", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fail(ExitUsage, "the token file %s is empty", f.tokenFile)
		}
	}
	if f.allowRemote && token == "" {
		return fail(ExitUsage, "--allow-remote needs --token-file: without the loopback check, the token is what keeps others out")
	}

	if f.dir != "" {
		// Relative --tools and --policy are taken from where airlock was
		// started, as written in the agent's configuration.
		for _, p := range []*string{&f.tools, &f.policy, &f.tokenFile, &f.learn} {
			if *p != "" && !filepath.IsAbs(*p) {
				if abs, err := filepath.Abs(*p); err == nil {
					*p = abs
				}
			}
		}
		if err := os.Chdir(f.dir); err != nil {
			return fail(ExitUsage, "--dir: %v", err)
		}
	}

	// A client that closes its end of stdout has hung up: the server ends
	// cleanly (runs stopped, the audit log closed) instead of dying of
	// SIGPIPE.
	defer catchSIGPIPE()()

	cwd, err := os.Getwd()
	if err != nil {
		return fail(ExitUsage, "finding the current directory: %v", err)
	}
	// Some clients start servers in / or the home folder: with no policy,
	// that folder would be every tool's writable /work.
	if f.policy == "" && projectPolicy(cwd) == "" {
		if what, broad := broadWorkDir(cwd); broad {
			return fail(ExitUsage, "refusing to serve %s (%s) to tools as a writable /work: there is no policy here; set the \"cwd\" of this server in the MCP client's configuration to the project folder, or give --policy FILE", cwd, what)
		}
	}
	pol, source, err := loadPolicy(f.policy, cwd, std.err)
	if err != nil {
		return err
	}
	if f.policy != "" {
		if err := checkPolicyPlace(f.policy, pol, std.err); err != nil {
			return err
		}
	}
	acfg, pol, closeApprovals, err := mcpApprovals(pol, cwd, f.headless, std)
	if err != nil {
		return err
	}
	defer closeApprovals()
	lock, err := newRunWall(pol, runtime.DefaultCacheDir(), false, std.err) // the second wall (wall.go)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(std.err, &slog.HandlerOptions{Level: slog.LevelInfo}))

	tcfg, err := telemetry.Resolve(pol.Telemetry, os.Getenv, telemetry.Flags{})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if tcfg.Exporter == telemetry.ExporterFile && tcfg.File != telemetry.DefaultFile {
		if err := refuseLinkOnWay(tcfg.File, "the trace", pol); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	}
	tcfg.ServiceVersion, tcfg.Stderr = version(), std.err
	tp, err := telemetry.New(ctx, tcfg)
	if err != nil {
		return fail(ExitUsage, "starting telemetry: %v", err)
	}
	defer tp.Shutdown(context.Background())

	policyFile, auditPath := "", pol.Approvals.Audit
	if source != "builtin default" {
		policyFile = source
	}
	if auditPath == "" {
		auditPath = approvals.DefaultAuditFile(cwd)
	}
	var learning *learnDir
	if f.learn != "" {
		if learning, err = openLearnDir(f.learn); err != nil {
			return fail(ExitUsage, "--learn: %v", err)
		}
		held, _ := filepath.Glob(filepath.Join(learning.dir, "*.hcl"))
		if err := refuseToolWritten(learning.dir, len(held) > 0, pol); err != nil {
			return fail(ExitUsage, "--learn: %v", err)
		}
		learning.log = log
	}
	state := append(statePaths(cwd, policyFile, auditPath), learning.statePaths()...)
	state = append(state, telemetryState(tp)...)
	// The manifests and modules the server reads, and reloads when they
	// change: a served tool that could write them would pick what runs
	// under another tool's name, pin its digest, and word the description
	// the agent reads (docs/mcp.md).
	state = append(state, host.StatePath{Path: f.tools, What: "MCP tools folder"})
	if learning != nil {
		learning.state = state
	}
	eng, err := runtime.New(ctx, tp.Configure(runtime.Config{HostFuncs: wallProbeFuncs(),
		State: state, Warn: warnTo(std.err), PrepareRun: learning.prepareRun()}))
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer eng.Close(context.Background())

	opts := mcp.Options{
		ToolsDir:      f.tools,
		Engine:        eng,
		Policy:        pol,
		MaxConcurrent: f.maxConcurrent,
		Approvals:     acfg,
		Logger:        log,
		PollInterval:  f.poll,
		Version:       version(),
	}
	if tp != nil {
		opts.Observe = telemetryObserver{tp}
	}
	if learning != nil {
		opts.Observe = toolNameObserver{opts.Observe} // which tool each run is for
	}
	if f.poll <= 0 {
		opts.PollInterval = -1
	}
	srv, err := mcp.New(ctx, opts)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer srv.Close()
	if len(srv.Tools()) == 0 {
		log.Warn("mcp: no tools in " + f.tools + " yet; it is watched for manifests")
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Watch(ctx)
	go func() {
		start := time.Now()
		if srv.Ready(ctx) == nil {
			log.Info("mcp: tools ready", "tools", strings.Join(srv.Tools(), ","), "took", time.Since(start).Round(time.Millisecond))
		}
	}()

	// The second wall goes up once the tools listed now are loaded (built
	// and compiled), before the first call is answered.
	raise := func() error {
		if lock.mode == policy.LandlockOff || lock.status.ABI == 0 {
			return nil
		}
		if err := srv.Ready(ctx); err != nil {
			return fail(ExitInterrupted, "interrupted")
		}
		if err := lock.raiseForMCP(srv.Reach(), pol, acfg.Grants, tp, runtime.DefaultCacheDir(), cwd, learning.path()); err != nil {
			return fail(ExitUsage, "%v; nothing is served", err)
		}
		if st := lock.status; st.Up {
			tcp := "any port (" + st.AnyPort + ")"
			if st.AnyPort == "" {
				tcp = fmt.Sprint(st.Connect)
			}
			log.Info("mcp: second wall up (Landlock)", "abi", st.Used, "paths", len(st.Paths), "tcp_connect", tcp, "took", st.Took.Round(time.Microsecond))
		}
		return nil
	}

	if f.http == "" {
		if err := raise(); err != nil {
			return err
		}
		if err := srv.ServeStdio(ctx, std.in, std.out); err != nil {
			return fail(ExitUsage, "serving MCP on stdio: %v", err)
		}
		return nil
	}
	return serveHTTP(ctx, srv, f, token, log, std.err, raise)
}

// serveHTTP serves the Streamable HTTP endpoint until ctx ends (SIGINT,
// SIGTERM), then shuts down: in-flight calls are cancelled.
func serveHTTP(ctx context.Context, srv *mcp.Server, f mcpFlags, token string, log *slog.Logger, stderr io.Writer, raise func() error) error {
	h, err := srv.Handler(mcp.HTTPOptions{Token: token, AllowRemote: f.allowRemote})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	ln, err := mcp.Listen(f.http, f.allowRemote)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer ln.Close()
	if err := raise(); err != nil { // after the listener is bound: the wall allows no bind
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stderr, "airlock: MCP endpoint http://%s%s\n", ln.Addr(), mcp.HTTPPath)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fail(ExitUsage, "serving MCP over HTTP: %v", err)
	case <-ctx.Done():
	}
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return nil
}

// mcpApprovals bounds pol by the managed ceiling and builds who answers
// what the policy leaves open when the MCP client cannot be asked: a person
// at airlock's own terminal, when its stdin is one (airlock mcp --http
// started by hand; over stdio, stdin is the client's pipe and the terminal,
// if any, is the agent's), else the policy's headless answer. Remembered
// grants and the audit log are those of airlock run.
func mcpApprovals(pol *policy.Policy, cwd string, headless bool, std stdio) (approvals.Config, *policy.Policy, func(), error) {
	var cfg approvals.Config
	ceiling, pol, err := boundByCeiling(pol, std.err)
	if err != nil {
		return cfg, nil, nil, err
	}
	cfg = approvals.Config{Headless: pol.Approvals.Headless, Ceiling: ceiling, AuditFailure: pol.Approvals.AuditFailure}
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if !headless && isTerminal(std.in) {
		if t, err := approvals.OpenTerminal(); err == nil {
			t.Timeout = pol.Approvals.Timeout
			cfg.Approver = t
			closers = append(closers, t.Close)
		}
	}
	grants, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(cwd), approvals.UserGrantsFile())
	policy.WriteDiagnostics(std.err, nil, diags)
	if diags.HasErrors() {
		closeAll()
		return cfg, nil, nil, fail(ExitUsage, "a grants file is malformed: fix it, or revoke with airlock grants revoke")
	}
	cfg.Grants = grants
	if path := pol.Approvals.Audit; path != policy.AuditOff {
		if path == "" {
			path = approvals.DefaultAuditFile(cwd)
		} else if err := refuseLinkOnWay(path, "the audit log", pol); err != nil {
			closeAll()
			return cfg, nil, nil, fail(ExitUsage, "%v", err)
		}
		a, err := approvals.OpenAudit(path, approvals.DefaultSyncInterval)
		switch {
		case err != nil && pol.Approvals.AuditFailure == policy.AuditContinue:
			fmt.Fprintf(std.err, "airlock: %v; serving without an audit log (approvals.audit_failure = \"continue\", %s)\n", err, pol.Approvals.AuditFailureOrigin)
		case err != nil:
			closeAll()
			return cfg, nil, nil, fail(ExitAuditFailed, "%v; no decision could be recorded, so no tool is served (give another file with approvals.audit)", err)
		default:
			if n := a.Repaired(); n > 0 {
				fmt.Fprintf(std.err, "airlock: audit log %s: removed a torn last record (%d bytes) left by a crash\n", path, n)
			}
			cfg.Audit = a
			closers = append(closers, a.Close)
		}
	}
	// Said once: each call it stops says so in its result as well.
	cfg.OnAuditError = func(err error) {
		fmt.Fprintf(std.err, "airlock: %v (approvals.audit_failure = %q, %s)\n", err, pol.Approvals.AuditFailure, pol.Approvals.AuditFailureOrigin)
	}
	return cfg, pol, closeAll, nil
}

// telemetryObserver reports MCP requests to the telemetry provider: a span,
// a log record and metrics per request, joined to the client's trace
// context; a tools/call's run span is a child of the request's span.
type telemetryObserver struct{ p *telemetry.Provider }

// mcpEndKey keeps a request's end function (StartMCPRequest) in the
// context Start returns, which End is given.
type mcpEndKey struct{}

func (o telemetryObserver) Start(ctx context.Context, r mcp.RequestStart) context.Context {
	ctx, end := o.p.StartMCPRequest(telemetry.ContextWithRemoteParent(ctx, r.Traceparent, r.Tracestate), r.Method, r.Tool)
	return context.WithValue(ctx, mcpEndKey{}, end)
}

func (o telemetryObserver) End(ctx context.Context, r mcp.RequestRecord) {
	end, ok := ctx.Value(mcpEndKey{}).(func(telemetry.MCPRequest))
	if !ok {
		return
	}
	end(telemetry.MCPRequest{
		Method: r.Method, Tool: r.Tool, Input: r.Input, Output: r.Output,
		Duration: r.Duration, Outcome: string(r.Outcome), Err: r.Err,
	})
}
