#!/usr/bin/env bash
# Runs the whole test suite (and the linter) on a fresh or existing checkout:
# once on SQLite, then again on PostgreSQL (each test in a fresh database of its own).
# Extra arguments go to pytest, e.g. scripts/test.sh -k search
set -euo pipefail
cd "$(dirname "$0")/.."

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq && apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# redis-server: the integration tests run their own as subprocesses (Celery's broker).
if ! command -v redis-server >/dev/null 2>&1; then
  if can_install; then
    echo "Installing redis-server with apt-get ..."
    apt_install redis-server || echo "warning: could not install redis-server; the Redis/Celery integration tests will be skipped." >&2
  else
    echo "warning: redis-server is missing and cannot be installed here; the Redis/Celery integration tests will be skipped." >&2
  fi
fi

# Browser tests (tests/browser/): Debian's chromium and chromium-driver, driven headless by Selenium,
# and axe-core from npm (pinned in tests/browser/package-lock.json), injected into each page.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if can_install; then
    echo "Installing chromium and chromium-driver with apt-get ..."
    apt_install chromium chromium-driver || echo "warning: could not install chromium; the browser tests will be skipped." >&2
  else
    echo "warning: chromium or chromium-driver is missing and cannot be installed here; the browser tests will be skipped." >&2
  fi
fi
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "Installing axe-core with npm ci ..."
    (cd tests/browser && npm ci --silent --no-audit --no-fund) || echo "warning: npm ci failed; the browser tests will be skipped." >&2
  else
    echo "warning: npm is missing, so axe-core cannot be installed; the browser tests will be skipped." >&2
  fi
fi

# PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) for the second pass.
PG_URL="${TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && can_install; then
    echo "Installing PostgreSQL with apt-get ..."
    apt_install postgresql || true
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)"
    [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 20); do pg_ready && break; sleep 0.5; done
  fi
fi
# PostGIS: PostgreSQL's spatial index for the radius search (the production path).
if pg_ready && ! psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null | grep -q 1; then
  pg_major="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW server_version_num' 2>/dev/null | cut -c1-2)"
  if can_install && [ -n "$pg_major" ]; then
    echo "Installing PostGIS for PostgreSQL $pg_major with apt-get ..."
    apt_install "postgresql-$pg_major-postgis-3" ||
      echo "warning: could not install PostGIS; the PostgreSQL pass searches through the (latitude, longitude) index and skips the PostGIS tests." >&2
  else
    echo "warning: PostGIS is missing and cannot be installed here; the PostgreSQL pass skips the PostGIS tests." >&2
  fi
fi

source scripts/bootstrap.sh requirements-dev.txt
ruff check .
ruff format --check .

echo "== Test suite on SQLite =="
python -m pytest "$@"

if pg_ready; then
  echo "== Test suite on PostgreSQL =="
  TEST_DATABASE_URL="$PG_URL" python -m pytest "$@"
else
  echo "warning: PostgreSQL is not running at 127.0.0.1:5432 and could not be started or installed here;" >&2
  echo "warning: the PostgreSQL pass was skipped (the SQLite pass above ran everything)." >&2
fi
