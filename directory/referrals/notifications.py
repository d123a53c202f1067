"""Emails about referrals: center staff hear of a new offer, the referrer of a new status.

The messages carry no personal data (no client reference, no clinical facts, no phone),
only a link to sign in; the referral id in a link is a random id, not personal data.

What to send is noticed on the session itself (`watch`): every new `Offer` and every
change of a `Referral`'s status that is flushed is noted, and handed to `deliver` only
after the transaction commits (a rollback forgets it). That covers every way offers are
made and statuses change (routing in a worker, answers, expiry, cancellation) without the
lifecycle code knowing about mail. `deliver` gets only ids, to queue for mailing
(directory/referrals/notice_queue.py). Notices that cannot be queued when their change commits
(Redis down) are held in the database (`hold`) until a later round hands them on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect, select
from sqlalchemy.orm import Session

from directory.mail import Mailer
from directory.models import HeldNotice, Offer, OfferStatus, Referral, ReferralStatus, Role, User, center_staff
from directory.models.base import utcnow

log = logging.getLogger(__name__)

OFFER_SUBJECT = "New referral offer"
OFFER_BODY = "You have a new referral offer; sign in to see it: {base_url}/portal/offers\n"
STATUS_SUBJECT = "A referral you sent has a new status"
STATUS_BODY = "A referral you sent has a new status; sign in: {base_url}/referrals/{referral_id}\n"

_PENDING = "referral_notices"


@dataclass(frozen=True)
class Notices:
    """What changed in one committed transaction, as ids only."""

    new_offer_ids: tuple[int, ...] = ()
    changed_referral_ids: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.new_offer_ids or self.changed_referral_ids)


Deliver = Callable[[Notices], None]


class _Pending:
    """Noticed in flushes of the current transaction; a status counts if it differs at commit."""

    def __init__(self) -> None:
        self.offer_ids: list[int] = []
        self.statuses: dict[str, tuple[str | None, str]] = {}  # referral id: (status before, status now)

    def notices(self) -> Notices:
        changed = tuple(rid for rid, (before, now) in self.statuses.items() if before != now)
        return Notices(tuple(dict.fromkeys(self.offer_ids)), changed)


def _after_flush(session: Session, _context: Any) -> None:
    pending: _Pending = session.info.setdefault(_PENDING, _Pending())
    for obj in session.new:
        if isinstance(obj, Offer):
            pending.offer_ids.append(obj.id)
    for obj in session.dirty:
        if not isinstance(obj, Referral):
            continue
        history = inspect(obj).attrs.status.history
        if not history.added:
            continue
        before = history.deleted[0] if history.deleted else None
        first_before = pending.statuses.get(obj.id, (before, ""))[0]
        pending.statuses[obj.id] = (first_before, str(history.added[-1]))


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def watch(sessionmaker: Any, deliver: Deliver) -> None:
    """Note offers and status changes on sessions made by `sessionmaker`; `deliver` them after each commit."""

    def after_commit(session: Session) -> None:
        pending: _Pending | None = session.info.pop(_PENDING, None)
        notices = pending.notices() if pending else Notices()
        if notices:
            deliver(notices)

    event.listen(sessionmaker, "after_flush", _after_flush)
    event.listen(sessionmaker, "after_commit", after_commit)
    event.listen(sessionmaker, "after_soft_rollback", _forget)


def hold(connection: Connection, notices: Notices) -> None:
    """Keep a committed change's notices in the database (one `HeldNotice` row, ids only), for a
    later round to hand on: `connection` is the caller's, which commits."""
    connection.execute(
        insert(HeldNotice).values(
            offer_ids=list(notices.new_offer_ids), referral_ids=list(notices.changed_referral_ids), created_at=utcnow()
        )
    )


def held(session: Session, limit: int) -> list[tuple[int, Notices]]:
    """The oldest held notices, at most `limit` changes' worth, with their row ids."""
    rows = session.execute(
        select(HeldNotice.id, HeldNotice.offer_ids, HeldNotice.referral_ids).order_by(HeldNotice.id).limit(limit)
    )
    return [
        (row_id, Notices(tuple(int(i) for i in offers), tuple(str(r) for r in referrals)))
        for row_id, offers, referrals in rows
    ]


def release(session: Session, row_ids: list[int]) -> None:
    """Forget held notices that were handed on (one statement, one commit)."""
    if row_ids:
        session.execute(delete(HeldNotice).where(HeldNotice.id.in_(row_ids)))
        session.commit()


def notify_center_staff(session: Session, offer_id: int, mailer: Mailer, base_url: str) -> int:
    """Email the staff of the offer's center, if the offer is still open; returns how many were emailed."""
    return notify_center_staffs(session, [offer_id], mailer, base_url)


def notify_referrer(session: Session, referral_id: str, mailer: Mailer, base_url: str) -> int:
    """Email the referral's creator that its status changed; returns how many were emailed (0 or 1)."""
    return notify_referrers(session, [referral_id], mailer, base_url)


#: Ids read per statement by the `notify_*s` functions (a drain holds a few hundred at most).
CHUNK = 500


def notify_center_staffs(session: Session, offer_ids: list[int], mailer: Mailer, base_url: str) -> int:
    """Email the staff of each offer's center, for the offers still open, in order; returns how many were emailed.

    The addresses of all the offers are read in one query (one per offer was most of a drain's
    database time); each id is removed from `offer_ids` once its mail went, so that if mailing
    fails midway, what is left is what was not mailed.
    """
    recipients: dict[int, list[str]] = {}
    for chunk in _chunks(offer_ids):
        rows = session.execute(
            select(Offer.id, User.email)
            .join(center_staff, center_staff.c.user_id == User.id)
            .join(Offer, Offer.center_id == center_staff.c.center_id)
            .where(Offer.id.in_(chunk), Offer.status == OfferStatus.OFFERED.value)
            .where(User.role == Role.CENTER_STAFF.value, User.active.is_(True))
            .order_by(Offer.id, User.id)
        )  # addresses only: loading `User`s would load their centers too
        for offer_id, email in rows:
            recipients.setdefault(offer_id, []).append(email)
    sent = 0
    body = OFFER_BODY.format(base_url=base_url)
    while offer_ids:
        for email in recipients.get(offer_ids[0], ()):
            mailer.send(email, OFFER_SUBJECT, body)
            sent += 1
        offer_ids.pop(0)
    return sent


def notify_referrers(session: Session, referral_ids: list[str], mailer: Mailer, base_url: str) -> int:
    """Email the creator of each referral that its status changed, in order; returns how many were emailed.

    One query for all the referrals' creators; each id is removed from `referral_ids` once mailed
    (or once found to have nobody to mail), as in `notify_center_staffs`.
    """
    creators: dict[str, str] = {}
    for chunk in _chunks(referral_ids):
        rows = session.execute(
            select(Referral.id, User.email)
            .join(Referral, Referral.created_by_id == User.id)
            .where(Referral.id.in_(chunk), Referral.status != ReferralStatus.RECEIVED.value, User.active.is_(True))
        )
        creators.update((referral_id, email) for referral_id, email in rows)
    sent = 0
    while referral_ids:
        referral_id = referral_ids[0]
        if (email := creators.get(referral_id)) is not None:
            mailer.send(email, STATUS_SUBJECT, STATUS_BODY.format(base_url=base_url, referral_id=referral_id))
            sent += 1
        referral_ids.pop(0)
    return sent


def _chunks(ids: list[Any]) -> list[list[Any]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]
