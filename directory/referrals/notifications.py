"""Emails about referrals: center staff hear of a new offer, are reminded of one still open and told
when one was placed elsewhere, the referrer hears of a new status; and the one notice about a
center, not a referral: its staff asked to confirm a stale listing.

The messages carry no personal data (no client reference, no clinical facts, no phone),
only a link to sign in; the referral id in a link is a random id, not personal data. Each is
written in its recipient's language (`users.language`; English when not known).

What to send is noticed on the session itself (`watch`): every new `Offer` and every change of
a `Referral`'s status that is flushed is noted, and just before the transaction commits each
becomes a row of the outbox (ids only), so the notices commit with the change or not at all
(a rollback forgets them). That covers every way offers are made and statuses change (routing
in a worker, answers, expiry, cancellation) without the lifecycle code knowing about mail.
After the commit, `send` gets the new rows' ids to send for mailing (`deliver`). Code that writes
a notice itself (a confirmation request, a reminder, a "placed elsewhere") hands it to `queue`,
which goes the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, insert, inspect, select
from sqlalchemy.orm import Session

from directory.mail import Mailer
from directory.models import (
    Center,
    Offer,
    OfferStatus,
    OutboxMessage,
    Referral,
    ReferralStatus,
    Role,
    User,
    center_staff,
)
from directory.models.base import utcnow
from directory.translatable import N_, LocalDate, Message

log = logging.getLogger(__name__)

# Subjects and paragraphs are marked for the catalogue and written in each recipient's language.
OFFER_SUBJECT = N_("New referral offer")
OFFER_BODY = N_("You have a new referral offer; sign in to see it: %(url)s")
REMINDER_SUBJECT = N_("A referral offer is waiting for your answer")
REMINDER_BODY = N_("A referral offered to your center is waiting for your answer; sign in to answer it: %(url)s")
PLACED_SUBJECT = N_("A referral offer was placed elsewhere")
PLACED_BODY = N_(
    "A referral offered to your center was accepted by another center, so the offer is withdrawn and "
    "nothing more is needed from you. Your offers: %(url)s"
)
STATUS_SUBJECT = N_("A referral you sent has a new status")
STATUS_BODY = N_("A referral you sent has a new status; sign in: %(url)s")
CONFIRM_SUBJECT = N_("Please confirm your listing in the treatment directory")
CONFIRM_LISTED = N_(
    "People looking for treatment find %(name)s (%(city)s, %(state)s) in the treatment directory. %(confirmed)s"
)
CONFIRMED_ON = N_("It was last confirmed by the center on %(date)s.")
NEVER_CONFIRMED = N_("It has not been confirmed by the center yet.")
CONFIRM_ASK = N_(
    "Please check the listing and confirm it is correct (one click after signing in), or correct it:\n%(url)s"
)

#: The outbox tasks of notices: the staff of a new offer's center, of an open offer's center reminded
#: of it, of a center whose offer was withdrawn because another accepted; a referral's creator; the
#: staff of a center asked to confirm its listing.
NEW_OFFER = "notify_center_staff"
REMINDER = "remind_center_staff"
PLACED_ELSEWHERE = "notify_placed_elsewhere"
STATUS_CHANGE = "notify_referrer"
CONFIRM_LISTING = "ask_to_confirm_listing"
NOTICE_TASKS = (NEW_OFFER, REMINDER, PLACED_ELSEWHERE, STATUS_CHANGE, CONFIRM_LISTING)
#: The notices about an offer, mailed to its center's staff while the offer is in the given status.
OFFER_NOTICES = {
    NEW_OFFER: (OfferStatus.OFFERED.value, OFFER_SUBJECT, OFFER_BODY),
    REMINDER: (OfferStatus.OFFERED.value, REMINDER_SUBJECT, REMINDER_BODY),
    PLACED_ELSEWHERE: (OfferStatus.WITHDRAWN.value, PLACED_SUBJECT, PLACED_BODY),
}

_PENDING = "referral_notices"
_WRITTEN = "referral_notice_rows"

Send = Callable[[Session, list[int]], None]
#: Text marked for the catalogue (or a `Message`) in a language ("en", "es"; None: English).
InLanguage = Callable[[str | None, str], str]
#: A recipient: an address and the account's language.
Recipient = tuple[str, str | None]


class _Pending:
    """Noticed in flushes of the current transaction; a status counts if it differs at commit."""

    def __init__(self) -> None:
        self.offers: dict[int, str] = {}  # offer id: its referral's id
        self.statuses: dict[str, tuple[str | None, str]] = {}  # referral id: (status before, status now)

    def rows(self) -> list[dict[str, Any]]:
        """The outbox rows of these notices: new offers first, then changed statuses."""
        now = utcnow()
        common = {"created_at": now, "dispatched_at": now, "attempts": 1}  # sent right after commit
        return [
            *({"task": NEW_OFFER, "referral_id": r, "offer_id": o, **common} for o, r in self.offers.items()),
            *(
                {"task": STATUS_CHANGE, "referral_id": r, "offer_id": None, **common}
                for r, (before, now_) in self.statuses.items()
                if before != now_
            ),
        ]


def _after_flush(session: Session, _context: Any) -> None:
    pending: _Pending = session.info.setdefault(_PENDING, _Pending())
    for obj in session.new:
        if isinstance(obj, Offer):
            pending.offers[obj.id] = obj.referral_id
    for obj in session.dirty:
        if not isinstance(obj, Referral):
            continue
        history = inspect(obj).attrs.status.history
        if not history.added:
            continue
        before = history.deleted[0] if history.deleted else None
        first_before = pending.statuses.get(obj.id, (before, ""))[0]
        pending.statuses[obj.id] = (first_before, str(history.added[-1]))


def _before_commit(session: Session) -> None:
    """Write the transaction's notices to the outbox, in the transaction itself."""
    session.flush()  # what is still unflushed is noticed too (a clean session does nothing)
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending and (rows := pending.rows()):
        queue(session, rows)


def queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write notice rows to the outbox in the session's transaction, as sent: `watch`'s `send`
    sends them right after the commit (a rollback forgets them)."""
    if rows:
        ids = session.scalars(insert(OutboxMessage).returning(OutboxMessage.id), rows).all()
        session.info.setdefault(_WRITTEN, []).extend(ids)


def confirmation_request(center_id: int, now: datetime) -> dict[str, Any]:
    """The outbox row asking a center's staff to confirm its listing (for `queue`)."""
    return {
        "task": CONFIRM_LISTING,
        "referral_id": None,
        "offer_id": None,
        "center_id": center_id,
        "created_at": now,
        "dispatched_at": now,
        "attempts": 1,
    }


def offer_notice(task: str, offer_id: int, referral_id: str, now: datetime) -> dict[str, Any]:
    """The outbox row of a notice to an offer's center (`REMINDER` or `PLACED_ELSEWHERE`), for `queue`."""
    return {
        "task": task,
        "referral_id": referral_id,
        "offer_id": offer_id,
        "center_id": None,
        "created_at": now,
        "dispatched_at": now,
        "attempts": 1,
    }


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


def watch(sessionmaker: Any, send: Send) -> None:
    """Write the notices of offers and status changes on sessions made by `sessionmaker` to the
    outbox as they commit; `send` the committed rows' ids after each commit."""

    def after_commit(session: Session) -> None:
        session.info.pop(_PENDING, None)
        if ids := session.info.pop(_WRITTEN, None):
            send(session, ids)

    event.listen(sessionmaker, "after_flush", _after_flush)
    event.listen(sessionmaker, "before_commit", _before_commit)
    event.listen(sessionmaker, "after_commit", after_commit)
    event.listen(sessionmaker, "after_soft_rollback", _forget)


def in_english(_language: str | None, text: str) -> str:
    """Text as written in the code, in English (for `deliver` without a catalogue at hand)."""
    return str(text)


def deliver(
    session: Session, message_ids: list[int], mailer: Mailer, base_url: str, in_language: InLanguage = in_english
) -> int:
    """Mail the notices of these outbox rows, in order, each written in its recipient's language
    (`in_language` translates); returns how many messages went.

    Delivery is at least once, and in practice once. A row is deleted, in a commit of its own,
    as soon as its mail went, and a row already gone is skipped: a notice sent again (a task
    delivered twice, a retry after a failure midway, beat's re-send of a row not done in time)
    is not mailed again once its first delivery finished. Mail is not transactional: a process
    that dies, or a database that fails, between a mail and its row's delete leaves that one
    notice to be mailed again. The other choice, deleting first and mailing after, would lose
    a notice in the same window; a second "new status, sign in" mail is the lesser harm.
    Offers no longer open (a reminder, a new offer), offers not withdrawn (placed elsewhere), listings
    confirmed since they were asked, and inactive accounts get no mail; their rows go all the same.
    """
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.task,
            OutboxMessage.referral_id,
            OutboxMessage.offer_id,
            OutboxMessage.center_id,
            OutboxMessage.created_at,
        )
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.task.in_(NOTICE_TASKS))
        .order_by(OutboxMessage.id)
    ).all()
    staff = {
        task: _center_staff(session, [row.offer_id for row in rows if row.task == task], status)
        for task, (status, _subject, _body) in OFFER_NOTICES.items()
    }
    creators = _creators(session, [row.referral_id for row in rows if row.task == STATUS_CHANGE])
    listings = _listings(session, [row.center_id for row in rows if row.task == CONFIRM_LISTING])
    session.rollback()  # end the read: no transaction is held while mailing
    sent = 0
    for row in rows:
        if row.task in OFFER_NOTICES:
            _status, subject, body = OFFER_NOTICES[row.task]
            recipients = staff[row.task].get(row.offer_id, [])
            paragraphs: list[str] = [Message(body, url=f"{base_url}/portal/offers")]
        elif row.task == CONFIRM_LISTING:
            recipients, subject, paragraphs = _confirmation(listings.get(row.center_id), row.created_at, base_url)
        else:
            recipients = creators.get(row.referral_id, [])
            subject, paragraphs = STATUS_SUBJECT, [Message(STATUS_BODY, url=f"{base_url}/referrals/{row.referral_id}")]
        written: dict[str | None, tuple[str, str]] = {}
        for to, language in recipients:
            if language not in written:
                text = [in_language(language, paragraph) for paragraph in paragraphs]
                written[language] = (in_language(language, subject), "\n\n".join(text) + "\n")
            mailer.send(to, *written[language])
            sent += 1
        session.execute(delete(OutboxMessage).where(OutboxMessage.id == row.id))
        session.commit()
    return sent


