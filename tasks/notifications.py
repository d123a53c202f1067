"""Notification tasks: thin wrappers that mail the outbox's notices by id (directory.referrals.notifications)."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from sqlalchemy.exc import OperationalError

from directory.extensions import db
from directory.i18n import in_language
from directory.referrals import notifications

MAX_RETRIES = 5
#: What a delivery retries after: the database or the mail server failing (smtplib's errors and a
#: refused or timed-out connection are all OSErrors). Rows mailed before the failure are gone, so
#: the retry mails only the rest; if the retries run out, beat's round sends the rest again.
MAIL_RETRIED = (OperationalError, OSError)
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(bind=True, name="tasks.notifications.deliver_notices", max_retries=MAX_RETRIES)
def deliver_notices(self, message_ids: list[int]) -> None:
    """Mail the notices of these outbox rows: the staff of each new offer's center, the creator of each
    referral whose status changed, each in the recipient's language. Rows mailed already (this task
    delivered twice) are skipped.

    In embedded mode a failure is raised to the committing process, which leaves the rest for the sweep.
    """
    try:
        with current_app.extensions["mailer"].batch() as mailer:  # one SMTP connection for them all
            notifications.deliver(db.session, message_ids, mailer, current_app.config["BASE_URL"], in_language)
    except MAIL_RETRIED as error:
        if self.request.is_eager:
            raise
        countdown = get_exponential_backoff_interval(1, self.request.retries, RETRY_BACKOFF_MAX_SECONDS, True)
        raise self.retry(exc=error, countdown=countdown) from error
