// Package traceview shows a trace file as trees on a terminal (`airlock
// trace show`): each run span with its host calls under it, repeated calls
// condensed, every decision under the call that caused it. It reads the
// JSON lines airlock's file and stdout exporters write (package
// telemetry's Line) and the OTLP JSON a Collector's file exporter writes,
// decoded by internal/otlpjson, the decoder the tests' Collector uses too.
package traceview

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/airlockhq/airlock/internal/otlpjson"
	"github.com/airlockhq/airlock/telemetry"
)

// ReadLines reads a trace file: the JSON lines the file and stdout
// exporters write, or the OTLP JSON lines an OpenTelemetry Collector's file
// exporter writes (converted to Lines). Lines that are neither are skipped,
// so the output of `airlock run --otel stdout` can be read with the tool's
// own output mixed in; skipped counts them.
func ReadLines(r io.Reader) (lines []telemetry.Line, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if b[0] != '{' {
			skipped++
			continue
		}
		var probe struct {
			Signal          string          `json:"signal"`
			ResourceSpans   json.RawMessage `json:"resourceSpans"`
			ResourceLogs    json.RawMessage `json:"resourceLogs"`
			ResourceMetrics json.RawMessage `json:"resourceMetrics"`
		}
		if json.Unmarshal(b, &probe) != nil {
			skipped++
			continue
		}
		switch {
		case probe.Signal != "":
			var l telemetry.Line
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			if d.Decode(&l) != nil {
				skipped++
				continue
			}
			lines = append(lines, l)
		case probe.ResourceSpans != nil:
			spans, err := otlpjson.Traces(b)
			if err != nil {
				skipped++
				continue
			}
			lines = append(lines, spanLines(spans)...)
		case probe.ResourceLogs != nil:
			records, err := otlpjson.Logs(b)
			if err != nil {
				skipped++
				continue
			}
			lines = append(lines, logLines(records)...)
		case probe.ResourceMetrics != nil:
			// Metrics have no place in a tree.
		default:
			skipped++
		}
	}
	return lines, skipped, sc.Err()
}

// TreeOptions change how ShowTrace renders.
type TreeOptions struct {
	// All prints every host call on its own line instead of condensing
	// runs of the same function ("fd_write ×120").
	All bool
	// Trace, if set, shows only the trace with this ID (or ID prefix).
	Trace string
}

// ShowTrace renders the traces of a trace file (see ReadLines) as trees:
// each run span with its host calls under it, repeated calls condensed, and
// every decision under the call that caused it.
func ShowTrace(w io.Writer, r io.Reader, opts TreeOptions) error {
	lines, _, err := ReadLines(r)
	if err != nil {
		return err
	}
	traces := buildTraces(lines)
	shown := 0
	for _, t := range traces {
		if opts.Trace != "" && !strings.HasPrefix(t.id, opts.Trace) {
			continue
		}
		if shown > 0 {
			fmt.Fprintln(w)
		}
		shown++
		t.render(w, opts)
	}
	if shown == 0 {
		if opts.Trace != "" {
			return fmt.Errorf("no trace %s in the file", opts.Trace)
		}
		return fmt.Errorf("no spans or log records in the file")
	}
	return nil
}

type node struct {
	line     *telemetry.Line
	children []*node
	logs     []*telemetry.Line
}

type traceView struct {
	id    string
	roots []*node
	loose []*telemetry.Line // records whose span is not in the file
	first time.Time
}

