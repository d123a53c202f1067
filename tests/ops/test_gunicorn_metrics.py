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

import pytest

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
        yield port, metrics_dir
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_worker_is_counted_whichever_answers_the_scrape(gunicorn):
    port, metrics_dir = gunicorn
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
    first = sample(
        text, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET", status="200"
    )
    assert get(port, "/healthz")[0] == 200
    status, text = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    after = sample(
        text, "directory_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET", status="200"
    )
    assert after == first + 1


def test_the_server_opens_no_control_socket(gunicorn):
    port, metrics_dir = gunicorn
    assert get(port, "/healthz")[0] == 200
    assert not (metrics_dir.parent / "home" / ".gunicorn").exists()


def test_the_metrics_folder_is_emptied_when_gunicorn_starts(tmp_path: Path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "histogram_1234.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not ours")
    namespace: dict = {}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    namespace["on_starting"](None)
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_workers_build_the_geocoder_tables_as_they_start_then_set_them_aside_from_the_collector(tmp_path, monkeypatch):
    from directory.search import geocoding

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else the config would set one here

    geocoding._tables.cache_clear()
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    assert gc.get_freeze_count() == 0
    try:
        namespace["post_worker_init"](None)
        assert geocoding._tables.cache_info().currsize == 1
        assert gc.get_freeze_count() > 100_000  # the app, the modules and the tables
    finally:
        gc.unfreeze()  # this is the test process, not a worker


def test_without_a_folder_set_the_server_makes_its_own_and_removes_it(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # loading the config changes nothing
    try:
        namespace["on_starting"](None)
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert folder.is_dir()
        namespace["on_exit"](None)
        assert not folder.exists()
    finally:  # the hook sets it for the workers to come; the rest of this test process must not see it
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
