package traceview

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/telemetry"
)

// An MCP trace's root is the request span: its line says which request it was.
func TestShowNamesMCPRequests(t *testing.T) {
	start := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	end := start.Add(1270 * time.Millisecond)
	l := &telemetry.Line{Signal: "span", Name: telemetry.SpanMCPRequest, Start: &start, End: &end, Attributes: map[string]any{
		telemetry.AttrMCPMethod: "tools/call", telemetry.AttrMCPTool: "grep", telemetry.AttrMCPOutcome: "ok",
	}}
	got := spanHead(l)
	for _, want := range []string{telemetry.SpanMCPRequest, "tools/call", "grep", "ok", "1.27"} {
		if !strings.Contains(got, want) {
			t.Errorf("head %q lacks %q", got, want)
		}
	}
}
