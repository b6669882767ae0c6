package policy

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
)

// Mode is how approvals work for a run: who is asked, and when, about what
// the policy leaves open. The approvals package carries the modes out.
type Mode string

const (
	// ModeUntrusted trusts nothing a tool says it needs: the tool runs
	// under the policy, and whatever the policy leaves as "ask" is asked at
	// the moment of use, while the host call waits.
	ModeUntrusted Mode = "untrusted"
	// ModeOnRequest shows what the tool's manifest requests beyond the
	// policy in one prompt before the run; during the run, whatever the
	// policy leaves as "ask" is asked at the moment of use.
	ModeOnRequest Mode = "on-request"
	// ModeOnFailure runs strictly ("ask" is denied); when the tool fails
	// after denials, it offers to run the tool again with exactly those
	// granted.
	ModeOnFailure Mode = "on-failure"
	// ModeNever asks nobody: what the policy does not allow is denied.
	ModeNever Mode = "never"
)

// Modes lists the modes in the order the documentation gives them.
var Modes = []Mode{ModeUntrusted, ModeOnRequest, ModeOnFailure, ModeNever}

// ParseMode checks that s names a mode.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	names := modeNames()
	hint := ""
	if d := hclx.DidYouMean(s, names); d != "" {
		hint = fmt.Sprintf("; did you mean %q?", d)
	}
	return "", fmt.Errorf("%q is not an approval mode: use %s%s", s, strings.Join(names, ", "), hint)
}

func modeNames() []string {
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return names
}

// DefaultPromptTimeout is how long a prompt waits for an answer when the
// policy does not say; then it answers deny.
const DefaultPromptTimeout = 60 * time.Second

// AuditOff is the value of approvals.audit (and of --audit) that turns the
// audit log off.
const AuditOff = "off"

// AuditFailure is what a run does when a decision cannot be written to the
// audit log (approvals.audit_failure).
type AuditFailure string

const (
	// AuditStop, the default, stops the run: the decision that could not
	// be recorded is denied, every capability of the run is revoked, and
	// airlock exits with a status of its own.
	AuditStop AuditFailure = "stop"
	// AuditContinue lets the run go on: the decision stands unrecorded,
	// and airlock says once that the audit log is failing.
	AuditContinue AuditFailure = "continue"
)

// Approvals is the approvals { … } block: how the questions a policy leaves
// open ("ask") are answered.
type Approvals struct {
	// Mode is empty when no policy names one: the caller then chooses
	// (airlock run: on-request with a terminal, the headless answer
	// without).
	Mode Mode
	// Headless is what "ask" becomes when nobody can be asked: Deny (the
	// default) or Allow.
	Headless Verdict
	// Timeout is how long a prompt waits before it answers deny.
	Timeout time.Duration
	// Audit is the audit log's path, absolute; empty for the default
	// (.airlock/audit.jsonl in the project), AuditOff for none.
	Audit string
	// AuditFailure is what a decision that cannot be recorded does:
	// AuditStop (the default) or AuditContinue.
	AuditFailure AuditFailure

	Origin Origin // the approvals block, or the built-in layer when there is none

	// Where each value came from: its attribute, a flag, the managed
	// ceiling or the built-in default.
	ModeOrigin, HeadlessOrigin, TimeoutOrigin, AuditOrigin Origin
	AuditFailureOrigin                                     Origin
}

// approvalsSchema is the body of the approvals { … } block.
var approvalsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "mode"},
		{Name: "headless"},
		{Name: "timeout"},
		{Name: "audit"},
		{Name: "audit_failure"},
	},
}

func decodeApprovals(d *decoder, b *hcl.Block) hcl.Diagnostics {
	a, diags := decodeApprovalsBlock(d, b)
	d.p.Approvals = a
	return diags
}

