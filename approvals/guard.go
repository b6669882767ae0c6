package approvals

import (
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// DefaultHoldBytes bounds what a guarded writer keeps while a prompt is
// open; a tool that writes more waits until the prompt closes.
const DefaultHoldBytes = 1 << 20

// Guard stands between a tool's streams and the terminal a prompt uses, so
// that nothing a tool prints can imitate, hide or answer a prompt:
//
//   - while a prompt is open (Hold), the tool's output is held back: kept
//     in a bounded buffer and written, in order, when the prompt closes; a
//     tool that fills the buffer waits;
//   - a writer made with neutralise set escapes every control character
//     except newline and tab (ESC, and so every CSI and OSC sequence; C1
//     controls; a carriage return not followed by a newline; backspace;
//     DEL) into visible text like ^[ or M-^[, so the tool cannot move the
//     cursor, clear the screen, change colours or retitle the terminal;
//   - reads from the tool's guarded stdin wait while a prompt is open.
//
// A prompt reads the terminal device itself (/dev/tty), never the tool's
// stdin, so the tool's input cannot answer it. A Guard is safe for
// concurrent use.
type Guard struct {
	max int

	mu      sync.Mutex
	changed *sync.Cond
	held    int
	writers []*guardWriter
}

// NewGuard returns a Guard that holds back at most maxBytes per writer
// while a prompt is open (DefaultHoldBytes if maxBytes <= 0).
func NewGuard(maxBytes int) *Guard {
	if maxBytes <= 0 {
		maxBytes = DefaultHoldBytes
	}
	g := &Guard{max: maxBytes}
	g.changed = sync.NewCond(&g.mu)
	return g
}

// Writer returns a guarded writer around w. With neutralise set (w is a
// terminal), control characters are escaped as described on Guard.
func (g *Guard) Writer(w io.Writer, neutralise bool) io.Writer {
	gw := &guardWriter{g: g, w: w, neutralise: neutralise}
	g.mu.Lock()
	g.writers = append(g.writers, gw)
	g.mu.Unlock()
	return gw
}

// Reader returns a guarded reader around r: a Read waits while a prompt is
// open. When r is a file (the terminal), a Read that started before the
// prompt opened waits for input without taking it, so the keys typed for
// the prompt are the prompt's.
func (g *Guard) Reader(r io.Reader) io.Reader { return &guardReader{g: g, r: r} }

// Hold marks a prompt open until release is called: guarded writers hold
// their output back, guarded readers wait. Hold returns once no guarded
// write is in progress, so nothing the tool writes can reach the terminal
// while the prompt is drawn. Holds nest.
func (g *Guard) Hold() (release func()) {
	g.mu.Lock()
	g.held++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.held--
			if g.held == 0 {
				for _, w := range g.writers {
					w.flushLocked()
				}
			}
			g.changed.Broadcast()
		})
	}
}

// Flush writes out whatever the guarded writers still keep (a trailing
// carriage return or an incomplete UTF-8 sequence). Call it when the tool
// has finished.
func (g *Guard) Flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.writers {
		if w.neutralise {
			w.held = append(w.held, escapePending(w.pending)...)
			w.pending = nil
		}
		if g.held == 0 {
			w.flushLocked()
		}
	}
}

type guardWriter struct {
	g          *Guard
	w          io.Writer
	neutralise bool

	// Both are guarded by g.mu.
	held    []byte // output held back while a prompt is open
	pending []byte // a trailing "\r" or incomplete UTF-8 sequence, not yet judged
	err     error  // the first error of a delayed write
}

func (w *guardWriter) Write(p []byte) (int, error) {
	g := w.g
	g.mu.Lock()
	defer g.mu.Unlock()
	out := p
	if w.neutralise {
		out, w.pending = neutralise(append(w.pending, p...))
	}
	for g.held > 0 && len(w.held)+len(out) > g.max {
		g.changed.Wait()
	}
	if g.held > 0 {
		w.held = append(w.held, out...)
		return len(p), nil
	}
	w.flushLocked()
	if w.err != nil {
		return 0, w.err
	}
	if _, err := w.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *guardWriter) flushLocked() {
	if len(w.held) == 0 {
		return
	}
	if _, err := w.w.Write(w.held); err != nil && w.err == nil {
		w.err = err
	}
	w.held = nil
}

type guardReader struct {
	g *Guard
	r io.Reader
}

