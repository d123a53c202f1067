#!/usr/bin/env bash
# Runs the whole test suite (and the linter) on a fresh or existing checkout.
# Extra arguments go to pytest, e.g. scripts/test.sh -k search
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements-dev.txt
ruff check .
ruff format --check .
exec python -m pytest "$@"
