"""Referrals for alcohol, opioids or both on a real database: the intake's rules (intakes without
use_disorders still work), and routing that prefers a detox covering the substances, with the plan saying so."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.referrals.intake import IntakeInvalid, validate_intake
from directory.referrals.service import accept_offer, route_referral, submit_referral
from directory.routing.rules import FLAG_CONFIRM_OPIOID_FREE, FLAG_OVERDOSE_RISK
from directory.search.geocoding import OfflineGeocoder
from tests.factories import add_centers, center_record, make_user
from tests.referrals.test_lifecycle import intake_data

NOW = datetime(2026, 11, 20, 12, 0)
#: An intake for alcohol alone, in the shape of the current API: no opioid facts.
ALCOHOL = {"use_disorders": ["alcohol"], "recent_opioid_use": "no", "primary_opioid": None, "last_opioid_use": None}


def validate(**overrides):
    """test_lifecycle's intake (heroin), without `alcohol_use_disorder` unless given; None leaves a field out."""
    data = intake_data(**{"alcohol_use_disorder": None, **overrides})
    data = {name: value for name, value in data.items() if value is not None}
    return validate_intake(data, OfflineGeocoder(), NOW)


def submit(session, user, **overrides):
    return submit_referral(session, validate(**overrides), user, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "alcohol", "opioids"),
    [
        ({}, False, True),  # no use_disorders: a primary opioid means opioids
        ({"alcohol_use_disorder": True}, True, True),  # ... and alcohol too: both
        ({"use_disorders": ["opioids"]}, False, True),
        ({"use_disorders": ["alcohol", "opioids"]}, True, True),
        ({"use_disorders": "alcohol,opioids", "alcohol_use_disorder": "true"}, True, True),
        (ALCOHOL, True, False),
        # No use_disorders, alcohol alone: alcohol_use_disorder true and no primary opioid.
        ({**ALCOHOL, "use_disorders": None, "alcohol_use_disorder": True}, True, False),
    ],
)
def test_what_the_referral_is_for(overrides, alcohol, opioids):
    intake = validate(**overrides)
    assert (intake.alcohol_use_disorder, intake.opioid_use_disorder) == (alcohol, opioids)
    if opioids:
        assert intake.primary_opioid == "heroin" and intake.last_opioid_use == datetime(2026, 11, 19, 22, 0)
        assert intake.recent_opioid_use is None


def test_alcohol_alone_keeps_opioid_facts_only_when_opioid_use_is_not_ruled_out():
    long_ago = {"primary_opioid": "oxycodone", "last_opioid_use": "2026-09-01T10:00:00Z"}
    ruled_out = validate(**{**ALCOHOL, **long_ago})
    assert (ruled_out.recent_opioid_use, ruled_out.primary_opioid, ruled_out.last_opioid_use) == ("no", None, None)
    recent = validate(**{**ALCOHOL, "recent_opioid_use": "yes", "last_opioid_use": "2026-11-15T10:00:00Z"})
    assert (recent.primary_opioid, recent.last_opioid_use) == (None, datetime(2026, 11, 15, 10, 0))
    unknown = validate(**{**ALCOHOL, "recent_opioid_use": "unknown"})
    assert (unknown.recent_opioid_use, unknown.last_opioid_use) == ("unknown", None)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"primary_opioid": None}, "use_disorders", "Required: the use disorders the referral is for; accepted"),
        ({"use_disorders": ["cannabis"]}, "use_disorders", "Unknown 'cannabis'; accepted: alcohol, opioids"),
        ({"use_disorders": []}, "use_disorders", "Name at least one: alcohol, opioids, or both."),
        ({"use_disorders": 3}, "use_disorders", "Must be a list of codes."),
        ({"use_disorders": ["opioids"], "primary_opioid": None}, "primary_opioid", "Required when the referral is"),
        ({"use_disorders": ["opioids"], "last_opioid_use": None}, "last_opioid_use", "Required: a date and time"),
        ({"use_disorders": ["alcohol", "opioids"], "primary_opioid": "kratom"}, "primary_opioid", "accepted: heroin"),
        ({"use_disorders": ["opioids"], "alcohol_use_disorder": True}, "alcohol_use_disorder", "does not name alcohol"),
        ({**ALCOHOL, "alcohol_use_disorder": False}, "alcohol_use_disorder", "but use_disorders names alcohol"),
        ({**ALCOHOL, "recent_opioid_use": None}, "recent_opioid_use", "Required when the referral is for alcohol"),
        ({**ALCOHOL, "recent_opioid_use": "maybe"}, "recent_opioid_use", "accepted: yes, no, unknown"),
        ({"recent_opioid_use": "sometimes"}, "recent_opioid_use", "accepted: yes, no, unknown"),
        (
            {**ALCOHOL, "last_opioid_use": "2026-11-18T08:00:00Z"},
            "recent_opioid_use",
            "Is no, but the last opioid use given is within the last 10 days",
        ),
        ({**ALCOHOL, "recent_opioid_use": "yes", "last_opioid_use": "soon"}, "last_opioid_use", "not a date and"),
    ],
)
def test_invalid_intakes_name_the_field_and_what_is_accepted(overrides, field, message):
    with pytest.raises(IntakeInvalid) as caught:
        validate(**overrides)
    assert message in " ".join(caught.value.fields[field]), caught.value.fields