func buildTraces(lines []telemetry.Line) []*traceView {
	byTrace := map[string]*traceView{}
	spans := map[string]*node{} // trace id + span id
	get := func(id string) *traceView {
		t := byTrace[id]
		if t == nil {
			t = &traceView{id: id}
			byTrace[id] = t
		}
		return t
	}
	for i := range lines {
		l := &lines[i]
		if l.Signal == "span" {
			spans[l.TraceID+"/"+l.SpanID] = &node{line: l}
		}
	}
	for i := range lines {
		l := &lines[i]
		switch l.Signal {
		case "span":
			n := spans[l.TraceID+"/"+l.SpanID]
			if p := spans[l.TraceID+"/"+l.ParentSpanID]; l.ParentSpanID != "" && p != nil {
				p.children = append(p.children, n)
			} else {
				t := get(l.TraceID)
				t.roots = append(t.roots, n)
			}
			get(l.TraceID).seen(l.Start)
		case "log":
			t := get(l.TraceID)
			t.seen(l.Time)
			if n := spans[l.TraceID+"/"+l.SpanID]; n != nil && l.SpanID != "" {
				n.logs = append(n.logs, l)
			} else {
				t.loose = append(t.loose, l)
			}
		}
	}
	out := make([]*traceView, 0, len(byTrace))
	for _, t := range byTrace {
		out = append(out, t)
		sortNodes(t.roots)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	return out
}

func (t *traceView) seen(at *time.Time) {
	if at != nil && (t.first.IsZero() || at.Before(t.first)) {
		t.first = *at
	}
}

func sortNodes(ns []*node) {
	sort.SliceStable(ns, func(i, j int) bool { return lineStart(ns[i].line).Before(lineStart(ns[j].line)) })
	for _, n := range ns {
		sortNodes(n.children)
		sort.SliceStable(n.logs, func(i, j int) bool { return lineStart(n.logs[i]).Before(lineStart(n.logs[j])) })
	}
}

func lineStart(l *telemetry.Line) time.Time {
	switch {
	case l.Start != nil:
		return *l.Start
	case l.Time != nil:
		return *l.Time
	}
	return time.Time{}
}

func (t *traceView) render(w io.Writer, opts TreeOptions) {
	id := t.id
	if id == "" {
		id = "(none)"
	}
	// A run that was not sampled has no spans: show it from its records.
	var loose []*telemetry.Line
	var start, result *telemetry.Line
	for _, l := range t.loose {
		switch l.Event {
		case telemetry.EventRunStart:
			start = l
		case telemetry.EventRunResult:
			result = l
		default:
			loose = append(loose, l)
		}
	}
	if len(t.roots) == 0 {
		head := "airlock.run"
		if result != nil {
			head += " " + runSummary(result.Attributes, 0)
		} else if start != nil {
			head += " " + runSummary(start.Attributes, 0) + " (no result recorded)"
		}
		fmt.Fprintf(w, "%s  trace %s  (not sampled: no host call spans)\n", shown(head), shown(id))
		for i, l := range loose {
			fmt.Fprintf(w, "%s%s\n", branch(i == len(loose)-1), shown(recordText(l)))
		}
		return
	}
	for i, root := range t.roots {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  trace %s\n", shown(spanHead(root.line)), shown(id))
		items := root.logsAndChildren()
		for _, l := range loose {
			items = append(items, item{log: l})
		}
		renderItems(w, "", items, opts)
	}
}

// item is one line under a span: a child span, a group of condensed child
// spans, or a log record.
type item struct {
	node  *node
	group []*node
	log   *telemetry.Line
}

func (n *node) logsAndChildren() []item {
	var items []item
	for _, l := range n.logs {
		if n.line.Name == telemetry.SpanRun && (l.Event == telemetry.EventRunStart || l.Event == telemetry.EventRunResult) {
			continue // the run span's own line says the same
		}
		items = append(items, item{log: l})
	}
	for _, c := range n.children {
		items = append(items, item{node: c})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].start().Before(items[j].start()) })
	return items
}

func (it item) start() time.Time {
	switch {
	case it.log != nil:
		return lineStart(it.log)
	case it.node != nil:
		return lineStart(it.node.line)
	}
	return lineStart(it.group[0].line)
}

// plain reports whether a call span can be condensed with its neighbours:
// no records, no children, no decision, no trap.
func (n *node) plain() bool {
	if len(n.logs) > 0 || len(n.children) > 0 || n.line.Status == "error" {
		return false
	}
	_, dec := n.line.Attributes[telemetry.AttrDecision]
	return !dec
}

func condense(items []item) []item {
	var out []item
	for i := 0; i < len(items); {
		it := items[i]
		if it.node == nil || !it.node.plain() {
			out = append(out, it)
			i++
			continue
		}
		j := i + 1
		for j < len(items) && items[j].node != nil && items[j].node.plain() && items[j].node.line.Name == it.node.line.Name {
			j++
		}
		if j-i == 1 {
			out = append(out, it)
		} else {
			g := make([]*node, 0, j-i)
			for _, x := range items[i:j] {
				g = append(g, x.node)
			}
			out = append(out, item{group: g})
		}
		i = j
	}
	return out
}

func renderItems(w io.Writer, indent string, items []item, opts TreeOptions) {
	if !opts.All {
		items = condense(items)
	}
	for i, it := range items {
		last := i == len(items)-1
		prefix := indent + branch(last)
		next := indent + "│  "
		if last {
			next = indent + "   "
		}
		switch {
		case it.log != nil:
			fmt.Fprintf(w, "%s%s\n", prefix, shown(recordText(it.log)))
		case it.group != nil:
			fmt.Fprintf(w, "%s%s\n", prefix, shown(groupText(it.group)))
		default:
			fmt.Fprintf(w, "%s%s\n", prefix, shown(callText(it.node.line)))
			sub := it.node.logsAndChildren()
			// A decision on the span without a record of it (the records
			// went elsewhere) is still shown.
			if _, ok := it.node.line.Attributes[telemetry.AttrDecision]; ok && !hasDecisionRecord(it.node) {
				sub = append([]item{{log: decisionFromSpan(it.node.line)}}, sub...)
			}
			renderItems(w, next, sub, opts)
		}
	}
}

