"""A referral as its sender sees it (status, plan, offers, timeline), and as a center sees an offer of it
(the minimum necessary), as plain JSON-ready data.

Used by the API and the web pages alike. Holds no name or date of birth (the intake has none).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from directory.models import Offer, OfferStatus, Referral, Role, TimelineEntry, User
from directory.models.referrals import FHIR_TASK_STATUS
from directory.referrals.service import PLAN_MESSAGES, consent_in_force


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "hour"):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def offer_view(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "referral_id": offer.referral_id,
        "step": offer.step,
        "center_id": offer.center_id,
        "center_name": offer.center.name,
        "status": offer.status,
        "fhir_status": FHIR_TASK_STATUS.get(offer.status),  # type: ignore[call-overload]
        "distance_miles": offer.distance_miles,
        "why": list(offer.why or []),
        "offered_at": _iso(offer.created_at),
        "expires_at": _iso(offer.expires_at),
        "responded_at": _iso(offer.responded_at),
        "admission_date": _iso(offer.admission_date),
        "target_start": _iso(offer.target_start),
        "decline_reason": offer.decline_reason,
    }


def timeline_view(entry: TimelineEntry) -> dict[str, Any]:
    return {"at": _iso(entry.at), "status": entry.status, "by": entry.by_label, "reason": entry.reason}


def _plan_step(step: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(step) if step else None


def referral_view(referral: Referral) -> dict[str, Any]:
    """The referral in the API's documented shape."""
    plan = referral.plan or {}
    return {
        "id": referral.id,
        "status": referral.status,
        "fhir_status": FHIR_TASK_STATUS.get(referral.status),  # type: ignore[call-overload]
        "status_reason": referral.status_reason,
        "client_reference": referral.client_reference,
        "use_disorders": referral.use_disorders,
        "created_at": _iso(referral.created_at),
        "plan": {
            "detox": _plan_step(plan.get("detox")),
            "naltrexone_program": _plan_step(plan.get("naltrexone_program")),
            "flags": list(plan.get("flags", [])),
            "earliest_naltrexone_start": plan.get("earliest_naltrexone_start"),
            "partial_matches": list(plan.get("partial_matches", [])),
            "disclaimer": plan.get("disclaimer"),
        },
        "offers": [offer_view(o) for o in referral.offers],
        "timeline": [timeline_view(e) for e in referral.timeline],
    }


def plan_messages(*referrals: Referral) -> dict[str, dict[str, Any]]:
    """The translatable form of the referrals' stored texts with values (plan, offers' reasons,
    timeline), by their English text, for pages to translate them (`directory.i18n.translate`)."""
    return {text: data for r in referrals for text, data in ((r.plan or {}).get(PLAN_MESSAGES) or {}).items()}


# What a center sees ---------------------------------------------------------------------------

#: Every offer to a center, open or closed: the offer itself, no referral details.
CLOSED_OFFER_FIELDS = ("id", "step", "status", "center_id", "center_name", "offered_at", "expires_at", "responded_at")
#: While the offer is open, accepted or admitted (and consent holds): what the center needs to decide.
SHARED_OFFER_FIELDS = (
    *CLOSED_OFFER_FIELDS,
    "referral_id",
    "use_disorders",
    "distance_miles",
    "why",
    "earliest_naltrexone_start",
    "target_start",
    "flags",
    "payment",
    "language",
    "populations",
    "admission_date",
    "disclaimer",
)
#: Once the center has accepted (or admitted the person): what it needs to admit them.
ADMITTING_OFFER_FIELDS = (*SHARED_OFFER_FIELDS, "client_reference", "contact_phone")

#: Offer statuses under which the offered center sees the referral.
SHARED_WHILE = (OfferStatus.OFFERED.value, OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value)
ADMITTING = (OfferStatus.ACCEPTED.value, OfferStatus.ADMITTED.value)


def offer_status_now(offer: Offer, now: datetime) -> str:
    """The offer's status as of `now`: an open offer past its time is expired, whether or not the sweep has run."""
    if offer.status == OfferStatus.OFFERED and offer.expires_at <= now:
        return OfferStatus.EXPIRED.value
    return offer.status


def shares_referral(offer: Offer, now: datetime) -> bool:
    """Whether the offered center may see the referral now: its offer is open, accepted or admitted,
    and the person's consent is in force."""
    return offer_status_now(offer, now) in SHARED_WHILE and consent_in_force(offer.referral, now)


def reads_in_full(user: User, referral: Referral) -> bool:
    """Whether the user sees the whole referral: its sender, or an admin."""
    return user.role == Role.ADMIN or (user.role == Role.REFERRAL_STAFF and referral.created_by_id == user.id)


def offers_shared_with(user: User, referral: Referral, now: datetime) -> list[Offer]:
    """The referral's offers to centers the user staffs that share the referral with them now."""
    if user.role != Role.CENTER_STAFF:
        return []
    return [o for o in referral.offers if user.manages(o.center_id) and shares_referral(o, now)]


def center_offer_view(offer: Offer, now: datetime) -> dict[str, Any]:
    """An offer as its center's staff see it, on the portal's pages and in the API alike: the fields of
    `CLOSED_OFFER_FIELDS`, `SHARED_OFFER_FIELDS` or `ADMITTING_OFFER_FIELDS` (see the README).

    Never the referrer's email, the exact time of last use, the consent text, the primary opioid, or
    which other centers were offered or declined.
    """
    status = offer_status_now(offer, now)
    view: dict[str, Any] = {
        "id": offer.id,
        "step": offer.step,
        "status": status,
        "center_id": offer.center_id,
        "center_name": offer.center.name,
        "offered_at": _iso(offer.created_at),
        "expires_at": _iso(offer.expires_at),
        "responded_at": _iso(offer.responded_at),
    }
    if not shares_referral(offer, now):
        return view
    referral = offer.referral
    plan = referral.plan or {}
    view.update(
        referral_id=referral.id,
        use_disorders=referral.use_disorders,
        distance_miles=offer.distance_miles,
        why=list(offer.why or []),
        earliest_naltrexone_start=plan.get("earliest_naltrexone_start"),
        target_start=_iso(offer.target_start),
        flags=list(plan.get("flags", [])),
        payment=referral.payment,
        language=referral.language,
        populations=list(referral.populations or []),
        admission_date=_iso(offer.admission_date),
        disclaimer=plan.get("disclaimer"),
    )
    if status in ADMITTING:
        view.update(client_reference=referral.client_reference, contact_phone=referral.contact_phone)
    return view
