#!/usr/bin/env bash
# Builds the test OpenTelemetry Collector (testdata/otelcol, its own Go module)
# into $1, default $HOME/.cache/airlock-test/otelcol.
#
# Skips the build when the binary is newer than the module's main.go, go.mod
# and go.sum. Concurrent runs for the same output wait for each other (flock),
# and the binary is replaced atomically, so parallel test binaries can call
# this at the same time. internal/otelcoltest runs it when the binary is
# missing or stale.
#
# Environment: GO (the go command, default "go").
set -euo pipefail

out=${1:-${HOME}/.cache/airlock-test/otelcol}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${root}/testdata/otelcol
go=${GO:-go}

fail() {
	echo "otelcol.sh: $*" >&2
	exit 1
}

up_to_date() {
	[[ -x ${out} ]] || return 1
	local f
	for f in main.go go.mod go.sum; do
		[[ ${out} -nt ${src}/${f} ]] || return 1
	done
}

[[ -f ${src}/go.mod ]] || fail "no collector module at ${src}"
command -v "${go}" >/dev/null || fail "the go command (${go}) is not on PATH"
mkdir -p "$(dirname "${out}")" || fail "cannot create $(dirname "${out}")"

# One builder at a time per output path; the others wait, then find it built.
if command -v flock >/dev/null; then
	exec 9>"${out}.lock" || fail "cannot open ${out}.lock"
	flock 9 || fail "cannot lock ${out}.lock"
fi

if up_to_date; then
	echo "otelcol.sh: ${out} is up to date"
	exit 0
fi

start=$(date +%s.%N)
tmp="${out}.tmp.$$"
trap 'rm -f "${tmp}"' EXIT
echo "otelcol.sh: building ${src} into ${out}"
# GOWORK=off: the collector is its own module whatever go.work says.
# -trimpath -s -w: a smaller binary; -buildvcs=false: no git needed.
if ! (cd "${src}" && GOWORK=off CGO_ENABLED=0 "${go}" build -trimpath -buildvcs=false \
	-ldflags='-s -w' -o "${tmp}" .); then
	fail "go build of ${src} failed (see above)"
fi
mv -f "${tmp}" "${out}" || fail "cannot move ${tmp} to ${out}"
end=$(date +%s.%N)
awk -v s="${start}" -v e="${end}" -v out="${out}" -v size="$(wc -c <"${out}")" \
	'BEGIN { printf "otelcol.sh: built %s (%.1f MB) in %.1fs\n", out, size / 1e6, e - s }'
