package otelcoltest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// Span is one exported span. IDs are lowercase hex; ParentSpanID is empty
// for a root span. Attribute values are string, bool, int64, float64,
// []byte, []any or map[string]any.
type Span struct {
	Name         string
	Kind         int // OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
	TraceID      string
	SpanID       string
	ParentSpanID string
	Start, End   time.Time
	Attributes   map[string]any
	Events       []SpanEvent
	Status       Status
	Resource     map[string]any // the resource's attributes
	Scope        string         // the instrumentation scope's name
}

// SpanEvent is an event recorded on a span.
type SpanEvent struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// Status is a span's status.
type Status struct {
	Code    StatusCode
	Message string
}

// StatusCode is the OTLP status code.
type StatusCode int

// The OTLP status codes.
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// LogRecord is one exported log record. EventName is empty when the
// record is not an event. Body is a value like an attribute's, or nil.
type LogRecord struct {
	EventName      string
	Time           time.Time
	SeverityNumber int
	SeverityText   string
	Body           any
	Attributes     map[string]any
	TraceID        string
	SpanID         string
	Resource       map[string]any
	Scope          string
}

// Metric is one exported metric: one entry per metric per export, so a
// periodic reader's repeated exports show up as repeated entries.
type Metric struct {
	Name        string
	Description string
	Unit        string
	// Type is "sum", "gauge", "histogram", "exponentialHistogram" or "summary".
	Type      string
	Monotonic bool // sums only
	Points    []DataPoint
	Resource  map[string]any
	Scope     string
}

// DataPoint is one data point of a metric.
type DataPoint struct {
	Attributes map[string]any
	// Value is a sum's or gauge's value (integers converted), or the sum of
	// a histogram's or summary's observations.
	Value float64
	// Count is the number of observations of a histogram or summary.
	Count uint64
	// Bounds and BucketCounts are an explicit histogram's buckets.
	Bounds       []float64
	BucketCounts []uint64
	Time         time.Time
}

// Spans returns every span exported so far.
func (c *Collector) Spans(t testing.TB) []Span {
	t.Helper()
	spans, err := readSpans(c.file("traces"))
	if err != nil {
		t.Fatalf("otelcoltest: %v", err)
	}
	return spans
}

// Logs returns every log record exported so far.
func (c *Collector) Logs(t testing.TB) []LogRecord {
	t.Helper()
	logs, err := readLogs(c.file("logs"))
	if err != nil {
		t.Fatalf("otelcoltest: %v", err)
	}
	return logs
}

// Metrics returns every metric exported so far.
func (c *Collector) Metrics(t testing.TB) []Metric {
	t.Helper()
	metrics, err := readMetrics(c.file("metrics"))
	if err != nil {
		t.Fatalf("otelcoltest: %v", err)
	}
	return metrics
}

// WaitForSpans polls until at least n spans have been exported and returns
// them all, failing the test after timeout.
func (c *Collector) WaitForSpans(t testing.TB, n int, timeout time.Duration) []Span {
	t.Helper()
	return waitFor(t, c, "spans", n, timeout, func() ([]Span, error) { return readSpans(c.file("traces")) })
}

// WaitForLogs polls until at least n log records have been exported and
// returns them all, failing the test after timeout.
func (c *Collector) WaitForLogs(t testing.TB, n int, timeout time.Duration) []LogRecord {
	t.Helper()
	return waitFor(t, c, "log records", n, timeout, func() ([]LogRecord, error) { return readLogs(c.file("logs")) })
}

// WaitForMetrics polls until at least n metric entries have been exported
// and returns them all, failing the test after timeout.
func (c *Collector) WaitForMetrics(t testing.TB, n int, timeout time.Duration) []Metric {
	t.Helper()
	return waitFor(t, c, "metrics", n, timeout, func() ([]Metric, error) { return readMetrics(c.file("metrics")) })
}

func waitFor[T any](t testing.TB, c *Collector, what string, n int, timeout time.Duration, read func() ([]T, error)) []T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := read()
		if err != nil {
			t.Fatalf("otelcoltest: %v", err)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("otelcoltest: %d %s exported after %v, want at least %d: %+v\ncollector stderr:\n%s",
				len(got), what, timeout, n, got, c.Stderr())
		}
		time.Sleep(pollInterval)
	}
}

// readLines returns the complete lines of a JSON-lines file. A last line
// without its newline is still being written (the exporter's buffer was
// flushed mid-line) and is left for the next read. A missing file is empty.
func readLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading exported telemetry: %w", err)
	}
	var lines [][]byte
	for {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			return lines, nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			lines = append(lines, line)
		}
		data = rest
	}
}

func decodeLines[T any](path string, each func(T)) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	for i, line := range lines {
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("decoding line %d of %s: %w", i+1, path, err)
		}
		each(v)
	}
	return nil
}

