"""A referral scenario for the web pages: centers near downtown Chicago and one account of each kind.

Two detox centers (the nearer one gets the first offer), a naltrexone clinic, and an
outpatient center whose staff must not see the offers. Like tests/portal/conftest.py, it
never holds an app context open while the test client makes requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from directory.models import Center, Offer, Referral, User
from directory.models.base import utcnow
from tests.factories import add_centers, center_record
from tests.portal.conftest import Store, account


@dataclass
class Scene:
    near_detox: Center
    far_detox: Center
    clinic: Center
    other: Center
    referrer: User
    other_referrer: User
    detox_staff: User
    clinic_staff: User
    other_staff: User
    admin: User


def build_scene(store: Store) -> Scene:
    """Write the centers and accounts; return them (detached, for their ids and emails)."""
    detox = dict(levels_of_care=["medical_detox", "residential"], payment_options=["medicaid"])
    with store.session() as session:
        add_centers(
            session,
            center_record(external_id="t:near", name="Lakeside Detox", latitude=41.89, detox_stay_days=5, **detox),
            center_record(external_id="t:far", name="Northside Detox", latitude=41.95, **detox),
            center_record(
                external_id="t:clinic",
                name="Naltrexone Clinic",
                latitude=41.90,
                levels_of_care=["outpatient"],
                payment_options=["medicaid"],
                medications=["naltrexone_injectable"],
            ),
            center_record(external_id="t:other", name="Elsewhere Outpatient", latitude=41.80),
        )
        ids = {c.external_id: c.id for c in session.scalars(select(Center))}
        emails = {
            "referrer": account(session, "referral_staff", [], "referrer@example.org"),
            "other_referrer": account(session, "referral_staff", [], "other-referrer@example.org"),
            "detox_staff": account(session, "center_staff", [ids["t:near"]], "detox@example.org"),
            "clinic_staff": account(session, "center_staff", [ids["t:clinic"]], "clinic@example.org"),
            "other_staff": account(session, "center_staff", [ids["t:other"]], "other@example.org"),
            "admin": account(session, "admin", [], "admin@example.org"),
        }
        users = {name: session.scalar(select(User).where(User.email == email)) for name, email in emails.items()}
        centers = {
            "near_detox": session.get(Center, ids["t:near"]),
            "far_detox": session.get(Center, ids["t:far"]),
            "clinic": session.get(Center, ids["t:clinic"]),
            "other": session.get(Center, ids["t:other"]),
        }
        return Scene(**centers, **users)


def intake_form(**changes: Any) -> dict[str, Any]:
    """The intake form as referral staff fill it in: heroin last used yesterday, near 60601, on Medicaid."""
    now = utcnow()
    data: dict[str, Any] = {
        "client_reference": "CASE-1042",
        "contact_phone": "(312) 555-0199",
        "location": "60601",
        "max_distance_miles": "50",
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "UTC",
        "liver_disease": "unknown",
        "on_opioid_pain_therapy": "no",
        "interacting_medications": ["alcohol"],
        "consent_granted": "y",
        "consent_recipients": "Treatment centers offered this referral through Treatment Directory",
        "consent_purpose": "Referral for substance use treatment",
        "consent_expires_on": (now.date() + timedelta(days=180)).isoformat(),
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def referrals(store: Store) -> list[Referral]:
    with store.session() as session:
        found = list(session.scalars(select(Referral).order_by(Referral.created_at)))
        for referral in found:
            _ = referral.offers, referral.timeline
        return found


def offers(store: Store, referral_id: str) -> list[Offer]:
    with store.session() as session:
        found = list(session.scalars(select(Offer).where(Offer.referral_id == referral_id).order_by(Offer.id)))
        for offer in found:
            _ = offer.center
        return found


def submit(client: Any, store: Store, **changes: Any) -> Referral:
    """Post the intake form (signed in as referral staff) and return the new referral."""
    before = {r.id for r in referrals(store)}
    response = client.post("/referrals/new", data=intake_form(**changes))
    assert response.status_code == 302, response.data[:2000]
    (referral,) = [r for r in referrals(store) if r.id not in before]
    assert response.headers["Location"].endswith(f"/referrals/{referral.id}")
    return referral


__all__ = ["Scene", "Store", "build_scene", "intake_form", "offers", "referrals", "submit"]
