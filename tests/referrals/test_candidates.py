"""The router's candidates: every center in reach that could take a step of the pathway, as plain data equal to
what the listings say."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.referrals.intake import validate_intake
from directory.referrals.service import load_candidates, submit_referral
from directory.routing.ranking import STEP_CODES
from directory.search.geocoding import OfflineGeocoder, Place
from directory.search.service import SearchQuery
from tests.factories import add_centers, center_record
from tests.referrals.test_lifecycle import NOW, intake_data
from tests.search.test_service import matching_center_distances


def expected(center: Center, distance_miles: float) -> dict:
    return {
        "center_id": center.id,
        "name": center.name,
        "distance_miles": pytest.approx(distance_miles),
        "phone": center.intake_phone or center.phone,
        **{kind: frozenset(getattr(center, kind)) for kind in ("levels_of_care", "detox_substances",
                                                                 "payment_options", "medications", "languages",
                                                                 "populations")},
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
    origin = Place(referral.location, referral.latitude, referral.longitude)
    in_reach, _ = matching_center_distances(seeded_session, SearchQuery(origin, miles), now=NOW)
    takes_a_step = {
        center.id
        for center in seeded_session.scalars(select(Center).where(Center.id.in_(in_reach)))
        if any(set(getattr(center, kind)) & codes for kind, codes in STEP_CODES.items())
    }
    assert candidates and len(takes_a_step) < len(in_reach)
    assert {c.center_id for c in candidates} == takes_a_step
    assert [c.distance_miles for c in candidates] == sorted(c.distance_miles for c in candidates)
    assert all(c.distance_miles <= miles for c in candidates)
    centers = {
        c.id: c for c in seeded_session.scalars(select(Center).where(Center.id.in_([c.center_id for c in candidates])))
    }
    assert [vars(c) for c in candidates] == [expected(centers[c.center_id], c.distance_miles) for c in candidates]


def test_only_centers_offering_detox_or_naltrexone_are_candidates_with_empty_kinds_as_none(session):
    add_centers(
        session,
        center_record(name="Bare", latitude=41.89, longitude=-87.62, levels_of_care=[], payment_options=[]),
        center_record(name="Outpatient", latitude=41.89, longitude=-87.62, medications=["buprenorphine"]),
        center_record(name="Detox", latitude=41.89, longitude=-87.62, levels_of_care=["medical_detox"],
                      payment_options=[]),
        center_record(name="Naltrexone", latitude=41.88, longitude=-87.63, levels_of_care=[],
                      medications=["naltrexone_injectable"], last_verified_at=datetime(2026, 10, 1),
                      languages=["es", "asl"], intake_phone="(312) 555-0111"),
    )  # fmt: skip
    referral = submit_referral(session, validate_intake(intake_data(), OfflineGeocoder(), NOW), None, now=NOW)
    detox, naltrexone = sorted(load_candidates(session, referral, NOW), key=lambda c: c.name)
    assert (detox.name, detox.payment_options, detox.medications, detox.languages, detox.verified) == (
        "Detox",
        frozenset(),
        frozenset(),
        frozenset(),
        False,
    )
    assert (naltrexone.levels_of_care, naltrexone.languages, naltrexone.verified, naltrexone.phone) == (
        frozenset(),
        frozenset({"es", "asl"}),
        True,
        "(312) 555-0111",
    )