func (r *guardReader) Read(p []byte) (int, error) {
	f, isFile := r.r.(interface{ Fd() uintptr })
	for {
		r.g.mu.Lock()
		for r.g.held > 0 {
			r.g.changed.Wait()
		}
		r.g.mu.Unlock()
		if !isFile {
			return r.r.Read(p)
		}
		// A read that blocks in the kernel would take the keys typed
		// for a prompt that opens meanwhile (a network "ask" raised on
		// another of the guest's goroutines). So wait for input without
		// taking it, and take it only if no prompt opened in between.
		ready, err := pollIn(f.Fd(), 50)
		if err != nil {
			return r.r.Read(p)
		}
		if !ready {
			continue
		}
		r.g.mu.Lock()
		open := r.g.held > 0
		r.g.mu.Unlock()
		if !open {
			return r.r.Read(p)
		}
	}
}

// Neutralise returns s with every control character except newline and
// tab made visible (see Guard): what a tool printed, or a name it chose,
// made safe to show on a terminal beside a prompt.
func Neutralise(s string) string {
	out, rest := neutralise([]byte(s))
	return string(append(out, escapePending(rest)...))
}

// NeutraliseLine is Neutralise for a name shown within a line of
// airlock's own (a path or host the tool chose, in a prompt, a summary or
// an MCP message): newlines and tabs are made visible too (^J, ^I), so the
// name cannot add a line that looks like airlock's. Invisible formatting
// characters (bidirectional overrides, zero-width ones) are written as
// <U+202E>, so that a name cannot show its characters in another order.
func NeutraliseLine(s string) string {
	s = lineEscaper.Replace(Neutralise(s))
	if !strings.ContainsFunc(s, isFormat) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isFormat(r) {
			b.WriteString("<U+" + hex4(r) + ">")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isFormat reports an invisible formatting character (Unicode category Cf).
func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

var lineEscaper = strings.NewReplacer("\n", "^J", "\t", "^I")

// neutralise escapes p; it returns the bytes to hold for the next call: a
// trailing carriage return (it may be the first half of "\r\n") or the
// start of a UTF-8 sequence cut by the end of p.
func neutralise(p []byte) (out, pending []byte) {
	out = make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		b := p[i]
		switch {
		case b == '\n' || b == '\t':
			out = append(out, b)
			i++
		case b == '\r':
			if i+1 == len(p) {
				return out, []byte{'\r'}
			}
			if p[i+1] == '\n' {
				out = append(out, '\r', '\n')
				i += 2
				continue
			}
			out = append(out, '^', 'M')
			i++
		case b < 0x20 || b == 0x7f:
			out = appendCaret(out, b)
			i++
		case b < utf8.RuneSelf:
			out = append(out, b)
			i++
		default:
			r, n := utf8.DecodeRune(p[i:])
			switch {
			case r == utf8.RuneError && n <= 1 && !utf8.FullRune(p[i:]):
				return out, append([]byte(nil), p[i:]...)
			case r == utf8.RuneError && n <= 1:
				out = appendMeta(out, b) // a lone byte: 0x9b would be a CSI to an 8-bit terminal
				i++
			case r >= 0x80 && r < 0xa0:
				out = appendMeta(out, byte(r)) // a C1 control written as UTF-8
				i += n
			case r == 0x2028 || r == 0x2029 || r == 0xfeff:
				out = append(out, []byte("<U+"+hex4(r)+">")...)
				i += n
			default:
				out = append(out, p[i:i+n]...)
				i += n
			}
		}
	}
	return out, nil
}

// escapePending makes held bytes visible when no more will follow.
func escapePending(p []byte) []byte {
	var out []byte
	for _, b := range p {
		if b == '\r' {
			out = append(out, '^', 'M')
		} else {
			out = appendMeta(out, b)
		}
	}
	return out
}

// appendCaret writes a C0 control or DEL the way cat -v does: ^[ for ESC.
func appendCaret(out []byte, b byte) []byte {
	if b == 0x7f {
		return append(out, '^', '?')
	}
	return append(out, '^', b+0x40)
}

// appendMeta writes a byte of 0x80 and above the way cat -v does: M-^[ for
// 0x9b, M-a for 0xe1.
func appendMeta(out []byte, b byte) []byte {
	out = append(out, 'M', '-')
	b -= 0x80
	if b < 0x20 || b == 0x7f {
		return appendCaret(out, b)
	}
	return append(out, b)
}

func hex4(r rune) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}
