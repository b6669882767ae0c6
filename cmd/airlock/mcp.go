package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/hostfuncs"
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
}

// mcpCmd serves the tools of a folder to an MCP client: over stdio (the
// default), or over Streamable HTTP on a loopback address.
func mcpCmd(ctx context.Context, args []string, io stdio) int {
	var f mcpFlags
	fs := newFlags("mcp", io.err)
	fs.StringVar(&f.tools, "tools", "", "the `DIR` of tool manifests (tool.hcl beside each module, or NAME.tool.hcl)")
	fs.StringVar(&f.policy, "policy", "", "policy `FILE` every call runs under (default: .airlock/policy.hcl if present, else the built-in default)")
	fs.StringVar(&f.http, "http", "", "serve Streamable HTTP on `ADDR` (127.0.0.1:PORT) at /mcp instead of stdio")
	fs.StringVar(&f.tokenFile, "token-file", "", "require the bearer token in `FILE` on every HTTP request")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow --http on a non-loopback address (needs --token-file)")
	fs.IntVar(&f.maxConcurrent, "max-concurrent", 0, "tool runs at once; more calls wait in a queue (default 2 × CPUs)")
	fs.BoolVar(&f.headless, "headless", false, "never prompt on this terminal; a client without elicitation gets the policy's headless answer")
	fs.DurationVar(&f.poll, "poll", mcp.DefaultPollInterval, "how often to check DIR for changes (0 or less: never)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: airlock mcp --tools DIR [--policy FILE] [--http 127.0.0.1:PORT [--token-file F]] [--max-concurrent N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if isHelp(err) {
			return 0
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return errorf(io.err, ExitUsage, "unexpected argument %q (see airlock mcp -h)", fs.Arg(0))
	}
	if f.tools == "" {
		fs.Usage()
		return ExitUsage
	}
	if f.http == "" && (f.tokenFile != "" || f.allowRemote) {
		return errorf(io.err, ExitUsage, "--token-file and --allow-remote go with --http")
	}
	var token string
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return errorf(io.err, ExitUsage, "reading the token: %v", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return errorf(io.err, ExitUsage, "the token file %s is empty", f.tokenFile)
		}
	}
	if f.allowRemote && token == "" {
		return errorf(io.err, ExitUsage, "--allow-remote needs --token-file: without the loopback check, the token is what keeps others out")
	}

	cwd, err := os.Getwd()
	if err != nil {
		return errorf(io.err, ExitUsage, "finding the current directory: %v", err)
	}
	pol, _, code := loadPolicy(f.policy, cwd, io.err)
	if code >= 0 {
		return code
	}
	acfg, pol, closeApprovals, code := mcpApprovals(pol, cwd, f.headless, io)
	if code >= 0 {
		return code
	}
	defer closeApprovals()
	lock, code := newRunWall(pol, runtime.DefaultCacheDir(), false, io.err) // the second wall (wall.go)
	if code >= 0 {
		return code
	}
	log := slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: slog.LevelInfo}))

	tcfg, err := telemetry.Resolve(pol.Telemetry, os.Getenv, telemetry.Flags{})
	if err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
	}
	tcfg.ServiceVersion, tcfg.Stderr = version(), io.err
	tp, err := telemetry.New(ctx, tcfg)
	if err != nil {
		return errorf(io.err, ExitUsage, "starting telemetry: %v", err)
	}
	defer tp.Shutdown(context.Background())

	eng, err := runtime.New(ctx, tp.Configure(runtime.Config{HostFuncs: append(hostfuncs.NetFuncs(hostfuncs.NetConfig{}), wallProbeFuncs()...)}))
	if err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
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
	if f.poll <= 0 {
		opts.PollInterval = -1
	}
	srv, err := mcp.New(ctx, opts)
	if err != nil {
		return errorf(io.err, ExitUsage, "%v", err)
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
	raise := func() int {
		if lock.mode == policy.LandlockOff || lock.status.ABI == 0 {
			return -1
		}
		if err := srv.Ready(ctx); err != nil {
			return errorf(io.err, ExitInterrupted, "interrupted")
		}
		if err := lock.raiseForMCP(srv.Reach(), pol, acfg.Grants, tp, runtime.DefaultCacheDir(), cwd); err != nil {
			return errorf(io.err, ExitUsage, "%v; nothing is served", err)
		}
		if st := lock.status; st.Up {
			tcp := "any port (" + st.AnyPort + ")"
			if st.AnyPort == "" {
				tcp = fmt.Sprint(st.Connect)
			}
			log.Info("mcp: second wall up (Landlock)", "abi", st.Used, "paths", len(st.Paths), "tcp_connect", tcp, "took", st.Took.Round(time.Microsecond))
		}
		return -1
	}

	if f.http == "" {
		if code := raise(); code >= 0 {
			return code
		}
		if err := srv.ServeStdio(ctx, io.in, io.out); err != nil {
			return errorf(io.err, ExitUsage, "serving MCP on stdio: %v", err)
		}
		return 0
	}
	return serveHTTP(ctx, srv, f, token, log, io.err, raise)
}