func readSpans(path string) ([]Span, error) {
	var out []Span
	err := decodeLines(path, func(d jsonTraces) {
		for _, rs := range d.ResourceSpans {
			res := attrs(rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					span := Span{
						Name:         s.Name,
						Kind:         s.Kind,
						TraceID:      s.TraceID,
						SpanID:       s.SpanID,
						ParentSpanID: s.ParentSpanID,
						Start:        nanos(s.StartTimeUnixNano),
						End:          nanos(s.EndTimeUnixNano),
						Attributes:   attrs(s.Attributes),
						Status:       Status{Code: StatusCode(s.Status.Code), Message: s.Status.Message},
						Resource:     res,
						Scope:        ss.Scope.Name,
					}
					for _, e := range s.Events {
						span.Events = append(span.Events, SpanEvent{
							Name: e.Name, Time: nanos(e.TimeUnixNano), Attributes: attrs(e.Attributes),
						})
					}
					out = append(out, span)
				}
			}
		}
	})
	return out, err
}

func readLogs(path string) ([]LogRecord, error) {
	var out []LogRecord
	err := decodeLines(path, func(d jsonLogs) {
		for _, rl := range d.ResourceLogs {
			res := attrs(rl.Resource.Attributes)
			for _, sl := range rl.ScopeLogs {
				for _, r := range sl.LogRecords {
					out = append(out, LogRecord{
						EventName:      r.EventName,
						Time:           nanos(r.TimeUnixNano),
						SeverityNumber: r.SeverityNumber,
						SeverityText:   r.SeverityText,
						Body:           r.Body.value(),
						Attributes:     attrs(r.Attributes),
						TraceID:        r.TraceID,
						SpanID:         r.SpanID,
						Resource:       res,
						Scope:          sl.Scope.Name,
					})
				}
			}
		}
	})
	return out, err
}

func readMetrics(path string) ([]Metric, error) {
	var out []Metric
	err := decodeLines(path, func(d jsonMetrics) {
		for _, rm := range d.ResourceMetrics {
			res := attrs(rm.Resource.Attributes)
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					metric := Metric{
						Name: m.Name, Description: m.Description, Unit: m.Unit,
						Resource: res, Scope: sm.Scope.Name,
					}
					switch {
					case m.Sum != nil:
						metric.Type, metric.Monotonic = "sum", m.Sum.IsMonotonic
						metric.Points = numberPoints(m.Sum.DataPoints)
					case m.Gauge != nil:
						metric.Type = "gauge"
						metric.Points = numberPoints(m.Gauge.DataPoints)
					case m.Histogram != nil:
						metric.Type = "histogram"
						for _, p := range m.Histogram.DataPoints {
							dp := DataPoint{
								Attributes: attrs(p.Attributes), Value: p.Sum, Count: uint64(p.Count),
								Bounds: p.ExplicitBounds, Time: nanos(p.TimeUnixNano),
							}
							for _, b := range p.BucketCounts {
								dp.BucketCounts = append(dp.BucketCounts, uint64(b))
							}
							metric.Points = append(metric.Points, dp)
						}
					case m.ExponentialHistogram != nil:
						metric.Type = "exponentialHistogram"
						metric.Points = summaryPoints(m.ExponentialHistogram.DataPoints)
					case m.Summary != nil:
						metric.Type = "summary"
						metric.Points = summaryPoints(m.Summary.DataPoints)
					}
					out = append(out, metric)
				}
			}
		}
	})
	return out, err
}

func numberPoints(ps []jsonNumberPoint) []DataPoint {
	var out []DataPoint
	for _, p := range ps {
		v := p.AsDouble
		if p.AsInt != nil {
			v = float64(*p.AsInt)
		}
		out = append(out, DataPoint{Attributes: attrs(p.Attributes), Value: v, Time: nanos(p.TimeUnixNano)})
	}
	return out
}

func summaryPoints(ps []jsonSummaryPoint) []DataPoint {
	var out []DataPoint
	for _, p := range ps {
		out = append(out, DataPoint{
			Attributes: attrs(p.Attributes), Value: p.Sum, Count: uint64(p.Count), Time: nanos(p.TimeUnixNano),
		})
	}
	return out
}

// nanos turns OTLP's Unix nanoseconds into a time; zero stays the zero time.
func nanos(n jsonInt) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func attrs(kvs []jsonKeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value.value()
	}
	return m
}

// The OTLP JSON encoding, as the collector's file exporter writes it
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// camelCase names, hex trace and span IDs, 64-bit integers as strings,
// enums as numbers.

type jsonResource struct {
	Attributes []jsonKeyValue `json:"attributes"`
}

