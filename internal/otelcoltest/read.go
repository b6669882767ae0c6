package otelcoltest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/otlpjson"
)

// The telemetry a Collector exported, as internal/otlpjson decodes it.
type (
	Span       = otlpjson.Span
	SpanEvent  = otlpjson.SpanEvent
	Status     = otlpjson.Status
	StatusCode = otlpjson.StatusCode
	LogRecord  = otlpjson.LogRecord
	Metric     = otlpjson.Metric
	DataPoint  = otlpjson.DataPoint
)

// The OTLP status codes.
const (
	StatusUnset = otlpjson.StatusUnset
	StatusOK    = otlpjson.StatusOK
	StatusError = otlpjson.StatusError
)

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

// decodeLines decodes each complete line of the file at path with decode.
func decodeLines[T any](path string, decode func([]byte) ([]T, error)) ([]T, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	var out []T
	for i, line := range lines {
		got, err := decode(line)
		if err != nil {
			return nil, fmt.Errorf("line %d of %s: %w", i+1, path, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func readSpans(path string) ([]Span, error) { return decodeLines(path, otlpjson.Traces) }

func readLogs(path string) ([]LogRecord, error) { return decodeLines(path, otlpjson.Logs) }

func readMetrics(path string) ([]Metric, error) { return decodeLines(path, otlpjson.Metrics) }
