"""The weekly directory sync: beat's entry (only with DIRECTORY_SYNC_URL), and the task run by a real
Celery worker (a subprocess, through a private Redis) against a local HTTP server."""

from __future__ import annotations

import logging
import re

import pytest

from directory.extensions import db
from directory.sources.download import SyncError
from tests.conftest import database_url, make_app
from tests.integration.services import Worker, wait_for
from tests.sources.file_server import Answer, FileServer
from tests.sources.helpers import count_centers
from tests.sources.test_sync import HEAD


def sync_entry(app):
    return app.extensions["celery"].conf.beat_schedule.get("sync-directory")


def test_beat_has_no_sync_without_a_url(tmp_path):
    app = make_app(database_url(tmp_path))
    assert sync_entry(app) is None
    assert set(app.extensions["celery"].conf.beat_schedule) == {
        "dispatch-outbox",
        "expire-offers",
        "request-confirmations",
    }


def test_beat_syncs_weekly_with_a_url(tmp_path):
    app = make_app(
        database_url(tmp_path),
        DIRECTORY_SYNC_URL="https://data.example.org/national.csv",
        DIRECTORY_SYNC_FORMAT="nssats",
    )
    entry = sync_entry(app)
    assert entry["task"] == "tasks.directory.sync_directory"
    schedule = entry["schedule"]
    assert (schedule.day_of_week, schedule.hour, schedule.minute) == ({0}, {5}, {0})  # Sundays 05:00
    assert "tasks.directory.sync_directory" in app.extensions["celery"].tasks


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"DIRECTORY_SYNC_URL": "ftp://data.example.org/national.csv"},
            "DIRECTORY_SYNC_URL: ftp://data.example.org/national.csv: only http:// and https:// URLs can be synced",
        ),
        (
            {"DIRECTORY_SYNC_URL": "https://data.example.org/national.csv", "DIRECTORY_SYNC_FORMAT": "excel"},
            "DIRECTORY_SYNC_FORMAT='excel' is not an import format: use one of centers, nssats",
        ),
        (
            {
                "DIRECTORY_SYNC_URL": "https://x.example.org/n.csv",
                "DIRECTORY_SYNC_FORMAT": "nssats",
                "DIRECTORY_SYNC_COVERS": "MA,Mass",
            },
            "DIRECTORY_SYNC_COVERS: --covers takes state codes separated by commas",
        ),
    ],
)
def test_a_wrong_sync_setting_stops_the_app_at_start_up(tmp_path, config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_app(database_url(tmp_path), **config)


def test_the_task_imports_the_file_and_logs_its_counts(tmp_path, caplog):
    """Embedded mode: the task runs in this process (eagerly), in the app's context."""
    from tasks.directory import sync_directory

    with FileServer() as server:
        server.answers["/head.csv"] = Answer(HEAD)
        url = server.url("/head.csv")
        app = make_app(database_url(tmp_path), DIRECTORY_SYNC_URL=url + "?key=SECRET", DIRECTORY_SYNC_FORMAT="nssats")
        with caplog.at_level(logging.INFO, logger="tasks.directory"):
            sync_directory.delay()
        created = count_centers(app)
        assert created > 0
        assert f"directory sync of {url} ({len(HEAD)} bytes): {created} created, 0 updated" in caplog.text
        server.answers["/head.csv"] = Answer(b"", 500)
        with pytest.raises(SyncError, match=re.escape(f"{url}: the server answered HTTP 500")):
            sync_directory.delay()
        server.answers["/head.csv"] = Answer(b"<html>Maintenance</html>\n", headers={"Content-Type": "text/html"})
        with pytest.raises(SyncError, match=re.escape(f"{url}: imported nothing (0 created, 0 updated, 0 unchanged")):
            sync_directory.delay()
        assert count_centers(app) == created
    assert caplog.text.count("directory sync failed") == 2
    assert "SECRET" not in caplog.text and "Maintenance" not in caplog.text
    with app.app_context():
        db.engine.dispose()


@pytest.mark.integration
def test_a_worker_runs_the_sync_once_the_server_answers(tmp_path, redis_url):
    app = make_app(database_url(tmp_path), REDIS_URL=redis_url, MAIL_OUTBOX=str(tmp_path / "outbox"))
    with FileServer() as server:
        server.answers["/head.csv"] = Answer(b"down for maintenance", 503, {"Content-Type": "text/plain"})
        url = server.url("/head.csv")
        worker = Worker(
            app, tmp_path / "worker.log", DIRECTORY_SYNC_URL=url + "?key=SECRET", DIRECTORY_SYNC_FORMAT="nssats"
        )
        worker.start()
        try:
            celery = app.extensions["celery"]
            celery.send_task("tasks.directory.sync_directory")
            wait_for(lambda: "directory sync failed" in worker.log.read_text(), 60, "the first sync to fail")
            assert count_centers(app) == 0
            server.answers["/head.csv"] = Answer(HEAD)
            celery.send_task("tasks.directory.sync_directory")
            wait_for(lambda: "directory sync of" in worker.log.read_text(), 60, "the second sync to finish")
        finally:
            worker.stop()
    log = worker.log.read_text()
    created = count_centers(app)
    assert created > 0
    assert f"ERROR tasks.directory [-] directory sync failed: {url}: the server answered HTTP 503" in log
    assert "Traceback" not in log
    assert f"directory sync of {url} ({len(HEAD)} bytes): {created} created, 0 updated, 0 unchanged" in log
    assert "SECRET" not in log
    with app.app_context():
        db.engine.dispose()
