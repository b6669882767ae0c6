package telemetry

import "strings"

// Endpoints returns where p's exporters may connect, as URLs or gRPC
// "host:port": the OTLP endpoint of the configuration, else those the
// OTEL_EXPORTER_OTLP_* variables name (the exporters read them
// themselves), else the OTLP default for the protocol; and the proxies the
// HTTP_PROXY family names, which the exporters honour. It is nil for a nil
// Provider and for the file and stdout exporters. The second wall (package
// internal/wall) leaves these ports open.
func (p *Provider) Endpoints(getenv func(string) string) []string {
	if p == nil || p.cfg.Exporter != ExporterOTLP {
		return nil
	}
	var out []string
	if p.cfg.Endpoint != "" {
		out = append(out, p.cfg.Endpoint)
	} else {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
			if v := strings.TrimSpace(getenv(k)); v != "" {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			out = append(out, p.cfg.endpointName(getenv))
		}
	}
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			if !strings.Contains(v, "://") {
				v = "http://" + v // how net/http reads a proxy without a scheme
			}
			out = append(out, v)
		}
	}
	return out
}
