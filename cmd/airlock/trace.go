package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/telemetry"
	"github.com/airlockhq/airlock/telemetry/traceview"
)

const traceSynopsis = "usage: airlock trace show [--all] [--trace ID] FILE|-\n  FILE is what `airlock run --otel-file FILE` wrote, or a Collector file exporter's OTLP JSON; - reads stdin."

// traceCmd is `airlock trace show FILE`: a trace file as a tree on the
// terminal.
func traceCmd(ctx context.Context, args []string, std stdio) error {
	switch {
	case len(args) == 0:
		fmt.Fprintln(std.err, traceSynopsis)
		return exitWith(ExitUsage)
	case wantsHelp(args[:1]):
		printHelp(std.out, traceSynopsis, nil)
		return nil
	case args[0] != "show":
		return unknownWord("command", args[0], "airlock trace", []string{"show"})
	}
	fs := newFlags("trace show", std.err)
	var opts traceview.TreeOptions
	fs.BoolVar(&opts.All, "all", false, "print every host call on its own line (default: condense repeated calls)")
	fs.StringVar(&opts.Trace, "trace", "", "show only the trace with this `ID` (or a prefix of it)")
	file, extra, err := parseInterspersed(fs, args[1:], std, traceSynopsis)
	if err != nil {
		return err
	}
	if file == "" || len(extra) > 0 {
		return missingArg(traceSynopsis, "trace show")
	}
	r := std.in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fail(ExitUsage, "reading the trace: %v", err)
		}
		defer f.Close()
		r = f
	}
	if err := traceview.ShowTrace(std.out, r, opts); err != nil {
		return fail(ExitUsage, "%s: %v", file, err)
	}
	return nil
}

// addTelemetryFlags adds the telemetry flags of `airlock run` to fs.
func addTelemetryFlags(fs *flag.FlagSet) *telemetry.Flags {
	var f telemetry.Flags
	fs.StringVar(&f.Exporter, "otel", "", "send spans, logs and metrics: `otlp`, file, stdout or none (default: otlp if OTEL_EXPORTER_OTLP_ENDPOINT is set, else the policy's telemetry block, else none)")
	fs.StringVar(&f.Endpoint, "otel-endpoint", "", "OTLP endpoint `URL`, e.g. http://127.0.0.1:4318 (implies --otel otlp)")
	fs.StringVar(&f.Protocol, "otel-protocol", "", "OTLP protocol: `http` (protobuf) or grpc (default: OTEL_EXPORTER_OTLP_PROTOCOL, the policy, http)")
	fs.StringVar(&f.File, "otel-file", "", "write telemetry as JSON lines to `FILE`, for airlock trace show (implies --otel file)")
	fs.StringVar(&f.SampleRatio, "otel-sample", "", "fraction of runs whose host calls get spans, 0 to 1 (decisions are always logged; default 1)")
	fs.BoolVar(&f.IncludeArgs, "otel-include-args", false, "put the tool's arguments in telemetry (default: only their count and length)")
	fs.DurationVar(&f.FlushTimeout, "otel-flush-timeout", 0, "how long the flush at exit may take (default 2s)")
	return &f
}

// startTelemetry resolves where telemetry goes (flags, then OTEL_*
// variables, then the policy) and starts it. The Provider is nil when
// telemetry is off; ctx comes back carrying $TRACEPARENT when it is on.
// The caller must Shutdown the Provider on every path.
func startTelemetry(ctx context.Context, pol *policy.Policy, f *telemetry.Flags, std stdio) (*telemetry.Provider, context.Context, error) {
	cfg, err := telemetry.Resolve(pol.Telemetry, os.Getenv, *f)
	if err != nil {
		return nil, ctx, fail(ExitUsage, "%v", err)
	}
	if cfg.Exporter == telemetry.ExporterFile && cfg.File != telemetry.DefaultFile {
		if err := refuseLinkOnWay(cfg.File, "the trace", pol); err != nil {
			return nil, ctx, fail(ExitUsage, "%v", err)
		}
	}
	cfg.ServiceVersion = version()
	cfg.Stdout, cfg.Stderr = std.out, std.err
	p, err := telemetry.New(ctx, cfg)
	if err != nil {
		return nil, ctx, fail(ExitUsage, "%v", err)
	}
	if p != nil {
		ctx = telemetry.ContextFromEnv(ctx, os.Getenv)
	}
	return p, ctx, nil
}
