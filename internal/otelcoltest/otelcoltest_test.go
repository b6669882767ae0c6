package otelcoltest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// exporters are the three OTel SDK exporters for one transport.
type exporters struct {
	trace  sdktrace.SpanExporter
	log    sdklog.Exporter
	metric sdkmetric.Exporter
}

func httpExporters(ctx context.Context, c *Collector) (exporters, error) {
	var e exporters
	var err error
	if e.trace, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.HTTPEndpoint()+"/v1/traces")); err != nil {
		return e, err
	}
	if e.log, err = otlploghttp.New(ctx, otlploghttp.WithEndpointURL(c.HTTPEndpoint()+"/v1/logs")); err != nil {
		return e, err
	}
	e.metric, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(c.HTTPEndpoint()+"/v1/metrics"))
	return e, err
}

func grpcExporters(ctx context.Context, c *Collector) (exporters, error) {
	var e exporters
	var err error
	if e.trace, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.GRPCEndpoint()), otlptracegrpc.WithInsecure()); err != nil {
		return e, err
	}
	if e.log, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(c.GRPCEndpoint()), otlploggrpc.WithInsecure()); err != nil {
		return e, err
	}
	e.metric, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(c.GRPCEndpoint()), otlpmetricgrpc.WithInsecure())
	return e, err
}

