"""/metrics under gunicorn with several worker processes: every worker's requests are counted,
whichever worker answers the scrape (prometheus-client's multiprocess mode, set up by gunicorn.conf.py);
and the rest of what gunicorn.conf.py sets up around the workers."""

from __future__ import annotations

import gc
import http.client
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from directory.extensions import db
from tests.conftest import ROOT, database_url, make_app
from tests.integration.services import free_port, wait_for
from tests.ops.helpers import sample

TOKEN = "metrics-token-for-tests"
REQUESTS = 40
#: Workers are replaced after this many requests, so the requests are spread over several
#: processes (new pids) however gunicorn shares them out between its two workers.
RECYCLE_AFTER = 15


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a connection of its own, so gunicorn's workers share them out."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def gunicorn(tmp_path: Path):
    url = database_url(tmp_path)
    make_app(url)  # migrate
    port, metrics_dir = free_port(), tmp_path / "metrics"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "test",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "MAIL_OUTBOX": str(tmp_path / "outbox"),
        "HOME": str(tmp_path / "home"),  # where gunicorn would put a control socket
    }
    env.pop("REDIS_URL", None)
    env.pop("XDG_RUNTIME_DIR", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--max-requests",
            str(RECYCLE_AFTER),
            "--max-requests-jitter",
            "0",
            "--worker-tmp-dir",
            str(tmp_path),
            # A worker still booting when SIGTERM comes has not set its handlers yet and misses
            # it: the master then waits this long before killing it (the default, 30 s, is
            # the teardown's whole wait below).
            "--graceful-timeout",
            "5",
            "directory:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            return get(port, "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(answers, 60, "gunicorn to answer /healthz")
        yield port, metrics_dir, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_worker_is_counted_whichever_answers_the_scrape(gunicorn):
    port, metrics_dir, _ = gunicorn
    for _ in range(REQUESTS):
        assert get(port, "/healthz")[0] == 200
    processes = sorted(p.name for p in metrics_dir.glob("histogram_*.db"))
    assert len(processes) >= 3, f"the requests should have been served by several processes: {processes}"
    for _ in range(6):  # several scrapes, answered by either worker
        status, text = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        counted = sample(
            text, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET", status="200"
        )
        # The fixture's own readiness polls are /healthz requests too: at least REQUESTS, all of them.
        assert counted is not None and counted >= REQUESTS + 1, text[:2000]
        assert sample(text, "directory_outbox_backlog") == 0  # the database gauges are there too
        assert sample(text, "directory_referral_time_to_acceptance_seconds_count") == 0  # and the histograms
    first = sample(
        text, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET", status="200"
    )
    assert get(port, "/healthz")[0] == 200
    status, text = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    after = sample(
        text, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET", status="200"
    )
    assert after == first + 1


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_workers_are_forks_of_a_master_that_loaded_the_app(gunicorn):
    """A worker that imported the app and built the geocoder's tables itself took about 3 s of CPU
    to start (over 1 s on any machine seen here); a fork of the master that did takes next to none."""
    port, _, master = gunicorn
    for _ in range(2 * RECYCLE_AFTER):  # workers replaced among them (max_requests)
        assert get(port, "/healthz")[0] == 200
    assert get(port, "/api/v1/centers/search?near=60601")[0] == 200

    def children() -> list[int]:
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]

    wait_for(lambda: len(children()) == 2, 30, "both workers (one may be being replaced)")
    workers = children()
    assert all(cpu_seconds(pid) < 0.5 for pid in workers), [cpu_seconds(pid) for pid in workers]
    assert cpu_seconds(master) > 1.0  # the master did the loading


def test_the_server_opens_no_control_socket(gunicorn):
    port, metrics_dir, _ = gunicorn
    assert get(port, "/healthz")[0] == 200
    assert not (metrics_dir.parent / "home" / ".gunicorn").exists()


class Master:
    """What gunicorn.conf.py's `on_starting` uses of gunicorn's arbiter: `app.wsgi()`, which loads
    the app (here it records what the metrics folder held when it was called)."""

    def __init__(self) -> None:
        self.app = self
        self.loaded_with: list[tuple[str | None, list[str]]] = []

    def wsgi(self) -> None:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.loaded_with.append((folder, sorted(p.name for p in Path(folder).iterdir()) if folder else []))


@pytest.fixture(autouse=True)
def secret_key(monkeypatch):
    """gunicorn.conf.py refuses to load without SECRET_KEY."""
    monkeypatch.setenv("SECRET_KEY", "test")


def load_config() -> dict:
    """gunicorn.conf.py's settings and hooks, loaded here as gunicorn loads them (with the
    SECRET_KEY it refuses to start without, set while it loads)."""
    namespace: dict = {}
    with mock.patch.dict(os.environ, {"SECRET_KEY": "test"}):  # the config refuses to load without one
        exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    return namespace


def test_the_metrics_folder_is_emptied_before_the_master_loads_the_app(tmp_path: Path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "histogram_1234.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    master = Master()
    try:
        load_config()["on_starting"](master)
    finally:
        gc.unfreeze()  # this is the test process, not gunicorn's master
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert master.loaded_with == [(str(folder), ["keep.txt"])]  # the app's metrics are made for that folder


def test_the_master_loads_the_app_and_builds_the_geocoder_tables_then_sets_them_aside_from_the_collector(
    tmp_path, monkeypatch
):
    from directory.search import geocoding

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else the config would make one
    geocoding._tables.cache_clear()
    config, master = load_config(), Master()
    assert gc.get_freeze_count() == 0
    try:
        config["on_starting"](master)
        assert len(master.loaded_with) == 1
        assert geocoding._tables.cache_info().currsize == 1
        assert gc.get_freeze_count() > 100_000  # the app, the modules and the tables
    finally:
        gc.unfreeze()


def test_a_worker_drops_the_database_connections_of_the_master_without_closing_them(tmp_path):
    app = make_app(database_url(tmp_path))
    with app.app_context():
        engine = db.engine
        inherited = engine.connect()  # as if the master had opened it before forking
        pool = engine.pool
    worker = type("Worker", (), {"wsgi": app})()
    try:
        load_config()["post_worker_init"](worker)
    finally:
        gc.unfreeze()
    assert engine.pool is not pool  # the worker's connections will be its own
    assert inherited.exec_driver_sql("SELECT 1").scalar() == 1  # the master's still works
    inherited.close()


def test_without_a_folder_set_the_server_makes_its_own_and_removes_it(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = load_config()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # loading the config changes nothing
    try:
        config["on_starting"](Master())
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert folder.is_dir()
        config["on_exit"](None)
        assert not folder.exists()
    finally:  # the hook sets it for the workers to come; the rest of this test process must not see it
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        gc.unfreeze()
