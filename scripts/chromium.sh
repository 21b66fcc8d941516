#!/usr/bin/env bash
# Print the path of a headless-capable Chromium, installing Debian's package when none is there.
# Reports print PDFs with it and the browser tests drive it; nothing is downloaded by Python.
set -euo pipefail
for name in "${GOVERNANCE_CHROMIUM:-}" chromium chromium-browser; do
  if [[ -n "$name" ]] && command -v "$name" >/dev/null; then command -v "$name"; exit 0; fi
done
echo "installing chromium from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
if [[ $(id -u) -eq 0 ]]; then apt-get update -qq >&2 && apt-get install -y -qq chromium >&2
else sudo apt-get update -qq >&2 && sudo apt-get install -y -qq chromium >&2; fi
command -v chromium
