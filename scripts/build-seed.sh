#!/usr/bin/env bash
# Regenerates seeds/centers.csv from the public sources in ../shared/data/ (directory/sources/seed.py
# lists them): each imported in turn into an empty database, then exported.
# Usage: scripts/build-seed.sh [path/to/shared/data]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements.txt
data="${1:-../shared/data}"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
export DATABASE_URL="sqlite:///$workdir/seed.sqlite3"
flask --app directory init-db
flask --app directory centers build-seed --data "$data"
flask --app directory centers export seeds/centers.csv
