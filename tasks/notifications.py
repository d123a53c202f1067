"""Notification tasks: thin wrappers that load by id and call directory.referrals.notifications."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.referrals import notifications

MAX_RETRIES = 5
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(bind=True, name="tasks.notifications.send_notices", max_retries=MAX_RETRIES)
def send_notices(self, offer_ids: list[int], referral_ids: list[str]) -> None:
    """Email the staff of each new offer's center and the creator of each referral whose status changed.

    One task per committed change (a routed referral has a new offer and a new status). If the
    database fails midway, the retry carries only what was not mailed yet: nobody gets a message twice.
    """
    mailer, base_url = current_app.extensions["mailer"], current_app.config["BASE_URL"]
    offers, referrals = list(offer_ids), list(referral_ids)
    try:
        while offers:
            notifications.notify_center_staff(db.session, offers[0], mailer, base_url)
            offers.pop(0)
        while referrals:
            notifications.notify_referrer(db.session, referrals[0], mailer, base_url)
            referrals.pop(0)
    except OperationalError as error:
        countdown = get_exponential_backoff_interval(1, self.request.retries, RETRY_BACKOFF_MAX_SECONDS, True)
        raise self.retry(args=[offers, referrals], exc=error, countdown=countdown) from error


# Still accepted for messages sent by the previous version (one task per notice), which may be
# queued while workers are upgraded; nothing sends these any more.


@shared_task(
    name="tasks.notifications.notify_new_offer",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def notify_new_offer(offer_id: int) -> None:
    """Email the staff of the offer's center that they have a new offer."""
    notifications.notify_center_staff(
        db.session, offer_id, current_app.extensions["mailer"], current_app.config["BASE_URL"]
    )


@shared_task(
    name="tasks.notifications.notify_status_change",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def notify_status_change(referral_id: str) -> None:
    """Email the referral's creator that its status changed."""
    notifications.notify_referrer(
        db.session, referral_id, current_app.extensions["mailer"], current_app.config["BASE_URL"]
    )
