"""Router rules as a table of cases: windows, liver flag, pain therapy, interactions, payment,
distance, capacity, continuity, no candidates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from directory.routing.ranking import Candidate, Needs, partial_matches, rank_detox, rank_naltrexone
from directory.routing.rules import (
    FLAG_LIVER_TESTS,
    FLAG_OVERDOSE_RISK,
    ClinicalFacts,
    assess,
    earliest_naltrexone_start,
    explain_earliest_start,
    opioid_free_window_days,
    target_naltrexone_start,
)

MONDAY_9AM = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("opioid", "days"),
    [
        ("heroin", 7),
        ("oxycodone", 7),
        ("hydrocodone", 7),
        ("morphine", 7),
        ("methadone", 10),
        ("buprenorphine", 10),
        ("fentanyl", 10),
        ("other", 10),
        ("unknown", 10),
    ],
)
def test_opioid_free_window(opioid, days):
    assert opioid_free_window_days(opioid) == days


@pytest.mark.parametrize(
    ("last_use", "opioid", "earliest"),
    [
        (MONDAY_9AM, "heroin", date(2026, 11, 24)),  # +7 days at 09:00 -> the next day is the first full day
        (MONDAY_9AM, "fentanyl", date(2026, 11, 27)),
        (datetime(2026, 11, 16, 0, 0, tzinfo=UTC), "oxycodone", date(2026, 11, 23)),  # exactly midnight
        (datetime(2026, 11, 16, 0, 0), "methadone", date(2026, 11, 26)),  # naive times work too
    ],
)
def test_earliest_naltrexone_start_never_shortens_the_window(last_use, opioid, earliest):
    assert earliest_naltrexone_start(last_use, opioid) == earliest


BOSTON = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("last_use_utc", "opioid", "zone", "earliest"),
    [
        # 21:00 in Boston (02:00 UTC the next day): the 13th where the referrer is; in UTC it would be the 14th.
        (datetime(2025, 12, 6, 2, 0), "heroin", BOSTON, date(2025, 12, 13)),
        (datetime(2025, 12, 6, 2, 0), "heroin", UTC, date(2025, 12, 14)),
        # 23:30 on 2 Mar in Boston; the clocks go forward on 8 Mar, so 7 x 24 hours later it is 00:30 on the
        # 10th there: the 10th is not a whole day, naltrexone waits for the 11th (wall-clock sums would say the 10th).
        (datetime(2026, 3, 3, 4, 30), "heroin", BOSTON, date(2026, 3, 11)),
        # Exactly midnight in Boston, 7 days on.
        (datetime(2025, 12, 5, 5, 0), "morphine", BOSTON, date(2025, 12, 12)),
    ],
)
def test_the_earliest_start_is_a_whole_day_in_the_referrers_zone(last_use_utc, opioid, zone, earliest):
    assert earliest_naltrexone_start(last_use_utc, opioid, zone) == earliest
    assert assess(facts(primary_opioid=opioid, last_opioid_use=last_use_utc, zone=zone)).earliest_start == earliest


@pytest.mark.parametrize(
    ("opioid", "zone", "explained"),
    [
        ("heroin", BOSTON, "Last opioid use 5 Dec 07:51 + 7 days (short-acting opioid): from 13 Dec"),
        ("heroin", UTC, "Last opioid use 5 Dec 12:51 + 7 days (short-acting opioid): from 13 Dec"),
        ("methadone", BOSTON, "Last opioid use 5 Dec 07:51 + 10 days (long-acting opioid): from 16 Dec"),
        ("fentanyl", BOSTON, "Last opioid use 5 Dec 07:51 + 10 days (fentanyl): from 16 Dec"),
        ("unknown", BOSTON, "Last opioid use 5 Dec 07:51 + 10 days (opioid not known): from 16 Dec"),
    ],
)
def test_the_plan_explains_the_earliest_start_in_the_referrers_time(opioid, zone, explained):
    assert explain_earliest_start(datetime(2025, 12, 5, 12, 51), opioid, zone) == explained


def test_unknown_opioid_is_refused():
    with pytest.raises(ValueError, match="accepted: heroin"):
        opioid_free_window_days("kratom")


def facts(**overrides):
    values = dict(primary_opioid="heroin", last_opioid_use=MONDAY_9AM, liver_disease="no", on_opioid_pain_therapy=False)
    values.update(overrides)
    return ClinicalFacts(**values)


@pytest.mark.parametrize(
    ("overrides", "routable", "flags"),
    [
        ({}, True, ()),
        ({"liver_disease": "yes"}, True, (FLAG_LIVER_TESTS,)),
        ({"liver_disease": "unknown"}, True, (FLAG_LIVER_TESTS,)),
        (
            {"interacting_medications": ("disulfiram", "alcohol")},
            True,
            ("interaction:alcohol", "interaction:disulfiram"),
        ),
        (
            {"liver_disease": "unknown", "interacting_medications": ("thioridazine",)},
            True,
            (FLAG_LIVER_TESTS, "interaction:thioridazine"),
        ),
        ({"on_opioid_pain_therapy": True}, False, ()),
    ],
)
def test_assessment(overrides, routable, flags):
    result = assess(facts(**overrides))
    assert result.routable is routable
    assert result.flags == (*flags, FLAG_OVERDOSE_RISK)  # every plan involving opioids
    if routable:
        assert result.review_reason is None
        assert result.earliest_start == date(2026, 11, 24)
    else:
        assert "opioid pain medication" in result.review_reason
        assert result.earliest_start is None


@pytest.mark.parametrize(
    ("earliest", "admission", "stay", "target"),
    [
        (date(2026, 11, 24), date(2026, 11, 17), 5, date(2026, 11, 24)),  # window ends after discharge
        (date(2026, 11, 24), date(2026, 11, 22), 7, date(2026, 11, 29)),  # discharge ends after window
        (date(2026, 11, 24), date(2026, 11, 22), None, date(2026, 11, 27)),  # default 5-day stay
    ],
)
def test_target_start_is_after_window_and_discharge(earliest, admission, stay, target):
    assert target_naltrexone_start(earliest, admission, stay) == target


def center(center_id, distance, **fields):
    values = dict(
        name=f"Center {center_id}",
        distance_miles=distance,
        levels_of_care=frozenset({"medical_detox"}),
        payment_options=frozenset({"medicaid"}),
    )
    for key, value in fields.items():
        values[key] = frozenset(value) if isinstance(value, set) else value
    return Candidate(center_id=center_id, **values)


NEEDS = Needs(payment="medicaid", max_distance_miles=50)


@pytest.mark.parametrize(
    ("candidates", "needs", "expected"),
    [
        # Payment: a center not taking Medicaid is left out.
        ([center(1, 3, payment_options={"self_pay"}), center(2, 8)], NEEDS, [2]),
        # Distance: beyond the limit is left out.
        ([center(1, 60), center(2, 40)], NEEDS, [2]),
        # Capacity: not accepting referrals, or zero beds, is left out; unknown beds is fine.
        ([center(1, 2, accepting_referrals=False), center(2, 3, beds_available=0), center(3, 4)], NEEDS, [3]),
        # Only medical detox counts for the detox step.
        ([center(1, 2, levels_of_care={"outpatient_detox"}), center(2, 9)], NEEDS, [2]),
        # Unknown availability (an imported listing) is a candidate, after every center saying yes,
        # continuity and nearness included.
        (
            [center(1, 2, accepting_referrals=None, medications={"naltrexone_oral"}), center(2, 45), center(3, 1)],
            NEEDS,
            [3, 2, 1],
        ),
        # Continuity: a detox center that also offers naltrexone comes first, even if farther.
        ([center(1, 2), center(2, 30, medications={"naltrexone_injectable"})], NEEDS, [2, 1]),
        # Within one 10-mile band, reported beds and a confirmed listing come before nearness.
        ([center(1, 2), center(2, 6, beds_available=3), center(3, 7, verified=True)], NEEDS, [2, 3, 1]),
        # Language fit counts within a band.
        (
            [center(1, 2), center(2, 5, languages={"es"})],
            Needs(payment="medicaid", max_distance_miles=50, language="es"),
            [2, 1],
        ),
        # No candidates.
        ([center(1, 70), center(2, 3, payment_options={"private_insurance"})], NEEDS, []),
    ],
)
def test_detox_ranking(candidates, needs, expected):
    assert [r.candidate.center_id for r in rank_detox(candidates, needs)] == expected


def test_detox_ranking_is_explained():
    ranked = rank_detox([center(1, 4.26, medications={"naltrexone_oral"}, verified=True, beds_available=2)], NEEDS)
    why = ranked[0].why
    assert why[0] == "offers medical detox"
    assert "also offers naltrexone: one center for both steps" in why
    assert "4.3 miles away" in why and "takes Medicaid" in why
    assert "2 beds reported available" in why and "listing confirmed by the center" in why


def test_reasons_name_payment_language_and_populations_by_their_labels():
    needs = Needs(payment="private_insurance", max_distance_miles=50, language="es", populations=("veterans", "lgbtq"))
    fits = center(1, 3, payment_options={"private_insurance"}, languages={"es"}, populations={"veterans", "lgbtq"})
    why = rank_detox([fits], needs)[0].why
    assert "takes Private health insurance" in why and "serves Spanish" in why
    assert "serves Veterans; Lesbian, gay, bisexual, transgender or queer clients" in why
    other = center(2, 3, payment_options={"private_insurance"}, languages={"asl"})
    assert "no Spanish listed" in rank_detox([other], needs)[0].why
    assert partial_matches([center(3, 3)], needs)[0].why == ("does not list Private health insurance",)


def test_naltrexone_ranking_prefers_continuity_then_counseling():
    programs = [
        center(1, 1, levels_of_care=set(), medications={"naltrexone_oral"}),
        center(2, 9, levels_of_care={"outpatient"}, medications={"naltrexone_injectable"}),
        center(3, 20, levels_of_care={"medical_detox"}, medications={"naltrexone_oral"}),
        center(4, 2, levels_of_care={"outpatient"}),  # no naltrexone
    ]
    ranked = rank_naltrexone(programs, NEEDS, detox_center_id=3)
    assert [r.candidate.center_id for r in ranked] == [3, 2, 1]
    assert "same center as the detox step" in ranked[0].why
    assert "offers counseling alongside (outpatient or residential)" in ranked[1].why
    assert ranked[1].why[0] == "offers naltrexone (injectable)"
    programs[1] = center(
        2, 9, levels_of_care={"outpatient"}, medications={"naltrexone_injectable"}, accepting_referrals=None
    )
    ranked = rank_naltrexone(programs, NEEDS, detox_center_id=3)
    assert [r.candidate.center_id for r in ranked] == [3, 1, 2]
    assert "has not said whether it is accepting referrals" in ranked[2].why


def test_partial_matches_say_what_is_missing():
    candidates = [
        center(1, 3, payment_options={"self_pay"}),
        center(2, 80),
        center(3, 5, accepting_referrals=False),
        center(4, 1, levels_of_care={"outpatient"}),  # neither detox nor naltrexone: not a partial match
    ]
    partial = partial_matches(candidates, NEEDS)
    assert [(r.candidate.center_id, r.why) for r in partial] == [
        (1, ("does not list Medicaid",)),
        (3, ("not accepting referrals",)),
        (2, ("80.0 miles away, beyond 50",)),
    ]
