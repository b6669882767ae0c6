#!/usr/bin/env bash
# The brotli command: the network tests encode a response in br (the Go
# standard library has no brotli encoder) to prove that a credential echoed
# back compressed never reaches the guest.
set -euo pipefail
if ! command -v brotli >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq brotli >/dev/null
fi
