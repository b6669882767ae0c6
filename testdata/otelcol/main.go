// Command otelcol is a minimal OpenTelemetry Collector for airlock's tests.
//
// It holds the OTLP receiver (gRPC and HTTP), the contrib file exporter
// (OTLP JSON lines) and the debug exporter, and reads its configuration
// from files only. It lives in its own Go module because the collector's
// dependency tree is large; internal/otelcoltest builds it (through
// .ci/otelcol.sh) and starts it on loopback ports.
//
// Build it with .ci/otelcol.sh (or: cd testdata/otelcol && go build .).
// After changing the imports, update go.mod and go.sum with
// `go mod tidy -e`: plain tidy fails because a test-only dependency of the
// file exporter (otlpencodingextension) is not served by the module proxy.
//
// The configuration must come from a file (--config file:PATH); only the
// file provider is registered. The collector opens no connection of its
// own when its telemetry is configured off (service::telemetry::metrics
// level none, as internal/otelcoltest does; otherwise it serves Prometheus
// metrics on localhost:8888).
package main

import (
	"fmt"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func main() { os.Exit(doMain(os.Args[1:])) }

func doMain(args []string) int {
	cmd := otelcol.NewCommand(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol",
			Description: "airlock test collector",
			Version:     "0.165.0-airlock",
		},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// Only files: no env, http or yaml providers, so a config
				// can never make the collector fetch anything over the network.
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	})
	cmd.SetArgs(args)
	cmd.SilenceErrors = true // printed once below

	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "otelcol: %v\n", err)
		return 1
	}
	return 0
}

func factories() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, fmt.Errorf("registering receivers: %w", err)
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](
		fileexporter.NewFactory(),
		debugexporter.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, fmt.Errorf("registering exporters: %w", err)
	}
	return otelcol.Factories{
		Receivers: receivers,
		Exporters: exporters,
		Telemetry: otelconftelemetry.NewFactory(),
	}, nil
}
