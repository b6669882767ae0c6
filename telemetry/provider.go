package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Provider owns the OpenTelemetry pipelines of one process: a tracer, a
// logger and a meter with their exporters, and the host-call recorder that
// feeds the span exporter. A nil *Provider is valid and does nothing: that
// is telemetry off.
type Provider struct {
	cfg          Config
	res          *resource.Resource
	tp           *sdktrace.TracerProvider
	tracer       trace.Tracer
	lp           *sdklog.LoggerProvider
	logger       log.Logger
	mp           *sdkmetric.MeterProvider
	inst         instruments
	spans        *serialExporter // host call spans go straight here (see calls.go)
	lw           *lineWriter     // the file or stdout exporter, if any
	errs         *errorOnce
	fnMu         sync.Mutex
	fns          map[string]*fnInfo
	fnList       atomic.Pointer[[]*fnInfo] // by fnInfo.index; copied on write
	calls        chan *chunk               // full chunks of host call records, to the exporter goroutine
	drainReq     chan drainRequest
	exporterDone chan struct{}
	stopCtx      context.Context
	stop         context.CancelFunc
	dropped      atomic.Int64 // host call spans dropped because the queue was full
	shutOnce     sync.Once
	shutErr      error
}

// New starts the pipelines cfg describes. When cfg is off it returns
// (nil, nil): a nil Provider is telemetry off, and Configure leaves the
// runtime untouched.
//
// New sets the OpenTelemetry error handler (otel.SetErrorHandler), the only
// process-wide state it touches: the SDK reports export failures nowhere
// else. The handler prints the first error once to cfg.Stderr.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if !cfg.On() {
		return nil, nil
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolHTTP
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "airlock"), attribute.String("service.version", cfg.ServiceVersion)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: describing the resource: %w", err)
	}
	p := &Provider{cfg: cfg, res: res, fns: map[string]*fnInfo{},
		calls: make(chan *chunk, maxQueuedChunks), drainReq: make(chan drainRequest), exporterDone: make(chan struct{})}
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	p.errs = &errorOnce{w: cfg.Stderr, where: cfg.endpointName(os.Getenv), timeout: cfg.FlushTimeout}
	otel.SetErrorHandler(p.errs)

	spanExp, logExp, reader, err := p.exporters(ctx)
	if err != nil {
		return nil, err
	}
	p.spans = &serialExporter{e: spanExp}
	sampler := cfg.Sampler
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithBatcher(p.spans, sdktrace.WithMaxQueueSize(4096), sdktrace.WithExportTimeout(exportTimeout))}
	if sampler != nil {
		topts = append(topts, sdktrace.WithSampler(sampler))
	}
	p.tp = sdktrace.NewTracerProvider(topts...)
	p.tracer = p.tp.Tracer(ScopeName)
	p.lp = sdklog.NewLoggerProvider(sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp, sdklog.WithExportTimeout(exportTimeout))))
	p.logger = p.lp.Logger(ScopeName)
	p.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	if err := p.inst.init(p.mp.Meter(ScopeName), p.observeHostCalls); err != nil {
		return nil, fmt.Errorf("telemetry: creating instruments: %w", err)
	}
	go p.exportCalls()
	return p, nil
}

// exportTimeout bounds one export while a tool runs (the flush at exit has
// its own, shorter bound).
const exportTimeout = 10 * time.Second

// exporters builds what cfg.Exporter names, or takes the ones cfg gives.
func (p *Provider) exporters(ctx context.Context) (sdktrace.SpanExporter, sdklog.Exporter, sdkmetric.Reader, error) {
	cfg := p.cfg
	var spanExp sdktrace.SpanExporter
	var logExp sdklog.Exporter
	var metricExp sdkmetric.Exporter
	switch cfg.Exporter {
	case ExporterFile, ExporterStdout:
		var w io.Writer
		var c io.Closer
		if cfg.Exporter == ExporterFile {
			if err := os.MkdirAll(filepath.Dir(cfg.File), 0o755); err != nil {
				return nil, nil, nil, fmt.Errorf("telemetry: creating the directory of %s: %w", cfg.File, err)
			}
			f, err := openTraceFile(cfg.File)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("telemetry: opening the trace file: %w", err)
			}
			w, c = f, f
		} else {
			w = cfg.Stdout
			if w == nil {
				w = io.Discard
			}
		}
		p.lw = newLineWriter(w, c, p.res)
		spanExp, logExp, metricExp = fileSpans{p.lw}, fileLogs{p.lw}, fileMetrics{p.lw}
	case ExporterOTLP:
		var err error
		spanExp, logExp, metricExp, err = otlpExporters(ctx, cfg)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	if cfg.SpanExporter != nil {
		spanExp = cfg.SpanExporter
	}
	if cfg.LogExporter != nil {
		logExp = cfg.LogExporter
	}
	if spanExp == nil {
		spanExp = discardSpans{}
	}
	if logExp == nil {
		logExp = discardLogs{}
	}
	reader := cfg.MetricReader
	if reader == nil {
		if metricExp == nil {
			reader = sdkmetric.NewManualReader()
		} else {
			reader = sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithTimeout(exportTimeout))
		}
	}
	return spanExp, logExp, reader, nil
}

