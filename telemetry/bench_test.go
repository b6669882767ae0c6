package telemetry_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tetratelabs/wazero/api"

	"github.com/airlockhq/airlock/internal/host"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
	"github.com/airlockhq/airlock/telemetry"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// BenchmarkOverhead runs a host-call-heavy guest with telemetry off, on but
// not sampled (ratio 0: every decision is still logged, host calls are only
// counted) and always on (ratio 1: a span per host call, batched to an
// exporter that discards them). Each iteration runs the three one after the
// other, so that the machine's drift hits them alike, and the time of a run
// includes flushing its spans. The ratios to "off" are reported as
// unsampled/off and on/off.
//
//	go test -run XXX -bench Overhead -benchtime 20x ./telemetry
func BenchmarkOverhead(b *testing.B) {
	const calls = 100_000
	for _, kind := range []string{"write", "stdout", "clock"} {
		b.Run(kind, func(b *testing.B) {
			modes := []struct {
				name    string
				sampler sdktrace.Sampler
				off     bool
			}{{name: "off", off: true}, {name: "unsampled", sampler: telemetry.RatioSampler(0)}, {name: "on", sampler: telemetry.RatioSampler(1)}}
			type engine struct {
				eng *runtime.Engine
				p   *telemetry.Provider
			}
			engines := make([]engine, len(modes))
			cache := filepath.Join(tmpDir, "cache")
			for i, m := range modes {
				var p *telemetry.Provider
				if !m.off {
					var err error
					p, err = telemetry.New(context.Background(), telemetry.Config{Sampler: m.sampler,
						SpanExporter: discardSpans{}, LogExporter: discardLogs{}, MetricReader: sdkmetric.NewManualReader()})
					if err != nil {
						b.Fatal(err)
					}
				}
				eng, err := runtime.New(context.Background(), p.Configure(runtime.Config{CacheDir: cache}))
				if err != nil {
					b.Fatal(err)
				}
				engines[i] = engine{eng, p}
				defer eng.Close(context.Background())
				defer p.Shutdown(context.Background())
			}
			work := b.TempDir()
			pol := policy.Default(work)
			args := []string{"hot", strconv.Itoa(calls), kind}
			run := func(e engine) time.Duration {
				start := time.Now()
				res, err := e.eng.Run(context.Background(), runtime.Spec{Module: guest, Args: args, Stdout: io.Discard, Policy: pol})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("run: %v %+v", err, res)
				}
				if err := e.p.ForceFlush(context.Background()); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for _, e := range engines { // compile and warm up
				run(e)
			}
			total := make([]time.Duration, len(modes))
			for b.Loop() {
				for i, e := range engines {
					total[i] += run(e)
				}
			}
			n := float64(b.N)
			for i, m := range modes {
				b.ReportMetric(float64(total[i].Milliseconds())/n, m.name+"-ms/run")
			}
			b.ReportMetric(float64(total[1])/float64(total[0]), "unsampled/off")
			b.ReportMetric(float64(total[2])/float64(total[0]), "on/off")
			os.Remove(filepath.Join(work, "hot.txt"))
		})
	}
}

// BenchmarkWrapper measures the wrapper alone, around a host function that
// does nothing: its cost per call with telemetry off (no wrapper), on but
// not sampled, and sampled (the record made on the guest's thread; the
// spans are exported by another goroutine, not measured here).
func BenchmarkWrapper(b *testing.B) {
	noop := api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) { stack[0] = 0 })
	for _, m := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{{"off", nil}, {"unsampled", telemetry.RatioSampler(0)}, {"sampled", telemetry.RatioSampler(1)}} {
		b.Run(m.name, func(b *testing.B) {
			fn := api.GoModuleFunction(noop)
			ctx := context.Background()
			if m.sampler != nil {
				p, err := telemetry.New(ctx, telemetry.Config{Sampler: m.sampler,
					SpanExporter: discardSpans{}, LogExporter: discardLogs{}, MetricReader: sdkmetric.NewManualReader()})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Shutdown(context.Background())
				fn = p.Wrap(host.WASIModule, "clock_time_get", noop)
				var finish func(*runtime.Result)
				ctx, finish = p.PrepareRun(ctx, &runtime.Spec{}, &host.Run{Tool: "bench"})
				defer finish(&runtime.Result{})
			}
			stack := make([]uint64, 3)
			b.ReportAllocs()
			for b.Loop() {
				fn.Call(ctx, nil, stack)
			}
		})
	}
}