func branch(last bool) string {
	if last {
		return "└─ "
	}
	return "├─ "
}

func hasDecisionRecord(n *node) bool {
	for _, l := range n.logs {
		if l.Event == telemetry.EventDecision {
			return true
		}
	}
	return false
}

func decisionFromSpan(l *telemetry.Line) *telemetry.Line {
	return &telemetry.Line{Signal: "log", Event: telemetry.EventDecision, Time: l.Start, Attributes: l.Attributes}
}

// spanHead is the first line of a root span.
func spanHead(l *telemetry.Line) string {
	switch l.Name {
	case telemetry.SpanRun:
		return telemetry.SpanRun + " " + runSummary(l.Attributes, spanDur(l))
	case telemetry.SpanMCPRequest:
		return telemetry.SpanMCPRequest + " " + mcpSummary(l.Attributes, spanDur(l))
	}
	return callText(l)
}

// mcpSummary says which MCP request a span was: method, tool, outcome.
func mcpSummary(a map[string]any, dur time.Duration) string {
	parts := []string{str(a[telemetry.AttrMCPMethod])}
	if t := str(a[telemetry.AttrMCPTool]); t != "" {
		parts = append(parts, t)
	}
	if o := str(a[telemetry.AttrMCPOutcome]); o != "" {
		parts = append(parts, o)
	}
	if dur > 0 {
		parts = append(parts, fmtDur(dur))
	}
	return strings.Join(parts, "  ")
}

