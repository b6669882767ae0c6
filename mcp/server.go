package mcp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	goruntime "runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// Defaults for the Options left zero.
const (
	DefaultPollInterval     = time.Second
	DefaultProgressInterval = time.Second
	DefaultMaxOutput        = 1 << 20 // bytes of stdout returned per call
	DefaultStderrShown      = 8 << 10 // bytes of stderr shown in a failed call's result
)

// Options configure a Server. ToolsDir, Engine and Policy are required.
type Options struct {
	// ToolsDir is the folder of tool manifests (see docs/mcp.md).
	ToolsDir string
	// Engine runs the tools; the server compiles every tool for it with
	// runtime.InterruptInstrument, so that a cancelled or timed-out call
	// stops its guest for real.
	Engine *runtime.Engine
	// Policy is the base policy of every call. A tool's manifest can only
	// narrow it (less memory, a shorter timeout, fewer writable mounts,
	// fewer environment variables).
	Policy *policy.Policy
	// MaxConcurrent caps the runs in progress at once; further calls wait
	// in a queue (in arrival order, as long as their caller waits). Zero
	// means 2 × GOMAXPROCS.
	MaxConcurrent int
	// Approvals configures every call's approvals (approvals.Config):
	// Approvals.Approver is who answers when the client cannot be asked (no
	// elicitation capability): the terminal if airlock has one, nil for
	// none; it is asked one question at a time. Then Approvals.Headless
	// answers (set it from the policy's approvals.headless). Grants, Audit
	// and Ceiling are shared by all calls. Each MCP session gets its own
	// Broker, shared by its calls in flight, whose Approver is
	// Elicitation, then this one. The approval mode is the policy's
	// (on-request when it names none).
	Approvals approvals.Config
	// Logger receives the server's own log (load problems, refused HTTP
	// requests). Nil discards it.
	Logger *slog.Logger
	// Observe, if set, is told of every MCP request (telemetry). Nil costs
	// nothing.
	Observe Observer

	// PollInterval is how often the tools folder is checked for changes
	// by Watch. Zero means DefaultPollInterval.
	PollInterval time.Duration
	// ProgressInterval is how often a call that asked for progress
	// (a progress token) is told it is still running. Zero means
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// ApprovalTimeout bounds how long a run waits for the client's answer
	// to an approval; no answer is a denial. Zero means the policy's
	// approvals.timeout.
	ApprovalTimeout time.Duration
	// MaxOutput caps the stdout a call returns, in bytes; the policy's
	// output limit is lowered to it. Zero means DefaultMaxOutput.
	MaxOutput int64
	// ProtocolVersions, if not empty, narrows the MCP protocol versions
	// served (sdk.ServerOptions.SupportedProtocolVersions).
	ProtocolVersions []string
	// Version is reported to clients as the server's version.
	Version string
}

// Server is airlock's MCP server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	sdk  *sdk.Server
	log  *slog.Logger
	sem  chan struct{}
	disc disconnects

	fallback approvals.Approver // opts.Approvals.Approver, one question at a time

	// ctx ends when the server is closed; every run is cancelled with it.
	ctx    context.Context
	cancel context.CancelFunc
	runs   sync.WaitGroup

	calls, running atomic.Int64 // calls in flight; runs holding a slot

	reloading sync.Mutex      // one Reload at a time
	warned    map[string]bool // manifest warnings already logged; under reloading
	serving   bool            // New's first Reload is done; under reloading
	loading   sync.WaitGroup  // modules being loaded
	loadTurn  chan struct{}   // bounds the modules loaded at once

	mu       sync.Mutex
	tools    map[string]*tool
	seen     fingerprint
	problems []string           // the last read's manifest problems, file:line:col first
	failed   map[string]failure // tools whose module did not load
	pending  map[string]*call   // calls suspended on an approval (protocol 2026-07-28)
	closed   bool

	sessions map[*sdk.ServerSession]*session // under mu: sessions with calls in flight
}

