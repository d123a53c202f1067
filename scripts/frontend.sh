#!/usr/bin/env bash
# Installs the maps' front-end packages (Leaflet, us-atlas, topojson-client: package-lock.json) into
# node_modules with `npm ci` when they change; the app serves their files (/vendor/<name>).
# Usage: source scripts/frontend.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stamp="$root/node_modules/.installed-package-lock"
digest="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to install the maps' packages (package-lock.json) into node_modules." \
      "Install Node.js 18 or newer with npm (e.g. apt-get install npm), then run this again." >&2
    exit 1
  fi
  echo "Installing the maps' packages (package-lock.json) with npm ci ..."
  (cd "$root" && npm ci --silent --no-audit --no-fund)
  echo "$digest" > "$stamp"
fi
