#!/usr/bin/env bash
# zsh and fish load the scripts of `airlock completion zsh|fish` in the
# CLI's completion test (bash is there already).
set -euo pipefail
need=()
for pkg in zsh fish; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
