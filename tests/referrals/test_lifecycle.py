"""Referral lifecycle on a real database: intake, routing, offers, answers, expiry, cancellation."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import Center, Offer, OfferStatus, OutboxMessage, Referral
from directory.models.base import utcnow
from directory.referrals.intake import IntakeInvalid, validate_intake
from directory.referrals.service import (
    ReferralError,
    accept_offer,
    cancel_referral,
    decline_offer,
    expire_offers,
    record_follow_up,
    revoke_consent,
    route_referral,
    submit_referral,
)
from directory.search.geocoding import OfflineGeocoder
from tests.factories import add_centers, center_record, make_user

NOW = datetime(2026, 11, 20, 12, 0)


def intake_data(**overrides):
    data = {
        "client_reference": "CASE-1042",
        "location": "60601",
        "max_distance_miles": 50,
        "payment": "medicaid",
        "primary_opioid": "heroin",
        "last_opioid_use": "2026-11-19T22:00:00Z",
        "liver_disease": "no",
        "on_opioid_pain_therapy": False,
        "interacting_medications": [],
        "alcohol_use_disorder": False,
        "consent": {"granted": True, "recipients": "Receiving treatment centers", "purpose": "Treatment referral",
                    "expires_on": "2027-05-20"},
    }  # fmt: skip
    data.update(overrides)
    return data


def submit(session, user, **overrides):
    return submit_referral(session, validate_intake(intake_data(**overrides), OfflineGeocoder(), NOW), user, now=NOW)


def detox(name, lat=41.89, **fields):
    values = dict(
        name=name, latitude=lat, levels_of_care=["medical_detox", "residential"], payment_options=["medicaid"]
    )
    values.update(fields)
    return center_record(**values)


@pytest.fixture
def staff(session):
    return make_user(session, "referral_staff")


@pytest.fixture
def centers(session):
    add_centers(
        session,
        detox("Near Detox", 41.89, detox_stay_days=5),
        detox("Far Detox", 41.95),
        center_record(
            name="Naltrexone Clinic",
            latitude=41.90,
            levels_of_care=["outpatient"],
            payment_options=["medicaid"],
            medications=["naltrexone_injectable"],
        ),  # fmt: skip
    )
    return {c.name: c for c in session.scalars(select(Center))}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"client_reference": ""}, "client_reference", "Required"),
        ({"client_reference": "x" * 65}, "client_reference", "At most 64"),
        ({"location": "nowhere at all"}, "location", "could not find a town called"),
        ({"location": "60601 somewhere, IL, US"}, "location", "could not understand"),
        ({"payment": "bitcoin"}, "payment", "Unknown value 'bitcoin'"),
        ({"primary_opioid": "kratom"}, "primary_opioid", "accepted: heroin"),
        ({"last_opioid_use": "2026-12-01T00:00:00Z"}, "last_opioid_use", "in the future"),
        ({"last_opioid_use": "yesterday"}, "last_opioid_use", "not a date and time"),
        ({"liver_disease": "maybe"}, "liver_disease", "accepted: yes, no, unknown"),
        ({"on_opioid_pain_therapy": None}, "on_opioid_pain_therapy", "Required"),
        ({"interacting_medications": ["aspirin"]}, "interacting_medications", "Unknown 'aspirin'"),
        ({"max_distance_miles": 900}, "max_distance_miles", "1 to 500"),
        ({"consent": None}, "consent", "Required"),
        (
            {"consent": {"granted": False, "recipients": "x", "purpose": "y", "expires_on": "2027-01-01"}},
            "consent",
            "must be granted",
        ),  # fmt: skip
        (
            {"consent": {"granted": True, "recipients": "x", "purpose": "y", "expires_on": "2026-11-01"}},
            "consent",
            "expired on 2026-11-01",
        ),  # fmt: skip
        ({"full_name": "Jane Doe"}, "(body)", "Unknown fields full_name"),
    ],
)
def test_invalid_intakes_name_the_field(overrides, field, message):
    with pytest.raises(IntakeInvalid) as caught:
        validate_intake(intake_data(**overrides), OfflineGeocoder(), NOW)
    assert message in " ".join(caught.value.fields[field])


def test_submit_writes_referral_timeline_and_outbox_in_one_go(session, staff):
    referral = submit(session, staff)
    assert referral.status == "received"
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert [e.status for e in referral.timeline] == ["referral:received"]


def test_routing_offers_detox_and_plans_naltrexone(session, staff, centers):
    referral = submit(session, staff, liver_disease="unknown", interacting_medications=["alcohol"])
    assert route_referral(session, referral.id, now=NOW) == "offered"
    session.refresh(referral)
    plan = referral.plan
    assert plan["detox"]["center_name"] == "Near Detox"
    assert plan["detox"]["offer_status"] == "offered"
    assert plan["naltrexone_program"]["center_name"] == "Naltrexone Clinic"
    assert plan["naltrexone_program"]["earliest_start"] == "2026-11-27"  # 7 days after 22:00 on the 19th -> the 27th
    assert plan["flags"] == ["baseline_liver_tests_required", "interaction:alcohol", "overdose_risk_after_detox"]
    assert "not medical advice" in plan["disclaimer"]
    assert [(o.step, o.center.name, o.status) for o in referral.offers] == [("detox", "Near Detox", "offered")]


def test_routing_twice_makes_no_duplicate_offer(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    route_referral(session, referral.id, now=NOW)
    assert session.scalar(select(func.count()).select_from(Offer)) == 1


def test_pain_therapy_goes_to_review(session, staff, centers):
    referral = submit(session, staff, on_opioid_pain_therapy=True)
    assert route_referral(session, referral.id, now=NOW) == "needs_review"
    session.refresh(referral)
    assert "opioid pain medication" in referral.status_reason
    assert referral.offers == []


def test_no_candidate_is_unplaced_with_partial_matches(session, staff, centers):
    referral = submit(session, staff, payment="private_insurance")
    assert route_referral(session, referral.id, now=NOW) == "unplaced"
    session.refresh(referral)
    assert {m["center_name"] for m in referral.plan["partial_matches"]} >= {"Near Detox", "Far Detox"}
    assert "does not list Private health insurance" in referral.plan["partial_matches"][0]["missing"]


def test_accept_then_naltrexone_offer_with_target_start(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    center_user = make_user(session, "center_staff", [centers["Near Detox"]])
    offer = referral.offers[0]
    accept_offer(session, offer.id, center_user, date(2026, 11, 24), now=NOW + timedelta(hours=1))
    session.refresh(referral)
    assert referral.status == "accepted"
    naltrexone = [o for o in referral.offers if o.step == "naltrexone"]
    assert [o.center.name for o in naltrexone] == ["Naltrexone Clinic"]
    # earliest 2026-11-27; detox admission 11-24 + 5-day stay = 11-29: the later wins.
    assert naltrexone[0].target_start == date(2026, 11, 29)
    assert referral.plan["naltrexone_program"]["target_start"] == "2026-11-29"


def test_decline_moves_to_next_and_last_decline_is_unplaced(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    someone = make_user(session, "admin")
    with pytest.raises(ReferralError, match="reason"):
        decline_offer(session, referral.offers[0].id, someone, "  ", now=NOW)
    decline_offer(session, referral.offers[0].id, someone, "No beds tonight", now=NOW)
    session.refresh(referral)
    assert [(o.center.name, o.status) for o in referral.offers] == [
        ("Near Detox", "declined"),
        ("Far Detox", "offered"),
    ]
    decline_offer(session, referral.offers[1].id, someone, "Not taking Medicaid this month", now=NOW)
    session.refresh(referral)
    assert referral.status == "unplaced"


def test_expired_offer_moves_on_and_cannot_be_accepted(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    first = referral.offers[0].id
    assert expire_offers(session, now=NOW + timedelta(hours=3)) == 0
    assert expire_offers(session, now=NOW + timedelta(hours=5)) == 1
    center_user = make_user(session, "center_staff", [centers["Near Detox"]])
    with pytest.raises(ReferralError, match="expired"):
        accept_offer(session, first, center_user, date(2026, 11, 24), now=NOW + timedelta(hours=5))
    session.refresh(referral)
    assert [o.status for o in referral.offers] == ["expired", "offered"]


def test_concurrent_accepts_exactly_one_wins(app, session, staff, centers):
    from directory.extensions import db

    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    offer_id = referral.offers[0].id
    user_id = make_user(session, "admin").id
    results = []

    def try_accept():
        with app.app_context():
            own = Session(db.engine)
            from directory.models import User

            try:
                accept_offer(own, offer_id, own.get(User, user_id), date(2026, 11, 24), now=NOW)
                results.append("won")
            except ReferralError:
                results.append("lost")
            except Exception as error:  # SQLite may refuse a concurrent writer: that is a loss too
                results.append(f"lost:{type(error).__name__}")
                own.rollback()
            finally:
                own.close()

    threads = [threading.Thread(target=try_accept) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("won") == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Offer).where(Offer.step == "naltrexone")) == 1


def test_cancel_and_revoke_withdraw_open_offers(session, staff, centers):
    first = submit(session, staff)
    route_referral(session, first.id, now=NOW)
    cancel_referral(session, first.id, staff, "Found a bed elsewhere", now=NOW)
    session.refresh(first)
    assert first.status == "cancelled" and first.offers[0].status == "withdrawn"
    second = submit(session, staff)
    route_referral(session, second.id, now=NOW)
    revoke_consent(session, second.id, staff, now=NOW)
    session.refresh(second)
    assert second.status == "cancelled" and second.status_reason == "Consent revoked."
    assert second.offers[0].status == "withdrawn"
    with pytest.raises(ReferralError):
        accept_offer(session, second.offers[0].id, staff, date(2026, 11, 24), now=NOW)


def test_follow_up_admitted_and_completed(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    center_user = make_user(session, "center_staff", [centers["Near Detox"]])
    offer_id = referral.offers[0].id
    with pytest.raises(ReferralError):
        record_follow_up(session, offer_id, center_user, OfferStatus.ADMITTED, now=NOW)  # not accepted yet
    accept_offer(session, offer_id, center_user, date(2026, 11, 24), now=NOW)
    record_follow_up(session, offer_id, center_user, OfferStatus.ADMITTED, now=NOW)
    session.refresh(referral)
    assert referral.status == "in_progress"
    timeline = [e.status for e in referral.timeline]
    assert timeline[0] == "referral:received" and "offer:detox:admitted" in timeline
    assert all(e.by_label for e in referral.timeline)


def test_routing_respects_utc_now_default(session, staff, centers):
    referral = session.get(Referral, submit(session, staff).id)
    assert route_referral(session, referral.id) in ("offered",)
    assert referral.offers[0].expires_at > utcnow()


def test_outbox_resends_unsent_and_stale_rows_only(session, staff, centers):
    from directory.referrals.service import mark_dispatched, pending_outbox

    referral = submit(session, staff)
    (message,) = pending_outbox(session, now=NOW)
    mark_dispatched(session, [message.id], now=NOW)
    assert pending_outbox(session, now=NOW + timedelta(minutes=1)) == []
    # Sent, but still not routed two minutes later (a worker died holding it): send again.
    assert [m.id for m in pending_outbox(session, now=NOW + timedelta(minutes=3))] == [message.id]
    route_referral(session, referral.id, now=NOW)
    assert pending_outbox(session, now=NOW + timedelta(minutes=10)) == []
