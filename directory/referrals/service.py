"""Referral lifecycle: submit, route, offer, accept or decline, expire, cancel, follow up.

Plain functions over a SQLAlchemy session. Every status change is written to the
referral's timeline with who, when and why. Each step of the pathway is offered to up to
`Offering.at_once` centers at a time; the first to accept wins and the step's other open offers
are withdrawn in the same transaction. Every change to a referral's offers first locks the
referral's row (PostgreSQL; SQLite writes one transaction at a time), and state changes on
offers are conditional updates (`UPDATE ... WHERE status = 'offered'`): of concurrent accepts of
one step, exactly one wins, and an expired or withdrawn offer cannot be accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, Update, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.models import (
    AuditEvent,
    Offer,
    OfferStatus,
    OutboxMessage,
    Referral,
    ReferralStatus,
    TimelineEntry,
    User,
)
from directory.models.base import utcnow
from directory.models.centers import ATTRIBUTE_KINDS, is_verified
from directory.models.referrals import OPEN_REFERRAL_STATUSES
from directory.referrals import notifications
from directory.referrals.intake import Intake
from directory.routing.ranking import (
    STEP_CODES,
    Candidate,
    Needs,
    Ranked,
    partial_matches,
    preferred_detox_substances,
    rank_detox,
    rank_naltrexone,
)
from directory.routing.rules import ClinicalFacts, assess, target_naltrexone_start
from directory.search.geocoding import Place
from directory.search.listing import CenterListing
from directory.search.service import SearchFilters, SearchHit, SearchQuery, find_centers_near
from directory.translatable import N_, Message

#: The search filter of each attribute kind of `STEP_CODES`.
STEP_FILTERS = {"levels_of_care": "level_of_care", "medications": "medication"}

#: Who the timeline names for what the router does by itself (stored in English; pages translate it).
ROUTER = N_("router")
DEFAULT_OFFER_TTL = timedelta(hours=4)
PLAN_DISCLAIMER = N_(
    "This plan is a proposal for the receiving clinicians, not medical advice. "
    "Clinicians decide on detox, naltrexone and its timing."
)
STEPS = ("detox", "naltrexone")
#: Why routing stopped when the person's consent lapsed (the referral goes to `needs_review`).
CONSENT_EXPIRED = N_("consent expired: renew it with the person")
CONSENT_REVOKED = N_("Consent revoked.")
#: The plan's key keeping the translatable form (`Message.data`) of the texts with values stored in
#: English in the plan, the offers' reasons and the timeline, by their English text: the pages
#: translate them from it, the API reads the English.
PLAN_MESSAGES = "messages"


class ReferralError(ValueError):
    """An action that cannot be done in the referral's or offer's current state; `message` is marked
    (a constant or a `Message`), so pages show it translated."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidAnswer(ReferralError):
    """An answer to an offer with a value out of bounds (`field`), whatever the offer's state."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


#: The longest reason for declining an offer that is kept.
MAX_REASON_CHARS = 2000
#: How far ahead an admission date may be, in days.
ADMISSION_DAYS_AHEAD = 90


def check_admission_date(admission: date, offered_at: datetime, now: datetime) -> None:
    """Raise InvalidAnswer unless `admission` lies from the day before the offer was made (a day's
    grace for time zones; a person may arrive before the center answers) to ADMISSION_DAYS_AHEAD
    days from now: a date outside is a typo, and would plan the naltrexone step from it."""
    first, last = offered_at.date() - timedelta(days=1), now.date() + timedelta(days=ADMISSION_DAYS_AHEAD)
    if not first <= admission <= last:
        message = N_("Give an admission date from %(first)s to %(last)s.")
        raise InvalidAnswer("admission_date", Message(message, first=first.isoformat(), last=last.isoformat()))


def check_reason(reason: str) -> None:
    """Raise InvalidAnswer if a reason for declining is longer than is kept (nothing is cut)."""
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidAnswer("reason", Message(N_("Keep the reason to %(n)s characters."), n=MAX_REASON_CHARS))


#: Offer statuses that hold a step: accepted, and then admitted or completed.
TAKEN = (OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value, OfferStatus.COMPLETED.value)


@dataclass(frozen=True)
class Offering:
    """How each step is offered: to up to `at_once` centers at a time, each offer open for `ttl`.
    The app's come from its settings (`dispatch.offering`)."""

    at_once: int = 1
    ttl: timedelta = DEFAULT_OFFER_TTL


