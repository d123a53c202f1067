"""The router's candidates: every center in reach, as plain data equal to what the listings say."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.referrals.intake import validate_intake
from directory.referrals.service import load_candidates, submit_referral
from directory.search.geocoding import OfflineGeocoder
from tests.factories import add_centers, center_record
from tests.referrals.test_lifecycle import NOW, intake_data


def expected(center: Center, distance_miles: float) -> dict:
    return {
        "center_id": center.id,
        "name": center.name,
        "distance_miles": pytest.approx(distance_miles),
        "phone": center.intake_phone or center.phone,
        **{kind: frozenset(getattr(center, kind)) for kind in ("levels_of_care", "payment_options", "medications",
                                                                 "languages", "populations")},
        "accepting_referrals": center.accepting_referrals,
        "beds_available": center.beds_available,
        "verified": center.is_verified(NOW),
        "detox_stay_days": center.detox_stay_days,
    }  # fmt: skip


@pytest.mark.parametrize(("place", "miles"), [("10001", 25), ("Denver, CO", 60), ("99950", 100)])
def test_candidates_are_the_listings_within_reach(seeded_session, place, miles):
    referral = submit_referral(
        seeded_session,
        validate_intake(intake_data(location=place, max_distance_miles=miles), OfflineGeocoder(), NOW),
        None,
        now=NOW,
    )
    candidates = load_candidates(seeded_session, referral, NOW)
    assert [c.distance_miles for c in candidates] == sorted(c.distance_miles for c in candidates)
    assert all(c.distance_miles <= miles for c in candidates)
    centers = {
        c.id: c for c in seeded_session.scalars(select(Center).where(Center.id.in_([c.center_id for c in candidates])))
    }
    assert [vars(c) for c in candidates] == [expected(centers[c.center_id], c.distance_miles) for c in candidates]


def test_a_center_without_attributes_is_a_candidate_with_none(session):
    add_centers(
        session,
        center_record(name="Bare", latitude=41.89, longitude=-87.62, levels_of_care=[], payment_options=[]),
        center_record(name="Verified", latitude=41.88, longitude=-87.63, last_verified_at=datetime(2026, 10, 1),
                      languages=["es", "asl"], intake_phone="(312) 555-0111"),
    )  # fmt: skip
    referral = submit_referral(session, validate_intake(intake_data(), OfflineGeocoder(), NOW), None, now=NOW)
    bare, verified = sorted(load_candidates(session, referral, NOW), key=lambda c: c.name)
    assert (bare.levels_of_care, bare.payment_options, bare.languages, bare.verified) == (frozenset(),) * 3 + (False,)
    assert (verified.languages, verified.verified, verified.phone) == (frozenset({"es", "asl"}), True, "(312) 555-0111")