// TestCollectorReceivesOTLP sends a span tree, an event log record and two
// metrics with the OTel Go SDK, over each transport, to a real collector and
// checks they come back from its files with everything that was set.
func TestCollectorReceivesOTLP(t *testing.T) {
	for _, tc := range []struct {
		transport string
		exporters func(context.Context, *Collector) (exporters, error)
	}{
		{"http", httpExporters},
		{"grpc", grpcExporters},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := Start(ctx, t)
			exp, err := tc.exporters(ctx, c)
			if err != nil {
				t.Fatalf("creating %s exporters: %v", tc.transport, err)
			}
			service := "otelcoltest-" + tc.transport
			res := resource.NewSchemaless(attribute.String("service.name", service))

			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp.trace))
			lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(exp.log)))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
				sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp.metric, sdkmetric.WithInterval(time.Hour))))

			// A tool call span with a child, a decision event inside the
			// child, a counter and a histogram.
			tracer := tp.Tracer("airlock/test")
			ctx, parent := tracer.Start(ctx, "tool.call", trace.WithAttributes(
				attribute.String("tool", "ls"), attribute.Int("args.len", 3),
				attribute.Bool("approved", true), attribute.Float64("ratio", 0.5),
				attribute.StringSlice("paths", []string{"/a", "/b"})))
			childCtx, child := tracer.Start(ctx, "sandbox.exec")
			rec := otellog.Record{}
			rec.SetEventName("airlock.tool_decision")
			rec.SetBody(attribute.StringValue("approved once"))
			rec.SetSeverity(otellog.SeverityInfo)
			rec.AddAttributes(attribute.String("decision", "approved"), attribute.Int64("rule.line", 12))
			lp.Logger("airlock/test").Emit(childCtx, rec)
			child.SetStatus(codes.Error, "exit 1")
			child.End()
			parent.End()

			meter := mp.Meter("airlock/test")
			calls, err := meter.Int64Counter("airlock.tool.call")
			if err != nil {
				t.Fatal(err)
			}
			calls.Add(ctx, 2, metric.WithAttributes(attribute.String("tool", "ls"), attribute.Bool("success", true)))
			dur, err := meter.Float64Histogram("airlock.tool.duration", metric.WithUnit("s"))
			if err != nil {
				t.Fatal(err)
			}
			dur.Record(ctx, 1.5, metric.WithAttributes(attribute.String("tool", "ls")))

			// Shutdown flushes every provider (a final collection for the meter).
			for name, shutdown := range map[string]func(context.Context) error{
				"tracer": tp.Shutdown, "logger": lp.Shutdown, "meter": mp.Shutdown,
			} {
				if err := shutdown(t.Context()); err != nil {
					t.Fatalf("shutting down the %s provider: %v", name, err)
				}
			}

			const wait = 5 * time.Second
			spans := c.WaitForSpans(t, 2, wait)
			byName := map[string]Span{}
			for _, s := range spans {
				byName[s.Name] = s
			}
			p, ch := byName["tool.call"], byName["sandbox.exec"]
			if len(spans) != 2 || p.Name == "" || ch.Name == "" {
				t.Fatalf("spans = %+v, want tool.call and sandbox.exec", spans)
			}
			pc, cc := parent.SpanContext(), child.SpanContext()
			if p.TraceID != pc.TraceID().String() || p.SpanID != pc.SpanID().String() || p.ParentSpanID != "" {
				t.Errorf("tool.call ids = %s/%s parent %q, want %s/%s and no parent",
					p.TraceID, p.SpanID, p.ParentSpanID, pc.TraceID(), pc.SpanID())
			}
			if ch.TraceID != p.TraceID || ch.SpanID != cc.SpanID().String() || ch.ParentSpanID != p.SpanID {
				t.Errorf("sandbox.exec ids = %s/%s parent %s, want %s/%s parent %s",
					ch.TraceID, ch.SpanID, ch.ParentSpanID, p.TraceID, cc.SpanID(), p.SpanID)
			}
			wantAttrs := map[string]any{
				"tool": "ls", "args.len": int64(3), "approved": true, "ratio": 0.5,
				"paths": []any{"/a", "/b"},
			}
			if !reflect.DeepEqual(p.Attributes, wantAttrs) {
				t.Errorf("tool.call attributes = %v, want %v", p.Attributes, wantAttrs)
			}
			if ch.Status != (Status{Code: StatusError, Message: "exit 1"}) || p.Status.Code != StatusUnset {
				t.Errorf("statuses = %+v / %+v, want error \"exit 1\" / unset", ch.Status, p.Status)
			}
			if p.Resource["service.name"] != service || p.Scope != "airlock/test" {
				t.Errorf("tool.call resource %v scope %q, want service.name %s scope airlock/test", p.Resource, p.Scope, service)
			}
			if !p.End.After(p.Start) || p.Start.IsZero() {
				t.Errorf("tool.call times %v .. %v", p.Start, p.End)
			}

			logs := c.WaitForLogs(t, 1, wait)
			if len(logs) != 1 {
				t.Fatalf("logs = %+v, want 1", logs)
			}
			l := logs[0]
			if l.EventName != "airlock.tool_decision" || l.Body != "approved once" ||
				l.SeverityNumber != int(otellog.SeverityInfo) ||
				l.Attributes["decision"] != "approved" || l.Attributes["rule.line"] != int64(12) {
				t.Errorf("log record = %+v", l)
			}
			if l.TraceID != ch.TraceID || l.SpanID != ch.SpanID {
				t.Errorf("log record in %s/%s, want the child span %s/%s", l.TraceID, l.SpanID, ch.TraceID, ch.SpanID)
			}
			if l.Resource["service.name"] != service {
				t.Errorf("log resource = %v", l.Resource)
			}

			metrics := c.WaitForMetrics(t, 2, wait)
			byMetric := map[string]Metric{}
			for _, m := range metrics {
				byMetric[m.Name] = m
			}
			sum := byMetric["airlock.tool.call"]
			if sum.Type != "sum" || !sum.Monotonic || len(sum.Points) != 1 || sum.Points[0].Value != 2 ||
				sum.Points[0].Attributes["tool"] != "ls" || sum.Points[0].Attributes["success"] != true {
				t.Errorf("airlock.tool.call = %+v", sum)
			}
			hist := byMetric["airlock.tool.duration"]
			if hist.Type != "histogram" || hist.Unit != "s" || len(hist.Points) != 1 ||
				hist.Points[0].Count != 1 || hist.Points[0].Value != 1.5 || hist.Points[0].Attributes["tool"] != "ls" {
				t.Errorf("airlock.tool.duration = %+v", hist)
			}
			if sum.Resource["service.name"] != service {
				t.Errorf("metric resource = %v", sum.Resource)
			}
		})
	}
}

