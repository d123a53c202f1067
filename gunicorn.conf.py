"""Gunicorn settings for the web container: `gunicorn -c gunicorn.conf.py "directory:create_app()"`.

Two variables of gunicorn's own may be set in `.env` (see docs/deploying.md): WEB_CONCURRENCY
(worker processes) and FORWARDED_ALLOW_IPS (proxies whose X-Forwarded-Proto gunicorn trusts).
The app itself reads X-Forwarded-For/-Proto through TRUST_PROXY_HOPS (README, Configuration).
"""

import os

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
# Replace workers now and then, staggered, so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# The heartbeat file on tmpfs: a container's overlay filesystem can stall workers' heartbeats.
worker_tmp_dir = "/dev/shm"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
loglevel = "info"
# The path only (%(U)s), never the request line (%(r)s), the query string (%(q)s) or the referrer
# (%(f)s): query strings hold the places people search near, and sign-in or reset tokens.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
