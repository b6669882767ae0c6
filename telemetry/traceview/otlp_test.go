package traceview

import (
	"bytes"
	"strings"
	"testing"
)

// OTLP JSON as protobuf's default JSON mapping writes it (base64 IDs, enum
// names, integers as numbers) shows the same tree as the specification's
// hex IDs and numbers: the run, its call with the trap, and the decision
// under the call it came from.
func TestShowTraceReadsEitherOTLPVariant(t *testing.T) {
	// One export request per line, as the Collector writes them.
	spans := `{"resourceSpans":[{"scopeSpans":[{"spans":[
 {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"1112131415161718","name":"airlock.run","startTimeUnixNano":"1000000","endTimeUnixNano":"9000000",
  "attributes":[{"key":"airlock.tool","value":{"stringValue":"cat"}},{"key":"airlock.exit.reason","value":{"stringValue":"trapped"}}]},
 {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"2122232425262728","parentSpanId":"1112131415161718","name":"path_open","startTimeUnixNano":"2000000","endTimeUnixNano":"3000000",
  "attributes":[{"key":"airlock.path","value":{"stringValue":".env"}},{"key":"airlock.fd","value":{"intValue":"3"}}],"status":{"code":2,"message":"trap"}}]}]}]}`
	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[
 {"timeUnixNano":"2500000","eventName":"airlock.decision","traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"2122232425262728",
  "attributes":[{"key":"airlock.decision","value":{"stringValue":"deny"}},{"key":"airlock.decision.kind","value":{"stringValue":"fs.read"}},
   {"key":"airlock.decision.op","value":{"stringValue":"open"}},{"key":"airlock.decision.target","value":{"stringValue":"/work/.env"}},
   {"key":"airlock.decision.rule","value":{"stringValue":"hide \".env\""}},{"key":"airlock.decision.source","value":{"stringValue":"rule"}}]}]}]}]}`
	hex := strings.ReplaceAll(spans, "\n", "") + "\n" + strings.ReplaceAll(logs, "\n", "") + "\n"
	protobuf := strings.NewReplacer(
		`"0102030405060708090a0b0c0d0e0f10"`, `"AQIDBAUGBwgJCgsMDQ4PEA=="`,
		`"1112131415161718"`, `"ERITFBUWFxg="`,
		`"2122232425262728"`, `"ISIjJCUmJyg="`,
		`"code":2`, `"code":"STATUS_CODE_ERROR"`,
		`{"intValue":"3"}`, `{"intValue":3}`,
		`"2500000"`, `2500000`,
	).Replace(hex)
	if protobuf == hex {
		t.Fatal("the replacements changed nothing")
	}
	var want bytes.Buffer
	if err := ShowTrace(&want, strings.NewReader(hex), TreeOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"airlock.run cat  trapped", "trace 0102030405060708090a0b0c0d0e0f10", `path_open  ".env"  fd 3  TRAP`,
		`└─ ✗ denied fs.read open /work/.env: hide ".env" (rule)`} {
		if !strings.Contains(want.String(), s) {
			t.Errorf("the tree lacks %q:\n%s", s, want.String())
		}
	}
	var got bytes.Buffer
	if err := ShowTrace(&got, strings.NewReader(protobuf), TreeOptions{}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("protobuf mapping:\n%s\nspecification:\n%s", got.String(), want.String())
	}
}
