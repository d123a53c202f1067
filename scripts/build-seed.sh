#!/usr/bin/env bash
# Regenerates seeds/centers.csv from SAMHSA's 2015 directory (../shared/data/samhsa-nssats-2015/).
# Usage: scripts/build-seed.sh [path/to/directory.csv]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements.txt
source_csv="${1:-../shared/data/samhsa-nssats-2015/directory.csv}"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
export DATABASE_URL="sqlite:///$workdir/seed.sqlite3"
flask --app directory init-db
flask --app directory centers import "$source_csv" --format nssats
flask --app directory centers export seeds/centers.csv
