// Package telemetry is airlock's OpenTelemetry setup: the providers and
// exporters (OTLP over HTTP or gRPC, a JSON-lines file, standard output),
// the names of every span, log record and metric (names.go, documented in
// docs/telemetry.md), the wrapper that puts a span around every host call,
// the span of each tool run, and the log records a security team reads:
// each run's start and result, each decision, each MCP request. What the
// file and stdout exporters write (Line) is drawn as trees by package
// traceview (`airlock trace show`).
//
// Telemetry is off unless the CLI flags, the OTEL_* environment or the
// policy's telemetry block ask for it (Resolve); then New returns a
// Provider, and Provider.Configure installs its hooks in a runtime.Config:
//
//	cfg, err := telemetry.Resolve(pol.Telemetry, os.Getenv, flags)
//	tp, err := telemetry.New(ctx, cfg)
//	defer tp.Shutdown(context.Background()) // bounded by cfg.FlushTimeout
//	eng, err := runtime.New(ctx, tp.Configure(runtime.Config{…}))
//
// A nil *Provider is telemetry off: Configure leaves the runtime's hooks
// nil, and the other methods do nothing.
//
// Every decision is logged whatever the sampler says; the sampler decides
// only which runs get host call spans. The one piece of process-wide state
// is the OpenTelemetry error handler (otel.SetErrorHandler), the only
// place the SDK reports export failures: New sets it to print the first
// failure once.
package telemetry
