package policy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
)

// mountSchema is the body of a mount "GUEST" { … } block.
var mountSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "host"},
		{Name: "access"},
		{Name: "protect"},
		{Name: "hide"},
		{Name: "protect_defaults"},
	},
}

var accessNames = []string{"read", "write"}

func decodeMount(d *decoder, b *hcl.Block) hcl.Diagnostics {
	m, diags := decodeMountBlock(d, b)
	if m != nil {
		d.p.Mounts = append(d.p.Mounts, *m)
		d.mountLabels = append(d.mountLabels, b.LabelRanges[0])
	}
	return diags
}

func decodeMountBlock(d *decoder, b *hcl.Block) (*Mount, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	guest, guestRange := b.Labels[0], b.LabelRanges[0]
	if err := checkGuestPath(guest); err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid mount path",
			Detail:   sentence(err.Error()),
			Subject:  guestRange.Ptr(),
		})
	}
	content, cdiags := hclx.Content(b.Body, mountSchema, "a mount block")
	diags = append(diags, cdiags...)
	m := &Mount{Guest: guest, Access: Read, Origin: d.origin(b.DefRange)}

	host, hostOK, hostSubject := ".", true, guestRange
	var hostAttr *hcl.Attribute
	if a := content.Attributes["host"]; a != nil {
		s, sdiags := stringAttr(a, `"."`)
		diags = append(diags, sdiags...)
		host, hostOK, hostSubject, hostAttr = s, !sdiags.HasErrors(), a.Expr.Range(), a
	}
	if hostOK {
		abs, err := resolveHost(d.baseDir, host)
		if err == nil && d.statHosts {
			err = checkHostDir(host, abs)
		}
		if err != nil {
			diag := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid mount host",
				Detail:   sentence(err.Error()),
				Subject:  hostSubject.Ptr(),
			}
			if hostAttr != nil {
				diag.Context = hostAttr.Range.Ptr()
			}
			diags = append(diags, diag)
		}
		m.Host = abs
	}

	if a := content.Attributes["access"]; a != nil {
		s, sdiags := stringAttr(a, `"write"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			switch s {
			case "read":
				m.Access = Read
			case "write":
				m.Access = Write
			default:
				detail := fmt.Sprintf("access must be \"read\" or \"write\", not %q.", s)
				if s := hclx.DidYouMean(s, accessNames); s != "" {
					detail += fmt.Sprintf(" Did you mean %q?", s)
				}
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid access", detail))
			}
		}
	}

	protectDefaults := true
	if a := content.Attributes["protect_defaults"]; a != nil {
		v, bdiags := boolAttr(a)
		diags = append(diags, bdiags...)
		if !bdiags.HasErrors() {
			protectDefaults = v
		}
		if !bdiags.HasErrors() && !v && m.Access == Write {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Built-in protection turned off",
				Detail: fmt.Sprintf("protect_defaults = false lets the tool change %s in %s, "+
					"for example plant a git hook or a shell start-up line that runs outside the sandbox later. "+
					"Keep the default, or list in protect what must stay read-only.",
					strings.Join(defaultProtect, ", "), guest),
				Subject: a.Range.Ptr(),
			})
		}
	}

	if protectDefaults {
		m.Protect = builtinPatterns(defaultProtect)
	}
	m.Hide = builtinPatterns(defaultHide)
	for _, name := range []string{"protect", "hide"} {
		a := content.Attributes[name]
		if a == nil {
			continue
		}
		items, ldiags := stringListAttr(a, `[".git", "*.pem"]`)
		diags = append(diags, ldiags...)
		for _, it := range items {
			p, err := NewPattern(it.Value, d.origin(it.Range))
			if err != nil {
				diags = append(diags, valueError(a, it.Range, "Invalid pattern", sentence(err.Error())))
				continue
			}
			if name == "protect" {
				m.Protect = append(m.Protect, p)
			} else {
				m.Hide = append(m.Hide, p)
			}
		}
	}
	return m, diags
}

// finishMounts refuses two mounts at the same guest path. Mounts may nest
// ("/" and "/work", "/work" and "/work/docs"): the innermost one serves the
// paths below it, with its own access, protect and hide rules
// (docs/filesystem.md, "Nested mounts").
func finishMounts(d *decoder) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, m := range d.p.Mounts {
		if checkGuestPath(m.Guest) != nil {
			continue // already reported
		}
		for _, prev := range d.p.Mounts[:i] {
			if prev.Guest == m.Guest {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate mount",
					Detail:   duplicateMount(prev),
					Subject:  d.mountLabels[i].Ptr(),
				})
				break
			}
		}
	}
	return diags
}

// checkGuestPath says what is wrong with a mount's guest path, if anything.
// "/" is a guest path like any other: the mount is the guest's whole tree,
// and other mounts nest inside it.
func checkGuestPath(guest string) error {
	switch {
	case !strings.HasPrefix(guest, "/"):
		return fmt.Errorf("the guest path %q must be absolute, like %q", guest, path.Join("/", guest))
	case path.Clean(guest) != guest:
		return fmt.Errorf("the guest path %q is not in clean form; write %q", guest, path.Clean(guest))
	case strings.ContainsRune(guest, 0):
		return fmt.Errorf("the guest path %q contains a NUL byte", guest)
	}
	return nil
}

// duplicateMount says that m's guest path is taken.
func duplicateMount(m Mount) string {
	return fmt.Sprintf("%s is already mounted from %s (%s).", m.Guest, m.Host, originText(m.Origin))
}

// GuestRel returns guest (a clean absolute guest path) relative to the
// mount at mountGuest, and whether guest is that mount's root or lies
// below it: GuestRel("/work", "/work/a/b") is "a/b", GuestRel("/",
// "/etc") is "etc", and the root itself is ".".
func GuestRel(mountGuest, guest string) (string, bool) {
	if guest == mountGuest {
		return ".", true
	}
	prefix := mountGuest + "/"
	if mountGuest == "/" {
		prefix = "/"
	}
	if rel, ok := strings.CutPrefix(guest, prefix); ok && rel != "" {
		return rel, true
	}
	return "", false
}

// Innermost returns the index of the mount of p that serves the clean
// absolute guest path guest: the one with the longest guest path that is
// guest or contains it. It returns -1 when no mount does.
func (p *Policy) Innermost(guest string) int {
	best := -1
	for i, m := range p.Mounts {
		if _, ok := GuestRel(m.Guest, guest); ok && (best < 0 || len(m.Guest) > len(p.Mounts[best].Guest)) {
			best = i
		}
	}
	return best
}

// resolveHost makes a mount's host path absolute and clean, resolving a
// relative one against base.
func resolveHost(base, host string) (string, error) {
	if host == "" {
		return "", errors.New(`host may not be empty; write "." for the directory of the policy file`)
	}
	if strings.ContainsRune(host, 0) {
		return "", fmt.Errorf("host %q contains a NUL byte", host)
	}
	if !filepath.IsAbs(host) {
		host = filepath.Join(base, host)
	}
	return filepath.Clean(host), nil
}

// checkHostDir says what is wrong with a mount's host directory, if anything.
// given is the path as written, abs the resolved one.
func checkHostDir(given, abs string) error {
	shown := abs
	if given != abs {
		shown = fmt.Sprintf("%s (from %q)", abs, given)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		hint := ""
		if strings.HasPrefix(given, "~") {
			hint = `; "~" is not expanded, write the path out`
		}
		return fmt.Errorf("the host directory %s does not exist%s", shown, hint)
	case err != nil:
		return fmt.Errorf("checking the host directory %s: %v", shown, err)
	case !fi.IsDir():
		return fmt.Errorf("the host path %s is not a directory: a mount exposes a directory", shown)
	}
	return nil
}

func builtinPatterns(texts []string) []Pattern {
	ps := make([]Pattern, len(texts))
	for i, t := range texts {
		p, err := NewPattern(t, Origin{Layer: LayerBuiltin})
		if err != nil {
			panic("policy: built-in pattern " + t + ": " + err.Error())
		}
		ps[i] = p
	}
	return ps
}

// originText is how an origin reads in messages and explanations.
func originText(o Origin) string {
	switch {
	case o.Layer == LayerBuiltin:
		return "built-in"
	case o.Range.Filename == "":
		return string(o.Layer)
	}
	return o.String()
}
