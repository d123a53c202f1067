"""Routing tasks: thin wrappers that load by id and call directory.referrals."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.referrals import dispatch, service

log = logging.getLogger(__name__)


@shared_task(
    name="tasks.routing.route_referral",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def route_referral(referral_id: str) -> None:
    """Plan and offer one referral (safe to deliver twice)."""
    status = service.route_referral(db.session, referral_id, offering=dispatch.offering())
    log.info("referral %s routed: %s", referral_id, status)


@shared_task(name="tasks.routing.expire_offers", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def expire_offers() -> None:
    """Stop routing referrals whose consent expired; expire unanswered offers and offer the next candidate;
    remind centers of offers open for OFFER_REMINDER_MINUTES."""
    stopped = service.stop_lapsed_consents(db.session)
    if stopped:
        log.info("stopped routing %d referrals whose consent expired", stopped)
    count = service.expire_offers(db.session, offering=dispatch.offering())
    if count:
        log.info("expired %d offers", count)
    reminded = service.remind_open_offers(db.session, after=dispatch.reminder_after())
    if reminded:
        log.info("reminded centers of %d open offers", reminded)


@shared_task(name="tasks.routing.dispatch_outbox")
def dispatch_outbox() -> None:
    """Send the outbox rows not sent in time (e.g. the broker was down when their change committed),
    and send again those sent but not done in time (e.g. their worker was killed)."""
    sent = dispatch.send_pending(older_than=timedelta(seconds=30))
    if sent:
        log.info("re-sent %d outbox messages", sent)
