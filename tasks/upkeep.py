"""Listing upkeep tasks: thin wrappers over directory.upkeep."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.upkeep import confirmations

log = logging.getLogger(__name__)


@shared_task(
    name="tasks.upkeep.request_confirmations", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def request_confirmations() -> None:
    """Ask the staff of listings not confirmed for 90 days to confirm them (each center at most every 30 days),
    unless CONFIRMATION_REQUESTS is off."""
    if not current_app.config["CONFIRMATION_REQUESTS"]:
        return
    asked = confirmations.request_confirmations(db.session)
    if asked:
        log.info("asked %d centers to confirm their listing", asked)
