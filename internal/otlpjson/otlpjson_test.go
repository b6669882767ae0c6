package otlpjson

import (
	"reflect"
	"testing"
	"time"
)

// The same span written the way the specification says (hex IDs, numbers
// for enums, 64-bit integers as strings) and the way protobuf's default
// JSON mapping does (base64 IDs, enum names, integers as numbers) decodes
// to the same Span.
func TestTracesReadsEveryVariant(t *testing.T) {
	spec := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"airlock"}}]},
	 "scopeSpans":[{"scope":{"name":"airlock"},"spans":[{
	  "traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"1112131415161718","parentSpanId":"2122232425262728",
	  "name":"fd_write","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000001000",
	  "attributes":[{"key":"fd","value":{"intValue":"1"}},{"key":"raw","value":{"bytesValue":"aGk="}},
	   {"key":"list","value":{"arrayValue":{"values":[{"boolValue":true},{"doubleValue":1.5}]}}}],
	  "events":[{"timeUnixNano":"1700000000000000500","name":"exception","attributes":[]}],
	  "status":{"code":2,"message":"trap"}}]}]}]}`
	protobuf := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"airlock"}}]},
	 "scopeSpans":[{"scope":{"name":"airlock"},"spans":[{
	  "traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg=","parentSpanId":"ISIjJCUmJyg=",
	  "name":"fd_write","kind":"SPAN_KIND_INTERNAL","startTimeUnixNano":1700000000000000000,"endTimeUnixNano":1700000000000001000,
	  "attributes":[{"key":"fd","value":{"intValue":1}},{"key":"raw","value":{"bytesValue":"aGk="}},
	   {"key":"list","value":{"arrayValue":{"values":[{"boolValue":true},{"doubleValue":1.5}]}}}],
	  "events":[{"timeUnixNano":1700000000000000500,"name":"exception","attributes":[]}],
	  "status":{"code":"STATUS_CODE_ERROR","message":"trap"}}]}]}]}`
	want := Span{
		Name: "fd_write", Kind: 1,
		TraceID: "0102030405060708090a0b0c0d0e0f10", SpanID: "1112131415161718", ParentSpanID: "2122232425262728",
		Start: time.Unix(0, 1700000000000000000), End: time.Unix(0, 1700000000000001000),
		Attributes: map[string]any{"fd": int64(1), "raw": []byte("hi"), "list": []any{true, 1.5}},
		Events:     []SpanEvent{{Name: "exception", Time: time.Unix(0, 1700000000000000500), Attributes: map[string]any{}}},
		Status:     Status{Code: StatusError, Message: "trap"},
		Resource:   map[string]any{"service.name": "airlock"},
		Scope:      "airlock",
	}
	for name, line := range map[string]string{"specification": spec, "protobuf mapping": protobuf} {
		got, err := Traces([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// A log record keeps both of its times, its severity by number or name,
// and IDs as lowercase hex.
func TestLogsKeepBothTimesAndSeverity(t *testing.T) {
	line := `{"resourceLogs":[{"scopeLogs":[{"scope":{"name":"airlock"},"logRecords":[
	 {"observedTimeUnixNano":"1700000000000000000","severityNumber":"SEVERITY_NUMBER_WARN2","severityText":"WARN",
	  "body":{"stringValue":"denied"},"eventName":"airlock.decision","traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"1112131415161718"},
	 {"timeUnixNano":"5","severityNumber":17,"body":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}]}]}]}`
	got, err := Logs([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d records, want 2", len(got))
	}
	r := got[0]
	if !r.Time.IsZero() || !r.ObservedTime.Equal(time.Unix(0, 1700000000000000000)) || r.SeverityNumber != 14 ||
		r.Body != "denied" || r.EventName != "airlock.decision" ||
		r.TraceID != "0102030405060708090a0b0c0d0e0f10" || r.SpanID != "1112131415161718" {
		t.Errorf("first record %+v", r)
	}
	if r := got[1]; !r.Time.Equal(time.Unix(0, 5)) || r.SeverityNumber != 17 || !reflect.DeepEqual(r.Body, map[string]any{"k": "v"}) || r.TraceID != "" {
		t.Errorf("second record %+v", r)
	}
}

// An enum name that is not OTLP's, or a line that is not JSON, is an error,
// not a zero value.
func TestBadInputIsAnError(t *testing.T) {
	for _, line := range []string{
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":{"code":"STATUS_CODE_MAYBE"}}]}]}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_LOUD"}]}]}]}`,
		`{"resourceSpans":`,
	} {
		_, errSpans := Traces([]byte(line))
		_, errLogs := Logs([]byte(line))
		if errSpans == nil && errLogs == nil {
			t.Errorf("%s: no error", line)
		}
	}
}

func TestSeverityNames(t *testing.T) {
	for name, want := range map[string]int{
		"SEVERITY_NUMBER_TRACE": 1, "SEVERITY_NUMBER_TRACE4": 4, "SEVERITY_NUMBER_INFO": 9,
		"SEVERITY_NUMBER_ERROR": 17, "SEVERITY_NUMBER_FATAL4": 24,
	} {
		if got, ok := enumValue(name); !ok || got != want {
			t.Errorf("%s = %d (%t), want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{"SEVERITY_NUMBER_INFO5", "SEVERITY_NUMBER_", "INFO"} {
		if _, ok := enumValue(name); ok {
			t.Errorf("%s accepted", name)
		}
	}
}
