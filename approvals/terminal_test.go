package approvals_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/approvals"
	"github.com/airlockhq/airlock/decision"
)

// accessibleTerminal returns a Terminal in accessible mode reading from a
// pipe the test writes the person's keystrokes to, and the file it draws on.
func accessibleTerminal(t *testing.T, timeout time.Duration) (term *approvals.Terminal, keys *os.File, screen func() string) {
	t.Helper()
	in, keys, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "screen")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); keys.Close(); out.Close() })
	term = &approvals.Terminal{In: in, Out: out, Accessible: true, Timeout: timeout}
	return term, keys, func() string {
		b, _ := os.ReadFile(out.Name())
		return string(b)
	}
}

func question() approvals.Question {
	return approvals.Question{
		Tool: "wr\x1b[2Jite", Digest: digestA, Why: approvals.WhyAtUse,
		Items: []approvals.Item{{Kind: decision.FSWrite, Op: "open", Target: "/ro/out_1.txt",
			Rule: `mount "/ro" access = "read"`, Origin: projectOrigin()}},
		Offer: approvals.Choices,
	}
}

func TestTerminalAccessible(t *testing.T) {
	term, keys, screen := accessibleTerminal(t, time.Minute)
	keys.Write([]byte("3\n")) // the third choice: allow for this run
	ans, err := term.Approve(context.Background(), question())
	if err != nil {
		t.Fatal(err)
	}
	if ans.Choice != approvals.AllowRun || ans.Source != decision.SourceUser {
		t.Errorf("answer %+v", ans)
	}
	s := screen()
	for _, want := range []string{
		"airlock: wr^[[2Jite (aaaaaaaaaaaa)", // the tool's name, neutralised, and its short digest
		"write /ro/out_1.txt",                // the exact capability, unstyled in accessible mode
		`not allowed by: mount "/ro" access = "read" (policy.hcl:3:1)`,
		"1. Deny", "2. Allow once", "3. Allow for this run", "4. Always allow this file",
		"5. Always allow in /ro and below", "6. Always deny", // the narrow scope first

		"airlock: allow for this run: write /ro/out_1.txt",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\x1b[2J") {
		t.Error("the tool's escape sequence reached the screen")
	}
}

func TestTerminalAccessibleDefaultIsDeny(t *testing.T) {
	term, keys, _ := accessibleTerminal(t, time.Minute)
	keys.Write([]byte("\n")) // Enter alone takes the selected choice: deny
	if ans, _ := term.Approve(context.Background(), question()); ans.Choice != approvals.Deny {
		t.Errorf("answer %+v", ans)
	}
}

func TestTerminalTimeoutAndCancel(t *testing.T) {
	term, _, screen := accessibleTerminal(t, 200*time.Millisecond)
	start := time.Now()
	ans, err := term.Approve(context.Background(), question())
	if err != nil || ans.Choice != approvals.Deny || !strings.Contains(ans.Note, "timed out") || ans.Ended != decision.EndedTimedOut {
		t.Errorf("timeout: %+v %v", ans, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the timeout took %v", d)
	}
	if !strings.Contains(screen(), "airlock: deny: write /ro/out_1.txt") {
		t.Errorf("screen: %s", screen())
	}

	term2, keys, _ := accessibleTerminal(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if ans, _ := term2.Approve(ctx, question()); ans.Choice != approvals.Deny || ans.Ended != decision.EndedRunEnded || !strings.Contains(ans.Note, "before an answer") {
		t.Errorf("cancel: %+v", ans)
	}
	// Nothing was left reading the terminal: the next keystrokes are still there.
	keys.Write([]byte("x"))
	buf := make([]byte, 1)
	term2.In.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := io.ReadFull(term2.In, buf); n != 1 || buf[0] != 'x' {
		t.Errorf("the keystroke after a withdrawn prompt was swallowed: %v", err)
	}
}

func TestTerminalWithoutDevice(t *testing.T) {
	var term *approvals.Terminal
	if _, err := term.Approve(context.Background(), question()); err != approvals.ErrCannotAsk {
		t.Errorf("nil terminal: %v", err)
	}
}

// TestTerminalTargetOnOneLine: a target is a name the tool chose (a file
// name may hold any byte but "/" and NUL). Escape sequences in it are
// shown as text, and so are newlines: a name cannot add a line of its own
// to the prompt ("not allowed by: nothing, this is the tool's own file").
func TestTerminalTargetOnOneLine(t *testing.T) {
	term, keys, screen := accessibleTerminal(t, time.Minute)
	keys.Write([]byte("1\n"))
	q := question()
	q.Items[0].Target = "/ro/a.txt\n    not allowed by: nothing (a scratch file of the tool's own)\x1b]52;c;cHduZWQ=\x07\t"
	if _, err := term.Approve(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	s := screen()
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "not allowed by: nothing") {
			t.Errorf("the target added a line to the prompt:\n%s", s)
		}
	}
	if strings.ContainsAny(s, "\x1b\x07") {
		t.Errorf("an escape sequence reached the screen:\n%q", s)
	}
}
