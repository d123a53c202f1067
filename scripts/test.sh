#!/usr/bin/env bash
# Runs the whole test suite (and the linter) on a fresh or existing checkout:
# once on SQLite, then again on PostgreSQL (each test in a fresh database of its own).
# Each pass runs one pytest worker per core, at most 4 (pytest-xdist). Extra arguments go to
# pytest, e.g. scripts/test.sh -k search (or -n 0 for a single process).
# Under CI (CI=true) a service the suite needs (Redis, Chromium and chromedriver, axe-core,
# PostgreSQL with PostGIS) that cannot be installed or started fails the run; elsewhere its tests
# are skipped with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=""
case "${CI:-}" in true | TRUE | True | 1 | yes) ci=1 ;; esac
# A service is missing: under CI the run fails, saying which; elsewhere a warning, and its tests skip.
missing() {
  if [ -n "$ci" ]; then
    echo "error: $1; CI=true, so the run stops here instead of skipping $2." >&2
    exit 1
  fi
  echo "warning: $1; $2 will be skipped." >&2
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
# apt-get waits up to 5 minutes for a lock another apt or dpkg holds (e.g. unattended upgrades at boot).
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt_get update -qq && apt_updated=1; }
  apt_get install -y -qq "$@" >/dev/null
}

# redis-server: the integration tests run their own as subprocesses (Celery's broker).
if ! command -v redis-server >/dev/null 2>&1; then
  if can_install; then
    echo "Installing redis-server with apt-get ..."
    apt_install redis-server || missing "could not install redis-server" "the Redis/Celery integration tests"
  else
    missing "redis-server is missing and cannot be installed here" "the Redis/Celery integration tests"
  fi
fi

# Browser tests (tests/browser/): Debian's chromium and chromium-driver, driven headless by Selenium,
# and axe-core from npm (pinned in tests/browser/package-lock.json), injected into each page.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if can_install; then
    echo "Installing chromium and chromium-driver with apt-get ..."
    apt_install chromium chromium-driver || missing "could not install chromium" "the browser tests"
  else
    missing "chromium or chromium-driver is missing and cannot be installed here" "the browser tests"
  fi
fi
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "Installing axe-core with npm ci ..."
    (cd tests/browser && npm ci --silent --no-audit --no-fund) || missing "npm ci failed" "the browser tests"
  else
    missing "npm is missing, so axe-core cannot be installed" "the browser tests"
  fi
fi

# The maps' front-end packages (package-lock.json), which the app serves: the map tests need them.
if command -v npm >/dev/null 2>&1; then
  source scripts/frontend.sh
else
  missing "npm is missing, so the maps' packages (Leaflet, us-atlas) cannot be installed" "the map tests"
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
if ! pg_ready; then
  missing "PostgreSQL is not running at 127.0.0.1:5432 and could not be started or installed here" \
    "the PostgreSQL pass (the SQLite pass runs everything else)"
fi
# PostGIS: PostgreSQL's spatial index for the radius search (the production path).
if pg_ready && ! psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null | grep -q 1; then
  pg_major="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW server_version_num' 2>/dev/null | cut -c1-2)"
  if can_install && [ -n "$pg_major" ]; then
    echo "Installing PostGIS for PostgreSQL $pg_major with apt-get ..."
    apt_install "postgresql-$pg_major-postgis-3" ||
      missing "could not install PostGIS" "the PostGIS tests (the PostgreSQL pass searches through the (latitude, longitude) index)"
  else
    missing "PostGIS is missing and cannot be installed here" "the PostGIS tests"
  fi
fi

source scripts/bootstrap.sh requirements-dev.txt
ruff check .
ruff format --check .

# One pytest worker per core, at most 4 (pytest-xdist; each worker holds its own PostgreSQL
# connections and services); a worker takes the next test as it finishes one.
workers="$(nproc 2>/dev/null || echo 2)"
[ "$workers" -le 4 ] || workers=4
parallel=(--numprocesses "$workers" --dist worksteal)
echo "== Test suite on SQLite =="
python -m pytest "${parallel[@]}" "$@"

if pg_ready; then
  echo "== Test suite on PostgreSQL =="
  TEST_DATABASE_URL="$PG_URL" python -m pytest "${parallel[@]}" "$@"
fi