// New loads the tools in opts.ToolsDir, compiles them and returns a server
// ready to serve. A malformed manifest or a module that cannot be loaded
// is reported (Problems, the log) and left out; the others load. New fails
// only when the folder cannot be read or a required option is missing.
func New(ctx context.Context, opts Options) (*Server, error) {
	switch {
	case opts.Engine == nil:
		return nil, errors.New("mcp: Options.Engine is nil")
	case opts.Policy == nil:
		return nil, errors.New("mcp: Options.Policy is nil")
	case opts.ToolsDir == "":
		return nil, errors.New("mcp: Options.ToolsDir is empty")
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 2 * goruntime.GOMAXPROCS(0)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	if opts.ApprovalTimeout <= 0 {
		opts.ApprovalTimeout = opts.Policy.Approvals.Timeout
	}
	if opts.ApprovalTimeout <= 0 {
		opts.ApprovalTimeout = policy.DefaultPromptTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:   opts,
		log:    log,
		sem:    make(chan struct{}, opts.MaxConcurrent),
		tools:  map[string]*tool{},
		warned: map[string]bool{},
		failed: map[string]failure{},

		loadTurn: make(chan struct{}, goruntime.GOMAXPROCS(0)),
		pending:  map[string]*call{},
		sessions: map[*sdk.ServerSession]*session{},
	}
	s.fallback = newSerial(opts.Approvals.Approver)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "airlock", Title: "airlock: sandboxed tools", Version: version}, &sdk.ServerOptions{
		Instructions: "Every tool runs in a WebAssembly sandbox under airlock's policy. " +
			"A tool result lists what the sandbox denied; a denial is final for that call.",
		Logger: slog.New(minLevel{log.Handler(), slog.LevelWarn}),
		// Tools may come and go while clients are connected, so the
		// capability is declared whatever the folder holds at start.
		// Logging serves clients on protocols before 2026-07-28 only
		// (see legacyLog).
		Capabilities: &sdk.ServerCapabilities{
			Tools: &sdk.ToolCapabilities{ListChanged: true},
			//lint:ignore SA1019 for clients on protocols before 2026-07-28 (legacyLog)
			Logging: &sdk.LoggingCapabilities{},
		},
		SupportedProtocolVersions: opts.ProtocolVersions,
		InitializedHandler: func(ctx context.Context, req *sdk.InitializedRequest) {
			s.logProblems(ctx, req.Session)
		},
	})
	s.sdk.AddReceivingMiddleware(s.observe)
	if err := s.Reload(ctx); err != nil {
		s.cancel()
		return nil, err
	}
	s.reloading.Lock()
	s.serving = true
	s.reloading.Unlock()
	return s, nil
}

// SDK returns the underlying SDK server, to connect other transports
// (sdk.NewInMemoryTransports in tests and benchmarks).
func (s *Server) SDK() *sdk.Server { return s.sdk }

// Tools returns the names of the tools on offer, sorted.
func (s *Server) Tools() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.tools))
	for n := range s.tools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Problems returns what loading the folder reported: one line per
// malformed manifest or module that could not be loaded, starting with
// file:line:col. A module is loaded after Reload returns (see Ready).
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problemsLocked()
}

// Stats is a snapshot of the work in progress.
type Stats struct {
	Calls   int // tool calls in flight: queued, running or waiting on an approval
	Running int // runs holding one of the MaxConcurrent slots
	Waiting int // calls suspended on an approval the client has not answered yet
}

// Stats returns what the server is doing now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	waiting := len(s.pending)
	s.mu.Unlock()
	return Stats{Calls: int(s.calls.Load()), Running: int(s.running.Load()), Waiting: waiting}
}

// ServeStdio serves one session on in and out (newline-delimited JSON-RPC,
// the stdio transport) until the client closes in or ctx ends; then every
// run of the session is stopped. A client that hangs up is not an error.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	err := s.sdk.Run(ctx, &sdk.IOTransport{Reader: nopReadCloser{in}, Writer: nopWriteCloser{out}})
	if errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, syscall.EPIPE) { // the client closed its end of out
		return nil
	}
	return err
}

type nopReadCloser struct{ io.Reader }

func (nopReadCloser) Close() error { return nil }

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// Close stops every run in progress, waits for them to end and releases
// the tools. Sessions end when their transports close.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.runs.Wait()
	s.loading.Wait()
	return nil
}

// logProblems sends the load problems to one session as log notifications
// (see legacyLog; stderr always has them).
func (s *Server) logProblems(ctx context.Context, ss *sdk.ServerSession) {
	for _, p := range s.Problems() {
		legacyLog(ctx, ss, p)
	}
}

// broadcastProblems sends new load problems to every session.
func (s *Server) broadcastProblems(ctx context.Context, problems []string) {
	for ss := range s.sdk.Sessions() {
		for _, p := range problems {
			legacyLog(ctx, ss, p)
		}
	}
}

// legacyLog sends msg to ss as an error log notification if ss speaks a
// protocol before 2026-07-28 (and, as the SDK checks, set a log level).
// Protocol 2026-07-28 deprecates logging (SEP-2577); the server's stderr
// and Server.Problems have every load problem whatever the client speaks
// (RATIONALE.md, "Why are load problems log notifications only for older
// clients?").
func legacyLog(ctx context.Context, ss *sdk.ServerSession, msg string) {
	if p := ss.InitializeParams(); p == nil || p.ProtocolVersion >= protocolMRTR {
		return
	}
	//lint:ignore SA1019 only for clients on protocols before 2026-07-28
	_ = ss.Log(ctx, &sdk.LoggingMessageParams{Level: "error", Logger: "airlock", Data: msg})
}

func (s *Server) approvalTimeout() time.Duration { return s.opts.ApprovalTimeout }

// minLevel passes on records at min and above: the SDK logs every session
// at Info, which is noise on airlock's stderr.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(as), m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{m.Handler.WithGroup(name), m.min}
}
