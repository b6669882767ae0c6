package approvals

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/huh"

	"github.com/airlockhq/airlock/decision"
)

// Terminal asks a person at a terminal, with a huh form: the tool's name
// and short digest, each capability asked for and the rule that did not
// allow it, and the choices, with deny selected. It is keyboard only. It
// reads and draws on the terminal device itself (In and Out, /dev/tty from
// OpenTerminal), never on the tool's stdin or stdout, and holds Guard while
// the form is open.
//
// A Terminal is safe for concurrent use: one form is open at a time.
type Terminal struct {
	In, Out *os.File
	// Accessible uses huh's accessible mode: plain lines and a numbered
	// choice, for screen readers. TERM=dumb turns it on too.
	Accessible bool
	// Timeout answers deny when nobody answers in time; 0 waits forever.
	Timeout time.Duration
	// Guard, if set, is held while a form is open.
	Guard *Guard
	// Interrupt, if set, is called when the person presses ctrl+c at a
	// prompt: the question is answered deny (ended "interrupted") and
	// Interrupt stops the run, as ctrl+c anywhere else would.
	Interrupt func()

	mu     sync.Mutex
	closer io.Closer
}

// OpenTerminal opens the controlling terminal (/dev/tty). It fails when the
// process has none: then nobody can be asked.
func OpenTerminal() (*Terminal, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the terminal: %w", err)
	}
	return &Terminal{In: f, Out: f, closer: f}, nil
}

// Close closes the terminal device if OpenTerminal opened it.
func (t *Terminal) Close() error {
	if t == nil || t.closer == nil {
		return nil
	}
	return t.closer.Close()
}

