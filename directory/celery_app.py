"""The Celery app bound to the Flask app (created in `create_app`; workers use `tasks`).

Embedded mode (REDIS_URL unset): tasks run eagerly in the calling process, and the web app
sweeps expired offers itself (see directory/referrals/dispatch.py), so nothing else needs starting.

Reliability settings: JSON only; acks_late with reject_on_worker_lost so a killed worker's
task is delivered again; a visibility timeout above the task time limit; results ignored.
Each worker process reserves PREFETCH_PER_PROCESS task at a time (unacknowledged, so a killed
worker's is delivered again too): reserving more routes no faster on a quiet machine, and a
killed worker would hold more messages, their notices waiting out the visibility timeout. Tasks
carry only ids: no personal data in messages, arguments, results or logs.

A worker that loses its connection to Redis exits (code 1) instead of reconnecting in-process,
and its supervisor starts it again (`restart: unless-stopped` in docker-compose.yml); a fresh
worker waits for Redis at start-up. Celery's in-process reconnect to Redis sometimes crashed the
worker (AttributeError in kombu's channel close) or left it connected but consuming nothing
(celery/celery#8091, #10205, #10302): the fault tests (tests/integration/test_faults.py) met both.
What the old worker held is re-sent from the outbox (ROUTING_REDISPATCH_SECONDS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask
from sqlalchemy.exc import DBAPIError

from directory.extensions import db
from directory.sources import FORMATS
from directory.sources.download import SyncError, check_url
from directory.sources.supersession import parse_covers

TASK_TIME_LIMIT_SECONDS = 120
VISIBILITY_TIMEOUT_SECONDS = 600  # must stay above the task time limit (and the directory sync's)
PREFETCH_PER_PROCESS = 1
#: When beat runs the directory sync (with DIRECTORY_SYNC_URL set): weekly, Sundays 05:00 UTC.
DIRECTORY_SYNC_SCHEDULE = crontab(minute=0, hour=5, day_of_week="sunday")
#: Confirmation requests go out daily at 15:00 UTC: the mail reaches US centers in their working morning.
CONFIRMATION_REQUEST_HOUR_UTC = 15


def celery_init_app(app: Flask) -> Celery:
    """Bind a Celery app to the Flask app so each task runs inside the app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    _close_session()

    redis_url = app.config.get("REDIS_URL")
    tasks = ["tasks.routing", "tasks.notifications", "tasks.directory", "tasks.upkeep"]
    celery = Celery(app.name, task_cls=FlaskTask, include=tasks)
    celery.conf.update(
        broker_url=redis_url or "memory://",
        task_always_eager=not redis_url,
        task_eager_propagates=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=PREFETCH_PER_PROCESS,
        task_time_limit=TASK_TIME_LIMIT_SECONDS,
        task_soft_time_limit=TASK_TIME_LIMIT_SECONDS - 20,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        broker_connection_retry=False,  # a lost broker ends the worker; see the module docstring
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(app.config),
    )
    if not redis_url:
        celery.loader.import_default_modules()  # the tasks, to run in this process by name
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What beat runs: the outbox and offer rounds, the daily confirmation requests, and the weekly
    directory sync if DIRECTORY_SYNC_URL is set (its URL and format checked here, so a wrong one
    stops the app at start-up, not a week later)."""
    schedule: dict[str, dict[str, Any]] = {
        "dispatch-outbox": {"task": "tasks.routing.dispatch_outbox", "schedule": 30.0},
        "expire-offers": {"task": "tasks.routing.expire_offers", "schedule": 60.0},
        "request-confirmations": {
            "task": "tasks.upkeep.request_confirmations",
            "schedule": crontab(minute=0, hour=CONFIRMATION_REQUEST_HOUR_UTC),
        },
    }
    if url := config.get("DIRECTORY_SYNC_URL"):
        try:
            check_url(url)
        except SyncError as error:
            raise ValueError(f"DIRECTORY_SYNC_URL: {error}") from None
        if (file_format := config["DIRECTORY_SYNC_FORMAT"]) not in FORMATS:
            raise ValueError(
                f"DIRECTORY_SYNC_FORMAT={file_format!r} is not an import format: use one of {', '.join(FORMATS)}"
            )
        try:
            if covers := config.get("DIRECTORY_SYNC_COVERS"):
                parse_covers(covers)
        except ValueError as error:
            raise ValueError(f"DIRECTORY_SYNC_COVERS: {error}") from None
        schedule["sync-directory"] = {"task": "tasks.directory.sync_directory", "schedule": DIRECTORY_SYNC_SCHEDULE}
    return schedule


def _close_session() -> None:
    """End the task's database session. If the server dropped the connection meanwhile, the rollback
    this does fails; the task has already finished (or asked for its retry), so that is no failure."""
    try:
        db.session.close()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
