"""A referral as staff see it: status, plan, offers and timeline, as plain JSON-ready data.

Used by the API and the web pages alike. Holds no name or date of birth (the intake has none).
"""

from __future__ import annotations

from typing import Any

from directory.models import Offer, Referral, TimelineEntry
from directory.models.referrals import FHIR_TASK_STATUS


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