// openTraceFile opens the file exporter's file to append to it: never
// through a symbolic link in its last component, never anything but a
// regular file. A tool that could write the folder in an earlier run could
// have left a link there to a file it may not write (.git/config, a shell's
// rc file), and airlock would append lines holding names the tool chose.
func openTraceFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|fileOpenFlags, 0o644)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%s is a symbolic link; airlock does not write its trace through one (a tool may have made it): remove it or name another file", path)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

// File is the file the file exporter appends to, "" for a nil Provider and
// for the other exporters. It is airlock's state while a tool runs: no
// tool may write what a person later reads as airlock's record.
func (p *Provider) File() string {
	if p == nil || p.cfg.Exporter != ExporterFile {
		return ""
	}
	return p.cfg.File
}

// otlpExporters builds the three OTLP exporters. An endpoint in cfg wins
// over the OTEL_* variables; without one, the exporters read those
// variables themselves (endpoint, headers, TLS, timeout, compression).
func otlpExporters(ctx context.Context, cfg Config) (sdktrace.SpanExporter, sdklog.Exporter, sdkmetric.Exporter, error) {
	var host, base string
	insecure := false
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("telemetry: parsing the endpoint %q: %w", cfg.Endpoint, err)
		}
		host, base, insecure = u.Host, strings.TrimSuffix(u.Path, "/"), u.Scheme == "http"
	}
	// One attempt per export, retried for at most the flush bound: a
	// collector that is down must not hold anything up for long.
	retry := struct {
		Enabled                                  bool
		InitialInterval, MaxInterval, MaxElapsed time.Duration
	}{true, 200 * time.Millisecond, time.Second, cfg.FlushTimeout}

	if cfg.Protocol == ProtocolGRPC {
		var topts []otlptracegrpc.Option
		var lopts []otlploggrpc.Option
		var mopts []otlpmetricgrpc.Option
		topts = append(topts, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
		lopts = append(lopts, otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
		mopts = append(mopts, otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
		if host != "" {
			topts = append(topts, otlptracegrpc.WithEndpoint(host))
			lopts = append(lopts, otlploggrpc.WithEndpoint(host))
			mopts = append(mopts, otlpmetricgrpc.WithEndpoint(host))
			if insecure {
				topts = append(topts, otlptracegrpc.WithInsecure())
				lopts = append(lopts, otlploggrpc.WithInsecure())
				mopts = append(mopts, otlpmetricgrpc.WithInsecure())
			}
		}
		te, err := otlptracegrpc.New(ctx, topts...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/gRPC trace exporter: %w", err)
		}
		le, err := otlploggrpc.New(ctx, lopts...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/gRPC log exporter: %w", err)
		}
		me, err := otlpmetricgrpc.New(ctx, mopts...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/gRPC metric exporter: %w", err)
		}
		return te, le, me, nil
	}

	var topts []otlptracehttp.Option
	var lopts []otlploghttp.Option
	var mopts []otlpmetrichttp.Option
	topts = append(topts, otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
	lopts = append(lopts, otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
	mopts = append(mopts, otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: retry.Enabled, InitialInterval: retry.InitialInterval, MaxInterval: retry.MaxInterval, MaxElapsedTime: retry.MaxElapsed}))
	if host != "" {
		topts = append(topts, otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path.Join("/", base, "v1/traces")))
		lopts = append(lopts, otlploghttp.WithEndpoint(host), otlploghttp.WithURLPath(path.Join("/", base, "v1/logs")))
		mopts = append(mopts, otlpmetrichttp.WithEndpoint(host), otlpmetrichttp.WithURLPath(path.Join("/", base, "v1/metrics")))
		if insecure {
			topts = append(topts, otlptracehttp.WithInsecure())
			lopts = append(lopts, otlploghttp.WithInsecure())
			mopts = append(mopts, otlpmetrichttp.WithInsecure())
		}
	}
	te, err := otlptracehttp.New(ctx, topts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/HTTP trace exporter: %w", err)
	}
	le, err := otlploghttp.New(ctx, lopts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/HTTP log exporter: %w", err)
	}
	me, err := otlpmetrichttp.New(ctx, mopts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("telemetry: creating the OTLP/HTTP metric exporter: %w", err)
	}
	return te, le, me, nil
}

// ForceFlush exports everything recorded so far (host call spans of runs
// still going are exported when their chunk fills or the run ends).
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.drainCalls(ctx, false); err != nil {
		return err
	}
	return errors.Join(p.tp.ForceFlush(ctx), p.lp.ForceFlush(ctx), p.mp.ForceFlush(ctx))
}

