#!/usr/bin/env bash
# Runs the directory on http://127.0.0.1:5000 in embedded mode (SQLite, no Redis needed).
# First run: creates .venv, installs requirements and the maps' npm packages (npm is needed),
# creates the database and loads seeds/centers.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements.txt
source scripts/frontend.sh
flask --app directory init-db --seed
exec flask --app directory run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
