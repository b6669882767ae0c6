package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Line is one line of the JSON-lines format that the file and stdout
// exporters write and `airlock trace show` reads. Signal says which fields
// are used:
//
//	resource  Attributes (written once, before anything else a process writes)
//	span      Name, TraceID, SpanID, ParentSpanID, Start, End, Status, StatusMessage, Attributes, Events
//	log       Event, Time, Severity, Body, TraceID, SpanID, Attributes
//	metric    Name, Unit, Kind, Time, Points
//
// Attribute values are JSON strings, numbers, booleans, arrays and objects.
type Line struct {
	Signal        string         `json:"signal"`
	Name          string         `json:"name,omitempty"`
	Event         string         `json:"event,omitempty"`
	TraceID       string         `json:"trace_id,omitempty"`
	SpanID        string         `json:"span_id,omitempty"`
	ParentSpanID  string         `json:"parent_span_id,omitempty"`
	Start         *time.Time     `json:"start,omitempty"`
	End           *time.Time     `json:"end,omitempty"`
	Time          *time.Time     `json:"time,omitempty"`
	Status        string         `json:"status,omitempty"` // "error" or "ok"; empty when unset
	StatusMessage string         `json:"status_message,omitempty"`
	Severity      string         `json:"severity,omitempty"`
	Body          any            `json:"body,omitempty"`
	Attributes    map[string]any `json:"attributes,omitempty"`
	Events        []LineEvent    `json:"events,omitempty"`
	Unit          string         `json:"unit,omitempty"`
	Kind          string         `json:"kind,omitempty"` // metric: sum, gauge, histogram
	Points        []LinePoint    `json:"points,omitempty"`
}

