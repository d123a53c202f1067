"""Gunicorn settings for the web container: `gunicorn -c gunicorn.conf.py "directory:create_app()"`.

Three variables of the web server's own may be set in `.env` (see docs/deploying.md):
WEB_CONCURRENCY (worker processes), FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-Proto
gunicorn trusts) and PROMETHEUS_MULTIPROC_DIR (where workers write their metrics).
The app itself reads X-Forwarded-For/-Proto through TRUST_PROXY_HOPS (README, Configuration).
Serving with gunicorn is serving in production: without SECRET_KEY it refuses to start.
"""

import gc
import os
import shutil
import sys
import tempfile

import gunicorn.http.wsgi

if not os.environ.get("SECRET_KEY"):
    sys.exit(
        "gunicorn.conf.py: SECRET_KEY is not set. It signs sessions and form tokens: set it to a long "
        "random value, the same for every process of the site, e.g. the output of "
        "python -c 'import secrets; print(secrets.token_hex(32))' (in .env for docker compose)."
    )

# Responses do not name the server software. Gunicorn has no setting for its `Server` header: each
# response takes the value from this module-level name of gunicorn.http.wsgi (read when the
# response is made, so setting it here, before any worker starts, covers every response).
gunicorn.http.wsgi.SERVER = "directory"

MAX_WORKERS = 8


def default_workers(cores: int | None = None) -> int:
    """2 x cores + 1 sync workers (gunicorn's rule of thumb), at most MAX_WORKERS."""
    cores = cores or os.cpu_count() or 1
    return min(2 * cores + 1, MAX_WORKERS)


bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or default_workers())
worker_class = "sync"
# A request (search, intake) that takes longer than this is stuck: its worker is killed and replaced.
timeout = 30
# On SIGTERM (docker compose stop/up), workers finish the requests they hold for this long.
graceful_timeout = 30
# Behind a reverse proxy that keeps connections open to us.
keepalive = 5
# Replace workers now and then, so a slow leak cannot grow without bound: rarely, and spread
# out, so that workers under even load do not reach the limit together. A new worker is a fork of
# the master, which has loaded the app (`on_starting`): at 200,000-300,000 a worker is replaced
# every few minutes at full load, and hours apart at usual traffic.
max_requests = 200_000
max_requests_jitter = 100_000
# The heartbeat file on tmpfs: a container's overlay filesystem can stall workers' heartbeats.
worker_tmp_dir = "/dev/shm"
# No control socket (gunicorn 25.1+ opens one for `gunicornc` in $XDG_RUNTIME_DIR or
# $HOME/.gunicorn, run by a thread in the master): nothing here uses it, and every server of one
# user on a host would take over the same path.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
loglevel = "info"
# The path only (%(U)s), never the request line (%(r)s), the query string (%(q)s) or the referrer
# (%(f)s): query strings hold the places people search near, and sign-in or reset tokens.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# Prometheus: each worker writes its metrics into the folder PROMETHEUS_MULTIPROC_DIR names and
# /metrics, whichever worker answers, reports the sum over all of them (docs/deploying.md).
_own_metrics_dir: list[str] = []


def on_starting(server):
    """In the master, before any worker forks: give the workers a metrics folder (a new one of
    this server's own unless PROMETHEUS_MULTIPROC_DIR is set), starting from empty counts: files
    left by an earlier run would be summed in; then load the app and the geocoder's tables
    (`_load_in_master`)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = tempfile.mkdtemp(prefix="directory-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        _own_metrics_dir.append(folder)
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    _load_in_master(server)


def _load_in_master(server):
    """Load the app and build the offline geocoder's ZIP and town tables once, in the master, so
    each worker is a fork that has them: importing and creating the app and building the tables
    takes a worker seconds of CPU, paid again by every replacement
    (`max_requests`), during which the others served alone. This is gunicorn's `preload_app`,
    done here rather than by that setting, which loads the app before `on_starting` has set the
    metrics folder the app's metrics are made for. Then everything made so far (the app, its
    modules, those tables: about 450,000 objects, all kept for the workers' lives) is set aside
    from Python's cyclic garbage collector: its every full pass over them held a request up by
    about 0.25 s, and in a worker it would write to pages the workers otherwise share with the
    master."""
    from directory.search import geocoding

    server.app.wsgi()
    geocoding.warm_up()
    gc.freeze()


def post_worker_init(worker):
    """In each worker, as it starts: drop the database connections inherited from the master, if
    it opened any (each process needs its own; SQLAlchemy's advice for a fork), without closing
    them under the master; then set aside from the collector what the worker made as it started."""
    from directory.extensions import db

    with worker.wsgi.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
    gc.freeze()


def child_exit(server, worker):
    """A worker that exits (max_requests, a timeout, a crash) stops counting in live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for folder in _own_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)