def _center_staff(session: Session, offer_ids: list[int], status: str) -> dict[int, list[Recipient]]:
    """The addresses and languages of the active staff of each offer's center, if the offer is in
    `status`, by offer id (one query)."""
    recipients: dict[int, list[Recipient]] = {}
    if offer_ids:
        rows = session.execute(
            select(Offer.id, User.email, User.language)
            .join(center_staff, center_staff.c.user_id == User.id)
            .join(Offer, Offer.center_id == center_staff.c.center_id)
            .where(Offer.id.in_(offer_ids), Offer.status == status)
            .where(User.role == Role.CENTER_STAFF.value, User.active.is_(True))
            .order_by(Offer.id, User.id)
        )  # addresses only: loading `User`s would load their centers too
        for offer_id, email, language in rows:
            recipients.setdefault(offer_id, []).append((email, language))
    return recipients


def _creators(session: Session, referral_ids: list[str]) -> dict[str, list[Recipient]]:
    """The address and language of each referral's creator, if active, by referral id (one query)."""
    if not referral_ids:
        return {}
    rows = session.execute(
        select(Referral.id, User.email, User.language)
        .join(Referral, Referral.created_by_id == User.id)
        .where(Referral.id.in_(referral_ids), Referral.status != ReferralStatus.RECEIVED.value, User.active.is_(True))
    )
    return {referral_id: [(email, language)] for referral_id, email, language in rows}


def _listings(session: Session, center_ids: list[int]) -> dict[int, tuple[Any, list[Recipient]]]:
    """Each center's name, place and last confirmation, with the addresses and languages of its
    active staff, by center id (plain rows: they outlive the read's transaction)."""
    if not center_ids:
        return {}
    centers = session.execute(
        select(Center.id, Center.name, Center.city, Center.state, Center.last_verified_at).where(
            Center.id.in_(center_ids)
        )
    )
    found: dict[int, tuple[Any, list[Recipient]]] = {center.id: (center, []) for center in centers}
    rows = session.execute(
        select(center_staff.c.center_id, User.email, User.language)
        .join(User, User.id == center_staff.c.user_id)
        .where(center_staff.c.center_id.in_(center_ids))
        .where(User.role == Role.CENTER_STAFF.value, User.active.is_(True))
        .order_by(User.id)
    )
    for center_id, email, language in rows:
        found[center_id][1].append((email, language))
    return found


def _confirmation(
    listing: tuple[Any, list[Recipient]] | None, asked_at: datetime, base_url: str
) -> tuple[list[Recipient], str, list[str]]:
    """Whom to ask to confirm a center's listing, and the subject and paragraphs of the mail; nobody if
    it was confirmed since it was asked."""
    if listing is None:
        return [], CONFIRM_SUBJECT, []
    center, recipients = listing
    confirmed = center.last_verified_at
    if confirmed is not None and confirmed >= asked_at:
        return [], CONFIRM_SUBJECT, []
    when = Message(NEVER_CONFIRMED) if confirmed is None else Message(CONFIRMED_ON, date=LocalDate(confirmed.date()))
    listed = Message(CONFIRM_LISTED, name=center.name, city=center.city, state=center.state, confirmed=when)
    ask = Message(CONFIRM_ASK, url=f"{base_url}/portal/centers/{center.id}/confirm")
    return recipients, CONFIRM_SUBJECT, [listed, ask]