// serveHTTP serves the Streamable HTTP endpoint until ctx ends (SIGINT,
// SIGTERM), then shuts down: in-flight calls are cancelled.
func serveHTTP(ctx context.Context, srv *mcp.Server, f mcpFlags, token string, log *slog.Logger, stderr io.Writer, raise func() int) int {
	h, err := srv.Handler(mcp.HTTPOptions{Token: token, AllowRemote: f.allowRemote})
	if err != nil {
		return errorf(stderr, ExitUsage, "%v", err)
	}
	ln, err := mcp.Listen(f.http, f.allowRemote)
	if err != nil {
		return errorf(stderr, ExitUsage, "%v", err)
	}
	defer ln.Close()
	if code := raise(); code >= 0 { // after the listener is bound: the wall allows no bind
		return code
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stderr, "airlock: MCP endpoint http://%s%s\n", ln.Addr(), mcp.HTTPPath)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return errorf(stderr, ExitUsage, "serving MCP over HTTP: %v", err)
	case <-ctx.Done():
	}
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return 0
}

// mcpApprovals bounds pol by the managed ceiling and builds who answers
// what the policy leaves open when the MCP client cannot be asked: a person
// at airlock's own terminal, when its stdin is one (airlock mcp --http
// started by hand; over stdio, stdin is the client's pipe and the terminal,
// if any, is the agent's), else the policy's headless answer. Remembered
// grants and the audit log are those of airlock run.
func mcpApprovals(pol *policy.Policy, cwd string, headless bool, io stdio) (approvals.Config, *policy.Policy, func(), int) {
	var cfg approvals.Config
	var l policy.Loader
	ceiling, diags := l.LoadCeiling(policy.ManagedPaths(os.LookupEnv))
	policy.WriteDiagnostics(io.err, nil, diags)
	if diags.HasErrors() {
		return cfg, nil, nil, ExitUsage
	}
	pol, diags = ceiling.Apply(pol)
	policy.WriteDiagnostics(io.err, nil, diags)
	if diags.HasErrors() {
		return cfg, nil, nil, ExitUsage
	}
	cfg = approvals.Config{Headless: pol.Approvals.Headless, Ceiling: ceiling}
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if !headless && isTerminal(io.in) {
		if t, err := approvals.OpenTerminal(); err == nil {
			t.Timeout = pol.Approvals.Timeout
			cfg.Approver = t
			closers = append(closers, t.Close)
		}
	}
	grants, diags := approvals.LoadGrants(approvals.ProjectGrantsFile(cwd), approvals.UserGrantsFile())
	policy.WriteDiagnostics(io.err, nil, diags)
	if diags.HasErrors() {
		closeAll()
		return cfg, nil, nil, errorf(io.err, ExitUsage, "a grants file is malformed: fix it, or revoke with airlock grants revoke")
	}
	cfg.Grants = grants
	if path := pol.Approvals.Audit; path != policy.AuditOff {
		if path == "" {
			path = approvals.DefaultAuditFile(cwd)
		}
		a, err := approvals.OpenAudit(path, approvals.DefaultSyncInterval)
		if err != nil {
			closeAll()
			return cfg, nil, nil, errorf(io.err, ExitUsage, "opening the audit log: %v", err)
		}
		cfg.Audit = a
		closers = append(closers, a.Close)
	}
	return cfg, pol, closeAll, -1
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
