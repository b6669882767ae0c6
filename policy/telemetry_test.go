package policy_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
)

func TestTelemetryBlock(t *testing.T) {
	src := `
telemetry {
  exporter      = "otlp"
  endpoint      = "http://127.0.0.1:4318"
  protocol      = "grpc"
  sample_ratio  = 0.25
  include_args  = true
  flush_timeout = "500ms"
}
`
	base := t.TempDir()
	p, diags := policy.Parse([]byte(src), "t.hcl", policy.LayerProject, base)
	if diags.HasErrors() || len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diagLines(t, diags))
	}
	tel := p.Telemetry
	want := policy.Telemetry{Exporter: "otlp", Endpoint: "http://127.0.0.1:4318", Protocol: "grpc",
		SampleRatio: 0.25, SampleRatioSet: true, IncludeArgs: true, FlushTimeout: 500 * time.Millisecond,
		Origin: tel.Origin}
	if tel != want {
		t.Fatalf("telemetry = %+v\nwant        %+v", tel, want)
	}
	if got := tel.Origin.String(); got != "t.hcl:2:1" {
		t.Errorf("origin = %s", got)
	}

	// A relative file is relative to the policy's directory; With keeps the block.
	p, diags = policy.Parse([]byte("telemetry {\n  exporter = \"file\"\n  file = \".airlock/trace.jsonl\"\n}\n"), "t.hcl", policy.LayerProject, base)
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diagLines(t, diags))
	}
	if want := filepath.Join(base, ".airlock", "trace.jsonl"); p.Telemetry.File != want {
		t.Errorf("file = %q, want %q", p.Telemetry.File, want)
	}
	q, diags := p.With(policy.Overrides{Env: []string{"LANG"}}, base)
	if diags.HasErrors() || q.Telemetry != p.Telemetry {
		t.Errorf("With lost the telemetry block: %+v (%v)", q.Telemetry, diags)
	}
}

func TestTelemetryAbsentIsOff(t *testing.T) {
	p, diags := policy.Parse([]byte("limits {}\n"), "t.hcl", policy.LayerProject, t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diagLines(t, diags))
	}
	if p.Telemetry.Exporter != "" || p.Telemetry.Origin.Layer != policy.LayerBuiltin {
		t.Fatalf("telemetry without a block = %+v", p.Telemetry)
	}
	if d := policy.Default(t.TempDir()); d.Telemetry.Exporter != "" {
		t.Fatalf("the default policy turns telemetry on: %+v", d.Telemetry)
	}
}

func TestTelemetryDiagnostics(t *testing.T) {
	for _, c := range []struct {
		src  string
		want string // a line of the diagnostics
	}{
		{`exporter = "otpl"`, `t.hcl:2:14: error: Invalid exporter; exporter must be one of otlp, file, stdout, none, not "otpl". Did you mean "otlp"?`},
		{`endpoint = "127.0.0.1:4318"`, `t.hcl:2:14: error: Invalid endpoint; Endpoint must be a URL with the scheme http or https and a host`},
		{`protocol = "udp"`, `t.hcl:2:14: error: Invalid protocol; protocol must be "http"`},
		{`sample_ratio = 1.5`, `t.hcl:2:18: error: Invalid sample_ratio; sample_ratio must be a number from 0`},
		{`sample_ratio = -0.1`, `t.hcl:2:18: error: Invalid sample_ratio`},
		{`include_args = "yes"`, `t.hcl:2:18: error: Invalid include_args; include_args must be true or false.`},
		{`flush_timeout = "2 minutes"`, `t.hcl:2:19: error: Invalid flush_timeout; "2 minutes" is not a duration`},
		{`flush_timeout = "5m"`, `t.hcl:2:19: error: Invalid flush_timeout; flush_timeout must be greater than zero and at most 1m`},
		{`file = ""`, `t.hcl:2:10: error: Invalid file`},
		{`sample_rate = 0.5`, `t.hcl:2:3: error: Unsupported argument; An argument named "sample_rate" is not expected in a telemetry block. Did you mean "sample_ratio"?`},
		{"exporter = \"file\"\n  endpoint = \"http://x:1\"", `t.hcl:3:3: warning: Unused endpoint; endpoint is ignored: the exporter is "file".`},
	} {
		src := "telemetry {\n  " + c.src + "\n}\n"
		_, diags := policy.Parse([]byte(src), "t.hcl", policy.LayerProject, t.TempDir())
		lines := diagLines(t, diags)
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s:\n got %q\nwant a line starting %q", c.src, lines, c.want)
		}
	}

	_, diags := policy.Parse([]byte("telemetry {}\ntelemetry {}\n"), "t.hcl", policy.LayerProject, t.TempDir())
	if !diags.HasErrors() || !strings.Contains(diagLines(t, diags)[0], "Duplicate telemetry block") {
		t.Errorf("two telemetry blocks: %v", diagLines(t, diags))
	}
}