type jsonScope struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonTraces struct {
	ResourceSpans []struct {
		Resource   jsonResource `json:"resource"`
		ScopeSpans []struct {
			Scope jsonScope  `json:"scope"`
			Spans []jsonSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type jsonSpan struct {
	TraceID           string         `json:"traceId"`
	SpanID            string         `json:"spanId"`
	ParentSpanID      string         `json:"parentSpanId"`
	Name              string         `json:"name"`
	Kind              int            `json:"kind"`
	StartTimeUnixNano jsonInt        `json:"startTimeUnixNano"`
	EndTimeUnixNano   jsonInt        `json:"endTimeUnixNano"`
	Attributes        []jsonKeyValue `json:"attributes"`
	Events            []struct {
		TimeUnixNano jsonInt        `json:"timeUnixNano"`
		Name         string         `json:"name"`
		Attributes   []jsonKeyValue `json:"attributes"`
	} `json:"events"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

type jsonLogs struct {
	ResourceLogs []struct {
		Resource  jsonResource `json:"resource"`
		ScopeLogs []struct {
			Scope      jsonScope `json:"scope"`
			LogRecords []struct {
				TimeUnixNano   jsonInt        `json:"timeUnixNano"`
				SeverityNumber int            `json:"severityNumber"`
				SeverityText   string         `json:"severityText"`
				Body           jsonAnyValue   `json:"body"`
				Attributes     []jsonKeyValue `json:"attributes"`
				TraceID        string         `json:"traceId"`
				SpanID         string         `json:"spanId"`
				EventName      string         `json:"eventName"`
			} `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

type jsonMetrics struct {
	ResourceMetrics []struct {
		Resource     jsonResource `json:"resource"`
		ScopeMetrics []struct {
			Scope   jsonScope    `json:"scope"`
			Metrics []jsonMetric `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
}

type jsonMetric struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Unit        string `json:"unit"`
	Sum         *struct {
		DataPoints  []jsonNumberPoint `json:"dataPoints"`
		IsMonotonic bool              `json:"isMonotonic"`
	} `json:"sum"`
	Gauge *struct {
		DataPoints []jsonNumberPoint `json:"dataPoints"`
	} `json:"gauge"`
	Histogram *struct {
		DataPoints []struct {
			Attributes     []jsonKeyValue `json:"attributes"`
			TimeUnixNano   jsonInt        `json:"timeUnixNano"`
			Count          jsonInt        `json:"count"`
			Sum            float64        `json:"sum"`
			BucketCounts   []jsonInt      `json:"bucketCounts"`
			ExplicitBounds []float64      `json:"explicitBounds"`
		} `json:"dataPoints"`
	} `json:"histogram"`
	ExponentialHistogram *struct {
		DataPoints []jsonSummaryPoint `json:"dataPoints"`
	} `json:"exponentialHistogram"`
	Summary *struct {
		DataPoints []jsonSummaryPoint `json:"dataPoints"`
	} `json:"summary"`
}

type jsonNumberPoint struct {
	Attributes   []jsonKeyValue `json:"attributes"`
	TimeUnixNano jsonInt        `json:"timeUnixNano"`
	AsDouble     float64        `json:"asDouble"`
	AsInt        *jsonInt       `json:"asInt"`
}

type jsonSummaryPoint struct {
	Attributes   []jsonKeyValue `json:"attributes"`
	TimeUnixNano jsonInt        `json:"timeUnixNano"`
	Count        jsonInt        `json:"count"`
	Sum          float64        `json:"sum"`
}

type jsonKeyValue struct {
	Key   string       `json:"key"`
	Value jsonAnyValue `json:"value"`
}

type jsonAnyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *jsonInt `json:"intValue"`
	DoubleValue *float64 `json:"doubleValue"`
	BytesValue  *string  `json:"bytesValue"`
	ArrayValue  *struct {
		Values []jsonAnyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []jsonKeyValue `json:"values"`
	} `json:"kvlistValue"`
}

func (v jsonAnyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		return int64(*v.IntValue)
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BytesValue != nil:
		b, err := base64.StdEncoding.DecodeString(*v.BytesValue)
		if err != nil {
			return *v.BytesValue
		}
		return b
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, e := range v.ArrayValue.Values {
			out = append(out, e.value())
		}
		return out
	case v.KvlistValue != nil:
		return attrs(v.KvlistValue.Values)
	}
	return nil
}

// jsonInt is a 64-bit integer that OTLP JSON writes as a string (and
// readers must also accept as a number).
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = jsonInt(i)
		return nil
	}
	// Unsigned 64-bit fields (times, counts) above MaxInt64 do not occur in
	// practice; accept them by wrapping rather than failing the read.
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("decoding OTLP integer %s: %w", b, err)
	}
	*n = jsonInt(int64(u))
	return nil
}
