"""Consent is checked at every step that shares a referral or creates an offer, not only at the first routing.

The referrals here give consent until the day after NOW; "later" is two days on, when it has lapsed.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from directory.models import Offer, Referral
from directory.referrals.service import (
    CONSENT_EXPIRED,
    Offering,
    ReferralError,
    accept_offer,
    consent_in_force,
    decline_offer,
    expire_offers,
    offer_next,
    route_referral,
    stop_lapsed_consents,
)
from tests.factories import add_centers, center_record, make_user
from tests.referrals.test_lifecycle import NOW, centers, staff, submit  # noqa: F401  (shared fixtures)

EXPIRES_ON = (NOW + timedelta(days=1)).date()
LATER = NOW + timedelta(days=2)
LONG = Offering(ttl=timedelta(days=5))  # offers still open when consent lapses


def consent_until(day: date) -> dict:
    return {"granted": True, "recipients": "Receiving treatment centers", "purpose": "Treatment referral",
            "expires_on": day.isoformat()}  # fmt: skip


@pytest.fixture
def referral(session, staff, centers):  # noqa: F811
    """Routed at NOW: detox offered to Near Detox, open for five days; consent until tomorrow."""
    submitted = submit(session, staff, consent=consent_until(EXPIRES_ON))
    assert route_referral(session, submitted.id, now=NOW, offering=LONG) == "offered"
    session.refresh(submitted)
    return submitted


def center_user(session, centers, name):  # noqa: F811
    return make_user(session, "center_staff", [centers[name]])


def offers(session, referral_id):
    return [
        (o.step, o.center.name, o.status)
        for o in session.scalars(select(Offer).where(Offer.referral_id == referral_id).order_by(Offer.id))
    ]


def assert_stopped_for_consent(session, referral):
    session.expire_all()
    stopped = session.get(Referral, referral.id)
    assert (stopped.status, stopped.status_reason) == ("needs_review", CONSENT_EXPIRED)
    assert stopped.timeline[-1].status == "referral:needs_review"
    assert "offered" not in [status for _, _, status in offers(session, referral.id)]


def test_consent_holds_through_the_day_it_expires_on(session, referral):
    assert consent_in_force(referral, NOW)
    assert consent_in_force(referral, NOW + timedelta(days=1, hours=11))  # still the 21st
    assert not consent_in_force(referral, LATER)


def test_a_decline_after_consent_expired_is_refused_and_offers_nobody_else(session, referral, centers):  # noqa: F811
    [offer] = referral.offers
    with pytest.raises(ReferralError, match="consent"):
        decline_offer(session, offer.id, center_user(session, centers, "Near Detox"), "No beds", now=LATER)
    assert offers(session, referral.id) == [("detox", "Near Detox", "withdrawn")]  # Far Detox is not asked
    assert_stopped_for_consent(session, referral)


def test_an_accept_after_consent_expired_is_refused(session, referral, centers):  # noqa: F811
    [offer] = referral.offers
    with pytest.raises(ReferralError, match="consent"):
        accept_offer(session, offer.id, center_user(session, centers, "Near Detox"), LATER.date(), now=LATER)
    assert offers(session, referral.id) == [("detox", "Near Detox", "withdrawn")]  # no naltrexone offer either
    assert_stopped_for_consent(session, referral)


def test_an_expiry_after_consent_expired_offers_nobody_else(session, staff, centers):  # noqa: F811
    referral = submit(session, staff, consent=consent_until(EXPIRES_ON))
    route_referral(session, referral.id, now=NOW)  # the offer's four hours end long before LATER
    assert expire_offers(session, now=LATER) == 1
    assert offers(session, referral.id) == [("detox", "Near Detox", "expired")]
    assert_stopped_for_consent(session, referral)


def test_no_naltrexone_offer_once_consent_expired_after_the_detox_acceptance(session, referral, centers):  # noqa: F811
    add_centers(
        session,
        center_record(name="Second Naltrexone Clinic", latitude=41.91, levels_of_care=["outpatient"],
                      payment_options=["medicaid"], medications=["naltrexone_injectable"]),
    )  # fmt: skip
    [detox] = referral.offers
    accept_offer(session, detox.id, center_user(session, centers, "Near Detox"), NOW.date(), now=NOW, offering=LONG)
    assert offers(session, referral.id)[-1] == ("naltrexone", "Naltrexone Clinic", "offered")
    naltrexone = session.scalars(select(Offer).where(Offer.step == "naltrexone")).one()

    # The clinic declines after consent lapsed: the second clinic is not asked.
    with pytest.raises(ReferralError, match="consent"):
        decline_offer(session, naltrexone.id, center_user(session, centers, "Naltrexone Clinic"), "Full", now=LATER)
    assert offers(session, referral.id) == [
        ("detox", "Near Detox", "accepted"),
        ("naltrexone", "Naltrexone Clinic", "withdrawn"),
    ]
    assert_stopped_for_consent(session, referral)

    # And asked directly for the next naltrexone program, the router offers none.
    session.expire_all()
    assert offer_next(session, session.get(Referral, referral.id), "naltrexone", now=LATER) == []
    session.commit()
    assert session.scalar(select(func.count()).select_from(Offer).where(Offer.step == "naltrexone")) == 1


def test_routing_after_consent_expired_stops_for_review(session, staff, centers):  # noqa: F811
    referral = submit(session, staff, consent=consent_until(EXPIRES_ON))
    assert route_referral(session, referral.id, now=LATER) == "needs_review"
    assert offers(session, referral.id) == []
    assert_stopped_for_consent(session, referral)


def test_the_sweep_stops_only_referrals_whose_consent_lapsed(session, referral, staff, centers):  # noqa: F811
    lasting = submit(session, staff, client_reference="CASE-2001")  # consent until 2027
    route_referral(session, lasting.id, now=NOW)
    assert stop_lapsed_consents(session, now=NOW) == 0
    assert stop_lapsed_consents(session, now=LATER) == 1
    assert_stopped_for_consent(session, referral)
    assert offers(session, lasting.id) == [("detox", "Near Detox", "offered")]
    assert stop_lapsed_consents(session, now=LATER) == 0  # stopped once
    session.expire_all()
    assert [e.status for e in session.get(Referral, referral.id).timeline].count("referral:needs_review") == 1


def test_the_sweep_withdraws_a_naltrexone_offer_after_the_detox_acceptance(session, referral, centers):  # noqa: F811
    [detox] = referral.offers
    accept_offer(session, detox.id, center_user(session, centers, "Near Detox"), NOW.date(), now=NOW, offering=LONG)
    assert stop_lapsed_consents(session, now=LATER) == 1
    assert offers(session, referral.id) == [
        ("detox", "Near Detox", "accepted"),
        ("naltrexone", "Naltrexone Clinic", "withdrawn"),
    ]
    assert_stopped_for_consent(session, referral)