// LineEvent is an event on a span.
type LineEvent struct {
	Name       string         `json:"name"`
	Time       time.Time      `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// LinePoint is one data point of a metric: a sum's or gauge's value, or a
// histogram's count and sum.
type LinePoint struct {
	Attributes map[string]any `json:"attributes,omitempty"`
	Value      float64        `json:"value"`
	Count      uint64         `json:"count,omitempty"`
}

// lineWriter writes Lines to w, one JSON object per line, for the span,
// log and metric exporters at once. It owns w's closing.
type lineWriter struct {
	mu       sync.Mutex
	w        *bufio.Writer
	c        io.Closer // nil for standard output
	res      *resource.Resource
	wroteRes bool
	err      error
}

func newLineWriter(w io.Writer, c io.Closer, res *resource.Resource) *lineWriter {
	return &lineWriter{w: bufio.NewWriterSize(w, 64<<10), c: c, res: res}
}

// write encodes lines and flushes them, so that a reader (or a crash) sees
// whole batches.
func (lw *lineWriter) write(lines []Line) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.err != nil {
		return lw.err
	}
	enc := json.NewEncoder(lw.w)
	enc.SetEscapeHTML(false)
	if !lw.wroteRes {
		lw.wroteRes = true
		if err := enc.Encode(Line{Signal: "resource", Attributes: attrMap(lw.res.Attributes())}); err != nil {
			lw.err = err
			return err
		}
	}
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			lw.err = err
			return err
		}
	}
	if err := lw.w.Flush(); err != nil {
		lw.err = err
		return err
	}
	return nil
}

func (lw *lineWriter) close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	err := lw.w.Flush()
	if lw.c != nil {
		if cerr := lw.c.Close(); err == nil {
			err = cerr
		}
		lw.c = nil
	}
	return err
}

// fileSpans is the span exporter of the file and stdout exporters.
type fileSpans struct{ lw *lineWriter }

func (e fileSpans) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	lines := make([]Line, 0, len(spans))
	for _, s := range spans {
		start, end := s.StartTime(), s.EndTime()
		l := Line{Signal: "span", Name: s.Name(),
			TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
			Start: &start, End: &end, Attributes: attrMap(s.Attributes())}
		if p := s.Parent(); p.IsValid() {
			l.ParentSpanID = p.SpanID().String()
		}
		switch st := s.Status(); st.Code {
		case codes.Error:
			l.Status, l.StatusMessage = "error", st.Description
		case codes.Ok:
			l.Status = "ok"
		}
		for _, ev := range s.Events() {
			l.Events = append(l.Events, LineEvent{Name: ev.Name, Time: ev.Time, Attributes: attrMap(ev.Attributes)})
		}
		lines = append(lines, l)
	}
	return e.lw.write(lines)
}

func (fileSpans) Shutdown(context.Context) error { return nil }

// fileLogs is the log exporter of the file and stdout exporters.
type fileLogs struct{ lw *lineWriter }

func (e fileLogs) Export(ctx context.Context, records []sdklog.Record) error {
	lines := make([]Line, 0, len(records))
	for i := range records {
		r := &records[i]
		t := r.Timestamp()
		l := Line{Signal: "log", Event: r.EventName(), Time: &t, Severity: r.SeverityText(),
			Body: jsonValue(r.Body())}
		if r.TraceID().IsValid() {
			l.TraceID = r.TraceID().String()
		}
		if r.SpanID().IsValid() {
			l.SpanID = r.SpanID().String()
		}
		if r.AttributesLen() > 0 {
			l.Attributes = make(map[string]any, r.AttributesLen())
			r.WalkAttributes(func(kv attribute.KeyValue) bool {
				l.Attributes[string(kv.Key)] = jsonValue(kv.Value)
				return true
			})
		}
		lines = append(lines, l)
	}
	return e.lw.write(lines)
}

func (fileLogs) Shutdown(context.Context) error   { return nil }
func (fileLogs) ForceFlush(context.Context) error { return nil }

// fileMetrics is the metric exporter of the file and stdout exporters.
type fileMetrics struct{ lw *lineWriter }

func (fileMetrics) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (fileMetrics) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e fileMetrics) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	var lines []Line
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			l := Line{Signal: "metric", Name: m.Name, Unit: m.Unit}
			var t time.Time
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				l.Kind = "sum"
				for _, p := range d.DataPoints {
					l.Points = append(l.Points, LinePoint{Attributes: attrMap(p.Attributes.ToSlice()), Value: float64(p.Value)})
					t = p.Time
				}
			case metricdata.Sum[float64]:
				l.Kind = "sum"
				for _, p := range d.DataPoints {
					l.Points = append(l.Points, LinePoint{Attributes: attrMap(p.Attributes.ToSlice()), Value: p.Value})
					t = p.Time
				}
			case metricdata.Gauge[int64]:
				l.Kind = "gauge"
				for _, p := range d.DataPoints {
					l.Points = append(l.Points, LinePoint{Attributes: attrMap(p.Attributes.ToSlice()), Value: float64(p.Value)})
					t = p.Time
				}
			case metricdata.Gauge[float64]:
				l.Kind = "gauge"
				for _, p := range d.DataPoints {
					l.Points = append(l.Points, LinePoint{Attributes: attrMap(p.Attributes.ToSlice()), Value: p.Value})
					t = p.Time
				}
			case metricdata.Histogram[float64]:
				l.Kind = "histogram"
				for _, p := range d.DataPoints {
					l.Points = append(l.Points, LinePoint{Attributes: attrMap(p.Attributes.ToSlice()), Value: p.Sum, Count: p.Count})
					t = p.Time
				}
			default:
				continue
			}
			if len(l.Points) == 0 {
				continue
			}
			l.Time = &t
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return e.lw.write(lines)
}

func (fileMetrics) ForceFlush(context.Context) error { return nil }
func (fileMetrics) Shutdown(context.Context) error   { return nil }

func attrMap(kvs []attribute.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = jsonValue(kv.Value)
	}
	return m
}

// jsonValue converts an attribute value to what encoding/json writes
// naturally.
func jsonValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.SLICE:
		var out []any
		for _, e := range v.AsSlice() {
			out = append(out, jsonValue(e))
		}
		return out
	case attribute.MAP:
		out := map[string]any{}
		for _, kv := range v.AsMap() {
			out[string(kv.Key)] = jsonValue(kv.Value)
		}
		return out
	case attribute.EMPTY:
		return nil
	}
	return v.AsInterface()
}
