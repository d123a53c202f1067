"""Asking centers to confirm their listing: staff of a center whose listing has not been confirmed
for 90 days get one mail, at most every 30 days, linking to a page that confirms it in one click.

Run daily (beat's `request-confirmations`, or the embedded sweep). Each center asked is marked in
the same UPDATE that picks it, so two runs at once cannot both ask it; its mail is a notice in the
outbox (ids only), sent after commit like every other notice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, update
from sqlalchemy.orm import Session

from directory.models import Center, Role, User, center_staff
from directory.models.base import utcnow
from directory.referrals import notifications

#: A listing not confirmed for this long is stale: its staff are asked, and the dashboard lists it.
CONFIRM_EVERY = timedelta(days=90)
#: A center is asked again at most this often.
ASK_AGAIN_AFTER = timedelta(days=30)


def unconfirmed(now: datetime) -> ColumnElement[bool]:
    """Centers whose listing was never confirmed, or last confirmed over 90 days before `now`."""
    return Center.last_verified_at.is_(None) | (Center.last_verified_at < now - CONFIRM_EVERY)


def request_confirmations(session: Session, *, now: datetime | None = None) -> int:
    """Ask the staff of every stale listing not asked in the last 30 days to confirm it (one notice
    per center, mailed to each of its active staff), note when, and commit; returns how many centers."""
    now = now or utcnow()
    has_staff = exists().where(
        center_staff.c.center_id == Center.id,
        center_staff.c.user_id == User.id,
        User.role == Role.CENTER_STAFF.value,
        User.active.is_(True),
    )
    not_asked_lately = Center.confirmation_requested_at.is_(None) | (
        Center.confirmation_requested_at <= now - ASK_AGAIN_AFTER
    )
    asked = session.scalars(
        update(Center)
        .where(unconfirmed(now), not_asked_lately, has_staff)
        # Asking is no change to the listing: `updated_at` stays as it was.
        .values(confirmation_requested_at=now, updated_at=Center.updated_at)
        .returning(Center.id)
        .execution_options(synchronize_session=False)
    ).all()
    notifications.queue(session, [notifications.confirmation_request(center_id, now) for center_id in sorted(asked)])
    session.commit()
    return len(asked)