func decodeApprovalsBlock(d *decoder, b *hcl.Block) (Approvals, hcl.Diagnostics) {
	content, diags := hclx.Content(b.Body, approvalsSchema, "an approvals block")
	ap := Approvals{Origin: d.origin(b.DefRange)}
	if a := content.Attributes["mode"]; a != nil {
		s, sdiags := stringAttr(a, `"on-request"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			m, err := ParseMode(s)
			if err != nil {
				detail := fmt.Sprintf("mode must be \"untrusted\", \"on-request\", \"on-failure\" or \"never\", not %q.", s)
				if h := hclx.DidYouMean(s, modeNames()); h != "" {
					detail += fmt.Sprintf(" Did you mean %q?", h)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid mode", detail))
			} else {
				ap.Mode, ap.ModeOrigin = m, d.origin(a.Range)
			}
		}
	}
	if a := content.Attributes["headless"]; a != nil {
		s, sdiags := stringAttr(a, `"deny"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			switch s {
			case "deny":
				ap.Headless, ap.HeadlessOrigin = Deny, d.origin(a.Range)
			case "allow":
				ap.Headless, ap.HeadlessOrigin = Allow, d.origin(a.Range)
			default:
				detail := fmt.Sprintf("headless must be \"deny\" or \"allow\", not %q: it is what \"ask\" becomes when nobody can be asked.", s)
				if h := hclx.DidYouMean(s, []string{"deny", "allow"}); h != "" {
					detail += fmt.Sprintf(" Did you mean %q?", h)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid headless", detail))
			}
		}
	}
	if a := content.Attributes["timeout"]; a != nil {
		s, sdiags := stringAttr(a, `"60s"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			t, err := time.ParseDuration(s)
			switch {
			case err != nil:
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid timeout",
					fmt.Sprintf("%q is not a duration: write a number with a unit, like \"60s\" or \"2m\".", s)))
			case t <= 0:
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid timeout",
					fmt.Sprintf("The prompt timeout must be greater than zero, not %q; leave it out for the default (%s).", s, FormatDuration(DefaultPromptTimeout))))
			default:
				ap.Timeout, ap.TimeoutOrigin = t, d.origin(a.Range)
			}
		}
	}
	if a := content.Attributes["audit"]; a != nil {
		s, sdiags := stringAttr(a, `".airlock/audit.jsonl"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case s == "" || strings.ContainsRune(s, 0):
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid audit",
				`audit must be a file path (relative to the policy's directory), or "off"; leave it out for the default, .airlock/audit.jsonl in the project.`))
		case s == AuditOff:
			ap.Audit, ap.AuditOrigin = AuditOff, d.origin(a.Range)
		default:
			if !filepath.IsAbs(s) {
				s = filepath.Join(d.baseDir, s)
			}
			ap.Audit, ap.AuditOrigin = filepath.Clean(s), d.origin(a.Range)
		}
	}
	if a := content.Attributes["audit_failure"]; a != nil {
		s, sdiags := stringAttr(a, `"stop"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			switch v := AuditFailure(s); v {
			case AuditStop, AuditContinue:
				ap.AuditFailure, ap.AuditFailureOrigin = v, d.origin(a.Range)
			default:
				detail := fmt.Sprintf("audit_failure must be \"stop\" or \"continue\", not %q: it is what a run does when a decision cannot be written to the audit log.", s)
				if h := hclx.DidYouMean(s, []string{string(AuditStop), string(AuditContinue)}); h != "" {
					detail += fmt.Sprintf(" Did you mean %q?", h)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid audit_failure", detail))
			}
		}
	}
	return ap, diags
}

// finishApprovals fills in what the file left out: headless deny, the
// default prompt timeout. The mode stays empty: the caller chooses.
func finishApprovals(d *decoder) hcl.Diagnostics {
	a := &d.p.Approvals
	builtin := Origin{Layer: LayerBuiltin}
	if _, ok := d.once["approvals"]; !ok {
		a.Origin = builtin
	}
	if a.HeadlessOrigin.Layer == "" {
		a.Headless, a.HeadlessOrigin = Deny, builtin
	}
	if a.Timeout == 0 {
		a.Timeout, a.TimeoutOrigin = DefaultPromptTimeout, builtin
	}
	if a.AuditFailure == "" {
		a.AuditFailure, a.AuditFailureOrigin = AuditStop, builtin
	}
	return nil
}

// ExplainApprovals writes the approval lines of `airlock policy explain`,
// in the style of Explain:
//
//	Approvals: mode on-request (policy.hcl:2:3); when nobody can be asked, "ask" is denied (built-in); a prompt answers deny after 1m (built-in).
//	Audit log: /home/x/proj/.airlock/audit.jsonl (built-in); a decision it cannot record stops the run (built-in).
func ExplainApprovals(w io.Writer, a Approvals) error {
	var b strings.Builder
	mode := "chosen at run time: on-request with a terminal, nobody asked without (built-in)"
	if a.Mode != "" {
		mode = string(a.Mode) + " (" + originText(a.ModeOrigin) + ")"
	}
	headless := "denied"
	if a.Headless == Allow {
		headless = "allowed"
	}
	fmt.Fprintf(&b, "Approvals: mode %s; when nobody can be asked, \"ask\" is %s (%s); a prompt answers deny after %s (%s).\n",
		mode, headless, originText(a.HeadlessOrigin), FormatDuration(a.Timeout), originText(a.TimeoutOrigin))
	onFailure := "stops the run"
	if a.AuditFailure == AuditContinue {
		onFailure = "is let through, unrecorded"
	}
	onFailure = fmt.Sprintf("; a decision it cannot record %s (%s).\n", onFailure, originText(a.AuditFailureOrigin))
	switch a.Audit {
	case "":
		b.WriteString("Audit log: .airlock/audit.jsonl in the project (built-in)" + onFailure)
	case AuditOff:
		fmt.Fprintf(&b, "Audit log: off (%s).\n", originText(a.AuditOrigin))
	default:
		fmt.Fprintf(&b, "Audit log: %s (%s)%s", a.Audit, originText(a.AuditOrigin), onFailure)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explaining approvals: %w", err)
	}
	return nil
}
