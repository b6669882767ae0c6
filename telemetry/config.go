package telemetry

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/airlockhq/airlock/policy"
)

// Exporters.
const (
	ExporterOTLP   = "otlp"   // OTLP over HTTP (protobuf) or gRPC
	ExporterFile   = "file"   // JSON lines in a file, for `airlock trace show`
	ExporterStdout = "stdout" // the same JSON lines on standard output
	ExporterNone   = "none"   // telemetry off
)

// Protocols of the OTLP exporter.
const (
	ProtocolHTTP = "http" // OTLP/HTTP with protobuf bodies (the OTLP default)
	ProtocolGRPC = "grpc"
)

// DefaultFlushTimeout bounds the flush at exit when nothing else is set.
const DefaultFlushTimeout = 2 * time.Second

// DefaultFile is where the file exporter writes when no file is named,
// relative to the current directory.
const DefaultFile = ".airlock/trace.jsonl"

// Config says where telemetry goes. The zero Config is off. Build one with
// Resolve, which reads the policy's telemetry block, the OTEL_* environment
// and the CLI flags.
type Config struct {
	// Exporter is ExporterOTLP, ExporterFile, ExporterStdout, or "" or
	// ExporterNone for off.
	Exporter string
	// Endpoint is the OTLP endpoint URL (http://host:port, https://…). Empty
	// lets the exporters read OTEL_EXPORTER_OTLP_ENDPOINT and the
	// per-signal variables themselves, or use the OTLP default.
	Endpoint string
	// Protocol is ProtocolHTTP (the default) or ProtocolGRPC.
	Protocol string
	// File is the file exporter's path.
	File string
	// Sampler decides which runs have their host calls traced (a run that
	// is not sampled still logs every decision). Nil means the
	// OTEL_TRACES_SAMPLER environment variable, or always on if unset.
	Sampler sdktrace.Sampler
	// IncludeArgs puts the tool's arguments and MCP inputs and outputs in
	// spans and log records. Off, only their lengths are kept.
	IncludeArgs bool
	// FlushTimeout bounds Shutdown: what is not exported by then is lost.
	// Zero means DefaultFlushTimeout.
	FlushTimeout time.Duration
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string

	// Stdout receives the stdout exporter's lines; Stderr the one line
	// that says exporting failed. Nil means discard.
	Stdout, Stderr io.Writer

	// SpanExporter, LogExporter and MetricReader, when set, replace the
	// exporters Exporter names (tests, benchmarks, embedding programs).
	SpanExporter sdktrace.SpanExporter
	LogExporter  sdklog.Exporter
	MetricReader sdkmetric.Reader
}

// On reports whether c turns telemetry on.
func (c Config) On() bool {
	return (c.Exporter != "" && c.Exporter != ExporterNone) || c.SpanExporter != nil || c.LogExporter != nil || c.MetricReader != nil
}

// Flags are the telemetry flags of `airlock run`; empty values are unset.
type Flags struct {
	Exporter     string // --otel
	Endpoint     string // --otel-endpoint
	Protocol     string // --otel-protocol
	File         string // --otel-file
	SampleRatio  string // --otel-sample
	IncludeArgs  bool   // --otel-include-args
	FlushTimeout time.Duration
}