// Shutdown flushes every span, log record and metric and stops the
// pipelines, within the configured flush timeout (and ctx): what is not
// exported by then is dropped, so a collector that is down or slow never
// holds a tool's exit up for longer. An export failure is printed once (the
// error handler) and returned. Calls after the first return its result.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.shutOnce.Do(func() {
		p.errs.flushing.Store(true)
		ctx, cancel := context.WithTimeout(ctx, p.cfg.FlushTimeout)
		defer cancel()
		stopAfter := context.AfterFunc(ctx, p.stop) // an export in flight gives up at the deadline
		defer stopAfter()
		var errs [4]error
		errs[0] = p.drainCalls(ctx, true)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); errs[1] = p.tp.Shutdown(ctx) }()
		go func() { defer wg.Done(); errs[2] = p.lp.Shutdown(ctx) }()
		go func() { defer wg.Done(); errs[3] = p.mp.Shutdown(ctx) }()
		wg.Wait()
		p.stop()
		all := errs[:]
		if p.lw != nil {
			all = append(all, p.lw.close())
		}
		err := joinUnique(all)
		p.errs.Handle(err)
		if n := p.dropped.Load(); n > 0 {
			p.errs.Handle(fmt.Errorf("%d host call spans dropped: the exporter could not keep up", n))
		}
		p.shutErr = err
	})
	return p.shutErr
}

// joinUnique joins the errors with distinct messages (the three pipelines
// often fail alike).
func joinUnique(errs []error) error {
	var out []error
	seen := map[string]bool{}
	for _, e := range errs {
		if e == nil || seen[e.Error()] {
			continue
		}
		seen[e.Error()] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}

// errorOnce is the OpenTelemetry error handler: it prints the first error
// as one line and swallows the rest, so a collector that is down says so
// once, not once per batch.
type errorOnce struct {
	w        io.Writer
	where    string
	timeout  time.Duration // the flush timeout
	flushing atomic.Bool   // Shutdown has begun: a cancelled export ran out of time
	done     atomic.Bool
}

func (e *errorOnce) Handle(err error) {
	if err == nil || e.done.Swap(true) {
		return
	}
	if e.flushing.Load() && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = fmt.Errorf("not everything was exported within the flush timeout (%s): %w", e.timeout, err)
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintf(e.w, "airlock: telemetry: exporting to %s: %s (further telemetry errors not shown)\n", e.where, msg)
}

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// serialExporter lets two goroutines share one span exporter (the batch
// span processor for run spans and the host-call exporter goroutine), since
// exporters need not be safe for concurrent use.
type serialExporter struct {
	mu sync.Mutex
	e  sdktrace.SpanExporter
}

func (s *serialExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e.ExportSpans(ctx, spans)
}

func (s *serialExporter) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e.Shutdown(ctx)
}

// instruments are the metrics of a Provider.
type instruments struct {
	runs        metric.Int64Counter
	runDuration metric.Float64Histogram
	decisions   metric.Int64Counter
	netBytes    metric.Int64Counter
	mcpRequests metric.Int64Counter
	mcpDuration metric.Float64Histogram
	hostCalls   metric.Int64ObservableCounter
}

func (in *instruments) init(m metric.Meter, observe metric.Int64Callback) error {
	var err, e error
	in.runs, e = m.Int64Counter(MetricRuns, metric.WithUnit("{run}"), metric.WithDescription("Tool runs, by tool and how they ended."))
	err = errors.Join(err, e)
	in.runDuration, e = m.Float64Histogram(MetricRunDuration, metric.WithUnit("s"), metric.WithDescription("Wall time of tool runs."))
	err = errors.Join(err, e)
	in.decisions, e = m.Int64Counter(MetricDecisions, metric.WithUnit("{decision}"), metric.WithDescription("Decisions, by outcome, source and kind."))
	err = errors.Join(err, e)
	in.netBytes, e = m.Int64Counter(MetricNetBytes, metric.WithUnit("By"), metric.WithDescription("Bytes moved through airlock's network host functions, by direction."))
	err = errors.Join(err, e)
	in.mcpRequests, e = m.Int64Counter(MetricMCPRequests, metric.WithUnit("{request}"), metric.WithDescription("MCP requests, by method and outcome."))
	err = errors.Join(err, e)
	in.mcpDuration, e = m.Float64Histogram(MetricMCPDuration, metric.WithUnit("s"), metric.WithDescription("Time to answer MCP requests."))
	err = errors.Join(err, e)
	in.hostCalls, e = m.Int64ObservableCounter(MetricHostCalls, metric.WithUnit("{call}"),
		metric.WithDescription("Host calls made by tools, by module and function."), metric.WithInt64Callback(observe))
	return errors.Join(err, e)
}

// observeHostCalls reports the per-function call counters the wrapper
// keeps with one atomic add per call.
func (p *Provider) observeHostCalls(_ context.Context, o metric.Int64Observer) error {
	p.fnMu.Lock()
	defer p.fnMu.Unlock()
	for _, fi := range p.fns {
		if n := fi.calls.Load(); n > 0 {
			o.Observe(n, metric.WithAttributeSet(fi.attrSet))
		}
	}
	return nil
}