def _timeline(session: Session, referral: Referral, status: str, actor: User | None, reason: str | None, now: datetime,
              entries: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    """Add an entry to the referral's timeline; into `entries` instead, if given, for `_end` to write."""
    values = {
        "referral_id": referral.id,
        "at": now,
        "status": status,
        "by_id": actor.id if actor else None,
        "by_label": actor.email if actor else ROUTER,
        "reason": reason,
    }
    if entries is not None:
        entries.append(values)
    else:
        session.add(TimelineEntry(**values))
    _remember(referral, [reason] if reason else [])


def _remember(referral: Referral, texts: list[str]) -> None:
    """Keep, in the referral's plan, the translatable form of the texts among `texts` that are
    Messages with values (see `PLAN_MESSAGES`)."""
    new = {text: text.data() for text in texts if isinstance(text, Message) and text.values}
    if new:
        plan = referral.plan or {}
        referral.plan = {**plan, PLAN_MESSAGES: {**plan.get(PLAN_MESSAGES, {}), **new}}


def _set_plan(referral: Referral, plan: dict[str, Any]) -> None:
    """Store the plan with the messages kept so far and those of its reasons."""
    kept = {**plan.get(PLAN_MESSAGES, {}), **(referral.plan or {}).get(PLAN_MESSAGES, {})}
    referral.plan = {**plan, PLAN_MESSAGES: kept} if kept else plan
    steps = [step for step in (plan.get("detox"), plan.get("naltrexone_program")) if step]
    reasons = [why for step in steps for why in step["why"]]
    missing = [text for match in plan.get("partial_matches", []) for text in match["missing"]]
    _remember(referral, reasons + missing)


def _set_status(session: Session, referral: Referral, status: ReferralStatus, actor: User | None, reason: str | None,
                now: datetime, entries: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    referral.status = status.value
    referral.status_reason = reason
    referral.updated_at = now
    _timeline(session, referral, f"referral:{status.value}", actor, reason, now, entries)


#: A referral still being worked on: its sender would not send another for the same person.
ACTIVE_REFERRAL_STATUSES = (
    *(status.value for status in OPEN_REFERRAL_STATUSES),
    ReferralStatus.ACCEPTED.value,
    ReferralStatus.IN_PROGRESS.value,
    ReferralStatus.NEEDS_REVIEW.value,
)


class DuplicateReferral(ReferralError):
    """The sender has an active referral with the same client reference (`existing_id`): most
    likely the same person sent twice, which would hold a place at two centers."""

    def __init__(self, existing_id: str, reference: str, sent_on: date) -> None:
        message = N_(
            "You already have a referral in progress with the reference %(reference)s, sent on %(day)s. "
            "If this one is for another person or a new episode of care, send it anyway."
        )
        super().__init__(Message(message, reference=reference, day=sent_on.isoformat()))
        self.existing_id = existing_id


def submit_referral(session: Session, intake: Intake, actor: User | None, now: datetime | None = None, *,
                    sending: bool = False, allow_duplicate: bool = False) -> Referral:  # fmt: skip
    """Write the referral, its routing outbox row and its audit event ("referral.create") in one
    transaction (commits; never waits on the broker).

    Unless `allow_duplicate`, raises DuplicateReferral (writing nothing) if the sender has an active
    referral with the same client reference. The sender's row is locked first (where the database
    can; SQLite has one writer at a time) and the check runs after the new row is written, so two
    submissions at once (a double click) cannot both pass it.

    With `sending`, the caller sends the routing task right after this commit, so the row is written
    as sent (one commit instead of two); if the broker does not take it, the caller calls `mark_unsent`.
    """
    now = now or utcnow()
    checking = actor is not None and not allow_duplicate
    if checking and session.get_bind().dialect.name != "sqlite":
        session.execute(select(User.id).where(User.id == actor.id).with_for_update())
    referral = Referral(
        created_by_id=actor.id if actor else None,
        client_reference=intake.client_reference,
        contact_phone=intake.contact_phone,
        location=intake.location,
        latitude=intake.latitude,
        longitude=intake.longitude,
        max_distance_miles=intake.max_distance_miles,
        payment=intake.payment,
        alcohol_use_disorder=intake.alcohol_use_disorder,
        opioid_use_disorder=intake.opioid_use_disorder,
        recent_opioid_use=intake.recent_opioid_use,
        primary_opioid=intake.primary_opioid,
        last_opioid_use=intake.last_opioid_use,
        time_zone=intake.time_zone,
        liver_disease=intake.liver_disease,
        on_opioid_pain_therapy=intake.on_opioid_pain_therapy,
        interacting_medications=list(intake.interacting_medications),
        language=intake.language,
        populations=list(intake.populations),
        consent_recipients=intake.consent_recipients,
        consent_purpose=intake.consent_purpose,
        consent_expires_on=intake.consent_expires_on,
        status=ReferralStatus.RECEIVED.value,
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    session.flush()
    if checking:
        _refuse_duplicate(session, referral)
    # The timeline entry, the outbox row and the audit event as plain INSERTs, in the same
    # transaction: as ORM objects, the unit of work's bookkeeping for them cost more than writing them.
    entries: list[dict[str, Any]] = []
    _timeline(session, referral, "referral:received", actor, None, now, entries)
    session.execute(insert(TimelineEntry), entries)
    session.execute(
        insert(OutboxMessage),
        [{"task": ROUTE, "referral_id": referral.id, "created_at": now,
          "dispatched_at": now if sending else None, "attempts": 1 if sending else 0}],
    )  # fmt: skip
    created = audit.event_row(actor, "referral.create", "referral", referral.id)
    session.execute(insert(AuditEvent), [{**created, "at": now}])
    session.commit()
    return referral


def _refuse_duplicate(session: Session, referral: Referral) -> None:
    """Roll back and raise DuplicateReferral if the sender has another active referral with this
    referral's client reference."""
    other = session.execute(
        select(Referral.id, Referral.created_at)
        .where(
            Referral.created_by_id == referral.created_by_id,
            Referral.client_reference == referral.client_reference,
            Referral.status.in_(ACTIVE_REFERRAL_STATUSES),
            Referral.id != referral.id,
        )
        .order_by(Referral.created_at.desc())
        .limit(1)
    ).first()
    if other is not None:
        reference = referral.client_reference
        session.rollback()
        raise DuplicateReferral(other.id, reference, other.created_at.date())


# Consent ----------------------------------------------------------------------------------


def consent_in_force(referral: Referral, now: datetime) -> bool:
    """Whether the person's consent still covers sharing the referral: not revoked, and not past
    the day it expires on (it holds through that day, UTC)."""
    return referral.consent_revoked_at is None and referral.consent_expires_on >= now.date()


def _stop_for_consent(session: Session, referral: Referral, now: datetime,
                      entries: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    """Consent no longer covers the referral: open offers are withdrawn (their centers lose access) and
    routing stops, `needs_review` with `CONSENT_EXPIRED` (the sender is notified of the new status), or
    `cancelled` if the person revoked it. Does nothing to a referral that is no longer being routed."""
    open_offers = [offer for offer in referral.offers if offer.status == OfferStatus.OFFERED]
    if referral.status not in OPEN_REFERRAL_STATUSES and not open_offers:
        return
    revoked = referral.consent_revoked_at is not None
    reason = CONSENT_REVOKED if revoked else CONSENT_EXPIRED
    _withdraw_open_offers(session, referral, None, reason, now)
    status = ReferralStatus.CANCELLED if revoked else ReferralStatus.NEEDS_REVIEW
    _set_status(session, referral, status, None, reason, now, entries)


def stop_lapsed_consents(session: Session, *, now: datetime | None = None) -> int:
    """Stop routing every referral still being routed whose consent expired (the periodic sweep, beside
    `expire_offers`); returns how many were stopped."""
    now = now or utcnow()
    open_offer = select(Offer.id).where(Offer.referral_id == Referral.id, Offer.status == OfferStatus.OFFERED.value)
    due = session.scalars(
        select(Referral.id)
        .where(Referral.consent_expires_on < now.date())
        .where(or_(Referral.status.in_(OPEN_REFERRAL_STATUSES), open_offer.exists()))
        .order_by(Referral.id)
    ).all()
    for referral_id in due:
        referral = _lock_referral(session, referral_id)
        if referral is not None:
            _stop_for_consent(session, referral, now)
        session.commit()
    return len(due)


# Routing ----------------------------------------------------------------------------------


def _lock_referral(session: Session, referral_id: str) -> Referral | None:
    """Load the referral for a state change, locking its row where the database can."""
    return session.scalar(_referral_for_update(session.get_bind().dialect.name != "sqlite"), {"id": referral_id})


@functools.cache
def _referral_for_update(locking: bool) -> Select:
    """`_lock_referral`'s statement, built once (the referral's id bound at execution)."""
    stmt = select(Referral).where(Referral.id == bindparam("id", type_=Referral.id.type))
    # Read afresh: what was loaded before the lock may have changed since.
    stmt = stmt.execution_options(populate_existing=True)
    return stmt.with_for_update() if locking else stmt


def _claim_for_routing(session: Session, referral_id: str, now: datetime) -> bool:
    """Start routing's writes with a conditional one: False if the referral is no longer unrouted.

    SQLite has no row locks and reads outside a transaction: two deliveries of one routing task can
    both read "received"; this write waits for the other's to commit and then sees what it committed.
    Elsewhere `_lock_referral` holds the row lock already (a second delivery waits for it, then reads
    what the first committed), so there is nothing to claim and no statement is sent.
    """
    if session.get_bind().dialect.name != "sqlite":
        return True
    claimed = session.execute(_claim_statement(), {"referral_id": referral_id, "claimed_at": now})
    return claimed.rowcount == 1


@functools.cache
def _claim_statement() -> Update:
    """`_claim_for_routing`'s statement, built once (id and time bound at execution)."""
    return (
        update(Referral)
        .where(
            Referral.id == bindparam("referral_id", type_=Referral.id.type),
            Referral.status.in_((ReferralStatus.RECEIVED, ReferralStatus.ROUTING)),
        )
        .values(updated_at=bindparam("claimed_at", type_=Referral.updated_at.type))
        .execution_options(synchronize_session=False)
    )


def load_candidates(session: Session, referral: Referral, now: datetime) -> list[Candidate]:
    """Every center within the referral's distance limit that could take a step of the pathway
    (it lists a code of `STEP_CODES`), as plain router data, nearest first."""
    origin = Place(referral.location, referral.latitude, referral.longitude)
    radius = min(referral.max_distance_miles, 500)
    hits: dict[int, SearchHit] = {}
    for kind, codes in STEP_CODES.items():  # one search a step, its codes filtered in SQL
        filters = SearchFilters(**{STEP_FILTERS[kind]: tuple(sorted(codes))})
        for hit in find_centers_near(session, SearchQuery(origin, radius, filters, per_page=None), now=now).hits:
            hits.setdefault(hit.center.id, hit)
    nearest_first = sorted(hits.values(), key=lambda hit: (hit.distance_miles, hit.center.name, hit.center.id))
    return [_candidate(hit.center, hit.distance_miles, now) for hit in nearest_first]


def _candidate(center: CenterListing, distance_miles: float, now: datetime) -> Candidate:
    """Router data from a center's listing."""
    return Candidate(
        center_id=center.id,
        name=center.name,
        distance_miles=distance_miles,
        phone=center.intake_phone or center.phone,
        accepting_referrals=center.accepting_referrals,
        beds_available=center.beds_available,
        verified=is_verified(center.last_verified_at, now),
        detox_stay_days=center.detox_stay_days,
        **{kind: _code_set(center.codes_by_kind.get(kind, ())) for kind in ATTRIBUTE_KINDS},
    )


@functools.lru_cache(maxsize=4096)
def _code_set(codes: tuple[str, ...]) -> frozenset[str]:
    """The codes of one kind as a frozenset, one shared for each tuple of codes (centers list the
    same few mixes of codes over and over, and frozensets never change)."""
    return frozenset(codes)


def _needs(referral: Referral) -> Needs:
    return Needs(
        payment=referral.payment,
        max_distance_miles=referral.max_distance_miles,
        language=referral.language,
        populations=tuple(referral.populations or ()),
        detox_substances=preferred_detox_substances(referral.alcohol_use_disorder, referral.opioid_use_disorder),
    )


def _facts(referral: Referral) -> ClinicalFacts:
    return ClinicalFacts(
        primary_opioid=referral.primary_opioid,
        last_opioid_use=referral.last_opioid_use,
        liver_disease=referral.liver_disease,
        on_opioid_pain_therapy=referral.on_opioid_pain_therapy,
        interacting_medications=tuple(referral.interacting_medications or ()),
        alcohol_use_disorder=referral.alcohol_use_disorder,
        opioid_use_disorder=referral.opioid_use_disorder,
        recent_opioid_use=referral.recent_opioid_use,
        zone=ZoneInfo(referral.time_zone),
    )


def _step_view(ranked: Ranked | None, offer: Offer | None = None) -> dict[str, Any] | None:
    if ranked is None:
        return None
    c = ranked.candidate
    return {
        "center_id": c.center_id,
        "center_name": c.name,
        "distance_miles": round(c.distance_miles, 1),
        "phone": c.phone,
        "offer_status": offer.status if offer else "planned",
        "why": list(ranked.why),
    }


def route_referral(session: Session, referral_id: str, *, now: datetime | None = None,
                   offering: Offering = Offering()) -> str:  # fmt: skip
    """Plan the pathway and offer the detox step to the best candidates (`offering.at_once` of them).
    Safe to run twice.

    Returns the referral's status afterwards ("missing" if there is no such referral).
    """
    now = now or utcnow()
    referral = _lock_referral(session, referral_id)
    if referral is None:
        return "missing"
    if referral.status not in (ReferralStatus.RECEIVED, ReferralStatus.ROUTING):
        status = referral.status
        session.rollback()
        return status  # already routed (a repeated delivery), or cancelled
    consent_lapsed = not consent_in_force(referral, now)
    assessment = assess(_facts(referral))
    # Read before the first write: on SQLite the write lock is then held only for the writes.
    candidates = load_candidates(session, referral, now) if assessment.routable and not consent_lapsed else []
    # Routing's timeline entries (up to three), written in one INSERT by `_end`: as ORM objects, the
    # unit of work's bookkeeping for them cost more than the rest of routing's writes.
    entries: list[dict[str, Any]] = []
    if not _claim_for_routing(session, referral_id, now):
        session.rollback()  # another delivery of the same task routed it since it was read (SQLite)
        return session.get(Referral, referral_id).status  # type: ignore[union-attr]
    if consent_lapsed:
        _stop_for_consent(session, referral, now, entries)
        return _end(session, referral, entries)
    plan: dict[str, Any] = {
        "detox": None,
        "naltrexone_program": None,
        "flags": list(assessment.flags),
        "earliest_naltrexone_start": assessment.earliest_start.isoformat() if assessment.earliest_start else None,
        "disclaimer": PLAN_DISCLAIMER,
        "partial_matches": [],
    }
    if not assessment.routable:
        _set_plan(referral, plan)
        _set_status(session, referral, ReferralStatus.NEEDS_REVIEW, None, assessment.review_reason, now, entries)
        return _end(session, referral, entries)
    if referral.status == ReferralStatus.RECEIVED:
        _set_status(session, referral, ReferralStatus.ROUTING, None, None, now, entries)
    needs = _needs(referral)
    detox = rank_detox(candidates, needs)
    if not detox:
        plan["partial_matches"] = [_partial_view(r) for r in partial_matches(candidates, needs)]
        _set_plan(referral, plan)
        _set_status(session, referral, ReferralStatus.UNPLACED, None, N_("No medical detox center fits."), now, entries)
        return _end(session, referral, entries)
    top = detox[0]
    naltrexone = rank_naltrexone(candidates, needs, detox_center_id=top.candidate.center_id)
    chosen = detox[: offering.at_once]
    offers = [
        _make_offer(session, referral, "detox", ranked, rank=n, now=now, ttl=offering.ttl, entries=entries)
        for n, ranked in enumerate(chosen, 1)
    ]
    plan["detox"] = _step_view(top, offers[0])
    plan["naltrexone_program"] = _naltrexone_view(naltrexone[0] if naltrexone else None, assessment.earliest_start)
    _set_plan(referral, plan)
    reason = _offered_to([r.candidate.name for r in chosen])
    _set_status(session, referral, ReferralStatus.OFFERED, None, reason, now, entries)
    try:
        return _end(session, referral, entries)
    except IntegrityError:
        session.rollback()  # another delivery of the same task made this offer first
        return session.get(Referral, referral_id).status  # type: ignore[union-attr]


def _offered_to(names: list[str]) -> Message:
    """The status reason of the detox step open with these centers, e.g. "Offered to A, B and C (detox)."."""
    if len(names) == 1:
        return Message(N_("Offered to %(center)s (detox)."), center=names[0])
    return Message(N_("Offered to %(centers)s and %(last)s (detox)."), centers=", ".join(names[:-1]), last=names[-1])


def _end(session: Session, referral: Referral, entries: list[dict[str, Any]]) -> str:
    """Commit routing's writes, with its timeline `entries`; the referral's status, read before the commit
    expires it (no reload)."""
    status = referral.status
    if entries:
        session.execute(insert(TimelineEntry), entries)
    session.commit()
    return status


def _naltrexone_view(ranked: Ranked | None, earliest: date | None, offer: Offer | None = None,
                     target: date | None = None) -> dict[str, Any] | None:  # fmt: skip
    view = _step_view(ranked, offer)
    if view is None:
        return None
    view["earliest_start"] = earliest.isoformat() if earliest else None
    view["target_start"] = target.isoformat() if target else None
    return view


def _partial_view(ranked: Ranked) -> dict[str, Any]:
    c = ranked.candidate
    return {
        "center_id": c.center_id,
        "center_name": c.name,
        "distance_miles": round(c.distance_miles, 1),
        "phone": c.phone,
        "missing": list(ranked.why),
    }


def _make_offer(session: Session, referral: Referral, step: str, ranked: Ranked, *, rank: int, now: datetime,
                ttl: timedelta, target_start: date | None = None,
                entries: list[dict[str, Any]] | None = None) -> Offer:  # fmt: skip
    offer = Offer(
        referral_id=referral.id,
        center_id=ranked.candidate.center_id,
        step=step,
        rank=rank,
        status=OfferStatus.OFFERED.value,
        why=list(ranked.why),
        distance_miles=round(ranked.candidate.distance_miles, 1),
        created_at=now,
        expires_at=now + ttl,
        target_start=target_start,
    )
    session.add(offer)  # written with the rest at commit: routing flushes once
    _remember(referral, list(ranked.why))
    offered = Message(N_("Offered to %(center)s."), center=ranked.candidate.name)
    _timeline(session, referral, f"offer:{step}:offered", None, offered, now, entries)
    return offer


def offer_next(session: Session, referral: Referral, step: str, *, now: datetime,
               offering: Offering = Offering()) -> list[Offer]:  # fmt: skip
    """Keep up to `offering.at_once` offers of the step open: offer it to the best candidates not yet
    asked. The referral is unplaced if no offer of the step is open and no candidate is left; nothing
    is offered once the step is taken, or if the person's consent no longer covers sharing the
    referral (routing stops). Returns the new offers. The caller holds the referral's lock."""
    if not consent_in_force(referral, now):
        _stop_for_consent(session, referral, now)
        return []
    step_offers = [o for o in referral.offers if o.step == step]
    if any(o.status in TAKEN for o in step_offers):
        return []
    still_open = [o for o in step_offers if o.status == OfferStatus.OFFERED]
    wanted = offering.at_once - len(still_open)
    if wanted <= 0:
        return []
    asked = {o.center_id for o in step_offers}
    candidates = load_candidates(session, referral, now)
    needs = _needs(referral)
    detox_offer = _accepted_offer(referral, "detox")
    if step == "detox":
        ranked = rank_detox(candidates, needs)
    else:
        ranked = rank_naltrexone(candidates, needs, detox_center_id=detox_offer.center_id if detox_offer else None)
    remaining = [r for r in ranked if r.candidate.center_id not in asked]
    plan = dict(referral.plan or {})
    if not remaining:
        if still_open:
            return []  # the open offers may still be accepted
        plan["partial_matches"] = [_partial_view(r) for r in partial_matches(candidates, needs)]
        _set_plan(referral, plan)
        reason = (
            N_("No medical detox center accepted.")
            if step == "detox"
            else N_("No naltrexone program accepted; the detox placement stands.")
        )
        _set_status(session, referral, ReferralStatus.UNPLACED, None, reason, now)
        return []
    target = None
    if step == "naltrexone":
        target = _target_start(referral, detox_offer, candidates)
    chosen = remaining[:wanted]
    offers = [
        _make_offer(session, referral, step, r, rank=len(asked) + n, now=now, ttl=offering.ttl, target_start=target)
        for n, r in enumerate(chosen, 1)
    ]
    # The plan shows the best ranked of the step's open offers.
    by_center = {r.candidate.center_id: r for r in ranked}
    best = min([*still_open, *offers], key=lambda o: (o.rank, o.center_id))
    if best.center_id in by_center:
        if step == "detox":
            plan["detox"] = _step_view(by_center[best.center_id], best)
        else:
            plan["naltrexone_program"] = _naltrexone_view(by_center[best.center_id], _earliest(referral), best, target)
    _set_plan(referral, plan)
    if step == "detox":
        names = [o.center.name for o in still_open] + [r.candidate.name for r in chosen]
        _set_status(session, referral, ReferralStatus.OFFERED, None, _offered_to(names), now)
    return offers


def _earliest(referral: Referral) -> date | None:
    value = (referral.plan or {}).get("earliest_naltrexone_start")
    return date.fromisoformat(value) if value else None


def _accepted_offer(referral: Referral, step: str) -> Offer | None:
    for offer in referral.offers:
        if offer.step == step and offer.status in TAKEN:
            return offer
    return None


def _target_start(referral: Referral, detox_offer: Offer | None, candidates: list[Candidate]) -> date | None:
    """The naltrexone step's target start: after the opioid-free window (if any) and the detox stay."""
    earliest = _earliest(referral)
    if detox_offer is None or detox_offer.admission_date is None:
        return earliest
    stay = next((c.detox_stay_days for c in candidates if c.center_id == detox_offer.center_id), None)
    return target_naltrexone_start(earliest, detox_offer.admission_date, stay)


# Answers from centers -----------------------------------------------------------------------


@dataclass(frozen=True)
class OfferOutcome:
    offer: Offer
    referral: Referral


def _transition(session: Session, offer_id: int, from_statuses: tuple[str, ...], to: OfferStatus,
                now: datetime, **values: Any) -> bool:  # fmt: skip
    """Move an offer between statuses only if it is still in one of `from_statuses` (atomic).

    An open offer can be answered only before it expires, and expired only after.
    """
    conditions = [Offer.id == offer_id, Offer.status.in_(from_statuses)]
    if from_statuses == (OfferStatus.OFFERED.value,):
        conditions.append(Offer.expires_at <= now if to == OfferStatus.EXPIRED else Offer.expires_at > now)
    result = session.execute(update(Offer).where(*conditions).values(status=to.value, **values))
    return result.rowcount == 1


def _lock_for_answer(session: Session, offer_id: int, now: datetime) -> None:
    """Before an answer to an offer: lock its referral, so that answers, expiry and routing of one
    referral run one at a time; if the person's consent has lapsed, stop routing (commits) and refuse."""
    offer = session.get(Offer, offer_id)
    if offer is None:
        return  # the answer's conditional update finds no offer, and says so
    referral = _lock_referral(session, offer.referral_id)
    assert referral is not None
    if consent_in_force(referral, now):
        return
    _stop_for_consent(session, referral, now)
    session.commit()
    raise ReferralError(
        N_(
            "The person's consent to share this referral has expired or was revoked, so the offer is withdrawn "
            "and the referral is no longer shared with your center."
        )
    )


#: Why an answer to an offer was refused, by the answer ("accepted" or "declined"): the offer is in
#: another state, or another center's offer of the step was accepted.
NO_LONGER_OPEN = {
    "accepted": N_("This offer can no longer be accepted (it is %(state)s)."),
    "declined": N_("This offer can no longer be declined (it is %(state)s)."),
}
NO_LONGER_OPEN_ELSEWHERE = {
    "accepted": N_("This offer can no longer be accepted: another center accepted this referral."),
    "declined": N_("This offer can no longer be declined: another center accepted this referral."),
}
#: An offer's state in those sentences (the offer is "missing" if it is gone).
OFFER_STATES = {
    "missing": N_("missing"),
    "expired": N_("expired"),
    "withdrawn": N_("withdrawn"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "admitted": N_("admitted"),
    "no_show": N_("no_show"),
    "completed": N_("completed"),
}


def _no_longer_open(session: Session, offer_id: int, verb: str) -> ReferralError:
    """Why an offer could not be answered (read after the rollback): taken, expired, withdrawn, gone."""
    offer = session.get(Offer, offer_id)
    if offer is not None and offer.status == OfferStatus.WITHDRAWN and _accepted_offer(offer.referral, offer.step):
        return ReferralError(NO_LONGER_OPEN_ELSEWHERE[verb])
    state = (
        "missing"
        if offer is None
        else OfferStatus.EXPIRED.value
        if offer.status == OfferStatus.OFFERED
        else offer.status
    )
    return ReferralError(Message(NO_LONGER_OPEN[verb], state=Message(OFFER_STATES.get(state, state))))


def accept_offer(session: Session, offer_id: int, actor: User, admission_date: date, *, now: datetime | None = None,
                 offering: Offering = Offering()) -> OfferOutcome:  # fmt: skip
    """A center says yes. Of concurrent accepts of one step exactly one wins; the step's other open
    offers are withdrawn with it and their centers told. Expired or withdrawn offers cannot be
    accepted, nor any offer once the person's consent has lapsed."""
    now = now or utcnow()
    _lock_for_answer(session, offer_id, now)
    outcome = _accept(session, offer_id, actor, admission_date, now, offering)
    session.commit()
    return outcome


def _accept(session: Session, offer_id: int, actor: User, admission_date: date, now: datetime, offering: Offering,
            by_phone: bool = False) -> OfferOutcome:  # fmt: skip
    """Accept an open offer, its referral locked; the caller commits. Rolls back and raises if it is not
    open, or if the admission date is out of bounds."""
    offer = session.get(Offer, offer_id)
    if offer is not None:
        try:
            check_admission_date(admission_date, offer.created_at, now)
        except InvalidAnswer:
            session.rollback()
            raise
    won = _transition(
        session, offer_id, (OfferStatus.OFFERED.value,), OfferStatus.ACCEPTED, now,
        responded_at=now, responded_by_id=actor.id, admission_date=admission_date,
    )  # fmt: skip
    if not won:
        session.rollback()
        raise _no_longer_open(session, offer_id, "accepted")
    session.expire_all()
    offer = session.get(Offer, offer_id)
    assert offer is not None
    referral = offer.referral
    admission = N_("Admission on %(day)s. By phone.") if by_phone else N_("Admission on %(day)s.")
    admission = Message(admission, day=admission_date.isoformat())
    _timeline(session, referral, f"offer:{offer.step}:accepted", actor, admission, now)
    _withdraw_rest_of_step(session, referral, offer, now)
    key = "detox" if offer.step == "detox" else "naltrexone_program"
    plan = dict(referral.plan or {})
    plan[key] = _accepted_view(offer, plan.get(key))
    _set_plan(referral, plan)
    if offer.step == "detox":
        accepted = Message(N_("%(center)s accepted the detox referral."), center=offer.center.name)
        _set_status(session, referral, ReferralStatus.ACCEPTED, actor, accepted, now)
        offer_next(session, referral, "naltrexone", now=now, offering=offering)
    elif referral.status == ReferralStatus.UNPLACED:  # no program had accepted; one did on the phone
        detox = _accepted_offer(referral, "detox")
        admitted = detox is not None and detox.status != OfferStatus.ACCEPTED
        status = ReferralStatus.IN_PROGRESS if admitted else ReferralStatus.ACCEPTED
        accepted = Message(N_("%(center)s accepted the naltrexone referral."), center=offer.center.name)
        _set_status(session, referral, status, actor, accepted, now)
    return OfferOutcome(offer, referral)


def _accepted_view(offer: Offer, planned: dict[str, Any] | None) -> dict[str, Any]:
    """The plan's view of a step once `offer` took it (the step's planned dates kept)."""
    center = offer.center
    view = {
        **(planned or {}),
        "center_id": offer.center_id,
        "center_name": center.name,
        "distance_miles": offer.distance_miles,
        "phone": center.intake_phone or center.phone,
        "offer_status": offer.status,
        "why": list(offer.why or []),
    }
    if offer.step == "naltrexone":
        view["target_start"] = offer.target_start.isoformat() if offer.target_start else view.get("target_start")
    return view


def _withdraw_rest_of_step(session: Session, referral: Referral, accepted: Offer, now: datetime) -> None:
    """Withdraw the step's other open offers and tell their centers the referral was placed elsewhere
    (no personal data: the notice names no referral)."""
    rows = []
    for other in referral.offers:
        if other.step == accepted.step and other.status == OfferStatus.OFFERED and other.id != accepted.id:
            other.status = OfferStatus.WITHDRAWN.value
            other.responded_at = now
            _timeline(session, referral, f"offer:{other.step}:withdrawn", None, N_("Another center accepted."), now)
            rows.append(notifications.offer_notice(notifications.PLACED_ELSEWHERE, other.id, referral.id, now))
    notifications.queue(session, rows)


def decline_offer(session: Session, offer_id: int, actor: User, reason: str, *, now: datetime | None = None,
                  offering: Offering = Offering()) -> OfferOutcome:  # fmt: skip
    """A center says no (with a reason); the next candidate gets an offer, while consent covers it."""
    now = now or utcnow()
    reason = reason.strip()
    if not reason:
        raise ReferralError(N_("Give a reason for declining (it helps the referral staff find another place)."))
    check_reason(reason)
    _lock_for_answer(session, offer_id, now)
    outcome = _decline(session, offer_id, actor, reason, now, offering)
    session.commit()
    return outcome


def _decline(session: Session, offer_id: int, actor: User, reason: str, now: datetime,
             offering: Offering) -> OfferOutcome:  # fmt: skip
    """Decline an open offer, its referral locked, and offer the step on; the caller commits. Rolls back
    and raises if it is not open."""
    if not _transition(session, offer_id, (OfferStatus.OFFERED.value,), OfferStatus.DECLINED, now,
                       responded_at=now, responded_by_id=actor.id, decline_reason=reason):  # fmt: skip
        session.rollback()
        raise _no_longer_open(session, offer_id, "declined")
    session.expire_all()
    offer = session.get(Offer, offer_id)
    assert offer is not None
    _timeline(session, offer.referral, f"offer:{offer.step}:declined", actor, reason, now)
    offer_next(session, offer.referral, offer.step, now=now, offering=offering)
    return OfferOutcome(offer, offer.referral)


def expire_offers(session: Session, *, now: datetime | None = None, offering: Offering = Offering()) -> int:
    """Expire offers past their time and offer the step to the next candidate; returns how many expired."""
    now = now or utcnow()
    due = session.execute(
        select(Offer.id, Offer.referral_id)
        .where(Offer.status == OfferStatus.OFFERED.value, Offer.expires_at <= now)
        .order_by(Offer.id)
    ).all()
    count = 0
    for offer_id, referral_id in due:
        _lock_referral(session, referral_id)
        if not _transition(session, offer_id, (OfferStatus.OFFERED.value,), OfferStatus.EXPIRED, now):
            session.rollback()  # answered or expired meanwhile
            continue
        session.expire_all()
        offer = session.get(Offer, offer_id)
        assert offer is not None
        _timeline(session, offer.referral, f"offer:{offer.step}:expired", None, N_("No answer in time."), now)
        offer_next(session, offer.referral, offer.step, now=now, offering=offering)
        session.commit()
        count += 1
    return count


def remind_open_offers(session: Session, *, after: timedelta, now: datetime | None = None) -> int:
    """Remind the staff of each offer still open `after` it was made, once an offer: `reminded_at` and
    the notice commit together. Returns how many offers were reminded of."""
    now = now or utcnow()
    reminded = session.execute(
        update(Offer)
        .where(
            Offer.status == OfferStatus.OFFERED.value,
            Offer.reminded_at.is_(None),
            Offer.created_at <= now - after,
            Offer.expires_at > now,
        )
        .values(reminded_at=now)
        .returning(Offer.id, Offer.referral_id)
        .execution_options(synchronize_session=False)
    ).all()
    notifications.queue(
        session, [notifications.offer_notice(notifications.REMINDER, o_id, r_id, now) for o_id, r_id in reminded]
    )
    session.commit()
    return len(reminded)


def _withdraw_open_offers(session: Session, referral: Referral, actor: User | None, reason: str, now: datetime) -> None:
    for offer in referral.offers:
        if offer.status == OfferStatus.OFFERED:
            offer.status = OfferStatus.WITHDRAWN.value
            offer.responded_at = now
            _timeline(session, referral, f"offer:{offer.step}:withdrawn", actor, reason, now)


#: Why a closed referral cannot be cancelled, or have a call recorded, by its status.
ALREADY_CLOSED = {
    ReferralStatus.CANCELLED.value: N_("This referral is already cancelled."),
    ReferralStatus.COMPLETED.value: N_("This referral is already completed."),
}
CLOSED = {
    ReferralStatus.CANCELLED.value: N_("This referral is cancelled."),
    ReferralStatus.COMPLETED.value: N_("This referral is completed."),
}


def cancel_referral(
    session: Session, referral_id: str, actor: User, reason: str, *, now: datetime | None = None
) -> Referral:
    """Referral staff cancel: routing stops and open offers are withdrawn."""
    now = now or utcnow()
    referral = _lock_referral(session, referral_id)
    if referral is None:
        raise ReferralError(N_("No such referral."))
    if referral.status in (ReferralStatus.CANCELLED, ReferralStatus.COMPLETED):
        raise ReferralError(ALREADY_CLOSED[referral.status])
    reason = reason.strip() or N_("Cancelled by referral staff.")
    _withdraw_open_offers(session, referral, actor, reason, now)
    _set_status(session, referral, ReferralStatus.CANCELLED, actor, reason, now)
    session.commit()
    return referral


def revoke_consent(session: Session, referral_id: str, actor: User, *, now: datetime | None = None) -> Referral:
    """The person withdraws consent: routing stops, open offers are withdrawn."""
    now = now or utcnow()
    referral = _lock_referral(session, referral_id)
    if referral is None:
        raise ReferralError(N_("No such referral."))
    referral.consent_revoked_at = now
    _withdraw_open_offers(session, referral, actor, CONSENT_REVOKED, now)
    if referral.status not in (ReferralStatus.CANCELLED, ReferralStatus.COMPLETED):
        _set_status(session, referral, ReferralStatus.CANCELLED, actor, CONSENT_REVOKED, now)
    session.commit()
    return referral


FOLLOW_UP = {
    OfferStatus.ADMITTED: ((OfferStatus.ACCEPTED.value,), ReferralStatus.IN_PROGRESS),
    OfferStatus.NO_SHOW: ((OfferStatus.ACCEPTED.value,), None),
    OfferStatus.COMPLETED: ((OfferStatus.ADMITTED.value,), None),
}
#: Why a follow-up was refused: the offer is not in the state it follows.
FOLLOW_UP_REFUSED = {
    OfferStatus.ADMITTED: N_("Only an offer that is accepted can be marked admitted."),
    OfferStatus.NO_SHOW: N_("Only an offer that is accepted can be marked no_show."),
    OfferStatus.COMPLETED: N_("Only an offer that is admitted can be marked completed."),
}


def record_follow_up(session: Session, offer_id: int, actor: User, outcome: OfferStatus, *,
                     now: datetime | None = None) -> OfferOutcome:  # fmt: skip
    """Center staff mark an accepted offer admitted or no-show, and an admitted one completed."""
    now = now or utcnow()
    if outcome not in FOLLOW_UP:
        raise ReferralError("Mark an offer admitted, no_show or completed.")
    allowed, referral_status = FOLLOW_UP[outcome]
    if not _transition(session, offer_id, allowed, outcome, now, responded_by_id=actor.id):
        session.rollback()
        raise ReferralError(FOLLOW_UP_REFUSED[outcome])
    session.expire_all()
    offer = session.get(Offer, offer_id)
    assert offer is not None
    referral = offer.referral
    _timeline(session, referral, f"offer:{offer.step}:{outcome.value}", actor, None, now)
    if referral_status is not None and referral.status == ReferralStatus.ACCEPTED:
        admitted = Message(N_("Admitted at %(center)s."), center=offer.center.name)
        _set_status(session, referral, referral_status, actor, admitted, now)
    if outcome == OfferStatus.COMPLETED and offer.step == "naltrexone":
        _set_status(session, referral, ReferralStatus.COMPLETED, actor, N_("Naltrexone program completed."), now)
    if outcome == OfferStatus.NO_SHOW:
        missed = Message(N_("Did not arrive at %(center)s."), center=offer.center.name)
        _set_status(session, referral, ReferralStatus.NEEDS_REVIEW, actor, missed, now)
    session.commit()
    return OfferOutcome(offer, referral)


# Needs a person --------------------------------------------------------------------------------

#: How many centers not yet offered the step a person is given to call, per referral.
CALL_CANDIDATES = 3
CALL_OUTCOMES = ("accepted", "declined", "no_answer")


@dataclass(frozen=True)
class CallTarget:
    """A center to call about a referral's current step: one with an open offer (`offer_id`), or one not
    offered yet: a candidate (`ranked`), or a partial match (`missing` says what it lacks)."""

    center_id: int
    name: str
    phone: str | None
    distance_miles: float
    offer_id: int | None = None
    ranked: Ranked | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalation:
    """A referral a person should follow up by phone: why, its current step and whom to call."""

    referral: Referral
    reason: str  # "waiting" (not accepted in time), "unplaced" or "needs_review"
    step: str
    targets: list[CallTarget]


def needs_a_person(session: Session, *, escalate_after: timedelta, sender_id: int | None = None,
                   now: datetime | None = None, limit: int = 100) -> list[Escalation]:  # fmt: skip
    """Referrals not accepted `escalate_after` their submission, unplaced, or sent to review, oldest first
    (with `sender_id`, only that sender's), each with the centers to call."""
    now = now or utcnow()
    stuck = (ReferralStatus.UNPLACED.value, ReferralStatus.NEEDS_REVIEW.value)
    waiting = Referral.status.in_(OPEN_REFERRAL_STATUSES) & (Referral.created_at <= now - escalate_after)
    query = select(Referral).where(waiting | Referral.status.in_(stuck))
    if sender_id is not None:
        query = query.where(Referral.created_by_id == sender_id)
    escalations = []
    for referral in session.scalars(query.order_by(Referral.created_at, Referral.id).limit(limit)).all():
        step, targets, _ = _call_targets(session, referral, now)
        reason = referral.status if referral.status in stuck else "waiting"
        escalations.append(Escalation(referral, reason, step, targets))
    return escalations


def call_targets(session: Session, referral: Referral, now: datetime | None = None) -> tuple[str, list[CallTarget]]:
    """The referral's current step and the centers to call for it (see `_call_targets`)."""
    step, targets, _ = _call_targets(session, referral, now or utcnow())
    return step, targets


def _call_targets(session: Session, referral: Referral, now: datetime) -> tuple[str, list[CallTarget], list[Candidate]]:
    """The referral's current step, the centers to call for it (open offers first, best ranked first), and
    the candidates read. Only open offers while consent has lapsed or the plan needs a clinician first."""
    detox_offer = _accepted_offer(referral, "detox")
    step = "naltrexone" if detox_offer else "detox"
    step_offers = [o for o in referral.offers if o.step == step]
    targets = [
        CallTarget(o.center_id, o.center.name, o.center.intake_phone or o.center.phone, o.distance_miles, offer_id=o.id)
        for o in sorted(step_offers, key=lambda o: o.rank)
        if o.status == OfferStatus.OFFERED
    ]
    if not consent_in_force(referral, now) or not assess(_facts(referral)).routable:
        return step, targets, []
    asked = {o.center_id for o in step_offers}
    candidates = load_candidates(session, referral, now)
    needs = _needs(referral)
    if step == "detox":
        ranked = rank_detox(candidates, needs)
        fits_step = [r for r in partial_matches(candidates, needs) if r.candidate.offers_medical_detox]
    else:
        ranked = rank_naltrexone(candidates, needs, detox_center_id=detox_offer.center_id if detox_offer else None)
        fits_step = [r for r in partial_matches(candidates, needs) if r.candidate.offers_naltrexone]
    fresh = [r for r in ranked if r.candidate.center_id not in asked][:CALL_CANDIDATES]
    listed = asked | {r.candidate.center_id for r in fresh}
    partial = [r for r in fits_step if r.candidate.center_id not in listed][: CALL_CANDIDATES - len(fresh)]
    for r in fresh:
        c = r.candidate
        targets.append(CallTarget(c.center_id, c.name, c.phone, round(c.distance_miles, 1), ranked=r))
    for r in partial:
        c = r.candidate
        targets.append(CallTarget(c.center_id, c.name, c.phone, round(c.distance_miles, 1), ranked=r, missing=r.why))
    return step, targets, candidates


def record_call(session: Session, referral_id: str, actor: User, outcome: str, *, offer_id: int | None = None,
                center_id: int | None = None, admission_date: date | None = None, reason: str = "",
                now: datetime | None = None, offering: Offering = Offering()) -> Referral:  # fmt: skip
    """What a center said on the phone about the referral's current step (a center with an open offer,
    `offer_id`, or one not offered yet, `center_id`), recorded as its answer in the portal would be:
    accepted (with the admission date) or declined (with the reason) moves the referral on the same way;
    "no_answer" is noted on the timeline. Audited; refused once the person's consent has lapsed."""
    now = now or utcnow()
    reason = reason.strip()
    if outcome not in CALL_OUTCOMES:
        raise ReferralError(f"Unknown call outcome {outcome!r}; accepted: {', '.join(CALL_OUTCOMES)}.")
    if outcome == "accepted" and admission_date is None:
        raise ReferralError(N_("Give the admission date the center gave."))
    if outcome == "declined" and not reason:
        raise ReferralError(N_("Give the reason the center gave for declining."))
    check_reason(reason)
    referral = _lock_referral(session, referral_id)
    if referral is None:
        raise ReferralError(N_("No such referral."))
    if not consent_in_force(referral, now):
        session.rollback()
        raise ReferralError(
            N_("The person's consent to share this referral has expired or was revoked: no center may be told of it.")
        )
    if referral.status in (ReferralStatus.CANCELLED, ReferralStatus.COMPLETED):
        session.rollback()
        raise ReferralError(CLOSED[referral.status])
    step, targets, candidates = _call_targets(session, referral, now)
    target = next(
        (t for t in targets if (t.offer_id == offer_id if offer_id is not None else t.center_id == center_id)), None
    )
    if target is None:
        session.rollback()
        raise ReferralError(
            N_(
                "That center is not one to call for this referral now: its offer may have been answered or withdrawn "
                "meanwhile. Reload the page."
            )
        )
    audit.record(session, actor, "referral.call", "referral", referral.id, detail=f"{step} {outcome} {target.name}")
    if outcome == "no_answer":
        no_answer = Message(N_("No answer at %(center)s."), center=target.name)
        _timeline(session, referral, f"call:{step}:no_answer", actor, no_answer, now)
        session.commit()
        return referral
    if target.offer_id is None:
        assert target.ranked is not None
        made = sum(1 for o in referral.offers if o.step == step)
        detox_offer = _accepted_offer(referral, "detox")
        start = _target_start(referral, detox_offer, candidates) if step == "naltrexone" else None
        offer = _make_offer(session, referral, step, target.ranked, rank=made + 1, now=now, ttl=offering.ttl,
                            target_start=start)  # fmt: skip
        session.flush()
        target = CallTarget(target.center_id, target.name, target.phone, target.distance_miles, offer_id=offer.id)
    assert target.offer_id is not None
    if outcome == "accepted":
        assert admission_date is not None
        _accept(session, target.offer_id, actor, admission_date, now, offering, by_phone=True)
    else:
        _decline(session, target.offer_id, actor, f"{reason} (by phone)", now, offering)
    session.commit()
    return referral


# Outbox -------------------------------------------------------------------------------------

#: The outbox task of a referral's routing (notices have theirs in `notifications.NOTICE_TASKS`).
ROUTE = "route_referral"

#: A sent message not done after this long is sent again: a routing task whose referral is still
#: unrouted, or a notice still unmailed. A worker killed mid-task leaves its message unacknowledged
#: until the broker's visibility timeout; routing is idempotent and a mailed notice is not mailed
#: again, so sending again is safe and much sooner.
REDISPATCH_AFTER = timedelta(minutes=2)


def routing_message_id(session: Session, referral_id: str) -> int:
    """The outbox row of a referral's routing task."""
    return session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.referral_id == referral_id, OutboxMessage.task == ROUTE)
    ).one()


def pending_outbox(session: Session, *, older_than: timedelta = timedelta(0), now: datetime | None = None,
                   stale_after: timedelta = REDISPATCH_AFTER, limit: int = 500) -> list[OutboxMessage]:  # fmt: skip
    """Outbox rows to send: never sent (older than `older_than`), or sent over `stale_after` ago and
    not done (a notice's row is deleted once mailed; a routing task is done once its referral is routed)."""
    now = now or utcnow()
    never_sent = (OutboxMessage.dispatched_at.is_(None)) & (OutboxMessage.created_at <= now - older_than)
    not_done = (OutboxMessage.task != ROUTE) | Referral.status.in_(
        (ReferralStatus.RECEIVED.value, ReferralStatus.ROUTING.value)
    )
    stale = (OutboxMessage.dispatched_at <= now - stale_after) & not_done
    return list(
        session.scalars(
            select(OutboxMessage)
            .outerjoin(Referral, Referral.id == OutboxMessage.referral_id)  # a notice about a center has none
            .where(never_sent | stale)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def mark_dispatched(session: Session, message_ids: Collection[int], now: datetime | None = None) -> None:
    """Note that these outbox messages were sent (one statement, one commit)."""
    if not message_ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(dispatched_at=now or utcnow(), attempts=OutboxMessage.attempts + 1)
    )
    session.commit()


def mark_unsent(connection: Connection | Session, message_ids: Collection[int]) -> None:
    """Messages written as sent (the committing process sends them right after commit) did not reach
    the broker: the outbox keeps them as never sent, for the next round. The caller commits."""
    connection.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.dispatched_at.is_not(None))
        .values(dispatched_at=None, attempts=OutboxMessage.attempts - 1)
    )