// Resolve merges the three sources of telemetry settings. Each setting is
// taken from the first source that sets it: the flags, then the OTEL_*
// environment (read through getenv), then the policy's telemetry block.
// With none of them, telemetry is off.
//
// The exporter is on when a flag names one (--otel, or implied by
// --otel-endpoint or --otel-file), else when OTEL_SDK_DISABLED is true (off)
// or an OTLP endpoint variable is set (otlp), else as the policy says: its
// exporter, or otlp for a block that names none (file, if it names a file).
func Resolve(p policy.Telemetry, getenv func(string) string, f Flags) (Config, error) {
	var c Config
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	envEndpoint := ""
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		if v := env(k); v != "" {
			envEndpoint = v
			break
		}
	}
	policySet := p.Origin.Layer != policy.LayerBuiltin && p.Origin.Layer != ""

	// The exporter.
	switch {
	case f.Exporter != "":
		c.Exporter = f.Exporter
	case f.Endpoint != "":
		c.Exporter = ExporterOTLP
	case f.File != "":
		c.Exporter = ExporterFile
	case strings.EqualFold(env("OTEL_SDK_DISABLED"), "true"):
		c.Exporter = ExporterNone
	case envEndpoint != "":
		c.Exporter = ExporterOTLP
	case p.Exporter != "":
		c.Exporter = p.Exporter
	case policySet && p.File != "":
		c.Exporter = ExporterFile
	case policySet:
		c.Exporter = ExporterOTLP
	}
	switch c.Exporter {
	case "", ExporterNone, ExporterOTLP, ExporterFile, ExporterStdout:
	default:
		return Config{}, fmt.Errorf("unknown telemetry exporter %q: use otlp, file, stdout or none", c.Exporter)
	}

	// The OTLP endpoint and protocol.
	switch {
	case f.Endpoint != "":
		c.Endpoint = f.Endpoint
	case envEndpoint != "":
		// The exporters read the OTEL_* endpoint variables themselves.
	default:
		c.Endpoint = p.Endpoint
	}
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			return Config{}, err
		}
	}
	switch {
	case f.Protocol != "":
		c.Protocol = f.Protocol
	case env("OTEL_EXPORTER_OTLP_PROTOCOL") != "":
		c.Protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	default:
		c.Protocol = p.Protocol
	}
	switch c.Protocol {
	case "", ProtocolHTTP, "http/protobuf":
		c.Protocol = ProtocolHTTP
	case ProtocolGRPC:
	case "http/json":
		return Config{}, fmt.Errorf("OTLP protocol http/json is not supported: use http/protobuf or grpc")
	default:
		return Config{}, fmt.Errorf("unknown OTLP protocol %q: use http (http/protobuf) or grpc", c.Protocol)
	}

	// The file.
	c.File = f.File
	if c.File == "" {
		c.File = p.File
	}
	if c.File == "" {
		c.File = DefaultFile
	}

	// The sampler. OTEL_TRACES_SAMPLER is read by the SDK itself when
	// Sampler stays nil.
	switch {
	case f.SampleRatio != "":
		r, err := strconv.ParseFloat(f.SampleRatio, 64)
		if err != nil || r < 0 || r > 1 {
			return Config{}, fmt.Errorf("the sample ratio must be a number from 0 to 1, not %q", f.SampleRatio)
		}
		c.Sampler = RatioSampler(r)
	case env("OTEL_TRACES_SAMPLER") != "":
	case p.SampleRatioSet:
		c.Sampler = RatioSampler(p.SampleRatio)
	}

	c.IncludeArgs = f.IncludeArgs || p.IncludeArgs
	c.FlushTimeout = f.FlushTimeout
	if c.FlushTimeout == 0 {
		c.FlushTimeout = p.FlushTimeout
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	return c, nil
}

// RatioSampler traces the given fraction of runs that have no sampled
// parent, and every run whose parent (TRACEPARENT, an MCP request's
// metadata) was sampled: ParentBased(TraceIDRatioBased(ratio)).
func RatioSampler(ratio float64) sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the OTLP endpoint must be a URL such as http://127.0.0.1:4318, not %q", s)
	}
	return nil
}

// endpointName is the endpoint as people should read it in an error line.
func (c Config) endpointName(getenv func(string) string) string {
	switch {
	case c.Exporter == ExporterFile:
		return c.File
	case c.Exporter == ExporterStdout:
		return "standard output"
	case c.Endpoint != "":
		return c.Endpoint
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
	}
	if c.Protocol == ProtocolGRPC {
		return "localhost:4317"
	}
	return "http://localhost:4318"
}
