package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/telemetry"
)

const traceSynopsis = "usage: airlock trace show [--all] [--trace ID] FILE|-\n  FILE is what `airlock run --otel-file FILE` wrote, or a Collector file exporter's OTLP JSON; - reads stdin."

// traceCmd is `airlock trace show FILE`: a trace file as a tree on the
// terminal.
func traceCmd(ctx context.Context, args []string, io stdio) int {
	switch {
	case len(args) == 0:
		fmt.Fprintln(io.err, traceSynopsis)
		return ExitUsage
	case wantsHelp(args[:1]):
		printHelp(io.out, traceSynopsis, nil)
		return 0
	case args[0] != "show":
		return unknownWord(io, "command", args[0], "airlock trace", []string{"show"})
	}
	fs := newFlags("trace show", io.err)
	var opts telemetry.TreeOptions
	fs.BoolVar(&opts.All, "all", false, "print every host call on its own line (default: condense repeated calls)")
	fs.StringVar(&opts.Trace, "trace", "", "show only the trace with this `ID` (or a prefix of it)")
	file, extra, code := parseInterspersed(fs, args[1:], io, traceSynopsis)
	if code >= 0 {
		return code
	}
	if file == "" || len(extra) > 0 {
		return missingArg(io, traceSynopsis, "trace show")
	}
	r := io.in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return errorf(io.err, ExitUsage, "reading the trace: %v", err)
		}
		defer f.Close()
		r = f
	}
	if err := telemetry.ShowTrace(io.out, r, opts); err != nil {
		return errorf(io.err, ExitUsage, "%s: %v", file, err)
	}
	return 0
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
func startTelemetry(ctx context.Context, pol *policy.Policy, f *telemetry.Flags, io stdio) (*telemetry.Provider, context.Context, int) {
	cfg, err := telemetry.Resolve(pol.Telemetry, os.Getenv, *f)
	if err != nil {
		return nil, ctx, errorf(io.err, ExitUsage, "%v", err)
	}
	cfg.ServiceVersion = version()
	cfg.Stdout, cfg.Stderr = io.out, io.err
	p, err := telemetry.New(ctx, cfg)
	if err != nil {
		return nil, ctx, errorf(io.err, ExitUsage, "%v", err)
	}
	if p != nil {
		ctx = telemetry.ContextFromEnv(ctx, os.Getenv)
	}
	return p, ctx, -1
}
