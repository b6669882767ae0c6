package policy

import (
	"fmt"
	"math/big"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/hclx"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Telemetry is the telemetry { … } block: where a run's spans, log records
// and metrics go. Every field is the zero value when the file does not set
// it; the telemetry package merges it under the OTEL_* environment and the
// CLI flags, and leaves telemetry off when nothing asks for it.
type Telemetry struct {
	Exporter       string        // "otlp", "file", "stdout" or "none"; "" when not set
	Endpoint       string        // OTLP endpoint, a URL such as "http://127.0.0.1:4318"
	Protocol       string        // "http" or "grpc"; "" when not set
	File           string        // the file exporter's path, absolute
	SampleRatio    float64       // fraction of runs whose host calls are traced
	SampleRatioSet bool          // whether sample_ratio was written
	IncludeArgs    bool          // put tool arguments and MCP inputs in records
	FlushTimeout   time.Duration // bound on the flush at exit; 0 when not set
	Origin         Origin        // the telemetry block, or the built-in layer when there is none
}

// TelemetryExporters lists the values of telemetry.exporter.
var TelemetryExporters = []string{"otlp", "file", "stdout", "none"}

// maxFlushTimeout bounds flush_timeout: a flush that takes longer than this
// holds up every tool run at exit, which is never what anyone wants.
const maxFlushTimeout = time.Minute

// telemetrySchema is the body of the telemetry { … } block.
var telemetrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "exporter"},
		{Name: "endpoint"},
		{Name: "protocol"},
		{Name: "file"},
		{Name: "sample_ratio"},
		{Name: "include_args"},
		{Name: "flush_timeout"},
	},
}

func decodeTelemetry(d *decoder, b *hcl.Block) hcl.Diagnostics {
	content, diags := hclx.Content(b.Body, telemetrySchema, "a telemetry block")
	t := Telemetry{Origin: d.origin(b.DefRange)}
	if a := content.Attributes["exporter"]; a != nil {
		s, sdiags := stringAttr(a, `"otlp"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case slices.Contains(TelemetryExporters, s):
			t.Exporter = s
		default:
			detail := fmt.Sprintf("exporter must be one of %s, not %q.", strings.Join(TelemetryExporters, ", "), s)
			if m := hclx.DidYouMean(s, TelemetryExporters); m != "" {
				detail += fmt.Sprintf(" Did you mean %q?", m)
			}
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid exporter", detail))
		}
	}
	if a := content.Attributes["protocol"]; a != nil {
		s, sdiags := stringAttr(a, `"http"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case s == "http" || s == "http/protobuf":
			t.Protocol = "http"
		case s == "grpc":
			t.Protocol = "grpc"
		default:
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid protocol",
				fmt.Sprintf("protocol must be \"http\" (OTLP over HTTP with protobuf) or \"grpc\", not %q.", s)))
		}
	}
	if a := content.Attributes["endpoint"]; a != nil {
		s, sdiags := stringAttr(a, `"http://127.0.0.1:4318"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			if err := checkEndpoint(s); err != nil {
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid endpoint", sentence(err.Error())))
			} else {
				t.Endpoint = s
			}
		}
	}
	if a := content.Attributes["file"]; a != nil {
		s, sdiags := stringAttr(a, `".airlock/trace.jsonl"`)
		diags = append(diags, sdiags...)
		switch {
		case sdiags.HasErrors():
		case strings.TrimSpace(s) == "":
			diags = append(diags, valueError(a, a.Expr.Range(), "Invalid file",
				"file must name a file, like \".airlock/trace.jsonl\"; a relative path is relative to the policy's directory."))
		case filepath.IsAbs(s):
			t.File = filepath.Clean(s)
		default:
			t.File = filepath.Join(d.baseDir, s)
		}
	}
	if a := content.Attributes["sample_ratio"]; a != nil {
		r, rdiags := ratioAttr(a)
		diags = append(diags, rdiags...)
		if !rdiags.HasErrors() {
			t.SampleRatio, t.SampleRatioSet = r, true
		}
	}
	if a := content.Attributes["include_args"]; a != nil {
		v, bdiags := boolAttr(a)
		diags = append(diags, bdiags...)
		t.IncludeArgs = v
	}
	if a := content.Attributes["flush_timeout"]; a != nil {
		s, sdiags := stringAttr(a, `"2s"`)
		diags = append(diags, sdiags...)
		if !sdiags.HasErrors() {
			ft, err := time.ParseDuration(s)
			switch {
			case err != nil:
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid flush_timeout",
					fmt.Sprintf("%q is not a duration: write a number with a unit, like \"2s\" or \"500ms\".", s)))
			case ft <= 0 || ft > maxFlushTimeout:
				diags = append(diags, valueError(a, a.Expr.Range(), "Invalid flush_timeout",
					fmt.Sprintf("flush_timeout must be greater than zero and at most %s, not %q.", FormatDuration(maxFlushTimeout), s)))
			default:
				t.FlushTimeout = ft
			}
		}
	}

	// Settings that the chosen exporter ignores are probably a mistake.
	unused := func(name, why string) {
		if a := content.Attributes[name]; a != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Unused " + name,
				Detail:   fmt.Sprintf("%s is ignored: %s.", name, why),
				Subject:  a.NameRange.Ptr(),
			})
		}
	}
	switch t.Exporter {
	case "file":
		unused("endpoint", `the exporter is "file"`)
		unused("protocol", `the exporter is "file"`)
	case "stdout", "none":
		unused("endpoint", fmt.Sprintf("the exporter is %q", t.Exporter))
		unused("protocol", fmt.Sprintf("the exporter is %q", t.Exporter))
		unused("file", fmt.Sprintf("the exporter is %q", t.Exporter))
	case "otlp":
		unused("file", `the exporter is "otlp"`)
	}
	d.p.Telemetry = t
	return diags
}

// finishTelemetry gives a policy without a telemetry block the built-in
// origin (and nothing else: telemetry stays off unless asked for).
func finishTelemetry(d *decoder) hcl.Diagnostics {
	if _, ok := d.once["telemetry"]; !ok {
		d.p.Telemetry = Telemetry{Origin: Origin{Layer: LayerBuiltin}}
	}
	return nil
}

// checkEndpoint accepts an OTLP endpoint URL: http or https, with a host.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint must be a URL with the scheme http or https and a host, like \"http://127.0.0.1:4318\", not %q", s)
	}
	return nil
}

func ratioAttr(a *hcl.Attribute) (float64, hcl.Diagnostics) {
	v, ok, diags := constValue(a.Expr)
	if !ok {
		return 0, diags
	}
	if !v.IsNull() && v.Type() == cty.Number {
		f, _ := v.AsBigFloat().Float64()
		if v.AsBigFloat().Cmp(big.NewFloat(0)) >= 0 && f <= 1 {
			return f, diags
		}
	}
	return 0, append(diags, valueError(a, a.Expr.Range(), "Invalid sample_ratio",
		"sample_ratio must be a number from 0 (trace no run's host calls; decisions are still logged) to 1 (trace every run), like 0.1."))
}
