#!/usr/bin/env bash
# Builds the real OpenTelemetry Collector the telemetry tests export to,
# before the tests run (a cold build takes about two minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/otelcol.sh