func runSummary(a map[string]any, dur time.Duration) string {
	var b strings.Builder
	b.WriteString(str(a[telemetry.AttrTool]))
	if d := str(a[telemetry.AttrToolDigest]); d != "" {
		b.WriteString(" " + telemetry.ShortDigest(d))
	}
	if r := str(a[telemetry.AttrExitReason]); r != "" {
		if r == "exited" {
			fmt.Fprintf(&b, "  exit %s", str(a[telemetry.AttrExitCode]))
		} else {
			b.WriteString("  " + r)
		}
	}
	if dur == 0 {
		if ms, ok := num(a[telemetry.AttrDurationMS]); ok {
			dur = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if dur > 0 {
		b.WriteString("  " + fmtDur(dur))
	}
	if n, ok := num(a[telemetry.AttrDenied]); ok && n > 0 {
		fmt.Fprintf(&b, "  %d denied", int64(n))
	}
	if args, ok := a[telemetry.AttrArgs].([]any); ok {
		parts := make([]string, len(args))
		for i, x := range args {
			parts[i] = strconv.Quote(str(x))
		}
		b.WriteString("  args " + strings.Join(parts, " "))
	}
	return b.String()
}

// callText describes one host call.
func callText(l *telemetry.Line) string {
	a := l.Attributes
	parts := []string{l.Name}
	if p, ok := a[telemetry.AttrPath]; ok {
		s := strconv.Quote(str(p))
		if q, ok := a[telemetry.AttrPathNew]; ok {
			s += " → " + strconv.Quote(str(q))
		}
		parts = append(parts, s)
	}
	if fd, ok := a[telemetry.AttrFD]; ok {
		s := "fd " + str(fd)
		if o, ok := a[telemetry.AttrOpenedFD]; ok {
			s += " → fd " + str(o)
		}
		parts = append(parts, s)
	}
	if n, ok := a[telemetry.AttrBytes]; ok {
		parts = append(parts, str(n)+" bytes")
	}
	if e := str(a[telemetry.AttrErrno]); e != "" && e != "ESUCCESS" {
		parts = append(parts, e)
	}
	if c, ok := a[telemetry.AttrExitCode]; ok {
		parts = append(parts, "exit "+str(c))
	}
	if l.Status == "error" {
		msg := l.StatusMessage
		if msg == "" {
			msg = "error"
		}
		parts = append(parts, strings.ToUpper(msg))
	}
	parts = append(parts, fmtDur(spanDur(l)))
	return strings.Join(parts, "  ")
}

// groupText describes a run of calls of one function.
func groupText(g []*node) string {
	var total time.Duration
	var bytes float64
	hasBytes := false
	fds := map[string]bool{}
	var paths []string
	seenPath := map[string]bool{}
	errnos := map[string]int{}
	for _, n := range g {
		a := n.line.Attributes
		total += spanDur(n.line)
		if v, ok := num(a[telemetry.AttrBytes]); ok {
			bytes += v
			hasBytes = true
		}
		if fd, ok := a[telemetry.AttrFD]; ok {
			fds[str(fd)] = true
		}
		if p, ok := a[telemetry.AttrPath]; ok && !seenPath[str(p)] {
			seenPath[str(p)] = true
			paths = append(paths, strconv.Quote(str(p)))
		}
		if e := str(a[telemetry.AttrErrno]); e != "" && e != "ESUCCESS" {
			errnos[e]++
		}
	}
	parts := []string{fmt.Sprintf("%s ×%d", g[0].line.Name, len(g))}
	if len(paths) > 0 {
		s := strings.Join(paths[:min(3, len(paths))], ", ")
		if len(paths) > 3 {
			s += fmt.Sprintf(" +%d more", len(paths)-3)
		}
		parts = append(parts, s)
	}
	if len(fds) == 1 {
		for fd := range fds {
			parts = append(parts, "fd "+fd)
		}
	} else if len(fds) > 1 {
		parts = append(parts, fmt.Sprintf("%d fds", len(fds)))
	}
	if hasBytes {
		parts = append(parts, strconv.FormatFloat(bytes, 'f', -1, 64)+" bytes")
	}
	for _, e := range sortedKeys(errnos) {
		parts = append(parts, fmt.Sprintf("%d×%s", errnos[e], e))
	}
	parts = append(parts, "("+fmtDur(total)+" total)")
	return strings.Join(parts, "  ")
}

// recordText describes a log record under a span.
func recordText(l *telemetry.Line) string {
	a := l.Attributes
	switch l.Event {
	case telemetry.EventDecision:
		verdict := "allowed"
		mark := "✓"
		if str(a[telemetry.AttrDecision]) == "deny" {
			verdict, mark = "denied", "✗"
		}
		s := fmt.Sprintf("%s %s %s %s %s", mark, verdict, str(a[telemetry.AttrDecisionKind]), str(a[telemetry.AttrDecisionOp]), str(a[telemetry.AttrDecisionTarget]))
		if r := str(a[telemetry.AttrDecisionRule]); r != "" {
			s += ": " + r
		}
		by := str(a[telemetry.AttrDecisionSource])
		if o := str(a[telemetry.AttrDecisionOrigin]); o != "" {
			by += ", " + o
		}
		return s + " (" + by + ")"
	case telemetry.EventRunStart:
		return "run started: " + runSummary(a, 0)
	case telemetry.EventRunResult:
		return "run ended: " + runSummary(a, 0)
	}
	name := l.Event
	if name == "" {
		name = "log"
	}
	return name + ": " + str(l.Body)
}

// shown is one line of the tree as it may reach a terminal: a trace file
// holds names a tool chose (a file it opened, a host it asked for), so
// every control character (escape sequences, line breaks, carriage
// returns) and every invisible formatting character (bidirectional
// overrides) is written as text, ^[ or \u202e, and cannot act on the
// terminal or start a line of its own.
func shown(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			b.WriteByte('^')
			b.WriteByte(byte(r) ^ 0x40)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune is a character shown would write as text: a control
// character, one that is not printable, invisible formatting, or the
// replacement for bytes that are not UTF-8.
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || r == utf8.RuneError || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)
}

func spanDur(l *telemetry.Line) time.Duration {
	if l.Start == nil || l.End == nil {
		return 0
	}
	return l.End.Sub(*l.Start)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// spanLines turns OTLP spans into the lines of airlock's own format.
func spanLines(spans []otlpjson.Span) []telemetry.Line {
	out := make([]telemetry.Line, 0, len(spans))
	for _, s := range spans {
		l := telemetry.Line{Signal: "span", Name: s.Name, TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
			Start: timeOrNil(s.Start), End: timeOrNil(s.End), Attributes: lineAttrs(s.Attributes), StatusMessage: s.Status.Message}
		switch s.Status.Code {
		case otlpjson.StatusError:
			l.Status = "error"
		case otlpjson.StatusOK:
			l.Status = "ok"
		}
		for _, e := range s.Events {
			l.Events = append(l.Events, telemetry.LineEvent{Name: e.Name, Time: e.Time, Attributes: lineAttrs(e.Attributes)})
		}
		out = append(out, l)
	}
	return out
}

// logLines turns OTLP log records into the lines of airlock's own format;
// a record without its time has the time it was observed.
func logLines(records []otlpjson.LogRecord) []telemetry.Line {
	out := make([]telemetry.Line, 0, len(records))
	for _, r := range records {
		t := timeOrNil(r.Time)
		if t == nil {
			t = timeOrNil(r.ObservedTime)
		}
		out = append(out, telemetry.Line{Signal: "log", Event: r.EventName, Time: t, Severity: r.SeverityText,
			Body: lineValue(r.Body), Attributes: lineAttrs(r.Attributes), TraceID: r.TraceID, SpanID: r.SpanID})
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func lineAttrs(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = lineValue(v)
	}
	return out
}

// lineValue is an OTLP value as airlock's own lines hold it: bytes as
// their base64 text, the rest as it is.
func lineValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = lineValue(e)
		}
		return out
	case map[string]any:
		return lineAttrs(x)
	}
	return v
}
