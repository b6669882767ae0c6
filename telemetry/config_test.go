package telemetry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/telemetry"
)

func TestResolvePrecedence(t *testing.T) {
	block := policy.Telemetry{Exporter: "file", File: "/p/trace.jsonl", Endpoint: "http://policy:4318", Protocol: "grpc",
		SampleRatio: 0.5, SampleRatioSet: true, FlushTimeout: 3 * time.Second, Origin: policy.Origin{Layer: policy.LayerProject}}
	none := policy.Telemetry{Origin: policy.Origin{Layer: policy.LayerBuiltin}}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name     string
		pol      policy.Telemetry
		env      func(string) string
		flags    telemetry.Flags
		exporter string
		endpoint string
		protocol string
		file     string
		sampler  string // the sampler's description, "" for nil (OTEL_TRACES_SAMPLER or always on)
		flush    time.Duration
	}{
		{name: "nothing is off", pol: none, env: env(), exporter: "", protocol: "http", file: telemetry.DefaultFile, flush: telemetry.DefaultFlushTimeout},
		{name: "policy", pol: block, env: env(), exporter: "file", endpoint: "http://policy:4318", protocol: "grpc", file: "/p/trace.jsonl",
			sampler: "ParentBased{root:TraceIDRatioBased{0.5}", flush: 3 * time.Second},
		{name: "a block naming nothing is otlp", pol: policy.Telemetry{Origin: policy.Origin{Layer: policy.LayerProject}}, env: env(),
			exporter: "otlp", protocol: "http", file: telemetry.DefaultFile, flush: telemetry.DefaultFlushTimeout},
		{name: "env endpoint beats the policy", pol: block,
			env:      env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "OTEL_TRACES_SAMPLER", "always_on"),
			exporter: "otlp", endpoint: "", protocol: "http", file: "/p/trace.jsonl", sampler: "", flush: 3 * time.Second},
		{name: "OTEL_SDK_DISABLED", pol: block, env: env("OTEL_SDK_DISABLED", "true", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci:4318"),
			exporter: "none", endpoint: "", protocol: "grpc", file: "/p/trace.jsonl", sampler: "ParentBased{root:TraceIDRatioBased{0.5}", flush: 3 * time.Second},
		{name: "flags beat everything", pol: block, env: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
			flags:    telemetry.Flags{Endpoint: "https://flag:4318", Protocol: "http", SampleRatio: "0", FlushTimeout: time.Second},
			exporter: "otlp", endpoint: "https://flag:4318", protocol: "http", file: "/p/trace.jsonl", sampler: "ParentBased{root:TraceIDRatioBased{0}", flush: time.Second},
		{name: "--otel-file implies file", pol: none, env: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci:4318"), flags: telemetry.Flags{File: "t.jsonl"},
			exporter: "file", protocol: "http", file: "t.jsonl", flush: telemetry.DefaultFlushTimeout},
		{name: "--otel none", pol: block, env: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci:4318"), flags: telemetry.Flags{Exporter: "none"},
			exporter: "none", protocol: "grpc", file: "/p/trace.jsonl", sampler: "ParentBased{root:TraceIDRatioBased{0.5}", flush: 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := telemetry.Resolve(c.pol, c.env, c.flags)
			if err != nil {
				t.Fatal(err)
			}
			sampler := ""
			if cfg.Sampler != nil {
				sampler = cfg.Sampler.Description()
			}
			if cfg.Exporter != c.exporter || cfg.Endpoint != c.endpoint || cfg.Protocol != c.protocol || cfg.File != c.file ||
				!strings.HasPrefix(sampler, c.sampler) || (c.sampler == "" && sampler != "") || cfg.FlushTimeout != c.flush {
				t.Errorf("got exporter %q endpoint %q protocol %q file %q sampler %q flush %v\nwant exporter %q endpoint %q protocol %q file %q sampler %q… flush %v",
					cfg.Exporter, cfg.Endpoint, cfg.Protocol, cfg.File, sampler, cfg.FlushTimeout,
					c.exporter, c.endpoint, c.protocol, c.file, c.sampler, c.flush)
			}
			if on := cfg.On(); on != (c.exporter != "" && c.exporter != "none") {
				t.Errorf("On() = %v", on)
			}
		})
	}

	for _, bad := range []struct {
		env   func(string) string
		flags telemetry.Flags
		want  string
	}{
		{env(), telemetry.Flags{Exporter: "jaeger"}, `unknown telemetry exporter "jaeger"`},
		{env(), telemetry.Flags{Endpoint: "127.0.0.1:4318"}, "must be a URL"},
		{env(), telemetry.Flags{Exporter: "otlp", SampleRatio: "2"}, "from 0 to 1"},
		{env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"), telemetry.Flags{Exporter: "otlp"}, "http/json is not supported"},
		{env(), telemetry.Flags{Exporter: "otlp", Protocol: "udp"}, `unknown OTLP protocol "udp"`},
	} {
		if _, err := telemetry.Resolve(none, bad.env, bad.flags); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want %q", bad.flags, err, bad.want)
		}
	}
}
