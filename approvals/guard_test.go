package approvals_test

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
)

func TestNeutralise(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text\n\tindented\n", "plain text\n\tindented\n"},
		{"\x1b[2J\x1b[H", "^[[2J^[[H"},                       // clear screen, cursor home
		{"\x1b]0;owned\x07", "^[]0;owned^G"},                 // OSC: set the window title
		{"\x1b]52;c;ZXZpbA==\x1b\\", "^[]52;c;ZXZpbA==^[\\"}, // OSC 52: write the clipboard
		{"\x1b[8mhidden\x1b[0m", "^[[8mhidden^[[0m"},         // conceal
		{"over\rwrite", "over^Mwrite"},                       // a lone carriage return
		{"dos\r\nline\r\n", "dos\r\nline\r\n"},               // CRLF stays
		{"back\bspace\x7f", "back^Hspace^?"},                 // backspace, DEL
		{"\xc2\x9b2J", "M-^[2J"},                             // C1 CSI as UTF-8
		{"\x9b2J", "M-^[2J"},                                 // C1 CSI as a lone byte
		{"naïve ✓ 日本", "naïve ✓ 日本"},                         // text stays text
		{"a\u2028b", "a<U+2028>b"},                           // line separator
		{"tail\r", "tail^M"},                                 // a trailing CR with nothing after
		{"cut\xe6\x97", "cutM-fM-^W"},                        // a cut-off sequence at the very end
	}
	for _, c := range cases {
		if got := approvals.Neutralise(c.in); got != c.want {
			t.Errorf("Neutralise(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestGuardWriterSplits: escape sequences and UTF-8 split across writes
// are handled as if written at once.
func TestGuardWriterSplits(t *testing.T) {
	var out bytes.Buffer
	g := approvals.NewGuard(0)
	w := g.Writer(&out, true)
	for _, p := range []string{"a\r", "\nb\xe6", "\x97\xa5", "\x1b", "[2J", "c\r"} {
		w.Write([]byte(p))
	}
	g.Flush()
	if want := "a\r\nb日^[[2Jc^M"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGuardHold(t *testing.T) {
	var out syncBuffer
	g := approvals.NewGuard(16)
	stdout := g.Writer(&out, false)
	stderr := g.Writer(&out, false)
	stdout.Write([]byte("before "))
	release := g.Hold()
	stdout.Write([]byte("held1 "))
	stderr.Write([]byte("held2 "))
	if got := out.String(); got != "before " {
		t.Fatalf("output reached the terminal while a prompt was open: %q", got)
	}
	// A writer past the bound waits for the prompt to close.
	done := make(chan struct{})
	go func() {
		stdout.Write([]byte("a long line past the bound "))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a write past the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	<-done
	if got, want := out.String(), "before held1 held2 a long line past the bound "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	release() // twice is harmless
}

func TestGuardReader(t *testing.T) {
	g := approvals.NewGuard(0)
	pr, pw := io.Pipe()
	r := g.Reader(pr)
	go pw.Write([]byte("typed"))
	release := g.Hold()
	got := make(chan string)
	go func() {
		b := make([]byte, 16)
		n, _ := r.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		t.Fatalf("the tool read %q while a prompt was open", s)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if s := <-got; !strings.HasPrefix("typed", s) || s == "" {
		t.Errorf("read %q", s)
	}
}
