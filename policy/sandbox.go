package policy

import (
	"fmt"
	"io"
	"slices"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
)

// Sandbox is the sandbox { … } block: the walls airlock raises around its
// own process, beside the WebAssembly one (docs/filesystem.md, "Second
// wall: Landlock").
type Sandbox struct {
	// Landlock says whether `airlock run` and `airlock mcp` restrict their
	// own process with Linux Landlock once set-up is done. Always one of
	// the LandlockModes in a parsed policy.
	Landlock       LandlockMode
	LandlockOrigin Origin // the attribute, or the built-in layer
	Origin         Origin // the sandbox block, or the built-in layer when there is none
}

// LandlockMode is the value of sandbox.landlock.
type LandlockMode string

const (
	// LandlockOff never raises the wall.
	LandlockOff LandlockMode = "off"
	// LandlockAuto raises it where the kernel has Landlock and runs
	// without it (saying so once) where not. The default.
	LandlockAuto LandlockMode = "auto"
	// LandlockRequire refuses to run a tool without the wall.
	LandlockRequire LandlockMode = "require"
)

// LandlockModes lists the values of sandbox.landlock from the weakest to the
// strongest: a layer below the managed one may move up this list, never down.
var LandlockModes = []LandlockMode{LandlockOff, LandlockAuto, LandlockRequire}

func (m LandlockMode) strength() int { return slices.Index(LandlockModes, m) }

var sandboxSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "landlock"}},
}

func decodeSandbox(d *decoder, b *hcl.Block) hcl.Diagnostics {
	content, diags := hclx.Content(b.Body, sandboxSchema, "a sandbox block")
	s := Sandbox{Origin: d.origin(b.DefRange)}
	if a := content.Attributes["landlock"]; a != nil {
		v, sdiags := stringAttr(a, `"require"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			m := LandlockMode(v)
			if m.strength() < 0 {
				names := make([]string, len(LandlockModes))
				for i, x := range LandlockModes {
					names[i] = string(x)
				}
				detail := fmt.Sprintf("landlock must be \"off\", \"auto\" or \"require\", not %q.", v)
				if h := hclx.DidYouMean(v, names); h != "" {
					detail += fmt.Sprintf(" Did you mean %q?", h)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid landlock", detail))
			} else {
				s.Landlock, s.LandlockOrigin = m, d.origin(a.Range)
			}
		}
	}
	d.p.Sandbox = s
	return diags
}

// finishSandbox fills in the default: landlock = "auto".
func finishSandbox(d *decoder) hcl.Diagnostics {
	s := &d.p.Sandbox
	builtin := Origin{Layer: LayerBuiltin}
	if _, ok := d.once["sandbox"]; !ok {
		s.Origin = builtin
	}
	if s.Landlock == "" {
		s.Landlock, s.LandlockOrigin = LandlockAuto, builtin
	}
	return nil
}

// applySandboxCeiling bounds q's sandbox block by the managed one: the
// stronger landlock mode wins, so that nothing below the managed layer
// relaxes what it sets.
func applySandboxCeiling(managed, q *Policy) {
	ms := managed.Sandbox
	if ms.LandlockOrigin.Layer != LayerManaged {
		return
	}
	if q.Sandbox.Landlock.strength() <= ms.Landlock.strength() {
		q.Sandbox.Landlock, q.Sandbox.LandlockOrigin = ms.Landlock, ms.LandlockOrigin
	}
}

// ExplainSandbox writes the sandbox line of `airlock policy explain`:
//
//	Second wall: Landlock "auto": airlock restricts its own process where the kernel has Landlock (built-in).
func ExplainSandbox(w io.Writer, s Sandbox) error {
	var what string
	switch s.Landlock {
	case LandlockOff:
		what = "off: airlock does not restrict its own process"
	case LandlockRequire:
		what = "required: airlock refuses to run a tool where the kernel has no Landlock"
	default:
		what = "auto: airlock restricts its own process where the kernel has Landlock"
	}
	if _, err := fmt.Fprintf(w, "Second wall: Landlock %s (%s).\n", what, originText(s.LandlockOrigin)); err != nil {
		return fmt.Errorf("explaining the sandbox: %w", err)
	}
	return nil
}
