#!/usr/bin/env bash
# Installs the MCP Inspector (npm package @modelcontextprotocol/inspector),
# whose CLI mode the mcp package's tests use as a real MCP client that no
# one here wrote (mcp/inspector_test.go), into $1, default
# $HOME/.cache/airlock-test/inspector; the CLI is then
# $1/node_modules/.bin/mcp-inspector. Under CI=true the test fails when it
# is missing; elsewhere it is skipped.
#
# Skips the install when that version is already there. Concurrent runs for
# the same folder wait for each other (flock). Needs node and npm; on Debian
# they are installed with apt-get when missing (the Inspector asks for Node
# 22; its CLI mode runs on Node 20).
set -euo pipefail

version=2.12.0
prefix=${1:-${HOME}/.cache/airlock-test/inspector}
pkg=@modelcontextprotocol/inspector

fail() {
	echo "setup-mcp.sh: $*" >&2
	exit 1
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
		echo "setup-mcp.sh: installing nodejs and npm with apt-get"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	fi
fi
command -v node >/dev/null || fail "node is not on PATH"
command -v npm >/dev/null || fail "npm is not on PATH"

mkdir -p "${prefix}" || fail "cannot create ${prefix}"
if command -v flock >/dev/null; then
	exec 9>"${prefix}/.lock" || fail "cannot open ${prefix}/.lock"
	flock 9 || fail "cannot lock ${prefix}/.lock"
fi

installed=$(node -p "require('${prefix}/node_modules/${pkg}/package.json').version" 2>/dev/null || true)
if [[ ${installed} == "${version}" && -x ${prefix}/node_modules/.bin/mcp-inspector ]]; then
	echo "setup-mcp.sh: ${pkg}@${version} is installed in ${prefix}"
	exit 0
fi

echo "setup-mcp.sh: installing ${pkg}@${version} into ${prefix} (node $(node --version))"
npm install --prefix "${prefix}" --no-audit --no-fund --loglevel=error --save-exact "${pkg}@${version}" ||
	fail "npm install of ${pkg}@${version} failed (see above)"
[[ -x ${prefix}/node_modules/.bin/mcp-inspector ]] || fail "no mcp-inspector in ${prefix}/node_modules/.bin after the install"
"${prefix}/node_modules/.bin/mcp-inspector" --cli --version >/dev/null 2>&1 ||
	fail "${prefix}/node_modules/.bin/mcp-inspector --cli does not run on node $(node --version)"
echo "setup-mcp.sh: installed ${pkg}@${version}"
