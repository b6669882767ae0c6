package telemetry

import (
	"strings"
	"testing"
	"time"
)

// An MCP trace's root is the request span: its line says which request it was.
func TestShowNamesMCPRequests(t *testing.T) {
	start := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	end := start.Add(1270 * time.Millisecond)
	l := &Line{Signal: "span", Name: SpanMCPRequest, Start: &start, End: &end, Attributes: map[string]any{
		AttrMCPMethod: "tools/call", AttrMCPTool: "grep", AttrMCPOutcome: "ok",
	}}
	got := spanHead(l)
	for _, want := range []string{SpanMCPRequest, "tools/call", "grep", "ok", "1.27"} {
		if !strings.Contains(got, want) {
			t.Errorf("head %q lacks %q", got, want)
		}
	}
}
