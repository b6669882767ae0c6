// Package otlpjson decodes the OTLP JSON encoding of spans, log records and
// metrics, one export request per line, as an OpenTelemetry Collector's
// file exporter writes it: the one decoder of that format in airlock, used
// by `airlock trace show` (telemetry/traceview) and by the tests' real
// Collector (internal/otelcoltest). It imports nothing of the project.
//
// It reads what the specification allows
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding) and
// the variants found in the wild: trace and span IDs in hex (the
// specification) or base64 (protobuf's default JSON mapping), returned as
// lowercase hex; 64-bit integers as strings or numbers; enums as numbers or
// by their names ("STATUS_CODE_ERROR").
package otlpjson

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
// Time is when the event happened, ObservedTime when it was seen; either
// may be zero.
type LogRecord struct {
	EventName      string
	Time           time.Time
	ObservedTime   time.Time
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

// Traces decodes one export request of spans (an object with
// resourceSpans).
func Traces(line []byte) ([]Span, error) {
	var d jsonTraces
	if err := json.Unmarshal(line, &d); err != nil {
		return nil, fmt.Errorf("decoding OTLP spans: %w", err)
	}
	var out []Span
	for _, rs := range d.ResourceSpans {
		res := attrs(rs.Resource.Attributes)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				span := Span{
					Name:       s.Name,
					Kind:       int(s.Kind),
					TraceID:    ID(s.TraceID, 16),
					SpanID:     ID(s.SpanID, 8),
					Start:      nanos(s.StartTimeUnixNano),
					End:        nanos(s.EndTimeUnixNano),
					Attributes: attrs(s.Attributes),
					Status:     Status{Code: StatusCode(s.Status.Code), Message: s.Status.Message},
					Resource:   res,
					Scope:      ss.Scope.Name,
				}
				if s.ParentSpanID != "" {
					span.ParentSpanID = ID(s.ParentSpanID, 8)
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
	return out, nil
}

// Logs decodes one export request of log records (an object with
// resourceLogs).
func Logs(line []byte) ([]LogRecord, error) {
	var d jsonLogs
	if err := json.Unmarshal(line, &d); err != nil {
		return nil, fmt.Errorf("decoding OTLP log records: %w", err)
	}
	var out []LogRecord
	for _, rl := range d.ResourceLogs {
		res := attrs(rl.Resource.Attributes)
		for _, sl := range rl.ScopeLogs {
			for _, r := range sl.LogRecords {
				rec := LogRecord{
					EventName:      r.EventName,
					Time:           nanos(r.TimeUnixNano),
					ObservedTime:   nanos(r.ObservedTimeUnixNano),
					SeverityNumber: int(r.SeverityNumber),
					SeverityText:   r.SeverityText,
					Body:           r.Body.value(),
					Attributes:     attrs(r.Attributes),
					Resource:       res,
					Scope:          sl.Scope.Name,
				}
				if r.TraceID != "" {
					rec.TraceID = ID(r.TraceID, 16)
				}
				if r.SpanID != "" {
					rec.SpanID = ID(r.SpanID, 8)
				}
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

// Metrics decodes one export request of metrics (an object with
// resourceMetrics).
func Metrics(line []byte) ([]Metric, error) {
	var d jsonMetrics
	if err := json.Unmarshal(line, &d); err != nil {
		return nil, fmt.Errorf("decoding OTLP metrics: %w", err)
	}
	var out []Metric
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
	return out, nil
}

// ID returns a trace ID (size 16) or span ID (size 8) as lowercase hex:
// hex as the specification writes it, or base64 as protobuf's default
// JSON mapping does. Anything else is returned as it is.
func ID(s string, size int) string {
	if len(s) == 2*size {
		return strings.ToLower(s)
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == size {
		return hex.EncodeToString(b)
	}
	return s
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

// The JSON shapes: camelCase names, as the Collector writes them.

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
	Kind              jsonEnum       `json:"kind"`
	StartTimeUnixNano jsonInt        `json:"startTimeUnixNano"`
	EndTimeUnixNano   jsonInt        `json:"endTimeUnixNano"`
	Attributes        []jsonKeyValue `json:"attributes"`
	Events            []struct {
		TimeUnixNano jsonInt        `json:"timeUnixNano"`
		Name         string         `json:"name"`
		Attributes   []jsonKeyValue `json:"attributes"`
	} `json:"events"`
	Status struct {
		Code    jsonEnum `json:"code"`
		Message string   `json:"message"`
	} `json:"status"`
}

type jsonLogs struct {
	ResourceLogs []struct {
		Resource  jsonResource `json:"resource"`
		ScopeLogs []struct {
			Scope      jsonScope `json:"scope"`
			LogRecords []struct {
				TimeUnixNano         jsonInt        `json:"timeUnixNano"`
				ObservedTimeUnixNano jsonInt        `json:"observedTimeUnixNano"`
				SeverityNumber       jsonEnum       `json:"severityNumber"`
				SeverityText         string         `json:"severityText"`
				Body                 jsonAnyValue   `json:"body"`
				Attributes           []jsonKeyValue `json:"attributes"`
				TraceID              string         `json:"traceId"`
				SpanID               string         `json:"spanId"`
				EventName            string         `json:"eventName"`
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

// jsonEnum is an OTLP enum: a number, as the specification writes it, or
// its name, as protobuf's JSON mapping may.
type jsonEnum int

// enumValue is the value of an enum read here by its name: span kinds,
// status codes and log severities.
func enumValue(name string) (int, bool) {
	switch name {
	case "SPAN_KIND_UNSPECIFIED", "STATUS_CODE_UNSET", "SEVERITY_NUMBER_UNSPECIFIED":
		return 0, true
	case "SPAN_KIND_INTERNAL", "STATUS_CODE_OK":
		return 1, true
	case "SPAN_KIND_SERVER", "STATUS_CODE_ERROR":
		return 2, true
	case "SPAN_KIND_CLIENT":
		return 3, true
	case "SPAN_KIND_PRODUCER":
		return 4, true
	case "SPAN_KIND_CONSUMER":
		return 5, true
	}
	// SEVERITY_NUMBER_TRACE (1) … SEVERITY_NUMBER_FATAL4 (24): four of
	// each level, the first without a digit.
	level, ok := strings.CutPrefix(name, "SEVERITY_NUMBER_")
	if !ok {
		return 0, false
	}
	step := 1
	if n := len(level); n > 0 && level[n-1] >= '2' && level[n-1] <= '4' {
		step, level = int(level[n-1]-'0'), level[:n-1]
	}
	for i, l := range []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"} {
		if l == level {
			return 4*i + step, true
		}
	}
	return 0, false
}

func (e *jsonEnum) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		return nil
	}
	if i, err := strconv.Atoi(s); err == nil {
		*e = jsonEnum(i)
		return nil
	}
	i, ok := enumValue(s)
	if !ok {
		return fmt.Errorf("decoding OTLP enum: unknown value %s", b)
	}
	*e = jsonEnum(i)
	return nil
}