// TestStopFlushesAndRefusesNewData: after Stop the files hold everything
// received, and the ports no longer accept connections.
func TestStopFlushesAndRefusesNewData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := Start(ctx, t)
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.HTTPEndpoint()+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	_, span := tp.Tracer("t").Start(ctx, "before-stop")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("exporting to a running collector: %v", err)
	}
	c.Stop()
	if spans := c.Spans(t); len(spans) != 1 || spans[0].Name != "before-stop" {
		t.Fatalf("spans after Stop = %+v, want before-stop", spans)
	}
	for _, addr := range []string{c.GRPCEndpoint(), c.HTTPAddr()} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
	c.Stop() // idempotent
}

func TestReadLinesLeavesAPartialLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	line := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a","traceId":"01","attributes":[{"key":"n","value":{"intValue":"7"}}]}]}]}]}`
	if err := os.WriteFile(path, []byte(line+"\n"+line[:40]), 0o600); err != nil {
		t.Fatal(err)
	}
	spans, err := readSpans(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Name != "a" || spans[0].Attributes["n"] != int64(7) {
		t.Fatalf("spans = %+v, want one span a with n=7", spans)
	}
	if spans, err := readSpans(filepath.Join(t.TempDir(), "missing.jsonl")); err != nil || len(spans) != 0 {
		t.Fatalf("missing file: %v, %v; want no spans and no error", spans, err)
	}
}

// outcomeTB records whether a helper skipped or failed the test, then stops
// the goroutine as the real Skip and Fatal do.
type outcomeTB struct {
	testing.TB
	skipped, failed string
}

func (o *outcomeTB) Helper() {}
func (o *outcomeTB) Skip(args ...any) {
	o.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcomeTB) Fatal(args ...any) {
	o.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcomeTB) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with o on its own goroutine, as Skip and Fatal end it.
func (o *outcomeTB) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(o)
	}()
	<-done
}

// TestCannotBuildSkipsOnlyOutsideCI: a collector that cannot be built skips
// a developer's test but fails it under CI.
func TestCannotBuildSkipsOnlyOutsideCI(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantSkip bool
	}{{"", true}, {"false", true}, {"true", false}, {"1", false}} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			o := &outcomeTB{TB: t}
			o.run(func(tb testing.TB) { cannotBuild(tb, "/nowhere/otelcol", fmt.Errorf("no go command")) })
			got := o.skipped
			if !tc.wantSkip {
				got = o.failed
			}
			if got == "" || (o.skipped != "") != tc.wantSkip {
				t.Fatalf("skipped %q, failed %q; want skip=%v", o.skipped, o.failed, tc.wantSkip)
			}
			if !strings.Contains(got, "no go command") || !strings.Contains(got, ".ci/otelcol.sh") {
				t.Errorf("message %q does not say why and how to fix it", got)
			}
		})
	}
}

// TestStartReportsTheCollectorsStderr: a collector that dies at start fails
// the test at once, with what it printed.
func TestStartReportsTheCollectorsStderr(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "otelcol")
	script := "#!/bin/sh\necho 'error decoding config: boom' >&2\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBinary, bin) // newer than the sources, so used as is
	o := &outcomeTB{TB: t}
	start := time.Now()
	o.run(func(tb testing.TB) { Start(t.Context(), tb) })
	if o.failed == "" || o.skipped != "" {
		t.Fatalf("Start of a dying collector: failed %q, skipped %q; want a failure", o.failed, o.skipped)
	}
	for _, want := range []string{"exited before listening", "exit status 3", "error decoding config: boom"} {
		if !strings.Contains(o.failed, want) {
			t.Errorf("failure %q does not contain %q", o.failed, want)
		}
	}
	if d := time.Since(start); d > readyTimeout/2 {
		t.Errorf("Start took %v to notice the collector died", d)
	}
}