@pytest.fixture
def staff(session):
    return make_user(session, "referral_staff")


def detox(name, lat, substances, **fields):
    values = dict(
        name=name,
        latitude=lat,
        levels_of_care=["medical_detox", "residential"],
        payment_options=["medicaid"],
        detox_substances=substances,
        detox_stay_days=6,
    )
    values.update(fields)
    return center_record(**values)


@pytest.fixture
def centers(session):
    add_centers(
        session,
        detox("Opioid Detox", 41.886, ["opioids"]),  # nearest
        detox("Silent Detox", 41.89, []),
        detox("Alcohol Detox", 41.92, ["alcohol"]),
        detox("Full Detox", 41.96, ["alcohol", "opioids", "benzodiazepines"]),  # farthest
        center_record(
            name="Naltrexone Clinic",
            latitude=41.90,
            levels_of_care=["outpatient"],
            payment_options=["medicaid"],
            medications=["naltrexone_oral"],
        ),
    )
    return {c.name: c for c in session.scalars(select(Center))}


def test_alcohol_alone_prefers_a_detox_covering_alcohol_and_carries_no_opioid_flag(session, staff, centers):
    referral = submit(session, staff, **ALCOHOL)
    assert route_referral(session, referral.id, now=NOW) == "offered"
    session.refresh(referral)
    plan = referral.plan
    assert plan["detox"]["center_name"] == "Alcohol Detox"
    assert "detox covers alcohol" in plan["detox"]["why"]
    assert plan["flags"] == [] and plan["earliest_naltrexone_start"] is None
    assert plan["naltrexone_program"]["earliest_start"] is None
    assert referral.primary_opioid is None and referral.last_opioid_use is None
    assert referral.use_disorders == ["alcohol"]

    center_user = make_user(session, "center_staff", [centers["Alcohol Detox"]])
    accept_offer(session, referral.offers[0].id, center_user, date(2026, 11, 23), now=NOW + timedelta(hours=1))
    session.refresh(referral)
    (naltrexone,) = [o for o in referral.offers if o.step == "naltrexone"]
    assert naltrexone.target_start == date(2026, 11, 29)  # no opioid window: the detox discharge (6-day stay)


def test_with_several_at_once_the_silent_detox_comes_after_and_says_to_call(session, staff, centers):
    from directory.referrals.service import Offering

    referral = submit(session, staff, **ALCOHOL)
    route_referral(session, referral.id, now=NOW, offering=Offering(at_once=4))
    session.refresh(referral)
    offered = [(o.center.name, o.why[1]) for o in sorted(referral.offers, key=lambda o: o.rank)]
    assert offered == [
        ("Alcohol Detox", "detox covers alcohol"),
        ("Full Detox", "detox covers alcohol"),
        ("Silent Detox", "detox substances not listed: call to confirm"),
        ("Opioid Detox", "detox does not list alcohol"),  # ranked last, not left out
    ]


def test_both_prefer_a_detox_covering_both_and_apply_the_opioid_rules(session, staff, centers):
    referral = submit(session, staff, use_disorders=["alcohol", "opioids"])
    route_referral(session, referral.id, now=NOW)
    session.refresh(referral)
    assert referral.plan["detox"]["center_name"] == "Full Detox"
    assert "detox covers alcohol and opioids" in referral.plan["detox"]["why"]
    assert referral.plan["flags"] == [FLAG_OVERDOSE_RISK]
    assert referral.plan["earliest_naltrexone_start"] == "2026-11-27"  # heroin at 22:00 on the 19th + 7 days


def test_opioids_alone_rank_as_before(session, staff, centers):
    referral = submit(session, staff)
    route_referral(session, referral.id, now=NOW)
    session.refresh(referral)
    assert referral.plan["detox"]["center_name"] == "Opioid Detox"  # the nearest: no substance preference
    assert not [reason for reason in referral.plan["detox"]["why"] if reason.startswith("detox ")]


@pytest.mark.parametrize(
    ("recent", "last_use", "earliest", "flags"),
    [
        ("yes", "2026-11-18T09:00:00Z", "2026-11-29", [FLAG_OVERDOSE_RISK]),  # opioid not named: 10 days
        ("unknown", None, None, [FLAG_OVERDOSE_RISK, FLAG_CONFIRM_OPIOID_FREE]),
    ],
)
def test_alcohol_alone_with_recent_opioid_use(session, staff, centers, recent, last_use, earliest, flags):
    referral = submit(session, staff, **{**ALCOHOL, "recent_opioid_use": recent, "last_opioid_use": last_use})
    assert route_referral(session, referral.id, now=NOW) == "offered"
    session.refresh(referral)
    assert referral.plan["flags"] == flags
    assert referral.plan["earliest_naltrexone_start"] == earliest
