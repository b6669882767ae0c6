package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/airlockhq/airlock/internal/hclx"
)

// limitsSchema is the body of the limits { … } block.
var limitsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "memory"},
		{Name: "timeout"},
		{Name: "output"},
		{Name: "open_files"},
	},
}

const (
	// wasmPage is the unit of WebAssembly linear memory.
	wasmPage = 64 << 10
	// maxMemory is what a 32-bit WebAssembly module can address.
	maxMemory = 4 << 30
	// maxOpenFiles is a sanity bound, far above what a tool needs.
	maxOpenFiles = 1 << 20
)

func decodeLimits(d *decoder, b *hcl.Block) hcl.Diagnostics {
	l, diags := decodeLimitsBlock(d, b)
	d.p.Limits = l
	return diags
}

func decodeLimitsBlock(d *decoder, b *hcl.Block) (Limits, hcl.Diagnostics) {
	content, diags := hclx.Content(b.Body, limitsSchema, "a limits block")
	l := Limits{Origin: d.origin(b.DefRange)}
	if a := content.Attributes["memory"]; a != nil {
		n, sdiags := sizeAttr(a, `"256MiB"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case checkMemory(n) != nil:
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid memory", sentence(checkMemory(n).Error())))
		default:
			l.Memory, l.MemoryOrigin = n, d.origin(a.Range)
		}
	}
	if a := content.Attributes["output"]; a != nil {
		n, sdiags := sizeAttr(a, `"16MiB"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case checkOutput(n) != nil:
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid output", sentence(checkOutput(n).Error())))
		default:
			l.Output, l.OutputOrigin = int64(n), d.origin(a.Range)
		}
	}
	if a := content.Attributes["timeout"]; a != nil {
		s, sdiags := stringAttr(a, `"30s"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			t, err := parseTimeout(s)
			if err != nil {
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid timeout", sentence(err.Error())))
			} else {
				l.Timeout, l.TimeoutOrigin = t, d.origin(a.Range)
			}
		}
	}
	if a := content.Attributes["open_files"]; a != nil {
		n, ndiags := wholeNumberAttr(a, "256")
		diags = append(diags, ndiags...)
		switch {
		case ndiags.HasErrors():
		case n == 0 || n > maxOpenFiles:
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid open_files",
				fmt.Sprintf("open_files must be between 1 and %d; leave it out for the default (%d).", maxOpenFiles, DefaultOpenFiles)))
		default:
			l.OpenFiles, l.OpenFilesOrigin = int(n), d.origin(a.Range)
		}
	}
	return l, diags
}

func checkMemory(n uint64) error {
	if n < wasmPage || n > maxMemory {
		return fmt.Errorf("memory must be between 64 KiB (one WebAssembly page) and 4 GiB (what a 32-bit module can address), not %s; leave it out for the default (%s)",
			formatSize(n), formatSize(DefaultMemory))
	}
	return nil
}

func checkOutput(n uint64) error {
	if n == 0 || n > math.MaxInt64 {
		return fmt.Errorf("output must be greater than zero and at most %d bytes; leave it out for the default (%s)",
			int64(math.MaxInt64), formatSize(uint64(DefaultOutput)))
	}
	return nil
}

// finishLimits fills in every limit the file left out.
func finishLimits(d *decoder) hcl.Diagnostics {
	if _, ok := d.once["limits"]; !ok {
		d.p.Limits.Origin = Origin{Layer: LayerBuiltin}
	}
	d.p.Limits.fillDefaults()
	return nil
}

func (l *Limits) fillDefaults() {
	builtin := Origin{Layer: LayerBuiltin}
	if l.Memory == 0 {
		l.Memory, l.MemoryOrigin = DefaultMemory, builtin
	}
	if l.Timeout == 0 {
		l.Timeout, l.TimeoutOrigin = DefaultTimeout, builtin
	}
	if l.Output == 0 {
		l.Output, l.OutputOrigin = DefaultOutput, builtin
	}
	if l.OpenFiles == 0 {
		l.OpenFiles, l.OpenFilesOrigin = DefaultOpenFiles, builtin
	}
}

// sizeAttr decodes a size: a whole number of bytes, or a string such as
// "256MiB".
func sizeAttr(a *hcl.Attribute, example string) (uint64, hcl.Diagnostics) {
	v, ok, diags := constValue(a.Expr)
	if !ok {
		return 0, diags
	}
	bad := func() (uint64, hcl.Diagnostics) {
		return 0, append(diags, valueError(a, a.Expr.Range(), "Invalid "+a.Name,
			fmt.Sprintf("%s must be a size: a whole number of bytes, or a string with a unit B, KiB, MiB, GiB, KB, MB or GB, like %s.", a.Name, example)))
	}
	switch {
	case v.IsNull():
		return bad()
	case v.Type() == cty.Number:
		f := v.AsBigFloat()
		if !f.IsInt() || f.Sign() < 0 {
			return bad()
		}
		n, acc := f.Uint64()
		if acc != 0 {
			return bad()
		}
		return n, diags
	case v.Type() == cty.String:
		n, err := parseSize(v.AsString())
		if err != nil {
			return 0, append(diags, valueError(a, a.Expr.Range(), "Invalid "+a.Name, sentence(err.Error())))
		}
		return n, diags
	}
	return bad()
}

func wholeNumberAttr(a *hcl.Attribute, example string) (uint64, hcl.Diagnostics) {
	v, ok, diags := constValue(a.Expr)
	if !ok {
		return 0, diags
	}
	if !v.IsNull() && v.Type() == cty.Number {
		if f := v.AsBigFloat(); f.IsInt() && f.Sign() >= 0 {
			if n, acc := f.Uint64(); acc == 0 {
				return n, diags
			}
		}
	}
	return 0, append(diags, valueError(a, a.Expr.Range(), "Invalid "+a.Name,
		fmt.Sprintf("%s must be a whole number, like %s.", a.Name, example)))
}

var sizeUnits = []struct {
	name string
	mult uint64
}{
	{"", 1}, {"b", 1},
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
}

// parseSize parses a size in bytes: a whole number with an optional unit,
// B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000), in any
// case, with or without a space: "256MiB", "16 MB", "4096".
func parseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size: write a whole number with an optional unit B, KiB, MiB, GiB, KB, MB or GB, like \"256MiB\"", s)
	}
	n, err := strconv.ParseUint(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	for _, u := range sizeUnits {
		if u.name == unit {
			if n > math.MaxUint64/u.mult {
				return 0, fmt.Errorf("%q is too large", s)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%q has an unknown unit %q: use B, KiB, MiB, GiB, KB, MB or GB", s, strings.TrimSpace(t[i:]))
}

func parseTimeout(s string) (time.Duration, error) {
	t, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number with a unit, like \"30s\", \"2m\" or \"1h30m\"", s)
	}
	if t <= 0 {
		return 0, fmt.Errorf("the timeout must be greater than zero, not %q; leave it out for the default (%s)", s, FormatDuration(DefaultTimeout))
	}
	return t, nil
}

// formatSize renders a byte count in the largest binary unit that divides it.
func formatSize(n uint64) string {
	switch {
	case n == 0:
		return "0 bytes"
	case n%(1<<30) == 0:
		return strconv.FormatUint(n>>30, 10) + " GiB"
	case n%(1<<20) == 0:
		return strconv.FormatUint(n>>20, 10) + " MiB"
	case n%(1<<10) == 0:
		return strconv.FormatUint(n>>10, 10) + " KiB"
	case n == 1:
		return "1 byte"
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

// FormatDuration renders d as a policy writes it, without trailing zero
// units: "2m", not "2m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// ParseSize parses a size the way the policy language does: a whole number
// of bytes with an optional unit B, KiB, MiB, GiB, KB, MB or GB ("512MiB").
// Tool manifests use it for their memory request.
func ParseSize(s string) (uint64, error) { return parseSize(s) }

// FormatSize renders a byte count as explanations do: "512 MiB".
func FormatSize(n uint64) string { return formatSize(n) }
