"""Referral outcomes computed on a real database, from referrals made through the service functions."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from directory.referrals.outcomes import (
    OTHER_REASONS,
    Summary,
    duration_histograms,
    iso_week,
    reason_key,
    referral_outcomes,
    week_starts,
)
from tests.referrals.outcomes_scenario import NOW, build


@pytest.fixture
def cast(session):
    return build(session)


def test_everyones_figures_by_iso_week(session, cast):
    figures = referral_outcomes(session, NOW)
    assert len(figures.weeks) == 12
    assert (figures.weeks[0], figures.last_week, figures.this_week) == ("2026-W39", "2026-W49", "2026-W50")
    assert figures.volume["2026-W49"] == Counter(placed=1, unplaced=1)
    assert figures.volume["2026-W50"] == Counter(placed=1, unplaced=1, open=2)
    assert sum(figures.volume_totals().values()) == 6  # the August referral is before the weeks covered
    durations = figures.durations
    assert sorted(durations["first_offer"]["2026-W49"]) == [0, 300]
    assert sorted(durations["first_offer"]["2026-W50"]) == [0, 60, 120]
    assert sorted(durations["first_answer"]["2026-W49"]) == [1800, 2100]
    assert sorted(durations["first_answer"]["2026-W50"]) == [600, 3600]
    assert durations["acceptance"] == {"2026-W49": [7500], "2026-W50": [600]}
    assert durations["admission"] == {"2026-W49": [2], "2026-W50": [0]}
    assert figures.summary("acceptance") == Summary(2, 4050, 7500)
    assert figures.summary("first_answer", "2026-W50") == Summary(2, 2100, 3600)
    assert figures.acceptance_distribution("2026-W49") == [0, 0, 1, 0, 0, 0]  # 2 h 5 min: 1 to 4 h
    assert figures.acceptance_distribution("2026-W50") == [1, 0, 0, 0, 0, 0]  # 10 min


def test_declines_are_grouped_and_rare_reasons_are_not_named(session, cast):
    figures = referral_outcomes(session, NOW)
    # Three ways of writing one reason are one reason, named as first written; the reason that names
    # a person was given once, so it is only counted.
    assert figures.declines["2026-W49"] == Counter({"No bed available": 2, OTHER_REASONS: 1})
    assert figures.declines["2026-W50"] == Counter({"No bed available": 1})
    assert figures.decline_totals() == [("No bed available", 3), (OTHER_REASONS, 1)]


def test_unplaced_referrals_by_state(session, cast):
    figures = referral_outcomes(session, NOW)
    assert figures.unplaced["2026-W49"] == Counter(IL=1)
    assert figures.unplaced["2026-W50"] == Counter(AK=1)
    assert figures.unplaced_totals() == [("AK", 1), ("IL", 1)]


def test_a_senders_figures_are_their_own_referrals_only(session, cast):
    figures = referral_outcomes(session, NOW, sender_id=cast.sender_a.id)
    assert figures.volume["2026-W50"] == Counter(placed=1, open=1)
    assert figures.unplaced_totals() == [("IL", 1)]
    assert sorted(figures.durations["first_offer"]["2026-W50"]) == [0, 60]
    # Their "no bed" declines number two: too few to name.
    assert figures.decline_totals() == [(OTHER_REASONS, 3)]
    other = referral_outcomes(session, NOW, sender_id=cast.sender_b.id)
    assert other.volume["2026-W50"] == Counter(unplaced=1, open=1)
    assert other.durations["acceptance"] == {}


def test_csv_rows_carry_every_figure_and_nothing_personal(session, cast):
    rows = referral_outcomes(session, NOW).rows()
    assert ("2026-W49", "referrals_made", "placed", 1) in rows
    assert ("2026-W50", "referrals_made", "open", 2) in rows
    assert ("2026-W49", "time_to_acceptance_minutes", "median", 125.0) in rows
    assert ("2026-W49", "time_to_admission_days", "median", 2.0) in rows
    assert ("2026-W50", "declines", "No bed available", 1) in rows
    assert ("2026-W50", "unplaced_referrals", "AK", 1) in rows
    assert ("2026-W39", "referrals_made", "placed", 0) in rows  # a quiet week still has its rows
    text = repr(rows)
    assert "CASE-SECRET" not in text and "555-0177" not in text and "J.S." not in text


def test_duration_histograms_count_every_referral_ever(session, cast):
    minutes = tuple(60.0 * n for n in (5, 15, 20, 30, 120, 180))
    found = duration_histograms(session, {"first_offer": minutes, "first_answer": minutes, "acceptance": minutes,
                                          "admission": (0, 1, 2)})  # fmt: skip
    # Acceptances after 10 min, 20 min (the August referral's) and 2 h 5 min.
    assert found["acceptance"].at_most == [0, 1, 2, 2, 2, 3] and found["acceptance"].count == 3
    assert found["acceptance"].total == 600 + 1200 + 7500
    assert found["admission"].at_most == [1, 2, 3] and found["admission"].total == 3
    # Every referral with an offer (not the one near Anchorage): offered after 0, 0, 0, 1, 2 and 5 minutes.
    assert found["first_offer"].count == 6 and found["first_offer"].at_most[0] == 6
    assert found["first_offer"].total == 60 + 120 + 300
    # First answers after 20 min (August: an accept), 35, 30, 10 and 60 minutes.
    assert found["first_answer"].at_most == [0, 1, 2, 3, 5, 5] and found["first_answer"].total == 60 * 155


@pytest.mark.parametrize(
    ("written", "key", "label"),
    [
        ("No bed available.", "no bed available", "No bed available"),
        ("  no   bed available (by phone) ", "no bed available", "No bed available"),
        ("", "no reason given", "No reason given"),
        ("x" * 100, "x" * 100, "X" + "x" * 78 + "…"),
    ],
)
def test_reason_key(written, key, label):
    assert reason_key(written) == (key, label)


def test_iso_weeks_start_on_monday_and_cross_years():
    assert iso_week(datetime(2027, 1, 1)) == "2026-W53"
    assert [str(d) for d in week_starts(datetime(2027, 1, 4, 0, 30), 2)] == ["2026-12-28", "2027-01-04"]
