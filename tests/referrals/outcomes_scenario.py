"""Referrals with known times, made through the real service functions, for the outcomes tests.

The clock stands at Wednesday 2026-12-09 12:00 UTC: this ISO week is 2026-W50, last week 2026-W49.
Two centers near Chicago take detox referrals, and no naltrexone program is near: an accepted
referral is then `unplaced` for the naltrexone step, its detox placement standing (placed, in the
outcomes). Nothing near Anchorage takes referrals.

| referral | sender | made (UTC)       | what happened                                                        |
| -------- | ------ | ---------------- | -------------------------------------------------------------------- |
| old      | A      | 2026-08-03 09:00 | offered at once, accepted 09:20: before the weeks covered            |
| r1       | A      | 2026-12-01 10:00 | offered 10:05; Near declines 10:35 ("No bed available."); Far offered |
|          |        |                  | and accepts 12:05, admission 2026-12-03                              |
| r5       | A      | 2026-12-02 09:00 | Near declines 09:30 ("no bed  available"), Far declines 10:00 (a     |
|          |        |                  | reason naming a person): not placed (Illinois)                        |
| r2       | A      | 2026-12-08 09:00 | offered 09:01, Near accepts 09:10, admission 2026-12-08              |
| r3       | B      | 2026-12-08 10:00 | near Anchorage: no center fits, not placed (Alaska)                  |
| r6       | B      | 2026-12-08 14:00 | offered 14:02; Near declines 15:00 ("NO BED AVAILABLE (by phone)")   |
| r4       | A      | 2026-12-09 08:00 | offered at once, still open                                          |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import Center, Offer, OfferStatus, Referral, User
from directory.referrals.intake import validate_intake
from directory.referrals.service import accept_offer, decline_offer, route_referral, submit_referral
from directory.search.geocoding import OfflineGeocoder
from tests.factories import add_centers, center_record, make_user

NOW = datetime(2026, 12, 9, 12, 0)
PERSONAL_REASON = "Patient J.S. is known to us"


@dataclass
class Cast:
    sender_a: User
    sender_b: User
    admin: User
    near_staff: User
    far_staff: User


def _intake(location: str, at: datetime) -> dict:
    return {
        "client_reference": "CASE-SECRET-77",
        "contact_phone": "(312) 555-0177",
        "location": location,
        "max_distance_miles": 50,
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": (at - timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "liver_disease": "no",
        "on_opioid_pain_therapy": False,
        "interacting_medications": [],
        "alcohol_use_disorder": False,
        "consent": {"granted": True, "recipients": "Receiving treatment centers", "purpose": "Treatment referral",
                    "expires_on": "2027-06-30"},
    }  # fmt: skip


def make_referral(session: Session, sender: User, at: datetime, routed_after: timedelta = timedelta(0),
                  location: str = "60601") -> str:  # fmt: skip
    """Submit a referral at `at` and route it `routed_after` later; its id."""
    referral = submit_referral(session, validate_intake(_intake(location, at), OfflineGeocoder(), at), sender, now=at)
    route_referral(session, referral.id, now=at + routed_after)
    return referral.id


def open_offer(session: Session, referral_id: str) -> int:
    session.expire_all()
    return session.scalars(
        select(Offer.id).where(Offer.referral_id == referral_id, Offer.status == OfferStatus.OFFERED.value)
    ).one()


def build_cast(session: Session) -> Cast:
    """Write the two detox centers and the accounts: two senders, an admin, staff of each center."""
    detox = dict(levels_of_care=["medical_detox", "residential"], payment_options=["medicaid"])
    add_centers(
        session,
        center_record(external_id="o:near", name="Near Detox", latitude=41.89, **detox),
        center_record(external_id="o:far", name="Far Detox", latitude=41.95, **detox),
    )
    ids = {c.external_id: c.id for c in session.scalars(select(Center))}
    cast = Cast(
        sender_a=make_user(session, "referral_staff"),
        sender_b=make_user(session, "referral_staff"),
        admin=make_user(session, "admin"),
        near_staff=make_user(session, "center_staff", [ids["o:near"]]),
        far_staff=make_user(session, "center_staff", [ids["o:far"]]),
    )
    return cast


def build(session: Session) -> Cast:
    """Write the centers, the accounts and the referrals of the table above."""
    cast = build_cast(session)
    a, b, near, far = cast.sender_a, cast.sender_b, cast.near_staff, cast.far_staff

    old = make_referral(session, a, datetime(2026, 8, 3, 9, 0))
    accept_offer(session, open_offer(session, old), near, date(2026, 8, 4), now=datetime(2026, 8, 3, 9, 20))

    r1 = make_referral(session, a, datetime(2026, 12, 1, 10, 0), timedelta(minutes=5))
    decline_offer(session, open_offer(session, r1), near, "No bed available.", now=datetime(2026, 12, 1, 10, 35))
    accept_offer(session, open_offer(session, r1), far, date(2026, 12, 3), now=datetime(2026, 12, 1, 12, 5))

    r5 = make_referral(session, a, datetime(2026, 12, 2, 9, 0))
    decline_offer(session, open_offer(session, r5), near, "no bed  available", now=datetime(2026, 12, 2, 9, 30))
    decline_offer(session, open_offer(session, r5), far, PERSONAL_REASON, now=datetime(2026, 12, 2, 10, 0))

    r2 = make_referral(session, a, datetime(2026, 12, 8, 9, 0), timedelta(minutes=1))
    accept_offer(session, open_offer(session, r2), near, date(2026, 12, 8), now=datetime(2026, 12, 8, 9, 10))

    make_referral(session, b, datetime(2026, 12, 8, 10, 0), location="99501")

    r6 = make_referral(session, b, datetime(2026, 12, 8, 14, 0), timedelta(minutes=2))
    decline_offer(session, open_offer(session, r6), near, "NO BED AVAILABLE (by phone)", now=datetime(2026, 12, 8, 15))

    make_referral(session, a, datetime(2026, 12, 9, 8, 0))
    statuses = dict(session.execute(select(Referral.id, Referral.status)).all())
    found = (statuses[r1], statuses[r5], statuses[r2], statuses[r6])
    # No naltrexone program is near: once detox is accepted, the referral is unplaced for that step.
    assert found == ("unplaced", "unplaced", "unplaced", "offered"), found
    return cast
