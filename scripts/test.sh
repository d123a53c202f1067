#!/usr/bin/env bash
# Runs the whole test suite (and the linter) on a fresh or existing checkout.
# Extra arguments go to pytest, e.g. scripts/test.sh -k search
set -euo pipefail
cd "$(dirname "$0")/.."

# Services the integration tests run as subprocesses: redis-server (Celery's broker).
# Installed with apt-get where the machine allows it; otherwise those tests are skipped, saying why.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing redis-server with apt-get ..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
      || echo "warning: could not install redis-server; the Redis/Celery integration tests will be skipped." >&2
  else
    echo "warning: redis-server is missing and cannot be installed here; the Redis/Celery integration tests will be skipped." >&2
  fi
fi

source scripts/bootstrap.sh requirements-dev.txt
ruff check .
ruff format --check .
exec python -m pytest "$@"
