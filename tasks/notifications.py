"""Notification tasks: thin wrappers that load by id and call directory.referrals.notifications."""

from __future__ import annotations

from celery import shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.referrals import notifications


@shared_task(
    name="tasks.notifications.notify_new_offer",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
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
    max_retries=5,
)
def notify_status_change(referral_id: str) -> None:
    """Email the referral's creator that its status changed."""
    notifications.notify_referrer(
        db.session, referral_id, current_app.extensions["mailer"], current_app.config["BASE_URL"]
    )
