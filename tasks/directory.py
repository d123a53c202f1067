"""Directory tasks: the weekly download and import of DIRECTORY_SYNC_URL (directory.sources.download)."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from directory.celery_app import VISIBILITY_TIMEOUT_SECONDS
from directory.extensions import db
from directory.sources.download import SyncError, sync
from directory.sources.supersession import parse_covers

log = logging.getLogger(__name__)

#: A national file takes seconds to download and import; the limit stays under the visibility
#: timeout, so a long sync is never delivered to a second worker while the first still runs.
SYNC_TIME_LIMIT_SECONDS = VISIBILITY_TIMEOUT_SECONDS - 60


@shared_task(
    name="tasks.directory.sync_directory",
    time_limit=SYNC_TIME_LIMIT_SECONDS,
    soft_time_limit=SYNC_TIME_LIMIT_SECONDS - 20,
    throws=(SyncError,),  # logged below in one line, not as a traceback
)
def sync_directory() -> None:
    """Download DIRECTORY_SYNC_URL and import it as DIRECTORY_SYNC_FORMAT, complete for the states of
    DIRECTORY_SYNC_COVERS, all or nothing; log the counts.
    A failure raises `SyncError` (its message names the URL without credentials, and no row's content)."""
    config = current_app.config
    try:
        if not config["DIRECTORY_SYNC_URL"]:
            raise SyncError("DIRECTORY_SYNC_URL is not set: there is nothing to sync")
        result = sync(
            db.session,
            config["DIRECTORY_SYNC_URL"],
            config["DIRECTORY_SYNC_FORMAT"],
            max_bytes=config["DIRECTORY_SYNC_MAX_BYTES"],
            covers=parse_covers(covers) if (covers := config["DIRECTORY_SYNC_COVERS"]) else frozenset(),
        )
        if not result.report.written:
            raise SyncError(
                f"{result.url}: imported nothing ({result.report.counts()}); `flask --app directory centers sync "
                "URL --format FORMAT --dry-run` lists the invalid rows"
            )
    except SyncError as error:
        log.error("directory sync failed: %s", error)
        raise
    log.info("directory sync of %s (%d bytes): %s", result.url, result.downloaded_bytes, result.report.counts())
