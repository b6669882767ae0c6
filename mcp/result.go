package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/runtime"
)

// MetaKey is the _meta key under which a tool result carries what airlock
// saw of the run (RunMeta), for clients and tests that want it as data.
const MetaKey = "airlock/run"

// RunMeta is the machine-readable summary of one run in a result's _meta.
type RunMeta struct {
	ExitCode   uint32              `json:"exitCode"`
	Reason     runtime.Reason      `json:"reason"`
	DurationMs int64               `json:"durationMs"`
	Memory     uint64              `json:"memoryBytes"`
	Stdout     runtime.Stream      `json:"stdout"`
	Stderr     runtime.Stream      `json:"stderr"`
	Decisions  []decision.Decision `json:"decisions,omitempty"`
	Digest     string              `json:"digest"`
}

// result turns a finished run into an MCP tool result: stdout as text (and
// as structured content when the tool outputs JSON and it parses as an
// object), what the sandbox denied, and, when the tool failed, its stderr
// and why it ended. A failure is a tool error (isError), never a protocol
// error, so that the agent sees it and can correct itself.
func (t *tool) result(res *runtime.Result, pol *policy.Policy, stdout []byte, stderr string) *sdk.CallToolResult {
	failed := res.Reason != runtime.Exited || res.ExitCode != 0
	r := &sdk.CallToolResult{IsError: failed}
	if len(stdout) > 0 || !failed {
		r.Content = append(r.Content, &sdk.TextContent{Text: text(stdout)})
	}
	if t.manifest.Output == "json" && !failed {
		if obj := bytes.TrimSpace(stdout); len(obj) > 0 && obj[0] == '{' && json.Valid(obj) {
			r.StructuredContent = json.RawMessage(obj)
		} else {
			r.Content = append(r.Content, &sdk.TextContent{Text: fmt.Sprintf("airlock: %s declares JSON output, but its output is not a JSON object", t.name)})
		}
	}
	if failed && stderr != "" {
		r.Content = append(r.Content, &sdk.TextContent{Text: stderr})
	}
	if notes := t.notes(res, pol); notes != "" {
		r.Content = append(r.Content, &sdk.TextContent{Text: notes})
	}
	r.Meta = sdk.Meta{MetaKey: RunMeta{
		ExitCode: res.ExitCode, Reason: res.Reason, DurationMs: res.Duration.Milliseconds(),
		Memory: res.Memory, Stdout: res.Stdout, Stderr: res.Stderr, Decisions: res.Decisions,
		Digest: t.module.Digest,
	}}
	return r
}

// notes says, one line each, what the sandbox denied and why the run
// ended when it did not simply exit 0: the words `airlock run` prints.
func (t *tool) notes(res *runtime.Result, pol *policy.Policy) string {
	var b strings.Builder
	for _, d := range res.Decisions {
		if d.Allowed {
			continue
		}
		where := d.Origin
		if where == "" {
			where = string(d.Source)
		}
		fmt.Fprintf(&b, "airlock: denied %s %s %s: %s (%s, %s)\n", d.Kind, d.Op, approvals.NeutraliseLine(d.Target), d.Rule, where, d.Source)
	}
	lim := pol.Limits
	if res.Stdout.Truncated {
		fmt.Fprintf(&b, "airlock: stdout was cut at %d bytes (limits.output)\n", lim.Output)
	}
	switch res.Reason {
	case runtime.Exited:
		if res.ExitCode != 0 {
			fmt.Fprintf(&b, "airlock: %s exited with status %d\n", t.name, res.ExitCode)
		}
	case runtime.Timeout:
		fmt.Fprintf(&b, "airlock: stopped %s after %s (limits.timeout)\n", t.name, lim.Timeout)
	case runtime.MemoryLimit:
		fmt.Fprintf(&b, "airlock: %s ran out of memory at its limit of %d MiB (limits.memory)\n", t.name, lim.Memory>>20)
	case runtime.Trapped:
		fmt.Fprintf(&b, "airlock: %s crashed: %s\n", t.name, firstLine(res.Err))
	case runtime.Canceled:
		fmt.Fprintf(&b, "airlock: %s was cancelled\n", t.name)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// toolError is a tool result that reports a failure before or instead of a
// run (bad arguments, digest mismatch).
func toolError(msg string) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "airlock: " + msg}}}
}

func canceled(tool, when string) *sdk.CallToolResult {
	return toolError(fmt.Sprintf("%s was cancelled %s", tool, when))
}

// text makes tool output valid UTF-8 for a JSON string: invalid bytes
// become U+FFFD.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// firstText is the first text of a result, in one line, for logs.
func firstText(r *sdk.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*sdk.TextContent); ok && t.Text != "" {
			s, _, _ := strings.Cut(strings.TrimSpace(t.Text), "\n")
			return s
		}
	}
	return ""
}

// headTail keeps the first and the last max/2 bytes written to it, and
// counts the rest: a tool's first error and its last words both survive a
// flood of stderr while host memory stays bounded.
type headTail struct {
	head, tail []byte
	half       int
	cut        int64
}

func newHeadTail(max int) *headTail { return &headTail{half: max / 2} }

func (h *headTail) Write(p []byte) (int, error) {
	n := len(p)
	if room := h.half - len(h.head); room > 0 {
		k := min(room, len(p))
		h.head = append(h.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	h.tail = append(h.tail, p...)
	if over := len(h.tail) - h.half; over > 0 {
		h.cut += int64(over)
		h.tail = append(h.tail[:0], h.tail[over:]...)
	}
	return n, nil
}

func (h *headTail) String() string {
	if h.cut == 0 {
		return text(append(append([]byte(nil), h.head...), h.tail...))
	}
	return text(h.head) + fmt.Sprintf("\n… (%d bytes of stderr left out) …\n", h.cut) + text(h.tail)
}