// Approve shows q and waits for an answer. A timeout, a cancelled ctx,
// ctrl+c or escape answer deny. A nil Terminal, or one without a device,
// cannot ask.
func (t *Terminal) Approve(ctx context.Context, q Question) (Answer, error) {
	if t == nil || t.In == nil || t.Out == nil {
		return Answer{}, ErrCannotAsk
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Guard != nil {
		release := t.Guard.Hold()
		defer release()
	}
	accessible := t.Accessible || os.Getenv("TERM") == "dumb"

	choice := Deny
	var opts []huh.Option[Choice]
	for _, c := range Choices {
		if q.Offers(c) {
			opts = append(opts, huh.NewOption(choiceLabel(c, q), c))
		}
	}
	title := fmt.Sprintf("airlock: %s (%s)", NeutraliseLine(q.Tool), q.ShortDigest())
	desc := describe(q, !accessible)
	sel := huh.NewSelect[Choice]().Title("Allow?").Options(opts...).Value(&choice)
	form := huh.NewForm(huh.NewGroup(huh.NewNote().Title(title).Description(desc), sel)).
		WithTheme(huh.ThemeBase()).
		WithShowHelp(true).
		WithAccessible(accessible)

	start := time.Now()
	var err error
	if accessible {
		in := newTTYReader(ctx, t.In, t.Timeout)
		err = form.WithInput(in).WithOutput(t.Out).RunWithContext(ctx)
		if in.expired() {
			err = huh.ErrTimeout
		}
	} else {
		err = form.WithInput(t.In).WithOutput(t.Out).WithTimeout(t.Timeout).RunWithContext(ctx)
	}

	ans := Answer{Choice: choice, Source: decision.SourceUser, Ended: decision.EndedAnswered}
	switch {
	case ctx.Err() != nil:
		ans = withdrawn(ctx, decision.SourceUser)
	case errors.Is(err, huh.ErrTimeout):
		ans = Answer{Choice: Deny, Source: decision.SourceUser, Note: fmt.Sprintf("no answer in %s: timed out", t.Timeout), Ended: decision.EndedTimedOut}
	case errors.Is(err, huh.ErrUserAborted):
		ans = Answer{Choice: Deny, Source: decision.SourceUser, Note: "interrupted with ctrl+c at the prompt", Ended: decision.EndedInterrupted}
	case err != nil:
		ans = Answer{Choice: Deny, Source: decision.SourceUser, Note: "the prompt failed: " + err.Error(), Ended: decision.EndedRunEnded}
	}
	took := time.Since(start).Seconds()
	how := fmt.Sprintf("answered in %.1fs", took)
	switch ans.Ended {
	case decision.EndedTimedOut:
		how = fmt.Sprintf("no answer: timed out after %.1fs", took)
	case decision.EndedInterrupted:
		how = fmt.Sprintf("interrupted after %.1fs", took)
	case decision.EndedCancelled:
		how = fmt.Sprintf("no answer: the tool withdrew its request after %.1fs", took)
	case decision.EndedRunEnded:
		how = fmt.Sprintf("no answer: %s, after %.1fs", ans.Note, took)
	}
	fmt.Fprintf(t.Out, "airlock: %s: %s (%s, %s)\n", ans.Choice, summary(q), NeutraliseLine(q.Tool), how)
	if ans.Ended == decision.EndedInterrupted && t.Interrupt != nil {
		t.Interrupt()
	}
	return ans, nil
}

func choiceLabel(c Choice, q Question) string {
	folder := ""
	if len(q.Items) == 1 {
		folder = q.Items[0].Folder()
	}
	switch c {
	case AllowOnce:
		return "Allow once"
	case AllowRun:
		return "Allow for this run"
	case AlwaysAllow:
		if folder != "" {
			return "Always allow this file (remember for this module)"
		}
		return "Always allow (remember for this module)"
	case AlwaysAllowFolder:
		return "Always allow in " + NeutraliseLine(folder) + " and below (remember for this module)"
	case AlwaysDeny:
		return "Always deny (remember for this module)"
	}
	return "Deny"
}

// describe renders the question's body: why, then each capability and the
// rule that did not allow it. Everything that comes from the tool (names,
// paths) is neutralised; for huh's styled note, its markup characters are
// escaped too.
func describe(q Question, markup bool) string {
	esc := func(s string) string {
		s = Neutralise(s)
		if markup {
			s = noteEscaper.Replace(s)
		}
		return s
	}
	var b strings.Builder
	b.WriteString(esc(q.Why))
	b.WriteString("\n")
	for _, it := range q.Items {
		fmt.Fprintf(&b, "\n  %s %s", esc(what(it)), esc(NeutraliseLine(it.Target)))
		if it.Op != "" && it.Op != "request" {
			fmt.Fprintf(&b, "  (%s %s)", esc(string(it.Kind)), esc(it.Op))
		}
		if it.Rule != "" {
			fmt.Fprintf(&b, "\n    not allowed by: %s (%s)", esc(it.Rule), esc(it.Origin.String()))
		}
	}
	fmt.Fprintf(&b, "\n\nmodule %s", esc(q.Digest))
	return b.String()
}

var noteEscaper = strings.NewReplacer(`\`, `\\`, `_`, `\_`, `*`, `\*`, "`", "\\`")

// what says in words what kind of capability an item is.
func what(it Item) string {
	switch it.Kind {
	case decision.FSWrite:
		return "write"
	case decision.FSRead:
		return "read"
	case decision.NetConnect:
		return "connect to"
	case decision.Network:
		return "network access to"
	case decision.Env:
		return "the host variable"
	case decision.MountWrite:
		return "write access to the mount"
	case decision.LimitsMemory:
		return "memory up to"
	case decision.LimitsTime:
		return "wall time up to"
	}
	return string(it.Kind)
}

// summary is a one-line account of the items, for the line left on the
// terminal after the answer.
func summary(q Question) string {
	var parts []string
	for _, it := range q.Items {
		parts = append(parts, what(it)+" "+NeutraliseLine(it.Target))
	}
	return strings.Join(parts, ", ")
}
