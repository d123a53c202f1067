"""The alcohol pathway's rules and ranking: which plans carry the opioid window and the overdose flag,
and detox ranked by the substances it covers (preferred, never required)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from directory.routing.ranking import Candidate, Needs, preferred_detox_substances, rank_detox
from directory.routing.rules import (
    FLAG_CONFIRM_OPIOID_FREE,
    FLAG_LIVER_TESTS,
    FLAG_OVERDOSE_RISK,
    ClinicalFacts,
    assess,
    target_naltrexone_start,
)

MONDAY_9AM = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def alcohol_only(recent, **overrides):
    values = dict(
        primary_opioid=None,
        last_opioid_use=None,
        liver_disease="no",
        on_opioid_pain_therapy=False,
        alcohol_use_disorder=True,
        opioid_use_disorder=False,
        recent_opioid_use=recent,
    )
    values.update(overrides)
    return ClinicalFacts(**values)


@pytest.mark.parametrize(
    ("facts", "earliest", "flags"),
    [
        # No opioids in the last 10 days: no window, no overdose flag.
        (alcohol_only("no"), None, ()),
        # Recent use with its date: the window of the opioid named, or 10 days when none is.
        (alcohol_only("yes", last_opioid_use=MONDAY_9AM), date(2026, 11, 27), (FLAG_OVERDOSE_RISK,)),
        (
            alcohol_only("yes", last_opioid_use=MONDAY_9AM, primary_opioid="heroin"),
            date(2026, 11, 24),
            (FLAG_OVERDOSE_RISK,),
        ),
        (alcohol_only("unknown", last_opioid_use=MONDAY_9AM), date(2026, 11, 27), (FLAG_OVERDOSE_RISK,)),
        # Recent use not ruled out and no date: no window to count, a clinician confirms.
        (alcohol_only("yes"), None, (FLAG_OVERDOSE_RISK, FLAG_CONFIRM_OPIOID_FREE)),
        (alcohol_only("unknown"), None, (FLAG_OVERDOSE_RISK, FLAG_CONFIRM_OPIOID_FREE)),
        # Both: the opioid rules, unchanged.
        (
            alcohol_only(None, opioid_use_disorder=True, primary_opioid="methadone", last_opioid_use=MONDAY_9AM),
            date(2026, 11, 27),
            (FLAG_OVERDOSE_RISK,),
        ),
        # Other flags stay in their places.
        (alcohol_only("no", liver_disease="unknown"), None, (FLAG_LIVER_TESTS,)),
    ],
)
def test_alcohol_assessment(facts, earliest, flags):
    result = assess(facts)
    assert result.routable and result.review_reason is None
    assert result.earliest_start == earliest
    assert result.flags == flags


def test_opioid_pain_medication_still_needs_review_for_alcohol_alone():
    result = assess(alcohol_only("no", on_opioid_pain_therapy=True))
    assert not result.routable and "opioid pain medication" in result.review_reason
    assert FLAG_OVERDOSE_RISK not in result.flags


def test_without_an_opioid_window_the_target_start_is_the_detox_discharge():
    assert target_naltrexone_start(None, date(2026, 11, 20), 7) == date(2026, 11, 27)
    assert target_naltrexone_start(None, date(2026, 11, 20), None) == date(2026, 11, 25)


@pytest.mark.parametrize(
    ("alcohol", "opioids", "preferred"),
    [(True, False, ("alcohol",)), (True, True, ("alcohol", "opioids")), (False, True, ())],
)
def test_what_the_detox_should_cover(alcohol, opioids, preferred):
    assert preferred_detox_substances(alcohol, opioids) == preferred


def detox(center_id, distance, substances=(), **fields):
    return Candidate(
        center_id=center_id,
        name=f"Center {center_id}",
        distance_miles=distance,
        levels_of_care=frozenset({"medical_detox"}),
        payment_options=frozenset({"medicaid"}),
        detox_substances=frozenset(substances),
        **fields,
    )


def needs(*substances):
    return Needs(payment="medicaid", max_distance_miles=50, detox_substances=substances)


# 1: opioids only; 2: says nothing; 3: alcohol only; 4: both; nearest first.
CENTERS = [
    detox(1, 1, {"opioids"}),
    detox(2, 2),
    detox(3, 3, {"alcohol", "benzodiazepines"}),
    detox(4, 4, {"alcohol", "opioids"}),
]


@pytest.mark.parametrize(
    ("substances", "order"),
    [
        (("alcohol",), [3, 4, 2, 1]),  # covers alcohol, then not listed, then lists others
        (("alcohol", "opioids"), [4, 2, 1, 3]),  # covers both, then not listed, then covers one
        ((), [1, 2, 3, 4]),  # opioids alone: nearness as before
    ],
)
def test_detox_covering_the_substances_comes_first(substances, order):
    assert [r.candidate.center_id for r in rank_detox(CENTERS, needs(*substances))] == order


def test_the_substance_preference_comes_before_accepting_and_continuity_but_excludes_no_one():
    centers = [
        detox(1, 1, {"opioids"}, medications=frozenset({"naltrexone_oral"})),
        detox(2, 2, {"alcohol"}, accepting_referrals=None),
    ]
    assert [r.candidate.center_id for r in rank_detox(centers, needs("alcohol"))] == [2, 1]


@pytest.mark.parametrize(
    ("substances", "center_id", "reason"),
    [
        (("alcohol",), 3, "detox covers alcohol"),
        (("alcohol",), 2, "detox substances not listed: call to confirm"),
        (("alcohol",), 1, "detox does not list alcohol"),
        (("alcohol", "opioids"), 4, "detox covers alcohol and opioids"),
        (("alcohol", "opioids"), 3, "detox does not list opioids"),
    ],
)
def test_the_plan_says_what_the_detox_covers_in_words(substances, center_id, reason):
    (ranked,) = [r for r in rank_detox(CENTERS, needs(*substances)) if r.candidate.center_id == center_id]
    assert ranked.why[:2] == ("offers medical detox", reason)


def test_opioid_referrals_say_nothing_of_detox_substances():
    for ranked in rank_detox(CENTERS, needs()):
        assert not [reason for reason in ranked.why if "detox" in reason and reason != "offers medical detox"]
