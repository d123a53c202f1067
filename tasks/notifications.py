"""Notification tasks: thin wrappers that load by id and call directory.referrals.notifications."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.referrals import dispatch, notifications
from directory.referrals.notice_queue import merge
from directory.referrals.notifications import Notices

MAX_RETRIES = 5
#: What a drain retries after, keeping what is left: the database or the mail server failing
#: (smtplib's errors and a refused or timed-out connection are all OSErrors). If the retries run
#: out, what the drain holds goes back to the queue within the hour (notice_queue.reclaim).
#: (Embedded mode's `send_notices` runs in the request, so it retries database failures only.)
MAIL_RETRIED = (OperationalError, OSError)
RETRY_BACKOFF_MAX_SECONDS = 600


#: Notices (one committed change each) a drain takes at most; if more wait, it sends a fresh
#: drain and ends, which goes behind the routing tasks queued meanwhile, so a steady stream of
#: changes never keeps a worker process from routing.
DRAIN_BATCH = 100


@shared_task(bind=True, name="tasks.notifications.send_waiting_notices", max_retries=MAX_RETRIES)
def send_waiting_notices(self) -> None:
    """Mail the notices waiting in Redis (directory/referrals/notice_queue.py), oldest first.

    What this drain took stays in Redis under its task id until mailed: a killed worker's
    drain is delivered again and mails it first, and a retry carries only what is left.
    """
    queue = dispatch.notice_queue()
    queue.unschedule()  # a change committed from now on sends another drain
    drain_id = self.request.id
    notices = merge(queue.taken(drain_id) + queue.take(drain_id, DRAIN_BATCH))
    offers, referrals = list(notices.new_offer_ids), list(notices.changed_referral_ids)
    try:
        _mail(offers, referrals)
    except MAIL_RETRIED as error:
        queue.keep_only(drain_id, Notices(tuple(offers), tuple(referrals)))
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    queue.keep_only(drain_id, Notices())
    if queue.schedule():  # more than one batch waited
        dispatch.send_drain(queue)


@shared_task(bind=True, name="tasks.notifications.send_notices", max_retries=MAX_RETRIES)
def send_notices(self, offer_ids: list[int], referral_ids: list[str]) -> None:
    """Email the staff of each new offer's center and the creator of each referral whose status changed.

    Embedded mode runs this in the committing process. (With a broker, changes queue their notices
    for `send_waiting_notices`; messages of this task sent by the previous version are still run.)
    If the database fails midway, the retry carries only what was not mailed yet: nobody gets a
    message twice.
    """
    offers, referrals = list(offer_ids), list(referral_ids)
    try:
        _mail(offers, referrals)
    except OperationalError as error:
        raise self.retry(args=[offers, referrals], exc=error, countdown=_backoff(self.request.retries)) from error


def _mail(offers: list[int], referrals: list[str]) -> None:
    """Mail each offer's center staff, then each referral's creator; each id is removed once mailed."""
    base_url = current_app.config["BASE_URL"]
    with current_app.extensions["mailer"].batch() as mailer:  # one SMTP connection for them all
        notifications.notify_center_staffs(db.session, offers, mailer, base_url)
        notifications.notify_referrers(db.session, referrals, mailer, base_url)


def _backoff(retries: int) -> int:
    return get_exponential_backoff_interval(1, retries, RETRY_BACKOFF_MAX_SECONDS, True)


# Still accepted for messages sent by an older version (one task per notice), which may be
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
